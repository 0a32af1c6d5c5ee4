//! Raw payload files under `<store>/payloads/<YYYY-MM-DD>/`. Owns streaming bytes to disk
//! durably and hashing them on the way (and reading the bounded head that decides whether a
//! small payload may stay inline); must not interpret the bytes or touch sled.
//!
//! Durability order (why each step): write to `tmp/` so a crash never leaves a half file under
//! a real name; fsync the file so its bytes are on disk; rename into place (atomic); fsync the
//! day directory so the rename itself survives a power cut. Only then may sled point at it.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{Result, StoreError};
use super::types::{InboxId, PayloadRef};

pub(crate) const PAYLOAD_DIR: &str = "payloads";
pub(crate) const TMP_DIR: &str = "tmp";

/// Chunk size for streaming: large enough for throughput, small enough that a multi-GB
/// interchange costs 256 KiB of memory.
const CHUNK: usize = 256 * 1024;

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    // Directories can be fsynced on Unix by opening them read-only; elsewhere this is a no-op
    // that the platform does not support, so do not fail the write over it.
    match File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => Ok(()),
        Err(e) if cfg!(unix) => Err(StoreError::io("fsync directory", dir, e)),
        Err(_) => Ok(()),
    }
}

pub(crate) fn day_dir(id: &InboxId) -> String {
    format!("{PAYLOAD_DIR}/{}", id.time().format("%Y-%m-%d"))
}

/// Streams `src` into a new payload file for `id`. `nonce` makes the name unique so two
/// racing receives of one key never write the same file; the loser deletes its own.
pub(crate) fn write_payload(
    root: &Path,
    id: &InboxId,
    nonce: u64,
    src: &mut dyn Read,
) -> Result<PayloadRef> {
    let name = format!("{id}-{nonce:016x}");
    let tmp_path = root.join(TMP_DIR).join(format!("{name}.partial"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp_path)
        .map_err(|e| StoreError::io("create", &tmp_path, e))?;

    let written = copy_hashing(src, &mut file, &tmp_path);
    let (size, sha) = match written {
        Ok(v) => v,
        Err(e) => {
            drop(file);
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
    };
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &tmp_path, e))?;
    drop(file);

    let rel_dir = day_dir(id);
    let dir = root.join(&rel_dir);
    if !dir.exists() {
        fs::create_dir_all(&dir).map_err(|e| StoreError::io("create directory", &dir, e))?;
        // The new day directory's own entry lives in payloads/.
        fsync_dir(&root.join(PAYLOAD_DIR))?;
    }
    let final_path = dir.join(&name);
    fs::rename(&tmp_path, &final_path)
        .map_err(|e| StoreError::io("rename into", &final_path, e))?;
    fsync_dir(&dir)?;

    Ok(PayloadRef {
        file: Some(format!("{rel_dir}/{name}")),
        size,
        sha256: sha,
    })
}

fn copy_hashing(src: &mut dyn Read, dst: &mut File, path: &Path) -> Result<(u64, String)> {
    let mut buf = vec![0u8; CHUNK];
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::PayloadStream(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n])
            .map_err(|e| StoreError::io("write", path, e))?;
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Reads at most `max + 1` bytes: if the stream ends within `max`, the payload is small
/// enough to keep inline and the bool is true; otherwise the caller chains the head in front
/// of the rest of the stream and writes a file as usual.
pub(crate) fn read_head(src: &mut dyn Read, max: usize) -> Result<(Vec<u8>, bool)> {
    let mut head = Vec::with_capacity(max.min(CHUNK) + 1);
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    loop {
        match src.take(limit - head.len() as u64).read_to_end(&mut head) {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(StoreError::PayloadStream(e)),
        }
    }
    let complete = head.len() <= max;
    Ok((head, complete))
}

pub(crate) fn inline_ref(bytes: &[u8]) -> PayloadRef {
    inline_ref_hashed(bytes, &Sha256::digest(bytes).into())
}

/// [`inline_ref`] for bytes whose SHA-256 the caller computed already.
pub(crate) fn inline_ref_hashed(bytes: &[u8], sha256: &[u8; 32]) -> PayloadRef {
    PayloadRef {
        file: None,
        size: bytes.len() as u64,
        sha256: hex::encode(sha256),
    }
}

/// Resolves a stored relative path, refusing anything that would leave the payload directory
/// (a corrupt record must not make us open or delete arbitrary files).
pub(crate) fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let mut comps = p.components();
    let first_ok =
        matches!(comps.next(), Some(std::path::Component::Normal(c)) if c == PAYLOAD_DIR);
    let rest_ok = comps.all(|c| matches!(c, std::path::Component::Normal(_)));
    (first_ok && rest_ok).then(|| root.join(p))
}

/// Removes leftovers of writes interrupted by a crash. Safe at open: no write is in flight.
pub(crate) fn clear_tmp(root: &Path) -> Result<()> {
    let tmp = root.join(TMP_DIR);
    let entries = fs::read_dir(&tmp).map_err(|e| StoreError::io("list", &tmp, e))?;
    for entry in entries.flatten() {
        let _ = fs::remove_file(entry.path());
    }
    Ok(())
}

/// The inbox id a payload file name starts with, if it is one of ours.
pub(crate) fn id_of_file(name: &str) -> Option<InboxId> {
    name.get(..32).and_then(|h| h.parse().ok())
}
