//! cXML codec: decode, check, answer and write cXML. Does no I/O of its own and touches no
//! other module: the CLI, HTTP channel and store call in through the functions re-exported here.
//!
//! - `decode`: bytes → [`Document`] (element tree with line:column, borrowing from the input),
//!   safely bounded by [`Limits`]; `fast` reads the usual documents in one quick pass and leaves
//!   everything else (and every error) to the quick-xml reference decoder in `decode`.
//! - `envelope`: typed views (payloadID, credentials, body and document kind).
//! - `check` + `rules`/`rules_table`: DTD-level structure checks, authentication, status decision.
//! - `response`, `history`, `answer`: the Response to send, and the payloadID resend rules.
//! - `writer`: any tree back to cXML text.
//! - this file: format sniffing and the `validate` / `inspect` reports for the CLI.

pub mod answer;
pub mod auth;
pub mod check;
pub mod decode;
pub mod envelope;
pub mod error;
mod fast;
pub mod history;
pub mod response;
mod rules;
mod rules_table;
pub mod tree;
pub mod writer;

pub use answer::{answer, Answer, AnswerOptions};
pub use auth::{PartnerAuth, Secret};
pub use check::{check, CheckOutcome, Problem, Severity};
pub use decode::{decode, Limits};
#[doc(hidden)]
pub use decode::{decode_fast, decode_reference};
pub use envelope::{cxml_version, envelope, BodyKind, CredentialView, DocumentKind, Envelope};
pub use error::{CxmlError, Position};
pub use history::{content_hash, HistoryEntry, HistoryError, InMemoryHistory, PayloadHistory};
pub use response::{render_response, response_document, ResponseSpec, StatusCode};
pub use rules::{is_date, is_datetime_tz, is_number};
pub use tree::{Attribute, DocType, Document, Element, Node};
pub use writer::{write_document, write_element, DoctypeMode, WriteOptions};

use std::fmt::Write as _;

/// Sniff cXML: optional UTF-8 BOM and whitespace, then `<?xml`, `<!DOCTYPE cXML` or `<cXML`.
/// (An XML declaration alone is enough: the decoder then tells "not cXML" apart precisely.)
pub fn looks_like_cxml(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let rest = &bytes[start..];
    rest.starts_with(b"<?xml") || rest.starts_with(b"<!DOCTYPE cXML") || rest.starts_with(b"<cXML")
}

/// What a CLI verb prints and exits with; the CLI writes these out unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliOutput {
    pub exit_code: u8,
    pub stdout: String,
    pub stderr: String,
}

/// `edigate validate FILE` for cXML. Exit 0 when accepted, 1 when rejected or not cXML.
/// With `json`, the report is one JSON record; with `ack`, stdout holds only the Response XML
/// edigate would answer and the report goes to stderr. Credentials are not checked (no partner).
pub fn cli_validate(file_label: &str, bytes: &[u8], json: bool, ack: bool) -> CliOutput {
    let options = AnswerOptions {
        pretty: true,
        ..AnswerOptions::default()
    };
    let (outcome, response) = if looks_like_cxml(bytes) {
        let a = answer(bytes, &Limits::default(), None, None, &options);
        (a.outcome, a.response)
    } else {
        let err = CxmlError::Syntax {
            position: Position {
                line: 1,
                column: 1,
                offset: 0,
            },
            message: "not cXML: expected <?xml, <!DOCTYPE cXML or <cXML".into(),
        };
        let outcome = CheckOutcome::undecodable(&err);
        let response = answer::render(&outcome, None, &options);
        (outcome, response)
    };
    let report = if json {
        json_report(file_label, &outcome)
    } else {
        text_report(file_label, &outcome)
    };
    let exit_code = if outcome.accepted() { 0 } else { 1 };
    if ack {
        CliOutput {
            exit_code,
            stdout: response,
            stderr: report,
        }
    } else {
        CliOutput {
            exit_code,
            stdout: report,
            stderr: String::new(),
        }
    }
}

fn text_report(file_label: &str, outcome: &CheckOutcome) -> String {
    let mut out = String::new();
    let verdict = if outcome.accepted() {
        "accepted"
    } else {
        "rejected"
    };
    let _ = writeln!(
        out,
        "{file_label}: cXML {} payloadID={} version={}: {} {} ({verdict})",
        outcome.kind.as_ref().map_or("?", DocumentKind::name),
        outcome.payload_id.as_deref().unwrap_or("?"),
        outcome.version.as_deref().unwrap_or("?"),
        outcome.status.code(),
        outcome.status.text(),
    );
    if let Some(reason) = &outcome.reason {
        if outcome.problems.is_empty() {
            let _ = writeln!(out, "  {reason}");
        }
    }
    for p in &outcome.problems {
        let level = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(
            out,
            "  {level} {}:{}: {} [{}] {}",
            p.position.line, p.position.column, p.path, p.code, p.message
        );
    }
    out
}

fn json_report(file_label: &str, outcome: &CheckOutcome) -> String {
    let errors: Vec<serde_json::Value> = outcome
        .problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "code": p.code,
                "severity": match p.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "path": p.path,
                "line": p.position.line,
                "column": p.position.column,
                "message": p.message,
            })
        })
        .collect();
    let record = serde_json::json!({
        "file": file_label,
        "format": "cxml",
        "payload_id": outcome.payload_id,
        "document": outcome.kind.as_ref().map(DocumentKind::name),
        "status": outcome.status.code(),
        "status_text": outcome.status.text(),
        "accepted": outcome.accepted(),
        "reason": outcome.reason,
        "errors": errors,
    });
    let mut s = record.to_string();
    s.push('\n');
    s
}

/// `edigate inspect FILE` for cXML: the element tree, indented, each element with its
/// line:column, attributes and (shortened) text. SharedSecret text is shown as `***`.
/// Exit 0 when the document decodes, 1 otherwise.
pub fn cli_inspect(file_label: &str, bytes: &[u8]) -> CliOutput {
    if !looks_like_cxml(bytes) {
        return CliOutput {
            exit_code: 1,
            stdout: String::new(),
            stderr: format!("{file_label}: not cXML (expected <?xml, <!DOCTYPE cXML or <cXML)\n"),
        };
    }
    match decode(bytes, &Limits::default()) {
        Err(err) => CliOutput {
            exit_code: 1,
            stdout: String::new(),
            stderr: format!("{file_label}: {err}\n"),
        },
        Ok(doc) => {
            let mut out = String::new();
            let env = envelope(&doc);
            let _ = writeln!(
                out,
                "{file_label}: cXML {} {} payloadID={} version={}",
                env.body_kind.map_or("?", BodyKind::name),
                env.kind.as_ref().map_or("?", DocumentKind::name),
                env.payload_id.unwrap_or("?"),
                cxml_version(&doc).unwrap_or("?"),
            );
            if let Some(system) = doc.doctype.as_ref().and_then(|d| d.system_id.as_deref()) {
                let _ = writeln!(out, "DOCTYPE {system}");
            }
            inspect_element(&doc.root, 0, &mut out);
            CliOutput {
                exit_code: 0,
                stdout: out,
                stderr: String::new(),
            }
        }
    }
}

fn inspect_element(el: &Element, depth: usize, out: &mut String) {
    let _ = write!(
        out,
        "{:>5}:{:<4}{}{}",
        el.position.line,
        el.position.column,
        "  ".repeat(depth),
        el.name
    );
    for a in &el.attributes {
        let _ = write!(out, " {}={:?}", a.name, a.value);
    }
    if el.has_text() {
        if el.name == "SharedSecret" {
            out.push_str(" = \"***\"");
        } else {
            let text = el.text();
            let text = text.trim();
            let short: String = text.chars().take(60).collect();
            let ellipsis = if text.chars().count() > 60 { "…" } else { "" };
            let _ = write!(out, " = {short:?}{ellipsis}");
        }
    }
    out.push('\n');
    for child in el.elements() {
        inspect_element(child, depth + 1, out);
    }
}
