//! The drop folder: picks up files that are complete (not a dotfile or `.tmp`/`.part`, and with
//! size and mtime unchanged for `settle_ms`), receives them under a key of path + size + mtime +
//! SHA-256 (so a crash between storing and moving never makes a second document), and after
//! processing moves them to the archive, or to the error folder with a `.reason` file.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use sha2::{Digest, Sha256};

use crate::pipeline::{Gateway, Outcome, PipelineError};
use crate::store::{InboxId, InboxMeta, Stage};

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
        let mut seen = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(md) = e.metadata() else { continue };
            if !md.is_file() || skip(&name) {
                continue;
            }
            let mtime = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            seen.push(p.clone());
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

/// The receive key of a file: path, size, mtime and content hash.
pub fn receive_key(path: &Path) -> std::io::Result<String> {
    let md = fs::metadata(path)?;
    let mtime = md
        .modified()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
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
    Ok(format!(
        "folder:{}:{}:{}:{}",
        path.display(),
        md.len(),
        mtime,
        hex::encode(h.finalize())
    ))
}

/// Receives a batch of files; returns (path, inbox id). Buffered: the caller flushes.
pub fn receive_batch(
    gw: &Gateway,
    files: &[PathBuf],
) -> Result<Vec<(PathBuf, InboxId)>, PipelineError> {
    let mut out = Vec::new();
    for p in files {
        let key = match receive_key(p) {
            Ok(k) => k,
            Err(_) => continue, // vanished or unreadable: the next poll decides
        };
        let mut f = match fs::File::open(p) {
            Ok(f) => f,
            Err(_) => continue,
        };
        let meta = InboxMeta {
            channel: "folder".into(),
            partner_hint: None,
            source_name: p.file_name().map(|n| n.to_string_lossy().into_owned()),
            received_at: Utc::now(),
            attributes: Default::default(),
        };
        let (id, _) = gw.receive(&key, meta, &mut f)?;
        out.push((p.clone(), id));
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

/// Moves a processed file out of the drop folder according to its item's stage. Only called
/// after the store was flushed, so a crash before the move just repeats it.
pub fn settle_file(gw: &Gateway, path: &Path, id: InboxId) -> Result<(), PipelineError> {
    let Some(entry) = gw.store.inbox_get(id)? else {
        return Ok(());
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| id.to_string());
    let cfg = &gw.config;
    let (dir, reason) = match &entry.stage {
        Stage::Done => (&cfg.archive_dir, None),
        Stage::Exception { reason } => (&cfg.error_dir, Some(reason.clone())),
        Stage::Duplicate => (
            &cfg.error_dir,
            Some(format!(
                "duplicate: inbox item {id} was flagged as a duplicate"
            )),
        ),
        _ => return Ok(()),
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

/// One poll: receive what is ready, flush, process, flush, then move the files.
pub fn poll_once(gw: &Gateway, watch: &mut Watch) -> Result<usize, PipelineError> {
    let cfg = &gw.config;
    let ready = watch.ready(&cfg.in_dir, Duration::from_millis(cfg.settle_ms));
    let mut done = 0;
    for chunk in ready.chunks(cfg.batch) {
        let received = receive_batch(gw, chunk)?;
        gw.store.flush()?;
        for (_, id) in &received {
            let outcome = gw.process(*id)?;
            if let Outcome::Exception(r) = &outcome {
                tracing::warn!(inbox = %id, reason = %r.lines().next().unwrap_or(""), "exception");
            }
        }
        gw.store.flush()?;
        for (p, id) in &received {
            settle_file(gw, p, *id)?;
            watch.forget(p);
            done += 1;
        }
    }
    Ok(done)
}
