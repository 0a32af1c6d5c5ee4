//! [`SledStore`]: the embedded backend of [`Store`]. Owns the sled database under
//! `<dir>/db`, the payload directory, the schema version and the write gate used for backups.
//! Must not hold any logic the trait's callers rely on beyond the trait's documented contract.
//!
//! Trees (all keys big-endian so byte order is the order we scan in):
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `meta` | `schema_version` | u32 |
//! | `receive_keys` | sha256(receive key) | inbox id |
//! | `inbox` | inbox id (time-ordered) | binary [`InboxEntry`] + inline payload bytes (schema 2: u32 length + JSON entry + inline payload; schema 1: bare JSON) |
//! | `payload_inline` | schema 1 only: inbox id | payload bytes |
//! | `stage_index` | class byte (0 pending, 1 exception) + inbox id; finished items have none | empty |
//! | `seen` | duplicate key | binary [`SeenEntry`] (schema 1: JSON) |
//! | `seen_expiry` | latest first-seen ms + unit id | length-prefixed duplicate keys |
//! | `seen_by_time` | schema 1 only: first-seen ms + duplicate key (purge drains it) | empty |
//! | `documents` | document id | binary header + body bytes (schema 1 and 2: u32 length + JSON header + body) |
//! | `doc_keys` | sha256(partner, kind, business key) | document id |
//! | `doc_index` | len-prefixed partner + len-prefixed kind + document id (schema 7) | empty |
//! | `doc_by_partner`, `doc_by_kind` | before schema 7: len-prefixed value + document id | empty |
//! | `lineage` | len-prefixed PO number + document id | empty |
//! | `outbox` | due ms + outbox id | binary record + payload (pending only; schema 1 and 2: u32 length + JSON header + payload) |
//! | `outbox_index` | outbox id (none for a pending record due at once, schema 5) | state byte (+ outbox key when pending) |
//! | `outbox_keys` | sha256(idempotency key); schema 6: only for records without an inbox item | outbox id |
//! | `delivered`, `dead` | outbox id | as in `outbox` |
//! | `audit` | latest ms + sled-generated unit id + u32 sequence; schema 4 also inbox id + `u32::MAX` (see below) | binary list of [`AuditEvent`]s (schema 1: 16-byte key, one JSON event) |
//! | `audit_by_ref` | ref byte (`i`/`d`/`o`) + id + audit key | empty |
//! | `counters` | counter name + len-prefixed partner | u64 |
//!
//! Schema 2 writes fewer keys per item: a small payload lives in its inbox value, and a unit of
//! work keeps one audit record per item (all its events, each indexed once per id they name)
//! and one `seen_expiry` record for all the duplicate keys it recorded. Schema 3 writes inbox
//! entries, document headers and outbox records in a binary layout (`codec`) instead of JSON.
//! Schema 4: the audit record of an item received in a unit of work is keyed by its inbox id
//! ([`item_audit_key`]) and gets no `audit_by_ref` entries for what leads to it anyway: its
//! inbox id, and the documents and outbox records the unit wrote for it (their records carry
//! the inbox id). Three keys less per item; readers look in both places, and purge and a
//! document's change of owner add the references a removed or changed record no longer gives.
//! Schema 5: a pending outbox record due in the millisecond its id was made in (every ack the
//! pipeline enqueues, nearly always) gets no `outbox_index` entry; its outbox key is derived
//! from the id, and readers look there when the index has nothing. One key less per ack.
//! Schema 6: the outbox record an inbox item enqueues takes its id from the item's time and a
//! hash of the item and the idempotency key (`types::item_outbox_id`), so an enqueue finds
//! it by id and writes no `outbox_keys` entry; a record due at once (not only in its id's
//! millisecond) keeps its derived key. One key less per ack; records of older stores are still
//! found through `outbox_keys`.
//! Schema 7: one document index, `doc_index`, keyed by partner, kind and id, instead of one
//! entry in `doc_by_partner` and one in `doc_by_kind`. A listing by partner merges that
//! partner's kinds in id order; one by kind seeks that kind under each partner (there are
//! few). One key less per document. Entries of older stores stay where they are and are
//! merged into listings; a replaced or purged document's old entries are removed.
//! Older stores are read as they are (every reader takes every layout) and marked current on
//! a read-write open; a read-only open writes nothing.

mod documents;
mod inbox;
mod maintenance;
mod outbox;
mod unit;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::codec::{cat, decode_audit, encode_audit};
use super::error::{Result, StoreError};
use super::payload;
use super::types::*;
use super::{BuildOutbound, Store, StoreTx};

/// Bump when a key or value layout changes; add a migration for the old one or refuse it.
pub const CURRENT_SCHEMA_VERSION: u32 = 7;
/// The oldest layout this build can read.
const OLDEST_READABLE_SCHEMA: u32 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub dir: PathBuf,
    /// A duplicate key seen longer ago than this counts as new (control numbers wrap, partners
    /// reuse them after a year or so).
    pub seen_window: chrono::Duration,
    /// sled's background flush; `flush()` is still what makes an acknowledged write durable.
    pub flush_every_ms: Option<u64>,
    /// sled page cache in bytes: an upper bound, memory is only taken as pages are used.
    /// 256 MB: at 64 MB sustained ingest evicted and re-read pages it was still writing (the
    /// pipeline bench, 10,000 documents, ran ~14% slower with ~10% more CPU time).
    pub cache_capacity: u64,
    /// Payloads up to this many bytes are kept inline in sled instead of in their own file,
    /// so they become durable with the group `flush` instead of costing two fsyncs each.
    /// 0 (the default) keeps every payload in a file, as the design describes; memory per
    /// receive is bounded by this value either way.
    pub inline_payload_max: usize,
    /// Opens an existing store without writing to it: no schema mark, no clean-up, and every
    /// write method answers [`StoreError::ReadOnly`] (for operators' listings).
    pub read_only: bool,
}

impl StoreConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            dir: dir.into(),
            seen_window: chrono::Duration::days(90),
            flush_every_ms: Some(500),
            cache_capacity: 256 * 1024 * 1024,
            inline_payload_max: 0,
            read_only: false,
        }
    }
}

pub(super) struct Trees {
    pub meta: sled::Tree,
    pub receive_keys: sled::Tree,
    pub inbox: sled::Tree,
    pub payload_inline: sled::Tree,
    pub stage_index: sled::Tree,
    pub seen: sled::Tree,
    pub seen_by_time: sled::Tree,
    pub seen_expiry: sled::Tree,
    pub documents: sled::Tree,
    pub doc_keys: sled::Tree,
    pub doc_index: sled::Tree,
    pub doc_by_partner: sled::Tree,
    pub doc_by_kind: sled::Tree,
    pub lineage: sled::Tree,
    pub outbox: sled::Tree,
    pub outbox_index: sled::Tree,
    pub outbox_keys: sled::Tree,
    pub delivered: sled::Tree,
    pub dead: sled::Tree,
    pub audit: sled::Tree,
    pub audit_by_ref: sled::Tree,
    pub counters: sled::Tree,
}

/// The embedded store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct SledStore {
    root: PathBuf,
    db: sled::Db,
    t: Trees,
    seen_window: chrono::Duration,
    inline_payload_max: usize,
    read_only: bool,
    /// `outbox_keys` had entries when the store opened: an inbox item's outbox record written
    /// before schema 6 may be found only there. A store without any skips that lookup.
    item_keys_indexed: bool,
    /// `doc_by_partner` or `doc_by_kind` had entries when the store opened (documents put
    /// before schema 7): listings read them too, and a document's removal removes them. A
    /// store without any never writes there again, so it skips both.
    old_doc_indexes: bool,
    /// Writers hold it shared; `backup` holds it exclusively so its copy is one consistent
    /// cut. sled has no snapshots, so this is how the copy gets point-in-time semantics.
    gate: RwLock<()>,
}

pub(super) type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

pub(super) fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

pub(super) fn tx_err(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// Audit keys are generated outside transactions (generating is a side effect) and written
/// inside them, so an event exists exactly when the change it describes does. A unit of work
/// generates one id and numbers its records with `seq`.
#[derive(Clone, Copy)]
pub(super) struct AuditKey([u8; 20]);

impl AuditKey {
    pub(super) fn new(at: DateTime<Utc>, id: u64, seq: u32) -> Self {
        let mut k = [0u8; 20];
        k[..8].copy_from_slice(&millis(at).to_be_bytes());
        k[8..16].copy_from_slice(&id.to_be_bytes());
        k[16..].copy_from_slice(&seq.to_be_bytes());
        AuditKey(k)
    }
}

/// The sequence number of an item's record in [`item_audit_key`]; units number theirs from 0.
const ITEM_SEQ: u32 = u32::MAX;

/// The audit key of the record a unit of work writes for an item it received: the inbox id
/// (receive time first, so purge still finds it by time; it checks the events' own times
/// before removing it) and [`ITEM_SEQ`]. Derived from the id alone, so the record needs no
/// reference from the inbox id, nor from the documents and outbox records naming that id.
pub(super) fn item_audit_key(id: &InboxId) -> AuditKey {
    let mut k = [0u8; 20];
    k[..16].copy_from_slice(id.as_bytes());
    k[16..].copy_from_slice(&ITEM_SEQ.to_be_bytes());
    AuditKey(k)
}

/// Gives `item`'s unit record (if any, and if it names `id`) an explicit `tag` reference to
/// `id`: for a document or outbox record that is about to stop leading to `item` (removed, or
/// owned by another item from now on), so its trail stays findable.
pub(super) fn keep_item_ref(
    audit: &TransactionalTree,
    by_ref: &TransactionalTree,
    tag: u8,
    id: &[u8; 16],
    item: &InboxId,
) -> TxResult<()> {
    let key = item_audit_key(item);
    let Some(raw) = audit.get(key.0)? else {
        return Ok(());
    };
    // Unreadable: nothing to point at; the record is reported where it is read.
    let Ok(events) = decode_audit("audit", &key.0, &raw) else {
        return Ok(());
    };
    if events.iter().any(|e| names(e, tag, id)) {
        by_ref.insert(cat(&[&[tag], id, &key.0]), &[][..])?;
    }
    Ok(())
}

/// Whether an event names `id` as a `tag` (`i`/`d`/`o`) id.
pub(super) fn names(e: &AuditEvent, tag: u8, id: &[u8; 16]) -> bool {
    match tag {
        b'i' => e.inbox_id.is_some_and(|i| i.as_bytes() == id),
        b'd' => e.document_id.is_some_and(|i| i.as_bytes() == id),
        b'o' => e.outbox_id.is_some_and(|i| i.as_bytes() == id),
        _ => false,
    }
}

/// Where a transaction body sends its audit events: straight into the tree as a record of its
/// own, or to the unit of work, which keeps one record per item.
pub(super) trait AuditSink {
    fn record(&self, event: AuditEvent) -> TxResult<()>;
    /// A document is about to be owned by another item than `item`: see [`keep_item_ref`].
    fn document_leaves(&self, doc: &DocumentId, item: &InboxId) -> TxResult<()>;
}

/// One event, one record, under a key generated for it. For single operations.
pub(super) struct DirectAudit<'a> {
    pub audit: &'a TransactionalTree,
    pub by_ref: &'a TransactionalTree,
    pub key: AuditKey,
}

impl AuditSink for DirectAudit<'_> {
    fn record(&self, event: AuditEvent) -> TxResult<()> {
        write_audit_tx(self.audit, self.by_ref, self.key, &[event])
    }

    fn document_leaves(&self, doc: &DocumentId, item: &InboxId) -> TxResult<()> {
        keep_item_ref(self.audit, self.by_ref, b'd', doc.as_bytes(), item)
    }
}

impl SledStore {
    /// Opens (or creates) a store in `dir` with default settings.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(StoreConfig::new(dir.as_ref()))
    }

    pub fn open_with(cfg: StoreConfig) -> Result<Self> {
        let root = cfg.dir.clone();
        if cfg.read_only {
            // sled creates a database where there is none; a read-only open must not.
            if !Self::exists(&root) {
                return Err(StoreError::NoStore(root));
            }
        } else {
            for sub in ["", payload::PAYLOAD_DIR, payload::TMP_DIR] {
                let d = root.join(sub);
                std::fs::create_dir_all(&d)
                    .map_err(|e| StoreError::io("create directory", &d, e))?;
            }
        }
        let db = sled::Config::new()
            .path(root.join("db"))
            .flush_every_ms(cfg.flush_every_ms)
            .cache_capacity(cfg.cache_capacity)
            .open()?;
        let meta = db.open_tree("meta")?;
        check_schema(&root, &meta, cfg.read_only)?;
        if !cfg.read_only {
            payload::clear_tmp(&root)?;
        }
        let t = Trees {
            meta,
            receive_keys: db.open_tree("receive_keys")?,
            inbox: db.open_tree("inbox")?,
            payload_inline: db.open_tree("payload_inline")?,
            stage_index: db.open_tree("stage_index")?,
            seen: db.open_tree("seen")?,
            seen_by_time: db.open_tree("seen_by_time")?,
            seen_expiry: db.open_tree("seen_expiry")?,
            documents: db.open_tree("documents")?,
            doc_keys: db.open_tree("doc_keys")?,
            doc_index: db.open_tree("doc_index")?,
            doc_by_partner: db.open_tree("doc_by_partner")?,
            doc_by_kind: db.open_tree("doc_by_kind")?,
            lineage: db.open_tree("lineage")?,
            outbox: db.open_tree("outbox")?,
            outbox_index: db.open_tree("outbox_index")?,
            outbox_keys: db.open_tree("outbox_keys")?,
            delivered: db.open_tree("delivered")?,
            dead: db.open_tree("dead")?,
            audit: db.open_tree("audit")?,
            audit_by_ref: db.open_tree("audit_by_ref")?,
            counters: db.open_tree("counters")?,
        };
        Ok(SledStore {
            root,
            db,
            item_keys_indexed: !t.outbox_keys.is_empty(),
            old_doc_indexes: !t.doc_by_partner.is_empty() || !t.doc_by_kind.is_empty(),
            t,
            seen_window: cfg.seen_window,
            inline_payload_max: cfg.inline_payload_max,
            read_only: cfg.read_only,
            gate: RwLock::new(()),
        })
    }

    /// Whether a store was ever created in `dir` (without opening or creating anything).
    pub fn exists(dir: &Path) -> bool {
        dir.join("db").is_dir()
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Schema version recorded in the store.
    pub fn schema_version(&self) -> Result<u32> {
        match self.t.meta.get(SCHEMA_KEY)? {
            Some(v) => decode_version(&v),
            None => Ok(CURRENT_SCHEMA_VERSION),
        }
    }

    /// Every write takes this first: refused on a read-only store, otherwise the shared side
    /// of the backup gate. A poisoned gate only means another writer panicked; the data is
    /// still sled's, so carry on rather than turning one bug into a stopped gateway.
    pub(super) fn writing(&self) -> Result<RwLockReadGuard<'_, ()>> {
        self.check_writable()?;
        Ok(self.gate.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// For a write that starts outside the gate (a payload file before its transaction).
    pub(super) fn check_writable(&self) -> Result<()> {
        if self.read_only {
            return Err(StoreError::ReadOnly(self.root.clone()));
        }
        Ok(())
    }

    pub(super) fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key of a single operation's audit record. Generated before the transaction: sled's
    /// `generate_id` takes a lock that a running transaction holds.
    pub(super) fn audit_key(&self, at: DateTime<Utc>) -> Result<AuditKey> {
        Ok(AuditKey::new(at, self.db.generate_id()?, 0))
    }
}

fn decode_version(v: &[u8]) -> Result<u32> {
    let b: [u8; 4] = v
        .try_into()
        .map_err(|_| StoreError::corrupt("meta", SCHEMA_KEY, "schema version is not 4 bytes"))?;
    Ok(u32::from_be_bytes(b))
}

fn check_schema(root: &Path, meta: &sled::Tree, read_only: bool) -> Result<()> {
    match meta.get(SCHEMA_KEY)? {
        // Read-only: nothing is marked; an older layout is read as it is.
        None if read_only => Ok(()),
        None => {
            meta.insert(SCHEMA_KEY, &CURRENT_SCHEMA_VERSION.to_be_bytes())?;
            meta.flush()?;
            Ok(())
        }
        Some(v) => {
            let found = decode_version(&v)?;
            if found > CURRENT_SCHEMA_VERSION {
                Err(StoreError::SchemaTooNew {
                    path: root.to_path_buf(),
                    found,
                    supported: CURRENT_SCHEMA_VERSION,
                })
            } else if found < OLDEST_READABLE_SCHEMA {
                Err(StoreError::SchemaTooOld {
                    path: root.to_path_buf(),
                    found,
                    oldest: OLDEST_READABLE_SCHEMA,
                })
            } else if found < CURRENT_SCHEMA_VERSION && !read_only {
                // Older layouts are read as they are; what this build writes from now on is
                // the current one, so an older build must refuse the store from here on.
                meta.insert(SCHEMA_KEY, &CURRENT_SCHEMA_VERSION.to_be_bytes())?;
                meta.flush()?;
                Ok(())
            } else {
                Ok(())
            }
        }
    }
}

/// Writes one audit record (the events of one item) and one reference per id it names.
pub(super) fn write_audit_tx(
    audit: &TransactionalTree,
    by_ref: &TransactionalTree,
    key: AuditKey,
    events: &[AuditEvent],
) -> TxResult<()> {
    audit.insert(&key.0[..], encode_audit(events))?;
    for r in audit_refs(&key.0, events) {
        by_ref.insert(r, &[][..])?;
    }
    Ok(())
}

/// The `audit_by_ref` keys of a record: one per distinct id its events name.
pub(super) fn audit_refs(key: &[u8], events: &[AuditEvent]) -> Vec<Vec<u8>> {
    audit_ids(events)
        .into_iter()
        .map(|(tag, id)| cat(&[&[tag][..], &id[..], key]))
        .collect()
}

/// The ids the events name, each once, tagged `i`/`d`/`o`: what a record is referenced by.
pub(super) fn audit_ids(events: &[AuditEvent]) -> Vec<(u8, [u8; 16])> {
    let mut ids: Vec<(u8, [u8; 16])> = Vec::new();
    let mut add = |tag: u8, id: &[u8; 16]| {
        if !ids.contains(&(tag, *id)) {
            ids.push((tag, *id));
        }
    };
    for e in events {
        if let Some(id) = e.inbox_id {
            add(b'i', id.as_bytes());
        }
        if let Some(id) = e.document_id {
            add(b'd', id.as_bytes());
        }
        if let Some(id) = e.outbox_id {
            add(b'o', id.as_bytes());
        }
    }
    ids
}

impl Store for SledStore {
    fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    fn atomically(&self, f: &dyn Fn(&dyn StoreTx) -> Result<()>) -> Result<()> {
        unit::atomically(self, f)
    }

    fn receive(
        &self,
        receive_key: &str,
        meta: InboxMeta,
        payload: &mut dyn Read,
    ) -> Result<(InboxId, Receipt)> {
        inbox::receive(self, receive_key, meta, payload)
    }

    fn fresh_inbox_id(&self, receive_key: &str, meta: &InboxMeta) -> InboxId {
        inbox::new_inbox_id(&receive_key_hash(receive_key), meta)
    }

    fn inbox_get(&self, id: InboxId) -> Result<Option<InboxEntry>> {
        inbox::get(self, id)
    }

    fn open_payload(&self, id: InboxId) -> Result<Box<dyn Read + Send>> {
        inbox::open_payload(self, id)
    }

    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange> {
        inbox::set_stage(self, id, stage, actor, false)
    }

    fn list_pending(&self, limit: usize) -> Result<Vec<InboxEntry>> {
        inbox::list_class(self, inbox::CLASS_PENDING, limit)
    }

    fn list_exceptions(&self, limit: usize) -> Result<Vec<InboxEntry>> {
        inbox::list_class(self, inbox::CLASS_EXCEPTION, limit)
    }

    fn mark_replay(&self, id: InboxId, from: Stage, actor: &str) -> Result<()> {
        if !from.is_pending() {
            return Err(StoreError::WrongState {
                what: InboxId::WHAT,
                id: id.to_string(),
                actual: format!("asked to replay from {}", from.name()),
                expected: "a pending stage to replay from",
            });
        }
        inbox::set_stage(self, id, from, actor, true).map(|_| ())
    }

    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome> {
        inbox::check_seen(self, key, owner, now)
    }

    fn put_document(&self, meta: DocumentMeta, body: &[u8]) -> Result<(DocumentId, PutOutcome)> {
        documents::put(self, meta, body)
    }

    fn get_document(&self, id: DocumentId) -> Result<Option<StoredDocument>> {
        documents::get(self, id)
    }

    fn list_documents(&self, filter: &DocumentFilter) -> Result<Page<StoredDocument>> {
        documents::list(self, filter)
    }

    fn lineage(&self, po: &str) -> Result<Vec<DocumentId>> {
        documents::lineage(self, po)
    }

    fn enqueue(&self, new: NewOutbound) -> Result<Enqueued> {
        outbox::enqueue(self, None, &|_| Ok(new.clone()))
    }

    fn enqueue_outbound(&self, partner: &str, build: &BuildOutbound<'_>) -> Result<Enqueued> {
        outbox::enqueue(self, Some(partner), build)
    }

    fn control_numbers(&self, partner: &str) -> Result<Option<ControlNumbers>> {
        outbox::control_numbers(self, partner)
    }

    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRecord>> {
        outbox::due(self, now, limit)
    }

    fn outbox_get(&self, id: OutboxId) -> Result<Option<OutboxRecord>> {
        outbox::get(self, id)
    }

    fn mark_delivered(&self, id: OutboxId, at: DateTime<Utc>) -> Result<()> {
        outbox::mark_delivered(self, id, at)
    }

    fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        next_due: DateTime<Utc>,
    ) -> Result<OutboxRecord> {
        outbox::mark_failed(self, id, error, next_due)
    }

    fn dead_letter(&self, id: OutboxId, reason: &str, at: DateTime<Utc>) -> Result<()> {
        outbox::dead_letter(self, id, reason, at)
    }

    fn list_dead(&self, limit: usize) -> Result<Vec<OutboxRecord>> {
        outbox::list_dead(self, limit)
    }

    fn replay_dead(&self, id: OutboxId, due: DateTime<Utc>, actor: &str) -> Result<()> {
        outbox::replay_dead(self, id, due, actor)
    }

    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        maintenance::append_audit(self, event)
    }

    fn audit_for_document(&self, id: DocumentId) -> Result<Vec<AuditEvent>> {
        maintenance::audit_for(self, b'd', id.as_bytes())
    }

    fn audit_for_inbox(&self, id: InboxId) -> Result<Vec<AuditEvent>> {
        maintenance::audit_for(self, b'i', id.as_bytes())
    }

    fn audit_for_outbox(&self, id: OutboxId) -> Result<Vec<AuditEvent>> {
        maintenance::audit_for(self, b'o', id.as_bytes())
    }

    fn purge(&self, older_than: DateTime<Utc>) -> Result<PurgeReport> {
        maintenance::purge(self, older_than)
    }

    fn backup(&self, dir: &Path) -> Result<BackupReport> {
        maintenance::backup(self, dir)
    }
}
