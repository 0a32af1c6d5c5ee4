//! Typed, borrowed views over the cXML envelope: payloadID, timestamp, version, xml:lang, the
//! Header credentials and which body (Request, Response, Message) and document it carries.
//! Views only read the tree; they check nothing (that is `check.rs`) and never reveal secrets in
//! `Debug` output.

use std::borrow::Cow;
use std::fmt;

use super::tree::{Document, Element};

/// What kind of body the envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Request,
    Response,
    Message,
}

impl BodyKind {
    pub fn name(self) -> &'static str {
        match self {
            BodyKind::Request => "Request",
            BodyKind::Response => "Response",
            BodyKind::Message => "Message",
        }
    }
}

/// The document inside the body. The first six are the ones edigate acts on; `Response` is a
/// partner's `Response`/`Status` (or a `Message` holding only a Status); anything else is
/// `Other` with its element name and is answered 450.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentKind {
    OrderRequest,
    ConfirmationRequest,
    ShipNoticeRequest,
    InvoiceDetailRequest,
    ProfileRequest,
    StatusUpdateRequest,
    Response,
    Other(String),
}

impl DocumentKind {
    /// Classify a document element name.
    pub fn from_name(name: &str) -> Self {
        match name {
            "OrderRequest" => DocumentKind::OrderRequest,
            "ConfirmationRequest" => DocumentKind::ConfirmationRequest,
            "ShipNoticeRequest" => DocumentKind::ShipNoticeRequest,
            "InvoiceDetailRequest" => DocumentKind::InvoiceDetailRequest,
            "ProfileRequest" => DocumentKind::ProfileRequest,
            "StatusUpdateRequest" => DocumentKind::StatusUpdateRequest,
            other => DocumentKind::Other(other.to_owned()),
        }
    }

    /// The element name (`Response` for a status reply).
    pub fn name(&self) -> &str {
        match self {
            DocumentKind::OrderRequest => "OrderRequest",
            DocumentKind::ConfirmationRequest => "ConfirmationRequest",
            DocumentKind::ShipNoticeRequest => "ShipNoticeRequest",
            DocumentKind::InvoiceDetailRequest => "InvoiceDetailRequest",
            DocumentKind::ProfileRequest => "ProfileRequest",
            DocumentKind::StatusUpdateRequest => "StatusUpdateRequest",
            DocumentKind::Response => "Response",
            DocumentKind::Other(name) => name,
        }
    }

    /// Whether edigate acts on this document (everything else is answered 450).
    pub fn is_supported(&self) -> bool {
        !matches!(self, DocumentKind::Other(_))
    }
}

/// One `Credential` under From, To or Sender.
#[derive(Clone, Copy)]
pub struct CredentialView<'a> {
    pub element: &'a Element<'a>,
}

impl<'a> CredentialView<'a> {
    /// The `domain` attribute (`NetworkID`, `DUNS`...).
    pub fn domain(&self) -> Option<&'a str> {
        self.element.attr("domain")
    }

    /// The `Identity` text, trimmed.
    pub fn identity(&self) -> Option<Cow<'a, str>> {
        self.element.child("Identity").map(|i| trim_cow(i.text()))
    }

    /// The `SharedSecret` text, exactly as sent. Handle with care: never log it.
    pub fn shared_secret(&self) -> Option<Cow<'a, str>> {
        self.element.child("SharedSecret").map(Element::text)
    }

    /// Whether a `CredentialMac` (instead of a SharedSecret) is present.
    pub fn has_credential_mac(&self) -> bool {
        self.element.child("CredentialMac").is_some()
    }
}

impl fmt::Debug for CredentialView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("domain", &self.domain())
            .field("identity", &self.identity())
            .field("shared_secret", &self.shared_secret().map(|_| "***"))
            .field("credential_mac", &self.has_credential_mac())
            .finish()
    }
}

fn trim_cow(c: Cow<'_, str>) -> Cow<'_, str> {
    match c {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
        Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
    }
}

/// The envelope of a decoded document, borrowed from its tree.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub payload_id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    /// `cXML@version` as written (may be the `1.0` quirk); see [`cxml_version`] for the
    /// effective version.
    pub version: Option<&'a str>,
    pub lang: Option<&'a str>,
    pub header: Option<&'a Element<'a>>,
    pub from: Vec<CredentialView<'a>>,
    pub to: Vec<CredentialView<'a>>,
    pub sender: Vec<CredentialView<'a>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub body_kind: Option<BodyKind>,
    pub body: Option<&'a Element<'a>>,
    /// `Request@deploymentMode` (`production` when absent, per the DTD default).
    pub deployment_mode: Option<&'a str>,
    /// The document element inside the body (for a Response: its payload, if any).
    pub document: Option<&'a Element<'a>>,
    pub kind: Option<DocumentKind>,
    /// `Status` of a Response or Message.
    pub status: Option<&'a Element<'a>>,
}

fn credentials<'a>(header: Option<&'a Element<'a>>, party: &str) -> Vec<CredentialView<'a>> {
    header
        .and_then(|h| h.child(party))
        .map(|p| {
            p.children("Credential")
                .map(|element| CredentialView { element })
                .collect()
        })
        .unwrap_or_default()
}

/// Read the envelope views of a document.
pub fn envelope<'a>(doc: &'a Document<'_>) -> Envelope<'a> {
    let root = &doc.root;
    let header = root.child("Header");
    let (body_kind, body) = [BodyKind::Request, BodyKind::Response, BodyKind::Message]
        .into_iter()
        .find_map(|k| root.child(k.name()).map(|b| (Some(k), Some(b))))
        .unwrap_or((None, None));
    let status = body.and_then(|b| b.child("Status"));
    let document = body.and_then(|b| b.elements().find(|e| e.name != "Status"));
    let kind = match body_kind {
        Some(BodyKind::Response) => Some(DocumentKind::Response),
        Some(BodyKind::Message) if document.is_none() && status.is_some() => {
            Some(DocumentKind::Response)
        }
        Some(_) => document.map(|d| DocumentKind::from_name(&d.name)),
        None => None,
    };
    let deployment_mode = match body_kind {
        Some(BodyKind::Request) | Some(BodyKind::Message) => Some(
            body.and_then(|b| b.attr("deploymentMode"))
                .unwrap_or("production"),
        ),
        _ => None,
    };
    Envelope {
        payload_id: root.attr("payloadID"),
        timestamp: root.attr("timestamp"),
        version: root.attr("version"),
        lang: root.attr("xml:lang"),
        header,
        from: credentials(header, "From"),
        to: credentials(header, "To"),
        sender: credentials(header, "Sender"),
        user_agent: header
            .and_then(|h| h.find("Sender/UserAgent"))
            .map(Element::text),
        body_kind,
        body,
        deployment_mode,
        document,
        kind,
        status,
    }
}

/// The effective cXML version: `cXML@version` when it is a full `1.2.0xx`-style version,
/// otherwise the version in the DOCTYPE system id (suppliers often send `version="1.0"` with a
/// 1.2.0xx DTD), otherwise a short numeric `version` such as `1.0`. Anything that is not digits
/// and dots is ignored, so it can never leak into a DOCTYPE we write.
pub fn cxml_version<'a>(doc: &'a Document<'_>) -> Option<&'a str> {
    let attr = doc.root.attr("version").filter(|v| is_version(v));
    let from_doctype = doc.doctype.as_ref().and_then(|d| d.version());
    match attr {
        Some(v) if v.split('.').count() >= 3 => Some(v),
        Some(v) => from_doctype.or(Some(v)),
        None => from_doctype,
    }
}

/// Digits separated by single dots, at least two parts: `1.0`, `1.2.063`.
pub fn is_version(v: &str) -> bool {
    v.len() <= 32
        && v.split('.').count() >= 2
        && v.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}
