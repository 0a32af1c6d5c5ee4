//! Whole documents through the maps: X12 input validated and translated into typed canonical
//! JSON (with provenance), and canonical JSON rendered into an X12 interchange. The CLI, the
//! golden cases and the pipeline all call these, so they behave the same everywhere.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{json, Value};

use super::node::{self, Node};
use super::MapSet;
use crate::x12::envelope::{self, GroupInfo, IsaInfo, SetResult, Sink};
use crate::x12::grammar::Grammars;
use crate::x12::lexer::Delimiters;
use crate::x12::offload::{Parallel, SetContext, SetOutput, SetWork};
use crate::x12::tree::SetTree;
use crate::x12::validate::Leniency;
use crate::x12::writer::{InterchangeHeader, InterchangeWriter, SegmentWriter};

/// Provenance of a document translated from an X12 set.
pub fn x12_provenance(
    isa: &IsaInfo,
    gs: &GroupInfo,
    set: &SetResult,
    partner: &str,
    producer: &str,
) -> Value {
    let fields = provenance_fields(
        gs.version.get(..6).unwrap_or(&gs.version),
        partner,
        isa.control_number(),
        &gs.control_number,
        &set.control_number,
        producer,
    );
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.into_owned())))
            .collect(),
    )
}

/// The keys and values of an X12 document's provenance, in one place for both the `Value`
/// and the `Node` routes.
fn provenance_fields<'a>(
    version: &'a str,
    partner: &'a str,
    interchange: &'a str,
    group: &'a str,
    set: &'a str,
    producer: &'a str,
) -> [(&'static str, Cow<'a, str>); 8] {
    [
        ("source_format", Cow::Borrowed("x12")),
        ("version", Cow::Borrowed(version)),
        ("partner", Cow::Borrowed(partner)),
        ("interchange_control", Cow::Borrowed(interchange)),
        ("group_control", Cow::Borrowed(group)),
        ("set_control", Cow::Borrowed(set)),
        (
            "received_at",
            // As the typed `DateTime` writes it (`Z`), so the layout writes it as it is.
            Cow::Owned(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        ),
        ("producer_hash", Cow::Borrowed(producer)),
    ]
}

/// Checks a mapped document against the canonical model (ids, dates, decimals, enums) and
/// returns it in its canonical JSON form.
pub fn typed(doc: Value, kind: &str) -> Result<Value, String> {
    let d: crate::canonical::CanonicalDocument = serde_json::from_value(doc)
        .map_err(|e| format!("the mapped {kind} does not fit the canonical model: {e}"))?;
    serde_json::to_value(&d).map_err(|e| e.to_string())
}

/// The typed document of a mapped document, read in place. The kind is dispatched here rather
/// than by `CanonicalDocument`'s tagged `Deserialize`, which first copies the whole document into
/// a buffer of its own; the `kind` key is then an unknown field the document types ignore.
fn typed_document(doc: &Value) -> Result<crate::canonical::CanonicalDocument, serde_json::Error> {
    use crate::canonical::{
        CanonicalDocument, FunctionalAck, GoodsReceipt, Invoice, OrderAck, PurchaseOrder,
        ShipNotice,
    };
    use serde::Deserialize;
    Ok(match doc.get("kind").and_then(Value::as_str) {
        Some("purchase_order") => PurchaseOrder::deserialize(doc)?.into(),
        Some("order_ack") => OrderAck::deserialize(doc)?.into(),
        Some("ship_notice") => ShipNotice::deserialize(doc)?.into(),
        Some("goods_receipt") => GoodsReceipt::deserialize(doc)?.into(),
        Some("invoice") => Invoice::deserialize(doc)?.into(),
        Some("functional_ack") => FunctionalAck::deserialize(doc)?.into(),
        _ => CanonicalDocument::deserialize(doc)?,
    })
}

/// `typed` as one line of JSON text: the same bytes as `typed(doc, kind)?.to_string()`, written
/// straight from the typed document (no second `Value`). A document that does not fit, or that
/// the direct writer cannot reproduce exactly, goes through `typed` itself, so errors read the
/// same.
pub fn typed_json(doc: Value, kind: &str) -> Result<String, String> {
    if let Ok(d) = typed_document(&doc) {
        if let Ok(text) = crate::canonical::json::to_sorted_string(&d) {
            return Ok(text);
        }
    }
    typed(doc, kind).map(|v| v.to_string())
}

/// An accepted set on a mapping worker, with the envelope values it needs.
struct Job<'a> {
    tree: SetTree,
    interchange: &'a str,
    group: &'a str,
    partner: &'a str,
}

impl Job<'_> {
    fn provenance<'a>(&'a self, producer: &'a str) -> [(&'static str, Cow<'a, str>); 8] {
        let t = &self.tree;
        provenance_fields(
            &t.version,
            self.partner,
            self.interchange,
            self.group,
            &t.control_number,
            producer,
        )
    }
}

/// Maps and types one accepted set (`translate_x12`'s work after validation); `finish` types the
/// mapped document (`typed` or `typed_json`).
fn map_job<T>(
    job: &Job<'_>,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    producer: &str,
    finish: fn(Value, &str) -> Result<T, String>,
) -> Result<T, String> {
    let t = &job.tree;
    let label = || {
        format!(
            "set {} {} (interchange {}, group {})",
            t.set_id, t.control_number, job.interchange, job.group
        )
    };
    match maps.translate_x12(t, grammars, partner) {
        Ok((kind, mut doc)) => {
            let prov = job
                .provenance(producer)
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.into_owned())))
                .collect();
            doc.insert("provenance".into(), Value::Object(prov));
            finish(Value::Object(doc), &kind).map_err(|e| format!("{}: {e}", label()))
        }
        Err(e) => Err(format!("{}: {e}", label())),
    }
}

/// `map_job` for JSON lines: maps into frames written as JSON straight away (a map with a plan,
/// see `layout`) or into the light `Node` tree (keys and text borrowed) and writes the typed
/// document as text. A set that does not map, or a document that does not fit, goes the `Value`
/// route instead, so what comes out, errors included, is what that route gives.
fn map_job_json(
    job: &Job<'_>,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    producer: &str,
) -> Result<String, String> {
    if let Some(text) = map_node_json(job, grammars, maps, partner, producer) {
        return Ok(text);
    }
    map_job(job, grammars, maps, partner, producer, typed_json)
}

/// The fast route of `map_job_json`: `None` when the set does not map or the document does not
/// fit the canonical model. A map with a plan writes the JSON straight from its rules' values
/// (`layout`); any other, or a document its plan's writer cannot take, maps into the light
/// `Node` tree and goes through the typed document (same bytes).
fn map_node_json(
    job: &Job<'_>,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    producer: &str,
) -> Option<String> {
    let prov = job.provenance(producer);
    if let Some(text) = maps.translate_x12_planned(&job.tree, grammars, partner, &prov) {
        return Some(text);
    }
    let (kind, mut doc) = maps
        .translate_x12_into::<Node>(&job.tree, grammars, partner)
        .ok()?;
    let prov = prov.into_iter().map(|(k, v)| (k, Node::Text(v))).collect();
    node::insert(&mut doc, "provenance", Node::Object(prov));
    typed_node(&Node::Object(doc), kind)
}

/// The typed document of a mapped `Node` tree as canonical JSON text; `None` when it does not
/// fit (or is of a kind read only through `CanonicalDocument`).
fn typed_node(doc: &Node<'_>, kind: &str) -> Option<String> {
    use crate::canonical::{
        CanonicalDocument, FunctionalAck, GoodsReceipt, Invoice, OrderAck, PurchaseOrder,
        ShipNotice,
    };
    use serde::Deserialize;
    fn read<'de, T: Deserialize<'de> + Into<CanonicalDocument>>(
        doc: &'de Node<'_>,
    ) -> Option<CanonicalDocument> {
        T::deserialize(doc).ok().map(Into::into)
    }
    let d = match kind {
        "purchase_order" => read::<PurchaseOrder>(doc)?,
        "order_ack" => read::<OrderAck>(doc)?,
        "ship_notice" => read::<ShipNotice>(doc)?,
        "goods_receipt" => read::<GoodsReceipt>(doc)?,
        "invoice" => read::<Invoice>(doc)?,
        "functional_ack" => read::<FunctionalAck>(doc)?,
        _ => return None,
    };
    crate::canonical::json::to_sorted_string(&d).ok()
}

/// What a mapping worker does with one accepted set.
type Work<T> = fn(&Job<'_>, &Grammars, &MapSet, Option<&str>, &str) -> Result<T, String>;

/// Translates every accepted set of an X12 input; rejected sets are reported, not translated.
/// Calls `out` with each document (or the reason it could not be made), in input order.
///
/// Sets are independent, so each is validated, held, mapped and typed on a worker thread (one
/// per core, see `envelope::check_work`) while the reader goes on through the envelopes; results
/// come back in input order.
pub fn translate_x12<R: Read>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    out: impl FnMut(Result<Value, String>),
) -> io::Result<envelope::Summary> {
    translate_sets(
        input,
        grammars,
        maps,
        partner,
        |job, g, m, p, producer| map_job(job, g, m, p, producer, typed),
        out,
    )
}

/// `translate_x12` with each document as one line of JSON text (without the newline): the same
/// bytes as the `Value`'s `to_string()`, made without building the canonical `Value`. What
/// `edigate translate` prints.
pub fn translate_x12_json<R: Read>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    out: impl FnMut(Result<String, String>),
) -> io::Result<envelope::Summary> {
    translate_sets(input, grammars, maps, partner, map_job_json, out)
}

/// `translate_x12_json` through its fast route only (the `Node` tree, typed and written
/// straight to text), with no fallback to the `Value` route: a set that route does not take is
/// an error here. For tests, which check that the fast route is the one taken.
#[doc(hidden)]
pub fn translate_x12_json_fast_only<R: Read>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    out: impl FnMut(Result<String, String>),
) -> io::Result<envelope::Summary> {
    translate_sets(
        input,
        grammars,
        maps,
        partner,
        |job, g, m, p, producer| {
            map_node_json(job, g, m, p, producer).ok_or_else(|| {
                let t = &job.tree;
                format!(
                    "set {} {}: the fast route was not taken",
                    t.set_id, t.control_number
                )
            })
        },
        out,
    )
}

/// The mapping run on workers for each accepted set.
struct MapWork<'a, T> {
    grammars: &'a Grammars,
    maps: &'a MapSet,
    partner: Option<&'a str>,
    producer: String,
    work: Work<T>,
}

impl<T: Send + 'static> SetWork for MapWork<'_, T> {
    fn accepted(&self, tree: SetTree, ctx: &SetContext) -> SetOutput {
        // Acknowledgements are not translated (`Deliver` skips them too).
        if ctx.gs.functional_id == "FA" {
            return Box::new(());
        }
        let job = Job {
            tree,
            interchange: ctx.isa.control_number(),
            group: &ctx.gs.control_number,
            partner: self.partner.unwrap_or_else(|| ctx.isa.sender_id()),
        };
        let r: Result<T, String> =
            (self.work)(&job, self.grammars, self.maps, self.partner, &self.producer);
        Box::new(r)
    }
}

/// Hands each set's result to `out`, in input order: the mapped document, or why there is none.
struct Deliver<T, F> {
    out: F,
    result: std::marker::PhantomData<fn() -> T>,
}

impl<T: 'static, F: FnMut(Result<T, String>)> Sink for Deliver<T, F> {
    fn wants_segments(&self) -> bool {
        false
    }

    fn set_done_with(
        &mut self,
        isa: &IsaInfo,
        gs: &GroupInfo,
        set: &SetResult,
        output: Option<SetOutput>,
    ) {
        let label = || {
            format!(
                "set {} {} (interchange {}, group {})",
                set.set_id,
                set.control_number,
                isa.control_number(),
                gs.control_number
            )
        };
        if !set.status.is_accepted() {
            let first = set
                .first_finding()
                .map(|f| format!(": {f}"))
                .unwrap_or_default();
            (self.out)(Err(format!(
                "{} was rejected by validation and is not translated{first}",
                label()
            )));
            return;
        }
        if gs.functional_id == "FA" {
            return;
        }
        let r = match output.map(|o| o.downcast::<Result<T, String>>()) {
            Some(Ok(r)) => *r,
            _ => Err(format!(
                "{}: internal error: the set was not mapped",
                label()
            )),
        };
        (self.out)(r);
    }
}

fn translate_sets<R: Read, T: Send + 'static>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    work: Work<T>,
    out: impl FnMut(Result<T, String>),
) -> io::Result<envelope::Summary> {
    let work = MapWork {
        grammars,
        maps,
        partner,
        producer: format!("{}-{}", grammars.fingerprint, maps.fingerprint),
        work,
    };
    let sink = Deliver {
        out,
        result: std::marker::PhantomData,
    };
    envelope::check_work(
        input,
        grammars,
        Leniency::default(),
        sink,
        Parallel::auto(),
        &work,
    )
    .map(|(_, s)| s)
}

/// Reads canonical documents: one JSON document, or JSON lines.
pub fn read_documents(path: &Path) -> io::Result<Vec<Value>> {
    let mut text = String::new();
    BufReader::new(File::open(path)?).read_to_string(&mut text)?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return Ok(match v {
            Value::Array(a) => a,
            v => vec![v],
        });
    }
    let mut docs = Vec::new();
    for (i, line) in io::Cursor::new(text).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(&line).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("line {}: {e}", i + 1))
        })?;
        docs.push(v);
    }
    Ok(docs)
}

/// Envelope ids for rendering: the partner's, or the reverse of the document's provenance.
pub struct RenderIds {
    pub sender: (String, String),
    pub receiver: (String, String),
}

/// Renders documents as one interchange (one group per document kind, in order).
pub fn render_x12(
    docs: &[Value],
    grammars: &Grammars,
    maps: &MapSet,
    version: &str,
    partner: Option<&str>,
    ids: &RenderIds,
    control: u64,
) -> Result<Vec<u8>, String> {
    let now = chrono::Utc::now();
    let isa12 = if version >= "005010" {
        "00501"
    } else {
        "00401"
    };
    let header = InterchangeHeader {
        sender_qualifier: ids.sender.0.clone(),
        sender_id: ids.sender.1.clone(),
        receiver_qualifier: ids.receiver.0.clone(),
        receiver_id: ids.receiver.1.clone(),
        date: now.format("%y%m%d").to_string(),
        time: now.format("%H%M").to_string(),
        version: isa12.into(),
        control_number: control,
        ack_requested: false,
        usage: "P".into(),
    };
    let d = Delimiters {
        element: b'*',
        component: b':',
        repetition: if isa12 >= "00402" { Some(b'^') } else { None },
        segment: b'~',
    };
    let mut w = InterchangeWriter::begin(
        Vec::new(),
        &header,
        SegmentWriter {
            delimiters: d,
            newline: true,
        },
    )
    .map_err(|e| e.to_string())?;
    let mut group_kind = String::new();
    let mut gs_ctl = 0;
    for (i, doc) in docs.iter().enumerate() {
        let (set_id, segs) = maps
            .render_x12(doc, grammars, version, partner)
            .map_err(|e| format!("document {}: {e}", i + 1))?;
        let fg = grammars
            .named(version)
            .and_then(|v| v.sets.get(&set_id))
            .map(|s| s.functional_group.clone())
            .unwrap_or_default();
        if fg != group_kind {
            if !group_kind.is_empty() {
                w.end_group().map_err(|e| e.to_string())?;
            }
            gs_ctl += 1;
            w.begin_group(
                [
                    &fg,
                    &ids.sender.1,
                    &ids.receiver.1,
                    &now.format("%Y%m%d").to_string(),
                    &now.format("%H%M").to_string(),
                ],
                gs_ctl,
                version,
            )
            .map_err(|e| e.to_string())?;
            group_kind = fg;
        }
        w.begin_set(&set_id, &format!("{:04}", i + 1), None)
            .map_err(|e| e.to_string())?;
        for s in &segs {
            w.segment(s)
                .map_err(|e| format!("document {}: {e}", i + 1))?;
        }
        w.end_set().map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())
}

pub fn provenance_ids(doc: &Value, partner: Option<&str>) -> RenderIds {
    let them = partner
        .map(str::to_string)
        .or_else(|| {
            doc.pointer("/provenance/partner")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "PARTNER".into());
    RenderIds {
        sender: ("ZZ".into(), "EDIGATE".into()),
        receiver: ("ZZ".into(), them),
    }
}

// ---- cXML ---------------------------------------------------------------------------------

/// The envelope a rendered cXML request goes out in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CxmlEnvelope {
    pub payload_id: String,
    pub timestamp: String,
    /// (Credential domain, Identity) of the originator (edigate, for the hospital).
    pub from: (String, String),
    /// (Credential domain, Identity) of the recipient: the partner.
    pub to: (String, String),
    pub user_agent: String,
    pub deployment_mode: String,
    pub version: String,
}

impl CxmlEnvelope {
    /// To the partner (`--partner`, else the document's provenance partner), a new payloadID
    /// (`datetime.pid.random@edigate`) and the current time.
    pub fn fresh(doc: &Value, partner: Option<&str>) -> CxmlEnvelope {
        use sha2::Digest;
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let ids = provenance_ids(doc, partner);
        let now = chrono::Utc::now();
        let mut h = sha2::Sha256::new();
        h.update(now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
        h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        h.update(doc.to_string().as_bytes());
        let random = hex::encode(&h.finalize()[..4]);
        CxmlEnvelope {
            payload_id: format!(
                "{}.{}.{random}@edigate",
                now.format("%Y%m%dT%H%M%S%.3f"),
                std::process::id()
            ),
            timestamp: now.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
            from: ("NetworkID".into(), ids.sender.1),
            to: ("NetworkID".into(), ids.receiver.1),
            user_agent: format!("edigate/{}", env!("CARGO_PKG_VERSION")),
            deployment_mode: "production".into(),
            version: crate::cxml::writer::DEFAULT_VERSION.into(),
        }
    }
}

fn credential(party: &str, (domain, identity): &(String, String)) -> crate::cxml::Element<'static> {
    use crate::cxml::Element;
    Element::new(party).with_child(
        Element::new("Credential")
            .with_attr("domain", domain.clone())
            .with_child(Element::new("Identity").with_text(identity.clone())),
    )
}

/// Wraps a request document element (`OrderRequest`...) in a full cXML envelope and writes it,
/// DOCTYPE included, pretty-printed.
pub fn write_cxml(body: crate::cxml::Element, env: &CxmlEnvelope) -> String {
    use crate::cxml::{Document, Element, WriteOptions};
    let sender = credential("Sender", &env.from)
        .with_child(Element::new("UserAgent").with_text(env.user_agent.clone()));
    let root = Element::new("cXML")
        .with_attr("payloadID", env.payload_id.clone())
        .with_attr("timestamp", env.timestamp.clone())
        .with_attr("version", env.version.clone())
        .with_attr("xml:lang", "en-US")
        .with_child(
            Element::new("Header")
                .with_child(credential("From", &env.from))
                .with_child(credential("To", &env.to))
                .with_child(sender),
        )
        .with_child(
            Element::new("Request")
                .with_attr("deploymentMode", env.deployment_mode.clone())
                .with_child(body),
        );
    let doc = Document {
        doctype: None,
        root,
    };
    crate::cxml::write_document(
        &doc,
        &WriteOptions {
            pretty: true,
            ..WriteOptions::default()
        },
    )
}

/// Provenance of a document translated from a cXML request.
pub fn cxml_provenance(doc: &crate::cxml::Document, partner: &str, producer: &str) -> Value {
    let env = crate::cxml::envelope(doc);
    let mut p = json!({
        "source_format": "cxml",
        "partner": partner,
        "received_at": chrono::Utc::now().fixed_offset().to_rfc3339(),
        "producer_hash": producer,
    });
    if let Some(v) = crate::cxml::cxml_version(doc) {
        p["version"] = json!(v);
    }
    if let Some(id) = env.payload_id {
        p["payload_id"] = json!(id);
    }
    p
}

/// Decodes, checks and translates one cXML document: a document `cxml::check` does not accept
/// is not translated, and its problems are the error. The result is typed canonical JSON with
/// provenance (partner: `partner`, else the Header From identity).
pub fn translate_cxml_bytes(
    bytes: &[u8],
    maps: &MapSet,
    partner: Option<&str>,
) -> Result<Value, String> {
    let doc = crate::cxml::decode(bytes, &crate::cxml::Limits::default())
        .map_err(|e| format!("not readable as cXML: {e}"))?;
    let outcome = crate::cxml::check(&doc, None);
    if !outcome.accepted() {
        let problems: Vec<String> = outcome.errors().map(|p| p.to_string()).collect();
        let detail = if problems.is_empty() {
            outcome.reason.clone().unwrap_or_default()
        } else {
            problems.join("; ")
        };
        return Err(format!(
            "cXML {} {} was rejected by the check ({} {}) and is not translated: {detail}",
            outcome.kind.as_ref().map_or("?", |k| k.name()),
            outcome.payload_id.as_deref().unwrap_or("?"),
            outcome.status.code(),
            outcome.status.text(),
        ));
    }
    let (kind, mut out) = maps
        .translate_cxml(&doc, partner)
        .map_err(|e| e.to_string())?;
    let env = crate::cxml::envelope(&doc);
    let who = partner
        .map(str::to_string)
        .or_else(|| {
            env.from
                .first()
                .and_then(|c| c.identity())
                .map(|i| i.into_owned())
        })
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "UNKNOWN".into());
    let producer = format!("cxml-{}", maps.fingerprint);
    out.insert("provenance".into(), cxml_provenance(&doc, &who, &producer));
    typed(Value::Object(out), &kind)
}

/// Renders canonical documents as cXML requests (one document each), checking each output with
/// `cxml::check` so that nothing edigate would itself reject goes out.
pub fn render_cxml(
    docs: &[Value],
    maps: &MapSet,
    partner: Option<&str>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let text = maps
            .render_cxml(doc, partner)
            .map_err(|e| format!("document {}: {e}", i + 1))?;
        check_rendered(&text).map_err(|e| format!("document {}: {e}", i + 1))?;
        out.push(text);
    }
    Ok(out)
}

/// Decodes and checks rendered cXML; the problems when it would be rejected.
pub fn check_rendered(text: &str) -> Result<(), String> {
    let doc = crate::cxml::decode(text.as_bytes(), &crate::cxml::Limits::default())
        .map_err(|e| format!("the rendered cXML does not decode: {e}"))?;
    let outcome = crate::cxml::check(&doc, None);
    if outcome.accepted() {
        return Ok(());
    }
    let problems: Vec<String> = outcome.errors().map(|p| p.to_string()).collect();
    Err(format!(
        "the rendered cXML fails the check ({}): {}",
        outcome.status.code(),
        if problems.is_empty() {
            outcome.reason.unwrap_or_default()
        } else {
            problems.join("; ")
        }
    ))
}
