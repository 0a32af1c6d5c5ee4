//! Inbox and duplicate-key operations of [`SledStore`](super::SledStore): receive with
//! idempotency, stages and their index, replay marks, the `seen` window. Must not decide
//! which stage follows which (the pipeline does) or read payload contents.

use std::fs::File;
use std::io::Read;

use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::super::codec::{cat, decode_entry, decode_seen, encode_entry, encode_seen, lp};
use super::super::error::{Result, StoreError};
use super::super::payload;
use super::super::types::*;
use super::{abort, tx_err, AuditSink, DirectAudit, SledStore, TxResult};

/// Stage classes in `stage_index`. One class for all pending stages keeps restart-resume a
/// single scan in arrival order.
pub(super) const CLASS_PENDING: u8 = 0;
pub(super) const CLASS_EXCEPTION: u8 = 1;
pub(super) const CLASS_FINISHED: u8 = 2;

pub(super) fn class_of(stage: &Stage) -> u8 {
    match stage {
        s if s.is_pending() => CLASS_PENDING,
        Stage::Exception { .. } => CLASS_EXCEPTION,
        _ => CLASS_FINISHED,
    }
}

pub(super) fn stage_key(stage: &Stage, id: &InboxId) -> Vec<u8> {
    cat(&[&[class_of(stage)], id.as_bytes()])
}

/// The id of a fresh receive: its time, then the first bytes of the receive key's hash (one
/// SHA-256 per receive serves both the idempotency key and the id).
pub(super) fn new_inbox_id(kh: &[u8; 32], meta: &InboxMeta) -> InboxId {
    InboxId::new(meta.received_at, discriminator(kh))
}

fn decode_id(tree: &'static str, key: &[u8], v: &[u8]) -> Result<InboxId> {
    InboxId::from_slice(v).ok_or_else(|| StoreError::corrupt(tree, key, "not a 16-byte inbox id"))
}

pub(super) fn receive(
    s: &SledStore,
    receive_key: &str,
    meta: InboxMeta,
    src: &mut dyn Read,
) -> Result<(InboxId, Receipt)> {
    s.check_writable()?;
    let kh = receive_key_hash(receive_key);
    // Fast path: a redelivery after a crash is answered without reading a byte of it.
    if let Some(v) = s.t.receive_keys.get(kh)? {
        return Ok((decode_id("receive_keys", &kh, &v)?, Receipt::AlreadyHad));
    }

    let id = new_inbox_id(&kh, &meta);
    let nonce = s.db.generate_id()?;
    // The file goes first: an inbox entry must never point at bytes that are not on disk.
    // A crash between here and the commit leaves an orphan file that `purge` sweeps.
    let (pref, inline) = if s.inline_payload_max > 0 {
        let (head, complete) = payload::read_head(src, s.inline_payload_max)?;
        if complete {
            (payload::inline_ref(&head), Some(head))
        } else {
            let mut rest = std::io::Cursor::new(head).chain(src);
            (
                payload::write_payload(&s.root, &id, nonce, &mut rest)?,
                None,
            )
        }
    } else {
        (payload::write_payload(&s.root, &id, nonce, src)?, None)
    };
    let now = Utc::now();
    let entry = InboxEntry {
        id,
        receive_key: receive_key.to_owned(),
        meta,
        payload: pref,
        stage: Stage::Received,
        stage_changed_at: now,
        replays: 0,
    };
    let value = encode_entry(&entry, inline.as_deref());
    let event = received_event(&entry, now);
    let akey = s.audit_key(now)?;
    let skey = stage_key(&Stage::Received, &id);

    let outcome = {
        let _g = s.writing()?;
        (
            &s.t.receive_keys,
            &s.t.inbox,
            &s.t.stage_index,
            &s.t.audit,
            &s.t.audit_by_ref,
        )
            .transaction(|(rk, inbox, si, audit, by_ref)| {
                let audit = DirectAudit {
                    audit,
                    by_ref,
                    key: akey,
                };
                if let Some(existing) = rk.get(kh)? {
                    // Lost a race with a concurrent receive of the same key.
                    return Ok(Some(existing));
                }
                if inbox.get(id.as_bytes())?.is_some() {
                    return Err(abort(StoreError::IdCollision {
                        what: InboxId::WHAT,
                        id: id.to_string(),
                    }));
                }
                rk.insert(&kh[..], &id.as_bytes()[..])?;
                inbox.insert(&id.as_bytes()[..], value.clone())?;
                si.insert(skey.clone(), &[][..])?;
                audit.record(event.clone())?;
                Ok(None)
            })
            .map_err(tx_err)
    };
    let remove_ours = || {
        if let Some(p) = entry
            .payload
            .file
            .as_deref()
            .and_then(|f| payload::resolve(&s.root, f))
        {
            let _ = std::fs::remove_file(p);
        }
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            remove_ours();
            return Err(e);
        }
    };
    match outcome {
        None => Ok((id, Receipt::Fresh)),
        Some(existing) => {
            remove_ours();
            Ok((
                decode_id("receive_keys", &kh, &existing)?,
                Receipt::AlreadyHad,
            ))
        }
    }
}

pub(super) fn get(s: &SledStore, id: InboxId) -> Result<Option<InboxEntry>> {
    s.t.inbox
        .get(id.as_bytes())?
        .map(|v| decode_entry(id.as_bytes(), &v).map(|(e, _)| e))
        .transpose()
}

pub(super) fn open_payload(s: &SledStore, id: InboxId) -> Result<Box<dyn Read + Send>> {
    let not_found = || StoreError::NotFound {
        what: InboxId::WHAT,
        id: id.to_string(),
    };
    let raw = s.t.inbox.get(id.as_bytes())?.ok_or_else(not_found)?;
    let (entry, body) = decode_entry(id.as_bytes(), &raw)?;
    let Some(file) = entry.payload.file.as_deref() else {
        let bytes = match body {
            Some(b) => b.to_vec(),
            // Schema 1 kept inline payloads in a tree of their own.
            None => {
                s.t.payload_inline
                    .get(id.as_bytes())?
                    .ok_or_else(|| {
                        StoreError::corrupt("inbox", id.as_bytes(), "inline payload missing")
                    })?
                    .to_vec()
            }
        };
        return Ok(Box::new(std::io::Cursor::new(bytes)));
    };
    let path = payload::resolve(&s.root, file).ok_or_else(|| {
        StoreError::corrupt(
            "inbox",
            id.as_bytes(),
            "payload path leaves the payload directory",
        )
    })?;
    let f = File::open(&path).map_err(|e| StoreError::io("open", &path, e))?;
    Ok(Box::new(std::io::BufReader::new(f)))
}

pub(super) fn set_stage(
    s: &SledStore,
    id: InboxId,
    stage: Stage,
    actor: &str,
    replay: bool,
) -> Result<StageChange> {
    let now = Utc::now();
    let akey = s.audit_key(now)?;
    let _g = s.writing()?;
    (&s.t.inbox, &s.t.stage_index, &s.t.audit, &s.t.audit_by_ref)
        .transaction(|(inbox, si, audit, by_ref)| {
            let audit = DirectAudit {
                audit,
                by_ref,
                key: akey,
            };
            set_stage_tx(
                &StageTrees {
                    inbox,
                    si,
                    audit: &audit,
                },
                id,
                &stage,
                actor,
                replay,
                now,
            )
        })
        .map_err(tx_err)
}

/// The trees a stage change writes, inside some transaction.
pub(super) struct StageTrees<'a> {
    pub inbox: &'a TransactionalTree,
    pub si: &'a TransactionalTree,
    pub audit: &'a dyn AuditSink,
}

/// The body of [`set_stage`], shared with the one-transaction unit of work.
pub(super) fn set_stage_tx(
    t: &StageTrees<'_>,
    id: InboxId,
    stage: &Stage,
    actor: &str,
    replay: bool,
    now: DateTime<Utc>,
) -> TxResult<StageChange> {
    let raw = t.inbox.get(id.as_bytes())?.ok_or_else(|| {
        abort(StoreError::NotFound {
            what: InboxId::WHAT,
            id: id.to_string(),
        })
    })?;
    let (mut entry, inline) = decode_entry(id.as_bytes(), &raw).map_err(abort)?;
    let Some((from, event)) = advance(&mut entry, stage, actor, replay, now) else {
        return Ok(StageChange::Unchanged);
    };
    t.si.remove(stage_key(&from, &id))?;
    // Rewritten in the form it was read in (an inline payload stays where it is).
    write_entry_tx(t.inbox, t.si, &entry, inline)?;
    t.audit.record(event)?;
    Ok(StageChange::Changed { from })
}

/// Moves `entry` to `stage` in memory: the stage it left and the audit event, or `None` when
/// it is already there (and this is no replay).
pub(super) fn advance(
    entry: &mut InboxEntry,
    stage: &Stage,
    actor: &str,
    replay: bool,
    now: DateTime<Utc>,
) -> Option<(Stage, AuditEvent)> {
    if entry.stage == *stage && !replay {
        return None;
    }
    let from = std::mem::replace(&mut entry.stage, stage.clone());
    entry.stage_changed_at = now;
    let (action, detail) = if replay {
        entry.replays = entry.replays.saturating_add(1);
        (
            "inbox.replay",
            format!(
                "{} -> {} (replay {})",
                from.name(),
                stage.name(),
                entry.replays
            ),
        )
    } else {
        let mut d = format!("{} -> {}", from.name(), stage.name());
        if let Stage::Exception { reason } = stage {
            d.push_str(": ");
            d.push_str(reason);
        }
        ("inbox.stage", d)
    };
    let event = AuditEvent {
        at: now,
        actor: actor.to_owned(),
        action: action.into(),
        inbox_id: Some(entry.id),
        document_id: None,
        outbox_id: None,
        detail,
    };
    Some((from, event))
}

/// Writes an inbox entry (and its inline payload) at its current stage, with its stage index
/// entry. Finished items are never listed by stage, so they get none (one key less per item
/// on the bulk path); entries an older build wrote for them are harmless. Used by a stage
/// change and by the unit of work, which keeps the entries it received in memory while they
/// move through their stages and writes each once.
pub(super) fn write_entry_tx(
    inbox: &TransactionalTree,
    si: &TransactionalTree,
    entry: &InboxEntry,
    inline: Option<&[u8]>,
) -> TxResult<()> {
    inbox.insert(&entry.id.as_bytes()[..], encode_entry(entry, inline))?;
    if class_of(&entry.stage) != CLASS_FINISHED {
        si.insert(stage_key(&entry.stage, &entry.id), &[][..])?;
    }
    Ok(())
}

pub(super) fn list_class(s: &SledStore, class: u8, limit: usize) -> Result<Vec<InboxEntry>> {
    let mut out = Vec::new();
    for kv in s.t.stage_index.scan_prefix([class]) {
        if out.len() >= limit {
            break;
        }
        let (k, _) = kv?;
        let id = InboxId::from_slice(&k[1..])
            .ok_or_else(|| StoreError::corrupt("stage_index", &k, "not class + inbox id"))?;
        // A missing or unreadable record must not stop the resume of everything behind it:
        // skip it loudly; `inbox_get` on that id still reports the corruption precisely.
        match get(s, id) {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(StoreError::Corrupt { detail, .. }) => {
                tracing::error!(inbox_id = %id, %detail, "unreadable inbox record skipped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

pub(super) fn check_seen(
    s: &SledStore,
    key: &str,
    owner: SeenOwner,
    now: DateTime<Utc>,
) -> Result<SeenOutcome> {
    let value = seen_value(owner, now);
    let expiry_key = seen_expiry_key(now, s.db.generate_id()?);
    let _g = s.writing()?;
    (&s.t.seen, &s.t.seen_expiry)
        .transaction(|(seen, expiry)| {
            let outcome = check_seen_tx(seen, s.seen_window, key, &value, now)?;
            if outcome == SeenOutcome::First {
                expiry.insert(&expiry_key[..], lp(key))?;
            }
            Ok(outcome)
        })
        .map_err(tx_err)
}

pub(super) fn seen_value(owner: SeenOwner, now: DateTime<Utc>) -> Vec<u8> {
    encode_seen(&SeenEntry {
        first_seen: now,
        owner,
    })
}

/// A `seen_expiry` key: the latest first-seen time of the keys listed under it (so purge
/// takes the record only when all of them are old enough), then a unique id.
pub(super) fn seen_expiry_key(latest: DateTime<Utc>, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&millis(latest).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The body of [`check_seen`], shared with the one-transaction unit of work. On `First` the
/// caller lists `key` in `seen_expiry`. A key seen again after its window keeps its older
/// listing too: purge checks the time in `seen` before it removes anything.
pub(super) fn check_seen_tx(
    seen: &TransactionalTree,
    window: chrono::Duration,
    key: &str,
    value: &[u8],
    now: DateTime<Utc>,
) -> TxResult<SeenOutcome> {
    if let Some(raw) = seen.get(key.as_bytes())? {
        let old = decode_seen("seen", key.as_bytes(), &raw).map_err(abort)?;
        // Checked: a corrupt far-future time must not panic, it just counts as seen.
        let expires = old.first_seen.checked_add_signed(window);
        if expires.is_none_or(|e| e > now) {
            return Ok(SeenOutcome::Duplicate(old));
        }
    }
    seen.insert(key.as_bytes(), value)?;
    Ok(SeenOutcome::First)
}

/// What [`receive_inline_tx`] did.
pub(super) enum InlineReceipt {
    /// Too large to keep inline: the caller receives it the ordinary way.
    TooLarge,
    AlreadyHad(InboxId),
    /// Received: the receive key is written and the event recorded; the entry (with the
    /// payload) is the caller's to store with [`write_entry_tx`] once it knows the last stage.
    Fresh(Box<InboxEntry>),
}

/// The trees an inline receive reads and writes, inside some transaction.
pub(super) struct ReceiveTrees<'a> {
    pub rk: &'a TransactionalTree,
    pub inbox: &'a TransactionalTree,
}

/// [`receive`] of a payload small enough to live in sled, inside a unit of work: no payload
/// file, so nothing but sled is written and the batch flush makes it durable.
pub(super) fn receive_inline_tx(
    s: &SledStore,
    t: &ReceiveTrees<'_>,
    audit: &dyn AuditSink,
    receive_key: &str,
    meta: &InboxMeta,
    bytes: &[u8],
    hashes: Option<&ReceiveHashes>,
) -> TxResult<InlineReceipt> {
    if bytes.len() > s.inline_payload_max {
        return Ok(InlineReceipt::TooLarge);
    }
    let kh = hashes.map_or_else(|| receive_key_hash(receive_key), |h| *h.key());
    let ReceiveTrees { rk, inbox } = *t;
    if let Some(v) = rk.get(kh)? {
        let id = decode_id("receive_keys", &kh, &v).map_err(abort)?;
        return Ok(InlineReceipt::AlreadyHad(id));
    }
    let id = new_inbox_id(&kh, meta);
    if inbox.get(id.as_bytes())?.is_some() {
        return Err(abort(StoreError::IdCollision {
            what: InboxId::WHAT,
            id: id.to_string(),
        }));
    }
    let now = Utc::now();
    let entry = InboxEntry {
        id,
        receive_key: receive_key.to_owned(),
        meta: meta.clone(),
        payload: match hashes {
            Some(h) => payload::inline_ref_hashed(bytes, h.payload()),
            None => payload::inline_ref(bytes),
        },
        stage: Stage::Received,
        stage_changed_at: now,
        replays: 0,
    };
    rk.insert(&kh[..], &id.as_bytes()[..])?;
    audit.record(received_event(&entry, now))?;
    Ok(InlineReceipt::Fresh(Box::new(entry)))
}

/// The audit record of a receive, the same whether the payload went to a file or inline.
fn received_event(entry: &InboxEntry, now: chrono::DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        at: now,
        actor: format!("channel:{}", entry.meta.channel),
        action: "inbox.received".into(),
        inbox_id: Some(entry.id),
        document_id: None,
        outbox_id: None,
        detail: format!(
            "{} bytes, sha256 {}",
            entry.payload.size, entry.payload.sha256
        ),
    }
}
