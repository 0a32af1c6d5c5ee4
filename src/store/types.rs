//! Value types that cross the [`Store`](super::Store) trait: ids, inbox entries, documents,
//! outbox records, audit events. Owns their shape and their id scheme; must not know how any
//! backend lays them out on disk, and never looks inside a payload or document body.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::StoreError;

/// Milliseconds since the epoch, clamped at zero so that a clock before 1970 cannot wrap
/// into the far future of the key space.
pub(crate) fn millis(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

pub(crate) fn from_millis(ms: u64) -> DateTime<Utc> {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Ids are 16 bytes: 8 bytes of big-endian milliseconds, then 8 bytes that tell items of the
/// same millisecond apart. Big-endian time first means byte order is time order, so purge and
/// `since` filters are range scans, and the hex form sorts the same way as the bytes.
macro_rules! time_ordered_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(into = "String", try_from = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            /// What the id names, for messages.
            pub const WHAT: &'static str = $what;

            pub(crate) fn new(at: DateTime<Utc>, discriminator: [u8; 8]) -> Self {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&millis(at).to_be_bytes());
                b[8..].copy_from_slice(&discriminator);
                Self(b)
            }

            /// The id's raw key bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            pub(crate) fn from_bytes(b: [u8; 16]) -> Self {
                Self(b)
            }

            /// Reads an id back from key bytes; `None` when the length is wrong.
            pub fn from_slice(b: &[u8]) -> Option<Self> {
                <[u8; 16]>::try_from(b).ok().map(Self)
            }

            /// When the item was created (received, put, enqueued).
            pub fn time(&self) -> DateTime<Utc> {
                let mut ms = [0u8; 8];
                ms.copy_from_slice(&self.0[..8]);
                from_millis(u64::from_be_bytes(ms))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                let mut b = [0u8; 16];
                hex::decode_to_slice(s, &mut b).map_err(|_| StoreError::InvalidId(s.to_owned()))?;
                Ok(Self(b))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(s: String) -> Result<Self, StoreError> {
                s.parse()
            }
        }
    };
}

time_ordered_id!(
    /// An inbox entry. Derived from the receive key and the receive time; the mapping from
    /// key to id is stored, so a key seen again resolves to the first id.
    InboxId,
    "inbox entry"
);
time_ordered_id!(
    /// A stored canonical document.
    DocumentId,
    "document"
);
time_ordered_id!(
    /// An outbound delivery, whether due, delivered or dead.
    OutboxId,
    "outbox record"
);

/// SHA-256 over length-prefixed parts, so ("ab","c") and ("a","bc") differ.
pub(crate) fn hash32(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The hash a receive key is filed under in the store.
pub(crate) fn receive_key_hash(key: &str) -> [u8; 32] {
    hash32(&[b"receive", key.as_bytes()])
}

/// What a receive hashes: the payload's SHA-256 and the hash its receive key is filed under.
/// Made once where the payload is read (the drop folder's reading thread, which hashes every
/// file for its receive key anyway), so the transaction that receives it does not hash again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveHashes {
    payload: [u8; 32],
    key: [u8; 32],
}

impl ReceiveHashes {
    /// `payload_sha256` must be the SHA-256 of the payload received under `receive_key`.
    pub fn new(receive_key: &str, payload_sha256: [u8; 32]) -> Self {
        ReceiveHashes {
            payload: payload_sha256,
            key: receive_key_hash(receive_key),
        }
    }

    pub fn payload(&self) -> &[u8; 32] {
        &self.payload
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }
}

/// The hash a document is filed under in the store by its partner, kind and business key.
/// Made where the document is mapped (a preparing thread), so the transaction that stores it
/// does not hash again; it must be of the partner, kind and business key the stored meta has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocKeyHash([u8; 32]);

impl DocKeyHash {
    pub fn new(partner: &str, kind: &str, business_key: &str) -> Self {
        DocKeyHash(hash32(&[
            b"document",
            partner.as_bytes(),
            kind.as_bytes(),
            business_key.as_bytes(),
        ]))
    }

    pub fn of(meta: &DocumentMeta) -> Self {
        Self::new(&meta.partner, &meta.kind, &meta.business_key)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The id of the outbox record an inbox item enqueues under idempotency key `key` (schema 6):
/// the item's time and a hash of both, so the same item and key always name the same record
/// and an enqueue finds it without an `outbox_keys` entry. Public so a caller can make it
/// ahead of the transaction that enqueues (off the committing thread).
pub fn item_outbox_id(item: &InboxId, key: &str) -> OutboxId {
    let h = hash32(&[b"outbox", item.as_bytes(), key.as_bytes()]);
    OutboxId::new(item.time(), discriminator(&h))
}

/// The discriminator of a new id: the first eight bytes of its lookup key's hash, so a new
/// id costs no second SHA-256.
pub(crate) fn discriminator(key_hash: &[u8; 32]) -> [u8; 8] {
    let mut d = [0u8; 8];
    d.copy_from_slice(&key_hash[..8]);
    d
}

// ---------------------------------------------------------------------------------------------
// Inbox

/// What a channel knows about a payload when it hands it over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxMeta {
    /// Channel name from the configuration (`sftp-acme`, `as2`, `drop`...).
    pub channel: String,
    /// The partner the channel believes sent it; decode confirms from the envelope.
    pub partner_hint: Option<String>,
    /// File name, Message-ID or payloadID, for operators.
    pub source_name: Option<String>,
    /// When the gateway took the payload. Also the time part of the inbox id, and so what
    /// retention (`purge`) goes by.
    pub received_at: DateTime<Utc>,
    /// Anything else the channel wants kept (AS2 headers, IMAP flags). Never secrets.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Where a payload's bytes are, and what they hash to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// Path relative to the store directory; `None` when the payload was small enough to be
    /// kept inline in sled (see `StoreConfig::inline_payload_max`).
    pub file: Option<String>,
    pub size: u64,
    /// Lowercase hex SHA-256 of the bytes, computed while they were written.
    pub sha256: String,
}

/// How far an inbox item has got. Stages only describe; `pipeline` decides the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Received,
    Checked,
    Acked,
    Mapped,
    Done,
    Exception { reason: String },
    Duplicate,
}

impl Stage {
    /// Pending means a restart must pick the item up again.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Stage::Received | Stage::Checked | Stage::Acked | Stage::Mapped
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::Checked => "checked",
            Stage::Acked => "acked",
            Stage::Mapped => "mapped",
            Stage::Done => "done",
            Stage::Exception { .. } => "exception",
            Stage::Duplicate => "duplicate",
        }
    }
}

/// One received payload and its progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    pub id: InboxId,
    pub receive_key: String,
    pub meta: InboxMeta,
    pub payload: PayloadRef,
    #[serde(flatten)]
    pub stage: Stage,
    pub stage_changed_at: DateTime<Utc>,
    /// How many times an operator asked for this item to be run again.
    pub replays: u32,
}

/// Whether `receive` stored something new.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// First time this receive key was seen: the payload was written.
    Fresh,
    /// The key was already received; the payload was not kept (normally not even read; only a
    /// receive racing another of the same key reads it, then deletes its copy).
    AlreadyHad,
}

/// What `set_stage` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageChange {
    Changed { from: Stage },
    Unchanged,
}

// ---------------------------------------------------------------------------------------------
// Duplicate detection

/// What a duplicate key belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenOwner {
    pub inbox_id: Option<InboxId>,
    pub document_id: Option<DocumentId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenEntry {
    pub first_seen: DateTime<Utc>,
    #[serde(flatten)]
    pub owner: SeenOwner,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeenOutcome {
    /// Not seen within the window; recorded now with the given owner.
    First,
    /// Seen before within the window; the earlier sighting is returned untouched.
    Duplicate(SeenEntry),
}

// ---------------------------------------------------------------------------------------------
// Documents

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub partner: String,
    /// Canonical kind: `purchase_order`, `invoice`...
    pub kind: String,
    /// PO numbers this document refers to; each is a lineage key.
    pub po_numbers: Vec<String>,
    /// Identifies the document within partner and kind (e.g. invoice number); putting the same
    /// business key again replaces the body under the same id, so a re-run map is idempotent.
    pub business_key: String,
    pub inbox_id: Option<InboxId>,
    /// Time part of the document id (ordering, `since`, retention). Kept from the first put
    /// when the same business key is put again.
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDocument {
    pub id: DocumentId,
    pub meta: DocumentMeta,
    /// 1 on first put, +1 on every put that changed the body or metadata.
    pub version: u32,
    pub updated_at: DateTime<Utc>,
    /// Canonical JSON bytes exactly as the caller serialised them.
    pub body: Vec<u8>,
}

impl StoredDocument {
    /// The body as a JSON value; an error (not a panic) if the stored bytes are not JSON.
    pub fn json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| StoreError::corrupt("documents", self.id.as_bytes(), e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    Replaced,
    Unchanged,
}

/// Filters for listing documents; all given filters must match. Paging: pass the returned
/// `next` as `cursor` to continue after the last item. `limit: 0` means a page of 100.
#[derive(Clone, Debug, Default)]
pub struct DocumentFilter {
    pub partner: Option<String>,
    pub kind: Option<String>,
    pub po: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub cursor: Option<DocumentId>,
    pub limit: usize,
}

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for the next page; `None` when this was the last one.
    pub next: Option<DocumentId>,
}

// ---------------------------------------------------------------------------------------------
// Outbox

/// ISA13 and GS06 for one outbound interchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlNumbers {
    pub isa13: u64,
    pub gs06: u64,
}

/// ISA13 is N0 9/9 and GS06 N0 1/9: both stop at nine digits.
pub const MAX_CONTROL_NUMBER: u64 = 999_999_999;

/// What the caller wants delivered. Built by a pure closure when control numbers are
/// involved, because sled may run the enclosing transaction more than once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOutbound {
    /// Same key twice → one outbox record; also what the receiver sees so it can drop retries.
    pub idempotency_key: String,
    pub partner: String,
    /// Channel or ERP endpoint name.
    pub destination: String,
    /// `997`, `855`, `erp_posting`...
    pub kind: String,
    pub document_id: Option<DocumentId>,
    pub inbox_id: Option<InboxId>,
    pub due: DateTime<Utc>,
    pub payload: Vec<u8>,
}

/// Where an outbox record is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered { at: DateTime<Utc> },
    Dead { at: DateTime<Utc>, reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub id: OutboxId,
    pub idempotency_key: String,
    pub partner: String,
    pub destination: String,
    pub kind: String,
    pub document_id: Option<DocumentId>,
    pub inbox_id: Option<InboxId>,
    pub control_numbers: Option<ControlNumbers>,
    pub created_at: DateTime<Utc>,
    pub due: DateTime<Utc>,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub state: DeliveryState,
    /// Kept out of the JSON header; stored raw after it.
    #[serde(skip)]
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enqueued {
    pub id: OutboxId,
    pub control_numbers: Option<ControlNumbers>,
    /// False when the idempotency key was already enqueued: nothing was allocated or written.
    pub fresh: bool,
}

/// Exponential backoff for the `attempts`-th failure: `base * 2^(attempts-1)`, capped.
/// No jitter here, so schedules are testable; add it at the caller if many share a partner.
pub fn backoff(attempts: u32, base: chrono::Duration, cap: chrono::Duration) -> chrono::Duration {
    let shift = attempts.saturating_sub(1).min(30);
    base.checked_mul(1i32 << shift).map_or(cap, |d| d.min(cap))
}

// ---------------------------------------------------------------------------------------------
// Audit

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    /// Who did it: a stage name, `operator:<name>`, `store`.
    pub actor: String,
    /// Dotted verb: `inbox.stage`, `outbox.dead`, `document.put`...
    pub action: String,
    pub inbox_id: Option<InboxId>,
    pub document_id: Option<DocumentId>,
    pub outbox_id: Option<OutboxId>,
    /// Free text for people. Never payload bytes or secrets.
    pub detail: String,
}

// ---------------------------------------------------------------------------------------------
// Maintenance

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub inbox_entries: u64,
    pub payload_files: u64,
    pub documents: u64,
    pub audit_events: u64,
    pub delivered: u64,
    pub seen: u64,
    /// Inbox entries older than the cut-off kept because they are pending or in exception:
    /// nothing accepted is dropped before it is finished.
    pub kept_unfinished: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupReport {
    pub trees: u64,
    pub records: u64,
    pub payload_files: u64,
}
