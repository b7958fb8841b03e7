//! `GET /api/v2/webhooks/logs?limit=N`: the request log, newest first: every inbound request of
//! every dialect with its status and outcome (`accepted`, `duplicate`, `rejected`), secrets
//! removed. Unlike seed 001, it needs a bearer token (`auditor` or `admin`): it shows customer
//! data. Errors are seed 001's `{detail}`.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;
use serde::Serialize;
use store::requestlog::RequestEntry;

use super::detail;
use crate::state::AppState;

/// Entries returned when `limit` is not given.
pub const LIMIT_DEFAULT: u64 = 50;
/// Entries returned at most; a larger `limit` is lowered to this.
pub const LIMIT_MAX: u64 = 1000;

/// One logged request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    id: u64,
    /// When the request arrived (RFC 3339, UTC, microseconds).
    received_at: String,
    method: String,
    path: String,
    /// The dialect: `accounting`, `roms`, `exact`, `vendor` or `stripe`.
    source: String,
    /// The HTTP status it was answered with.
    status_code: u16,
    /// `accepted`, `duplicate` or `rejected`.
    outcome: String,
    /// Why it was rejected (empty otherwise).
    reason: String,
    /// The event's `seq` (the original's for a duplicate); null when nothing was recorded.
    seq: Option<u64>,
    /// Lower-case header names, secret-bearing headers removed.
    #[schema(value_type = Object)]
    headers: serde_json::Value,
    /// The body text, secrets removed (cut at 64 KiB).
    body: String,
}

impl From<RequestEntry> for LogEntry {
    fn from(entry: RequestEntry) -> LogEntry {
        LogEntry {
            headers: serde_json::from_str(&entry.headers).unwrap_or(serde_json::Value::Null),
            id: entry.id,
            received_at: entry.received_at,
            method: entry.method,
            path: entry.path,
            source: entry.source,
            status_code: entry.status_code,
            outcome: entry.outcome,
            reason: entry.reason,
            seq: entry.seq,
            body: entry.body,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Logs {
    logs: Vec<LogEntry>,
}

/// The request log, newest first.
#[utoipa::path(get, path = "/api/v2/webhooks/logs", tag = "inbound", security(("bearer" = [])),
    params(("limit" = Option<u64>, Query, description = "entries, 50 by default, 1000 at most (a larger value is lowered)")),
    responses(
        (status = 200, body = Logs),
        (status = 400, description = "`{detail}`: a bad query string"),
        (status = 401, description = "`{detail}`: no or unknown bearer token")))]
pub async fn logs(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(error) = crate::auth::require_reader(&req, &state).await {
        let mut response = detail(error.status, &error.message);
        if error.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        return response;
    }
    let limit = match limit(req.query_string()) {
        Ok(limit) => limit,
        Err(message) => return detail(StatusCode::BAD_REQUEST, &message),
    };
    let request_log = state.request_log.clone();
    // Flushing first makes the log read its own writes: a request answered before this one is
    // in the answer.
    let entries = web::block(move || {
        request_log.flush();
        request_log.recent(limit)
    })
    .await;
    match entries {
        Ok(Ok(entries)) => HttpResponse::Ok().json(Logs {
            logs: entries.into_iter().map(LogEntry::from).collect(),
        }),
        Ok(Err(error)) => internal(&error),
        Err(error) => internal(&error),
    }
}

fn internal(error: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(%error, "request log not readable");
    detail(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal error (see the server log)",
    )
}

/// `limit` from the query string: 50 when absent, at most 1000, a positive whole number.
fn limit(query: &str) -> Result<u64, String> {
    let pairs = web::Query::<HashMap<String, String>>::from_query(query)
        .map_err(|e| format!("Invalid query string: {e}"))?;
    let Some(text) = pairs.get("limit") else {
        return Ok(LIMIT_DEFAULT);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.min(LIMIT_MAX)),
        _ => Err(format!(
            "limit: {text:?} is not a whole number from 1 to {LIMIT_MAX}"
        )),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routes::webhooks::resource(
        "/api/v2/webhooks/logs",
        Dialect::Roms,
        "GET",
        web::get().to(logs),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_caps_and_refuses_nonsense() {
        assert_eq!(limit(""), Ok(LIMIT_DEFAULT));
        assert_eq!(limit("limit=3&x=1"), Ok(3));
        assert_eq!(limit("limit=5000"), Ok(LIMIT_MAX));
        for bad in ["limit=0", "limit=-1", "limit=abc", "limit=1.5"] {
            assert!(limit(bad).is_err(), "{bad}");
        }
    }
}
