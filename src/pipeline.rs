//! The order of the stages, and only that: receive → inbox → decode/check → acks into the
//! outbox → map → documents + lineage. Every stage is keyed by the inbox id and idempotent, so
//! a restart (or an operator replay) re-runs an item from its stored payload and ends in the
//! same state: acks are enqueued under idempotency keys (never a second ack or control number),
//! documents are stored by business key (never a second document), duplicate keys remember
//! which inbox item owns them.

use std::io::Read;
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;

use crate::canonical::CanonicalDocument;
use crate::config::{AckPreference, Config, Partner};
use crate::map::docs::x12_provenance;
use crate::map::MapSet;
use crate::metrics::Metrics;
use crate::store::{
    item_outbox_id, AuditEvent, ControlNumbers, DocKeyHash, DocumentMeta, InboxId, InboxMeta,
    NewOutbound, OutboxId, Receipt, ReceiveHashes, SeenOutcome, SeenOwner, Stage, Store,
    StoreError, StoreTx,
};
use crate::x12::ack::{AckKind, AckOptions, AckWriter, ControlNumbers as AckNumbers, Ta1Mode};
use crate::x12::envelope::{
    self, GroupInfo, GroupResult, InterchangeResult, IsaInfo, SetResult, Sink,
};
use crate::x12::grammar::Grammars;
use crate::x12::reader::Segment;
use crate::x12::tree::{SetTree, TreeBuilder};

/// Everything the stages share.
pub struct Gateway {
    pub store: Arc<dyn Store>,
    pub grammars: Arc<Grammars>,
    pub maps: Arc<MapSet>,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Partners created on the fly (embedded default).
    auto_partners: std::sync::Mutex<Vec<Partner>>,
}

/// How one inbox item ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done { documents: usize },
    Exception(String),
    Duplicate(String),
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// One inbound interchange as checked: enough to render its acks again at any time.
#[derive(Clone)]
pub struct CheckedInterchange {
    pub isa: IsaInfo,
    pub groups: Vec<(GroupInfo, Vec<SetResult>, GroupResult)>,
    pub result: Option<InterchangeResult>,
    /// Accepted sets held for mapping: (group index, set result index, tree).
    pub trees: Vec<(usize, usize, SetTree)>,
}

#[derive(Default)]
struct Collector {
    interchanges: Vec<CheckedInterchange>,
    builder: TreeBuilder,
    cur_gs: Option<GroupInfo>,
    sets: Vec<SetResult>,
    problems: Vec<String>,
}

impl Sink for Collector {
    fn interchange_start(&mut self, isa: &IsaInfo) {
        self.interchanges.push(CheckedInterchange {
            isa: isa.clone(),
            groups: vec![],
            result: None,
            trees: vec![],
        });
    }
    fn group_start(&mut self, _isa: &IsaInfo, gs: &GroupInfo) {
        self.cur_gs = Some(gs.clone());
        self.sets.clear();
    }
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32, loop_path: &str) {
        if position == 1 {
            if let (Some(ic), Some(gs)) = (self.interchanges.last(), self.cur_gs.as_ref()) {
                self.builder.start(&ic.isa, gs);
            }
        }
        self.builder.segment(seg, position, loop_path);
    }
    fn set_done(&mut self, _isa: &IsaInfo, _gs: &GroupInfo, set: &SetResult) {
        let tree = self.builder.finish(set);
        if let Some(ic) = self.interchanges.last_mut() {
            if set.status.is_accepted() {
                ic.trees.push((ic.groups.len(), self.sets.len(), tree));
            }
        }
        self.sets.push(set.clone());
    }
    fn group_done(&mut self, _isa: &IsaInfo, gs: &GroupInfo, r: &GroupResult) {
        if let Some(ic) = self.interchanges.last_mut() {
            ic.groups
                .push((gs.clone(), std::mem::take(&mut self.sets), r.clone()));
        }
    }
    fn interchange_done(&mut self, _isa: &IsaInfo, r: &InterchangeResult) {
        if let Some(ic) = self.interchanges.last_mut() {
            ic.result = Some(r.clone());
        }
    }
    fn problem(&mut self, p: &envelope::FileProblem) {
        self.problems.push(p.message.clone());
    }
}

struct Fixed(ControlNumbers);

impl AckNumbers for Fixed {
    fn next_interchange(&mut self) -> u64 {
        self.0.isa13
    }
    fn next_group(&mut self) -> u64 {
        self.0.gs06
    }
}

/// Renders the acknowledgement of one checked interchange with the given control numbers.
/// Pure: the store may call it more than once inside its transaction.
pub fn render_ack(
    ic: &CheckedInterchange,
    kind: Option<AckKind>,
    ta1: Ta1Mode,
    ak2: bool,
    numbers: ControlNumbers,
    stamp: &AckOptions,
) -> Vec<u8> {
    let mut opts = stamp.clone();
    opts.kind = kind;
    opts.ta1 = ta1;
    opts.ak2_for_accepted = ak2;
    let mut w = AckWriter::new(Vec::new(), opts, Fixed(numbers));
    w.interchange_start(&ic.isa);
    for (gs, sets, r) in &ic.groups {
        w.group_start(&ic.isa, gs);
        for s in sets {
            w.set_done(&ic.isa, gs, s);
        }
        w.group_done(&ic.isa, gs, r);
    }
    if let Some(r) = &ic.result {
        w.interchange_done(&ic.isa, r);
    }
    w.into_inner().unwrap_or_default()
}

/// The date and time stamped on acks rendered now. Formatting them cost more than the rest of
/// an ack's options, so each thread keeps the last one for the rest of its minute.
fn ack_stamp() -> AckOptions {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(i64, AckOptions)>> =
            const { std::cell::RefCell::new(None) };
    }
    let minute = Utc::now().timestamp().div_euclid(60);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((m, stamp)) if *m == minute => stamp.clone(),
            _ => {
                let stamp = AckOptions::new(None, Ta1Mode::Never);
                *last = Some((minute, stamp.clone()));
                stamp
            }
        }
    })
}

fn duplicate_ta1(ic: &CheckedInterchange, numbers: ControlNumbers, stamp: &AckOptions) -> Vec<u8> {
    let mut dup = ic.clone();
    let mut r = ic.result.clone().unwrap_or(InterchangeResult {
        status: envelope::AckStatus::Rejected,
        note_code: 25,
        issues: vec![],
        warnings: vec![],
        groups: 0,
        ta1_segments: 0,
    });
    r.status = envelope::AckStatus::Rejected;
    r.note_code = 25;
    r.issues.insert(
        0,
        envelope::EnvelopeIssue {
            ta1_code: 25,
            offset: ic.isa.offset,
            message: "duplicate interchange control number".into(),
        },
    );
    r.ta1_segments = 0;
    r.groups = r.groups.max(1);
    dup.result = Some(r);
    dup.groups.clear();
    render_ack(&dup, None, Ta1Mode::Only, true, numbers, stamp)
}

/// An acknowledgement rendered before its transaction with zero control numbers, and where
/// those numbers sit (ISA13 and IEA02, GS06 and GE02). The transaction only writes the numbers
/// it allocated into it, so the rendering runs on the preparing threads instead of the commit
/// thread every batch waits for.
struct AckTemplate {
    bytes: Vec<u8>,
    /// Byte ranges of the placeholders, in order: `true` for an ISA13 (nine digits), `false`
    /// for a GS06 (written as it is, without padding).
    slots: Vec<(std::ops::Range<usize>, bool)>,
}

impl AckTemplate {
    /// Renders with zero control numbers and finds them again. `None` when the rendering does
    /// not have the shape looked for (nothing, or no fixed-width ISA): the caller then renders
    /// inside the transaction as before.
    fn new(render: impl Fn(ControlNumbers) -> Vec<u8>) -> Option<Self> {
        let bytes = render(ControlNumbers { isa13: 0, gs06: 0 });
        let slots = placeholder_slots(&bytes)?;
        Some(AckTemplate { bytes, slots })
    }

    fn stamp(&self, n: ControlNumbers) -> Vec<u8> {
        // The same forms the writer uses: ISA13/IEA02 nine digits, GS06/GE02 unpadded.
        let isa13 = format!("{:09}", n.isa13 % 1_000_000_000);
        let gs06 = n.gs06.to_string();
        let mut out = Vec::with_capacity(self.bytes.len() + 2 * gs06.len());
        let mut at = 0;
        for (range, is_isa13) in &self.slots {
            out.extend_from_slice(&self.bytes[at..range.start]);
            out.extend_from_slice(if *is_isa13 { &isa13 } else { &gs06 }.as_bytes());
            at = range.end;
        }
        out.extend_from_slice(&self.bytes[at..]);
        out
    }
}

/// Where an ack rendered with zero control numbers holds them: ISA13 (16 elements of fixed
/// width, the separators at bytes 3 and 105), then GS06, GE02 and IEA02 of the segments after
/// it. Only what the ack writer produces is expected; anything else gives `None`.
fn placeholder_slots(b: &[u8]) -> Option<Vec<(std::ops::Range<usize>, bool)>> {
    const ZEROS: &[u8] = b"000000000";
    if b.len() < 106 || !b.starts_with(b"ISA") {
        return None;
    }
    let (el, term) = (b[3], b[105]);
    let element = |start: usize, end: usize, n: usize| -> Option<std::ops::Range<usize>> {
        // The n-th element (1-based) of the segment in b[start..end].
        let mut from = start;
        let mut seen = 0;
        for (i, &c) in b[start..end].iter().enumerate() {
            if c == el {
                if seen == n {
                    return Some(from..start + i);
                }
                seen += 1;
                from = start + i + 1;
            }
        }
        (seen == n).then_some(from..end)
    };
    let isa13 = element(0, 105, 13)?;
    if b.get(isa13.clone())? != ZEROS {
        return None;
    }
    let mut slots = vec![(isa13, true)];
    let (mut groups, mut trailers, mut interchanges) = (0, 0, 1);
    let mut start = 106;
    while start < b.len() {
        if b[start] == b'\n' && term != b'\n' {
            start += 1;
            continue;
        }
        let end = start + b[start..].iter().position(|&c| c == term)?;
        let id = &b[start..element(start, end, 0)?.end];
        let (n, is_isa13, want): (usize, bool, &[u8]) = match id {
            b"GS" => (6, false, b"0"),
            b"GE" => (2, false, b"0"),
            b"IEA" => (2, true, ZEROS),
            b"ISA" => return None,
            _ => {
                start = end + 1;
                continue;
            }
        };
        let r = element(start, end, n)?;
        if &b[r.clone()] != want {
            return None;
        }
        match id {
            b"GS" => groups += 1,
            b"GE" => trailers += 1,
            _ => interchanges -= 1,
        }
        slots.push((r, is_isa13));
        start = end + 1;
    }
    (groups == trailers && interchanges == 0).then_some(slots)
}

impl Gateway {
    pub fn new(
        store: Arc<dyn Store>,
        grammars: Arc<Grammars>,
        maps: Arc<MapSet>,
        config: Arc<Config>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Gateway {
            store,
            grammars,
            maps,
            config,
            metrics,
            auto_partners: Default::default(),
        }
    }

    /// Stores a payload under its receive key. Buffered: flush before telling the channel.
    pub fn receive(
        &self,
        receive_key: &str,
        meta: InboxMeta,
        payload: &mut dyn Read,
    ) -> Result<(InboxId, Receipt), PipelineError> {
        let r = self.store.receive(receive_key, meta, payload)?;
        if r.1 == Receipt::Fresh {
            self.metrics.received.inc();
        }
        Ok(r)
    }

    fn partner_for_x12(&self, qualifier: &str, id: &str) -> Option<Partner> {
        if let Some(p) = self.config.partner_by_x12(qualifier, id) {
            return Some(p.clone());
        }
        if !self.config.auto_partners {
            return None;
        }
        let mut auto = self.auto_partners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = auto
            .iter()
            .find(|p| p.x12_ids.iter().any(|(q, i)| q == qualifier && i == id))
        {
            return Some(p.clone());
        }
        let p = Partner::auto(qualifier, id);
        auto.push(p.clone());
        Some(p)
    }

    /// Runs one inbox item through every stage. Safe to call again for the same item.
    pub fn process(&self, id: InboxId) -> Result<Outcome, PipelineError> {
        let Some(entry) = self.store.inbox_get(id)? else {
            return Ok(Outcome::Exception(format!(
                "inbox item {id} does not exist"
            )));
        };
        match &entry.stage {
            Stage::Done => return Ok(Outcome::Done { documents: 0 }),
            Stage::Duplicate => return Ok(Outcome::Duplicate("already flagged".into())),
            Stage::Exception { reason } => return Ok(Outcome::Exception(reason.clone())),
            _ => {}
        }
        // Sniff from the first bytes; X12 then streams from the payload file, so a large
        // interchange never becomes one in-memory value (cXML is bounded by its decode limits).
        let mut payload = self.store.open_payload(id)?;
        let mut head = Vec::with_capacity(4096);
        (&mut payload).take(4096).read_to_end(&mut head)?;
        let prepared = if crate::cxml::looks_like_cxml(&head) {
            let mut bytes = head;
            payload.read_to_end(&mut bytes)?;
            Prepared::Cxml(id, bytes)
        } else {
            Prepared::X12(self.prepare_x12(id, &head, payload)?)
        };
        self.commit(prepared)
    }

    /// The part of processing that needs no store: sniffs, checks and maps a payload that is
    /// already in memory (a small file just received). Pure apart from creating auto partners,
    /// so items can be prepared on other threads while earlier ones commit.
    pub fn prepare(&self, id: InboxId, bytes: &[u8]) -> Result<Prepared, PipelineError> {
        if crate::cxml::looks_like_cxml(&bytes[..bytes.len().min(4096)]) {
            return Ok(Prepared::Cxml(id, bytes.to_vec()));
        }
        Ok(Prepared::X12(self.prepare_x12(
            id,
            bytes,
            std::io::empty(),
        )?))
    }

    /// Commits a prepared item: one transaction for its duplicate keys, acks, documents,
    /// audit and final stage (buffered: flush before telling the channel).
    pub fn commit(&self, prepared: Prepared) -> Result<Outcome, PipelineError> {
        let mut out = self.commit_many([&prepared])?;
        out.pop().ok_or_else(|| {
            PipelineError::Io(std::io::Error::other("the commit produced no outcome"))
        })
    }

    /// Commits prepared items in order, one outcome each. Consecutive X12 items share one
    /// transaction (every sled transaction costs a synchronous log write, so a batch of items
    /// pays it once); cXML items commit one by one. Borrows the items, so the caller decides
    /// where they are freed (the drop folder frees a batch off its commit thread).
    pub fn commit_many<'a>(
        &self,
        items: impl IntoIterator<Item = &'a Prepared>,
    ) -> Result<Vec<Outcome>, PipelineError> {
        let mut outcomes = Vec::new();
        let mut run: Vec<&PreparedX12> = Vec::new();
        for item in items {
            match item {
                Prepared::X12(p) => run.push(p),
                &Prepared::Cxml(id, ref bytes) => {
                    outcomes.extend(self.commit_x12_run(&std::mem::take(&mut run))?);
                    let started = std::time::Instant::now();
                    let span = tracing::info_span!("inbox_item", inbox = %id);
                    let _guard = span.enter();
                    let outcome = self.process_cxml(id, bytes)?;
                    self.store
                        .set_stage(id, final_stage(&outcome), "pipeline")?;
                    self.outcome_metrics(&outcome, started);
                    outcomes.push(outcome);
                }
            }
        }
        outcomes.extend(self.commit_x12_run(&run)?);
        Ok(outcomes)
    }

    fn outcome_metrics(&self, outcome: &Outcome, started: std::time::Instant) {
        match outcome {
            Outcome::Done { .. } => {}
            Outcome::Exception(reason) => self.metrics.exception(reason),
            Outcome::Duplicate(_) => {
                self.metrics.duplicates.inc();
            }
        }
        self.metrics
            .processing
            .observe(started.elapsed().as_secs_f64());
    }

    /// One transaction for a run of X12 items: each item's duplicate keys, acks, documents,
    /// audit and final stage, in order.
    fn commit_x12_run(&self, run: &[&PreparedX12]) -> Result<Vec<Outcome>, PipelineError> {
        if run.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let result = std::cell::RefCell::new(Vec::new());
        self.store.atomically(&|tx| {
            *result.borrow_mut() = self.decide_run(tx, run.iter().copied())?;
            Ok(())
        })?;
        Ok(self.finish_run(run.iter().copied(), result.into_inner(), started))
    }

    /// The part of a run's commit inside its transaction (may run more than once).
    fn decide_run<'a>(
        &self,
        tx: &dyn StoreTx,
        run: impl Iterator<Item = &'a PreparedX12>,
    ) -> crate::store::Result<Vec<(Outcome, Effects)>> {
        let mut out = Vec::with_capacity(run.size_hint().0);
        // One stamp (ack date and time) for the run: formatting it per item cost more than
        // the rest of an ack's options.
        let stamp = AckOptions::new(None, Ta1Mode::Never);
        for p in run {
            let (outcome, effects) = self.decide_x12(tx, p, &stamp)?;
            tx.set_stage(p.id, final_stage(&outcome), "pipeline")?;
            out.push((outcome, effects));
        }
        Ok(out)
    }

    /// After a run committed: spans, metrics and the outcomes in order.
    fn finish_run<'a>(
        &self,
        run: impl Iterator<Item = &'a PreparedX12>,
        decided: Vec<(Outcome, Effects)>,
        started: std::time::Instant,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(decided.len());
        for (p, (outcome, effects)) in run.zip(decided) {
            // One span per inbox item, with partner and control number when known.
            let span = tracing::info_span!("inbox_item", inbox = %p.id, partner = tracing::field::Empty, isa13 = tracing::field::Empty);
            if let (Some(ic), Some(Some(partner))) = (
                p.interchanges.first(),
                p.prepared.first().map(|x| &x.partner),
            ) {
                span.record("partner", partner.id.as_str());
                span.record("isa13", ic.isa.control_number());
            }
            let _guard = span.enter();
            effects.apply(&self.metrics);
            self.outcome_metrics(&outcome, started);
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Receives a batch of small payloads and commits their processing, in order. `prepared`
    /// is parallel to `items`, checked and mapped beforehand under the id
    /// [`crate::store::Store::fresh_inbox_id`] predicts. When every item is fresh X12 with that id (the
    /// usual case), the receives and the processing are one transaction; otherwise the
    /// receives commit on their own and the items go the general way (redeliveries after a
    /// crash are processed from their stored payload first, as they arrived earlier).
    /// Per item, in an order where redeliveries come first: its index in `items`, id and
    /// outcome. Buffered: flush before telling the channel. Borrows the items, so the caller
    /// decides where they are freed. `hashes`, when given, are those of the items' receive
    /// keys and payloads (parallel to `items`), as the caller computed them.
    pub fn receive_and_commit(
        &self,
        items: &[(String, InboxMeta, Vec<u8>)],
        prepared: &[Prepared],
        hashes: Option<&[ReceiveHashes]>,
    ) -> Result<Vec<(usize, InboxId, Outcome)>, PipelineError> {
        if items.len() != prepared.len() || hashes.is_some_and(|h| h.len() != items.len()) {
            return Err(PipelineError::Io(std::io::Error::other(
                "receive_and_commit: items, hashes and prepared items differ in number",
            )));
        }
        let x12: Option<Vec<&PreparedX12>> = prepared
            .iter()
            .map(|p| match p {
                Prepared::X12(x) => Some(x),
                Prepared::Cxml(..) => None,
            })
            .collect();
        let started = std::time::Instant::now();
        #[allow(clippy::type_complexity)]
        let result: std::cell::RefCell<(
            Vec<Option<(InboxId, Receipt)>>,
            Option<Vec<(Outcome, Effects)>>,
        )> = Default::default();
        self.store.atomically(&|tx| {
            let mut receipts = Vec::with_capacity(items.len());
            for (i, (key, meta, bytes)) in items.iter().enumerate() {
                receipts.push(tx.receive_inline(
                    key,
                    meta,
                    bytes,
                    hashes.and_then(|h| h.get(i)),
                )?);
            }
            let all_fresh = receipts
                .iter()
                .zip(prepared)
                .all(|(r, p)| matches!(r, Some((id, Receipt::Fresh)) if *id == p.id()));
            let decided = match &x12 {
                Some(run) if all_fresh => Some(self.decide_run(tx, run.iter().copied())?),
                _ => None,
            };
            *result.borrow_mut() = (receipts, decided);
            Ok(())
        })?;
        let (receipts, decided) = result.into_inner();
        let fresh = receipts
            .iter()
            .filter(|r| matches!(r, Some((_, Receipt::Fresh))))
            .count();
        self.metrics.received.inc_by(fresh as u64);
        if let (Some(run), Some(decided)) = (&x12, decided) {
            let outcomes = self.finish_run(run.iter().copied(), decided, started);
            return Ok(receipts
                .iter()
                .zip(outcomes)
                .enumerate()
                .filter_map(|(i, (r, o))| r.as_ref().map(|(id, _)| (i, *id, o)))
                .collect());
        }
        // The general way: redeliveries first, then the fresh items in one commit.
        let mut done = Vec::with_capacity(items.len());
        let mut fresh = Vec::with_capacity(items.len());
        for (i, (((key, meta, bytes), receipt), p)) in
            items.iter().zip(receipts).zip(prepared).enumerate()
        {
            let (id, receipt) = match receipt {
                Some(r) => r,
                // Not kept inline by this store: an ordinary receive from the same bytes.
                None => self.receive(key, meta.clone(), &mut &bytes[..])?,
            };
            match receipt {
                Receipt::Fresh if id == p.id() => fresh.push((i, p)),
                // Received before a crash (the store knows how far it got), or under an id
                // other than the one it was prepared for.
                _ => done.push((i, id, self.process(id)?)),
            }
        }
        let (idx, run): (Vec<usize>, Vec<&Prepared>) = fresh.into_iter().unzip();
        let ids: Vec<InboxId> = run.iter().map(|p| p.id()).collect();
        let outcomes = self.commit_many(run)?;
        done.extend(
            idx.into_iter()
                .zip(ids)
                .zip(outcomes)
                .map(|((i, id), o)| (i, id, o)),
        );
        Ok(done)
    }

    /// Checks an X12 payload and maps every accepted set, without touching the store.
    fn prepare_x12(
        &self,
        id: InboxId,
        head: &[u8],
        rest: impl Read,
    ) -> Result<PreparedX12, PipelineError> {
        // Leniency is per partner; the ISA tells us who it is, so peek at it first.
        let lenient = self
            .peek_partner(head)
            .map(|p| p.lenient)
            .unwrap_or_default();
        let (collector, summary) = envelope::check(
            head.chain(rest),
            &self.grammars,
            lenient,
            Collector::default(),
        )?;
        let unreadable = (summary.interchanges == 0).then(|| {
            let why = collector
                .problems
                .first()
                .cloned()
                .unwrap_or_else(|| "not X12 or cXML".into());
            format!("not a document we read: {why}")
        });
        let mut prepared = Vec::with_capacity(collector.interchanges.len());
        let stamp = ack_stamp();
        for (n, ic) in collector.interchanges.iter().enumerate() {
            let partner = self.partner_for_x12(ic.isa.sender_qualifier(), ic.isa.sender_id());
            let is_ack = ic.groups.iter().all(|(g, _, _)| g.functional_id == "FA")
                && !ic.groups.is_empty()
                || ic
                    .result
                    .as_ref()
                    .is_some_and(|r| r.ta1_segments > 0 && r.groups == 0);
            // Duplicate interchange: same sender, receiver and ISA13 within the window.
            let seen_key = format!(
                "ic/{}:{}/{}:{}/{}",
                ic.isa.sender_qualifier(),
                ic.isa.sender_id(),
                ic.isa.receiver_qualifier(),
                ic.isa.receiver_id(),
                ic.isa.control_number()
            );
            // Mapped up front (mapping is pure); a duplicate or test interchange just does not
            // use its documents.
            let acks = match &partner {
                Some(partner) if !is_ack => PreparedAcks::new(ic, partner, &stamp, id, n),
                _ => PreparedAcks::default(),
            };
            let docs = match &partner {
                Some(partner) if !is_ack => ic
                    .trees
                    .iter()
                    .map(|(g, s, tree)| {
                        let (gs, sets, _) = &ic.groups[*g];
                        self.map_set(id, partner, ic, gs, &sets[*s], tree)
                    })
                    .collect(),
                _ => Vec::new(),
            };
            prepared.push(PreparedInterchange {
                partner,
                is_ack,
                seen_key,
                acks,
                docs,
            });
        }
        Ok(PreparedX12 {
            id,
            interchanges: collector.interchanges,
            prepared,
            problems: collector.problems,
            unreadable,
        })
    }

    /// Everything that reads or writes the store for one X12 item, inside its transaction.
    /// May run more than once: side effects go into the returned [`Effects`].
    fn decide_x12(
        &self,
        tx: &dyn StoreTx,
        p: &PreparedX12,
        stamp: &AckOptions,
    ) -> crate::store::Result<(Outcome, Effects)> {
        let id = p.id;
        let mut fx = Effects::default();
        if let Some(why) = &p.unreadable {
            return Ok((Outcome::Exception(why.clone()), fx));
        }
        let mut reasons: Vec<String> = p.problems.clone();
        let mut documents = 0;
        let mut duplicate_of = None;
        for (n, (ic, prep)) in p.interchanges.iter().zip(&p.prepared).enumerate() {
            let Some(partner) = &prep.partner else {
                reasons.push(format!(
                    "interchange {}: unknown partner {}:{}",
                    ic.isa.control_number(),
                    ic.isa.sender_qualifier(),
                    ic.isa.sender_id()
                ));
                continue;
            };
            let is_ack = prep.is_ack;
            if let SeenOutcome::Duplicate(prev) = tx.check_seen(
                &prep.seen_key,
                SeenOwner {
                    inbox_id: Some(id),
                    document_id: None,
                },
                Utc::now(),
            )? {
                if prev.owner.inbox_id != Some(id) {
                    let owner = prev
                        .owner
                        .inbox_id
                        .map(|i| i.to_string())
                        .unwrap_or_default();
                    if !is_ack {
                        fx.acks += enqueue_ack(
                            tx,
                            partner,
                            id,
                            (&format!("ta1dup/{id}/{n}"), None, &prep.acks.destination),
                            "TA1",
                            &|c| duplicate_ta1(ic, c, stamp),
                        )?;
                    }
                    duplicate_of = Some(format!("interchange {} duplicates inbox item {owner} (same sender, receiver and ISA13)", ic.isa.control_number()));
                    continue;
                }
            }
            if ic.isa.usage() == "T" && !partner.allow_test {
                reasons.push(format!("interchange {} is test data (ISA15 T) and partner {} does not allow test traffic", ic.isa.control_number(), partner.id));
                continue;
            }
            if !is_ack {
                let acks = &prep.acks;
                if let Some((oid, key, fa)) = &acks.fa {
                    let to = (key.as_str(), Some(*oid), acks.destination.as_str());
                    fx.acks += enqueue_ack(tx, partner, id, to, "FA", &|c| fa.bytes(ic, c))?;
                }
                if let Some((oid, key, ta1)) = &acks.ta1 {
                    let to = (key.as_str(), Some(*oid), acks.destination.as_str());
                    fx.acks += enqueue_ack(tx, partner, id, to, "TA1", &|c| ta1.bytes(ic, c))?;
                }
            }
            if let Some(r) = &ic.result {
                if !r.issues.is_empty() {
                    reasons.push(format!(
                        "interchange {}: {}",
                        ic.isa.control_number(),
                        r.issues
                            .iter()
                            .map(|i| format!("TA1 {:03} {}", i.ta1_code, i.message))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ));
                }
            }
            for (gs, sets, gr) in &ic.groups {
                for s in sets.iter().filter(|s| !s.status.is_accepted()) {
                    let first = s
                        .first_finding()
                        .map(|f| format!(": {f}"))
                        .unwrap_or_default();
                    reasons.push(format!(
                        "set {} {} in group {} was rejected{first}",
                        s.set_id, s.control_number, gs.control_number
                    ));
                }
                if !gr.errors.is_empty() {
                    reasons.push(format!(
                        "group {}: {}",
                        gs.control_number,
                        gr.messages.join("; ")
                    ));
                }
            }
            if is_ack {
                continue;
            }
            let test = ic.isa.usage() == "T";
            for doc in &prep.docs {
                let stored = match doc {
                    Ok(d) => store_document_tx(tx, id, partner, d, test, &mut fx)?,
                    Err(why) => Err(why.clone()),
                };
                match stored {
                    Ok(MapOutcome::Stored) => documents += 1,
                    Ok(MapOutcome::Duplicate(why)) => reasons.push(why),
                    Err(why) => reasons.push(why),
                }
            }
        }
        tx.append_audit(&AuditEvent {
            at: Utc::now(),
            actor: "pipeline".into(),
            action: "processed".into(),
            inbox_id: Some(id),
            document_id: None,
            outbox_id: None,
            detail: format!("{documents} documents; {} findings", reasons.len()),
        })?;
        if let Some(d) = duplicate_of {
            if documents == 0 && reasons.is_empty() {
                return Ok((Outcome::Duplicate(d), fx));
            }
            reasons.push(d);
        }
        if reasons.is_empty() {
            Ok((Outcome::Done { documents }, fx))
        } else {
            Ok((Outcome::Exception(reasons.join("\n")), fx))
        }
    }

    fn peek_partner(&self, bytes: &[u8]) -> Option<Partner> {
        let start = bytes.windows(3).position(|w| w == b"ISA")?;
        let isa = bytes.get(start..start + 106)?;
        let sep = *isa.get(3)?;
        let f: Vec<&[u8]> = isa.split(|&b| b == sep).collect();
        let q = String::from_utf8_lossy(f.get(5)?).trim().to_string();
        let i = String::from_utf8_lossy(f.get(6)?).trim().to_string();
        self.config.partner_by_x12(&q, &i).cloned()
    }

    /// Maps one accepted set to the canonical document and its stored form.
    fn map_set(
        &self,
        id: InboxId,
        partner: &Partner,
        ic: &CheckedInterchange,
        gs: &GroupInfo,
        set: &SetResult,
        tree: &SetTree,
    ) -> Result<PreparedDoc, String> {
        let label = format!(
            "set {} {} (interchange {}, group {})",
            set.set_id,
            set.control_number,
            ic.isa.control_number(),
            gs.control_number
        );
        let maps_partner = partner.maps.clone().unwrap_or_else(|| partner.id.clone());
        let (_, mut doc) = self
            .maps
            .translate_x12(tree, &self.grammars, Some(&maps_partner))
            .map_err(|e| format!("{label}: {e}"))?;
        let producer = format!("{}-{}", self.grammars.fingerprint, self.maps.fingerprint);
        let mut prov = x12_provenance(&ic.isa, gs, set, &partner.id, &producer);
        if let Some(p) = prov.as_object_mut() {
            p.insert("inbox_id".into(), Value::String(id.to_string()));
        }
        doc.insert("provenance".into(), prov);
        let typed: CanonicalDocument = serde_json::from_value(Value::Object(doc)).map_err(|e| {
            format!("{label}: the mapped document does not fit the canonical model: {e}")
        })?;
        PreparedDoc::new(&typed, &partner.id, label)
    }

    /// Stores one canonical document unless its business key was seen for another item.
    pub fn store_document(
        &self,
        id: InboxId,
        partner: &Partner,
        doc: &CanonicalDocument,
        test: bool,
        label: &str,
    ) -> Result<MapOutcome, String> {
        let prepared = PreparedDoc::new(doc, &partner.id, label.to_string())?;
        let result = std::cell::RefCell::new(None);
        self.store
            .atomically(&|tx| {
                let mut fx = Effects::default();
                let r = store_document_tx(tx, id, partner, &prepared, test, &mut fx)?;
                *result.borrow_mut() = Some((r, fx));
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        let (r, fx) = result
            .into_inner()
            .ok_or_else(|| "storing the document produced no outcome".to_string())?;
        fx.apply(&self.metrics);
        r
    }

    fn process_cxml(&self, id: InboxId, bytes: &[u8]) -> Result<Outcome, PipelineError> {
        let doc = match crate::cxml::decode(bytes, &crate::cxml::Limits::default()) {
            Ok(d) => d,
            Err(e) => return Ok(Outcome::Exception(format!("cXML cannot be read: {e}"))),
        };
        let env = crate::cxml::envelope(&doc);
        let from = env
            .from
            .first()
            .and_then(|c| c.identity())
            .map(|c| c.to_string())
            .unwrap_or_default();
        let domain = env
            .sender
            .first()
            .and_then(|c| c.domain())
            .unwrap_or("NetworkID")
            .to_string();
        let sender = env
            .sender
            .first()
            .and_then(|c| c.identity())
            .map(|c| c.to_string())
            .unwrap_or_else(|| from.clone());
        let partner = match self.config.partner_by_cxml(&from) {
            Some(p) => p.clone(),
            None if self.config.auto_partners => Partner {
                cxml_ids: vec![from.clone()],
                ..Partner::auto("ZZ", &from)
            },
            None => {
                return Ok(Outcome::Exception(format!(
                    "cXML from unknown partner `{from}`"
                )))
            }
        };
        let auth = partner
            .cxml_secret
            .as_ref()
            .map(|s| crate::cxml::PartnerAuth {
                domain: domain.clone(),
                identity: sender.clone(),
                secret: crate::cxml::Secret::new(s.clone()),
                deployment_mode: None,
            });
        let outcome = crate::cxml::check(&doc, auth.as_ref());
        let payload_id = env.payload_id.unwrap_or_default().to_string();
        let deployment = env.deployment_mode.map(str::to_string);
        let key = format!("cxml/{from}/{payload_id}");
        if let SeenOutcome::Duplicate(prev) = self.store.check_seen(
            &key,
            SeenOwner {
                inbox_id: Some(id),
                document_id: None,
            },
            Utc::now(),
        )? {
            if prev.owner.inbox_id != Some(id) {
                // Same payloadID, different content (an identical resend has the same receive
                // key and never gets here): 409 Conflict.
                let spec = crate::cxml::ResponseSpec {
                    version: outcome.version.as_deref(),
                    lang: outcome.lang.as_deref(),
                    message: Some(
                        "a document with this payloadID and different content was received before",
                    ),
                    payload: None,
                };
                let response =
                    crate::cxml::render_response(crate::cxml::StatusCode::Conflict, &spec, true);
                self.enqueue_cxml_response(id, &partner, response)?;
                return Ok(Outcome::Duplicate(format!(
                    "payloadID {payload_id} was already received with different content"
                )));
            }
        }
        let spec = crate::cxml::ResponseSpec {
            version: outcome.version.as_deref(),
            lang: outcome.lang.as_deref(),
            message: outcome.reason.as_deref(),
            payload: None,
        };
        let response = crate::cxml::render_response(outcome.status, &spec, true);
        self.enqueue_cxml_response(id, &partner, response)?;
        if !outcome.accepted() {
            return Ok(Outcome::Exception(format!(
                "cXML {payload_id} rejected with status {:?}: {}",
                outcome.status,
                outcome.reason.clone().unwrap_or_default()
            )));
        }
        if deployment.as_deref() == Some("test") && !partner.allow_test {
            return Ok(Outcome::Exception(format!(
                "cXML {payload_id} is test data and partner {} does not allow test traffic",
                partner.id
            )));
        }
        let test = deployment.as_deref() == Some("test");
        let maps_partner = partner.maps.clone().unwrap_or_else(|| partner.id.clone());
        let kind_name = env.document.map(|d| d.name.clone()).unwrap_or_default();
        if self
            .maps
            .cxml_map(&kind_name, Some(&maps_partner))
            .is_none()
        {
            // Requests we answer but do not keep (ProfileRequest, StatusUpdateRequest...).
            return Ok(Outcome::Done { documents: 0 });
        }
        let label = format!("cXML {kind_name} {payload_id}");
        let mapped = self
            .maps
            .translate_cxml(&doc, Some(&maps_partner))
            .map_err(|e| format!("{label}: {e}"));
        let typed = mapped.and_then(|(_, mut json)| {
            let producer = format!("{}-{}", self.grammars.fingerprint, self.maps.fingerprint);
            let mut prov = crate::map::docs::cxml_provenance(&doc, &partner.id, &producer);
            prov["inbox_id"] = Value::String(id.to_string());
            json.insert("provenance".into(), prov);
            serde_json::from_value::<CanonicalDocument>(Value::Object(json)).map_err(|e| {
                format!("{label}: the mapped document does not fit the canonical model: {e}")
            })
        });
        match typed.and_then(|d| self.store_document(id, &partner, &d, test, &label)) {
            Ok(MapOutcome::Stored) => Ok(Outcome::Done { documents: 1 }),
            Ok(MapOutcome::Duplicate(why)) | Err(why) => Ok(Outcome::Exception(why)),
        }
    }

    fn enqueue_cxml_response(
        &self,
        id: InboxId,
        partner: &Partner,
        response: String,
    ) -> Result<(), PipelineError> {
        // Responses to HTTP requests went back on the connection; the record keeps them for
        // identical resends and audit. Drop-folder requests get theirs in the partner folder.
        let channel = self
            .store
            .inbox_get(id)?
            .map(|e| e.meta.channel)
            .unwrap_or_default();
        let destination = if channel == "http-cxml" {
            "sync:http".to_string()
        } else {
            format!("folder:{}", partner.id)
        };
        self.store.enqueue(NewOutbound {
            idempotency_key: format!("cxml-response/{id}"),
            partner: partner.id.clone(),
            destination,
            kind: "cXML-Response".into(),
            document_id: None,
            inbox_id: Some(id),
            due: Utc::now(),
            payload: response.into_bytes(),
        })?;
        Ok(())
    }

    /// The stored cXML Response of an inbox item (the same one for an identical resend).
    pub fn cxml_response(&self, id: InboxId) -> Result<Option<Vec<u8>>, PipelineError> {
        let probe = self.store.enqueue(NewOutbound {
            idempotency_key: format!("cxml-response/{id}"),
            partner: String::new(),
            destination: "sync:http".into(),
            kind: "cXML-Response".into(),
            document_id: None,
            inbox_id: Some(id),
            due: Utc::now(),
            payload: Vec::new(),
        })?;
        if probe.fresh {
            // Nothing was stored for this item: take the probe back out of the queue.
            self.store.mark_delivered(probe.id, Utc::now())?;
            return Ok(None);
        }
        Ok(self.store.outbox_get(probe.id)?.map(|r| r.payload))
    }

    /// Items a restart must finish.
    pub fn resume(&self) -> Result<usize, PipelineError> {
        let pending = self.store.list_pending(100_000)?;
        for e in &pending {
            self.process(e.id)?;
        }
        self.store.flush()?;
        Ok(pending.len())
    }
}

pub enum MapOutcome {
    Stored,
    Duplicate(String),
}

/// An inbox item checked and mapped, waiting for its one commit.
pub enum Prepared {
    X12(PreparedX12),
    /// cXML is decoded at commit time (it is small and rare on the bulk path).
    Cxml(InboxId, Vec<u8>),
}

impl Prepared {
    pub fn id(&self) -> InboxId {
        match self {
            Prepared::X12(p) => p.id,
            Prepared::Cxml(id, _) => *id,
        }
    }
}

/// An X12 item after check and map: everything its commit needs except the store.
pub struct PreparedX12 {
    id: InboxId,
    interchanges: Vec<CheckedInterchange>,
    /// Parallel to `interchanges`.
    prepared: Vec<PreparedInterchange>,
    problems: Vec<String>,
    /// Why nothing in the payload could be read as X12, if so.
    unreadable: Option<String>,
}

struct PreparedInterchange {
    partner: Option<Partner>,
    is_ack: bool,
    /// The duplicate-interchange key (sender, receiver, ISA13).
    seen_key: String,
    /// The acks the partner gets for it, unless it turns out to be a duplicate.
    acks: PreparedAcks,
    /// One per accepted set, in order: the document to store, or why it could not be mapped.
    docs: Vec<Result<PreparedDoc, String>>,
}

/// The acknowledgements of one interchange, rendered ahead of its commit, each with its outbox
/// id and idempotency key (made here so the commit thread neither hashes nor formats them).
#[derive(Default)]
struct PreparedAcks {
    /// The 997 or 999, when the partner wants one and a group is not itself an ack.
    fa: Option<(OutboxId, String, Ack)>,
    /// The TA1, when ISA14 asks for one or the envelope has issues.
    ta1: Option<(OutboxId, String, Ack)>,
    /// Where the partner's acks for this interchange go (the duplicate TA1 too).
    destination: String,
}

impl PreparedAcks {
    /// The acks of interchange `n` of inbox item `id`.
    fn new(
        ic: &CheckedInterchange,
        partner: &Partner,
        stamp: &AckOptions,
        id: InboxId,
        n: usize,
    ) -> Self {
        let kind = match partner.ack {
            AckPreference::F997 => Some(AckKind::F997),
            AckPreference::F999 => Some(AckKind::F999),
            AckPreference::None => None,
        };
        let has_fa_work = ic.groups.iter().any(|(g, _, _)| g.functional_id != "FA");
        let fa = (kind.is_some() && has_fa_work).then(|| {
            let ack = Ack::new(
                ic,
                AckSpec {
                    kind,
                    ta1: Ta1Mode::Never,
                    ak2: partner.ak2_for_accepted,
                },
                stamp,
            );
            let key = format!("fa/{id}/{n}");
            (item_outbox_id(&id, &key), key, ack)
        });
        let wants_ta1 =
            ic.isa.ack_requested() || ic.result.as_ref().is_some_and(|r| !r.issues.is_empty());
        let ta1 = wants_ta1.then(|| {
            let ack = Ack::new(
                ic,
                AckSpec {
                    kind: None,
                    ta1: Ta1Mode::Auto,
                    ak2: true,
                },
                stamp,
            );
            let key = format!("ta1/{id}/{n}");
            (item_outbox_id(&id, &key), key, ack)
        });
        PreparedAcks {
            fa,
            ta1,
            destination: format!("folder:{}", partner.id),
        }
    }
}

/// What [`render_ack`] is asked for, besides the interchange and the numbers.
#[derive(Clone, Copy)]
struct AckSpec {
    kind: Option<AckKind>,
    ta1: Ta1Mode,
    ak2: bool,
}

/// One prepared acknowledgement: a template to stamp, or, in a shape the template does not
/// handle, what it takes to render it inside the transaction as before.
enum Ack {
    Template(AckTemplate),
    Render(AckSpec, AckOptions),
}

impl Ack {
    fn new(ic: &CheckedInterchange, spec: AckSpec, stamp: &AckOptions) -> Self {
        let render = |c| render_ack(ic, spec.kind, spec.ta1, spec.ak2, c, stamp);
        match AckTemplate::new(render) {
            Some(t) => Ack::Template(t),
            None => Ack::Render(spec, stamp.clone()),
        }
    }

    /// The ack with these control numbers. Pure: the transaction may call it more than once.
    fn bytes(&self, ic: &CheckedInterchange, numbers: ControlNumbers) -> Vec<u8> {
        match self {
            Ack::Template(t) => t.stamp(numbers),
            Ack::Render(spec, stamp) => {
                render_ack(ic, spec.kind, spec.ta1, spec.ak2, numbers, stamp)
            }
        }
    }
}

/// A canonical document in the form the store keeps it.
pub struct PreparedDoc {
    label: String,
    kind: &'static str,
    business_key: String,
    /// The business key's duplicate key, `bk/` + the business key.
    seen_key: String,
    po_numbers: Vec<String>,
    body: Vec<u8>,
    /// What the store files it under, hashed here rather than on the committing thread.
    key_hash: DocKeyHash,
}

impl PreparedDoc {
    fn new(doc: &CanonicalDocument, partner: &str, label: String) -> Result<Self, String> {
        // Keys sorted, as the `Value` route wrote them: the sorted writer gives the same bytes
        // without building a `Value`; whatever it cannot write exactly goes that route.
        let mut body = Vec::new();
        if crate::canonical::json::write_sorted(doc, &mut body).is_err() {
            body = serde_json::to_value(doc)
                .and_then(|v| serde_json::to_vec(&v))
                .map_err(|e| e.to_string())?;
        }
        let business_key = doc.business_key().to_string();
        let kind = doc.kind().as_str();
        Ok(PreparedDoc {
            label,
            kind,
            key_hash: DocKeyHash::new(partner, kind, &business_key),
            seen_key: format!("bk/{business_key}"),
            business_key,
            po_numbers: doc.po_numbers().iter().map(|p| p.to_string()).collect(),
            body,
        })
    }
}

/// Metric updates decided inside a transaction closure, applied once after it committed (the
/// closure may run more than once).
#[derive(Default)]
struct Effects {
    acks: u64,
    duplicates: u64,
    documents: Vec<(String, &'static str)>,
}

impl Effects {
    fn apply(&self, m: &Metrics) {
        m.acks.inc_by(self.acks);
        m.duplicates.inc_by(self.duplicates);
        for (partner, kind) in &self.documents {
            m.document(partner, kind);
        }
    }
}

fn final_stage(outcome: &Outcome) -> Stage {
    match outcome {
        Outcome::Done { .. } => Stage::Done,
        Outcome::Exception(reason) => Stage::Exception {
            reason: reason.clone(),
        },
        Outcome::Duplicate(_) => Stage::Duplicate,
    }
}

/// Enqueues an ack with freshly allocated control numbers; 1 if it is new, 0 if the item had
/// enqueued it before (a re-run).
/// `(key, destination)`: its idempotency key and where it goes.
fn enqueue_ack(
    tx: &dyn StoreTx,
    partner: &Partner,
    inbox: InboxId,
    (key, item_id, destination): (&str, Option<OutboxId>, &str),
    kind: &str,
    render: &dyn Fn(ControlNumbers) -> Vec<u8>,
) -> crate::store::Result<u64> {
    let build =
        |c: ControlNumbers| -> Result<NewOutbound, Box<dyn std::error::Error + Send + Sync>> {
            Ok(NewOutbound {
                idempotency_key: key.to_string(),
                partner: partner.id.clone(),
                destination: destination.to_string(),
                kind: kind.to_string(),
                document_id: None,
                inbox_id: Some(inbox),
                due: Utc::now(),
                payload: render(c),
            })
        };
    let e = tx.enqueue_outbound(Some(&partner.id), &build, item_id)?;
    Ok(u64::from(e.fresh))
}

/// Stores one document inside a transaction unless its business key belongs to another item.
/// The outer error is the store's (the transaction fails); the inner one is a finding.
fn store_document_tx(
    tx: &dyn StoreTx,
    id: InboxId,
    partner: &Partner,
    doc: &PreparedDoc,
    test: bool,
    fx: &mut Effects,
) -> crate::store::Result<Result<MapOutcome, String>> {
    // A conflict must reach the transaction so it is retried; any other store error becomes a
    // finding on this item, as it always has.
    fn finding<T>(r: crate::store::Result<T>) -> crate::store::Result<Result<T, String>> {
        match r {
            Err(StoreError::Conflict) => Err(StoreError::Conflict),
            Err(e) => Ok(Err(e.to_string())),
            Ok(v) => Ok(Ok(v)),
        }
    }
    let key = &doc.business_key;
    let seen = match finding(tx.check_seen(
        &doc.seen_key,
        SeenOwner {
            inbox_id: Some(id),
            document_id: None,
        },
        Utc::now(),
    ))? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    if let SeenOutcome::Duplicate(prev) = seen {
        if prev.owner.inbox_id != Some(id) {
            fx.duplicates += 1;
            let owner = prev
                .owner
                .inbox_id
                .map(|i| i.to_string())
                .unwrap_or_default();
            return Ok(Ok(MapOutcome::Duplicate(format!("{}: business key {key} was already received in inbox item {owner}; not stored again", doc.label))));
        }
    }
    let meta = DocumentMeta {
        partner: partner.id.clone(),
        kind: doc.kind.to_string(),
        po_numbers: doc.po_numbers.clone(),
        business_key: key.clone(),
        inbox_id: Some(id),
        created_at: Utc::now(),
    };
    let doc_id = match finding(tx.put_document(meta, &doc.body, Some(&doc.key_hash)))? {
        Ok((doc_id, _)) => doc_id,
        Err(e) => return Ok(Err(e)),
    };
    // The audit line is best effort, as before: only a conflict fails the transaction.
    finding(tx.append_audit(&AuditEvent {
        at: Utc::now(),
        actor: "pipeline".into(),
        action: if test {
            "stored test document (never posted)".into()
        } else {
            "stored document".into()
        },
        inbox_id: Some(id),
        document_id: Some(doc_id),
        outbox_id: None,
        detail: doc.label.clone(),
    }))?
    .ok();
    fx.documents.push((partner.id.clone(), doc.kind));
    Ok(Ok(MapOutcome::Stored))
}

/// Operator replay: puts an item back to `Received` and runs it again from its stored payload.
pub fn replay(gw: &Gateway, id: InboxId) -> Result<Outcome, String> {
    let entry = gw
        .store
        .inbox_get(id)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no inbox item {id}"))?;
    if !matches!(
        entry.stage,
        Stage::Exception { .. } | Stage::Done | Stage::Duplicate
    ) {
        return Err(format!("inbox item {id} is still in progress"));
    }
    gw.store
        .mark_replay(id, Stage::Received, "operator")
        .map_err(|e| e.to_string())?;
    let outcome = gw.process(id).map_err(|e| e.to_string())?;
    gw.store.flush().map_err(|e| e.to_string())?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stamped template is byte for byte the ack rendered with those numbers, for every
    /// interchange of the X12 test data and every kind of ack the pipeline renders.
    #[test]
    fn a_stamped_ack_template_is_the_ack_rendered_with_its_numbers() {
        let grammars = Grammars::embedded().expect("grammars");
        let stamp = AckOptions::new(None, Ta1Mode::Never);
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/x12");
        let mut templates = 0;
        for entry in std::fs::read_dir(dir).expect("test data") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("file");
            let (collector, _) = envelope::check(
                &bytes[..],
                &grammars,
                Default::default(),
                Collector::default(),
            )
            .expect("check");
            for ic in &collector.interchanges {
                for spec in [
                    (Some(AckKind::F997), Ta1Mode::Never, true),
                    (Some(AckKind::F997), Ta1Mode::Never, false),
                    (Some(AckKind::F999), Ta1Mode::Never, true),
                    (None, Ta1Mode::Auto, true),
                    (None, Ta1Mode::Only, true),
                ] {
                    let ack = Ack::new(
                        ic,
                        AckSpec {
                            kind: spec.0,
                            ta1: spec.1,
                            ak2: spec.2,
                        },
                        &stamp,
                    );
                    templates += usize::from(matches!(ack, Ack::Template(_)));
                    for (isa13, gs06) in
                        [(1, 1), (9, 10), (12_345, 999), (999_999_999, 999_999_999)]
                    {
                        let n = ControlNumbers { isa13, gs06 };
                        assert_eq!(
                            String::from_utf8_lossy(&ack.bytes(ic, n)),
                            String::from_utf8_lossy(&render_ack(
                                ic, spec.0, spec.1, spec.2, n, &stamp
                            )),
                        );
                    }
                }
            }
        }
        assert!(templates > 50, "only {templates} acks became templates");
    }

    #[test]
    fn placeholder_slots_refuse_what_the_ack_writer_does_not_write() {
        assert!(placeholder_slots(b"").is_none());
        assert!(placeholder_slots(b"GS*FA*A*B*20240101*1200*0*X*004010~").is_none());
        let isa = "ISA*00*          *00*          *ZZ*A              *ZZ*B              *240101*1200*U*00401*000000000*0*P*>~";
        // An interchange without its IEA, and one with a group left open.
        assert!(placeholder_slots(isa.as_bytes()).is_none());
        let open_group = format!("{isa}\nGS*FA*A*B*20240101*1200*0*X*004010~\nIEA*1*000000000~\n");
        assert!(placeholder_slots(open_group.as_bytes()).is_none());
        let whole =
            format!("{isa}\nGS*FA*A*B*20240101*1200*0*X*004010~\nGE*1*0~\nIEA*1*000000000~\n");
        assert_eq!(
            placeholder_slots(whole.as_bytes()).map(|s| s.len()),
            Some(4)
        );
    }
}
