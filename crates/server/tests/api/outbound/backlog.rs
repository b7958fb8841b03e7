//! The outbox backlog limit: a failing endpoint with `outbox_backlog_max` pending deliveries
//! gets its next ones recorded dead ("backlog full"), while other endpoints are not affected.

use std::time::Duration;

use serde_json::json;

use super::receiver::{spawn_receiver, Reply};
use super::support::{row, start};

fn rows(from: u64, to: u64) -> Vec<store::projection::OutboxRow> {
    (from..=to)
        .map(|n| {
            row(
                &format!("o-backlog-{n}"),
                n,
                "payment.received",
                "subscribers",
                json!({ "n": n }),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_failing_endpoint_with_a_full_backlog_gets_new_deliveries_recorded_dead_and_others_flow_on(
) {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |s| {
        s.outbox_backlog_max = 3;
        // Failed deliveries stay pending, waiting for their retry.
        s.retry_delays = vec![Duration::from_secs(60)];
    })
    .await;
    let failing = spawn_receiver(vec![Reply::Status(500)]).await;
    let healthy = spawn_receiver(vec![Reply::Status(200)]).await;
    let failing_sub = app.subscribe_to(&failing.url, "*", "s3cret-failing").await;
    app.subscribe_to(&healthy.url, "*", "s3cret-healthy").await;
    app.insert_outbox(rows(1, 3)).await;
    failing.wait_for(3, Duration::from_secs(5)).await;
    healthy.wait_for(3, Duration::from_secs(5)).await;
    // Let the three failures be recorded (each waits 60 s for its retry).
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.insert_outbox(rows(4, 10)).await;
    healthy.wait_for(10, Duration::from_secs(5)).await;
    let all = app.all_deliveries().await;
    let failing_id = failing_sub["id"].as_str().expect("id");
    let of_failing = |status: &str| {
        all.iter()
            .filter(|d| d["subscription_id"] == failing_id && d["status"] == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of_failing("pending").len(),
        3,
        "the failing endpoint keeps 3"
    );
    let dead = of_failing("dead");
    assert_eq!(dead.len(), 7);
    assert!(dead.iter().all(|d| d["last_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("backlog full"))));
    let healthy_dead = all
        .iter()
        .filter(|d| d["subscription_id"] != failing_id && d["status"] == "dead")
        .count();
    assert_eq!(healthy_dead, 0, "the healthy endpoint is not affected");
}
