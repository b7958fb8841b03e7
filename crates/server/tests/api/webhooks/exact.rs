//! Seed 002, `POST /functions/v1/webhook-receiver`.

use ingest::Dialect;
use serde_json::{json, Value};

use crate::fixtures::check_every_fixture;
use crate::helpers::{spawn_app_with, TestApp};

const PATH: &str = "/functions/v1/webhook-receiver";
const SECRET: (&str, &str) = ("x-webhook-secret", "test-exact-secret");

async fn send(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app.post_text(PATH, &[SECRET], &body.to_string()).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn every_exact_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Exact).await >= 40);
}

#[tokio::test]
async fn a_state_refusal_is_404_with_seed_002s_code_and_appends_nothing() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let shop_order = json!({
        "action": "sync_exact_work_order",
        "exact_shop_order_number": "SO-9",
        "exact_shop_order_link": "https://example.invalid/SO-9",
        "product": {"exact_item_id": "x1", "item_code": "HMI-1"},
        "batch_size": 1
    });
    let (status, body) = send(&app, shop_order.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({
            "success": false,
            "error": "Product not found: exact_item_id x1 (sync it with sync_products first)",
            "code": "PRODUCT_NOT_FOUND"
        })
    );
    assert_eq!(app.events_count().await, 0);
    let log = app.request_log(1).await;
    assert_eq!(log[0]["status_code"], 404);
    assert_eq!(log[0]["outcome"], "rejected");
    assert!(log[0]["seq"].is_null());

    // Once the product is known, the same request goes through.
    let products = json!({"action": "sync_products", "products": [
        {"exact_item_id": "x1", "item_code": "HMI-1", "name": "HMI", "product_type": "HMI"}]});
    assert_eq!(send(&app, products).await.0, 200);
    let (status, body) = send(&app, shop_order).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.events_count().await, 2);
}

#[tokio::test]
async fn batch_numbers_for_the_work_order_the_server_made_are_assigned() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let products = json!({"action": "sync_products", "products": [
        {"exact_item_id": "x1", "item_code": "HMI-1", "name": "HMI", "product_type": "HMI"}]});
    assert_eq!(send(&app, products).await.0, 200);
    let (status, synced) = send(
        &app,
        json!({
            "action": "sync_exact_work_order",
            "exact_shop_order_number": "SO-9",
            "exact_shop_order_link": "https://example.invalid/SO-9",
            "product": {"exact_item_id": "x1", "item_code": "HMI-1"},
            "batch_size": 1
        }),
    )
    .await;
    assert_eq!(status, 200, "{synced}");
    let work_order_id = synced["work_order_id"].as_str().expect("work_order_id");
    // fixtures/exact/assign_batch_numbers_by_work_order_id.json, naming this work order.
    let assign = json!({
        "action": "assign_batch_numbers",
        "work_order_id": work_order_id,
        "materials_issued_status": "partial",
        "batch_assignments": [{"position_in_batch": 1, "batch_number": "B-1"}]
    });
    let (status, body) = send(&app, assign.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "success": true,
            "message": "Assigned batch numbers to 1 items",
            "updated_items": 1,
            "materials_issued_status": "partial"
        })
    );
    // The same action with the same content again: a duplicate, answered the same.
    let (status, again) = send(&app, assign).await;
    assert_eq!((status, &again), (200, &body));
    assert_eq!(app.events_count().await, 3);
    assert_eq!(app.request_log(1).await[0]["outcome"], "duplicate");
}
