//! Payload history for the resend rules: a payloadID seen before with the same content is
//! answered with the original Response (senders retry with the same payloadID); with different
//! content, 409 Conflict. Owns the trait, an in-memory implementation and the content hash; the
//! durable store implements the trait elsewhere.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::tree::{Document, Element, Node};
use super::writer;

/// What is remembered per payloadID. Holds no secret: the hash is taken with the
/// SharedSecret blanked, and the stored Response never contains one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub content_hash: [u8; 32],
    pub response: String,
}

/// The history backend failed; the request is answered 500 so the sender retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload history unavailable: {0}")]
pub struct HistoryError(pub String);

/// Lookup and record of answered payloadIDs.
pub trait PayloadHistory {
    fn lookup(&self, payload_id: &str) -> Result<Option<HistoryEntry>, HistoryError>;
    fn record(&mut self, payload_id: &str, entry: HistoryEntry) -> Result<(), HistoryError>;
}

/// A `PayloadHistory` in a `HashMap`, for tests and the CLI.
#[derive(Debug, Default, Clone)]
pub struct InMemoryHistory {
    entries: HashMap<String, HistoryEntry>,
}

impl InMemoryHistory {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl PayloadHistory for InMemoryHistory {
    fn lookup(&self, payload_id: &str) -> Result<Option<HistoryEntry>, HistoryError> {
        Ok(self.entries.get(payload_id).cloned())
    }

    fn record(&mut self, payload_id: &str, entry: HistoryEntry) -> Result<(), HistoryError> {
        self.entries.insert(payload_id.to_owned(), entry);
        Ok(())
    }
}

/// SHA-256 of the document's tree written compactly, so a resend that differs only in layout
/// (indentation, quoting, attribute whitespace) counts as identical. SharedSecret text is blanked
/// first so the hash cannot be used to test guesses of the secret.
pub fn content_hash(doc: &Document) -> [u8; 32] {
    let mut root = doc.root.clone();
    blank_secrets(&mut root);
    let mut text = String::with_capacity(4096);
    writer::write_element(&root, false, &mut text);
    Sha256::digest(text.as_bytes()).into()
}

fn blank_secrets(el: &mut Element) {
    if el.name == "SharedSecret" {
        el.children.clear();
        return;
    }
    for child in &mut el.children {
        if let Node::Element(e) = child {
            blank_secrets(e);
        }
    }
}
