//! The unit of work of [`SledStore`](super::SledStore): one sled transaction over every tree an
//! inbox item's receipt and processing write (inline payloads, duplicate keys, outbox and
//! control numbers, documents, stages, audit). Every sled transaction rolls the log buffer and
//! waits for a synchronous write of it, so the pipeline receives and commits a whole batch of
//! items in one unit each instead of ten small transactions per item. Reuses the per-operation
//! transaction bodies of the sibling modules, so a write means the same thing either way.
//! Must not add operations of its own.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::super::error::{Result, StoreError};
use super::super::types::*;
use super::super::{BuildOutbound, StoreTx};
use super::documents::{put_tx, DocTrees};
use super::inbox::{
    check_seen_tx, receive_inline_tx, seen_value, set_stage_tx, ReceiveTrees, StageTrees,
};
use super::outbox::{enqueue_tx, OutboxTrees};
use super::{abort, tx_err, write_audit_tx, AuditKey, SledStore, TxResult};

/// Positions in the view; the order of `trees()` below.
const INBOX: usize = 0;
const STAGE_INDEX: usize = 1;
const SEEN: usize = 2;
const SEEN_BY_TIME: usize = 3;
const DOCUMENTS: usize = 4;
const DOC_KEYS: usize = 5;
const DOC_BY_PARTNER: usize = 6;
const DOC_BY_KIND: usize = 7;
const LINEAGE: usize = 8;
const COUNTERS: usize = 9;
const OUTBOX: usize = 10;
const OUTBOX_INDEX: usize = 11;
const OUTBOX_KEYS: usize = 12;
const DELIVERED: usize = 13;
const DEAD: usize = 14;
const AUDIT: usize = 15;
const AUDIT_BY_REF: usize = 16;
const RECEIVE_KEYS: usize = 17;
const PAYLOAD_INLINE: usize = 18;

struct SledTx<'a> {
    s: &'a SledStore,
    v: &'a [TransactionalTree],
    /// sled asked for a retry; remembered because the closure only passes `StoreError`s on.
    conflict: Cell<bool>,
    /// Audit ids generated before the transaction, and how many this run has used.
    ids: &'a [u64],
    used: Cell<usize>,
    /// The unit needed more audit ids than were generated: retried with more.
    short_of_ids: Cell<bool>,
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

    /// Out of ids, the unit carries on with placeholder keys (it will not commit) so that it
    /// learns how many it needs, and runs once more with that many.
    fn audit_key(&self, at: DateTime<Utc>) -> Result<AuditKey> {
        let n = self.used.get();
        self.used.set(n + 1);
        match self.ids.get(n) {
            Some(&id) => Ok(AuditKey::new(at, id)),
            None => {
                self.short_of_ids.set(true);
                Ok(AuditKey::new(at, u64::MAX - n as u64))
            }
        }
    }

    fn audit_trees(&self) -> (&TransactionalTree, &TransactionalTree) {
        (&self.v[AUDIT], &self.v[AUDIT_BY_REF])
    }
}

impl StoreTx for SledTx<'_> {
    fn receive_inline(
        &self,
        receive_key: &str,
        meta: &InboxMeta,
        bytes: &[u8],
    ) -> Result<Option<(InboxId, Receipt)>> {
        let (audit, by_ref) = self.audit_trees();
        let t = ReceiveTrees {
            rk: &self.v[RECEIVE_KEYS],
            inbox: &self.v[INBOX],
            inline: &self.v[PAYLOAD_INLINE],
            si: &self.v[STAGE_INDEX],
            audit,
            by_ref,
        };
        self.lift(receive_inline_tx(
            self.s,
            &t,
            receive_key,
            meta,
            bytes,
            &|at| self.audit_key(at),
        ))
    }

    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome> {
        let value = seen_value(owner, now)?;
        self.lift(check_seen_tx(
            &self.v[SEEN],
            &self.v[SEEN_BY_TIME],
            self.s.seen_window,
            key,
            &value,
            now,
        ))
    }

    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange> {
        let now = Utc::now();
        let akey = self.audit_key(now)?;
        let (audit, by_ref) = self.audit_trees();
        let t = StageTrees {
            inbox: &self.v[INBOX],
            si: &self.v[STAGE_INDEX],
            audit,
            by_ref,
        };
        self.lift(set_stage_tx(&t, id, &stage, actor, false, now, akey))
    }

    fn put_document(&self, meta: DocumentMeta, body: &[u8]) -> Result<(DocumentId, PutOutcome)> {
        let now = Utc::now();
        let akey = self.audit_key(now)?;
        let (audit, by_ref) = self.audit_trees();
        let t = DocTrees {
            docs: &self.v[DOCUMENTS],
            keys: &self.v[DOC_KEYS],
            by_partner: &self.v[DOC_BY_PARTNER],
            by_kind: &self.v[DOC_BY_KIND],
            lineage: &self.v[LINEAGE],
            audit,
            by_ref,
        };
        self.lift(put_tx(&t, &meta, body, now, akey))
    }

    fn enqueue_outbound(
        &self,
        partner: Option<&str>,
        build: &BuildOutbound<'_>,
    ) -> Result<Enqueued> {
        let now = Utc::now();
        let akey = self.audit_key(now)?;
        let (audit, by_ref) = self.audit_trees();
        let t = OutboxTrees {
            counters: &self.v[COUNTERS],
            outbox: &self.v[OUTBOX],
            index: &self.v[OUTBOX_INDEX],
            okeys: &self.v[OUTBOX_KEYS],
            delivered: &self.v[DELIVERED],
            dead: &self.v[DEAD],
            audit,
            by_ref,
        };
        self.lift(enqueue_tx(&t, partner, build, now, akey))
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        let akey = self.audit_key(event.at)?;
        let (audit, by_ref) = self.audit_trees();
        self.lift(write_audit_tx(audit, by_ref, akey, event))
    }
}

/// Runs `f` in one transaction over all trees it may touch.
pub(super) fn atomically(s: &SledStore, f: &dyn Fn(&dyn StoreTx) -> Result<()>) -> Result<()> {
    let t = &s.t;
    let trees: [&sled::Tree; 19] = [
        &t.inbox,
        &t.stage_index,
        &t.seen,
        &t.seen_by_time,
        &t.documents,
        &t.doc_keys,
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
        &t.payload_inline,
    ];
    let _g = s.shared();
    // Start with as many audit ids as the last unit used; a unit that needs more aborts (it
    // has written nothing) and runs again with as many as it turned out to need.
    let mut want = s.unit_ids_hint.load(Ordering::Relaxed).max(16);
    loop {
        let ids = s.generate_ids(want)?;
        let short = Cell::new(false);
        let used = Cell::new(0);
        let r = trees[..]
            .transaction(|v: &Vec<TransactionalTree>| {
                let tx = SledTx {
                    s,
                    v,
                    conflict: Cell::new(false),
                    ids: &ids,
                    used: Cell::new(0),
                    short_of_ids: Cell::new(false),
                };
                let r = f(&tx);
                short.set(tx.short_of_ids.get());
                used.set(tx.used.get());
                // Checked whatever `f` returned: a closure that swallowed one of these errors
                // must still not commit half a unit.
                if tx.short_of_ids.get() {
                    return Err(abort(StoreError::Conflict));
                }
                if tx.conflict.get() {
                    return Err(ConflictableTransactionError::Conflict);
                }
                r.map_err(abort)
            })
            .map_err(tx_err);
        if short.get() {
            want = used.get().max(want.saturating_add(1));
            continue;
        }
        // Decays slowly, so a small unit between big batches does not cost the next batch a
        // second run.
        let hint = s.unit_ids_hint.load(Ordering::Relaxed);
        s.unit_ids_hint
            .store(used.get().max(hint - hint / 4), Ordering::Relaxed);
        return r;
    }
}
