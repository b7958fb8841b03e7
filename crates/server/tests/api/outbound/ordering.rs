//! Fairness between endpoints, opt-in ordered delivery, and bulk redelivery.

use std::time::Duration;

use serde_json::{json, Value};

use super::receiver::{spawn_receiver, Reply};
use super::support::{row, start};

#[tokio::test]
async fn a_subscriber_that_hangs_does_not_delay_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |s| {
        s.delivery_endpoint_concurrency_max = 2;
        s.delivery_timeout = Duration::from_secs(5);
    })
    .await;
    let stuck = spawn_receiver(vec![Reply::Hang]).await;
    let healthy = spawn_receiver(vec![Reply::Status(200)]).await;
    app.subscribe_to(&stuck.url, "*", "s3cret-stuck").await;
    app.subscribe_to(&healthy.url, "*", "s3cret-healthy").await;
    let rows = (1..=20)
        .map(|n| {
            row(
                &format!("o-fair-{n}"),
                n,
                "payment.received",
                "subscribers",
                json!({ "n": n }),
            )
        })
        .collect();
    app.insert_outbox(rows).await;
    healthy.wait_for(20, Duration::from_secs(3)).await;
    let stuck_now = stuck.received().len();
    assert!(
        stuck_now <= 2,
        "the stuck endpoint holds at most its 2 slots: {stuck_now}"
    );
}

#[tokio::test]
async fn an_ordered_subscriber_gets_each_streams_events_in_seq_order_despite_a_retry() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    // The first request fails; in ordered mode the stream waits for its retry.
    let ordered = spawn_receiver(vec![Reply::Status(500), Reply::Status(200)]).await;
    let unordered = spawn_receiver(vec![Reply::Status(500), Reply::Status(200)]).await;
    app.subscribe(
        json!({ "url": ordered.url, "event": "*", "secret": "s3cret-ordered", "ordered": true }),
    )
    .await;
    app.subscribe(json!({ "url": unordered.url, "event": "*", "secret": "s3cret-unordered" }))
        .await;
    let rows = (1..=3)
        .map(|n| {
            row(
                &format!("o-ord-{n}"),
                n,
                "order.status_changed",
                "subscribers",
                json!({ "n": n }),
            )
        })
        .collect();
    app.insert_outbox(rows).await;
    let in_order = ordered.wait_for(4, Duration::from_secs(5)).await;
    let numbers: Vec<Value> = in_order
        .iter()
        .map(|r| r.json()["data"]["n"].clone())
        .collect();
    assert_eq!(
        numbers,
        [json!(1), json!(1), json!(2), json!(3)],
        "seq order, the retry first"
    );
    let any_order = unordered.wait_for(4, Duration::from_secs(5)).await;
    let first_success = any_order[1].json()["data"]["n"].clone();
    assert_ne!(
        first_success,
        json!(1),
        "without ordered mode, later events do not wait"
    );
}

#[tokio::test]
async fn bulk_redelivery_sends_everything_for_a_subscription_again_since_a_seq() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(200)]).await;
    // A row from before the subscription existed is not sent to it...
    app.insert_outbox(vec![row(
        "o-bulk-0",
        1,
        "payment.received",
        "subscribers",
        json!({ "n": 0 }),
    )])
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sub = app
        .subscribe_to(&receiver.url, "payment.received", "s3cret-bulk")
        .await;
    let rows = (1..=3)
        .map(|n| {
            row(
                &format!("o-bulk-{n}"),
                1 + n,
                "payment.received",
                "subscribers",
                json!({ "n": n }),
            )
        })
        .collect();
    app.insert_outbox(rows).await;
    let first = receiver.wait_for(3, Duration::from_secs(5)).await;
    assert!(first.iter().all(|r| r.json()["data"]["n"] != 0));
    receiver
        .assert_total_after(3, Duration::from_millis(200))
        .await;

    // ...until an admin asks for everything since seq 1.
    let id = sub["id"].as_str().expect("id");
    let response = app
        .post(
            &format!("/api/v1/tenant/webhooks/subscriptions/{id}/redeliver"),
            json!({ "since_seq": 1 }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let report: Value = response.json().await.expect("json");
    assert_eq!(
        report,
        json!({ "requeued": 3, "created": 1, "pending": 0, "next_since_seq": null })
    );
    let all = receiver.wait_for(7, Duration::from_secs(5)).await;
    let again_ids: Vec<&str> = all[3..].iter().map(|r| r.header("webhook-id")).collect();
    for original in &first {
        assert!(
            again_ids.contains(&original.header("webhook-id")),
            "the same webhook-id again"
        );
    }
    receiver
        .assert_total_after(7, Duration::from_millis(200))
        .await;
}

/// Sends seed 000 `status` for `order` and expects 200.
async fn accounting(app: &super::support::Service, order: &str, status: &str) {
    let response = app
        .client
        .post(app.url("/api/webhooks/order-status"))
        .json(&json!({ "orderId": order, "status": status, "webhookSecret": "test-accounting-secret" }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{order} {status}");
}

#[tokio::test]
async fn callbacks_to_the_customer_and_zapier_arrive_in_seq_order_per_order_while_others_flow_on() {
    let dir = tempfile::tempdir().expect("dir");
    // Each receiver's first request is slow and fails: the rest of that order must wait for
    // its retry, while another order's callback goes through meanwhile.
    let customer = spawn_receiver(vec![
        Reply::Slow(Duration::from_millis(400), 500),
        Reply::Status(200),
    ])
    .await;
    let zapier = spawn_receiver(vec![
        Reply::Slow(Duration::from_millis(400), 503),
        Reply::Status(200),
    ])
    .await;
    let (customer_url, zapier_url) = (customer.url.clone(), zapier.url.clone());
    let app = start(&dir.path().join("h.db"), move |s| {
        s.ingest = ingest::fixtures::test_settings();
        s.customer_webhook_url = Some(customer_url);
        s.zapier_webhook_url = Some(zapier_url);
    })
    .await;
    accounting(&app, "ORD-A", "pending").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    accounting(&app, "ORD-B", "pending").await;
    accounting(&app, "ORD-A", "processing").await;
    accounting(&app, "ORD-A", "completed").await;

    // Customer: A pending (fails), B pending, then A pending again, A processing, A completed.
    let received = customer.wait_for(5, Duration::from_secs(10)).await;
    customer
        .assert_total_after(5, Duration::from_millis(300))
        .await;
    let seen: Vec<(String, String)> = received
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["orderId"].as_str().unwrap_or("").to_owned(),
                body["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let of_a: Vec<&str> = seen
        .iter()
        .filter(|(order, _)| order == "ORD-A")
        .map(|(_, status)| status.as_str())
        .collect();
    assert_eq!(
        of_a,
        ["pending", "pending", "processing", "completed"],
        "ORD-A's callbacks in seq order, the retry first: {seen:?}"
    );
    let b_at = seen.iter().position(|(order, _)| order == "ORD-B");
    assert_eq!(
        b_at,
        Some(1),
        "ORD-B does not wait for ORD-A's retry: {seen:?}"
    );

    // Zapier: the work order's create request (fails once) before its completion request.
    let received = zapier.wait_for(3, Duration::from_secs(10)).await;
    zapier
        .assert_total_after(3, Duration::from_millis(300))
        .await;
    let events: Vec<String> = received
        .iter()
        .map(|r| r.json()["event"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        events,
        [
            "shopOrder.create.requested",
            "shopOrder.create.requested",
            "shopOrder.completion.requested"
        ]
    );
}
