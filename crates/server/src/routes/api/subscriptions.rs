//! `/api/v1/tenant/webhooks/subscriptions`: seed 004's subscriptions (admin), with secret
//! rotation and bulk redelivery.

use actix_web::http::StatusCode;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use outbound::subscriptions::{self, NewSubscription, SubscriptionError};
use serde::Deserialize;
use serde_json::{json, Value};
use store::delivery::Subscription;

use crate::auth::require_admin;
use crate::error::ApiError;
use crate::params::Seq;
use crate::state::AppState;

/// Maps the outbound crate's refusals to `{error}` answers.
pub(crate) fn api_error(e: SubscriptionError) -> ApiError {
    match e {
        SubscriptionError::Invalid(message) => ApiError::bad_request(message),
        SubscriptionError::NotFound(what) => ApiError::not_found(format!("no such {what}")),
        SubscriptionError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, message),
        SubscriptionError::Outbound(outbound::OutboundError::Write(e)) => {
            ApiError::write_failed(&e)
        }
        SubscriptionError::Outbound(outbound::OutboundError::Store(e)) => {
            ApiError::store_failed(&e)
        }
        SubscriptionError::Outbound(e) => ApiError::internal(e),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_request(format!("expected {shape}: {e}")))
}

/// A subscription as listed: never its secret.
fn view(s: &Subscription) -> Value {
    json!({
        "id": s.id,
        "url": s.url,
        "event": s.event,
        "ordered": s.ordered,
        "status": s.status,
        "status_reason": s.status_reason,
        "status_changed_at": s.status_changed_at,
        "created_at": s.created_at,
        "created_after_seq": s.created_after_seq,
        "previous_secret_expires_at": s.previous_secret_expires_at,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SubscriptionRequest {
    /// Where to POST events: http(s), public unless allow-listed.
    url: String,
    /// An event name, a prefix such as `work_order.*`, or `*`.
    event: String,
    /// Signing secret; a `whsec_` secret is generated (and returned once) when omitted.
    secret: Option<String>,
    /// Deliver each stream's events to this subscriber in `seq` order.
    #[serde(default)]
    ordered: bool,
}

/// Creates a subscription; it receives the events recorded from now on.
#[utoipa::path(post, path = "/api/v1/tenant/webhooks/subscriptions", tag = "webhooks",
    security(("bearer" = [])), request_body = SubscriptionRequest,
    responses((status = 201, description = "`{id, url, event, secret, created_at, ordered, status}`; the secret is shown only here"),
        (status = 400), (status = 401), (status = 403)))]
#[post("/api/v1/tenant/webhooks/subscriptions")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let body = super::read_body(&state, &req, payload).await?;
    let request: SubscriptionRequest =
        parse_json(&body, "{\"url\", \"event\", \"secret\"?, \"ordered\"?}")?;
    let new = NewSubscription {
        url: request.url,
        event: request.event,
        secret: request.secret,
        ordered: request.ordered,
    };
    let created = crate::delivery_state::create_subscription(&state, new).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": created.id,
        "url": created.url,
        "event": created.event,
        "secret": created.secret,
        "created_at": created.created_at,
        "ordered": created.ordered,
        "status": created.status,
    })))
}

/// Lists the subscriptions (deleted ones left out), without their secrets.
#[utoipa::path(get, path = "/api/v1/tenant/webhooks/subscriptions", tag = "webhooks",
    security(("bearer" = [])),
    responses((status = 200, description = "`{subscriptions: [{id, url, event, ordered, status, status_reason, created_at, …}]}`"),
        (status = 401), (status = 403)))]
#[get("/api/v1/tenant/webhooks/subscriptions")]
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let all = crate::delivery_state::subscriptions(&state).await?;
    let views: Vec<Value> = all.iter().map(view).collect();
    Ok(HttpResponse::Ok().json(json!({ "subscriptions": views })))
}

/// Deletes a subscription: nothing more is sent to it, its pending deliveries end as dead.
#[utoipa::path(delete, path = "/api/v1/tenant/webhooks/subscriptions/{id}", tag = "webhooks",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/api/v1/tenant/webhooks/subscriptions/{id}")]
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    crate::delivery_state::delete_subscription(&state, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RotateRequest {
    /// The new secret; generated when omitted.
    secret: Option<String>,
    /// How long the old secret keeps signing (a second `webhook-signature`); default 86400.
    grace_period_seconds: Option<u64>,
}

/// Rotates a subscription's secret; the new one is shown only in this answer.
#[utoipa::path(post, path = "/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret",
    tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RotateRequest,
    responses((status = 200, description = "`{id, secret, previous_secret_expires_at}`"),
        (status = 400), (status = 401), (status = 403), (status = 404)))]
#[post("/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret")]
pub async fn rotate(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let body = super::read_body(&state, &req, payload).await?;
    let request: RotateRequest = parse_json(&body, "{\"secret\"?, \"grace_period_seconds\"?}")?;
    let grace = request
        .grace_period_seconds
        .map(std::time::Duration::from_secs)
        .unwrap_or(subscriptions::ROTATION_GRACE_DEFAULT);
    let rotated =
        crate::delivery_state::rotate_secret(&state, id.into_inner(), request.secret, grace)
            .await?;
    Ok(HttpResponse::Ok().json(json!({
        "id": rotated.id,
        "secret": rotated.secret,
        "previous_secret_expires_at": rotated.previous_secret_expires_at,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RedeliverRequest {
    /// Send again every matching event from this `seq` on (inclusive).
    #[schema(value_type = u64, maximum = 9223372036854775807_u64)]
    since_seq: Seq,
}

/// Sends everything for this subscription again from `since_seq` on: delivered and dead
/// deliveries are re-queued, and events it never received (older than it) are queued.
#[utoipa::path(post, path = "/api/v1/tenant/webhooks/subscriptions/{id}/redeliver",
    tag = "webhooks", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = RedeliverRequest,
    responses((status = 202, description = "`{requeued, created, pending, next_since_seq}`; `next_since_seq` is set when the row limit was reached"),
        (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/api/v1/tenant/webhooks/subscriptions/{id}/redeliver")]
pub async fn redeliver(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let body = super::read_body(&state, &req, payload).await?;
    let request: RedeliverRequest = parse_json(&body, "{\"since_seq\": N}")?;
    let report =
        crate::delivery_state::redeliver(&state, id.into_inner(), request.since_seq.get()).await?;
    Ok(HttpResponse::Accepted().json(json!({
        "requeued": report.requeued,
        "created": report.created,
        "pending": report.pending,
        "next_since_seq": report.next_since_seq,
    })))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(remove)
        .service(rotate)
        .service(redeliver);
}
