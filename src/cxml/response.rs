//! cXML `Response` documents: the status codes edigate answers with and their rendering (fresh
//! payloadID and timestamp, the request's version, DOCTYPE for that version). Owns only the
//! answer's shape; which status to send is decided in `check.rs` and `answer.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

use super::tree::{Document, Element};
use super::writer::{self, DoctypeMode, WriteOptions};

/// The cXML status codes edigate sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    Ok,
    Accepted,
    NoContent,
    BadRequest,
    Unauthorized,
    NotAcceptable,
    Conflict,
    NotImplemented,
    InternalServerError,
}

impl StatusCode {
    /// The numeric `Status@code`.
    pub fn code(self) -> u16 {
        match self {
            StatusCode::Ok => 200,
            StatusCode::Accepted => 201,
            StatusCode::NoContent => 204,
            StatusCode::BadRequest => 400,
            StatusCode::Unauthorized => 401,
            StatusCode::NotAcceptable => 406,
            StatusCode::Conflict => 409,
            StatusCode::NotImplemented => 450,
            StatusCode::InternalServerError => 500,
        }
    }

    /// The standard `Status@text`.
    pub fn text(self) -> &'static str {
        match self {
            StatusCode::Ok => "OK",
            StatusCode::Accepted => "Accepted",
            StatusCode::NoContent => "No Content",
            StatusCode::BadRequest => "Bad Request",
            StatusCode::Unauthorized => "Unauthorized",
            StatusCode::NotAcceptable => "Not Acceptable",
            StatusCode::Conflict => "Conflict",
            StatusCode::NotImplemented => "Not Implemented",
            StatusCode::InternalServerError => "Internal Server Error",
        }
    }

    /// 2xx.
    pub fn is_success(self) -> bool {
        self.code() < 300
    }
}

/// A fresh payloadID: `<unix nanos>.<pid>.<counter>@edigate`, unique per process and time.
pub fn new_payload_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos}.{}.{n}@edigate", std::process::id())
}

/// The current time as cXML wants it: ISO 8601 with an explicit offset.
pub fn timestamp_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// What goes into a Response.
#[derive(Debug, Clone, Default)]
pub struct ResponseSpec<'a> {
    /// cXML version to answer with (the request's); `None` writes the default version.
    pub version: Option<&'a str>,
    /// `xml:lang` for the Status text.
    pub lang: Option<&'a str>,
    /// Human-readable detail, the content of the Status element (e.g. the 400/406 reason).
    pub message: Option<&'a str>,
    /// Extra element after Status (e.g. a ProfileResponse).
    pub payload: Option<Element<'static>>,
}

/// Build a Response document tree.
pub fn response_document(status: StatusCode, spec: &ResponseSpec<'_>) -> Document<'static> {
    let version = spec.version.unwrap_or(writer::DEFAULT_VERSION);
    let mut status_el = Element::new("Status")
        .with_attr("code", status.code().to_string())
        .with_attr("text", status.text());
    if let Some(lang) = spec.lang {
        status_el = status_el.with_attr("xml:lang", lang);
    }
    if let Some(message) = spec.message.filter(|m| !m.is_empty()) {
        status_el = status_el.with_text(message);
    }
    let mut response = Element::new("Response").with_child(status_el);
    if let Some(payload) = &spec.payload {
        response = response.with_child(payload.clone());
    }
    let root = Element::new("cXML")
        .with_attr("payloadID", new_payload_id())
        .with_attr("timestamp", timestamp_now())
        .with_attr("version", version)
        .with_attr("xml:lang", spec.lang.unwrap_or("en-US"))
        .with_child(response);
    Document {
        doctype: None,
        root,
    }
}

/// Render a Response as cXML text with the DOCTYPE for its version.
pub fn render_response(status: StatusCode, spec: &ResponseSpec<'_>, pretty: bool) -> String {
    let doc = response_document(status, spec);
    writer::write_document(
        &doc,
        &WriteOptions {
            pretty,
            doctype: DoctypeMode::Derived,
        },
    )
}

/// The requests edigate answers, advertised in a ProfileResponse.
pub const SUPPORTED_REQUESTS: &[&str] = &[
    "OrderRequest",
    "ConfirmationRequest",
    "ShipNoticeRequest",
    "InvoiceDetailRequest",
    "StatusUpdateRequest",
    "ProfileRequest",
];

/// A ProfileResponse listing the supported requests at `url`.
pub fn profile_response(url: &str) -> Element<'static> {
    let mut profile = Element::new("ProfileResponse").with_attr("effectiveDate", timestamp_now());
    for name in SUPPORTED_REQUESTS {
        profile = profile.with_child(
            Element::new("Transaction")
                .with_attr("requestName", *name)
                .with_child(Element::new("URL").with_text(url)),
        );
    }
    profile
}
