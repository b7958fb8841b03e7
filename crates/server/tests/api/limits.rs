//! The limits of docs/operations.md ("Limits"), each as a client meets it: fields per object,
//! string lengths and array items (400), the per-source rate (429 with `Retry-After`), a body
//! trickled a byte a second (408, while the writer serves everyone else), and the connection
//! limit. (The body size, JSON depth and writer queue have their tests in `webhooks::edge`; the
//! outbox backlog in `outbound::backlog`.)

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app_with;

const ROMS: &str = "/api/v2/webhooks/orders";

#[tokio::test]
async fn too_many_fields_too_long_a_string_or_too_many_items_is_400_in_the_dialects_shape() {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let fields: Vec<String> = (0..=ingest::OBJECT_FIELDS_MAX)
        .map(|i| format!("\"f{i}\":1"))
        .collect();
    let bodies = [
        (
            format!(r#"{{"order_number":"L-1",{}}}"#, fields.join(",")),
            "fields",
        ),
        (
            format!(
                r#"{{"order_number":"L-2","note":"{}"}}"#,
                "x".repeat(ingest::STRING_BYTES_MAX + 1)
            ),
            "string",
        ),
        (
            format!(
                r#"{{"order_number":"L-3","tags":[{}]}}"#,
                vec!["1"; ingest::ARRAY_ITEMS_MAX + 1].join(",")
            ),
            "array",
        ),
    ];
    for (body, says) in bodies {
        let response = app.post_text(ROMS, &[], &body).await;
        assert_eq!(response.status(), 400, "{says}");
        let body: Value = response.json().await.expect("json");
        let detail = body["detail"].as_str().expect("seed 001's {detail}");
        assert!(detail.contains(says), "{detail}");
    }
    assert_eq!(app.events_count().await, 0);
}

#[tokio::test]
async fn a_source_over_its_rate_gets_429_with_retry_after_while_other_sources_flow_on() {
    let app = spawn_app_with(|s| {
        s.ingest = ingest::fixtures::test_settings();
        s.source_rate_per_second = 5;
    })
    .await;
    let mut limited = None;
    for n in 0..30 {
        let body = format!(r#"{{"order_number":"RATE-{n}"}}"#);
        let response = app.post_text(ROMS, &[], &body).await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let limited = limited.expect("a 429 within 30 requests at 5 per second");
    let retry_after: u64 = limited
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let body: Value = limited.json().await.expect("json");
    assert!(body["detail"]
        .as_str()
        .is_some_and(|d| d.contains("per second")));
    let other = app
        .post_text(
            "/api/webhooks/order-status",
            &[],
            r#"{"orderId":"RATE-A","status":"pending","webhookSecret":"test-accounting-secret"}"#,
        )
        .await;
    assert_eq!(other.status(), 200, "another source is not limited");
    let log = app.request_log(1).await;
    assert_eq!(log[0]["status_code"], 200);
    let log = app.request_log(2).await;
    assert_eq!(
        log[1]["status_code"], 429,
        "the refusal is in the request log"
    );
}

#[tokio::test]
async fn a_body_trickled_a_byte_a_second_times_out_with_408_without_holding_the_writer() {
    let app = spawn_app_with(|s| s.body_read_timeout = Duration::from_secs(2)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let slow = tokio::spawn(async move {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        let head = format!(
            "POST {ROMS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        for byte in b"{\"order_number\":\"SLOW-1\"".iter() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            let read = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer));
            if let Ok(Ok(n)) = read.await {
                answer.extend_from_slice(&buffer[..n]);
                if n == 0 || answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut answer)).await;
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    // Meanwhile every other client is served at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 0..5 {
        let started = Instant::now();
        let body = format!(r#"{{"order_number":"FAST-{n}"}}"#);
        assert_eq!(app.post_text(ROMS, &[], &body).await.status(), 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the writer is not held"
        );
    }
    let (elapsed, answer) = slow.await.expect("slow client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 2000 ms"), "{answer}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert_eq!(app.events_count().await, 5);
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let app = spawn_app_with(|s| s.connections_max = 2).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Two idle connections take every slot (one per worker on two cores, two on one).
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(&address).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(&address)
        .await
        .expect("the kernel queues it");
    third
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 1024];
    let waited = tokio::time::timeout(Duration::from_millis(700), third.read(&mut buffer)).await;
    assert!(waited.is_err(), "served past the limit");
    drop(idle);
    let served = tokio::time::timeout(Duration::from_secs(5), third.read(&mut buffer))
        .await
        .expect("served once a slot is free")
        .expect("read");
    assert!(String::from_utf8_lossy(&buffer[..served]).starts_with("HTTP/1.1 200"));
}
