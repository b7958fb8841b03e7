//! The request log (`GET /api/v2/webhooks/logs`): every request with its outcome, and no secret
//! anywhere, neither there nor in the events' `raw_request`.

use ingest::Dialect;
use serde_json::Value;

use crate::fixtures::{all_secrets, auth_headers};
use crate::helpers::{spawn_app_with, TestApp, ADMIN_TOKEN};

/// Every secret value the app knows.
fn secrets() -> Vec<String> {
    let mut values: Vec<String> = ingest::fixtures::TEST_SECRETS
        .iter()
        .map(|(_, v)| v.to_string())
        .collect();
    values.push(ADMIN_TOKEN.to_owned());
    values
}

async fn post(app: &TestApp, dialect: Dialect, body: &str, extra: &[(&str, &str)]) -> u16 {
    let mut headers = auth_headers(dialect, body.as_bytes());
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    app.post_raw(dialect.path(), &headers, body.as_bytes().to_vec())
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_log_shows_accepted_duplicate_and_rejected_requests_without_secrets() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    let cookie = [("cookie", "session=test-exact-secret")];
    let bearer = [("authorization", "Bearer test-admin-token")];
    let order = r#"{"orderId":"O-1","status":"pending","webhookSecret":"test-accounting-secret"}"#;
    let sent = [
        (Dialect::Accounting, order, &bearer[..], 200),
        (Dialect::Accounting, order, &cookie[..], 200),
        (
            Dialect::Accounting,
            r#"{"orderId":"O-1","status":"pending","webhookSecret":"test-accounting-secreT"}"#,
            &[][..],
            401,
        ),
        (
            Dialect::Accounting,
            r#"{"orderId":"O-1","webhookSecret":"test-accounting-secret","status":"#,
            &[][..],
            400,
        ),
        (
            Dialect::Roms,
            r#"{"order_number":"R-1","note":"x"}"#,
            &[][..],
            200,
        ),
        (
            Dialect::Exact,
            r#"{"action":"sync_customers","customers":[{"exact_customer_id":"c-1","name":"Acme"}]}"#,
            &cookie[..],
            200,
        ),
        (
            Dialect::Vendor,
            r#"{"orderId":"v-1","customerId":"c-1","status":"accepted","previousStatus":"pending"}"#,
            &[][..],
            200,
        ),
        (Dialect::Vendor, r#"{"orderId":"v-1"}"#, &[][..], 400),
        (
            Dialect::Stripe,
            r#"{"id":"evt_9","type":"customer.created","data":{"object":{"id":"cus_1"}}}"#,
            &[][..],
            200,
        ),
    ];
    for (dialect, body, extra, status) in sent {
        assert_eq!(
            post(&app, dialect, body, extra).await,
            status,
            "{dialect:?} {body}"
        );
    }
    let log = app.request_log(50).await;
    assert_eq!(log.len(), sent.len());
    let summary: Vec<(String, u64, String)> = log
        .iter()
        .rev()
        .map(|e| {
            (
                e["source"].as_str().unwrap_or("").to_owned(),
                e["status_code"].as_u64().unwrap_or(0),
                e["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, u64, String)> = [
        ("accounting", 200, "accepted"),
        ("accounting", 200, "duplicate"),
        ("accounting", 401, "rejected"),
        ("accounting", 400, "rejected"),
        ("roms", 200, "accepted"),
        ("exact", 200, "accepted"),
        ("vendor", 200, "accepted"),
        ("vendor", 400, "rejected"),
        ("stripe", 200, "accepted"),
    ]
    .iter()
    .map(|(s, c, o)| (s.to_string(), *c, o.to_string()))
    .collect();
    assert_eq!(summary, expected);
    let rejected = &log[log.len() - 3];
    assert_eq!(rejected["reason"], "Invalid webhook secret");
    assert!(rejected["seq"].is_null());
    assert_eq!(log[log.len() - 2]["seq"], log[log.len() - 1]["seq"]);
    assert_eq!(
        log[log.len() - 1]["body"],
        r#"{"orderId":"O-1","status":"pending"}"#
    );

    let mut everything = serde_json::to_string(&log).expect("json");
    let events = app.get_json("/api/events?limit=1000").await;
    for event in events["events"].as_array().expect("events") {
        let seq = event["seq"].as_u64().expect("seq");
        let one: Value = app.get_json(&format!("/api/events/{seq}")).await;
        assert!(one["raw_request"].is_object());
        everything.push_str(&one.to_string());
    }
    assert_eq!(app.events_count().await, 5);
    for secret in secrets() {
        assert!(
            !everything.contains(&secret),
            "{secret} stored in {everything}"
        );
    }
    for header in [
        "x-webhook-secret",
        "x-vendor-server-secret",
        "authorization",
        "cookie",
    ] {
        assert!(
            !everything.contains(&format!("\"{header}\"")),
            "{header} stored"
        );
    }
}

#[tokio::test]
async fn a_request_whose_client_gave_up_is_still_recorded_and_logged() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    // Hold the writer so that the request waits for its commit.
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = app.state.writer.clone();
    let holding = tokio::spawn(async move {
        writer
            .submit(move |_ctx| {
                let _ = started_tx.send(());
                let _ = released.recv_timeout(std::time::Duration::from_secs(30));
                Ok::<(), ()>(())
            })
            .await
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(std::time::Duration::from_secs(10)))
        .await
        .expect("join")
        .expect("the writer runs the holding job");
    let body = crate::fixtures::valid_body(Dialect::Roms);
    let gave_up = app
        .client
        .post(app.url(Dialect::Roms.path()))
        .header("content-type", "application/json")
        .header(
            "x-webhook-signature",
            auth_headers(Dialect::Roms, body.as_bytes())[1].1.clone(),
        )
        .body(body)
        .timeout(std::time::Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client should have timed out");
    release.send(()).expect("release");
    holding.await.expect("join").expect("answered").expect("ok");
    // The entry is written after the commit's answer: wait for it.
    let mut log = Vec::new();
    for _ in 0..100 {
        log = app.request_log(1).await;
        if !log.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.events_count().await, 1);
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["outcome"], "accepted");
    assert_eq!(log[0]["seq"], 1);
}
