//! Whole documents through the maps: X12 input validated and translated into typed canonical
//! JSON (with provenance), and canonical JSON rendered into an X12 interchange. The CLI, the
//! golden cases and the pipeline all call these, so they behave the same everywhere.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{json, Value};

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
    json!({
        "source_format": "x12",
        "version": gs.version.get(..6).unwrap_or(&gs.version),
        "partner": partner,
        "interchange_control": isa.control_number(),
        "group_control": gs.control_number,
        "set_control": set.control_number,
        "received_at": chrono::Utc::now().fixed_offset().to_rfc3339(),
        "producer_hash": producer,
    })
}

/// Checks a mapped document against the canonical model (ids, dates, decimals, enums) and
/// returns it in its canonical JSON form.
pub fn typed(doc: Value, kind: &str) -> Result<Value, String> {
    let d: crate::canonical::CanonicalDocument =
        serde_json::from_value(doc).map_err(|e| format!("the mapped {kind} does not fit the canonical model: {e}"))?;
    serde_json::to_value(&d).map_err(|e| e.to_string())
}

/// Translates every accepted set of an X12 input; rejected sets are reported, not translated.
/// Calls `out` with each document (or the reason it could not be made).
pub fn translate_x12<R: Read>(
    input: R,
    grammars: &Grammars,
    maps: &MapSet,
    partner: Option<&str>,
    mut out: impl FnMut(Result<Value, String>),
) -> io::Result<envelope::Summary> {
    let producer = format!("{}-{}", grammars.fingerprint, maps.fingerprint);
    let sink = Collect::new(
        |isa: &IsaInfo, gs: &GroupInfo, set: &SetResult, tree: SetTree| {
            let label = format!(
                "set {} {} (interchange {}, group {})",
                set.set_id,
                set.control_number,
                isa.control_number(),
                gs.control_number
            );
            if !set.status.is_accepted() {
                let first = set
                    .issues
                    .first()
                    .map(|i| format!(": segment {} {}: {}", i.position, i.segment_id, i.message))
                    .unwrap_or_default();
                out(Err(format!(
                    "{label} was rejected by validation and is not translated{first}"
                )));
                return;
            }
            if gs.functional_id == "FA" {
                return;
            }
            let who = partner
                .map(str::to_string)
                .unwrap_or_else(|| isa.sender_id().to_string());
            match maps.translate_x12(&tree, grammars, partner) {
                Ok((_, mut doc)) => {
                    doc.insert(
                        "provenance".into(),
                        x12_provenance(isa, gs, set, &who, &producer),
                    );
                    out(Ok(Value::Object(doc)));
                }
                Err(e) => out(Err(format!("{label}: {e}"))),
            }
        },
    );
    envelope::check(input, grammars, Leniency::default(), sink).map(|(_, s)| s)
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

