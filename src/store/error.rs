//! The store's error type. Owns nothing but the taxonomy of what can go wrong below the trait;
//! callers add context (which document, which channel) at their own edge.

use std::path::PathBuf;

/// Everything the store can report. Bad bytes read back become [`StoreError::Corrupt`], never a
/// panic: a damaged record must not stop the documents behind it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("reading the payload stream: {0}")]
    PayloadStream(#[source] std::io::Error),

    #[error("corrupt record in tree `{tree}` at key {key}: {detail}")]
    Corrupt {
        tree: &'static str,
        key: String,
        detail: String,
    },

    #[error(
        "the store at {path} was written by schema version {found}, but this edigate supports \
         schema version {supported} at most; run a newer edigate or restore a backup"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error(
        "the store at {path} has schema version {found}, older than the oldest this edigate \
         reads ({oldest}); no migration exists"
    )]
    SchemaTooOld {
        path: PathBuf,
        found: u32,
        oldest: u32,
    },

    #[error("the store at {0} is open read-only; nothing can be written through it")]
    ReadOnly(PathBuf),

    #[error("there is no store at {0} to open read-only")]
    NoStore(PathBuf),

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },

    #[error("{what} {id} is {actual}, expected {expected}")]
    WrongState {
        what: &'static str,
        id: String,
        actual: String,
        expected: &'static str,
    },

    #[error("control number {counter} for partner `{partner}` is exhausted (max {max})")]
    CounterExhausted {
        partner: String,
        counter: &'static str,
        max: u64,
    },

    #[error("building the outbound record failed: {0}")]
    Build(#[source] Box<dyn std::error::Error + Send + Sync>),

    #[error("backup target {0} exists and is not empty")]
    BackupTargetNotEmpty(PathBuf),

    /// Two different keys hashed to the same 8-byte discriminator in the same millisecond
    /// (odds about 2^-64). Nothing was written; retrying a moment later gives a new id.
    #[error("{what} id {id} is already taken by a different key; retry")]
    IdCollision { what: &'static str, id: String },

    #[error("invalid id `{0}`: expected 32 hex digits")]
    InvalidId(String),

    #[error("serialising a record: {0}")]
    Serialise(#[source] serde_json::Error),

    /// A unit of work collided with a concurrent writer; the store retries it by itself, so a
    /// caller only sees this if its closure swallowed the error and then failed differently.
    #[error("transaction conflict; the unit of work is retried")]
    Conflict,
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        StoreError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(tree: &'static str, key: &[u8], detail: impl std::fmt::Display) -> Self {
        StoreError::Corrupt {
            tree,
            key: hex::encode(key),
            detail: detail.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
