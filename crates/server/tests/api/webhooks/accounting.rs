//! Seed 000, `POST /api/webhooks/order-status`.

use ingest::Dialect;
use serde_json::Value;

use crate::fixtures::check_every_fixture;
use crate::helpers::spawn_app_with;

const PATH: &str = "/api/webhooks/order-status";

#[tokio::test]
async fn every_accounting_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Accounting).await >= 30);
}

#[tokio::test]
async fn the_same_status_twice_is_one_event_answered_with_the_first_answer() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let body =
        r#"{"orderId":"O-9","status":"processing","webhookSecret":"test-accounting-secret"}"#;
    let first = app.post_text(PATH, &[], body).await;
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.expect("json");
    // The same content in another layout is the same request.
    let again = r#"{ "webhookSecret": "test-accounting-secret", "status": "processing", "orderId": "O-9" }"#;
    let second = app.post_text(PATH, &[], again).await;
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    assert_eq!(second, first);
    assert_eq!(app.events_count().await, 1);
    let log = app.request_log(2).await;
    assert_eq!(log[0]["outcome"], "duplicate");
    assert_eq!(log[0]["status_code"], 200);
    assert_eq!(log[1]["outcome"], "accepted");
    assert_eq!(log[0]["seq"], log[1]["seq"]);
}

#[tokio::test]
async fn a_status_sent_again_after_another_is_a_new_event() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    for status in ["completed", "pending", "completed"] {
        let body = format!(
            r#"{{"orderId":"O-1","status":"{status}","webhookSecret":"test-accounting-secret"}}"#
        );
        assert_eq!(app.post_text(PATH, &[], &body).await.status(), 200);
    }
    assert_eq!(app.events_count().await, 3);
}
