//! Seed 003's retry policy, with the delays shortened to 50/100/150 ms.

use std::time::Duration;

use serde_json::json;

use super::receiver::{spawn_receiver, Reply};
use super::support::{row, start, DELAYS_MS};

/// Scheduling slack allowed on top of a delay (a loaded 2-core machine runs the tests).
const SLACK: Duration = Duration::from_millis(400);

#[tokio::test]
async fn a_receiver_failing_twice_then_succeeding_gets_three_attempts_at_the_configured_delays() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![
        Reply::Status(500),
        Reply::Status(503),
        Reply::Status(200),
    ])
    .await;
    let sub = app
        .subscribe_to(&receiver.url, "payment.received", "s3cret-s3cret")
        .await;
    app.insert_outbox(vec![row(
        "o-500",
        1,
        "payment.received",
        "subscribers",
        json!({"n": 1}),
    )])
    .await;
    let delivery = app
        .wait_for_status(
            "o-500",
            sub["id"].as_str(),
            "delivered",
            Duration::from_secs(5),
        )
        .await;
    let received = receiver
        .assert_total_after(3, Duration::from_millis(400))
        .await;
    for (idx, pair) in received.windows(2).enumerate() {
        let gap = pair[1].at - pair[0].at;
        let delay = Duration::from_millis(DELAYS_MS[idx]);
        assert!(
            gap >= delay,
            "retry {idx} came after {gap:?}, before its {delay:?}"
        );
        assert!(
            gap < delay + SLACK,
            "retry {idx} came after {gap:?}, long after {delay:?}"
        );
    }
    let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == delivery["id"]), "{ids:?}");
    assert_eq!(delivery["attempts"], 3);
    let outcomes: Vec<&str> = delivery["attempt_history"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, ["retry", "retry", "delivered"]);
    assert_eq!(delivery["attempt_history"][0]["status_code"], 500);
    assert_eq!(
        delivery["attempt_history"][2]["response_body"],
        "{\"received\":2}"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"webhook_retries_total{event="payment.received",reason="http_5xx",tenant_id="00000000-0000-0000-0000-000000000000"} 2"#), "{metrics}");
}

#[tokio::test]
async fn a_400_is_final_after_one_attempt_and_an_admin_can_retry_it() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(400), Reply::Status(200)]).await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    app.insert_outbox(vec![row(
        "o-400",
        1,
        "sales_order.created",
        "subscribers",
        json!({}),
    )])
    .await;
    let dead = app
        .wait_for_status("o-400", sub["id"].as_str(), "dead", Duration::from_secs(5))
        .await;
    assert_eq!(dead["attempts"], 1);
    assert_eq!(dead["last_error"], "HTTP 400");
    receiver
        .assert_total_after(1, Duration::from_millis(500))
        .await;
    let listed = app
        .deliveries("?status=dead&event=sales_order.created")
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["attempts"], 1);

    let id = dead["id"].as_str().expect("id");
    let auditor = app.token("auditor").await;
    let refused = app
        .client
        .post(app.url(&format!("/api/v1/tenant/webhooks/deliveries/{id}/retry")))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    let retried = app
        .post(
            &format!("/api/v1/tenant/webhooks/deliveries/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(retried.status(), 202);
    let delivered = app
        .wait_for_status(
            "o-400",
            sub["id"].as_str(),
            "delivered",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(delivered["attempts"], 2);
    let received = receiver.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(
        received[0].header("webhook-id"),
        received[1].header("webhook-id")
    );
    let again = app
        .post(
            &format!("/api/v1/tenant/webhooks/deliveries/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(
        again.status(),
        409,
        "a delivered delivery is never sent again"
    );
    let unknown = app
        .post("/api/v1/tenant/webhooks/deliveries/nope/retry", json!({}))
        .await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_asked() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![
        Reply::With(429, vec![("Retry-After", "1".into())]),
        Reply::Status(200),
    ])
    .await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    app.insert_outbox(vec![row(
        "o-429",
        1,
        "payment.failed",
        "subscribers",
        json!({}),
    )])
    .await;
    app.wait_for_status(
        "o-429",
        sub["id"].as_str(),
        "delivered",
        Duration::from_secs(5),
    )
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 2);
    let gap = received[1].at - received[0].at;
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, Retry-After asked 1 s"
    );
    assert!(gap < Duration::from_secs(1) + SLACK, "{gap:?}");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_on_every_attempt_then_the_delivery_is_dead() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |s| {
        s.delivery_timeout = Duration::from_millis(200);
    })
    .await;
    let receiver = spawn_receiver(vec![Reply::Hang]).await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    app.insert_outbox(vec![row(
        "o-hang",
        1,
        "work_order.created",
        "subscribers",
        json!({}),
    )])
    .await;
    let dead = app
        .wait_for_status("o-hang", sub["id"].as_str(), "dead", Duration::from_secs(8))
        .await;
    assert_eq!(dead["attempts"], 4, "the first attempt and 3 retries");
    for attempt in dead["attempt_history"].as_array().expect("attempts") {
        let error = attempt["error"].as_str().expect("error");
        assert!(error.contains("timed out"), "{error}");
        let duration_ms = attempt["duration_ms"].as_f64().expect("duration");
        assert!((190.0..1500.0).contains(&duration_ms), "{duration_ms}");
    }
    receiver
        .assert_total_after(4, Duration::from_millis(300))
        .await;
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"webhook_retries_total{event="work_order.created",reason="timeout",tenant_id="00000000-0000-0000-0000-000000000000"} 3"#), "{metrics}");
    assert!(metrics.contains(r#"webhook_deliveries_total{event="work_order.created",status="dead",tenant_id="00000000-0000-0000-0000-000000000000"} 1"#));
}

#[tokio::test]
async fn a_410_disables_the_subscription_with_its_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(410)]).await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    app.insert_outbox(vec![row(
        "o-410",
        1,
        "customer.updated",
        "subscribers",
        json!({}),
    )])
    .await;
    app.wait_for_status("o-410", sub["id"].as_str(), "dead", Duration::from_secs(5))
        .await;
    let listed = app.get("/api/v1/tenant/webhooks/subscriptions").await;
    let found = &listed["subscriptions"][0];
    assert_eq!(found["status"], "disabled");
    assert!(found["status_reason"]
        .as_str()
        .expect("reason")
        .contains("410"));
    app.insert_outbox(vec![row(
        "o-410b",
        2,
        "customer.updated",
        "subscribers",
        json!({}),
    )])
    .await;
    receiver
        .assert_total_after(1, Duration::from_millis(400))
        .await;
}

#[tokio::test]
async fn a_subscription_failing_longer_than_the_span_is_disabled() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |s| {
        s.subscription_failing_max = Duration::from_millis(60);
    })
    .await;
    let receiver = spawn_receiver(vec![Reply::Status(500)]).await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    app.insert_outbox(vec![row(
        "o-span",
        1,
        "customer.updated",
        "subscribers",
        json!({}),
    )])
    .await;
    let dead = app
        .wait_for_status("o-span", sub["id"].as_str(), "dead", Duration::from_secs(5))
        .await;
    assert!(
        dead["attempts"].as_u64().expect("attempts") < 4,
        "disabled before the schedule ran out"
    );
    let listed = app.get("/api/v1/tenant/webhooks/subscriptions").await;
    let found = &listed["subscriptions"][0];
    assert_eq!(found["status"], "disabled");
    assert!(found["status_reason"]
        .as_str()
        .expect("reason")
        .contains("failed since"));
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_is_final() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let elsewhere = spawn_receiver(vec![Reply::Status(200)]).await;
    let redirecting = spawn_receiver(vec![Reply::With(
        307,
        vec![("Location", elsewhere.url.clone())],
    )])
    .await;
    let sub = app
        .subscribe_to(&redirecting.url, "*", "s3cret-s3cret")
        .await;
    app.insert_outbox(vec![row(
        "o-307",
        1,
        "payment.received",
        "subscribers",
        json!({}),
    )])
    .await;
    let dead = app
        .wait_for_status("o-307", sub["id"].as_str(), "dead", Duration::from_secs(5))
        .await;
    assert_eq!(dead["attempts"], 1);
    assert_eq!(dead["last_status_code"], 307);
    elsewhere
        .assert_total_after(0, Duration::from_millis(300))
        .await;
}
