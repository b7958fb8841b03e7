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
