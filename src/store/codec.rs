//! Byte layouts of sled keys and values. Owns the encodings only; which tree holds what is
//! `sled_store`'s business. Decoding never panics: bad bytes become `StoreError::Corrupt`.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::{Result, StoreError};
use super::types::{
    AuditEvent, ControlNumbers, DeliveryState, DocumentId, DocumentMeta, InboxEntry, InboxId,
    InboxMeta, OutboxId, OutboxRecord, PayloadRef, SeenEntry, SeenOwner, Stage,
};

/// Strings inside composite keys are length-prefixed, so `("ab", id)` and `("a", "b"+id)`
/// can never collide and a prefix scan for one value cannot run into a longer one.
pub(crate) fn lp(s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + s.len() + 16);
    push_lp(&mut k, s);
    k
}

/// Appends `s` length-prefixed (u32 big-endian, then the bytes), as `lp` makes it.
pub(crate) fn push_lp(k: &mut Vec<u8>, s: &str) {
    k.extend_from_slice(&(s.len() as u32).to_be_bytes());
    k.extend_from_slice(s.as_bytes());
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

#[cfg(test)]
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

/// Schema 2 records with a large opaque part (document bodies, outbound payloads, inline
/// payloads) were stored as `u32 header length | JSON header | raw body`. Read only now (and
/// written by tests that build an old store).
#[cfg(test)]
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

/// Reads a schema 2 `u32 header length | JSON header | raw body` record; the body is borrowed.
pub(crate) fn split_body<'v, T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &'v [u8],
) -> Result<(T, &'v [u8])> {
    let len_bytes: [u8; 4] = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::corrupt(tree, key, "value shorter than its length prefix"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let header = v
        .get(4..4usize.saturating_add(len))
        .ok_or_else(|| StoreError::corrupt(tree, key, "header length past end of value"))?;
    let h = from_json(tree, key, header)?;
    Ok((h, &v[4 + len..]))
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

    fn u32(&mut self) -> std::result::Result<u32, &'static str> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn string(&mut self) -> std::result::Result<String, &'static str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?)
            .map(str::to_owned)
            .map_err(|_| "text is not UTF-8")
    }

    /// A string as `put_opt_str` wrote it: a flag byte, then the string when it is 1.
    fn opt_string(&mut self) -> std::result::Result<Option<String>, &'static str> {
        match self.array::<1>()?[0] {
            0 => Ok(None),
            1 => self.string().map(Some),
            _ => Err("unknown optional text flag"),
        }
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

/// First byte of a schema 3 binary record: inbox entries, document headers and outbox
/// records, each followed by its raw payload or body. Binary because the pipeline writes one
/// of each per document and their JSON (RFC 3339 times, hex ids, escaping) cost more than the
/// rest of the record. Schema 1 inbox values start with `{`; schema 2 values with a u32 JSON
/// header length, whose first byte is 0xff only for a header over 4,278 MB: [`is_binary`]
/// also requires the value to be shorter than that.
const RECORD_V3: u8 = 0xff;

fn is_binary(v: &[u8]) -> bool {
    v.first() == Some(&RECORD_V3) && v.len() < 0xff00_0004
}

fn put_opt_str(v: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            v.push(1);
            put_str(v, s);
        }
        None => v.push(0),
    }
}

fn put_strs<'s>(v: &mut Vec<u8>, n: usize, items: impl Iterator<Item = &'s str>) {
    v.extend_from_slice(&(n as u32).to_be_bytes());
    for s in items {
        put_str(v, s);
    }
}

/// Rough size of a record's fields, for one allocation per encode.
fn text_len<'s>(parts: impl IntoIterator<Item = &'s str>) -> usize {
    parts.into_iter().map(|s| 4 + s.len()).sum()
}

fn stage_tag(s: &Stage) -> u8 {
    match s {
        Stage::Received => 0,
        Stage::Checked => 1,
        Stage::Acked => 2,
        Stage::Mapped => 3,
        Stage::Done => 4,
        Stage::Exception { .. } => 5,
        Stage::Duplicate => 6,
    }
}

/// An inbox value: the entry, then (flag byte 1) its inline payload, or flag 0 when the
/// payload is in a file.
pub(crate) fn encode_entry(e: &InboxEntry, inline: Option<&[u8]>) -> Vec<u8> {
    let attrs: usize = e
        .meta
        .attributes
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum();
    let mut v = Vec::with_capacity(
        96 + attrs
            + inline.map_or(0, <[u8]>::len)
            + text_len([
                e.receive_key.as_str(),
                &e.meta.channel,
                e.meta.partner_hint.as_deref().unwrap_or(""),
                e.meta.source_name.as_deref().unwrap_or(""),
                e.payload.file.as_deref().unwrap_or(""),
                &e.payload.sha256,
            ]),
    );
    v.push(RECORD_V3);
    v.extend_from_slice(e.id.as_bytes());
    put_str(&mut v, &e.receive_key);
    put_str(&mut v, &e.meta.channel);
    put_opt_str(&mut v, e.meta.partner_hint.as_deref());
    put_opt_str(&mut v, e.meta.source_name.as_deref());
    put_time(&mut v, &e.meta.received_at);
    v.extend_from_slice(&(e.meta.attributes.len() as u32).to_be_bytes());
    for (k, val) in &e.meta.attributes {
        put_str(&mut v, k);
        put_str(&mut v, val);
    }
    put_opt_str(&mut v, e.payload.file.as_deref());
    v.extend_from_slice(&e.payload.size.to_be_bytes());
    put_str(&mut v, &e.payload.sha256);
    v.push(stage_tag(&e.stage));
    if let Stage::Exception { reason } = &e.stage {
        put_str(&mut v, reason);
    }
    put_time(&mut v, &e.stage_changed_at);
    v.extend_from_slice(&e.replays.to_be_bytes());
    match inline {
        Some(bytes) => {
            v.push(1);
            v.extend_from_slice(bytes);
        }
        None => v.push(0),
    }
    v
}

/// An inbox value read back, in any schema: the entry, and its inline payload (borrowed from
/// the value) when the value holds it. Schema 1 values are the bare JSON entry; schema 2 the
/// JSON entry with the inline payload after it.
pub(crate) fn decode_entry<'v>(
    key: &[u8],
    raw: &'v [u8],
) -> Result<(InboxEntry, Option<&'v [u8]>)> {
    if raw.first() == Some(&b'{') {
        return from_json("inbox", key, raw).map(|e| (e, None));
    }
    if !is_binary(raw) {
        let (e, body) = split_body("inbox", key, raw)?;
        return Ok((e, Some(body)));
    }
    let corrupt = |why: &str| StoreError::corrupt("inbox", key, why);
    let mut r = Reader { b: &raw[1..] };
    let entry = (|| {
        let id = InboxId::from_bytes(r.array()?);
        let receive_key = r.string()?;
        let meta = InboxMeta {
            channel: r.string()?,
            partner_hint: r.opt_string()?,
            source_name: r.opt_string()?,
            received_at: r.time()?,
            attributes: {
                let n = r.u32()?;
                let mut m = std::collections::BTreeMap::new();
                for _ in 0..n {
                    let k = r.string()?;
                    m.insert(k, r.string()?);
                }
                m
            },
        };
        let payload = PayloadRef {
            file: r.opt_string()?,
            size: u64::from_be_bytes(r.array()?),
            sha256: r.string()?,
        };
        let stage = match r.array::<1>()?[0] {
            0 => Stage::Received,
            1 => Stage::Checked,
            2 => Stage::Acked,
            3 => Stage::Mapped,
            4 => Stage::Done,
            5 => Stage::Exception {
                reason: r.string()?,
            },
            6 => Stage::Duplicate,
            _ => return Err("unknown stage"),
        };
        Ok(InboxEntry {
            id,
            receive_key,
            meta,
            payload,
            stage,
            stage_changed_at: r.time()?,
            replays: r.u32()?,
        })
    })()
    .map_err(corrupt)?;
    let inline = match r.array::<1>().map_err(corrupt)?[0] {
        0 if r.b.is_empty() => None,
        0 => return Err(corrupt("bytes after an entry without inline payload")),
        // The entry's size tells a cut-off payload apart.
        1 if r.b.len() as u64 == entry.payload.size => Some(r.b),
        1 => return Err(corrupt("inline payload length differs from its size")),
        _ => return Err(corrupt("unknown inline payload flag")),
    };
    Ok((entry, inline))
}

/// What the `documents` tree keeps in front of a body.
#[derive(Serialize, Deserialize)]
pub(crate) struct DocHeader {
    pub meta: DocumentMeta,
    pub version: u32,
    pub updated_at: DateTime<Utc>,
}

pub(crate) fn encode_document(h: &DocHeader, body: &[u8]) -> Vec<u8> {
    let m = &h.meta;
    let mut v = Vec::with_capacity(
        64 + body.len()
            + text_len(
                [m.partner.as_str(), &m.kind, &m.business_key]
                    .into_iter()
                    .chain(m.po_numbers.iter().map(String::as_str)),
            ),
    );
    v.push(RECORD_V3);
    put_str(&mut v, &m.partner);
    put_str(&mut v, &m.kind);
    put_strs(
        &mut v,
        m.po_numbers.len(),
        m.po_numbers.iter().map(String::as_str),
    );
    put_str(&mut v, &m.business_key);
    put_ids(&mut v, [m.inbox_id.as_ref().map(|i| i.as_bytes())]);
    put_time(&mut v, &m.created_at);
    v.extend_from_slice(&h.version.to_be_bytes());
    put_time(&mut v, &h.updated_at);
    v.extend_from_slice(body);
    v
}

/// A document record read back (binary or schema 2); the body is borrowed from the value.
pub(crate) fn decode_document<'v>(key: &[u8], raw: &'v [u8]) -> Result<(DocHeader, &'v [u8])> {
    if !is_binary(raw) {
        return split_body("documents", key, raw);
    }
    let mut r = Reader { b: &raw[1..] };
    let h = (|| {
        let partner = r.string()?;
        let kind = r.string()?;
        let n = r.u32()? as usize;
        // Bounded by what the bytes can hold, so a corrupt count cannot reserve gigabytes.
        let mut po_numbers = Vec::with_capacity(n.min(r.b.len() / 4));
        for _ in 0..n {
            po_numbers.push(r.string()?);
        }
        let meta = DocumentMeta {
            partner,
            kind,
            po_numbers,
            business_key: r.string()?,
            inbox_id: r.ids::<1>()?[0].map(InboxId::from_bytes),
            created_at: r.time()?,
        };
        Ok(DocHeader {
            meta,
            version: r.u32()?,
            updated_at: r.time()?,
        })
    })()
    .map_err(|why: &str| StoreError::corrupt("documents", key, why))?;
    Ok((h, r.b))
}

pub(crate) fn encode_outbox(o: &OutboxRecord) -> Vec<u8> {
    let mut v = Vec::with_capacity(
        128 + o.payload.len()
            + text_len([
                o.idempotency_key.as_str(),
                &o.partner,
                &o.destination,
                &o.kind,
                o.last_error.as_deref().unwrap_or(""),
            ]),
    );
    v.push(RECORD_V3);
    v.extend_from_slice(o.id.as_bytes());
    put_str(&mut v, &o.idempotency_key);
    put_str(&mut v, &o.partner);
    put_str(&mut v, &o.destination);
    put_str(&mut v, &o.kind);
    put_ids(
        &mut v,
        [
            o.document_id.as_ref().map(|i| i.as_bytes()),
            o.inbox_id.as_ref().map(|i| i.as_bytes()),
        ],
    );
    match o.control_numbers {
        Some(c) => {
            v.push(1);
            v.extend_from_slice(&c.isa13.to_be_bytes());
            v.extend_from_slice(&c.gs06.to_be_bytes());
        }
        None => v.push(0),
    }
    put_time(&mut v, &o.created_at);
    put_time(&mut v, &o.due);
    v.extend_from_slice(&o.attempts.to_be_bytes());
    put_opt_str(&mut v, o.last_error.as_deref());
    match &o.state {
        DeliveryState::Pending => v.push(0),
        DeliveryState::Delivered { at } => {
            v.push(1);
            put_time(&mut v, at);
        }
        DeliveryState::Dead { at, reason } => {
            v.push(2);
            put_time(&mut v, at);
            put_str(&mut v, reason);
        }
    }
    v.extend_from_slice(&o.payload);
    v
}

/// An outbox record read back (binary or schema 2), payload included.
pub(crate) fn decode_outbox(tree: &'static str, key: &[u8], raw: &[u8]) -> Result<OutboxRecord> {
    if !is_binary(raw) {
        let (mut o, payload): (OutboxRecord, &[u8]) = split_body(tree, key, raw)?;
        o.payload = payload.to_vec();
        return Ok(o);
    }
    let mut r = Reader { b: &raw[1..] };
    (|| {
        let id = OutboxId::from_bytes(r.array()?);
        let idempotency_key = r.string()?;
        let partner = r.string()?;
        let destination = r.string()?;
        let kind = r.string()?;
        let [document_id, inbox_id] = r.ids()?;
        let control_numbers = match r.array::<1>()?[0] {
            0 => None,
            1 => Some(ControlNumbers {
                isa13: u64::from_be_bytes(r.array()?),
                gs06: u64::from_be_bytes(r.array()?),
            }),
            _ => return Err("unknown control number flag"),
        };
        let created_at = r.time()?;
        let due = r.time()?;
        let attempts = r.u32()?;
        let last_error = r.opt_string()?;
        let state = match r.array::<1>()?[0] {
            0 => DeliveryState::Pending,
            1 => DeliveryState::Delivered { at: r.time()? },
            2 => DeliveryState::Dead {
                at: r.time()?,
                reason: r.string()?,
            },
            _ => return Err("unknown delivery state"),
        };
        Ok(OutboxRecord {
            id,
            idempotency_key,
            partner,
            destination,
            kind,
            document_id: document_id.map(DocumentId::from_bytes),
            inbox_id: inbox_id.map(InboxId::from_bytes),
            control_numbers,
            created_at,
            due,
            attempts,
            last_error,
            state,
            payload: r.b.to_vec(),
        })
    })()
    .map_err(|why: &str| StoreError::corrupt(tree, key, why))
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

    fn t(nanos: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_000_000, nanos).unwrap()
    }

    #[test]
    fn inbox_entries_round_trip_in_every_stage_and_read_schema_1_and_2() {
        let mut entry = InboxEntry {
            id: InboxId::from_bytes([4; 16]),
            receive_key: "folder:/in/a.x12:3:9:ab".into(),
            meta: InboxMeta {
                channel: "folder".into(),
                partner_hint: Some("acme".into()),
                source_name: None,
                received_at: t(1),
                attributes: [("as2-from".to_string(), "ACME ✓".to_string())].into(),
            },
            payload: PayloadRef {
                file: None,
                size: 3,
                sha256: "ab".repeat(32),
            },
            stage: Stage::Received,
            stage_changed_at: t(999_999_999),
            replays: 2,
        };
        let stages = [
            Stage::Received,
            Stage::Checked,
            Stage::Acked,
            Stage::Mapped,
            Stage::Done,
            Stage::Exception {
                reason: "bad\nthing".into(),
            },
            Stage::Duplicate,
        ];
        for stage in stages {
            entry.stage = stage;
            let v = encode_entry(&entry, Some(b"abc"));
            assert_eq!(
                decode_entry(b"k", &v).unwrap(),
                (entry.clone(), Some(&b"abc"[..]))
            );
            for cut in 0..v.len() {
                assert!(decode_entry(b"k", &v[..cut]).is_err(), "cut at {cut}");
            }
        }
        let mut in_file = entry.clone();
        in_file.payload.file = Some("payloads/2026-01-01/x".into());
        let v = encode_entry(&in_file, None);
        assert_eq!(decode_entry(b"k", &v).unwrap(), (in_file.clone(), None));
        for cut in 0..v.len() {
            assert!(decode_entry(b"k", &v[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_entry(b"k", &[&v[..], b"x"].concat()).is_err());
        // Schema 2: JSON entry with the inline payload after it; schema 1: bare JSON.
        let old = with_body(&entry, b"abc").unwrap();
        assert_eq!(
            decode_entry(b"k", &old).unwrap(),
            (entry.clone(), Some(&b"abc"[..]))
        );
        let old = to_json(&in_file).unwrap();
        assert_eq!(decode_entry(b"k", &old).unwrap(), (in_file, None));
    }

    #[test]
    fn document_records_round_trip_and_read_schema_2() {
        let h = DocHeader {
            meta: DocumentMeta {
                partner: "acme".into(),
                kind: "purchase_order".into(),
                po_numbers: vec!["PO-1".into(), "PO-2".into()],
                business_key: "PO-1".into(),
                inbox_id: Some(InboxId::from_bytes([5; 16])),
                created_at: t(7),
            },
            version: 3,
            updated_at: t(8),
        };
        let body = b"{\"a\":1}";
        let v = encode_document(&h, body);
        let (back, b) = decode_document(b"k", &v).unwrap();
        assert_eq!(
            (back.meta, back.version, back.updated_at, b),
            (h.meta.clone(), 3, t(8), &body[..])
        );
        for cut in 0..v.len() - body.len() {
            assert!(decode_document(b"k", &v[..cut]).is_err(), "cut at {cut}");
        }
        let old = with_body(&h, body).unwrap();
        let (back, b) = decode_document(b"k", &old).unwrap();
        assert_eq!((back.meta, b), (h.meta, &body[..]));
    }

    #[test]
    fn outbox_records_round_trip_in_every_state_and_read_schema_2() {
        let mut r = OutboxRecord {
            id: OutboxId::from_bytes([6; 16]),
            idempotency_key: "fa/x/0".into(),
            partner: "acme".into(),
            destination: "folder:acme".into(),
            kind: "FA".into(),
            document_id: None,
            inbox_id: Some(InboxId::from_bytes([5; 16])),
            control_numbers: Some(ControlNumbers {
                isa13: 999_999_999,
                gs06: 1,
            }),
            created_at: t(1),
            due: t(2),
            attempts: 4,
            last_error: Some("refused".into()),
            state: DeliveryState::Pending,
            payload: b"ISA*00~".to_vec(),
        };
        let states = [
            DeliveryState::Pending,
            DeliveryState::Delivered { at: t(3) },
            DeliveryState::Dead {
                at: t(4),
                reason: "gone".into(),
            },
        ];
        for state in states {
            r.state = state;
            for numbers in [None, r.control_numbers] {
                r.control_numbers = numbers;
                let v = encode_outbox(&r);
                assert_eq!(decode_outbox("t", b"k", &v).unwrap(), r);
                for cut in 0..v.len() - r.payload.len() {
                    assert!(decode_outbox("t", b"k", &v[..cut]).is_err(), "cut at {cut}");
                }
            }
        }
        let old = with_body(&r, &r.payload).unwrap();
        assert_eq!(decode_outbox("t", b"k", &old).unwrap(), r);
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
