//! Byte layouts of sled keys and values. Owns the encodings only; which tree holds what is
//! `sled_store`'s business. Decoding never panics: bad bytes become `StoreError::Corrupt`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{Result, StoreError};
use super::types::{AuditEvent, DocumentId, InboxId, OutboxId, SeenEntry, SeenOwner};

/// Strings inside composite keys are length-prefixed, so `("ab", id)` and `("a", "b"+id)`
/// can never collide and a prefix scan for one value cannot run into a longer one.
pub(crate) fn lp(s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + s.len() + 16);
    k.extend_from_slice(&(s.len() as u32).to_be_bytes());
    k.extend_from_slice(s.as_bytes());
    k
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(StoreError::Serialise)
}

pub(crate) fn from_json<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    b: &[u8],
) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| StoreError::corrupt(tree, key, e))
}

/// Records with a large opaque part (document bodies, outbound payloads) are stored as
/// `u32 header length | JSON header | raw body`, so the body is never re-escaped into JSON.
pub(crate) fn with_body<T: Serialize>(header: &T, body: &[u8]) -> Result<Vec<u8>> {
    let h = to_json(header)?;
    let len = u32::try_from(h.len())
        .map_err(|_| StoreError::Serialise(serde::ser::Error::custom("header over 4 GiB")))?;
    let mut v = Vec::with_capacity(4 + h.len() + body.len());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(body);
    Ok(v)
}

pub(crate) fn split_body<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &[u8],
) -> Result<(T, Vec<u8>)> {
    let len_bytes: [u8; 4] = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::corrupt(tree, key, "value shorter than its length prefix"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let header = v
        .get(4..4usize.saturating_add(len))
        .ok_or_else(|| StoreError::corrupt(tree, key, "header length past end of value"))?;
    let h = from_json(tree, key, header)?;
    Ok((h, v[4 + len..].to_vec()))
}

pub(crate) fn u64_value(tree: &'static str, key: &[u8], v: &[u8]) -> Result<u64> {
    let b: [u8; 8] = v.try_into().map_err(|_| {
        StoreError::corrupt(tree, key, format!("expected 8 bytes, got {}", v.len()))
    })?;
    Ok(u64::from_be_bytes(b))
}

/// First byte of a binary audit record. Schema 1 stored one JSON event per row, which always
/// starts with `{`, so both can be read from the same tree.
const AUDIT_RECORD_V2: u8 = 2;

fn put_str(v: &mut Vec<u8>, s: &str) {
    v.extend_from_slice(&(s.len() as u32).to_be_bytes());
    v.extend_from_slice(s.as_bytes());
}

/// An audit record: the events one unit of work made about one item, in the order they
/// happened. Binary, because the pipeline writes one per document and JSON (RFC 3339 times,
/// hex ids) cost more than the rest of the record. Times keep their nanoseconds, so an event
/// reads back equal to what was appended.
pub(crate) fn encode_audit(events: &[AuditEvent]) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        5 + events
            .iter()
            .map(|e| 70 + e.actor.len() + e.action.len() + e.detail.len())
            .sum::<usize>(),
    );
    v.push(AUDIT_RECORD_V2);
    v.extend_from_slice(&(events.len() as u32).to_be_bytes());
    for e in events {
        put_time(&mut v, &e.at);
        put_ids(
            &mut v,
            [
                e.inbox_id.as_ref().map(|i| i.as_bytes()),
                e.document_id.as_ref().map(|i| i.as_bytes()),
                e.outbox_id.as_ref().map(|i| i.as_bytes()),
            ],
        );
        put_str(&mut v, &e.actor);
        put_str(&mut v, &e.action);
        put_str(&mut v, &e.detail);
    }
    v
}

/// Reads fields off a binary record; running past the end is an error, not a panic.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], &'static str> {
        if self.b.len() < n {
            return Err("record ends early");
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], &'static str> {
        self.take(N)?.try_into().map_err(|_| "record ends early")
    }

    fn string(&mut self) -> std::result::Result<String, &'static str> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "text is not UTF-8")
    }

    /// A time as `put_time` wrote it.
    fn time(&mut self) -> std::result::Result<DateTime<Utc>, &'static str> {
        let secs = i64::from_be_bytes(self.array()?);
        let nanos = u32::from_be_bytes(self.array()?);
        DateTime::from_timestamp(secs, nanos).ok_or("time out of range")
    }

    /// Up to `N` optional 16-byte ids as `put_ids` wrote them: a flags byte (bit i for id i),
    /// then the present ids in order.
    fn ids<const N: usize>(&mut self) -> std::result::Result<[Option<[u8; 16]>; N], &'static str> {
        let flags = self.array::<1>()?[0];
        let mut out = [None; N];
        for (i, slot) in out.iter_mut().enumerate() {
            if flags & (1 << i) != 0 {
                *slot = Some(self.array()?);
            }
        }
        Ok(out)
    }
}

/// A time with nanoseconds: seconds (i64) and nanoseconds (u32), big-endian.
fn put_time(v: &mut Vec<u8>, t: &DateTime<Utc>) {
    v.extend_from_slice(&t.timestamp().to_be_bytes());
    v.extend_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
}

/// Optional 16-byte ids: a flags byte (bit i for id i), then the present ones in order.
fn put_ids<const N: usize>(v: &mut Vec<u8>, ids: [Option<&[u8; 16]>; N]) {
    let flags = ids
        .iter()
        .enumerate()
        .fold(0u8, |f, (i, id)| f | u8::from(id.is_some()) << i);
    v.push(flags);
    for id in ids.into_iter().flatten() {
        v.extend_from_slice(id);
    }
}

/// Reads an audit record back: a binary one (any number of events) or a schema 1 JSON event.
pub(crate) fn decode_audit(tree: &'static str, key: &[u8], b: &[u8]) -> Result<Vec<AuditEvent>> {
    match b.first() {
        Some(&AUDIT_RECORD_V2) => {}
        _ => return from_json(tree, key, b).map(|e| vec![e]),
    }
    let corrupt = |why: &str| StoreError::corrupt(tree, key, why);
    let mut r = Reader { b: &b[1..] };
    let n = u32::from_be_bytes(r.array().map_err(corrupt)?) as usize;
    // Bounded by what the bytes can hold, so a corrupt count cannot reserve gigabytes.
    let mut out = Vec::with_capacity(n.min(b.len() / 25));
    for _ in 0..n {
        let at = r.time().map_err(corrupt)?;
        let [inbox, document, outbox] = r.ids().map_err(corrupt)?;
        let inbox_id = inbox.and_then(|b| InboxId::from_slice(&b));
        let document_id = document.and_then(|b| DocumentId::from_slice(&b));
        let outbox_id = outbox.and_then(|b| OutboxId::from_slice(&b));
        out.push(AuditEvent {
            at,
            actor: r.string().map_err(corrupt)?,
            action: r.string().map_err(corrupt)?,
            inbox_id,
            document_id,
            outbox_id,
            detail: r.string().map_err(corrupt)?,
        });
    }
    if !r.b.is_empty() {
        return Err(corrupt("bytes after the last event"));
    }
    Ok(out)
}

/// First byte of a binary `seen` value (schema 1 stored JSON, which starts with `{`).
const SEEN_V2: u8 = 2;

/// A duplicate-key sighting: first-seen time (with nanoseconds) and its owner's ids. Binary,
/// because the pipeline writes two per document.
pub(crate) fn encode_seen(e: &SeenEntry) -> Vec<u8> {
    let mut v = Vec::with_capacity(46);
    v.push(SEEN_V2);
    put_time(&mut v, &e.first_seen);
    put_ids(
        &mut v,
        [
            e.owner.inbox_id.as_ref().map(|i| i.as_bytes()),
            e.owner.document_id.as_ref().map(|i| i.as_bytes()),
        ],
    );
    v
}

pub(crate) fn decode_seen(tree: &'static str, key: &[u8], b: &[u8]) -> Result<SeenEntry> {
    match b.first() {
        Some(&SEEN_V2) => {}
        _ => return from_json(tree, key, b),
    }
    let corrupt = |why: &str| StoreError::corrupt(tree, key, why);
    let mut r = Reader { b: &b[1..] };
    let first_seen = r.time().map_err(corrupt)?;
    let [inbox, document] = r.ids().map_err(corrupt)?;
    let inbox_id = inbox.and_then(|b| InboxId::from_slice(&b));
    let document_id = document.and_then(|b| DocumentId::from_slice(&b));
    if !r.b.is_empty() {
        return Err(corrupt("bytes after the owner"));
    }
    Ok(SeenEntry {
        first_seen,
        owner: SeenOwner {
            inbox_id,
            document_id,
        },
    })
}

/// The smallest key strictly greater than every key starting with `prefix` (for range ends).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_and_truncation_is_an_error() {
        let v = with_body(&serde_json::json!({"a": 1}), b"raw").unwrap();
        let (h, b): (serde_json::Value, _) = split_body("t", b"k", &v).unwrap();
        assert_eq!(h["a"], 1);
        assert_eq!(b, b"raw");
        assert!(split_body::<serde_json::Value>("t", b"k", &v[..3]).is_err());
        assert!(split_body::<serde_json::Value>("t", b"k", &v[..6]).is_err());
    }

    #[test]
    fn audit_records_round_trip_and_read_schema_1_rows() {
        let at = DateTime::from_timestamp(1_772_000_000, 123_456_789).unwrap();
        let id = InboxId::from_slice(&[7; 16]).unwrap();
        let events = vec![
            AuditEvent {
                at,
                actor: "pipeline".into(),
                action: "inbox.stage".into(),
                inbox_id: Some(id),
                document_id: None,
                outbox_id: OutboxId::from_slice(&[9; 16]),
                detail: "received -> done ✓".into(),
            },
            AuditEvent {
                at,
                actor: String::new(),
                action: "x".into(),
                inbox_id: None,
                document_id: DocumentId::from_slice(&[1; 16]),
                outbox_id: None,
                detail: String::new(),
            },
        ];
        let b = encode_audit(&events);
        assert_eq!(decode_audit("t", b"k", &b).unwrap(), events);
        for cut in 0..b.len() {
            assert!(decode_audit("t", b"k", &b[..cut]).is_err(), "cut at {cut}");
        }
        let old = serde_json::to_vec(&events[0]).unwrap();
        assert_eq!(decode_audit("t", b"k", &old).unwrap(), events[..1]);
    }

    #[test]
    fn seen_entries_round_trip_and_read_schema_1_json() {
        let e = SeenEntry {
            first_seen: DateTime::from_timestamp(1_772_000_000, 5).unwrap(),
            owner: SeenOwner {
                inbox_id: InboxId::from_slice(&[3; 16]),
                document_id: None,
            },
        };
        let b = encode_seen(&e);
        assert_eq!(decode_seen("t", b"k", &b).unwrap(), e);
        for cut in 0..b.len() {
            assert!(decode_seen("t", b"k", &b[..cut]).is_err(), "cut at {cut}");
        }
        let old = serde_json::to_vec(&e).unwrap();
        assert_eq!(decode_seen("t", b"k", &old).unwrap(), e);
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn length_prefix_separates() {
        assert_ne!(cat(&[&lp("ab"), b"c"]), cat(&[&lp("a"), b"bc"]));
    }
}
