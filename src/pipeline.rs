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
    AuditEvent, ControlNumbers, DocumentMeta, InboxId, InboxMeta, NewOutbound, Receipt,
    SeenOutcome, SeenOwner, Stage, Store,
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

    fn audit(&self, id: InboxId, action: &str, detail: String) -> Result<(), PipelineError> {
        self.store.append_audit(&AuditEvent {
            at: Utc::now(),
            actor: "pipeline".into(),
            action: action.into(),
            inbox_id: Some(id),
            document_id: None,
            outbox_id: None,
            detail,
        })?;
        Ok(())
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
        // One span per inbox item; partner and control numbers are recorded once known.
        let span = tracing::info_span!("inbox_item", inbox = %id, partner = tracing::field::Empty, isa13 = tracing::field::Empty);
        let _guard = span.enter();
        let started = std::time::Instant::now();
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
        let outcome = if crate::cxml::looks_like_cxml(&head) {
            let mut bytes = head;
            payload.read_to_end(&mut bytes)?;
            self.process_cxml(id, &bytes)?
        } else {
            self.process_x12(id, &head, payload)?
        };
        match &outcome {
            Outcome::Done { .. } => {
                self.store.set_stage(id, Stage::Done, "pipeline")?;
            }
            Outcome::Exception(reason) => {
                self.store.set_stage(
                    id,
                    Stage::Exception {
                        reason: reason.clone(),
                    },
                    "pipeline",
                )?;
                self.metrics.exception(reason);
            }
            Outcome::Duplicate(_) => {
                self.store.set_stage(id, Stage::Duplicate, "pipeline")?;
                self.metrics.duplicates.inc();
            }
        }
        self.metrics
            .processing
            .observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    fn process_x12(
        &self,
        id: InboxId,
        head: &[u8],
        rest: impl Read,
    ) -> Result<Outcome, PipelineError> {
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
        self.store.set_stage(id, Stage::Checked, "pipeline")?;
        if summary.interchanges == 0 {
            let why = collector
                .problems
                .first()
                .cloned()
                .unwrap_or_else(|| "not X12 or cXML".into());
            return Ok(Outcome::Exception(format!("not a document we read: {why}")));
        }
        let stamp = AckOptions::new(None, Ta1Mode::Never);
        let mut reasons: Vec<String> = collector.problems.clone();
        let mut documents = 0;
        let mut duplicate_of = None;
        for (n, ic) in collector.interchanges.iter().enumerate() {
            let partner = match self.partner_for_x12(ic.isa.sender_qualifier(), ic.isa.sender_id())
            {
                Some(p) => p,
                None => {
                    reasons.push(format!(
                        "interchange {}: unknown partner {}:{}",
                        ic.isa.control_number(),
                        ic.isa.sender_qualifier(),
                        ic.isa.sender_id()
                    ));
                    continue;
                }
            };
            tracing::Span::current().record("partner", partner.id.as_str());
            tracing::Span::current().record("isa13", ic.isa.control_number());
            let is_ack = ic.groups.iter().all(|(g, _, _)| g.functional_id == "FA")
                && !ic.groups.is_empty()
                || ic
                    .result
                    .as_ref()
                    .is_some_and(|r| r.ta1_segments > 0 && r.groups == 0);
            // Duplicate interchange: same sender, receiver and ISA13 within the window.
            let key = format!(
                "ic/{}:{}/{}:{}/{}",
                ic.isa.sender_qualifier(),
                ic.isa.sender_id(),
                ic.isa.receiver_qualifier(),
                ic.isa.receiver_id(),
                ic.isa.control_number()
            );
            if let SeenOutcome::Duplicate(prev) = self.store.check_seen(
                &key,
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
                        let ic2 = ic.clone();
                        let stamp2 = stamp.clone();
                        self.enqueue_ack(
                            &partner,
                            id,
                            &format!("ta1dup/{id}/{n}"),
                            "TA1",
                            move |c| duplicate_ta1(&ic2, c, &stamp2),
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
                let (kind, ta1) = match partner.ack {
                    AckPreference::F997 => (Some(AckKind::F997), Ta1Mode::Never),
                    AckPreference::F999 => (Some(AckKind::F999), Ta1Mode::Never),
                    AckPreference::None => (None, Ta1Mode::Never),
                };
                let has_fa_work = ic.groups.iter().any(|(g, _, _)| g.functional_id != "FA");
                if kind.is_some() && has_fa_work {
                    let ic2 = ic.clone();
                    let stamp2 = stamp.clone();
                    let ak2 = partner.ak2_for_accepted;
                    self.enqueue_ack(&partner, id, &format!("fa/{id}/{n}"), "FA", move |c| {
                        render_ack(&ic2, kind, ta1, ak2, c, &stamp2)
                    })?;
                }
                let wants_ta1 = ic.isa.ack_requested()
                    || ic.result.as_ref().is_some_and(|r| !r.issues.is_empty());
                if wants_ta1 {
                    let ic2 = ic.clone();
                    let stamp2 = stamp.clone();
                    self.enqueue_ack(&partner, id, &format!("ta1/{id}/{n}"), "TA1", move |c| {
                        render_ack(&ic2, None, Ta1Mode::Auto, true, c, &stamp2)
                    })?;
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
                        .issues
                        .first()
                        .map(|i| {
                            format!(" at segment {} {}: {}", i.position, i.segment_id, i.message)
                        })
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
            self.store.set_stage(id, Stage::Acked, "pipeline")?;
            if is_ack {
                continue;
            }
            let test = ic.isa.usage() == "T";
            for (g, s, tree) in &ic.trees {
                let (gs, sets, _) = &ic.groups[*g];
                let set = &sets[*s];
                match self.map_set(id, &partner, ic, gs, set, tree, test) {
                    Ok(MapOutcome::Stored) => documents += 1,
                    Ok(MapOutcome::Duplicate(why)) => reasons.push(why),
                    Err(why) => reasons.push(why),
                }
            }
        }
        self.store.set_stage(id, Stage::Mapped, "pipeline")?;
        self.audit(
            id,
            "processed",
            format!("{documents} documents; {} findings", reasons.len()),
        )?;
        if let Some(d) = duplicate_of {
            if documents == 0 && reasons.is_empty() {
                return Ok(Outcome::Duplicate(d));
            }
            reasons.push(d);
        }
        if reasons.is_empty() {
            Ok(Outcome::Done { documents })
        } else {
            Ok(Outcome::Exception(reasons.join("\n")))
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

    fn enqueue_ack(
        &self,
        partner: &Partner,
        inbox: InboxId,
        key: &str,
        kind: &str,
        render: impl Fn(ControlNumbers) -> Vec<u8>,
    ) -> Result<(), PipelineError> {
        let destination = format!("folder:{}", partner.id);
        let build =
            |c: ControlNumbers| -> Result<NewOutbound, Box<dyn std::error::Error + Send + Sync>> {
                Ok(NewOutbound {
                    idempotency_key: key.to_string(),
                    partner: partner.id.clone(),
                    destination: destination.clone(),
                    kind: kind.to_string(),
                    document_id: None,
                    inbox_id: Some(inbox),
                    due: Utc::now(),
                    payload: render(c),
                })
            };
        let e = self.store.enqueue_outbound(&partner.id, &build)?;
        if e.fresh {
            self.metrics.acks.inc();
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map_set(
        &self,
        id: InboxId,
        partner: &Partner,
        ic: &CheckedInterchange,
        gs: &GroupInfo,
        set: &SetResult,
        tree: &SetTree,
        test: bool,
    ) -> Result<MapOutcome, String> {
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
        self.store_document(id, partner, &typed, test, &label)
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
        let key = doc.business_key().to_string();
        let seen = self
            .store
            .check_seen(
                &format!("bk/{key}"),
                SeenOwner {
                    inbox_id: Some(id),
                    document_id: None,
                },
                Utc::now(),
            )
            .map_err(|e| e.to_string())?;
        if let SeenOutcome::Duplicate(prev) = seen {
            if prev.owner.inbox_id != Some(id) {
                self.metrics.duplicates.inc();
                let owner = prev
                    .owner
                    .inbox_id
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                return Ok(MapOutcome::Duplicate(format!("{label}: business key {key} was already received in inbox item {owner}; not stored again")));
            }
        }
        let body = serde_json::to_value(doc).map_err(|e| e.to_string())?;
        let meta = DocumentMeta {
            partner: partner.id.clone(),
            kind: doc.kind().to_string(),
            po_numbers: doc.po_numbers().iter().map(|p| p.to_string()).collect(),
            business_key: key,
            inbox_id: Some(id),
            created_at: Utc::now(),
        };
        let (doc_id, _) = self
            .store
            .put_document_value(meta, &body)
            .map_err(|e| e.to_string())?;
        let _ = self.store.append_audit(&AuditEvent {
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
            detail: label.to_string(),
        });
        self.metrics.document(&partner.id, doc.kind().as_str());
        Ok(MapOutcome::Stored)
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
        self.store.set_stage(id, Stage::Checked, "pipeline")?;
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
        self.store.set_stage(id, Stage::Acked, "pipeline")?;
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
            self.store.set_stage(id, Stage::Mapped, "pipeline")?;
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
        self.store.set_stage(id, Stage::Mapped, "pipeline")?;
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
