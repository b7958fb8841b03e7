//! `POST /functions/v1/webhook-receiver`: seed 002, Exact Online through Zapier (`action`:
//! `sync_products`, `sync_exact_work_order`, `assign_batch_numbers`, `sync_customers`),
//! authenticated by `X-Webhook-Secret`; errors `{success: false, error, code}`.

use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;

use crate::state::AppState;

/// Seed 002's inbound actions.
#[utoipa::path(post, path = "/functions/v1/webhook-receiver", tag = "inbound",
    params(("X-Webhook-Secret" = String, Header, description = "EXACT_WEBHOOK_SECRET")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Seed 002: `{action, ...}`",
        example = json!({"action": "sync_products", "products": [{"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001", "name": "SDM ECO Sensor Unit", "product_type": "SDM_ECO"}]})),
    responses(
        (status = 200, description = "the action's answer as the seed shows it (also for a duplicate)"),
        (status = 400, description = "`{success: false, error, code}`: INVALID_ACTION, MISSING_REQUIRED_FIELD, INVALID_STATUS, INVALID_PAYLOAD"),
        (status = 401, description = "`{success: false, error, code: \"UNAUTHORIZED\"}`"),
        (status = 404, description = "`{success: false, error, code}`: WORK_ORDER_NOT_FOUND, PRODUCT_NOT_FOUND; nothing is applied"),
        (status = 413, description = "`{success: false, error, code: \"PAYLOAD_TOO_LARGE\"}`"),
        (status = 503, description = "EXACT_WEBHOOK_SECRET not configured, or the ledger busy (`Retry-After`)")))]
pub async fn webhook_receiver(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    super::receive(Dialect::Exact, req, payload, state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(
        Dialect::Exact.path(),
        Dialect::Exact,
        "POST",
        web::post().to(webhook_receiver),
    ));
}
