//! The drop folder: picks up files that are complete (not a dotfile or `.tmp`/`.part`, and with
//! size and mtime unchanged for `settle_ms`), receives them under a key of path + size + mtime +
//! SHA-256 (so a crash between storing and moving never makes a second document), and after
//! processing moves them to the archive, or to the error folder with a `.reason` file.
//!
//! A poll works in batches: small files are read once, received together in one transaction,
//! checked and mapped on worker threads, and committed together in one transaction in arrival
//! order; one flush per batch makes it all durable before the batch's files are moved (group
//! commit: every sled transaction costs a synchronous log write, so per-file ones dominated).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::pipeline::{Gateway, Outcome, PipelineError, Prepared};
use crate::store::{InboxId, InboxMeta, Receipt};

/// Files seen but not yet settled: path → (size, mtime, first seen unchanged).
#[derive(Default)]
pub struct Watch {
    pending: HashMap<PathBuf, (u64, SystemTime, Instant)>,
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
        // A set: with thousands of files waiting, a list made this quadratic.
        let mut seen = HashSet::new();
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(md) = e.metadata() else { continue };
            if !md.is_file() || skip(&name) {
                continue;
            }
            let mtime = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            seen.insert(p.clone());
            let entry = self
                .pending
                .entry(p.clone())
                .or_insert((md.len(), mtime, Instant::now()));
            if entry.0 != md.len() || entry.1 != mtime {
                *entry = (md.len(), mtime, Instant::now());
                continue;
            }
            let old_enough = mtime.elapsed().map(|e| e >= settle).unwrap_or(false);
            if entry.2.elapsed() >= settle || old_enough {
                ready.push((mtime, p));
            }
        }
        self.pending.retain(|p, _| seen.contains(p));
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
    key_of(path, &md, h)
}

fn key_of(path: &Path, md: &fs::Metadata, h: Sha256) -> std::io::Result<String> {
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
        hex::encode(h.finalize())
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

/// Receives and processes a batch of files, in arrival order. Small files are read once,
/// received together in one transaction, checked and mapped on worker threads (one per core)
/// and committed together in one transaction; large ones and ones received before a crash go
/// the general way first (they arrived earlier). Buffered: the caller flushes before any file
/// leaves the drop folder.
pub fn process_batch(
    gw: &Gateway,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, InboxId, Outcome)>, PipelineError> {
    let limit = IN_MEMORY_MAX.min(gw.config.inline_payload_max as u64);
    let mut done = Vec::with_capacity(files.len());
    let mut small: Vec<(String, InboxMeta, Vec<u8>)> = Vec::new();
    let mut small_paths: Vec<&PathBuf> = Vec::new();
    for p in files {
        let Ok(md) = fs::metadata(p) else { continue };
        if md.len() > limit {
            if let Some(id) = receive_streamed(gw, p)? {
                let outcome = gw.process(id)?;
                done.push((p.clone(), id, outcome));
            }
            continue;
        }
        let Ok(bytes) = fs::read(p) else { continue };
        let mut h = Sha256::new();
        h.update(&bytes);
        let Ok(key) = key_of(p, &md, h) else { continue };
        small.push((key, inbox_meta(p), bytes));
        small_paths.push(p);
    }
    let receipts = gw.receive_inline_batch(&small)?;
    let mut fresh: Vec<(&PathBuf, InboxId, Vec<u8>)> = Vec::with_capacity(small.len());
    for ((p, (key, meta, bytes)), receipt) in small_paths.into_iter().zip(small).zip(receipts) {
        let (id, receipt) = match receipt {
            Some(r) => r,
            // Not kept inline by this store: an ordinary receive from the same bytes.
            None => gw.receive(&key, meta, &mut &bytes[..])?,
        };
        match receipt {
            Receipt::Fresh => fresh.push((p, id, bytes)),
            // Received before a crash: the store knows how far it got.
            Receipt::AlreadyHad => {
                let outcome = gw.process(id)?;
                done.push((p.clone(), id, outcome));
            }
        }
    }
    let prepared = prepare_all(gw, &mut fresh)?;
    let outcomes = gw.commit_many(prepared)?;
    for ((p, id, _), outcome) in fresh.into_iter().zip(outcomes) {
        done.push((p.clone(), id, outcome));
    }
    Ok(done)
}

/// Checks and maps items on one thread per core (the stages are pure, so only the commit has
/// to be in order). Takes the payloads out of `items`.
fn prepare_all(
    gw: &Gateway,
    items: &mut [(&PathBuf, InboxId, Vec<u8>)],
) -> Result<Vec<Prepared>, PipelineError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let per = items.len().div_ceil(workers).max(1);
    let results: Vec<Result<Vec<Prepared>, PipelineError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks_mut(per)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter_mut()
                        .map(|(_, id, bytes)| gw.prepare(*id, std::mem::take(bytes)))
                        .collect::<Result<Vec<_>, _>>()
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
/// after the store was flushed, so a crash before the move just repeats it.
pub fn settle_file(
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
    fs::create_dir_all(dir)?;
    let target = unique(dir, &name);
    if let Some(r) = reason {
        let tmp = dir.join(format!(
            ".{}.reason.tmp",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        fs::write(&tmp, format!("inbox item {id}\n{r}\n"))?;
        fs::rename(
            &tmp,
            target.with_file_name(format!(
                "{}.reason",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )),
        )?;
    }
    match fs::rename(path, &target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            // Another filesystem: copy, then remove.
            fs::copy(path, &target)?;
            fs::remove_file(path)?;
            Ok(())
        }
    }
}

/// One poll: receive and process what is ready, flush once per batch (group commit), then
/// move the batch's files. A file leaves the drop folder only after everything received and
/// decided from it is durable, so a crash at any point repeats work but never loses it.
pub fn poll_once(gw: &Gateway, watch: &mut Watch) -> Result<usize, PipelineError> {
    let cfg = &gw.config;
    let ready = watch.ready(&cfg.in_dir, Duration::from_millis(cfg.settle_ms));
    let mut done = 0;
    for chunk in ready.chunks(cfg.batch) {
        let finished = process_batch(gw, chunk)?;
        gw.store.flush()?;
        for (p, id, outcome) in &finished {
            if let Outcome::Exception(r) = outcome {
                tracing::warn!(inbox = %id, reason = %r.lines().next().unwrap_or(""), "exception");
            }
            settle_file(gw, p, *id, outcome)?;
            watch.forget(p);
            done += 1;
        }
    }
    Ok(done)
}
