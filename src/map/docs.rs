//! Whole documents through the maps: X12 input validated and translated into typed canonical
//! JSON (with provenance), and canonical JSON rendered into an X12 interchange. The CLI, the
//! golden cases and the pipeline all call these, so they behave the same everywhere.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{json, Value};

use super::node::{self, Node};
use super::MapSet;
use crate::x12::envelope::{self, GroupInfo, IsaInfo, SetResult};
use crate::x12::grammar::Grammars;
use crate::x12::lexer::Delimiters;
use crate::x12::tree::{Collect, SetTree};
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
    provenance(
        gs.version.get(..6).unwrap_or(&gs.version),
        partner,
        isa.control_number(),
        &gs.control_number,
        &set.control_number,
        producer,
    )
}

fn provenance(
    version: &str,
    partner: &str,
    interchange: &str,
    group: &str,
    set: &str,
    producer: &str,
) -> Value {
    json!({
        "source_format": "x12",
        "version": version,
        "partner": partner,
        "interchange_control": interchange,
        "group_control": group,
        "set_control": set,
        "received_at": chrono::Utc::now().fixed_offset().to_rfc3339(),
        "producer_hash": producer,
    })
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

/// An accepted set on its way to a mapping worker, with the envelope values it needs.
struct Job {
    seq: u64,
    tree: SetTree,
    interchange: String,
    group: String,
    partner: String,
}

/// Maps and types one accepted set (`translate_x12`'s work after validation); `finish` types the
/// mapped document (`typed` or `typed_json`).
fn map_job<T>(
    job: &Job,
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
            doc.insert(
                "provenance".into(),
                provenance(
                    &t.version,
                    &job.partner,
                    &job.interchange,
                    &job.group,
                    &t.control_number,
                    producer,
                ),
            );
            finish(Value::Object(doc), &kind).map_err(|e| format!("{}: {e}", label()))
        }
        Err(e) => Err(format!("{}: {e}", label())),
    }
}

/// `map_job` for JSON lines: maps into the light `Node` tree (keys and text borrowed) and writes
/// the typed document as text. A set that does not map, or a document that does not fit, goes
/// the `Value` route instead, so what comes out, errors included, is what that route gives.
fn map_job_json(
    job: &Job,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    producer: &str,
) -> Result<String, String> {
    let t = &job.tree;
    if let Ok((kind, mut doc)) = maps.translate_x12_into::<Node>(t, grammars, partner) {
        // `provenance(..)` as a tree of borrowed text: the same keys and strings.
        fn text(s: &str) -> Node<'_> {
            Node::Text(std::borrow::Cow::Borrowed(s))
        }
        let received = chrono::Utc::now().fixed_offset().to_rfc3339();
        let prov = vec![
            ("source_format", text("x12")),
            ("version", text(&t.version)),
            ("partner", text(&job.partner)),
            ("interchange_control", text(&job.interchange)),
            ("group_control", text(&job.group)),
            ("set_control", text(&t.control_number)),
            ("received_at", Node::Text(received.into())),
            ("producer_hash", text(producer)),
        ];
        node::insert(&mut doc, "provenance", Node::Object(prov));
        if let Some(text) = typed_node(&Node::Object(doc), kind) {
            return Ok(text);
        }
    }
    map_job(job, grammars, maps, partner, producer, typed_json)
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
type Work<T> = fn(&Job, &Grammars, &MapSet, Option<&str>, &str) -> Result<T, String>;

/// How many sets may wait for a mapping worker: enough to keep the workers busy, few enough
/// that memory stays bounded whatever the input size.
const QUEUE: usize = 64;

/// Translates every accepted set of an X12 input; rejected sets are reported, not translated.
/// Calls `out` with each document (or the reason it could not be made), in input order.
///
/// Sets are independent once checked, so they are mapped and typed on worker threads (one per
/// core) while the reader goes on validating the next ones; results are put back in input
/// order before `out` sees them.
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

fn translate_sets<R: Read, T: Send>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    work: Work<T>,
    mut out: impl FnMut(Result<T, String>),
) -> io::Result<envelope::Summary> {
    use std::collections::BTreeMap;
    use std::sync::{mpsc, Arc, Mutex};

    let producer = format!("{}-{}", grammars.fingerprint, maps.fingerprint);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(QUEUE);
        // Shared by the workers only, so that if they all stop the sender sees it, not a full
        // queue that never drains.
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = mpsc::channel::<(u64, Result<T, String>)>();
        let mut handles = Vec::new();
        for _ in 0..workers {
            let (job_rx, res_tx, producer) = (job_rx.clone(), res_tx.clone(), &producer);
            handles.push(scope.spawn(move || loop {
                // The lock is held only to take the next job, not while mapping it.
                let job = match job_rx.lock() {
                    Ok(rx) => rx.recv(),
                    Err(_) => return,
                };
                let Ok(job) = job else { return };
                let r = work(&job, grammars, maps, partner, producer);
                if res_tx.send((job.seq, r)).is_err() {
                    return;
                }
            }));
        }
        drop((res_tx, job_rx));
        // Results that arrived ahead of an earlier set's, by sequence number.
        let mut pending: BTreeMap<u64, Result<T, String>> = BTreeMap::new();
        let mut next_out = 0u64;
        let mut deliver = |pending: &mut BTreeMap<u64, Result<T, String>>,
                           out: &mut dyn FnMut(Result<T, String>)| {
            while let Some(r) = pending.remove(&next_out) {
                out(r);
                next_out += 1;
            }
        };
        let mut seq = 0u64;
        let summary = {
            let sink = Collect::new(
                |isa: &IsaInfo, gs: &GroupInfo, set: &SetResult, tree: SetTree| {
                    if !set.status.is_accepted() {
                        let first = set
                            .issues
                            .first()
                            .map(|i| {
                                format!(": segment {} {}: {}", i.position, i.segment_id, i.message)
                            })
                            .unwrap_or_default();
                        pending.insert(
                            seq,
                            Err(format!(
                                "set {} {} (interchange {}, group {}) was rejected by validation and is not translated{first}",
                                set.set_id,
                                set.control_number,
                                isa.control_number(),
                                gs.control_number
                            )),
                        );
                    } else if gs.functional_id == "FA" {
                        return;
                    } else {
                        let job = Job {
                            seq,
                            tree,
                            interchange: isa.control_number().to_string(),
                            group: gs.control_number.clone(),
                            partner: partner
                                .map(str::to_string)
                                .unwrap_or_else(|| isa.sender_id().to_string()),
                        };
                        if let Err(mpsc::SendError(job)) = job_tx.send(job) {
                            // No worker is left (one panicked): map here rather than lose it.
                            let r = work(&job, grammars, maps, partner, &producer);
                            pending.insert(seq, r);
                        }
                    }
                    seq += 1;
                    while let Ok((n, r)) = res_rx.try_recv() {
                        pending.insert(n, r);
                    }
                    deliver(&mut pending, &mut out);
                },
            );
            envelope::check(input, grammars, Leniency::default(), sink).map(|(_, s)| s)
        };
        drop(job_tx);
        for (n, r) in res_rx.iter() {
            pending.insert(n, r);
            deliver(&mut pending, &mut out);
        }
        for h in handles {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
        deliver(&mut pending, &mut out);
        summary
    })
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
            .versions
            .get(version)
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
