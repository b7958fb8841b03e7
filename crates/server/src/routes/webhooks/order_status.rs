//! `POST /api/webhooks/order-status`: seed 000, the web shop's order status
//! (`{orderId, status, webhookSecret}`), answered `{success, orderId, status, accountingStatus,
//! workOrderId}` or `{error}`.

use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;

use crate::state::AppState;

/// Seed 000's order-status webhook.
#[utoipa::path(post, path = "/api/webhooks/order-status", tag = "inbound",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Seed 000: `{orderId, status, webhookSecret}`, optional `amount` and `currency`",
        example = json!({"orderId": "3BzExHXnvYpEu0jOaFDP", "status": "processing", "webhookSecret": "your-webhook-secret-here"})),
    responses(
        (status = 200, description = "`{success: true, orderId, status, accountingStatus, workOrderId}` (also for a duplicate)"),
        (status = 400, description = "`{error}`: malformed body, missing field, unknown status"),
        (status = 401, description = "`{error: \"Invalid webhook secret\"}`"),
        (status = 413, description = "`{error}`: body over the limit"),
        (status = 503, description = "`{error}`: ACCOUNTING_WEBHOOK_SECRET not configured, or the ledger busy (`Retry-After`)")))]
pub async fn order_status(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    super::receive(Dialect::Accounting, req, payload, state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(
        Dialect::Accounting.path(),
        Dialect::Accounting,
        "POST",
        web::post().to(order_status),
    ));
}
