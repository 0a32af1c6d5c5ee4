//! Document operations of [`SledStore`](super::SledStore): idempotent put by business key,
//! one index by partner and kind, lineage by PO, filtered paging. Must not parse bodies:
//! they are the caller's canonical JSON bytes, kept byte for byte.

use std::collections::BTreeSet;
use std::ops::Bound;

use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::super::codec::{
    cat, decode_document, encode_document, lp, prefix_end, push_lp, DocHeader,
};
use super::super::error::{Result, StoreError};
use super::super::types::*;
use super::{abort, tx_err, AuditSink, DirectAudit, SledStore, TxResult};

/// Default page size when a caller passes `limit: 0`.
const DEFAULT_PAGE: usize = 100;

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
    let kh = DocKeyHash::of(&meta);
    let _g = s.writing()?;
    let t = &s.t;
    (
        &t.documents,
        &t.doc_keys,
        &t.doc_index,
        &t.doc_by_partner,
        &t.doc_by_kind,
        &t.lineage,
        &t.audit,
        &t.audit_by_ref,
    )
        .transaction(
            |(docs, keys, index, by_partner, by_kind, lineage, audit, by_ref)| {
                put_tx(
                    &DocTrees {
                        docs,
                        keys,
                        indexes: DocIndexes::of(s, index, (by_partner, by_kind), lineage),
                        audit: &DirectAudit {
                            audit,
                            by_ref,
                            key: akey,
                        },
                    },
                    meta.clone(),
                    body,
                    &kh,
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
    pub indexes: DocIndexes<'a>,
    pub audit: &'a dyn AuditSink,
}

/// A document's index and lineage entries, inside some transaction.
pub(super) struct DocIndexes<'a> {
    pub index: &'a TransactionalTree,
    /// `doc_by_partner` and `doc_by_kind`, when the store has entries there (written before
    /// schema 7): a replaced or removed document's entries go with it.
    pub old: Option<(&'a TransactionalTree, &'a TransactionalTree)>,
    pub lineage: &'a TransactionalTree,
}

impl<'a> DocIndexes<'a> {
    /// The index trees of store `s` in a transaction: `doc_by_partner` and `doc_by_kind` only
    /// when the store had entries there when it opened.
    pub(super) fn of(
        s: &SledStore,
        index: &'a TransactionalTree,
        (by_partner, by_kind): (&'a TransactionalTree, &'a TransactionalTree),
        lineage: &'a TransactionalTree,
    ) -> Self {
        DocIndexes {
            index,
            old: s.old_doc_indexes.then_some((by_partner, by_kind)),
            lineage,
        }
    }

    fn insert(&self, meta: &DocumentMeta, id: &DocumentId) -> TxResult<()> {
        self.index.insert(index_key(meta, id), &[][..])?;
        for po in po_set(meta) {
            self.lineage
                .insert(cat(&[&lp(po), id.as_bytes()]), &[][..])?;
        }
        Ok(())
    }

    /// Removes the entries of any schema, for a replace or a purge.
    pub(super) fn remove(&self, meta: &DocumentMeta, id: &DocumentId) -> TxResult<()> {
        let idb = id.as_bytes();
        self.index.remove(index_key(meta, id))?;
        if let Some((by_partner, by_kind)) = self.old {
            by_partner.remove(cat(&[&lp(&meta.partner), idb]))?;
            by_kind.remove(cat(&[&lp(&meta.kind), idb]))?;
        }
        for po in po_set(meta) {
            self.lineage.remove(cat(&[&lp(po), idb]))?;
        }
        Ok(())
    }
}

/// The `doc_index` key of a document: partner, kind (both length-prefixed) and id.
fn index_key(meta: &DocumentMeta, id: &DocumentId) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + meta.partner.len() + meta.kind.len() + 16);
    push_lp(&mut key, &meta.partner);
    push_lp(&mut key, &meta.kind);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The body of [`put`], shared with the one-transaction unit of work. Takes `meta` by value:
/// it becomes the stored header (a closure that may run again passes a clone). `kh` is
/// [`DocKeyHash::of`] `meta`, made before the transaction.
pub(super) fn put_tx(
    t: &DocTrees<'_>,
    mut meta: DocumentMeta,
    body: &[u8],
    kh: &DocKeyHash,
    now: DateTime<Utc>,
) -> TxResult<(DocumentId, PutOutcome)> {
    let kh = *kh.bytes();
    // The id's discriminator comes from the same hash as the key (one SHA-256 per put).
    let new_id = DocumentId::new(meta.created_at, discriminator(&kh));
    let DocTrees {
        docs,
        keys,
        ref indexes,
        audit,
    } = *t;

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
            indexes.remove(&old.meta, &old.id)?;
            (old.id, old.version.saturating_add(1), PutOutcome::Replaced)
        }
    };
    let idb = id.as_bytes();
    indexes.insert(&meta, &id)?;
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
    // Ids start with their creation time, so `since` and the cursor are both a lower bound.
    let since_id = f.since.map(|t| DocumentId::new(t, [0; 8]));
    let from = match (since_id, f.cursor) {
        (Some(a), Some(c)) if a > c => Bound::Included(a),
        (_, Some(c)) => Bound::Excluded(c),
        (Some(a), None) => Bound::Included(a),
        (None, None) => Bound::Unbounded,
    };
    // Scan the most selective index given; the others are checked on each record.
    let mut runs = Vec::new();
    if let Some(po) = &f.po {
        runs.push(Run::open(&s.t.lineage, lp(po), &from));
    } else if f.partner.is_some() || f.kind.is_some() {
        for prefix in index_prefixes(&s.t.doc_index, f)? {
            runs.push(Run::open(&s.t.doc_index, prefix, &from));
        }
        // Documents put before schema 7 are in the old index of the partner or the kind.
        if s.old_doc_indexes {
            if let Some(p) = &f.partner {
                runs.push(Run::open(&s.t.doc_by_partner, lp(p), &from));
            } else if let Some(k) = &f.kind {
                runs.push(Run::open(&s.t.doc_by_kind, lp(k), &from));
            }
        }
    } else {
        runs.push(Run::open(&s.t.documents, Vec::new(), &from));
    }

    let mut items = Vec::new();
    let mut next = None;
    let mut last = None;
    while let Some((id, v, whole)) = next_in_order(&mut runs)? {
        // A document in an old index and the new one (not written so, but harmless) counts
        // once.
        if last == Some(id) {
            continue;
        }
        last = Some(id);
        let doc = if whole {
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

/// The `doc_index` prefixes (partner and kind) a listing by partner and/or kind reads: the
/// one pair, or each kind of the partner, or the kind under each partner. Partners and kinds
/// are few, so finding them costs one seek each rather than a scan of their documents.
fn index_prefixes(index: &sled::Tree, f: &DocumentFilter) -> Result<Vec<Vec<u8>>> {
    Ok(match (&f.partner, &f.kind) {
        (Some(p), Some(k)) => vec![cat(&[&lp(p), &lp(k)])],
        (Some(p), None) => next_fields(index, &lp(p))?,
        (None, Some(k)) => next_fields(index, &[])?
            .into_iter()
            .map(|partner| cat(&[&partner, &lp(k)]))
            .collect(),
        (None, None) => Vec::new(),
    })
}

/// Each distinct length-prefixed field that follows `under` in the keys of `index`, as
/// `under` + that field, in key order: one seek per field, past all the keys it starts.
fn next_fields(index: &sled::Tree, under: &[u8]) -> Result<Vec<Vec<u8>>> {
    let end = match prefix_end(under) {
        Some(e) if !under.is_empty() => Bound::Excluded(e),
        _ => Bound::Unbounded,
    };
    let mut fields = Vec::new();
    let mut from = under.to_vec();
    while let Some(kv) = index
        .range::<Vec<u8>, _>((Bound::Included(from), end.clone()))
        .next()
    {
        let (k, _) = kv?;
        let field = k
            .get(under.len()..under.len() + 4)
            .and_then(|l| <[u8; 4]>::try_from(l).ok())
            .map(|l| under.len() + 4 + u32::from_be_bytes(l) as usize)
            .and_then(|n| k.get(..n))
            .ok_or_else(|| {
                StoreError::corrupt("doc_index", &k, "not partner + kind + document id")
            })?
            .to_vec();
        let after = prefix_end(&field);
        fields.push(field);
        match after {
            Some(a) => from = a,
            None => break,
        }
    }
    Ok(fields)
}

/// One sorted run of document ids: the keys under `prefix` of an index, or the documents
/// tree itself (empty prefix; its values are the documents).
struct Run {
    prefix_len: usize,
    whole: bool,
    iter: sled::Iter,
    /// The next entry, read when it is needed (so a single run reads no further ahead than
    /// a plain scan).
    head: Option<(DocumentId, sled::IVec)>,
    ended: bool,
}

impl Run {
    fn open(tree: &sled::Tree, prefix: Vec<u8>, from: &Bound<DocumentId>) -> Run {
        let start = match from {
            Bound::Included(id) => Bound::Included(cat(&[&prefix, id.as_bytes()])),
            Bound::Excluded(id) => Bound::Excluded(cat(&[&prefix, id.as_bytes()])),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let end = match prefix_end(&prefix) {
            Some(e) if !prefix.is_empty() => Bound::Excluded(e),
            _ => Bound::Unbounded,
        };
        Run {
            prefix_len: prefix.len(),
            whole: prefix.is_empty(),
            iter: tree.range::<Vec<u8>, _>((start, end)),
            head: None,
            ended: false,
        }
    }

    /// Reads the next entry unless the current one is still unused.
    fn fill(&mut self) -> Result<()> {
        if self.head.is_some() || self.ended {
            return Ok(());
        }
        self.head = match self.iter.next() {
            None => {
                self.ended = true;
                None
            }
            Some(kv) => {
                let (k, v) = kv?;
                let id = DocumentId::from_slice(&k[self.prefix_len..]).ok_or_else(|| {
                    StoreError::corrupt("documents index", &k, "not prefix + document id")
                })?;
                Some((id, v))
            }
        };
        Ok(())
    }
}

/// The lowest next id of all runs (with its value, and whether that is the document), taken
/// from its run.
fn next_in_order(runs: &mut [Run]) -> Result<Option<(DocumentId, sled::IVec, bool)>> {
    for r in runs.iter_mut() {
        r.fill()?;
    }
    let Some(r) = runs
        .iter_mut()
        .filter(|r| r.head.is_some())
        .min_by_key(|r| r.head.as_ref().map(|h| h.0))
    else {
        return Ok(None);
    };
    Ok(r.head.take().map(|(id, v)| (id, v, r.whole)))
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
