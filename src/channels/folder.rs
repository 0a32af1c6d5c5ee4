//! The drop folder: picks up files that are complete (not a dotfile or `.tmp`/`.part`, and with
//! size and mtime unchanged for `settle_ms`), receives them under a key of path + size + mtime +
//! SHA-256 (so a crash between storing and moving never makes a second document), and after
//! processing moves them to the archive, or to the error folder with a `.reason` file.
//!
//! A poll works in batches: small files are read once and checked and mapped on worker threads
//! (under the inbox ids their receive will get), then received and committed together in one
//! transaction in arrival order; one flush per batch makes it all durable before the batch's
//! files are moved (group commit: every sled transaction costs a synchronous log write, so
//! per-file ones dominated). Reading and checking, committing, and flushing and moving run as a pipeline on three threads.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::pipeline::{Gateway, Outcome, PipelineError, Prepared};
use crate::store::{InboxId, InboxMeta, ReceiveHashes};

/// Files seen but not yet settled, by path.
#[derive(Default)]
pub struct Watch {
    pending: HashMap<PathBuf, Seen>,
    /// Counts scans, so a scan can drop the files it no longer saw without a set of the ones
    /// it did.
    scans: u64,
}

/// A file as the watch last saw it.
struct Seen {
    len: u64,
    mtime: SystemTime,
    /// When it was first seen with this size and mtime.
    since: Instant,
    /// The scan that last saw it.
    scan: u64,
}

fn skip(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".reason")
}

impl Watch {
    /// Files ready for pickup, oldest first.
    pub fn ready(&mut self, dir: &Path, settle: Duration) -> Vec<PathBuf> {
        let mut ready: Vec<(SystemTime, PathBuf)> = Vec::new();
        let Ok(rd) = fs::read_dir(dir) else {
            return Vec::new();
        };
        // One clock reading per scan: a folder can hold thousands of files, and every file
        // of a scan is judged against the same moment.
        let (now, wall) = (Instant::now(), SystemTime::now());
        self.scans += 1;
        let scan = self.scans;
        for e in rd.flatten() {
            if skip(&e.file_name().to_string_lossy()) {
                continue;
            }
            let Ok(md) = e.metadata() else { continue };
            if !md.is_file() {
                continue;
            }
            let (len, mtime) = (md.len(), md.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            let old_enough = wall.duration_since(mtime).is_ok_and(|age| age >= settle);
            match self.pending.entry(e.path()) {
                Entry::Occupied(mut o) => {
                    let seen = o.get_mut();
                    seen.scan = scan;
                    if seen.len != len || seen.mtime != mtime {
                        (seen.len, seen.mtime, seen.since) = (len, mtime, now);
                    } else if now.duration_since(seen.since) >= settle || old_enough {
                        ready.push((mtime, o.key().clone()));
                    }
                }
                Entry::Vacant(v) => {
                    if settle.is_zero() || old_enough {
                        ready.push((mtime, v.key().clone()));
                    }
                    v.insert(Seen {
                        len,
                        mtime,
                        since: now,
                        scan,
                    });
                }
            }
        }
        self.pending.retain(|_, seen| seen.scan == scan);
        ready.sort();
        ready.into_iter().map(|(_, p)| p).collect()
    }

    pub fn forget(&mut self, p: &Path) {
        self.pending.remove(p);
    }
}

/// Files up to this size (and up to what the store keeps inline) are read once into memory
/// and received, checked and mapped from those bytes; larger ones are streamed. Memory per
/// batch is bounded by this times the batch size.
const IN_MEMORY_MAX: u64 = 1 << 20;

/// The receive key of a file: path, size, mtime and content hash.
pub fn receive_key(path: &Path) -> std::io::Result<String> {
    let md = fs::metadata(path)?;
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    key_of(path, &md, &h.finalize().into())
}

fn key_of(path: &Path, md: &fs::Metadata, sha256: &[u8; 32]) -> std::io::Result<String> {
    let mtime = md
        .modified()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok(format!(
        "folder:{}:{}:{}:{}",
        path.display(),
        md.len(),
        mtime,
        hex::encode(sha256)
    ))
}

fn inbox_meta(p: &Path) -> InboxMeta {
    InboxMeta {
        channel: "folder".into(),
        partner_hint: None,
        source_name: p.file_name().map(|n| n.to_string_lossy().into_owned()),
        received_at: Utc::now(),
        attributes: Default::default(),
    }
}

/// Receives one file the ordinary way (streamed to a payload file). `None`: it vanished or
/// cannot be read; the next poll decides.
fn receive_streamed(gw: &Gateway, p: &Path) -> Result<Option<InboxId>, PipelineError> {
    let Ok(key) = receive_key(p) else {
        return Ok(None);
    };
    let Ok(mut f) = fs::File::open(p) else {
        return Ok(None);
    };
    let (id, _) = gw.receive(&key, inbox_meta(p), &mut f)?;
    Ok(Some(id))
}

/// A batch read from the drop folder and checked and mapped, waiting for its commit.
pub struct Batch {
    /// Files too large to hold in memory (or gone inline-incapable): received the ordinary way.
    large: Vec<PathBuf>,
    /// Small files: path, and receive key, metadata and bytes for the store.
    paths: Vec<PathBuf>,
    items: Vec<(String, InboxMeta, Vec<u8>)>,
    /// Parallel to `items`: each payload's SHA-256 (hashed once for the receive key) and the
    /// receive key's hash, handed to the store so the commit thread hashes neither again.
    hashes: Vec<ReceiveHashes>,
    /// Parallel to `items`, under the ids the store predicts
    /// ([`crate::store::Store::fresh_inbox_id`]).
    prepared: Vec<Prepared>,
}

/// Reads a batch of files and checks and maps the small ones on worker threads. Touches no
/// store, so it can run while the previous batch commits. A file that vanished or cannot be
/// read is left for the next poll.
pub fn prepare_batch(gw: &Gateway, files: &[PathBuf]) -> Result<Batch, PipelineError> {
    let limit = IN_MEMORY_MAX.min(gw.config.inline_payload_max as u64);
    let mut batch = Batch {
        large: Vec::new(),
        paths: Vec::with_capacity(files.len()),
        items: Vec::with_capacity(files.len()),
        hashes: Vec::with_capacity(files.len()),
        prepared: Vec::new(),
    };
    for p in files {
        // One open and one stat of the open file per file: the metadata goes into the
        // receive key, and `fs::read` would stat (and seek) once more for its size hint.
        let Ok(mut f) = fs::File::open(p) else {
            continue;
        };
        let Ok(md) = f.metadata() else { continue };
        if md.len() > limit {
            batch.large.push(p.clone());
            continue;
        }
        let mut bytes = Vec::with_capacity(md.len() as usize + 1);
        // Bounded: a file that grew since the stat goes the streamed way.
        if (&mut f).take(limit + 1).read_to_end(&mut bytes).is_err() {
            continue;
        }
        if bytes.len() as u64 > limit {
            batch.large.push(p.clone());
            continue;
        }
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let Ok(key) = key_of(p, &md, &digest) else {
            continue;
        };
        batch.hashes.push(ReceiveHashes::new(&key, digest));
        batch.items.push((key, inbox_meta(p), bytes));
        batch.paths.push(p.clone());
    }
    batch.prepared = prepare_all(gw, &batch.items)?;
    Ok(batch)
}

/// Receives and processes a prepared batch, in arrival order: large files and ones received
/// before a crash go the general way first (they arrived earlier); the small ones are received
/// and committed together in one transaction. Buffered: the caller flushes before any file
/// leaves the drop folder.
/// Borrows the batch, so the caller decides where it is freed (the pipelined poll frees it on
/// the settling thread: dropping thousands of checked and mapped items is not free, and the
/// commit thread is the one every batch waits for).
pub fn commit_batch(
    gw: &Gateway,
    batch: &Batch,
) -> Result<Vec<(PathBuf, InboxId, Outcome)>, PipelineError> {
    let mut done = Vec::with_capacity(batch.large.len() + batch.items.len());
    for p in &batch.large {
        if let Some(id) = receive_streamed(gw, p)? {
            let outcome = gw.process(id)?;
            done.push((p.clone(), id, outcome));
        }
    }
    for (i, id, outcome) in
        gw.receive_and_commit(&batch.items, &batch.prepared, Some(&batch.hashes))?
    {
        if let Some(p) = batch.paths.get(i) {
            done.push((p.clone(), id, outcome));
        }
    }
    Ok(done)
}

/// Receives and processes a batch of files, in arrival order (see [`prepare_batch`] and
/// [`commit_batch`]). Buffered: the caller flushes before any file leaves the drop folder.
pub fn process_batch(
    gw: &Gateway,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, InboxId, Outcome)>, PipelineError> {
    let batch = prepare_batch(gw, files)?;
    commit_batch(gw, &batch)
}

/// Worker threads for checking and mapping: one per core, at most four.
fn workers() -> usize {
    crate::x12::offload::cores().clamp(1, 4)
}

/// Checks and maps items on one thread per core (the stages are pure, so only the commit has
/// to be in order), each under the id a fresh receive will give it.
fn prepare_all(
    gw: &Gateway,
    items: &[(String, InboxMeta, Vec<u8>)],
) -> Result<Vec<Prepared>, PipelineError> {
    let prepare_one = |(key, meta, bytes): &(String, InboxMeta, Vec<u8>)| {
        gw.prepare(gw.store.fresh_inbox_id(key, meta), bytes)
    };
    let workers = workers();
    if workers == 1 || items.len() < 2 {
        return items.iter().map(prepare_one).collect();
    }
    let per = items.len().div_ceil(workers).max(1);
    let results: Vec<Result<Vec<Prepared>, PipelineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    yield_to_commit();
                    chunk.iter().map(prepare_one).collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(PipelineError::Io(std::io::Error::other(
                        "a preparing thread panicked",
                    )))
                })
            })
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

fn unique(dir: &Path, name: &str) -> PathBuf {
    let mut p = dir.join(name);
    let mut n = 1;
    while p.exists() {
        p = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    p
}

/// Moves a processed file out of the drop folder according to how its item ended. Only called
/// after the store was flushed (so a crash before the move just repeats it), once the archive
/// and error folders exist.
fn move_file(
    gw: &Gateway,
    path: &Path,
    id: InboxId,
    outcome: &Outcome,
) -> Result<(), PipelineError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| id.to_string());
    let cfg = &gw.config;
    let (dir, reason) = match outcome {
        Outcome::Done { .. } => (&cfg.archive_dir, None),
        Outcome::Exception(reason) => (&cfg.error_dir, Some(reason.clone())),
        Outcome::Duplicate(_) => (
            &cfg.error_dir,
            Some(format!(
                "duplicate: inbox item {id} was flagged as a duplicate"
            )),
        ),
    };
    let Some(r) = reason else {
        // Archived: no reason file to name after the target, so the move picks its own name.
        return match rename_new(path, dir, &name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Ok(true) => Ok(()),
            Err(_) | Ok(false) => move_to(path, &unique(dir, &name)),
        };
    };
    // The reason goes in first, so a crash between the two leaves the file in the drop folder
    // (and it is moved again), never a file in error/ without its reason.
    let target = unique(dir, &name);
    let target_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{target_name}.reason.tmp"));
    fs::write(&tmp, format!("inbox item {id}\n{r}\n"))?;
    fs::rename(&tmp, target.with_file_name(format!("{target_name}.reason")))?;
    move_to(path, &target)
}

/// Renames, or copies and removes across filesystems; a file already gone was moved before.
fn move_to(path: &Path, target: &Path) -> Result<(), PipelineError> {
    match fs::rename(path, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            // Another filesystem: copy, then remove.
            fs::copy(path, target)?;
            fs::remove_file(path)?;
            Ok(())
        }
    }
}

/// Renames `path` into `dir` as `name`, or `name.1`, `name.2`... when taken, never replacing a
/// file: one `renameat2(RENAME_NOREPLACE)` per move (a stat before each rename cost the
/// settling thread about a quarter of its time). `Ok(false)` where the system or filesystem
/// cannot do it (other systems, another filesystem): the caller takes the general way.
fn rename_new(path: &Path, dir: &Path, name: &str) -> std::io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        let from = c(path)?;
        for n in 0.. {
            let target = if n == 0 {
                dir.join(name)
            } else {
                dir.join(format!("{name}.{n}"))
            };
            let to = c(&target)?;
            // SAFETY: both are NUL-terminated paths that live across the call.
            let rc = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    from.as_ptr(),
                    libc::AT_FDCWD,
                    to.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if rc == 0 {
                return Ok(true);
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EEXIST) => continue,
                Some(libc::EINVAL | libc::ENOSYS | libc::EXDEV) => return Ok(false),
                _ => return Err(e),
            }
        }
        Ok(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, dir, name);
        Ok(false)
    }
}

/// One poll: receive and process what is ready, flush once per batch (group commit), then
/// move the batch's files. A file leaves the drop folder only after everything received and
/// decided from it is durable, so a crash at any point repeats work but never loses it.
///
/// Pipelined in three stages on their own threads: one reads, checks and maps batch k+2
/// (touching no store) while another receives and commits batch k+1 in one transaction, and a
/// third flushes and then moves the files of batch k. The flush comes after batch k's commit
/// returned, so it covers it (and perhaps part of k+1, which does no harm). The checked
/// batches wait two deep for the commit, the committed ones four deep for the flush: a flush
/// that waits on a slow fsync then does not stall the commit, which every batch waits for.
pub fn poll_once(gw: &Gateway, watch: &mut Watch) -> Result<usize, PipelineError> {
    let cfg = &gw.config;
    let ready = watch.ready(&cfg.in_dir, Duration::from_millis(cfg.settle_ms));
    let chunks = batches(&ready, cfg.batch);
    let mut settled = Vec::new();
    let result = if chunks.len() <= 1 {
        match chunks.first() {
            Some(files) => {
                process_batch(gw, files).and_then(|f| flush_and_settle(gw, f, &mut settled))
            }
            None => Ok(0),
        }
    } else {
        pipelined(gw, &chunks, &mut settled)
    };
    for p in &settled {
        watch.forget(p);
    }
    result
}

/// Splits the ready files into batches of `batch`, except that a run of many batches starts
/// and ends with smaller ones (an eighth, a quarter, a half): the pipeline's first commit
/// waits for the first batch to be checked, and the last flush and moves wait for the last
/// commit, so small batches at both ends keep the stages busy for more of the run.
fn batches(files: &[PathBuf], batch: usize) -> Vec<&[PathBuf]> {
    let b = batch.max(1);
    let ramp = [b / 8, b / 4, b / 2].map(|n| n.max(1));
    let ramped: usize = ramp.iter().sum();
    if files.len() < 2 * ramped + 2 * b {
        return files.chunks(b).collect();
    }
    let middle = files.len() - 2 * ramped;
    let mut sizes: Vec<usize> = ramp.to_vec();
    sizes.extend(std::iter::repeat_n(b, middle / b));
    if middle % b > 0 {
        sizes.push(middle % b);
    }
    sizes.extend(ramp.iter().rev());
    let mut rest = files;
    sizes
        .into_iter()
        .map(|n| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head
        })
        .collect()
}

type Finished = Vec<(PathBuf, InboxId, Outcome)>;

fn panicked(what: &str) -> PipelineError {
    PipelineError::Io(std::io::Error::other(format!("the {what} thread panicked")))
}

/// The three stages of [`poll_once`] for more than one batch. A stage that fails drops its
/// receiver, so the stage before it stops at its next hand-over; the first error is returned
/// (the later stages' first, as the earlier ones then only report that they were cut off).
fn pipelined(
    gw: &Gateway,
    chunks: &[&[PathBuf]],
    settled: &mut Vec<PathBuf>,
) -> Result<usize, PipelineError> {
    let (to_commit, commits) = std::sync::mpsc::sync_channel::<Batch>(2);
    // The settler also frees each committed batch.
    let (to_settle, settles) = std::sync::mpsc::sync_channel::<(Finished, Batch)>(4);
    std::thread::scope(|scope| {
        let settler = scope.spawn(move || {
            yield_to_commit();
            let mut done = 0;
            let mut settled = Vec::new();
            for (finished, batch) in settles {
                let r = flush_and_settle(gw, finished, &mut settled);
                drop(batch);
                match r {
                    Ok(n) => done += n,
                    Err(e) => return (Err(e), settled),
                }
            }
            (Ok(done), settled)
        });
        let committer = scope.spawn(move || {
            for batch in commits {
                let finished = commit_batch(gw, &batch)?;
                if to_settle.send((finished, batch)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        // Its own thread, so it can run below the commit thread's priority as the other
        // stages do (a thread's niceness cannot be raised back without privileges).
        let preparer = scope.spawn(move || {
            yield_to_commit();
            for files in chunks {
                let batch = prepare_batch(gw, files)?;
                if to_commit.send(batch).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let prepared = preparer
            .join()
            .unwrap_or_else(|_| Err(panicked("preparing")));
        let committed = committer
            .join()
            .unwrap_or_else(|_| Err(panicked("committing")));
        let (done, moved) = settler
            .join()
            .unwrap_or_else(|_| (Err(panicked("settling")), Vec::new()));
        settled.extend(moved);
        let done = done?;
        committed?;
        prepared?;
        Ok(done)
    })
}

/// Flushes (group commit: everything committed so far becomes durable), then moves the files
/// of a committed batch; the moved paths go to `settled`.
fn flush_and_settle(
    gw: &Gateway,
    finished: Finished,
    settled: &mut Vec<PathBuf>,
) -> Result<usize, PipelineError> {
    gw.store.flush()?;
    fs::create_dir_all(&gw.config.archive_dir)?;
    fs::create_dir_all(&gw.config.error_dir)?;
    let mut done = 0;
    for (p, id, outcome) in finished {
        if let Outcome::Exception(r) = &outcome {
            tracing::warn!(inbox = %id, reason = %r.lines().next().unwrap_or(""), "exception");
        }
        move_file(gw, &p, id, &outcome)?;
        settled.push(p);
        done += 1;
    }
    Ok(done)
}

/// Lowers the calling thread's priority (nice +10; it ends with the thread). The commit thread
/// is the one every batch waits for, and it cannot be split; on a machine with few cores the
/// reading and checking threads and the settling thread otherwise took its core for a fifth
/// of its run time (threads' run-queue waits, measured in the pipeline bench).
fn yield_to_commit() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's own id only changes its nice value.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archiving_never_replaces_a_file_of_the_same_name() {
        let tmp = tempfile::tempdir().unwrap();
        let (inbox, archive) = (tmp.path().join("in"), tmp.path().join("archive"));
        fs::create_dir_all(&inbox).unwrap();
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("po.x12"), "first").unwrap();
        fs::write(archive.join("po.x12.1"), "second").unwrap();
        for (n, text) in ["third", "fourth"].iter().enumerate() {
            let p = inbox.join("po.x12");
            fs::write(&p, text).unwrap();
            if !rename_new(&p, &archive, "po.x12").unwrap() {
                // A system without RENAME_NOREPLACE: the general way must do the same.
                move_to(&p, &unique(&archive, "po.x12")).unwrap();
            }
            assert!(!p.exists());
            let want = archive.join(format!("po.x12.{}", n + 2));
            assert_eq!(fs::read_to_string(want).unwrap(), *text);
        }
        assert_eq!(fs::read_to_string(archive.join("po.x12")).unwrap(), "first");
        assert_eq!(
            fs::read_to_string(archive.join("po.x12.1")).unwrap(),
            "second"
        );
        // A file that is already gone was moved before: not an error.
        let gone = rename_new(&inbox.join("gone.x12"), &archive, "gone.x12");
        assert_eq!(
            gone.err().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn long_runs_ramp_up_and_down_and_keep_every_file_in_order() {
        let files: Vec<PathBuf> = (0..10_000)
            .map(|i| PathBuf::from(format!("f{i}")))
            .collect();
        let sizes = |n: usize, b: usize| -> Vec<usize> {
            let chunks = batches(&files[..n], b);
            let joined: Vec<&PathBuf> = chunks.iter().flat_map(|c| c.iter()).collect();
            assert_eq!(joined, files[..n].iter().collect::<Vec<_>>());
            chunks.iter().map(|c| c.len()).collect()
        };
        let mut want = vec![62, 125, 250];
        want.extend([500; 18]);
        want.extend([126, 250, 125, 62]);
        assert_eq!(sizes(10_000, 500), want);
        // Too few for a ramp: plain batches, as before.
        assert_eq!(sizes(1_500, 500), [500, 500, 500]);
        assert_eq!(sizes(300, 500), [300]);
        assert_eq!(sizes(5, 1), [1; 5]);
        assert!(sizes(0, 500).is_empty());
    }

    #[test]
    fn a_file_is_ready_once_unchanged_for_the_settle_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let settle = Duration::from_millis(300);
        let mut watch = Watch::default();
        let p = dir.join("po.x12");
        fs::write(&p, "ISA").unwrap();
        fs::write(dir.join(".hidden"), "x").unwrap();
        fs::write(dir.join("po.x12.part"), "x").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        // Just written: not settled, on the first scan or the next.
        assert!(watch.ready(dir, settle).is_empty());
        assert!(watch.ready(dir, settle).is_empty());
        std::thread::sleep(Duration::from_millis(200));
        // Grew: the settle time starts again.
        fs::write(&p, "ISA*00").unwrap();
        assert!(watch.ready(dir, settle).is_empty());
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(watch.ready(dir, settle), vec![p.clone()]);
        // Without a settle time everything present is ready, oldest first.
        let q = dir.join("a.x12");
        fs::write(&q, "ISA").unwrap();
        assert_eq!(watch.ready(dir, Duration::ZERO), vec![p.clone(), q.clone()]);
        // Files that went away are forgotten by the next scan.
        fs::remove_file(&p).unwrap();
        assert_eq!(watch.ready(dir, Duration::ZERO), vec![q]);
        assert_eq!(watch.pending.len(), 1);
    }
}
