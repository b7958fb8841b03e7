//! `POST /api/webhooks/stripe`: the payment provider's events, authenticated by
//! `Stripe-Signature` (`t=…,v1=…`, 300 s tolerance); every event type is recorded and answered
//! 200 `{received: true}`, errors `{error}`.

use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;

use crate::state::AppState;

/// Stripe's webhook events.
#[utoipa::path(post, path = "/api/webhooks/stripe", tag = "inbound",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\" keyed by STRIPE_WEBHOOK_SECRET>`")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "A Stripe event object (`payment_intent.succeeded`, `payment_intent.payment_failed`, any other type)"),
    responses(
        (status = 200, description = "`{received: true}` (also for a duplicate event id)"),
        (status = 400, description = "`{error}`: malformed body"),
        (status = 401, description = "`{error}`: missing or wrong signature, timestamp outside the tolerance"),
        (status = 413, description = "`{error}`: body over the limit"),
        (status = 503, description = "`{error}`: STRIPE_WEBHOOK_SECRET not configured, or the ledger busy (`Retry-After`)")))]
pub async fn stripe(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    super::receive(Dialect::Stripe, req, payload, state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(
        Dialect::Stripe.path(),
        Dialect::Stripe,
        "POST",
        web::post().to(stripe),
    ));
}
