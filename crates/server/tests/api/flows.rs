//! Each seed's documented flow end to end over HTTP: the answers, the read models
//! (`/api/orders`, `/api/work-orders`), the journal and the outbox rows.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, TestApp};

const ACCOUNTING: &str = "flow-accounting";
const EXACT: &str = "flow-exact";
const VENDOR: &str = "flow-vendor";
const STRIPE: &str = "whsec_flow";

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.ingest.accounting_webhook_secret = Some(ingest::Secret::new(ACCOUNTING));
        s.ingest.exact_webhook_secret = Some(ingest::Secret::new(EXACT));
        s.ingest.customer_server_secret = Some(ingest::Secret::new(VENDOR));
        s.ingest.stripe_webhook_secret = Some(ingest::Secret::new(STRIPE));
    })
    .await
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, String)], body: &Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

async fn accounting(app: &TestApp, order: &str, status: &str, extra: Value) -> Value {
    let mut body = json!({"orderId": order, "status": status, "webhookSecret": ACCOUNTING});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let (code, answer) = post(app, "/api/webhooks/order-status", &[], &body).await;
    assert_eq!(code, 200, "{answer}");
    answer
}

async fn exact(app: &TestApp, body: Value) -> (u16, Value) {
    post(
        app,
        "/functions/v1/webhook-receiver",
        &[("x-webhook-secret", EXACT.into())],
        &body,
    )
    .await
}

fn balances(app: &TestApp) -> std::collections::BTreeMap<String, i64> {
    let lines = app
        .state
        .store
        .read(|conn| store::projection::journal_lines(conn, None))
        .expect("journal");
    let mut balances = std::collections::BTreeMap::new();
    for line in lines {
        *balances
            .entry(format!("{} {}", line.account, line.currency))
            .or_insert(0) += line.debit_minor - line.credit_minor;
    }
    balances
}

fn outbox(app: &TestApp, destination: &str) -> Vec<(String, Value)> {
    app.state
        .store
        .read(|conn| store::projection::outbox_after(conn, 0))
        .expect("outbox")
        .into_iter()
        .filter(|row| row.destination == destination)
        .map(|row| (row.event, serde_json::from_str(&row.payload).expect("json")))
        .collect()
}

#[tokio::test]
async fn seed_000_order_from_pending_to_completed_over_http() {
    let app = app().await;
    let pending = accounting(&app, "3BzExHXnvYpEu0jOaFDP", "pending", json!({})).await;
    assert_eq!(pending["workOrderId"], Value::Null);
    let processing = accounting(
        &app,
        "3BzExHXnvYpEu0jOaFDP",
        "processing",
        json!({"amount": 49.90}),
    )
    .await;
    let work_order_id = processing["workOrderId"]
        .as_str()
        .expect("workOrderId")
        .to_owned();
    let again = accounting(
        &app,
        "3BzExHXnvYpEu0jOaFDP",
        "processing",
        json!({"amount": 49.90}),
    )
    .await;
    assert_eq!(
        again, processing,
        "a duplicate is answered with the first answer's ids"
    );
    accounting(&app, "3BzExHXnvYpEu0jOaFDP", "completed", json!({})).await;

    let order = app
        .get_json("/api/orders/accounting/3BzExHXnvYpEu0jOaFDP")
        .await;
    assert_eq!(order["status"], "completed");
    assert_eq!(order["accounting_status"], "completed");
    assert_eq!(order["work_order_id"], work_order_id.as_str());
    assert_eq!(order["events"].as_array().expect("events").len(), 3);
    let history = order["history"].as_array().expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| h["status"].as_str().expect("status"))
            .collect::<Vec<_>>(),
        ["pending", "processing", "completed"]
    );
    let work_order = app
        .get_json(&format!("/api/work-orders/{work_order_id}"))
        .await;
    assert_eq!(work_order["status"], "completed");
    assert_eq!(balances(&app)["Assets:Receivables:Accounting USD"], 4990);
    let zapier: Vec<String> = outbox(&app, "zapier")
        .into_iter()
        .map(|(event, _)| event)
        .collect();
    assert_eq!(
        zapier,
        [
            "shopOrder.create.requested",
            "shopOrder.completion.requested"
        ]
    );
    let callbacks = outbox(&app, "customer");
    assert_eq!(callbacks.len(), 3);
    assert_eq!(callbacks[1].1["previousStatus"], "pending");
    assert_eq!(callbacks[1].1["status"], "processing");
}

#[tokio::test]
async fn seed_001_create_then_update_by_order_number_over_http() {
    let app = app().await;
    let create = json!({"order_number": "ORD-001", "product": "Nike Air Max", "price": 120.00,
        "quantity": 1, "email": "customer@example.com", "status": "pending"});
    let (code, created) = post(&app, "/api/v2/webhooks/orders", &[], &create).await;
    assert_eq!(code, 200);
    assert_eq!(created["order_id"], 1);
    let update = json!({"order_number": "ORD-001", "status": "shipped", "tracking_number": "1Z999AA10123456784"});
    let (_, updated) = post(&app, "/api/v2/webhooks/orders", &[], &update).await;
    assert_eq!(updated["order_id"], 1);
    let order = app.get_json("/api/orders/roms/ORD-001").await;
    assert_eq!(order["order_id"], 1);
    assert_eq!(order["status"], "shipped");
    assert_eq!(order["fields"]["product"], "Nike Air Max");
    assert_eq!(order["fields"]["price"], 120.00);
    assert_eq!(order["fields"]["tracking_number"], "1Z999AA10123456784");
    assert_eq!(order["fields"]["email"], "customer@example.com");
    assert_eq!(balances(&app)["Income:Sales:Roms USD"], -12000);
    let subscribers: Vec<String> = outbox(&app, "subscribers")
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    assert!(subscribers.contains(&"customer.created".to_owned()));
    assert!(subscribers.contains(&"sales_order.confirmed".to_owned()));
}

#[tokio::test]
async fn seed_002_products_shop_order_batch_numbers_and_completion_over_http() {
    let app = app().await;
    let (code, refused) = exact(&app, json!({"action": "assign_batch_numbers", "work_order_id": "missing",
        "materials_issued_status": "complete", "batch_assignments": [{"position_in_batch": 1, "batch_number": "B"}]})).await;
    assert_eq!(code, 404);
    assert_eq!(refused["code"], "WORK_ORDER_NOT_FOUND");
    let (code, _) = exact(&app, json!({"action": "sync_products", "products": [
        {"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001", "name": "SDM ECO Sensor Unit", "product_type": "SDM_ECO"}]})).await;
    assert_eq!(code, 200);
    let processing = accounting(&app, "web-7", "processing", json!({})).await;
    let work_order_id = processing["workOrderId"].as_str().expect("id").to_owned();
    let wo_number = app
        .get_json(&format!("/api/work-orders/{work_order_id}"))
        .await["wo_number"]
        .as_str()
        .expect("wo_number")
        .to_owned();
    let (code, synced) = exact(&app, json!({"action": "sync_exact_work_order", "exact_shop_order_number": "SO-2024-001234",
        "exact_shop_order_link": "https://start.exactonline.nl/docs/ShopOrderView.aspx?ID=abc123", "wo_number": wo_number,
        "product": {"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001"}, "batch_size": 2,
        "materials_issued_status": "pending"})).await;
    assert_eq!(code, 200, "{synced}");
    assert_eq!(
        synced["work_order_id"],
        work_order_id.as_str(),
        "the shop order attaches to the pending work order"
    );
    let (code, assigned) = exact(&app, json!({"action": "assign_batch_numbers", "exact_shop_order_number": "SO-2024-001234",
        "materials_issued_status": "complete", "batch_assignments": [
            {"position_in_batch": 1, "serial_number": "SDM-2024-0001", "batch_number": "BATCH-2024-001"},
            {"position_in_batch": 2, "serial_number": "SDM-2024-0002", "batch_number": "BATCH-2024-001"}]})).await;
    assert_eq!(code, 200);
    assert_eq!(assigned["updated_items"], 2);
    let work_order = app
        .get_json(&format!("/api/work-orders/{work_order_id}"))
        .await;
    assert_eq!(work_order["status"], "ready");
    assert_eq!(work_order["materials_issued_status"], "complete");
    assert_eq!(work_order["items"][1]["serial_number"], "SDM-2024-0002");
    assert_eq!(work_order["items"][1]["position_in_batch"], 2);
    accounting(&app, "web-7", "completed", json!({})).await;
    let completion = outbox(&app, "zapier")
        .into_iter()
        .find(|(e, _)| e == "shopOrder.completion.requested")
        .expect("completion");
    assert_eq!(completion.1["items"][0]["batch_number"], "BATCH-2024-001");
    assert_eq!(completion.1["exact_shop_order_number"], "SO-2024-001234");
}

#[tokio::test]
async fn seed_003_nine_statuses_in_order_over_http() {
    let app = app().await;
    let statuses = [
        "pending",
        "assigned",
        "accepted",
        "in_progress",
        "payment_requested",
        "payment_confirmed",
        "arrival_confirmed",
        "completed",
        "cancelled",
    ];
    let mut previous = Value::Null;
    for status in statuses {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = json!({"orderId": "64a7b2c8f9e4d1a2b3c4d5e6", "customerId": "customer-123", "status": status,
            "previousStatus": previous, "updatedAt": now, "orderData": {"fare": 250, "paymentMethod": "cod"}});
        let (code, answer) = post(
            &app,
            "/api/vendor/order-updates",
            &[
                ("x-vendor-server-secret", VENDOR.into()),
                ("x-webhook-timestamp", now.clone()),
            ],
            &body,
        )
        .await;
        assert_eq!(code, 200, "{status}: {answer}");
        previous = json!(status);
    }
    let order = app
        .get_json("/api/orders/vendor/64a7b2c8f9e4d1a2b3c4d5e6")
        .await;
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["previous_status"], "completed");
    assert_eq!(order["history"].as_array().expect("history").len(), 9);
    let callbacks = outbox(&app, "customer");
    assert_eq!(callbacks.len(), 9);
    assert_eq!(callbacks[8].1["previousStatus"], "completed");
    let balances = balances(&app);
    assert_eq!(
        balances["Assets:Cash:Vendor USD"], 25000,
        "payment_confirmed with its fare"
    );
    assert_eq!(
        balances["Income:Sales:Vendor USD"], 0,
        "cancelled after acceptance: reversed"
    );
}

#[tokio::test]
async fn a_stripe_payment_against_an_order_over_http() {
    let app = app().await;
    post(
        &app,
        "/api/v2/webhooks/orders",
        &[],
        &json!({"order_number": "R-1", "total": "99.99", "status": "verified"}),
    )
    .await;
    let body = json!({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "created": 1700000000,
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 9999, "currency": "usd",
        "metadata": {"order_number": "R-1", "source": "roms"}}}});
    let text = body.to_string();
    let t = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(STRIPE.as_bytes()).expect("key");
    mac.update(format!("{t}.{text}").as_bytes());
    let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    let (code, answer) = post(
        &app,
        "/api/webhooks/stripe",
        &[("stripe-signature", signature)],
        &body,
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    let balances = balances(&app);
    assert_eq!(balances["Assets:Cash:Stripe USD"], 9999);
    assert_eq!(balances["Assets:Receivables:Roms USD"], 0);
    let order = app.get_json("/api/orders/roms/R-1").await;
    assert_eq!(order["payments"][0]["payment_id"], "pi_1");
    let payment = app.get_json("/api/orders/stripe/pi_1").await;
    assert_eq!(payment["status"], "succeeded");
    assert_eq!(
        payment["events"][0]["type"],
        "stripe.payment_intent_succeeded"
    );
    let received = outbox(&app, "subscribers")
        .into_iter()
        .find(|(e, _)| e == "payment.received")
        .expect("payment.received");
    assert_eq!(received.1["amount"], 99.99);
    assert_eq!(received.1["amount_minor"], 9999);
    assert_eq!(received.1["currency"], "USD");
}
