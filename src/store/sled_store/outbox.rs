//! Outbox operations of [`SledStore`](super::SledStore): enqueue with control numbers
//! allocated in the same transaction, due-time scans, delivered log, failure backoff, dead
//! letters and their replay. Must not deliver anything or render payloads itself.

use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::Transactional;

use super::super::codec::{cat, decode_outbox, encode_outbox, push_lp, u64_value};
use super::super::error::{Result, StoreError};
use super::super::types::*;
use super::super::BuildOutbound;
use super::{abort, tx_err, AuditSink, DirectAudit, SledStore, TxResult};

/// `outbox_index` state bytes.
const PENDING: u8 = 0;
const DELIVERED: u8 = 1;
const DEAD: u8 = 2;

fn counter_key(name: &str, partner: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(name.len() + 4 + partner.len());
    k.extend_from_slice(name.as_bytes());
    push_lp(&mut k, partner);
    k
}

/// Where an enqueue reads and writes its control-number counters: straight in the tree, or
/// through a unit of work, which keeps them in memory and writes each once at its end (every
/// ack of a batch advances the same two counters of its partner).
pub(super) trait Counters {
    fn get(&self, key: &[u8]) -> TxResult<Option<u64>>;
    fn set(&self, key: &[u8], value: u64) -> TxResult<()>;
}

impl Counters for TransactionalTree {
    fn get(&self, key: &[u8]) -> TxResult<Option<u64>> {
        read_counter(self, key)
    }

    fn set(&self, key: &[u8], value: u64) -> TxResult<()> {
        write_counter(self, key, value)
    }
}

/// A counter's value in the `counters` tree.
pub(super) fn read_counter(counters: &TransactionalTree, key: &[u8]) -> TxResult<Option<u64>> {
    counters
        .get(key)?
        .map(|v| u64_value("counters", key, &v).map_err(abort))
        .transpose()
}

pub(super) fn write_counter(counters: &TransactionalTree, key: &[u8], value: u64) -> TxResult<()> {
    counters.insert(key, &value.to_be_bytes()[..])?;
    Ok(())
}

fn due_key(due: DateTime<Utc>, id: &OutboxId) -> Vec<u8> {
    cat(&[&millis(due).to_be_bytes(), id.as_bytes()])
}

/// The outbox key of a record due at once: the id's own time, then the id. Schema 5 writes
/// no `outbox_index` entry for a pending record with this key (one sled key less per ack): no
/// entry means "pending, here".
fn derived_key(id: &OutboxId) -> Vec<u8> {
    cat(&[&id.as_bytes()[..8], id.as_bytes()])
}

fn idem_hash(key: &str) -> [u8; 32] {
    hash32(&[b"outbox", key.as_bytes()])
}

fn not_found(id: &OutboxId) -> StoreError {
    StoreError::NotFound {
        what: OutboxId::WHAT,
        id: id.to_string(),
    }
}

/// The record's current state and, for pending ones, its key in `outbox`.
fn locate(
    index: &TransactionalTree,
    outbox: &TransactionalTree,
    id: &OutboxId,
) -> TxResult<Option<(u8, Vec<u8>)>> {
    match index.get(id.as_bytes())? {
        None => {
            let key = derived_key(id);
            Ok(outbox.get(&key)?.map(|_| (PENDING, key)))
        }
        Some(v) if !v.is_empty() => Ok(Some((v[0], v[1..].to_vec()))),
        Some(_) => Err(abort(StoreError::corrupt(
            "outbox_index",
            id.as_bytes(),
            "empty state",
        ))),
    }
}

struct Located<'a> {
    outbox: &'a TransactionalTree,
    delivered: &'a TransactionalTree,
    dead: &'a TransactionalTree,
}

impl Located<'_> {
    fn read(&self, id: &OutboxId, state: u8, key: &[u8]) -> TxResult<OutboxRecord> {
        let (tree, name, key) = match state {
            PENDING => (self.outbox, "outbox", key),
            DELIVERED => (self.delivered, "delivered", &id.as_bytes()[..]),
            DEAD => (self.dead, "dead", &id.as_bytes()[..]),
            other => {
                return Err(abort(StoreError::corrupt(
                    "outbox_index",
                    id.as_bytes(),
                    format!("unknown state {other}"),
                )))
            }
        };
        let raw = tree.get(key)?.ok_or_else(|| {
            abort(StoreError::corrupt(
                "outbox_index",
                id.as_bytes(),
                format!("points at a missing {name} record"),
            ))
        })?;
        decode_outbox(name, key, &raw).map_err(abort)
    }
}

fn state_name(state: u8) -> String {
    match state {
        PENDING => "pending".into(),
        DELIVERED => "delivered".into(),
        DEAD => "dead".into(),
        other => format!("state {other}"),
    }
}

fn next_number(
    counters: &dyn Counters,
    key: &[u8],
    partner: &str,
    name: &'static str,
) -> TxResult<u64> {
    let cur = counters.get(key)?.unwrap_or(0);
    if cur >= MAX_CONTROL_NUMBER {
        return Err(abort(StoreError::CounterExhausted {
            partner: partner.to_owned(),
            counter: name,
            max: MAX_CONTROL_NUMBER,
        }));
    }
    Ok(cur + 1)
}

/// One code path for both kinds of enqueue: with `partner` set, control numbers are allocated.
pub(super) fn enqueue(
    s: &SledStore,
    partner: Option<&str>,
    build: &BuildOutbound<'_>,
) -> Result<Enqueued> {
    let now = Utc::now();
    let akey = s.audit_key(now)?;
    let t = &s.t;
    let _g = s.writing()?;
    (
        &t.counters,
        &t.outbox,
        &t.outbox_index,
        &t.outbox_keys,
        &t.delivered,
        &t.dead,
        &t.audit,
        &t.audit_by_ref,
    )
        .transaction(
            |(counters, outbox, index, okeys, delivered, dead, audit, by_ref)| {
                enqueue_tx(
                    &OutboxTrees {
                        item_keys_indexed: s.item_keys_indexed,
                        counters,
                        outbox,
                        index,
                        okeys,
                        delivered,
                        dead,
                        audit: &DirectAudit {
                            audit,
                            by_ref,
                            key: akey,
                        },
                    },
                    partner,
                    build,
                    None,
                    now,
                )
            },
        )
        .map_err(tx_err)
}

/// The trees an enqueue reads and writes, inside some transaction.
pub(super) struct OutboxTrees<'a> {
    /// [`SledStore`]'s `item_keys_indexed`: look up an item's record in `okeys` too.
    pub item_keys_indexed: bool,
    pub counters: &'a dyn Counters,
    pub outbox: &'a TransactionalTree,
    pub index: &'a TransactionalTree,
    pub okeys: &'a TransactionalTree,
    pub delivered: &'a TransactionalTree,
    pub dead: &'a TransactionalTree,
    pub audit: &'a dyn AuditSink,
}

/// The body of [`enqueue`], shared with the one-transaction unit of work. `item_id`, when
/// given, is [`item_outbox_id`] of the record's inbox item and key, made before the
/// transaction.
pub(super) fn enqueue_tx(
    t: &OutboxTrees<'_>,
    partner: Option<&str>,
    build: &BuildOutbound<'_>,
    item_id: Option<OutboxId>,
    now: DateTime<Utc>,
) -> TxResult<Enqueued> {
    let keys = partner.map(|p| (counter_key("isa13", p), counter_key("gs06", p)));
    let OutboxTrees {
        item_keys_indexed,
        counters,
        outbox,
        index,
        okeys,
        delivered,
        dead,
        audit,
    } = *t;

    let numbers = match (&keys, partner) {
        (Some((isa, gs)), Some(p)) => Some(ControlNumbers {
            isa13: next_number(counters, isa, p, "ISA13")?,
            gs06: next_number(counters, gs, p, "GS06")?,
        }),
        _ => None,
    };
    // Placeholder numbers for a plain enqueue: `build` ignores them there.
    let new = build(numbers.unwrap_or(ControlNumbers { isa13: 0, gs06: 0 }))
        .map_err(|e| abort(StoreError::Build(e)))?;
    let loc = Located {
        outbox,
        delivered,
        dead,
    };
    let existing = |id: OutboxId, record: OutboxRecord| Enqueued {
        id,
        control_numbers: record.control_numbers,
        fresh: false,
    };
    let item_id = new
        .inbox_id
        .map(|item| item_id.unwrap_or_else(|| item_outbox_id(&item, &new.idempotency_key)));
    if let Some(id) = item_id {
        if let Some((state, key)) = locate(index, outbox, &id)? {
            let record = loc.read(&id, state, &key)?;
            if record.idempotency_key != new.idempotency_key || record.inbox_id != new.inbox_id {
                return Err(abort(StoreError::IdCollision {
                    what: OutboxId::WHAT,
                    id: id.to_string(),
                }));
            }
            return Ok(existing(id, record));
        }
    }
    // Records without an item, and those of stores before schema 6, are found by key.
    let kh = (item_id.is_none() || item_keys_indexed).then(|| idem_hash(&new.idempotency_key));
    if let Some(kh) = &kh {
        if let Some(v) = okeys.get(kh)? {
            let id = OutboxId::from_slice(&v)
                .ok_or_else(|| abort(StoreError::corrupt("outbox_keys", kh, "not an outbox id")))?;
            let (state, key) = locate(index, outbox, &id)?.ok_or_else(|| {
                abort(StoreError::corrupt(
                    "outbox_keys",
                    kh,
                    "points at no record",
                ))
            })?;
            let record = loc.read(&id, state, &key)?;
            // An item's key is its own: another item's record (or one without an item) under
            // the same key is not this one.
            if item_id.is_none() || record.inbox_id == new.inbox_id {
                return Ok(existing(id, record));
            }
        }
    }
    if let (Some((isa, gs)), Some(n)) = (&keys, numbers) {
        counters.set(isa, n.isa13)?;
        counters.set(gs, n.gs06)?;
    }
    let id = match item_id {
        Some(id) => id,
        None => {
            let kh = kh.unwrap_or_else(|| idem_hash(&new.idempotency_key));
            // The id's discriminator comes from the key's hash, already computed above.
            let id = OutboxId::new(now, discriminator(&kh));
            if locate(index, outbox, &id)?.is_some() {
                return Err(abort(StoreError::IdCollision {
                    what: OutboxId::WHAT,
                    id: id.to_string(),
                }));
            }
            okeys.insert(&kh[..], &id.as_bytes()[..])?;
            id
        }
    };
    let record = OutboxRecord {
        id,
        idempotency_key: new.idempotency_key,
        partner: partner.map_or(new.partner, str::to_owned),
        destination: new.destination,
        kind: new.kind,
        document_id: new.document_id,
        inbox_id: new.inbox_id,
        control_numbers: numbers,
        created_at: now,
        due: new.due,
        attempts: 0,
        last_error: None,
        state: DeliveryState::Pending,
        payload: new.payload,
    };
    // Due at once (`build` read the clock before this): kept at the key its id gives, so it
    // needs no index entry; an item's records go out in the order the items arrived.
    let dk = if record.due <= Utc::now() {
        derived_key(&id)
    } else {
        due_key(record.due, &id)
    };
    // Both keys are a time and the id: the derived one exactly when the times agree.
    if dk[..8] != id.as_bytes()[..8] {
        index.insert(&id.as_bytes()[..], cat(&[&[PENDING], &dk]))?;
    }
    outbox.insert(dk, encode_outbox(&record))?;
    let detail = match numbers {
        Some(n) => format!(
            "{} to {} for {}, ISA13 {} GS06 {}",
            record.kind, record.destination, record.partner, n.isa13, n.gs06
        ),
        None => format!(
            "{} to {} for {}",
            record.kind, record.destination, record.partner
        ),
    };
    let event = AuditEvent {
        at: now,
        actor: "store".into(),
        action: "outbox.enqueued".into(),
        inbox_id: record.inbox_id,
        document_id: record.document_id,
        outbox_id: Some(id),
        detail,
    };
    audit.record(event)?;
    Ok(Enqueued {
        id,
        control_numbers: numbers,
        fresh: true,
    })
}

pub(super) fn control_numbers(s: &SledStore, partner: &str) -> Result<Option<ControlNumbers>> {
    let isa = counter_key("isa13", partner);
    let gs = counter_key("gs06", partner);
    let read = |k: &[u8]| -> Result<Option<u64>> {
        s.t.counters
            .get(k)?
            .map(|v| u64_value("counters", k, &v))
            .transpose()
    };
    Ok(match (read(&isa)?, read(&gs)?) {
        (Some(isa13), Some(gs06)) => Some(ControlNumbers { isa13, gs06 }),
        _ => None,
    })
}

pub(super) fn due(s: &SledStore, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRecord>> {
    // Anything handed out for delivery must survive a crash first: otherwise its control
    // numbers could be allocated again to a different interchange after restart.
    s.db.flush()?;
    let end = (millis(now).saturating_add(1)).to_be_bytes();
    let mut out = Vec::new();
    for kv in s.t.outbox.range(..&end[..]).take(limit) {
        let (k, v) = kv?;
        out.push(decode_outbox("outbox", &k, &v)?);
    }
    Ok(out)
}

pub(super) fn get(s: &SledStore, id: OutboxId) -> Result<Option<OutboxRecord>> {
    let Some(v) = s.t.outbox_index.get(id.as_bytes())? else {
        let key = derived_key(&id);
        return s
            .t
            .outbox
            .get(&key)?
            .map(|raw| decode_outbox("outbox", &key, &raw))
            .transpose();
    };
    let (tree, name, key) = match v.first() {
        Some(&PENDING) => (&s.t.outbox, "outbox", v[1..].to_vec()),
        Some(&DELIVERED) => (&s.t.delivered, "delivered", id.as_bytes().to_vec()),
        Some(&DEAD) => (&s.t.dead, "dead", id.as_bytes().to_vec()),
        _ => {
            return Err(StoreError::corrupt(
                "outbox_index",
                id.as_bytes(),
                "unknown state",
            ))
        }
    };
    tree.get(&key)?
        .map(|raw| decode_outbox(name, &key, &raw))
        .transpose()
}

/// Moves a record between states in one transaction. `change` gets the pending record and
/// returns the new record plus the audit action and detail; it must be pure.
fn transition(
    s: &SledStore,
    id: OutboxId,
    expected: u8,
    already_done: Option<u8>,
    actor: &str,
    change: &dyn Fn(OutboxRecord) -> (OutboxRecord, &'static str, String),
) -> Result<Option<OutboxRecord>> {
    let now = Utc::now();
    let akey = s.audit_key(now)?;
    let t = &s.t;
    let _g = s.writing()?;
    (
        &t.outbox,
        &t.outbox_index,
        &t.delivered,
        &t.dead,
        &t.audit,
        &t.audit_by_ref,
    )
        .transaction(|(outbox, index, delivered, dead, audit, by_ref)| {
            let (state, key) = locate(index, outbox, &id)?.ok_or_else(|| abort(not_found(&id)))?;
            if Some(state) == already_done {
                return Ok(None);
            }
            if state != expected {
                return Err(abort(StoreError::WrongState {
                    what: OutboxId::WHAT,
                    id: id.to_string(),
                    actual: state_name(state),
                    expected: match expected {
                        PENDING => "pending",
                        DEAD => "dead",
                        _ => "delivered",
                    },
                }));
            }
            let loc = Located {
                outbox,
                delivered,
                dead,
            };
            let old = loc.read(&id, state, &key)?;
            match state {
                PENDING => outbox.remove(key)?,
                DEAD => dead.remove(&id.as_bytes()[..])?,
                _ => delivered.remove(&id.as_bytes()[..])?,
            };
            let (new, action, detail) = change(old);
            let value = encode_outbox(&new);
            match &new.state {
                DeliveryState::Pending => {
                    let dk = due_key(new.due, &id);
                    outbox.insert(dk.clone(), value)?;
                    index.insert(&id.as_bytes()[..], cat(&[&[PENDING], &dk]))?;
                }
                DeliveryState::Delivered { .. } => {
                    delivered.insert(&id.as_bytes()[..], value)?;
                    index.insert(&id.as_bytes()[..], &[DELIVERED][..])?;
                }
                DeliveryState::Dead { .. } => {
                    dead.insert(&id.as_bytes()[..], value)?;
                    index.insert(&id.as_bytes()[..], &[DEAD][..])?;
                }
            }
            let event = AuditEvent {
                at: now,
                actor: actor.to_owned(),
                action: action.into(),
                inbox_id: new.inbox_id,
                document_id: new.document_id,
                outbox_id: Some(id),
                detail,
            };
            DirectAudit {
                audit,
                by_ref,
                key: akey,
            }
            .record(event)?;
            Ok(Some(new))
        })
        .map_err(tx_err)
}

pub(super) fn mark_delivered(s: &SledStore, id: OutboxId, at: DateTime<Utc>) -> Result<()> {
    transition(s, id, PENDING, Some(DELIVERED), "deliver", &|mut r| {
        r.state = DeliveryState::Delivered { at };
        let d = format!("attempt {} to {}", r.attempts + 1, r.destination);
        (r, "outbox.delivered", d)
    })
    .map(|_| ())
}

pub(super) fn mark_failed(
    s: &SledStore,
    id: OutboxId,
    error: &str,
    next_due: DateTime<Utc>,
) -> Result<OutboxRecord> {
    transition(s, id, PENDING, None, "deliver", &|mut r| {
        r.attempts = r.attempts.saturating_add(1);
        r.last_error = Some(error.to_owned());
        r.due = next_due;
        let d = format!("attempt {} failed: {error}; next at {next_due}", r.attempts);
        (r, "outbox.failed", d)
    })?
    .ok_or_else(|| not_found(&id))
}

pub(super) fn dead_letter(
    s: &SledStore,
    id: OutboxId,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    transition(s, id, PENDING, Some(DEAD), "deliver", &|mut r| {
        r.state = DeliveryState::Dead {
            at,
            reason: reason.to_owned(),
        };
        let d = format!("after {} attempts: {reason}", r.attempts);
        (r, "outbox.dead", d)
    })
    .map(|_| ())
}

pub(super) fn replay_dead(
    s: &SledStore,
    id: OutboxId,
    due: DateTime<Utc>,
    actor: &str,
) -> Result<()> {
    transition(s, id, DEAD, None, actor, &|mut r| {
        r.state = DeliveryState::Pending;
        r.attempts = 0;
        r.due = due;
        (r, "outbox.replay", format!("due {due}"))
    })
    .map(|_| ())
}

pub(super) fn list_dead(s: &SledStore, limit: usize) -> Result<Vec<OutboxRecord>> {
    let mut out = Vec::new();
    for kv in s.t.dead.iter().take(limit) {
        let (k, v) = kv?;
        out.push(decode_outbox("dead", &k, &v)?);
    }
    Ok(out)
}
