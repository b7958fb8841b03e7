//! The operator's destinations: seed 003's customer callbacks, seed 002's Zapier events, rows
//! skipped while a URL is unset, and seed 003's test endpoint.

use std::time::Duration;

use serde_json::{json, Value};

use super::receiver::{spawn_receiver, Received, Reply};
use super::signatures::x_signature_verifies;
use super::support::{row, start};

const CUSTOMER_SECRET: &str = "customer-server-secret";

fn seed_003_payload() -> Value {
    json!({
        "orderId": "64a7b2c8f9e4d1a2b3c4d5e6",
        "customerId": "customer-123",
        "status": "accepted",
        "previousStatus": "pending",
        "updatedAt": "2023-12-04T10:30:00.000Z",
        "orderData": { "customerId": "customer-123", "fare": 250, "items": [] },
        "vendorDetails": { "vendorId": "64a7b2c8f9e4d1a2b3c4d5e7" }
    })
}

/// Seed 003's headers, exactly.
fn assert_seed_003_headers(request: &Received, order_id: &str) {
    assert_eq!(request.path, "/hooks");
    assert_eq!(request.header("content-type"), "application/json");
    assert_eq!(request.header("x-vendor-server-secret"), CUSTOMER_SECRET);
    assert_eq!(request.header("x-webhook-event"), "order.status_changed");
    assert_eq!(request.header("x-webhook-order-id"), order_id);
    assert_eq!(request.header("user-agent"), "VendorServer-Webhook/1.0");
    let timestamp = request.header("x-webhook-timestamp");
    assert_eq!(
        timestamp.len(),
        "2023-12-04T10:30:00.000Z".len(),
        "{timestamp}"
    );
    assert!(timestamp.ends_with('Z') && timestamp.as_bytes()[19] == b'.');
    let sent = chrono::DateTime::parse_from_rfc3339(timestamp).expect("RFC 3339");
    let age = chrono::Utc::now() - sent.with_timezone(&chrono::Utc);
    assert!(
        age.num_seconds().abs() < 60,
        "the time of sending, within seed 003's 5 minutes"
    );
}

#[tokio::test]
async fn customer_callbacks_carry_seed_003s_headers_and_body() {
    let dir = tempfile::tempdir().expect("dir");
    let customer = spawn_receiver(vec![Reply::Status(200)]).await;
    let url = customer.url.clone();
    let app = start(&dir.path().join("h.db"), move |s| {
        s.customer_webhook_url = Some(url);
        s.ingest.customer_server_secret = Some(ingest::Secret::new(CUSTOMER_SECRET));
    })
    .await;
    let payload = seed_003_payload();
    app.insert_outbox(vec![row(
        "o-cust",
        1,
        "order.status_changed",
        "customer",
        payload.clone(),
    )])
    .await;
    let request = customer.wait_for(1, Duration::from_secs(5)).await[0].clone();
    assert_seed_003_headers(&request, "64a7b2c8f9e4d1a2b3c4d5e6");
    assert_eq!(
        request.json(),
        payload,
        "the outbox payload is the whole body"
    );
    assert!(x_signature_verifies(CUSTOMER_SECRET, &request));
    let delivery = app
        .wait_for_status("o-cust", None, "delivered", Duration::from_secs(5))
        .await;
    assert_eq!(delivery["destination"], "customer");
    assert_eq!(request.header("webhook-id"), delivery["id"]);
}

#[tokio::test]
async fn zapier_gets_event_timestamp_data_and_rows_without_a_url_are_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let zapier = spawn_receiver(vec![Reply::Status(200)]).await;
    let url = zapier.url.clone();
    let app = start(&dir.path().join("h.db"), move |s| {
        s.zapier_webhook_url = Some(url);
    })
    .await;
    let data = json!({ "work_order_id": "wo-1", "wo_number": "PENDING-1", "batch_size": 10 });
    app.insert_outbox(vec![
        row(
            "o-zap",
            1,
            "shopOrder.create.requested",
            "zapier",
            data.clone(),
        ),
        row(
            "o-nourl",
            1,
            "order.status_changed",
            "customer",
            seed_003_payload(),
        ),
    ])
    .await;
    let request = zapier.wait_for(1, Duration::from_secs(5)).await[0].clone();
    assert_eq!(
        request.json(),
        json!({ "event": "shopOrder.create.requested", "timestamp": "2024-01-10T14:30:00.123Z", "data": data })
    );
    assert_eq!(request.header("content-type"), "application/json");
    app.wait_for_status("o-zap", None, "delivered", Duration::from_secs(5))
        .await;
    // The row without a URL is counted as skipped and stored as no delivery at all.
    let metrics = app
        .metrics_until("status=\"skipped\"", Duration::from_secs(5))
        .await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("webhook_deliveries_total")
                && l.contains("event=\"order.status_changed\"")
                && l.contains("status=\"skipped\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let all = app.all_deliveries().await;
    assert!(
        all.iter().all(|d| d["outbox_id"] != "o-nourl"),
        "no delivery is stored for a destination without a URL: {all:?}"
    );
}

#[tokio::test]
async fn the_webhook_test_endpoint_sends_a_complete_seed_003_body() {
    let dir = tempfile::tempdir().expect("dir");
    let receiver = spawn_receiver(vec![Reply::Status(200), Reply::Status(500)]).await;
    let unset = start(&dir.path().join("unset.db"), |_| {}).await;
    let post = |app: &super::support::Service, secret: &str, body: Value| {
        let request = app
            .client
            .post(app.url("/api/external/webhook-test"))
            .header("x-vendor-server-secret", secret)
            .json(&body);
        async move { request.send().await.expect("request") }
    };
    let response = post(&unset, "x", json!({ "webhookUrl": receiver.url })).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains("CUSTOMER_SERVER_SECRET"));

    let app = start(&dir.path().join("h.db"), |s| {
        s.ingest.customer_server_secret = Some(ingest::Secret::new(CUSTOMER_SECRET));
    })
    .await;
    let wrong = post(&app, "wrong", json!({ "webhookUrl": receiver.url })).await;
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body, json!({ "error": "Invalid webhook secret" }));
    let missing = post(&app, CUSTOMER_SECRET, json!({})).await;
    assert_eq!(missing.status(), 400);
    let private = post(
        &app,
        CUSTOMER_SECRET,
        json!({ "webhookUrl": "http://169.254.169.254/" }),
    )
    .await;
    assert_eq!(private.status(), 400);

    let sent = post(&app, CUSTOMER_SECRET, json!({ "webhookUrl": receiver.url })).await;
    assert_eq!(sent.status(), 200);
    let answer: Value = sent.json().await.expect("json");
    assert_eq!(answer["success"], true);
    assert_eq!(answer["statusCode"], 200);
    let request = receiver.wait_for(1, Duration::from_secs(5)).await[0].clone();
    let order_id = answer["orderId"].as_str().expect("orderId");
    assert_seed_003_headers(&request, order_id);
    let body = request.json();
    for field in [
        "orderId",
        "customerId",
        "status",
        "previousStatus",
        "updatedAt",
        "orderData",
        "vendorDetails",
    ] {
        assert!(!body[field].is_null(), "{field} is in the test body");
    }
    assert_eq!(body["orderData"]["customerId"], body["customerId"]);
    for field in [
        "fare",
        "paymentMethod",
        "paymentStatus",
        "pickup",
        "drop",
        "items",
        "createdAt",
        "metadata",
    ] {
        assert!(!body["orderData"][field].is_null(), "orderData.{field}");
    }

    let failed = post(&app, CUSTOMER_SECRET, json!({ "webhookUrl": receiver.url })).await;
    assert_eq!(failed.status(), 502);
    let answer: Value = failed.json().await.expect("json");
    assert_eq!(answer["success"], false);
    assert_eq!(answer["statusCode"], 500);
    assert!(answer["error"].as_str().expect("error").contains("500"));
}
