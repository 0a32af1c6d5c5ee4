//! The HTTP API (axum, JSON, versioned under /v1): documents, raw payloads, lineage,
//! exceptions, replay, audit, health and Prometheus metrics. Bearer tokens guard /v1 (except
//! health); with no token configured only loopback clients are served. It reads the store and
//! asks the pipeline to replay; it never changes documents itself.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use crate::pipeline::Gateway;
use crate::store::{DocumentFilter, DocumentId, InboxId, Stage};

type Shared = Arc<Gateway>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn token_ok(tokens: &[String], req: &Request) -> bool {
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    tokens
        .iter()
        .any(|t| bool::from(t.as_bytes().ct_eq(given.trim().as_bytes())))
}

async fn auth(
    State(gw): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    let tokens = &gw.config.api_tokens;
    let allowed = if tokens.is_empty() {
        peer.ip().is_loopback()
    } else {
        token_ok(tokens, &req)
    };
    if !allowed {
        return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
    }
    next.run(req).await
}

async fn health(State(gw): State<Shared>) -> Response {
    let pending = gw.store.list_pending(1000).map(|p| p.len()).unwrap_or(0);
    Json(json!({ "status": "ok", "pending": pending })).into_response()
}

async fn metrics(State(gw): State<Shared>, req: Request) -> Response {
    if let Some(t) = &gw.config.metrics_token {
        if !token_ok(std::slice::from_ref(t), &req) {
            return error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DocQuery {
    partner: Option<String>,
    kind: Option<String>,
    po: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn doc_json(d: &crate::store::StoredDocument, with_body: bool) -> Value {
    let mut v = json!({
        "id": d.id.to_string(),
        "partner": d.meta.partner,
        "kind": d.meta.kind,
        "po_numbers": d.meta.po_numbers,
        "business_key": d.meta.business_key,
        "inbox_id": d.meta.inbox_id.map(|i| i.to_string()),
        "created_at": d.meta.created_at.to_rfc3339(),
        "version": d.version,
        "raw": format!("/v1/documents/{}/raw", d.id),
    });
    if with_body {
        v["document"] = serde_json::from_slice(&d.body).unwrap_or(Value::Null);
    }
    v
}

async fn documents(State(gw): State<Shared>, Query(q): Query<DocQuery>) -> Response {
    let since = match q.since.as_deref().map(chrono::DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
        Some(Err(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "since must be an RFC 3339 timestamp",
            )
        }
    };
    let cursor = match q.cursor.as_deref().map(str::parse::<DocumentId>) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "cursor is not a document id"),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return error(StatusCode::BAD_REQUEST, "limit must be 1..=1000");
    }
    let filter = DocumentFilter {
        partner: q.partner,
        kind: q.kind,
        po: q.po,
        since,
        cursor,
        limit,
    };
    match gw.store.list_documents(&filter) {
        Ok(page) => Json(json!({
            "items": page.items.iter().map(|d| doc_json(d, false)).collect::<Vec<_>>(),
            "next": page.next.map(|n| n.to_string()),
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn document(State(gw): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<DocumentId>() else {
        return error(StatusCode::BAD_REQUEST, "not a document id");
    };
    match gw.store.get_document(id) {
        Ok(Some(d)) => Json(doc_json(&d, true)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such document"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn raw(State(gw): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<DocumentId>() else {
        return error(StatusCode::BAD_REQUEST, "not a document id");
    };
    let doc = match gw.store.get_document(id) {
        Ok(Some(d)) => d,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no such document"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let Some(inbox) = doc.meta.inbox_id else {
        return error(StatusCode::NOT_FOUND, "the document has no stored payload");
    };
    let gw2 = gw.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let mut r = gw2.store.open_payload(inbox).map_err(|e| e.to_string())?;
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut v).map_err(|e| e.to_string())?;
        Ok::<_, String>(v)
    })
    .await;
    match bytes {
        Ok(Ok(v)) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            Body::from(v),
        )
            .into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn lineage(State(gw): State<Shared>, Path(po): Path<String>) -> Response {
    match gw.store.lineage(&po) {
        Ok(ids) => {
            let docs: Vec<Value> = ids
                .iter()
                .filter_map(|i| gw.store.get_document(*i).ok().flatten())
                .map(|d| doc_json(&d, false))
                .collect();
            Json(json!({ "po": po, "documents": docs })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn exceptions(State(gw): State<Shared>) -> Response {
    match gw.store.list_exceptions(1000) {
        Ok(items) => Json(json!({
            "items": items.iter().map(|e| {
                let reason = match &e.stage { Stage::Exception { reason } => reason.clone(), _ => String::new() };
                json!({ "inbox_id": e.id.to_string(), "source": e.meta.source_name, "channel": e.meta.channel,
                        "received_at": e.meta.received_at.to_rfc3339(), "reason": reason, "replays": e.replays })
            }).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn replay(State(gw): State<Shared>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<InboxId>() else {
        return error(StatusCode::BAD_REQUEST, "not an inbox id");
    };
    let gw2 = gw.clone();
    let r = tokio::task::spawn_blocking(move || crate::pipeline::replay(&gw2, id)).await;
    match r {
        Ok(Ok(outcome)) => {
            Json(json!({ "inbox_id": id.to_string(), "outcome": format!("{outcome:?}") }))
                .into_response()
        }
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    document: Option<String>,
    inbox: Option<String>,
}

async fn audit(State(gw): State<Shared>, Query(q): Query<AuditQuery>) -> Response {
    let events = match (q.document.as_deref(), q.inbox.as_deref()) {
        (Some(d), _) => match d.parse::<DocumentId>() {
            Ok(id) => gw.store.audit_for_document(id),
            Err(_) => return error(StatusCode::BAD_REQUEST, "not a document id"),
        },
        (None, Some(i)) => match i.parse::<InboxId>() {
            Ok(id) => gw.store.audit_for_inbox(id),
            Err(_) => return error(StatusCode::BAD_REQUEST, "not an inbox id"),
        },
        _ => return error(StatusCode::BAD_REQUEST, "give document= or inbox="),
    };
    match events {
        Ok(ev) => Json(json!({ "events": ev })).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

pub fn router(gw: Shared) -> Router {
    let v1 = Router::new()
        .route("/documents", get(documents))
        .route("/documents/{id}", get(document))
        .route("/documents/{id}/raw", get(raw))
        .route("/lineage/{po}", get(lineage))
        .route("/exceptions", get(exceptions))
        .route("/replay/{id}", post(replay))
        .route("/audit", get(audit))
        .route_layer(middleware::from_fn_with_state(gw.clone(), auth));
    Router::new()
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics))
        .nest("/v1", v1)
        .with_state(gw)
}
