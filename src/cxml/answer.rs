//! The whole synchronous answer to one posted cXML document: decode, check, apply the
//! payloadID resend rules, render the Response. Owns the order of those steps only; each step
//! lives in its own module. No I/O: the caller supplies bytes, partner and history.

use super::auth::PartnerAuth;
use super::check::{check, CheckOutcome};
use super::decode::{decode, Limits};
use super::envelope::DocumentKind;
use super::history::{content_hash, HistoryEntry, PayloadHistory};
use super::response::{profile_response, render_response, ResponseSpec, StatusCode};

/// Choices the caller makes about the answer.
#[derive(Debug, Clone, Default)]
pub struct AnswerOptions {
    /// The document is queued for asynchronous processing: answer 201 Accepted instead of 200.
    pub queued: bool,
    /// Pretty-print the Response.
    pub pretty: bool,
    /// Our cXML endpoint, advertised in answers to ProfileRequest.
    pub endpoint_url: Option<String>,
}

/// The answer and how it was reached.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: CheckOutcome,
    /// The cXML Response text to send back.
    pub response: String,
    /// This was an identical resend, answered with the stored original Response.
    pub resent: bool,
}

/// Decode, check and answer one document.
pub fn answer(
    bytes: &[u8],
    limits: &Limits,
    partner: Option<&PartnerAuth>,
    history: Option<&mut dyn PayloadHistory>,
    options: &AnswerOptions,
) -> Answer {
    let doc = match decode(bytes, limits) {
        Ok(doc) => doc,
        Err(err) => {
            let outcome = CheckOutcome::undecodable(&err);
            let response = render(&outcome, None, options);
            return Answer {
                outcome,
                response,
                resent: false,
            };
        }
    };
    let mut outcome = check(&doc, partner);
    if outcome.status == StatusCode::Ok
        && options.queued
        && outcome.kind != Some(DocumentKind::ProfileRequest)
    {
        outcome.status = StatusCode::Accepted;
    }

    // Only accepted documents enter the history: a rejected payload may be corrected and
    // resent under the same payloadID.
    let payload = match (&outcome.kind, &options.endpoint_url) {
        (Some(DocumentKind::ProfileRequest), Some(url)) if outcome.accepted() => {
            Some(profile_response(url))
        }
        _ => None,
    };
    let (Some(history), true, Some(payload_id)) =
        (history, outcome.accepted(), outcome.payload_id.clone())
    else {
        let response = render(&outcome, payload, options);
        return Answer {
            outcome,
            response,
            resent: false,
        };
    };
    let hash = content_hash(&doc);
    match history.lookup(&payload_id) {
        Ok(Some(entry)) if entry.content_hash == hash => Answer {
            outcome,
            response: entry.response,
            resent: true,
        },
        Ok(Some(_)) => {
            outcome.status = StatusCode::Conflict;
            outcome.reason = Some(format!(
                "payloadID {payload_id} was already received with different content"
            ));
            let response = render(&outcome, None, options);
            Answer {
                outcome,
                response,
                resent: false,
            }
        }
        Ok(None) => {
            let response = render(&outcome, payload, options);
            let entry = HistoryEntry {
                content_hash: hash,
                response: response.clone(),
            };
            if let Err(err) = history.record(&payload_id, entry) {
                return internal_error(outcome, &err.to_string(), options);
            }
            Answer {
                outcome,
                response,
                resent: false,
            }
        }
        Err(err) => internal_error(outcome, &err.to_string(), options),
    }
}

fn internal_error(mut outcome: CheckOutcome, reason: &str, options: &AnswerOptions) -> Answer {
    outcome.status = StatusCode::InternalServerError;
    outcome.reason = Some(reason.to_owned());
    let response = render(&outcome, None, options);
    Answer {
        outcome,
        response,
        resent: false,
    }
}

/// Render the Response for an outcome.
pub fn render(
    outcome: &CheckOutcome,
    payload: Option<super::tree::Element<'static>>,
    options: &AnswerOptions,
) -> String {
    render_response(
        outcome.status,
        &ResponseSpec {
            version: outcome.version.as_deref(),
            lang: outcome.lang.as_deref(),
            message: outcome.reason.as_deref(),
            payload,
        },
        options.pretty,
    )
}
