//! The durable store: raw payload files plus sled trees, behind the [`Store`] trait.
//!
//! Owns: the inbox (receive idempotency, payload files, stages), canonical documents and their
//! indexes, lineage by PO, duplicate keys, the outbox with control numbers, the audit trail,
//! retention and backup. Must not touch: document contents (the store never parses — bodies and
//! payloads are opaque bytes), the order of pipeline stages (`pipeline` owns that), channels.
//!
//! ## Durability contract
//!
//! Payload files are fsynced before `receive` returns. Everything in sled is durable only after
//! [`Store::flush`]: no write method flushes by itself, so a caller can group many writes under
//! one flush (group commit). Before telling anyone outside "received" (AS2 MDN, SFTP delete,
//! IMAP flag) or "done", call `flush`. [`Store::due`] flushes before it hands records out, so a
//! control number is never sent before it is durable, and therefore never reused after a crash.
//!
//! ## Transactions
//!
//! Every change that touches more than one key runs in one sled transaction. sled may run a
//! transaction closure more than once, so closures (including the `build` closure of
//! [`Store::enqueue_outbound`]) must be pure: no I/O, no counters, no logging.
//!
//! [`Store::atomically`] runs a caller's closure as one unit of work over the whole store (the
//! pipeline commits an item's duplicate keys, acks, documents, audit and final stage at once);
//! the same purity rule applies to that closure.

mod codec;
mod error;
mod payload;
mod sled_store;
mod types;

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};

pub use error::{Result, StoreError};
pub use sled_store::{SledStore, StoreConfig, CURRENT_SCHEMA_VERSION};
pub use types::{
    backoff, item_outbox_id, AuditEvent, BackupReport, ControlNumbers, DeliveryState, DocKeyHash,
    DocumentFilter, DocumentId, DocumentMeta, Enqueued, InboxEntry, InboxId, InboxMeta,
    NewOutbound, OutboxId, OutboxRecord, Page, PayloadRef, PurgeReport, PutOutcome, Receipt,
    ReceiveHashes, SeenEntry, SeenOutcome, SeenOwner, Stage, StageChange, StoredDocument,
    MAX_CONTROL_NUMBER,
};

/// The pure closure that renders an outbound payload once its control numbers are known.
pub type BuildOutbound<'a> = dyn Fn(ControlNumbers) -> std::result::Result<NewOutbound, Box<dyn std::error::Error + Send + Sync>>
    + 'a;

/// The operations available inside [`Store::atomically`]: the same meaning as the [`Store`]
/// methods of the same name, but all of them commit together or not at all.
pub trait StoreTx {
    /// [`Store::receive`] of a payload the store keeps inline (small): `None` when it is too
    /// large for that, and the caller must use [`Store::receive`] (which writes a file).
    /// `hashes`, when the caller has them, must be those of `receive_key` and `bytes`: the
    /// store then hashes neither again.
    fn receive_inline(
        &self,
        receive_key: &str,
        meta: &InboxMeta,
        bytes: &[u8],
        hashes: Option<&ReceiveHashes>,
    ) -> Result<Option<(InboxId, Receipt)>>;
    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome>;
    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange>;
    /// `key_hash`, when the caller made it, must be [`DocKeyHash::of`] `meta`: the store then
    /// does not hash again.
    fn put_document(
        &self,
        meta: DocumentMeta,
        body: &[u8],
        key_hash: Option<&DocKeyHash>,
    ) -> Result<(DocumentId, PutOutcome)>;
    /// [`Store::enqueue_outbound`] with `partner` set, [`Store::enqueue`] without. `item_id`,
    /// when the caller made it, must be [`item_outbox_id`] of the inbox item and idempotency
    /// key `build` gives: the store then does not hash again.
    fn enqueue_outbound(
        &self,
        partner: Option<&str>,
        build: &BuildOutbound<'_>,
        item_id: Option<OutboxId>,
    ) -> Result<Enqueued>;
    fn append_audit(&self, event: &AuditEvent) -> Result<()>;
}

/// Everything the pipeline needs from durable storage. Object safe (`Arc<dyn Store>`), so a
/// shared server database can back several nodes later; [`SledStore`] is the embedded default.
///
/// "Buffered" below means: applied and visible at once, durable after the next [`Store::flush`].
pub trait Store: Send + Sync {
    /// Makes every earlier write durable. One call covers any number of writes (group commit).
    fn flush(&self) -> Result<()>;

    /// Runs `f` as one transaction: every write it makes through the [`StoreTx`] is applied
    /// together or not at all (an error from `f` writes nothing). `f` may run more than once,
    /// so it must be pure: no I/O, no counters, no logging. Buffered.
    fn atomically(&self, f: &dyn Fn(&dyn StoreTx) -> Result<()>) -> Result<()>;

    // --- inbox -------------------------------------------------------------------------------

    /// Stores a payload under `receive_key` (file path + size + mtime + hash, AS2 sender +
    /// Message-ID, ...). If the key was received before, returns the first id and
    /// [`Receipt::AlreadyHad`] without reading `payload`. Otherwise streams `payload` to an
    /// fsynced file (memory stays bounded) and records the entry at [`Stage::Received`].
    /// The entry is buffered: `flush` before acknowledging to the channel.
    fn receive(
        &self,
        receive_key: &str,
        meta: InboxMeta,
        payload: &mut dyn Read,
    ) -> Result<(InboxId, Receipt)>;

    /// The id a fresh receive of `receive_key` with `meta` will get (inline or to a file).
    /// Lets a caller check and map a payload before the transaction that receives it; the id
    /// the receive returns is still the authority (compare, and fall back when it differs).
    fn fresh_inbox_id(&self, receive_key: &str, meta: &InboxMeta) -> InboxId;

    fn inbox_get(&self, id: InboxId) -> Result<Option<InboxEntry>>;

    /// Opens the payload for streaming. Read-only.
    fn open_payload(&self, id: InboxId) -> Result<Box<dyn Read + Send>>;

    /// Moves an item to `stage` and audits it in the same transaction. Setting the stage it
    /// already has is a no-op (`Unchanged`), so a re-run stage can call it freely. Buffered.
    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange>;

    /// Items a restart must resume (received, checked, acked, mapped), oldest first.
    /// An unreadable record is skipped (and logged) so it cannot block the others.
    fn list_pending(&self, limit: usize) -> Result<Vec<InboxEntry>>;

    /// Items in exception, oldest first.
    fn list_exceptions(&self, limit: usize) -> Result<Vec<InboxEntry>>;

    /// Operator replay: puts the item back to `from` (normally `Received`) so the pipeline
    /// re-runs it from its stored payload, counts the replay and audits it. Buffered.
    fn mark_replay(&self, id: InboxId, from: Stage, actor: &str) -> Result<()>;

    // --- duplicates ----------------------------------------------------------------------------

    /// Records `key` (partner + ISA13 / GS06 / ST02, payloadID, Message-ID) as seen at `now`,
    /// unless it was seen within the configured window. Buffered.
    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome>;

    // --- documents -----------------------------------------------------------------------------

    /// Stores canonical JSON bytes with metadata; same partner + kind + business key → same id
    /// (body replaced, version bumped, indexes and lineage updated). Buffered.
    fn put_document(&self, meta: DocumentMeta, body: &[u8]) -> Result<(DocumentId, PutOutcome)>;

    /// `put_document` for a JSON value.
    fn put_document_value(
        &self,
        meta: DocumentMeta,
        body: &serde_json::Value,
    ) -> Result<(DocumentId, PutOutcome)> {
        let bytes = serde_json::to_vec(body).map_err(StoreError::Serialise)?;
        self.put_document(meta, &bytes)
    }

    fn get_document(&self, id: DocumentId) -> Result<Option<StoredDocument>>;

    /// Documents matching all given filters, oldest first, at most `filter.limit` per page.
    fn list_documents(&self, filter: &DocumentFilter) -> Result<Page<StoredDocument>>;

    /// Document ids for one PO number, in creation order.
    fn lineage(&self, po: &str) -> Result<Vec<DocumentId>>;

    // --- outbox --------------------------------------------------------------------------------

    /// Enqueues a delivery that needs no control numbers (ERP postings). Same idempotency key →
    /// the existing record, `fresh: false`. A record that names its inbox item is that item's:
    /// the same key under another item is another record. Buffered.
    fn enqueue(&self, new: NewOutbound) -> Result<Enqueued>;

    /// Allocates the next ISA13 and GS06 for `partner` and stores the record `build` makes with
    /// them, in one transaction: numbers are never reused and have no gaps, also across
    /// crashes. `build` must be pure (it may run more than once). If the idempotency key it
    /// returns is already enqueued, nothing is allocated and the existing numbers come back.
    /// Buffered (and `due` flushes before handing the record out).
    fn enqueue_outbound(&self, partner: &str, build: &BuildOutbound<'_>) -> Result<Enqueued>;

    /// The last allocated control numbers for `partner`, if any.
    fn control_numbers(&self, partner: &str) -> Result<Option<ControlNumbers>>;

    /// Pending records due at or before `now`, earliest first. Flushes first.
    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRecord>>;

    fn outbox_get(&self, id: OutboxId) -> Result<Option<OutboxRecord>>;

    /// Moves a record to the delivered log; its idempotency key stays taken. Idempotent.
    /// Buffered.
    fn mark_delivered(&self, id: OutboxId, at: DateTime<Utc>) -> Result<()>;

    /// Records a failed attempt and reschedules at `next_due` (see [`backoff`]). Returns the
    /// updated record. Buffered.
    fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        next_due: DateTime<Utc>,
    ) -> Result<OutboxRecord>;

    /// Moves a pending record to the dead-letter queue. Buffered.
    fn dead_letter(&self, id: OutboxId, reason: &str, at: DateTime<Utc>) -> Result<()>;

    /// Dead records, oldest first.
    fn list_dead(&self, limit: usize) -> Result<Vec<OutboxRecord>>;

    /// Operator replay of a dead record: back to pending at `due` with attempts reset; the
    /// payload and control numbers are kept (a resend, not a new interchange). Buffered.
    fn replay_dead(&self, id: OutboxId, due: DateTime<Utc>, actor: &str) -> Result<()>;

    // --- audit ---------------------------------------------------------------------------------

    /// Appends an event. Events are never changed or deleted, except by retention. Buffered.
    fn append_audit(&self, event: &AuditEvent) -> Result<()>;

    fn audit_for_document(&self, id: DocumentId) -> Result<Vec<AuditEvent>>;

    fn audit_for_inbox(&self, id: InboxId) -> Result<Vec<AuditEvent>>;

    /// The delivery history of one outbox record (enqueued, failed, dead, replayed, delivered).
    fn audit_for_outbox(&self, id: OutboxId) -> Result<Vec<AuditEvent>>;

    // --- maintenance ---------------------------------------------------------------------------

    /// Drops finished inbox entries (with their payload files and receive keys), documents,
    /// audit events, delivered records and expired duplicate keys older than `older_than`.
    /// Unfinished inbox entries and dead letters are kept. Flushes.
    fn purge(&self, older_than: DateTime<Utc>) -> Result<PurgeReport>;

    /// Writes a consistent copy of the whole store to `dir` (which must be empty or absent)
    /// while the store stays open. The copy opens with the same backend. Flushes.
    fn backup(&self, dir: &Path) -> Result<BackupReport>;
}
