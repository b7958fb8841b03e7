//! `POST /api/external/webhook-test`: seed 003's test endpoint. Authenticated by
//! `x-vendor-server-secret` (against `CUSTOMER_SERVER_SECRET`), it sends one test callback to
//! `{webhookUrl}` with seed 003's headers and a complete seed 003 body (`orderData` included,
//! `"test": true` added), and answers what the receiver did:
//! - 200 `{success: true, message, webhookUrl, statusCode, durationMs, response}` when the
//!   receiver answered 2xx;
//! - 502 `{success: false, error, webhookUrl, statusCode, durationMs, response}` when it
//!   answered otherwise, timed out, or could not be reached.
//!
//! One attempt, no retries (the caller is waiting), with the delivery timeout. The URL passes the
//! same address guard as subscription URLs (400 otherwise). The test is not an outbox event:
//! nothing is appended to the log; the request log records it.

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use outbound::send::Outgoing;
use serde_json::{json, Value};
use store::requestlog::RequestEntry;

use crate::state::AppState;

const PATH: &str = "/api/external/webhook-test";

/// A complete seed 003 body for the test callback.
fn test_body(order_id: &str, now: &str) -> Value {
    json!({
        "orderId": order_id,
        "customerId": "test-customer",
        "status": "accepted",
        "previousStatus": "pending",
        "updatedAt": now,
        "orderData": {
            "customerId": "test-customer",
            "fare": 250,
            "paymentMethod": "cod",
            "paymentStatus": "pending",
            "pickup": { "address": "123 Main Street, City", "coordinates": [77.1025, 28.7041] },
            "drop": { "address": "456 Oak Avenue, City", "coordinates": [77.1125, 28.7141] },
            "items": [{ "title": "Webhook test", "qty": 1, "price": 250 }],
            "customerNotes": "hookledger webhook test",
            "vendorNotes": null,
            "scheduledAt": null,
            "assignedAt": now,
            "acceptedAt": now,
            "completedAt": null,
            "cancelledAt": null,
            "cancellationReason": null,
            "cancelledBy": null,
            "createdAt": now,
            "metadata": {
                "orderType": "service",
                "workType": "webhook_test",
                "customerName": "Test Customer",
                "customerPhone": "+10000000000",
                "urgency": "normal"
            }
        },
        "vendorDetails": {
            "vendorId": "hookledger-test",
            "vendorName": "hookledger",
            "mobile": "+10000000000",
            "businessAddress": "hookledger",
            "selectedServices": ["webhook_test"]
        },
        "test": true
    })
}

/// Records the request (secrets removed) and builds the answer.
fn answer(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
    status: StatusCode,
    reason: &str,
    json_body: Value,
) -> HttpResponse {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "x-vendor-server-secret" | "authorization" | "cookie"
            )
        })
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let accepted = status.is_success() || status == StatusCode::BAD_GATEWAY;
    state.request_log.record(RequestEntry {
        id: 0,
        received_at: domain::time::format_micros(Utc::now()),
        method: "POST".into(),
        path: PATH.into(),
        source: "vendor".into(),
        status_code: status.as_u16(),
        outcome: if accepted { "accepted" } else { "rejected" }.into(),
        reason: reason.to_owned(),
        seq: None,
        headers: Value::Object(headers).to_string(),
        body: String::from_utf8_lossy(body).into_owned(),
    });
    HttpResponse::build(status).json(json_body)
}

/// Sends a seed 003 test callback to `webhookUrl`.
#[utoipa::path(post, path = "/api/external/webhook-test", tag = "webhooks",
    params(("x-vendor-server-secret" = String, Header, description = "CUSTOMER_SERVER_SECRET")),
    request_body(content = Object, description = "`{webhookUrl}`"),
    responses((status = 200, description = "`{success: true, message, webhookUrl, statusCode, durationMs, response}`"),
        (status = 400, description = "`{error}`: no or bad `webhookUrl`"),
        (status = 401, description = "`{error: \"Invalid webhook secret\"}`"),
        (status = 502, description = "`{success: false, error, …}`: the receiver failed"),
        (status = 503, description = "`CUSTOMER_SERVER_SECRET` is not set")))]
#[post("/api/external/webhook-test")]
pub async fn webhook_test(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let body = match super::read_body(&state, &req, payload).await {
        Ok(body) => body,
        Err(error) => return actix_web::ResponseError::error_response(&error),
    };
    let fail = |status: StatusCode, message: &str| {
        answer(
            &state,
            &req,
            &body,
            status,
            message,
            json!({ "error": message }),
        )
    };
    let Some(secret) = state.settings.ingest.customer_server_secret.clone() else {
        return fail(
            StatusCode::SERVICE_UNAVAILABLE,
            "CUSTOMER_SERVER_SECRET is not set: the test endpoint is disabled",
        );
    };
    let presented = req
        .headers()
        .get("x-vendor-server-secret")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !secret.matches(presented) {
        return fail(StatusCode::UNAUTHORIZED, "Invalid webhook secret");
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let Some(url) = parsed.get("webhookUrl").and_then(Value::as_str) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "webhookUrl is required (a JSON body {\"webhookUrl\": \"https://…\"})",
        );
    };
    let url = match state.outbound.guard.check_url(url).await {
        Ok(url) => url.to_string(),
        Err(e) => return fail(StatusCode::BAD_REQUEST, &format!("webhookUrl: {e}")),
    };
    let now = domain::time::format_millis(Utc::now());
    let webhook_id = uuid::Uuid::new_v4().to_string();
    let order_id = format!("test-{}", &webhook_id[..8]);
    let callback = test_body(&order_id, &now).to_string();
    let result = state
        .outbound
        .sender
        .send(&Outgoing {
            url: &url,
            guarded: true,
            webhook_id: &webhook_id,
            event: "order.status_changed",
            body: &callback,
            signing_secrets: vec![secret.expose()],
            vendor_secret: Some(secret.expose()),
            timeout: state.outbound.timeout,
        })
        .await;
    let delivered = result.verdict == outbound::policy::Verdict::Delivered;
    let mut reply = json!({
        "success": delivered,
        "webhookUrl": url,
        "orderId": order_id,
        "statusCode": result.status_code,
        "durationMs": result.duration.as_millis() as u64,
        "response": result.response_body,
    });
    if delivered {
        reply["message"] = json!("Test webhook sent successfully");
        return answer(&state, &req, &body, StatusCode::OK, "", reply);
    }
    let error = match (&result.error, result.status_code) {
        (Some(error), _) => format!("Test webhook failed: {error}"),
        (None, Some(code)) => format!("Test webhook failed: the receiver answered HTTP {code}"),
        (None, None) => "Test webhook failed".to_owned(),
    };
    reply["error"] = json!(error);
    answer(&state, &req, &body, StatusCode::BAD_GATEWAY, &error, reply)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(webhook_test);
}
