//! Structure checks at the level of the cXML DTDs, authentication, and the status decision.
//! Walks a decoded tree against `rules_table.rs` (attributes, enumerations, required and allowed
//! children, text, dates, numbers, Money) and collects every problem with its element path and
//! line:column. Decides the answer's status code; does not render it (`response.rs`) or
//! remember payloads (`history.rs`).

use std::fmt;

use super::auth::{authenticate, PartnerAuth};
use super::envelope::{cxml_version, envelope, BodyKind, DocumentKind, Envelope};
use super::error::{CxmlError, Position};
use super::response::StatusCode;
use super::rules::{is_currency, is_number, rule, AttrKind, ElementRule};
use super::tree::{Document, Element};

/// How bad a problem is: errors reject the document, warnings are reported only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding, located by element path (`cXML/Request/OrderRequest/ItemOut[2]/ItemDetail`)
/// and the line:column of that element's start tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Short machine-readable code: `missing-attribute`, `bad-value`, `unexpected-element`...
    pub code: &'static str,
    pub severity: Severity,
    pub path: String,
    pub position: Position,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.position, self.path, self.message)
    }
}

impl Problem {
    /// A decode failure as a problem (path unknown: the tree was never built).
    pub fn from_decode(err: &CxmlError) -> Self {
        Problem {
            code: err.code(),
            severity: Severity::Error,
            path: String::new(),
            position: err.position().unwrap_or_default(),
            message: err.to_string(),
        }
    }
}

/// The result of checking one document.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    pub status: StatusCode,
    /// Why the status was chosen, for the Status element's content (`None` for plain success).
    pub reason: Option<String>,
    pub problems: Vec<Problem>,
    pub body: Option<BodyKind>,
    pub kind: Option<DocumentKind>,
    pub payload_id: Option<String>,
    pub deployment_mode: Option<String>,
    /// Effective cXML version of the request, echoed in the answer.
    pub version: Option<String>,
    pub lang: Option<String>,
}

impl CheckOutcome {
    /// 2xx: the document is accepted.
    pub fn accepted(&self) -> bool {
        self.status.is_success()
    }

    /// Problems that reject the document.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// The outcome for input that could not be decoded at all.
    pub fn undecodable(err: &CxmlError) -> Self {
        CheckOutcome {
            status: StatusCode::NotAcceptable,
            reason: Some(err.to_string()),
            problems: vec![Problem::from_decode(err)],
            body: None,
            kind: None,
            payload_id: None,
            deployment_mode: None,
            version: None,
            lang: None,
        }
    }
}

/// Check a decoded document. With `partner`, the Sender credential must match it (401
/// otherwise); without, credentials are not checked. Order of decisions: broken envelope 406,
/// credentials 401, unknown document 450, DTD-level structure 406, business rules 400, else
/// 200 (204 for a Response/Status we were sent: valid, nothing to return).
pub fn check(doc: &Document, partner: Option<&PartnerAuth>) -> CheckOutcome {
    let env = envelope(doc);
    let mut outcome = CheckOutcome {
        status: StatusCode::Ok,
        reason: None,
        problems: Vec::new(),
        body: env.body_kind,
        kind: env.kind.clone(),
        payload_id: env.payload_id.map(str::to_owned),
        deployment_mode: env.deployment_mode.map(str::to_owned),
        version: cxml_version(doc).map(str::to_owned),
        lang: env.lang.map(str::to_owned),
    };

    let mut walker = Walker::new();
    walker.envelope(&doc.root, &env);
    if walker.has_errors() {
        return outcome.finish(walker, StatusCode::NotAcceptable);
    }

    if let Some(partner) = partner {
        if let Err(reason) = authenticate(&env, partner) {
            outcome.problems = walker.problems;
            outcome.status = StatusCode::Unauthorized;
            outcome.reason = Some(reason);
            return outcome;
        }
    }

    let Some(kind) = env.kind.clone() else {
        walker.problem(
            "missing-element",
            &doc.root,
            "cXML must hold Header with Request or Message, or a Response".into(),
        );
        return outcome.finish(walker, StatusCode::NotAcceptable);
    };
    if !kind.is_supported() {
        outcome.problems = walker.problems;
        outcome.status = StatusCode::NotImplemented;
        outcome.reason = Some(format!("{} is not implemented", kind.name()));
        return outcome;
    }

    // The body document (or, for a Response, the whole Response element).
    if let Some(body) = env.body {
        walker.body(body, env.body_kind);
    }
    if walker.has_errors() {
        return outcome.finish(walker, StatusCode::NotAcceptable);
    }

    if let Some(reason) = business_rules(&env, partner) {
        outcome.problems = walker.problems;
        outcome.status = StatusCode::BadRequest;
        outcome.reason = Some(reason);
        return outcome;
    }

    let status = if kind == DocumentKind::Response {
        StatusCode::NoContent
    } else {
        StatusCode::Ok
    };
    outcome.finish(walker, status)
}

impl CheckOutcome {
    fn finish(mut self, walker: Walker, status: StatusCode) -> Self {
        if !status.is_success() {
            let errors: Vec<String> = walker
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
                .take(5)
                .map(ToString::to_string)
                .collect();
            let more = walker.error_count().saturating_sub(errors.len());
            let mut reason = errors.join("; ");
            if more > 0 {
                reason.push_str(&format!("; and {more} more"));
            }
            self.reason = Some(reason);
        }
        self.status = status;
        self.problems = walker.problems;
        self
    }
}

/// Rules the DTD cannot express; a violation is answered 400 Bad Request.
fn business_rules(env: &Envelope<'_>, partner: Option<&PartnerAuth>) -> Option<String> {
    if let (Some(expected), Some(BodyKind::Request), Some(actual)) = (
        partner.and_then(|p| p.deployment_mode.as_deref()),
        env.body_kind,
        env.deployment_mode,
    ) {
        if expected != actual {
            return Some(format!(
                "deploymentMode {actual} does not match this partner's {expected} profile"
            ));
        }
    }
    if env.kind == Some(DocumentKind::OrderRequest) {
        let header = env.document.and_then(|d| d.child("OrderRequestHeader"))?;
        let order_type = header.attr("type").unwrap_or("new");
        if order_type != "new" && header.child("DocumentReference").is_none() {
            return Some(format!(
                "OrderRequestHeader type=\"{order_type}\" needs a DocumentReference to the previous version of order {}",
                header.attr("orderID").unwrap_or("?")
            ));
        }
    }
    None
}

/// Walks elements against the rule table, keeping the current path for messages. Allocates
/// only for problems: names are borrowed from the tree and the sibling counters are reused.
struct Walker<'a> {
    problems: Vec<Problem>,
    /// (name, 1-based index among same-named siblings, whether to print the index)
    path: Vec<(&'a str, usize, bool)>,
    /// Spare sibling-counter lists, one taken per level of `children` being walked.
    counters: Vec<Vec<(&'a str, usize)>>,
}

impl<'a> Walker<'a> {
    fn new() -> Self {
        Walker {
            problems: Vec::new(),
            path: Vec::with_capacity(16),
            counters: Vec::new(),
        }
    }

    fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    fn error_count(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    fn path_string(&self) -> String {
        let mut s = String::new();
        for (i, (name, index, show)) in self.path.iter().enumerate() {
            if i > 0 {
                s.push('/');
            }
            s.push_str(name);
            if *show {
                s.push_str(&format!("[{index}]"));
            }
        }
        s
    }

    fn problem(&mut self, code: &'static str, at: &Element<'_>, message: String) {
        self.push(code, Severity::Error, at, message);
    }

    fn push(&mut self, code: &'static str, severity: Severity, at: &Element<'_>, message: String) {
        let path = self.path_string();
        self.problems.push(Problem {
            code,
            severity,
            path,
            position: at.position,
            message,
        });
    }

    /// Root attributes, root content model, and the whole Header.
    fn envelope(&mut self, root: &'a Element<'a>, env: &Envelope<'a>) {
        self.path.push((&root.name, 1, false));
        if let Some(r) = rule(&root.name) {
            self.attributes(root, r);
        }
        let names: Vec<&str> = root.elements().map(|e| &*e.name).collect();
        let shape_ok = matches!(
            names
                .iter()
                .filter(|n| **n != "ds:Signature")
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
            ["Header", "Request"] | ["Header", "Message"] | ["Response"]
        );
        if !shape_ok {
            self.problem(
                "bad-content",
                root,
                format!(
                    "cXML holds [{}]; expected Header then Request or Message, or Response alone",
                    names.join(", ")
                ),
            );
        }
        if root.has_text() {
            self.problem("unexpected-text", root, "cXML may not hold text".into());
        }
        if let Some(header) = env.header {
            self.element(header, 1, false);
        }
        if let Some(body) = env.body {
            if let Some(r) = rule(&body.name) {
                self.path.push((&body.name, 1, false));
                self.attributes(body, r);
                self.path.pop();
            }
        }
        self.path.pop();
    }

    /// The body's content (Request/Message/Response children), under the cXML path.
    fn body(&mut self, body: &'a Element<'a>, kind: Option<BodyKind>) {
        self.path.push(("cXML", 1, false));
        self.path.push((&body.name, 1, false));
        if let Some(r) = rule(&body.name) {
            self.children(body, r);
        }
        if kind == Some(BodyKind::Response) && body.child("Status").is_none() {
            self.problem("missing-element", body, "Response needs a Status".into());
        }
        self.path.pop();
        self.path.pop();
    }

    fn element(&mut self, el: &'a Element<'a>, index: usize, show_index: bool) {
        self.path.push((&el.name, index, show_index));
        if let Some(r) = rule(&el.name) {
            self.attributes(el, r);
            self.children(el, r);
            if el.name == "Money" {
                self.money(el);
            }
        }
        self.path.pop();
    }

    fn attributes(&mut self, el: &Element<'_>, r: &ElementRule) {
        for attr in &el.attributes {
            if attr.name == "xmlns" || attr.name.starts_with("xmlns:") {
                continue;
            }
            match r.attrs.iter().find(|a| a.name == attr.name) {
                None => self.problem(
                    "unknown-attribute",
                    el,
                    format!("<{}> has no attribute {:?}", el.name, attr.name),
                ),
                Some(a) => {
                    if let Some(expected) = a.kind.check(&attr.value) {
                        // An empty optional value is how many senders write "not given".
                        let severity = if attr.value.is_empty() && !a.required {
                            Severity::Warning
                        } else {
                            Severity::Error
                        };
                        let code = if matches!(a.kind, AttrKind::Enum(_)) {
                            "bad-enum"
                        } else {
                            "bad-value"
                        };
                        self.push(
                            code,
                            severity,
                            el,
                            format!("{}={:?} is not {expected}", attr.name, attr.value),
                        );
                    }
                }
            }
        }
        for a in r.attrs.iter().filter(|a| a.required) {
            if el.attr(a.name).is_none() {
                self.problem(
                    "missing-attribute",
                    el,
                    format!("<{}> needs attribute {}", el.name, a.name),
                );
            }
        }
    }

    fn children(&mut self, el: &'a Element<'a>, r: &ElementRule) {
        if !r.text && el.has_text() {
            self.problem(
                "unexpected-text",
                el,
                format!("<{}> may not hold text", el.name),
            );
        }
        for group in r.required {
            if !el.elements().any(|c| group.contains(&&*c.name)) {
                self.problem(
                    "missing-element",
                    el,
                    format!("<{}> needs <{}>", el.name, group.join("> or <")),
                );
            }
        }
        if r.any {
            return;
        }
        // Count same-named siblings once, so paths show an index only where it disambiguates.
        let mut counts = self.counters.pop().unwrap_or_default();
        counts.clear();
        for c in el.elements() {
            match counts.iter_mut().find(|(n, _)| *n == c.name) {
                Some((_, k)) => *k += 1,
                None => counts.push((&c.name, 1)),
            }
        }
        let mut seen = self.counters.pop().unwrap_or_default();
        seen.clear();
        for c in el.elements() {
            let index = match seen.iter_mut().find(|(n, _)| *n == c.name) {
                Some((_, k)) => {
                    *k += 1;
                    *k
                }
                None => {
                    seen.push((&c.name, 1));
                    1
                }
            };
            let total = counts
                .iter()
                .find(|(n, _)| *n == c.name)
                .map_or(1, |(_, k)| *k);
            if !r.children.contains(&&*c.name) {
                self.path.push((&c.name, index, total > 1));
                self.problem(
                    "unexpected-element",
                    c,
                    format!("<{}> is not allowed in <{}>", c.name, el.name),
                );
                self.path.pop();
                continue;
            }
            self.element(c, index, total > 1);
        }
        self.counters.push(counts);
        self.counters.push(seen);
    }

    fn money(&mut self, el: &Element<'_>) {
        if let Some(currency) = el.attr("currency") {
            if !is_currency(currency) {
                self.problem(
                    "bad-currency",
                    el,
                    format!("currency={currency:?} is not an ISO 4217 code"),
                );
            }
        }
        let text = el.text();
        let amount = text.trim();
        if amount.is_empty() {
            self.push(
                "empty-amount",
                Severity::Warning,
                el,
                "Money holds no amount".into(),
            );
        } else if !is_number(amount) {
            self.problem(
                "bad-amount",
                el,
                format!("Money {amount:?} is not a decimal amount"),
            );
        }
    }
}
