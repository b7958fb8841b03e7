//! Numbers in paths, query strings and JSON API bodies that are out of range (past SQLite's
//! 64-bit signed integers, or past what a duration can hold) are a 400 with `{error}`, never a
//! 500, on every endpoint that takes one.

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, ADMIN_TOKEN};

/// 2^63: one past the largest `seq` SQLite can store.
const PAST_I64: &str = "9223372036854775808";
/// 2^64: past even an unsigned 64-bit integer.
const PAST_U64: &str = "18446744073709551616";

async fn assert_json_400(response: reqwest::Response, what: &str) {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(status, 400, "{what}: {text}");
    let body: Value = serde_json::from_str(&text).expect("JSON body");
    // The request log is seed 001's endpoint and answers in its `{detail}` shape.
    assert!(
        body["error"].is_string() || body["detail"].is_string(),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn out_of_range_numbers_in_paths_and_queries_are_400_with_a_json_error() {
    let app = spawn_app_with(|s| s.allow_private_urls = vec!["127.0.0.1".into()]).await;
    for number in [PAST_I64, PAST_U64, "-1"] {
        for path in [
            format!("/api/events/{number}"),
            format!("/api/events?after_seq={number}"),
            format!("/api/events?limit={number}"),
            format!("/api/ledger/trial-balance?as_of={number}"),
            format!("/api/v1/tenant/webhooks/deliveries?before_seq={number}"),
            format!("/api/v1/tenant/webhooks/deliveries?limit={number}"),
            format!("/api/v2/webhooks/logs?limit={number}"),
        ] {
            let response = app.get_as(&path, ADMIN_TOKEN).await;
            if number == PAST_I64 && path.contains("limit=") {
                // A limit past the maximum is lowered to it, as documented.
                assert_eq!(response.status(), 200, "{path}");
                continue;
            }
            assert_json_400(response, &path).await;
        }
    }
    // Seq 0 is not a positive seq either.
    assert_json_400(app.get_as("/api/events/0", ADMIN_TOKEN).await, "seq 0").await;
}

#[tokio::test]
async fn out_of_range_numbers_in_json_api_bodies_are_400_with_a_json_error() {
    let app = spawn_app_with(|s| s.allow_private_urls = vec!["127.0.0.1".into()]).await;
    let created: Value = app
        .post_json_as(
            "/api/v1/tenant/webhooks/subscriptions",
            ADMIN_TOKEN,
            json!({ "url": "http://127.0.0.1:9/hooks", "event": "*" }),
        )
        .await
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id");
    for number in [PAST_I64, PAST_U64] {
        let redeliver = format!("/api/v1/tenant/webhooks/subscriptions/{id}/redeliver");
        let response = app
            .client
            .post(app.url(&redeliver))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(format!("{{\"since_seq\": {number}}}"))
            .send()
            .await
            .expect("request");
        assert_json_400(response, &format!("since_seq {number}")).await;
        let rotate = format!("/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret");
        let response = app
            .client
            .post(app.url(&rotate))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(format!("{{\"grace_period_seconds\": {number}}}"))
            .send()
            .await
            .expect("request");
        assert_json_400(response, &format!("grace_period_seconds {number}")).await;
    }
}

#[tokio::test]
async fn a_number_past_a_double_in_a_webhook_body_is_400_and_never_an_unreadable_order() {
    let app = spawn_app_with(|_| {}).await;
    // Found by the canonical_json fuzz target: stored as written, this made every later read of
    // the order a 500 ("number out of range").
    let response = app
        .post_text(
            "/api/v2/webhooks/orders",
            &[],
            r#"{"order_number":"big-1","note":1e400}"#,
        )
        .await;
    assert_json_400(response, "1e400 in a body").await;
    assert_eq!(app.events_count().await, 0);
    let kept = app
        .post_text(
            "/api/v2/webhooks/orders",
            &[],
            r#"{"order_number":"tiny-1","note":1e-400}"#,
        )
        .await;
    assert_eq!(kept.status(), 200);
    let order = app.get_as("/api/orders/roms/tiny-1", ADMIN_TOKEN).await;
    assert_eq!(order.status(), 200);
}
