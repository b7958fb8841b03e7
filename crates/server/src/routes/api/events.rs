//! `GET /api/events` and `GET /api/events/{seq}`: the auditor's view of the log.

use actix_web::{get, web, HttpRequest, HttpResponse};
use domain::Event;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use store::log::EventFilter;

use crate::auth::require_reader;
use crate::error::ApiError;
use crate::params::Seq;
use crate::state::AppState;

/// Events per page by default, and at most.
pub const PAGE_DEFAULT: u64 = 100;
pub const PAGE_MAX: u64 = 1000;

/// An event as the API shows it: the stored columns, with the payload as JSON.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventView {
    seq: u64,
    id: String,
    stream: String,
    stream_version: u64,
    #[serde(rename = "type")]
    event_type: String,
    type_version: u32,
    source: String,
    tenant: String,
    recorded_at: String,
    idempotency_key: String,
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
    prev_hash: String,
    hash: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    raw_request: Option<Box<RawValue>>,
}

impl EventView {
    pub fn from_event(event: Event, with_raw_request: bool) -> Result<EventView, ApiError> {
        let raw = |text: String| {
            RawValue::from_string(text).map_err(|e| ApiError::internal(format!("stored JSON: {e}")))
        };
        let raw_request = if with_raw_request {
            Some(raw(event.raw_request)?)
        } else {
            None
        };
        Ok(EventView {
            seq: event.seq,
            id: event.id.to_string(),
            stream: event.stream,
            stream_version: event.stream_version,
            event_type: event.event_type,
            type_version: event.type_version,
            source: event.source,
            tenant: event.tenant.to_string(),
            recorded_at: event.recorded_at,
            idempotency_key: event.idempotency_key,
            payload: raw(event.payload)?,
            prev_hash: event.prev_hash,
            hash: event.hash,
            raw_request,
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventPage {
    events: Vec<EventView>,
    /// Pass as `after_seq` for the next page; null at the end.
    next_after_seq: Option<u64>,
}

/// The query of `GET /api/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventQuery {
    pub stream: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub source: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// Events after this `seq` (default 0); at most 9223372036854775807.
    #[param(value_type = Option<u64>, maximum = 9223372036854775807_u64)]
    pub after_seq: Option<Seq>,
    /// 100 by default, 1000 at most (a larger value is lowered to 1000).
    pub limit: Option<u64>,
    /// `json` (default, `{events, next_after_seq}`), `ndjson` (one event per line) or `csv`
    /// (a header record, then one record per event). For the last two the next page's cursor is
    /// the `X-Next-After-Seq` header, absent at the end.
    pub format: Option<String>,
}

/// Builds a store filter from query values, validating times and the limit.
pub fn filter_from_query(query: &EventQuery, limit_max: u64) -> Result<EventFilter, ApiError> {
    let time = |name: &str, value: &Option<String>| -> Result<Option<String>, ApiError> {
        value
            .as_deref()
            .map(|text| {
                domain::time::normalize(text).ok_or_else(|| {
                    ApiError::bad_request(format!("{name}: {text:?} is not an RFC 3339 time"))
                })
            })
            .transpose()
    };
    // A larger limit is lowered to the maximum (as the request log's is); 0 asks for nothing.
    let limit = query.limit.unwrap_or(PAGE_DEFAULT);
    if limit == 0 {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {limit_max}"
        )));
    }
    let limit = limit.min(limit_max);
    Ok(EventFilter {
        stream: query.stream.clone(),
        event_type: query.event_type.clone(),
        source: query.source.clone(),
        since: time("since", &query.since)?,
        until: time("until", &query.until)?,
        after_seq: query.after_seq.map_or(0, Seq::get),
        limit: Some(limit),
        until_seq: None,
    })
}

/// Events in ascending `seq` after `after_seq`, filtered.
#[utoipa::path(get, path = "/api/events", tag = "audit", params(EventQuery),
    security(("bearer" = [])),
    responses((status = 200, body = EventPage), (status = 400), (status = 401)))]
#[get("/api/events")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let format = query.format.clone().unwrap_or_else(|| "json".to_owned());
    if !["json", "ndjson", "csv"].contains(&format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "format: {format:?} is not json, ndjson or csv"
        )));
    }
    let filter = filter_from_query(&query, PAGE_MAX)?;
    let limit = filter.limit.unwrap_or(PAGE_DEFAULT);
    let store = state.store.clone();
    // Ask for one more than the page to know whether another page follows.
    let probe = EventFilter {
        limit: Some(limit + 1),
        ..filter
    };
    let mut events =
        web::block(move || store.read(|conn| store::log::query_events(conn, &probe))).await??;
    let more = events.len() as u64 > limit;
    events.truncate(limit as usize);
    let next_after_seq = if more {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    if format != "json" {
        return export(&format, events, next_after_seq);
    }
    let events = events
        .into_iter()
        .map(|e| EventView::from_event(e, false))
        .collect::<Result<_, _>>()?;
    Ok(HttpResponse::Ok().json(EventPage {
        events,
        next_after_seq,
    }))
}

/// A page of events as NDJSON or CSV, with the next page's cursor in a header.
fn export(
    format: &str,
    events: Vec<Event>,
    next_after_seq: Option<u64>,
) -> Result<HttpResponse, ApiError> {
    let mut body = String::new();
    let content_type = if format == "csv" {
        body.push_str(&reports::events::csv_header());
        for event in &events {
            body.push_str(&reports::events::csv_row(event));
        }
        "text/csv; charset=utf-8"
    } else {
        for event in events {
            let view = EventView::from_event(event, false)?;
            let line = serde_json::to_string(&view).map_err(ApiError::internal)?;
            body.push_str(&line);
            body.push('\n');
        }
        "application/x-ndjson"
    };
    let mut response = HttpResponse::Ok();
    response.content_type(content_type);
    if let Some(seq) = next_after_seq {
        response.insert_header(("X-Next-After-Seq", seq.to_string()));
    }
    Ok(response.body(body))
}

/// One event with the request it came from (secrets removed).
#[utoipa::path(get, path = "/api/events/{seq}", tag = "audit", security(("bearer" = [])),
    params(("seq" = u64, Path, minimum = 1, maximum = 9223372036854775807_u64, description = "The event's seq")),
    responses((status = 200, body = EventView),
        (status = 400, description = "not a seq from 1 to 9223372036854775807"), (status = 404), (status = 401)))]
#[get("/api/events/{seq}")]
pub async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    seq: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    // A seq is positive and fits SQLite's INTEGER; anything else (0, 2^63, -1, text) is a 400.
    let seq = match seq.parse::<Seq>() {
        Ok(seq) if seq.get() > 0 => seq.get(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "{:?} is not a seq (a whole number from 1 to {})",
                seq.as_str(),
                crate::params::SEQ_MAX
            )))
        }
    };
    let store = state.store.clone();
    let event = web::block(move || store.read(|conn| store::log::read_event(conn, seq)))
        .await??
        .ok_or_else(|| ApiError::not_found(format!("no event with seq {seq}")))?;
    Ok(HttpResponse::Ok().json(EventView::from_event(event, true)?))
}
