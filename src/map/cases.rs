//! Golden cases: `maps/cases/<case dir>/` holds inputs and what they must become.
//! - `NAME.x12` → `NAME.json`: the canonical documents (JSON lines, provenance left out) that
//!   translating the X12 must give;
//! - `NAME.render.json` → `NAME.render.x12`: the set (ST..SE, one segment per line) that
//!   rendering the canonical document must give, for the version named in `NAME.render.version`
//!   (004010 when absent).
//! - `NAME.xml` → `NAME.json`: the canonical document translating the cXML must give;
//! - `NAME.render.json` → `NAME.render.xml`: the cXML rendering the canonical document must give,
//!   in a fixed envelope (payloadID `render-case@edigate`, timestamp 2026-01-01T00:00:00+00:00).
//!
//! A file `partner` in the case directory names the partner whose overrides apply.
//! `edigate maps test` and `cargo test` run them all and show a readable diff on a mismatch.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::docs::translate_x12_json;
use super::MapSet;
use crate::x12::grammar::Grammars;

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseResult {
    pub name: String,
    /// `None` when it passed; otherwise a readable explanation with a diff.
    pub failure: Option<String>,
}

fn strip(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("provenance");
    }
    v
}

fn pretty(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_json::to_string_pretty(d).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn diff(expected: &str, got: &str) -> String {
    let d = similar::TextDiff::from_lines(expected, got);
    d.unified_diff()
        .context_radius(3)
        .header("expected", "got")
        .to_string()
}

/// Loads case files: from the embedded maps, or from a maps directory.
pub fn case_files(dir: Option<&Path>) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    match dir {
        Some(d) => {
            let base = d.join("cases");
            fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
                let Ok(rd) = std::fs::read_dir(d) else { return };
                for e in rd.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(base, &p, out);
                    } else if let Ok(b) = std::fs::read(&p) {
                        let rel = p
                            .strip_prefix(base)
                            .unwrap_or(&p)
                            .to_string_lossy()
                            .replace('\\', "/");
                        out.insert(rel, b);
                    }
                }
            }
            walk(&base, &base, &mut out);
        }
        None => {
            if let Some(cases) = super::EMBEDDED.get_dir("cases") {
                fn walk(d: &include_dir::Dir<'_>, out: &mut BTreeMap<String, Vec<u8>>) {
                    for f in d.files() {
                        let rel = f
                            .path()
                            .strip_prefix("cases")
                            .unwrap_or(f.path())
                            .to_string_lossy()
                            .replace('\\', "/");
                        out.insert(rel, f.contents().to_vec());
                    }
                    for s in d.dirs() {
                        walk(s, out);
                    }
                }
                walk(cases, &mut out);
            }
        }
    }
    out
}

/// Runs every golden case.
pub fn run(
    grammars: &Grammars,
    maps: &MapSet,
    files: &BTreeMap<String, Vec<u8>>,
) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for (name, bytes) in files {
        let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let partner = files
            .get(&format!("{dir}/partner"))
            .map(|p| String::from_utf8_lossy(p).trim().to_string());
        if let Some(stem) = name
            .strip_suffix(".render.json")
            .filter(|s| files.contains_key(&format!("{s}.render.xml")))
        {
            results.push(CaseResult {
                name: name.clone(),
                failure: render_cxml_case(
                    maps,
                    bytes,
                    files.get(&format!("{stem}.render.xml")),
                    partner.as_deref(),
                ),
            });
        } else if let Some(stem) = name
            .strip_suffix(".xml")
            .filter(|s| !s.ends_with(".render"))
        {
            results.push(CaseResult {
                name: name.clone(),
                failure: translate_cxml_case(
                    maps,
                    bytes,
                    files.get(&format!("{stem}.json")),
                    partner.as_deref(),
                ),
            });
        } else if let Some(stem) = name.strip_suffix(".render.json") {
            let version = files
                .get(&format!("{stem}.render.version"))
                .map(|v| String::from_utf8_lossy(v).trim().to_string())
                .unwrap_or_else(|| "004010".into());
            results.push(CaseResult {
                name: name.clone(),
                failure: render_case(
                    grammars,
                    maps,
                    bytes,
                    files.get(&format!("{stem}.render.x12")),
                    &version,
                    partner.as_deref(),
                ),
            });
        } else if let Some(stem) = name
            .strip_suffix(".x12")
            .filter(|s| !s.ends_with(".render"))
        {
            results.push(CaseResult {
                name: name.clone(),
                failure: translate_case(
                    grammars,
                    maps,
                    bytes,
                    files.get(&format!("{stem}.json")),
                    partner.as_deref(),
                ),
            });
        }
    }
    results
}

fn translate_case(
    grammars: &Grammars,
    maps: &MapSet,
    input: &[u8],
    expected: Option<&Vec<u8>>,
    partner: Option<&str>,
) -> Option<String> {
    let Some(expected) = expected else {
        return Some("no expected .json beside the input".into());
    };
    let mut got = Vec::new();
    let mut errors = Vec::new();
    // The JSON lines `edigate translate` prints, read back.
    if let Err(e) = translate_x12_json(input, grammars, maps, partner, |r| match r {
        Ok(line) => match serde_json::from_str::<Value>(&line) {
            Ok(d) => got.push(strip(d)),
            Err(e) => errors.push(format!("the translated line is not JSON: {e}")),
        },
        Err(e) => errors.push(e),
    }) {
        return Some(format!("cannot read the input: {e}"));
    }
    if !errors.is_empty() {
        return Some(errors.join("\n"));
    }
    let text = String::from_utf8_lossy(expected);
    let mut want = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => want.push(strip(v)),
            Err(e) => return Some(format!("expected file line {}: {e}", i + 1)),
        }
    }
    (got != want).then(|| diff(&pretty(&want), &pretty(&got)))
}

fn render_case(
    grammars: &Grammars,
    maps: &MapSet,
    input: &[u8],
    expected: Option<&Vec<u8>>,
    version: &str,
    partner: Option<&str>,
) -> Option<String> {
    let Some(expected) = expected else {
        return Some("no expected .render.x12 beside the input".into());
    };
    let doc: Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => return Some(format!("the input is not JSON: {e}")),
    };
    let (set_id, segs) = match maps.render_x12(&doc, grammars, version, partner) {
        Ok(x) => x,
        Err(e) => return Some(e.to_string()),
    };
    let d = crate::x12::lexer::Delimiters {
        element: b'*',
        component: b':',
        repetition: Some(b'^'),
        segment: b'~',
    };
    let w = crate::x12::writer::SegmentWriter {
        delimiters: d,
        newline: true,
    };
    let mut out = format!("ST*{set_id}*0001~\n").into_bytes();
    for s in &segs {
        if let Err(e) = w.segment(&mut out, s) {
            return Some(e.to_string());
        }
    }
    out.extend_from_slice(format!("SE*{}*0001~\n", segs.len() + 2).as_bytes());
    let got = String::from_utf8_lossy(&out).into_owned();
    let want = String::from_utf8_lossy(expected).replace("\r\n", "\n");
    (got.trim_end() != want.trim_end()).then(|| diff(&want, &got))
}

fn expected_docs(expected: &[u8]) -> Result<Vec<Value>, String> {
    let text = String::from_utf8_lossy(expected);
    let mut want = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str::<Value>(line) {
            Ok(v) => want.push(strip(v)),
            Err(e) => return Err(format!("expected file line {}: {e}", i + 1)),
        }
    }
    Ok(want)
}

fn translate_cxml_case(
    maps: &MapSet,
    input: &[u8],
    expected: Option<&Vec<u8>>,
    partner: Option<&str>,
) -> Option<String> {
    let Some(expected) = expected else {
        return Some("no expected .json beside the input".into());
    };
    let got = match super::docs::translate_cxml_bytes(input, maps, partner) {
        Ok(d) => vec![strip(d)],
        Err(e) => return Some(e),
    };
    let want = match expected_docs(expected) {
        Ok(w) => w,
        Err(e) => return Some(e),
    };
    (got != want).then(|| diff(&pretty(&want), &pretty(&got)))
}

/// The envelope golden render cases are written in, so that their output is stable.
pub fn case_envelope(doc: &Value, partner: Option<&str>) -> super::docs::CxmlEnvelope {
    let mut env = super::docs::CxmlEnvelope::fresh(doc, partner);
    env.payload_id = "render-case@edigate".into();
    env.timestamp = "2026-01-01T00:00:00+00:00".into();
    env.user_agent = "edigate".into();
    env
}

fn render_cxml_case(
    maps: &MapSet,
    input: &[u8],
    expected: Option<&Vec<u8>>,
    partner: Option<&str>,
) -> Option<String> {
    let Some(expected) = expected else {
        return Some("no expected .render.xml beside the input".into());
    };
    let doc: Value = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => return Some(format!("the input is not JSON: {e}")),
    };
    let body = match maps.render_cxml_element(&doc, partner) {
        Ok(b) => b,
        Err(e) => return Some(e.to_string()),
    };
    let got = super::docs::write_cxml(body, &case_envelope(&doc, partner));
    if let Err(e) = super::docs::check_rendered(&got) {
        return Some(e);
    }
    let want = String::from_utf8_lossy(expected).replace("\r\n", "\n");
    (got.trim_end() != want.trim_end()).then(|| diff(&want, &got))
}
