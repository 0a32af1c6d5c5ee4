//! Document operations of [`SledStore`](super::SledStore): idempotent put by business key,
//! secondary indexes (partner, kind), lineage by PO, filtered paging. Must not parse bodies:
//! they are the caller's canonical JSON bytes, kept byte for byte.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::super::codec::{cat, decode_document, encode_document, lp, prefix_end, DocHeader};
use super::super::error::{Result, StoreError};
use super::super::types::*;
use super::{abort, tx_err, AuditSink, DirectAudit, SledStore, TxResult};

/// Default page size when a caller passes `limit: 0`.
const DEFAULT_PAGE: usize = 100;

fn doc_key_hash(meta: &DocumentMeta) -> [u8; 32] {
    hash32(&[
        b"document",
        meta.partner.as_bytes(),
        meta.kind.as_bytes(),
        meta.business_key.as_bytes(),
    ])
}

fn po_set(meta: &DocumentMeta) -> BTreeSet<&str> {
    meta.po_numbers.iter().map(String::as_str).collect()
}

fn decode(id: DocumentId, raw: &[u8]) -> Result<StoredDocument> {
    let (h, body) = decode_document(id.as_bytes(), raw)?;
    Ok(StoredDocument {
        id,
        meta: h.meta,
        version: h.version,
        updated_at: h.updated_at,
        body: body.to_vec(),
    })
}

pub(super) fn put(
    s: &SledStore,
    meta: DocumentMeta,
    body: &[u8],
) -> Result<(DocumentId, PutOutcome)> {
    let now = Utc::now();
    let akey = s.audit_key(now)?;
    let _g = s.writing()?;
    let t = &s.t;
    (
        &t.documents,
        &t.doc_keys,
        &t.doc_by_partner,
        &t.doc_by_kind,
        &t.lineage,
        &t.audit,
        &t.audit_by_ref,
    )
        .transaction(
            |(docs, keys, by_partner, by_kind, lineage, audit, by_ref)| {
                put_tx(
                    &DocTrees {
                        docs,
                        keys,
                        by_partner,
                        by_kind,
                        lineage,
                        audit: &DirectAudit {
                            audit,
                            by_ref,
                            key: akey,
                        },
                    },
                    &meta,
                    body,
                    now,
                )
            },
        )
        .map_err(tx_err)
}

/// The trees a document put writes, inside some transaction.
pub(super) struct DocTrees<'a> {
    pub docs: &'a TransactionalTree,
    pub keys: &'a TransactionalTree,
    pub by_partner: &'a TransactionalTree,
    pub by_kind: &'a TransactionalTree,
    pub lineage: &'a TransactionalTree,
    pub audit: &'a dyn AuditSink,
}

/// The body of [`put`], shared with the one-transaction unit of work.
pub(super) fn put_tx(
    t: &DocTrees<'_>,
    meta: &DocumentMeta,
    body: &[u8],
    now: DateTime<Utc>,
) -> TxResult<(DocumentId, PutOutcome)> {
    let kh = doc_key_hash(meta);
    // The id's discriminator comes from the same hash as the key (one SHA-256 per put).
    let new_id = DocumentId::new(meta.created_at, discriminator(&kh));
    let DocTrees {
        docs,
        keys,
        by_partner,
        by_kind,
        lineage,
        audit,
    } = *t;

    let mut meta = meta.clone();
    let existing = match keys.get(kh)? {
        None => None,
        Some(v) => {
            let id = DocumentId::from_slice(&v)
                .ok_or_else(|| abort(StoreError::corrupt("doc_keys", &kh, "not a document id")))?;
            let raw = docs.get(id.as_bytes())?.ok_or_else(|| {
                abort(StoreError::corrupt(
                    "doc_keys",
                    &kh,
                    "points at no document",
                ))
            })?;
            Some(decode(id, &raw).map_err(abort)?)
        }
    };
    let (id, version, outcome) = match &existing {
        None => {
            if docs.get(new_id.as_bytes())?.is_some() {
                return Err(abort(StoreError::IdCollision {
                    what: DocumentId::WHAT,
                    id: new_id.to_string(),
                }));
            }
            (new_id, 1, PutOutcome::Created)
        }
        Some(old) => {
            // The id carries the first creation time; keep it so ids stay stable.
            meta.created_at = old.meta.created_at;
            if old.meta == meta && old.body == body {
                return Ok((old.id, PutOutcome::Unchanged));
            }
            // The old owner's record of the unit that received it leads here through the
            // document's inbox id, which is about to change.
            if let Some(owner) = old.meta.inbox_id.filter(|o| meta.inbox_id != Some(*o)) {
                audit.document_leaves(&old.id, &owner)?;
            }
            let oid = old.id.as_bytes();
            by_partner.remove(cat(&[&lp(&old.meta.partner), oid]))?;
            by_kind.remove(cat(&[&lp(&old.meta.kind), oid]))?;
            for po in po_set(&old.meta) {
                lineage.remove(cat(&[&lp(po), oid]))?;
            }
            (old.id, old.version.saturating_add(1), PutOutcome::Replaced)
        }
    };
    let idb = id.as_bytes();
    by_partner.insert(cat(&[&lp(&meta.partner), idb]), &[][..])?;
    by_kind.insert(cat(&[&lp(&meta.kind), idb]), &[][..])?;
    for po in po_set(&meta) {
        lineage.insert(cat(&[&lp(po), idb]), &[][..])?;
    }
    keys.insert(&kh[..], &idb[..])?;
    let event = AuditEvent {
        at: now,
        actor: "store".into(),
        action: "document.put".into(),
        inbox_id: meta.inbox_id,
        document_id: Some(id),
        outbox_id: None,
        detail: format!(
            "{} {} {} version {}",
            meta.partner, meta.kind, meta.business_key, version
        ),
    };
    let header = DocHeader {
        meta,
        version,
        updated_at: now,
    };
    docs.insert(&idb[..], encode_document(&header, body))?;
    audit.record(event)?;
    Ok((id, outcome))
}

pub(super) fn get(s: &SledStore, id: DocumentId) -> Result<Option<StoredDocument>> {
    s.t.documents
        .get(id.as_bytes())?
        .map(|raw| decode(id, &raw))
        .transpose()
}

pub(super) fn list(s: &SledStore, f: &DocumentFilter) -> Result<Page<StoredDocument>> {
    let limit = if f.limit == 0 { DEFAULT_PAGE } else { f.limit };
    // Scan the most selective index given; the others are checked on each record.
    let (tree, prefix) = if let Some(po) = &f.po {
        (&s.t.lineage, lp(po))
    } else if let Some(p) = &f.partner {
        (&s.t.doc_by_partner, lp(p))
    } else if let Some(k) = &f.kind {
        (&s.t.doc_by_kind, lp(k))
    } else {
        (&s.t.documents, Vec::new())
    };

    // Ids start with their creation time, so `since` and the cursor are both a lower bound.
    let since_id = f.since.map(|t| DocumentId::new(t, [0; 8]));
    let start = match (since_id, f.cursor) {
        (Some(a), Some(c)) if a > c => Bound::Included(cat(&[&prefix, a.as_bytes()])),
        (_, Some(c)) => Bound::Excluded(cat(&[&prefix, c.as_bytes()])),
        (Some(a), None) => Bound::Included(cat(&[&prefix, a.as_bytes()])),
        (None, None) => Bound::Included(prefix.clone()),
    };
    let end = match prefix_end(&prefix) {
        Some(e) if !prefix.is_empty() => Bound::Excluded(e),
        _ => Bound::Unbounded,
    };

    let mut items = Vec::new();
    let mut next = None;
    for kv in tree.range::<Vec<u8>, _>((start, end)) {
        let (k, v) = kv?;
        let id = DocumentId::from_slice(&k[prefix.len()..]).ok_or_else(|| {
            StoreError::corrupt("documents index", &k, "not prefix + document id")
        })?;
        let doc = if prefix.is_empty() {
            decode(id, &v)?
        } else {
            match get(s, id)? {
                Some(d) => d,
                None => continue,
            }
        };
        let m = &doc.meta;
        if f.partner.as_ref().is_some_and(|p| &m.partner != p)
            || f.kind.as_ref().is_some_and(|k| &m.kind != k)
            || f.po.as_ref().is_some_and(|po| !m.po_numbers.contains(po))
        {
            continue;
        }
        if items.len() == limit {
            // One more match exists: there is a next page, starting after the last item.
            next = items.last().map(|d: &StoredDocument| d.id);
            break;
        }
        items.push(doc);
    }
    Ok(Page { items, next })
}

pub(super) fn lineage(s: &SledStore, po: &str) -> Result<Vec<DocumentId>> {
    let prefix = lp(po);
    let mut ids = Vec::new();
    for kv in s.t.lineage.scan_prefix(&prefix) {
        let (k, _) = kv?;
        ids.push(
            DocumentId::from_slice(&k[prefix.len()..])
                .ok_or_else(|| StoreError::corrupt("lineage", &k, "not PO + document id"))?,
        );
    }
    Ok(ids)
}
