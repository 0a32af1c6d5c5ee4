//! Writer: any `Document` or `Element` back to cXML text, compact or pretty, with correct
//! escaping, attributes in their stored order, and a DOCTYPE whose system id matches the
//! version and document type. Owns output formatting only; builds no documents itself.

use super::envelope;
use super::tree::{Document, Element, Node};

/// Which DOCTYPE line to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DoctypeMode {
    /// Derive it from the document: `http://xml.cxml.org/schemas/cXML/<version>/<dtd>` with the
    /// DTD file that defines the body (`Fulfill.dtd`, `InvoiceDetail.dtd` or `cXML.dtd`).
    #[default]
    Derived,
    /// Write the DOCTYPE read from the input, if there was one.
    Keep,
    /// No DOCTYPE.
    Omit,
}

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// Indent child elements by two spaces per level; elements holding text stay on one line so
    /// no whitespace is added to data.
    pub pretty: bool,
    pub doctype: DoctypeMode,
}

/// The version written when a document names none (the newest DTD we have checked against).
pub const DEFAULT_VERSION: &str = "1.2.063";

/// The cXML DTD system id for a version and DTD file.
pub fn system_id(version: &str, dtd_file: &str) -> String {
    format!("http://xml.cxml.org/schemas/cXML/{version}/{dtd_file}")
}

/// Which DTD file defines the body of this `cXML` root.
pub fn dtd_file_for(root: &Element) -> &'static str {
    let body = ["Request", "Message", "Response"]
        .iter()
        .find_map(|b| root.child(b))
        .and_then(|b| b.elements().find(|e| e.name != "Status"));
    match body.map(|e| &*e.name) {
        Some("ConfirmationRequest" | "ShipNoticeRequest") => "Fulfill.dtd",
        Some("InvoiceDetailRequest") => "InvoiceDetail.dtd",
        _ => "cXML.dtd",
    }
}

/// Write a whole document: XML declaration, DOCTYPE (per `options`), root element.
pub fn write_document(doc: &Document, options: &WriteOptions) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let system = match options.doctype {
        DoctypeMode::Omit => None,
        DoctypeMode::Keep => doc
            .doctype
            .as_ref()
            .and_then(|d| d.system_id.clone())
            // A DOCTYPE literal has no escapes: keep only ids that print back unchanged.
            .filter(|id| {
                !id.contains(['"', '[', ']', '%', '<', '>']) && !id.contains(char::is_control)
            }),
        DoctypeMode::Derived => {
            let version = envelope::cxml_version(doc)
                .filter(|v| envelope::is_version(v))
                .unwrap_or(DEFAULT_VERSION);
            Some(system_id(version, dtd_file_for(&doc.root)))
        }
    };
    if let Some(system) = system {
        out.push_str("<!DOCTYPE cXML SYSTEM \"");
        out.push_str(&system);
        out.push_str("\">\n");
    }
    write_element(&doc.root, options.pretty, &mut out);
    out.push('\n');
    out
}

/// Append one element (and its subtree) to `out`.
pub fn write_element(element: &Element, pretty: bool, out: &mut String) {
    write_at(element, pretty, 0, out);
}

fn write_at(element: &Element, pretty: bool, depth: usize, out: &mut String) {
    out.push('<');
    out.push_str(&element.name);
    for attr in &element.attributes {
        out.push(' ');
        out.push_str(&attr.name);
        out.push_str("=\"");
        escape_into(&attr.value, true, out);
        out.push('"');
    }
    if element.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let has_text = element.children.iter().any(|n| matches!(n, Node::Text(_)));
    let indent = pretty && !has_text;
    for child in &element.children {
        if indent {
            newline(depth + 1, out);
        }
        match child {
            Node::Element(e) => write_at(e, indent, depth + 1, out),
            Node::Text(t) => escape_into(t, false, out),
        }
    }
    if indent {
        newline(depth, out);
    }
    out.push_str("</");
    out.push_str(&element.name);
    out.push('>');
}

fn newline(depth: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Escape markup characters. In attributes, also tab/newline/CR as character references, since
/// a parser would otherwise normalise them to spaces; in text, CR likewise (parsers turn a raw
/// CR into LF).
pub fn escape_into(s: &str, attribute: bool, out: &mut String) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' if attribute => "&quot;",
            b'\t' if attribute => "&#9;",
            b'\n' if attribute => "&#10;",
            b'\r' => "&#13;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}
