//! What the write path does the same for every dialect: limits, malformed bodies, back-pressure,
//! wrong methods, metrics.

use std::time::Duration;

use ingest::Dialect;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::fixtures::{all_secrets, auth_headers, error_message, valid_body};
use crate::helpers::spawn_app_with;

/// `dialect`'s valid body padded with spaces to exactly `len` bytes.
fn body_of(dialect: Dialect, len: usize) -> Vec<u8> {
    let mut body = valid_body(dialect).as_bytes().to_vec();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_in_each_dialects_shape_and_appends_nothing() {
    let app = spawn_app_with(|s| {
        s.ingest = all_secrets();
        s.body_limit_bytes = 1024;
    })
    .await;
    for dialect in Dialect::ALL {
        let body = body_of(dialect, 1025);
        let response = app
            .post_raw(dialect.path(), &auth_headers(dialect, &body), body)
            .await;
        assert_eq!(response.status(), 413, "{dialect:?}");
        let body: Value = response.json().await.expect("json");
        let message = error_message(dialect, &body, "PAYLOAD_TOO_LARGE");
        assert!(message.contains("1024 bytes"), "{message}");
        // Exactly the limit is read, parsed and accepted.
        let body = body_of(dialect, 1024);
        let response = app
            .post_raw(dialect.path(), &auth_headers(dialect, &body), body)
            .await;
        assert_eq!(response.status(), 200, "{dialect:?}");
    }
    let log = app.request_log(100).await;
    let refused = log.iter().filter(|e| e["status_code"] == 413).count();
    assert_eq!(refused, 5);
    assert!(log
        .iter()
        .filter(|e| e["status_code"] == 413)
        .all(|e| e["outcome"] == "rejected" && e["seq"].is_null()));
    assert_eq!(app.events_count().await, 5, "one per dialect, at the limit");
}

#[tokio::test]
async fn the_default_limit_is_one_mebibyte() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    let limit = 1024 * 1024;
    let body = body_of(Dialect::Accounting, limit + 1);
    let response = app
        .post_raw(
            "/api/webhooks/order-status",
            &auth_headers(Dialect::Accounting, &body),
            body,
        )
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.expect("json");
    assert!(body["error"].as_str().expect("error").contains("1048576"));
    let body = body_of(Dialect::Roms, limit);
    let response = app
        .post_raw(
            "/api/v2/webhooks/orders",
            &auth_headers(Dialect::Roms, &body),
            body,
        )
        .await;
    assert_eq!(response.status(), 200);
}

/// Sends a chunked request (no `Content-Length`) by hand and returns the raw response.
async fn send_chunked(address: &str, path: &str, body: &[u8]) -> String {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(300) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before reading everything: a write error is fine.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_too() {
    let app = spawn_app_with(|s| {
        s.ingest = all_secrets();
        s.body_limit_bytes = 1024;
    })
    .await;
    let response = send_chunked(
        &app.address,
        "/api/v2/webhooks/orders",
        &body_of(Dialect::Roms, 1500),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(
        response.contains(r#"{"detail":"Request body is larger than the limit of 1024 bytes"}"#)
    );
    let response = send_chunked(
        &app.address,
        "/api/v2/webhooks/orders",
        &body_of(Dialect::Roms, 1000),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 401"), "unsigned: {response}");
    assert_eq!(app.events_count().await, 0);
}

#[tokio::test]
async fn invalid_utf8_and_deep_nesting_are_400_in_each_dialects_shape() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes();
    let mut not_utf8 = br#"{"orderId":"O-1","status":"pending","x":""#.to_vec();
    not_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    for dialect in Dialect::ALL {
        for body in [deep.clone(), not_utf8.clone()] {
            let response = app
                .post_raw(dialect.path(), &auth_headers(dialect, &body), body)
                .await;
            assert_eq!(response.status(), 400, "{dialect:?}");
            let body: Value = response.json().await.expect("json");
            let message = error_message(dialect, &body, "INVALID_PAYLOAD");
            assert!(message.starts_with("Invalid JSON body"), "{message}");
        }
    }
    assert_eq!(app.events_count().await, 0);
    let log = app.request_log(10).await;
    assert_eq!(log.len(), 10);
    assert!(log
        .iter()
        .all(|e| e["outcome"] == "rejected" && e["status_code"] == 400));
}

#[tokio::test]
async fn a_full_writer_queue_is_503_with_retry_after_in_each_dialects_shape() {
    let app = spawn_app_with(|s| {
        s.ingest = all_secrets();
        s.writer_queue_max = 1;
    })
    .await;
    // Hold the writer: a job that waits for a signal, then one more job to fill the queue.
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = app.state.writer.clone();
    let holding = tokio::spawn(async move {
        writer
            .submit(move |_ctx| {
                let _ = started_tx.send(());
                let _ = released.recv_timeout(Duration::from_secs(30));
                Ok::<(), ()>(())
            })
            .await
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(10)))
        .await
        .expect("join")
        .expect("the writer runs the holding job");
    let writer = app.state.writer.clone();
    let queued = tokio::spawn(async move { writer.submit(|_ctx| Ok::<(), ()>(())).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    for dialect in Dialect::ALL {
        let body = valid_body(dialect).as_bytes().to_vec();
        let response = app
            .post_raw(dialect.path(), &auth_headers(dialect, &body), body)
            .await;
        assert_eq!(response.status(), 503, "{dialect:?}");
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let body: Value = response.json().await.expect("json");
        error_message(dialect, &body, "SERVICE_UNAVAILABLE");
    }
    release.send(()).expect("release");
    holding.await.expect("join").expect("answered").expect("ok");
    queued.await.expect("join").expect("answered").expect("ok");
    assert_eq!(app.events_count().await, 0);
    // Once the writer is free again, the same request goes through.
    let body = valid_body(Dialect::Roms).as_bytes().to_vec();
    let response = app
        .post_raw(
            Dialect::Roms.path(),
            &auth_headers(Dialect::Roms, &body),
            body,
        )
        .await;
    assert_eq!(response.status(), 200);
    let log = app.request_log(6).await;
    assert_eq!(log[0]["outcome"], "accepted");
    assert!(log[1..].iter().all(|e| e["status_code"] == 503));
}

#[tokio::test]
async fn another_method_is_405_in_the_dialects_shape() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    for dialect in Dialect::ALL {
        let response = app.get(dialect.path()).await;
        assert_eq!(response.status(), 405, "{dialect:?}");
        assert_eq!(
            response.headers().get("allow").map(|v| v.as_bytes()),
            Some(&b"POST"[..])
        );
        let body: Value = response.json().await.expect("json");
        error_message(dialect, &body, "METHOD_NOT_ALLOWED");
    }
    let response = app.post_text("/api/v2/webhooks/test", &[], "{}").await;
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("json");
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn metrics_count_requests_by_source_and_outcome() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    let body = br#"{"order_number":"M-1"}"#.to_vec();
    for _ in 0..2 {
        let headers = auth_headers(Dialect::Roms, &body);
        assert_eq!(
            app.post_raw(Dialect::Roms.path(), &headers, body.clone())
                .await
                .status(),
            200
        );
    }
    let unsigned = app.post_text(Dialect::Roms.path(), &[], "{}").await;
    assert_eq!(unsigned.status(), 401);
    let text = app.get("/metrics").await.text().await.expect("text");
    for outcome in ["accepted", "duplicate", "rejected"] {
        let line = format!("hookledger_requests_total{{outcome=\"{outcome}\",source=\"roms\"}} 1");
        assert!(text.contains(&line), "{line} in\n{text}");
    }
    assert!(text.contains("hookledger_request_seconds_count{source=\"roms\"} 3"));
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app_with(|s| s.ingest = all_secrets()).await;
    let response = app.post_text(Dialect::Roms.path(), &[], "{}").await;
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

#[tokio::test]
async fn a_secret_not_configured_is_503_with_retry_after_naming_the_setting() {
    let app = spawn_app_with(|s| s.ingest = ingest::Settings::default()).await;
    for (dialect, setting) in [
        (Dialect::Accounting, "ACCOUNTING_WEBHOOK_SECRET"),
        (Dialect::Exact, "EXACT_WEBHOOK_SECRET"),
        (Dialect::Vendor, "CUSTOMER_SERVER_SECRET"),
        (Dialect::Stripe, "STRIPE_WEBHOOK_SECRET"),
    ] {
        let body = valid_body(dialect).as_bytes().to_vec();
        let response = app
            .post_raw(dialect.path(), &auth_headers(dialect, &body), body)
            .await;
        assert_eq!(response.status(), 503, "{dialect:?}");
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.expect("json");
        let message = error_message(dialect, &body, "NOT_CONFIGURED");
        assert!(message.contains(setting), "{message}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_inbound_endpoint() {
    let app = spawn_app_with(|_| {}).await;
    let spec: Value = app.get("/openapi.json").await.json().await.expect("json");
    for dialect in Dialect::ALL {
        assert!(
            spec["paths"][dialect.path()]["post"].is_object(),
            "{}",
            dialect.path()
        );
    }
    for path in ["test", "logs", "signature-help"] {
        let path = format!("/api/v2/webhooks/{path}");
        assert!(spec["paths"][&path]["get"].is_object(), "{path}");
    }
}
