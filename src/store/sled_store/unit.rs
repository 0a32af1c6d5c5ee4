//! The unit of work of [`SledStore`](super::SledStore): one sled transaction over every tree an
//! inbox item's receipt and processing write (inline payloads, duplicate keys, outbox and
//! control numbers, documents, stages, audit). Every sled transaction rolls the log buffer and
//! waits for a synchronous write of it, so the pipeline receives and commits a whole batch of
//! items in one unit each instead of ten small transactions per item. Reuses the per-operation
//! transaction bodies of the sibling modules, so a write means the same thing either way.
//! Must not add operations of its own.

use std::cell::{Cell, RefCell};

use chrono::{DateTime, Utc};
// The unit's own maps are keyed by ids that end in hash bytes: SipHash's DoS resistance buys
// nothing there, and hashing every id a unit touches with it cost ~1.5% of a commit.
use fxhash::FxHashMap as HashMap;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::super::codec::{cat, push_lp};
use super::super::error::{Result, StoreError};
use super::super::types::*;
use super::super::{BuildOutbound, StoreTx};
use super::documents::{put_tx, DocIndexes, DocTrees};
use super::inbox::{
    advance, check_seen_tx, receive_inline_tx, seen_expiry_key, seen_value, set_stage_tx,
    write_entry_tx, InlineReceipt, ReceiveTrees, StageTrees,
};
use super::outbox::{enqueue_tx, read_counter, write_counter, Counters, OutboxTrees};
use super::{
    abort, audit_ids, item_audit_key, keep_item_ref, tx_err, write_audit_tx, AuditKey, AuditSink,
    SledStore, TxResult,
};

/// Positions in the view; the order of `trees()` below.
const INBOX: usize = 0;
const STAGE_INDEX: usize = 1;
const SEEN: usize = 2;
const SEEN_EXPIRY: usize = 3;
const DOCUMENTS: usize = 4;
const DOC_KEYS: usize = 5;
const DOC_INDEX: usize = 6;
const DOC_BY_PARTNER: usize = 7;
const DOC_BY_KIND: usize = 8;
const LINEAGE: usize = 9;
const COUNTERS: usize = 10;
const OUTBOX: usize = 11;
const OUTBOX_INDEX: usize = 12;
const OUTBOX_KEYS: usize = 13;
const DELIVERED: usize = 14;
const DEAD: usize = 15;
const AUDIT: usize = 16;
const AUDIT_BY_REF: usize = 17;
const RECEIVE_KEYS: usize = 18;

/// Which record an event joins: the item it is about (the first id it names, inbox first).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    Inbox(InboxId),
    Document(DocumentId),
    Outbox(OutboxId),
    None,
}

fn subject(e: &AuditEvent) -> Subject {
    match (e.inbox_id, e.document_id, e.outbox_id) {
        (Some(i), _, _) => Subject::Inbox(i),
        (None, Some(d), _) => Subject::Document(d),
        (None, None, Some(o)) => Subject::Outbox(o),
        (None, None, None) => Subject::None,
    }
}

/// What a run of the closure collected to write at its end. Fresh for every run, so a rerun
/// starts clean.
#[derive(Default)]
struct Pending {
    /// Audit events by subject, in the order subjects first appeared.
    audit: Vec<(Subject, Vec<AuditEvent>)>,
    audit_by_subject: HashMap<Subject, usize>,
    /// Inbox entries received in this unit with their payloads, written once with the stage
    /// they end at (one write instead of a write and a rewrite, and no stage index entry for
    /// finished items).
    entries: Vec<(InboxEntry, Vec<u8>)>,
    entry_by_id: HashMap<InboxId, usize>,
    /// Duplicate keys recorded in this unit, and the latest time among them.
    seen: Vec<u8>,
    seen_latest: Option<DateTime<Utc>>,
    /// Documents and outbox records this unit wrote, with the inbox id their record carries:
    /// an item's record needs no reference from them when that id is the item's.
    docs: HashMap<DocumentId, Option<InboxId>>,
    outbound: HashMap<OutboxId, Option<InboxId>>,
    /// Control-number counters this unit advanced, by key, with their last value: written
    /// once each at the end instead of read and rewritten in the tree for every ack.
    counters: HashMap<Vec<u8>, u64>,
}

struct SledTx<'a> {
    s: &'a SledStore,
    v: &'a [TransactionalTree],
    /// sled asked for a retry; remembered because the closure only passes `StoreError`s on.
    conflict: Cell<bool>,
    /// Generated before the transaction; makes this unit's audit and expiry keys unique.
    unit_id: u64,
    pending: RefCell<Pending>,
}

impl AuditSink for SledTx<'_> {
    fn record(&self, event: AuditEvent) -> TxResult<()> {
        let mut p = self.pending.borrow_mut();
        let p = &mut *p;
        let subject = subject(&event);
        match p.audit_by_subject.get(&subject) {
            Some(&i) => p.audit[i].1.push(event),
            None => {
                p.audit_by_subject.insert(subject, p.audit.len());
                p.audit.push((subject, vec![event]));
            }
        }
        Ok(())
    }

    fn document_leaves(&self, doc: &DocumentId, item: &InboxId) -> TxResult<()> {
        // An item received in this unit: its record is not written yet, and `finish` gives
        // it the reference, as the document's inbox id no longer names the item by then.
        if self.pending.borrow().entry_by_id.contains_key(item) {
            return Ok(());
        }
        keep_item_ref(
            &self.v[AUDIT],
            &self.v[AUDIT_BY_REF],
            b'd',
            doc.as_bytes(),
            item,
        )
    }
}

impl Counters for SledTx<'_> {
    fn get(&self, key: &[u8]) -> TxResult<Option<u64>> {
        if let Some(&v) = self.pending.borrow().counters.get(key) {
            return Ok(Some(v));
        }
        read_counter(&self.v[COUNTERS], key)
    }

    fn set(&self, key: &[u8], value: u64) -> TxResult<()> {
        let mut p = self.pending.borrow_mut();
        match p.counters.get_mut(key) {
            Some(v) => *v = value,
            None => {
                p.counters.insert(key.to_vec(), value);
            }
        }
        Ok(())
    }
}

impl SledTx<'_> {
    fn lift<T>(&self, r: TxResult<T>) -> Result<T> {
        match r {
            Ok(v) => Ok(v),
            Err(ConflictableTransactionError::Abort(e)) => Err(e),
            Err(ConflictableTransactionError::Storage(e)) => Err(StoreError::Sled(e)),
            Err(ConflictableTransactionError::Conflict) => {
                self.conflict.set(true);
                Err(StoreError::Conflict)
            }
            // The enum is non-exhaustive; treat anything new as a retryable conflict.
            #[allow(unreachable_patterns)]
            Err(_) => {
                self.conflict.set(true);
                Err(StoreError::Conflict)
            }
        }
    }

    /// Writes what the unit collected: its new inbox entries, one audit record per subject
    /// and one expiry record for its duplicate keys.
    fn finish(&self) -> TxResult<()> {
        let p = self.pending.take();
        for (e, bytes) in &p.entries {
            write_entry_tx(&self.v[INBOX], &self.v[STAGE_INDEX], e, Some(bytes))?;
        }
        for (seq, (subject, events)) in p.audit.iter().enumerate() {
            if let Subject::Inbox(item) = subject {
                if p.entry_by_id.contains_key(item) && self.write_item_audit(&p, item, events)? {
                    continue;
                }
            }
            // Keyed by the latest event, so retention never drops an event early.
            let latest = events.iter().map(|e| e.at).max().unwrap_or_else(Utc::now);
            let seq = u32::try_from(seq)
                .ok()
                .filter(|s| *s != u32::MAX)
                .ok_or_else(|| {
                    abort(StoreError::InvalidId(
                        "over 4 billion audit records in one unit".into(),
                    ))
                })?;
            let key = AuditKey::new(latest, self.unit_id, seq);
            write_audit_tx(&self.v[AUDIT], &self.v[AUDIT_BY_REF], key, events)?;
        }
        if let Some(latest) = p.seen_latest {
            self.v[SEEN_EXPIRY].insert(&seen_expiry_key(latest, self.unit_id)[..], p.seen)?;
        }
        for (key, value) in &p.counters {
            write_counter(&self.v[COUNTERS], key, *value)?;
        }
        Ok(())
    }
}

impl SledTx<'_> {
    /// Writes the record of an item received in this unit under [`item_audit_key`], with
    /// references only for ids that do not lead to it by themselves. `false` (nothing
    /// written) when that key is taken, which only a purged and re-received item of the same
    /// millisecond could do: the caller then writes the record the ordinary way.
    fn write_item_audit(
        &self,
        p: &Pending,
        item: &InboxId,
        events: &[AuditEvent],
    ) -> TxResult<bool> {
        let key = item_audit_key(item);
        let audit = &self.v[AUDIT];
        if audit.get(key.0)?.is_some() {
            return Ok(false);
        }
        audit.insert(&key.0[..], super::super::codec::encode_audit(events))?;
        let leads_here = |tag: u8, id: &[u8; 16]| -> bool {
            match tag {
                b'i' => id == item.as_bytes(),
                b'd' => DocumentId::from_slice(id)
                    .and_then(|d| p.docs.get(&d))
                    .is_some_and(|owner| *owner == Some(*item)),
                b'o' => OutboxId::from_slice(id)
                    .and_then(|o| p.outbound.get(&o))
                    .is_some_and(|owner| *owner == Some(*item)),
                _ => false,
            }
        };
        for (tag, id) in audit_ids(events) {
            if !leads_here(tag, &id) {
                self.v[AUDIT_BY_REF].insert(cat(&[&[tag][..], &id[..], &key.0[..]]), &[][..])?;
            }
        }
        Ok(true)
    }
}

impl StoreTx for SledTx<'_> {
    fn receive_inline(
        &self,
        receive_key: &str,
        meta: &InboxMeta,
        bytes: &[u8],
        hashes: Option<&ReceiveHashes>,
    ) -> Result<Option<(InboxId, Receipt)>> {
        let r = self.lift(receive_inline_tx(
            self.s,
            &ReceiveTrees {
                rk: &self.v[RECEIVE_KEYS],
                inbox: &self.v[INBOX],
            },
            self,
            receive_key,
            meta,
            bytes,
            hashes,
        ))?;
        Ok(match r {
            InlineReceipt::TooLarge => None,
            InlineReceipt::AlreadyHad(id) => Some((id, Receipt::AlreadyHad)),
            InlineReceipt::Fresh(entry) => {
                let id = entry.id;
                let mut p = self.pending.borrow_mut();
                // Another key of this unit hashed to the same id: not yet in the tree, so
                // `receive_inline_tx` could not see it.
                if p.entry_by_id.contains_key(&id) {
                    return Err(StoreError::IdCollision {
                        what: InboxId::WHAT,
                        id: id.to_string(),
                    });
                }
                let n = p.entries.len();
                p.entry_by_id.insert(id, n);
                p.entries.push((*entry, bytes.to_vec()));
                Some((id, Receipt::Fresh))
            }
        })
    }

    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome> {
        let value = seen_value(owner, now);
        let outcome = self.lift(check_seen_tx(
            &self.v[SEEN],
            self.s.seen_window,
            key,
            &value,
            now,
        ))?;
        if outcome == SeenOutcome::First {
            let mut p = self.pending.borrow_mut();
            push_lp(&mut p.seen, key);
            p.seen_latest = Some(p.seen_latest.map_or(now, |t| t.max(now)));
        }
        Ok(outcome)
    }

    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange> {
        let now = Utc::now();
        let received_here = {
            let mut p = self.pending.borrow_mut();
            let p = &mut *p;
            match p.entry_by_id.get(&id) {
                Some(&i) => Some(advance(&mut p.entries[i].0, &stage, actor, false, now)),
                None => None,
            }
        };
        match received_here {
            Some(None) => Ok(StageChange::Unchanged),
            Some(Some((from, event))) => {
                self.lift(self.record(event))?;
                Ok(StageChange::Changed { from })
            }
            None => {
                let t = StageTrees {
                    inbox: &self.v[INBOX],
                    si: &self.v[STAGE_INDEX],
                    audit: self,
                };
                self.lift(set_stage_tx(&t, id, &stage, actor, false, now))
            }
        }
    }

    fn put_document(
        &self,
        meta: DocumentMeta,
        body: &[u8],
        key_hash: Option<&DocKeyHash>,
    ) -> Result<(DocumentId, PutOutcome)> {
        let now = Utc::now();
        let kh = key_hash.copied().unwrap_or_else(|| DocKeyHash::of(&meta));
        let t = DocTrees {
            docs: &self.v[DOCUMENTS],
            keys: &self.v[DOC_KEYS],
            indexes: DocIndexes::of(
                self.s,
                &self.v[DOC_INDEX],
                (&self.v[DOC_BY_PARTNER], &self.v[DOC_BY_KIND]),
                &self.v[LINEAGE],
            ),
            audit: self,
        };
        let inbox_id = meta.inbox_id;
        let (id, outcome) = self.lift(put_tx(&t, meta, body, &kh, now))?;
        if outcome != PutOutcome::Unchanged {
            // The stored header now carries this inbox id (the last put of a unit wins).
            self.pending.borrow_mut().docs.insert(id, inbox_id);
        }
        Ok((id, outcome))
    }

    fn enqueue_outbound(
        &self,
        partner: Option<&str>,
        build: &BuildOutbound<'_>,
        item_id: Option<OutboxId>,
    ) -> Result<Enqueued> {
        let now = Utc::now();
        let t = OutboxTrees {
            item_keys_indexed: self.s.item_keys_indexed,
            counters: self,
            outbox: &self.v[OUTBOX],
            index: &self.v[OUTBOX_INDEX],
            okeys: &self.v[OUTBOX_KEYS],
            delivered: &self.v[DELIVERED],
            dead: &self.v[DEAD],
            audit: self,
        };
        // The record carries the inbox id `build` gives it.
        let inbox = Cell::new(None);
        let build_noting = |n: ControlNumbers| {
            let new = build(n)?;
            inbox.set(Some(new.inbox_id));
            Ok(new)
        };
        let e = self.lift(enqueue_tx(&t, partner, &build_noting, item_id, now))?;
        if e.fresh {
            self.pending
                .borrow_mut()
                .outbound
                .insert(e.id, inbox.get().flatten());
        }
        Ok(e)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        self.lift(self.record(event.clone()))
    }
}

/// Runs `f` in one transaction over all trees it may touch.
pub(super) fn atomically(s: &SledStore, f: &dyn Fn(&dyn StoreTx) -> Result<()>) -> Result<()> {
    let t = &s.t;
    let trees: [&sled::Tree; 19] = [
        &t.inbox,
        &t.stage_index,
        &t.seen,
        &t.seen_expiry,
        &t.documents,
        &t.doc_keys,
        &t.doc_index,
        &t.doc_by_partner,
        &t.doc_by_kind,
        &t.lineage,
        &t.counters,
        &t.outbox,
        &t.outbox_index,
        &t.outbox_keys,
        &t.delivered,
        &t.dead,
        &t.audit,
        &t.audit_by_ref,
        &t.receive_keys,
    ];
    // Before the transaction: `generate_id` takes a lock a running transaction holds. Only
    // the run that commits uses it, so a rerun may take the same one.
    let unit_id = s.db.generate_id()?;
    let _g = s.writing()?;
    trees[..]
        .transaction(|v: &Vec<TransactionalTree>| {
            let tx = SledTx {
                s,
                v,
                conflict: Cell::new(false),
                unit_id,
                pending: RefCell::new(Pending::default()),
            };
            let r = f(&tx);
            // Checked whatever `f` returned: a closure that swallowed a conflict must still
            // not commit half a unit.
            if tx.conflict.get() {
                return Err(ConflictableTransactionError::Conflict);
            }
            r.map_err(abort)?;
            tx.finish()
        })
        .map_err(tx_err)
}
