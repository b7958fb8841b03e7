//! The one write path every inbound dialect shares.
//!
//! 1. Read the raw body from the stream, at most `body_limit_bytes` (a larger `Content-Length`
//!    is refused before reading): 413 in the dialect's error shape, never actix's plain text.
//! 2. `ingest` parses it (pure: authenticate, validate, normalise) with the time of receipt.
//! 3. ONE writer job, in its own savepoint: `projections::record`, which for every event runs
//!    `projections::check` (a refusal rolls the whole request back: 404 with seed 002's code),
//!    appends it, and applies it unless it was a duplicate; then `projections::respond` makes
//!    the dialect's success body. The answer comes after the commit, so a 2xx always means the
//!    event is durable. A full writer queue is 503 with `Retry-After`, any other failure 500,
//!    both in the dialect's shape.
//! 4. Every request, whatever its outcome, goes to the request log (secrets removed), to the
//!    metrics (`requests{source,outcome}`, `request_seconds{source}`) and to a `webhook` span
//!    carrying a request id, the source and, once known, the `seq`.

use std::time::Instant;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use domain::Json;
use ingest::{Dialect, ErrorCode, Rejection};
use projections::{RecordError, StateCode, StateRejection};
use store::requestlog::RequestEntry;
use store::WriteError;
use tracing::Instrument;

use crate::redact::Redactor;
use crate::state::AppState;

/// Seconds a client is asked to wait after a 503 (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// How a request ended, as the request log and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Appended (at least one new event).
    Accepted,
    /// Already recorded: nothing appended, answered with the first answer's ids.
    Duplicate,
    /// Refused (by `ingest`, by the state, by the limits) or failed: nothing appended.
    Rejected,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected => "rejected",
        }
    }
}

/// The answer to one inbound request, before it becomes an HTTP response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Json,
    pub outcome: Outcome,
    /// Why it was rejected (empty otherwise).
    pub reason: String,
    /// The event's `seq` (the original's for a duplicate).
    pub seq: Option<u64>,
}

impl Answer {
    /// A refusal with the dialect's error body.
    pub fn rejected(status: StatusCode, body: Json, reason: String) -> Answer {
        Answer {
            status,
            body,
            outcome: Outcome::Rejected,
            reason,
            seq: None,
        }
    }

    /// An `ingest` rejection: its status and the dialect's body.
    pub fn from_rejection(dialect: Dialect, rejection: &Rejection) -> Answer {
        let status =
            StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Answer::rejected(status, dialect.error_body(rejection), rejection.to_string())
    }

    /// A refusal of the edge's own (413, 503, 500…) in the dialect's shape; seed 002's `code` is
    /// `code`.
    pub fn edge_error(
        dialect: Dialect,
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
    ) -> Answer {
        let message = message.into();
        let body = error_body(dialect, &message, code);
        Answer::rejected(status, body, message)
    }

    /// The HTTP response: the body as canonical JSON (numbers exactly as projected), with
    /// `Retry-After` on a 503.
    pub fn to_response(&self, request_id: &str) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type("application/json");
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
        }
        if let Ok(value) = HeaderValue::from_str(request_id) {
            response.insert_header(("x-request-id", value));
        }
        response.body(self.body.canonical())
    }
}

/// The dialect's error body for an error the edge decides, with seed 002's `code` set to
/// `code` (the shape itself is `ingest`'s, [`Dialect::error_body`]).
pub fn error_body(dialect: Dialect, message: &str, code: &str) -> Json {
    match dialect.error_body(&Rejection::invalid(message)) {
        Json::Object(mut map) => {
            if map.contains_key("code") {
                map.insert("code".into(), Json::str(code));
            }
            Json::Object(map)
        }
        other => other,
    }
}

/// Receives one request of `dialect`: the handler of every inbound POST endpoint.
pub async fn receive(
    dialect: Dialect,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let request_id = uuid::Uuid::new_v4().to_string();
    // DEBUG: formatting a span's fields for every request costs more than parsing the request;
    // rejections are logged at INFO with the same fields (`observe`).
    let span = tracing::debug_span!(
        "webhook",
        request_id = %request_id,
        source = dialect.name(),
        seq = tracing::field::Empty,
    );
    async move {
        let mut received = Received {
            dialect,
            started: Instant::now(),
            received_at: Utc::now(),
            method: req.method().as_str().to_owned(),
            path: req.path().to_owned(),
            headers: lower_case_headers(&req),
            body: Vec::new(),
        };
        let limit = state.settings.body_limit_bytes;
        let answer = match read_body(dialect, &req, payload, limit).await {
            Err(answer) => finish(&state, &received, answer),
            Ok(body) => {
                received.body = body;
                // Detached from the connection: once submitted, the request may be committed
                // whether or not the client waits, and its log entry and metrics must follow.
                let task = actix_web::rt::spawn(
                    async move {
                        let answer = process(&state, &received).await;
                        finish(&state, &received, answer)
                    }
                    .in_current_span(),
                );
                task.await
                    .unwrap_or_else(|error| internal(dialect, &format!("task failed: {error}")))
            }
        };
        answer.to_response(&request_id)
    }
    .instrument(span)
    .await
}

/// Records the request's outcome (span, request log, metrics) and hands the answer back.
fn finish(state: &AppState, received: &Received, answer: Answer) -> Answer {
    if let Some(seq) = answer.seq {
        tracing::Span::current().record("seq", seq);
    }
    let redactor = Redactor::new(&state.settings.ingest);
    record(state, &redactor, received, &answer);
    observe(state, &redactor, received, &answer);
    answer
}

/// Header names in lower case; values that are not UTF-8 are dropped.
fn lower_case_headers(req: &HttpRequest) -> Vec<(String, String)> {
    req.headers()
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_ascii_lowercase(), value.to_owned()))
        })
        .collect()
}

/// Reads the whole body, refusing more than `limit` bytes (by `Content-Length` before reading,
/// and while reading for a body sent without one).
async fn read_body(
    dialect: Dialect,
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, Answer> {
    let too_large = || {
        Answer::edge_error(
            dialect,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(error)) => Err(Answer::edge_error(
            dialect,
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidPayload.as_str(),
            format!("Could not read the request body: {error}"),
        )),
        Err(_limit_exceeded) => Err(too_large()),
    }
}

/// One inbound request, as received.
struct Received {
    dialect: Dialect,
    started: Instant,
    received_at: DateTime<Utc>,
    method: String,
    path: String,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    /// Empty when the body was not read (over the limit).
    body: Vec<u8>,
}

/// Parses with `ingest`, then appends through the writer.
async fn process(state: &AppState, received: &Received) -> Answer {
    let dialect = received.dialect;
    let request = ingest::Request {
        method: &received.method,
        path: &received.path,
        headers: &received.headers,
        body: &received.body,
        received_at: received.received_at,
    };
    let events = match dialect.parse(&request, &state.settings.ingest) {
        Ok(ingested) => ingested.events,
        Err(rejection) => return Answer::from_rejection(dialect, &rejection),
    };
    // One job for the whole request: `record` checks, appends and applies every event in the
    // job's savepoint, and an `Err` rolls all of them back.
    let submitted = state
        .writer
        .submit(move |ctx| projections::record(ctx, &events))
        .await;
    match submitted {
        Ok(Ok(recorded)) => Answer {
            status: StatusCode::OK,
            body: recorded.body,
            outcome: if recorded.duplicate {
                Outcome::Duplicate
            } else {
                Outcome::Accepted
            },
            reason: String::new(),
            seq: Some(recorded.seq),
        },
        Ok(Err(RecordError::Rejected(refusal))) => {
            Answer::from_rejection(dialect, &state_rejection(&refusal))
        }
        Ok(Err(RecordError::Failed(error))) => internal(dialect, &error),
        Err(error @ (WriteError::Busy | WriteError::Stopped)) => {
            tracing::warn!(%error, "writer unavailable; answered 503");
            Answer::edge_error(
                dialect,
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "The ledger is busy; nothing was recorded, retry shortly",
            )
        }
        Err(error) => internal(dialect, &error),
    }
}

/// A 500 whose cause goes to the server log, not to the client.
fn internal(dialect: Dialect, error: &dyn std::fmt::Display) -> Answer {
    tracing::error!(%error, "webhook not recorded");
    Answer::edge_error(
        dialect,
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "Internal error; nothing was recorded (see the server log)",
    )
}

/// A state refusal as the `ingest` rejection with seed 002's code (404).
fn state_rejection(refusal: &StateRejection) -> Rejection {
    let code = match refusal.code {
        StateCode::WorkOrderNotFound => ErrorCode::WorkOrderNotFound,
        StateCode::ProductNotFound => ErrorCode::ProductNotFound,
    };
    Rejection::coded(code, refusal.message.clone())
}

/// Queues the request-log entry (never waits for it).
fn record(state: &AppState, redactor: &Redactor, request: &Received, answer: &Answer) {
    state.request_log.record(RequestEntry {
        id: 0,
        received_at: domain::time::format_micros(request.received_at),
        method: request.method.clone(),
        path: request.path.clone(),
        source: request.dialect.name().to_owned(),
        status_code: answer.status.as_u16(),
        outcome: answer.outcome.as_str().to_owned(),
        reason: redactor.text(&answer.reason),
        seq: answer.seq,
        headers: redactor.headers(&request.headers).canonical(),
        body: redactor.body(&request.body),
    });
    state
        .metrics
        .request_log_dropped
        .set(state.request_log.dropped() as i64);
}

/// Metrics and one log line per request (the reason redacted like the request log's).
fn observe(state: &AppState, redactor: &Redactor, received: &Received, answer: &Answer) {
    let dialect = received.dialect;
    let elapsed = received.started.elapsed();
    state
        .metrics
        .requests
        .with_label_values(&[dialect.name(), answer.outcome.as_str()])
        .inc();
    state
        .metrics
        .request_seconds
        .with_label_values(&[dialect.name()])
        .observe(elapsed.as_secs_f64());
    // Every request is in the request log; the text log has one line per rejection, and one
    // per request at DEBUG.
    if answer.outcome == Outcome::Rejected {
        tracing::info!(
            source = dialect.name(),
            status = answer.status.as_u16(),
            outcome = answer.outcome.as_str(),
            reason = %redactor.text(&answer.reason),
            elapsed_us = elapsed.as_micros() as u64,
            "webhook rejected"
        );
    } else {
        tracing::debug!(
            status = answer.status.as_u16(),
            outcome = answer.outcome.as_str(),
            seq = answer.seq,
            elapsed_us = elapsed.as_micros() as u64,
            "webhook answered"
        );
    }
}
