//! `POST /api/v2/webhooks/orders`: seed 001's order webhook (field aliases, upsert by
//! `order_number`, optional `X-Webhook-Signature`).

use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;

use crate::state::AppState;

/// Seed 001's order webhook.
#[utoipa::path(post, path = "/api/v2/webhooks/orders", tag = "inbound",
    params(("X-Webhook-Signature" = Option<String>, Header,
        description = "hex HMAC-SHA256 of the raw body keyed by WEBHOOK_SECRET; required once that is set")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Seed 001: `order_number` (required) and any of the seed's field aliases",
        example = json!({"order_number": "12345", "product": "Nike Shoes", "price": 99.99, "quantity": 1, "email": "customer@example.com", "status": "pending"})),
    responses(
        (status = 200, description = "`{success: true, message: \"Order received and processed successfully\", order_id, order_number}` (also for a duplicate)"),
        (status = 400, description = "`{detail}`: malformed body, missing `order_number`, a bad amount"),
        (status = 401, description = "`{detail}`: missing or invalid signature"),
        (status = 413, description = "`{detail}`: body over the limit"),
        (status = 503, description = "`{detail}`: the ledger is busy (`Retry-After`)")))]
pub async fn orders(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    crate::routes::webhooks::receive(Dialect::Roms, req, payload, state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routes::webhooks::resource(
        Dialect::Roms.path(),
        Dialect::Roms,
        "POST",
        web::post().to(orders),
    ));
}
