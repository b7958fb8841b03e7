//! `POST /api/vendor/order-updates`: seed 003, the vendor server's status callbacks,
//! authenticated by `x-vendor-server-secret` within a 5-minute `x-webhook-timestamp` window;
//! errors `{error}`.

use actix_web::{web, HttpRequest, HttpResponse};
use ingest::Dialect;

use crate::state::AppState;

/// Seed 003's order status callback.
#[utoipa::path(post, path = "/api/vendor/order-updates", tag = "inbound",
    params(
        ("x-vendor-server-secret" = String, Header, description = "CUSTOMER_SERVER_SECRET"),
        ("x-webhook-timestamp" = String, Header, description = "RFC 3339 (or Unix seconds/milliseconds), within 5 minutes of now")),
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Seed 003: `{orderId, customerId, status, previousStatus, updatedAt, orderData, vendorDetails}`",
        example = json!({"orderId": "64a7b2c8f9e4d1a2b3c4d5e6", "customerId": "customer-123", "status": "accepted", "previousStatus": "pending", "updatedAt": "2023-12-04T10:30:00.000Z"})),
    responses(
        (status = 200, description = "`{success: true, message: \"Webhook received successfully\"}` (also for a duplicate)"),
        (status = 400, description = "`{error}`: malformed body, missing field, unknown status, timestamp outside the window"),
        (status = 401, description = "`{error: \"Invalid webhook secret\"}`"),
        (status = 413, description = "`{error}`: body over the limit"),
        (status = 503, description = "`{error}`: CUSTOMER_SERVER_SECRET not configured, or the ledger busy (`Retry-After`)")))]
pub async fn order_updates(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    super::receive(Dialect::Vendor, req, payload, state).await
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource(
        Dialect::Vendor.path(),
        Dialect::Vendor,
        "POST",
        web::post().to(order_updates),
    ));
}
