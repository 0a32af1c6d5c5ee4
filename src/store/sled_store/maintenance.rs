//! Audit trail, retention and backup for [`SledStore`](super::SledStore). Owns what is
//! removed when, and how a consistent copy is made; must not remove anything unfinished
//! (pending or exception inbox items, dead letters): nothing accepted is dropped unhandled.

use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};
use sled::Transactional;

use super::super::codec::{
    cat, decode_audit, decode_document, decode_entry, decode_outbox, decode_seen, DocHeader,
};
use super::super::error::{Result, StoreError};
use super::super::payload::{self, PAYLOAD_DIR};
use super::super::types::*;
use super::documents::DocIndexes;
use super::inbox::stage_key;
use super::{audit_refs, item_audit_key, keep_item_ref, names, tx_err, write_audit_tx, SledStore};

pub(super) fn append_audit(s: &SledStore, event: &AuditEvent) -> Result<()> {
    let key = s.audit_key(event.at)?;
    let _g = s.writing()?;
    (&s.t.audit, &s.t.audit_by_ref)
        .transaction(|(audit, by_ref)| {
            write_audit_tx(audit, by_ref, key, std::slice::from_ref(event))
        })
        .map_err(tx_err)
}

pub(super) fn audit_for(s: &SledStore, tag: u8, id: &[u8; 16]) -> Result<Vec<AuditEvent>> {
    let prefix = cat(&[&[tag], id]);
    // A set: a record may be both referenced and found through its item.
    let mut keys = std::collections::BTreeSet::new();
    for kv in s.t.audit_by_ref.scan_prefix(&prefix) {
        let (k, _) = kv?;
        keys.insert(k[prefix.len()..].to_vec());
    }
    // The record of the unit that received the item leads here without a reference.
    if let Some(item) = item_of(s, tag, id)? {
        keys.insert(item_audit_key(&item).0.to_vec());
    }
    let mut records = Vec::with_capacity(keys.len());
    for akey in keys {
        if let Some(v) = s.t.audit.get(&akey)? {
            let events = decode_audit("audit", &akey, &v)?;
            // In the order of each record's latest event, which is what an ordinary key
            // starts with; an item's record starts with its receive time instead.
            let latest = events.iter().map(|e| millis(e.at)).max().unwrap_or(0);
            records.push((latest, akey, events));
        }
    }
    records.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    // A record holds all of one item's events; keep the ones that name this id.
    Ok(records
        .into_iter()
        .flat_map(|(_, _, events)| events)
        .filter(|e| names(e, tag, id))
        .collect())
}

/// The inbox item a `tag` id belongs to: itself, or the one its document or outbox record
/// names.
fn item_of(s: &SledStore, tag: u8, id: &[u8; 16]) -> Result<Option<InboxId>> {
    Ok(match tag {
        b'i' => InboxId::from_slice(id),
        b'd' => match DocumentId::from_slice(id) {
            Some(d) => super::documents::get(s, d)?.and_then(|doc| doc.meta.inbox_id),
            None => None,
        },
        b'o' => match OutboxId::from_slice(id) {
            Some(o) => super::outbox::get(s, o)?.and_then(|r| r.inbox_id),
            None => None,
        },
        _ => None,
    })
}

/// Exclusive upper bound for keys that start with a time before `t`.
fn time_bound(t: DateTime<Utc>) -> [u8; 8] {
    millis(t).to_be_bytes()
}

pub(super) fn purge(s: &SledStore, older_than: DateTime<Utc>) -> Result<PurgeReport> {
    let mut report = PurgeReport::default();
    let bound = time_bound(older_than);
    let _g = s.writing()?;

    // Inbox: finished entries only. The sled removal commits before the file is deleted, so
    // a crash in between leaves an orphan file (swept below next time), never an entry
    // pointing at nothing.
    for kv in s.t.inbox.range(..&bound[..]) {
        let (k, v) = kv?;
        let entry = match decode_entry(&k, &v) {
            Ok((e, _)) => e,
            // Leave a record we cannot read for an operator rather than guessing.
            Err(_) => continue,
        };
        if entry.stage.is_pending() || matches!(entry.stage, Stage::Exception { .. }) {
            report.kept_unfinished += 1;
            continue;
        }
        let kh = receive_key_hash(&entry.receive_key);
        let skey = stage_key(&entry.stage, &entry.id);
        (
            &s.t.inbox,
            &s.t.payload_inline,
            &s.t.stage_index,
            &s.t.receive_keys,
        )
            .transaction(|(inbox, inline, si, rk)| {
                inbox.remove(&k)?;
                inline.remove(&k)?;
                si.remove(skey.clone())?;
                if rk.get(kh)?.as_deref() == Some(&entry.id.as_bytes()[..]) {
                    rk.remove(&kh[..])?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        report.inbox_entries += 1;
        if let Some(p) = entry
            .payload
            .file
            .as_deref()
            .and_then(|f| payload::resolve(&s.root, f))
        {
            if fs::remove_file(&p).is_ok() {
                report.payload_files += 1;
            }
        }
    }
    report.payload_files += sweep_payload_days(s, older_than)?;

    // Documents, with their index entries and lineage.
    for kv in s.t.documents.range(..&bound[..]) {
        let (k, v) = kv?;
        let Some(id) = DocumentId::from_slice(&k) else {
            continue;
        };
        let Ok((DocHeader { meta, .. }, _)) = decode_document(&k, &v) else {
            continue;
        };
        let kh = *DocKeyHash::of(&meta).bytes();
        let t = &s.t;
        (
            &t.documents,
            &t.doc_keys,
            &t.doc_index,
            &t.doc_by_partner,
            &t.doc_by_kind,
            &t.lineage,
            &t.audit,
            &t.audit_by_ref,
        )
            .transaction(
                |(docs, keys, index, by_partner, by_kind, lineage, audit, by_ref)| {
                    let idb = id.as_bytes();
                    // Its trail outlives it while its events are young enough.
                    if let Some(item) = &meta.inbox_id {
                        keep_item_ref(audit, by_ref, b'd', idb, item)?;
                    }
                    docs.remove(&k)?;
                    if keys.get(kh)?.as_deref() == Some(&idb[..]) {
                        keys.remove(&kh[..])?;
                    }
                    DocIndexes::of(s, index, (by_partner, by_kind), lineage).remove(&meta, &id)
                },
            )
            .map_err(tx_err)?;
        report.documents += 1;
    }

    // Audit records and their references. A record's key has the time of its latest event,
    // so no event goes before the cut-off says it may.
    for kv in s.t.audit.range(..&bound[..]) {
        let (k, v) = kv?;
        let (refs, events) = match decode_audit("audit", &k, &v) {
            // An item's record is keyed by its receive time: its events decide.
            Ok(evs) if evs.iter().any(|e| millis(e.at) >= millis(older_than)) => continue,
            Ok(evs) => (audit_refs(&k, &evs), evs.len() as u64),
            Err(_) => (Vec::new(), 1),
        };
        (&s.t.audit, &s.t.audit_by_ref)
            .transaction(|(audit, by_ref)| {
                audit.remove(&k)?;
                for r in &refs {
                    by_ref.remove(r.as_slice())?;
                }
                Ok(())
            })
            .map_err(tx_err)?;
        report.audit_events += events;
    }

    // Delivered log. Its idempotency keys go too: retention is the promise's horizon.
    for kv in s.t.delivered.range(..&bound[..]) {
        let (k, v) = kv?;
        let record = decode_outbox("delivered", &k, &v).ok();
        let key_hash = record
            .as_ref()
            .map(|r| hash32(&[b"outbox", r.idempotency_key.as_bytes()]));
        let item = record.as_ref().and_then(|r| r.inbox_id);
        (
            &s.t.delivered,
            &s.t.outbox_index,
            &s.t.outbox_keys,
            &s.t.audit,
            &s.t.audit_by_ref,
        )
            .transaction(|(delivered, index, okeys, audit, by_ref)| {
                // Its trail outlives it while its events are young enough.
                if let (Some(item), Ok(oid)) = (&item, <[u8; 16]>::try_from(&k[..])) {
                    keep_item_ref(audit, by_ref, b'o', &oid, item)?;
                }
                delivered.remove(&k)?;
                index.remove(&k)?;
                if let Some(kh) = key_hash {
                    if okeys.get(kh)?.as_deref() == Some(&k[..]) {
                        okeys.remove(&kh[..])?;
                    }
                }
                Ok(())
            })
            .map_err(tx_err)?;
        report.delivered += 1;
    }

    // Duplicate keys: never inside the window, whatever the cut-off says.
    let window_start = Utc::now()
        .checked_sub_signed(s.seen_window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let seen_cut = older_than.min(window_start);
    let seen_bound = time_bound(seen_cut);
    // A listed key goes only if `seen` still holds the sighting that old: one seen again
    // after its window is listed again under its new time.
    let expired = |seen: &sled::transaction::TransactionalTree,
                   dup: &[u8]|
     -> sled::transaction::ConflictableTransactionResult<bool, StoreError> {
        let old = match seen.get(dup)? {
            Some(raw) => decode_seen("seen", dup, &raw)
                .map(|e| millis(e.first_seen) < millis(seen_cut))
                .unwrap_or(false),
            None => false,
        };
        if old {
            seen.remove(dup)?;
        }
        Ok(old)
    };
    for kv in s.t.seen_expiry.range(..&seen_bound[..]) {
        let (k, v) = kv?;
        let dups = split_lp(&v);
        let removed = (&s.t.seen, &s.t.seen_expiry)
            .transaction(|(seen, expiry)| {
                expiry.remove(&k)?;
                let mut n = 0;
                for dup in &dups {
                    n += u64::from(expired(seen, dup)?);
                }
                Ok(n)
            })
            .map_err(tx_err)?;
        report.seen += removed;
    }
    // Schema 1 listed each key under its own time.
    for kv in s.t.seen_by_time.range(..&seen_bound[..]) {
        let (k, _) = kv?;
        let dup_key = k.get(8..).unwrap_or_default().to_vec();
        let removed = (&s.t.seen, &s.t.seen_by_time)
            .transaction(|(seen, by_time)| {
                by_time.remove(&k)?;
                expired(seen, &dup_key)
            })
            .map_err(tx_err)?;
        report.seen += u64::from(removed);
    }

    s.db.flush()?;
    Ok(report)
}

/// The keys of a `seen_expiry` record (length-prefixed); a damaged tail is ignored, since the
/// worst it costs is a key kept past its retention.
fn split_lp(mut v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = v.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let Some(key) = rest.get(..len) else { break };
        out.push(key);
        v = &rest[len..];
    }
    out
}

/// Deletes payload files with no inbox entry in day directories wholly before the cut-off
/// (left by a crash between file and commit), then the day directories that are empty.
fn sweep_payload_days(s: &SledStore, older_than: DateTime<Utc>) -> Result<u64> {
    let cut_day = older_than.format("%Y-%m-%d").to_string();
    let base = s.root.join(PAYLOAD_DIR);
    let days = fs::read_dir(&base).map_err(|e| StoreError::io("list", &base, e))?;
    let mut removed = 0;
    for day in days.flatten() {
        let name = day.file_name().to_string_lossy().into_owned();
        // ISO dates compare as strings; only days that ended before the cut-off are swept.
        if name.len() != 10 || name >= cut_day {
            continue;
        }
        let Ok(files) = fs::read_dir(day.path()) else {
            continue;
        };
        for f in files.flatten() {
            let fname = f.file_name().to_string_lossy().into_owned();
            let orphan = match payload::id_of_file(&fname) {
                Some(id) => !s.t.inbox.contains_key(id.as_bytes())?,
                None => false,
            };
            if orphan && fs::remove_file(f.path()).is_ok() {
                removed += 1;
            }
        }
        // Fails harmlessly while files remain.
        let _ = fs::remove_dir(day.path());
    }
    Ok(removed)
}

/// A consistent copy: writers are held off (the gate) while every tree is copied into a new
/// sled database and every payload file is hard-linked (payload files never change after
/// their rename, so a link is a copy that costs nothing; copied when linking fails).
///
/// Why not sled's `export`/`import`: they panic on I/O errors, which the store must not do.
/// Why not copying sled's files: sled does not document its files as consistent while open.
/// The copy is a fresh database, so it is also compacted.
pub(super) fn backup(s: &SledStore, dir: &Path) -> Result<BackupReport> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
        if entries.next().is_some() {
            return Err(StoreError::BackupTargetNotEmpty(dir.to_path_buf()));
        }
    }
    for sub in ["", PAYLOAD_DIR, payload::TMP_DIR] {
        let d = dir.join(sub);
        fs::create_dir_all(&d).map_err(|e| StoreError::io("create directory", &d, e))?;
    }
    let mut report = BackupReport::default();
    let _g = s.exclusive();
    s.db.flush()?;
    let copy = sled::Config::new().path(dir.join("db")).open()?;
    for name in s.db.tree_names() {
        let src = s.db.open_tree(&name)?;
        let dst = copy.open_tree(&name)?;
        for kv in src.iter() {
            let (k, v) = kv?;
            dst.insert(k, v)?;
            report.records += 1;
        }
        report.trees += 1;
    }
    copy.flush()?;
    drop(copy);

    let base = s.root.join(PAYLOAD_DIR);
    let days = fs::read_dir(&base).map_err(|e| StoreError::io("list", &base, e))?;
    for day in days {
        let day = day.map_err(|e| StoreError::io("list", &base, e))?;
        let target_day = dir.join(PAYLOAD_DIR).join(day.file_name());
        fs::create_dir_all(&target_day)
            .map_err(|e| StoreError::io("create directory", &target_day, e))?;
        let files = fs::read_dir(day.path()).map_err(|e| StoreError::io("list", day.path(), e))?;
        for f in files {
            let f = f.map_err(|e| StoreError::io("list", day.path(), e))?;
            let target = target_day.join(f.file_name());
            if fs::hard_link(f.path(), &target).is_err() {
                fs::copy(f.path(), &target).map_err(|e| StoreError::io("copy", f.path(), e))?;
                fs::File::open(&target)
                    .and_then(|t| t.sync_all())
                    .map_err(|e| StoreError::io("fsync", &target, e))?;
            }
            report.payload_files += 1;
        }
        payload::fsync_dir(&target_day)?;
    }
    payload::fsync_dir(&dir.join(PAYLOAD_DIR))?;
    Ok(report)
}
