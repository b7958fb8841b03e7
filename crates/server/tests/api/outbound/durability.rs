//! Restarts and replays: nothing settled is sent again, nothing pending is lost.

use std::time::Duration;

use serde_json::json;

use super::receiver::{spawn_receiver, Reply};
use super::support::{row, start};

#[tokio::test]
async fn a_restart_mid_retry_finishes_the_schedule_without_resending_settled_deliveries() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("h.db");
    // The first retry waits 1.5 s: time enough to stop and start the service in between.
    let slow_first_retry = |s: &mut server::Settings| {
        s.retry_delays = [1500, 100, 150].map(Duration::from_millis).to_vec();
    };
    let app = start(&db, slow_first_retry).await;
    let healthy = spawn_receiver(vec![Reply::Status(200)]).await;
    let flaky = spawn_receiver(vec![Reply::Status(500), Reply::Status(200)]).await;
    let ok_sub = app.subscribe_to(&healthy.url, "*", "s3cret-one").await;
    let flaky_sub = app.subscribe_to(&flaky.url, "*", "s3cret-two").await;
    app.insert_outbox(vec![row(
        "o-restart",
        1,
        "order.status_changed",
        "subscribers",
        json!({}),
    )])
    .await;
    app.wait_for_status(
        "o-restart",
        ok_sub["id"].as_str(),
        "delivered",
        Duration::from_secs(5),
    )
    .await;
    flaky.wait_for(1, Duration::from_secs(5)).await;
    // Stop once the failed first attempt is recorded (its retry is 1.5 s away).
    let mut recorded = false;
    for _ in 0..100 {
        let pending = app.deliveries("?status=pending").await;
        if pending.first().is_some_and(|d| d["attempts"] == 1) {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        recorded,
        "the first attempt was recorded as failed, with a retry pending"
    );
    app.stop().await;

    let app = start(&db, slow_first_retry).await;
    let delivered = app
        .wait_for_status(
            "o-restart",
            flaky_sub["id"].as_str(),
            "delivered",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(delivered["attempts"], 2);
    let retried = flaky.received();
    assert_eq!(retried.len(), 2);
    let gap = retried[1].at - retried[0].at;
    assert!(
        gap >= Duration::from_millis(1500),
        "the retry kept its schedule: {gap:?}"
    );
    assert_eq!(
        retried[0].header("webhook-id"),
        retried[1].header("webhook-id")
    );
    assert_eq!(retried[0].body, retried[1].body);
    healthy
        .assert_total_after(1, Duration::from_millis(300))
        .await;
    flaky.assert_total_after(2, Duration::ZERO).await;
}

#[tokio::test]
async fn outbox_rows_reinserted_as_a_replay_would_send_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("h.db");
    let app = start(&db, |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(200)]).await;
    let sub = app.subscribe_to(&receiver.url, "*", "s3cret-s3cret").await;
    let rows = vec![
        row(
            "o-replay-1",
            1,
            "sales_order.created",
            "subscribers",
            json!({"order_number": "1"}),
        ),
        row(
            "o-replay-2",
            2,
            "sales_order.confirmed",
            "subscribers",
            json!({"order_number": "1"}),
        ),
    ];
    app.insert_outbox(rows.clone()).await;
    for id in ["o-replay-1", "o-replay-2"] {
        app.wait_for_status(id, sub["id"].as_str(), "delivered", Duration::from_secs(5))
            .await;
    }
    // Live: the same rows again (ids unchanged) are no new rows.
    app.insert_outbox(rows.clone()).await;
    app.stop().await;

    // Offline, as replay does: drop every projection row and write them again, this time
    // even past the worker's cursor, so that only the delivery keys can stop a re-send.
    {
        let store = store::Store::open(&db, store::Durability::Full).expect("store");
        let conn = store.open_writer_connection().expect("connection");
        store::projection::clear(&conn).expect("clear");
        let projections = store::ProjectionTx::new(&conn);
        for (idx, mut again) in rows.into_iter().enumerate() {
            again.seq = 10 + idx as u64;
            projections.insert_outbox(&again).expect("insert");
        }
    }
    let app = start(&db, |_| {}).await;
    receiver
        .assert_total_after(2, Duration::from_millis(800))
        .await;
    let delivered = app.deliveries("?status=delivered").await;
    assert_eq!(delivered.len(), 2);
    assert!(app.deliveries("?status=pending").await.is_empty());
}
