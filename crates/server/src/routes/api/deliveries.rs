//! `/api/v1/tenant/webhooks/deliveries`: seed 004's deliveries list (any role), one delivery
//! with its attempts, and re-queueing a dead one (admin).

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use store::delivery::{delivery_status, Attempt, Delivery, DeliveryFilter};

use crate::auth::{require_admin, require_reader};
use crate::error::ApiError;
use crate::params::Seq;
use crate::state::AppState;

/// Deliveries listed by default, and at most.
const LIST_DEFAULT: u64 = 100;
const LIST_MAX: u64 = 1000;

fn view(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "last_status_code": d.last_status_code,
        "destination": d.destination,
        "subscription_id": d.subscription_id,
        "outbox_id": d.outbox_id,
        "seq": d.seq,
        "stream": d.stream,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "settled_at": d.settled_at,
    })
}

fn attempt_view(a: &Attempt) -> Value {
    json!({
        "attempt": a.attempt_no,
        "started_at": a.started_at,
        "duration_ms": a.duration_us as f64 / 1000.0,
        "outcome": a.outcome,
        "status_code": a.status_code,
        "response_body": a.response_body,
        "error": a.error,
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// `pending`, `delivered`, `dead`, or `skipped` (destinations without a URL; listed only
    /// when asked for).
    status: Option<String>,
    /// An exact event name.
    event: Option<String>,
    subscription_id: Option<String>,
    /// Deliveries of events before this `seq` (paging back from the newest).
    #[param(value_type = Option<u64>, maximum = 9223372036854775807_u64)]
    before_seq: Option<Seq>,
    /// 100 by default, 1000 at most (a larger value is lowered to 1000, as on the other lists).
    limit: Option<u64>,
}

/// Lists deliveries, newest event first.
#[utoipa::path(get, path = "/api/v1/tenant/webhooks/deliveries", tag = "webhooks",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "`{deliveries: [{id, event, status, attempts, last_error, …}]}`"),
        (status = 400), (status = 401)))]
#[get("/api/v1/tenant/webhooks/deliveries")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("query: {e}")))?
        .into_inner();
    if let Some(status) = query.status.as_deref() {
        let known = [
            delivery_status::PENDING,
            delivery_status::DELIVERED,
            delivery_status::DEAD,
            delivery_status::SKIPPED,
        ];
        if !known.contains(&status) {
            return Err(ApiError::bad_request(
                "status: one of pending, delivered, dead, skipped",
            ));
        }
    }
    let limit = query.limit.unwrap_or(LIST_DEFAULT);
    if limit == 0 {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {LIST_MAX}"
        )));
    }
    let filter = DeliveryFilter {
        status: query.status,
        event: query.event,
        subscription_id: query.subscription_id,
        before_seq: query.before_seq.map(Seq::get),
        limit: u32::try_from(limit.min(LIST_MAX)).unwrap_or(u32::MAX),
    };
    let found = crate::delivery_state::deliveries(&state, filter).await?;
    let views: Vec<Value> = found.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "deliveries": views })))
}

/// One delivery, with the exact body sent and every attempt.
#[utoipa::path(get, path = "/api/v1/tenant/webhooks/deliveries/{id}", tag = "webhooks",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "the delivery, `body`, and `attempt_history: [{attempt, started_at, duration_ms, outcome, status_code, response_body, error}]`"),
        (status = 401), (status = 404)))]
#[get("/api/v1/tenant/webhooks/deliveries/{id}")]
pub async fn one(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let found = crate::delivery_state::delivery(&state, id.into_inner()).await?;
    let (delivery, attempts) = found.ok_or_else(|| ApiError::not_found("no such delivery"))?;
    let mut body = view(&delivery);
    body["body"] = Value::String(delivery.body.clone());
    body["attempt_history"] = attempts.iter().map(attempt_view).collect();
    Ok(HttpResponse::Ok().json(body))
}

/// Re-queues a dead delivery with a fresh retry schedule (same `webhook-id`).
#[utoipa::path(post, path = "/api/v1/tenant/webhooks/deliveries/{id}/retry", tag = "webhooks",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, description = "`{id, status: \"pending\"}`"), (status = 401),
        (status = 403), (status = 404), (status = 409, description = "not dead")))]
#[post("/api/v1/tenant/webhooks/deliveries/{id}/retry")]
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    crate::delivery_state::retry(&state, id.clone()).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .json(json!({ "id": id.into_inner(), "status": delivery_status::PENDING })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(one).service(retry);
}
