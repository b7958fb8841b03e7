//! Outbound delivery figures, through the real service (worker, writer, HTTP) to local sinks.
//!
//! `cargo bench -p server --bench deliver [-- ROWS FRESH]` (defaults 5000 and 300):
//! 1. throughput: ROWS outbox rows for one subscriber, then for four, to a keep-alive sink on
//!    127.0.0.1 that answers 200 at once: deliveries per second, from the first insert to the
//!    last arrival (every attempt recorded durably through the writer);
//! 2. isolation: a subscriber that accepts connections and never answers (the seed's 10 s
//!    timeout) holds a backlog of ROWS deliveries; FRESH rows for a healthy subscriber are then
//!    inserted 20 ms apart, and the delay from insert to arrival is reported (p50, p99, max),
//!    beside the same measurement with no subscriber down.
//!
//! Rows are inserted through writer jobs of up to 500, as the projectors write them.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;
use server::{AppState, Application, Settings};
use store::projection::OutboxRow;

const ADMIN: &str = "bench-admin-token";

/// What the sink saw.
#[derive(Default)]
struct Sink {
    count: AtomicU64,
    /// Arrival of each `data.n` (first arrival only).
    arrivals: Mutex<HashMap<u64, Instant>>,
}

async fn spawn_sink() -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let data = web::Data::from(sink.clone());
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).default_service(web::to(
            |sink: web::Data<Sink>, body: web::Bytes| async move {
                sink.count.fetch_add(1, Ordering::Relaxed);
                let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(n) = value["data"]["n"].as_u64() {
                    if let Ok(mut arrivals) = sink.arrivals.lock() {
                        arrivals.entry(n).or_insert_with(Instant::now);
                    }
                }
                HttpResponse::Ok().finish()
            },
        ))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}"), sink)
}

/// A subscriber that is down: it accepts connections and never answers.
async fn spawn_black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().expect("addr").port()
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    url
}

async fn subscribe(client: &reqwest::Client, app: &str, url: &str, event: &str) {
    let response = client
        .post(format!("{app}/api/v1/tenant/webhooks/subscriptions"))
        .bearer_auth(ADMIN)
        .json(&json!({ "url": url, "event": event, "secret": "bench-secret-0123456789" }))
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 201);
}

fn outbox_row(seq: u64, event: &str, n: u64) -> OutboxRow {
    OutboxRow {
        id: format!("bench-{event}-{n}"),
        seq,
        event: event.to_owned(),
        destination: "subscribers".to_owned(),
        stream: format!("order/roms/{}", n % 100),
        recorded_at: "2024-01-10T14:30:00.123456Z".to_owned(),
        payload: json!({ "n": n, "amount": 12.5, "currency": "USD" }).to_string(),
    }
}

async fn insert(state: &AppState, rows: Vec<OutboxRow>) {
    for chunk in rows.chunks(500) {
        let chunk = chunk.to_vec();
        state
            .writer
            .submit(move |ctx| {
                for row in &chunk {
                    ctx.projections().insert_outbox(row)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await
            .expect("writer")
            .expect("insert");
    }
}

async fn start(dir: &std::path::Path) -> (Application, String) {
    let settings = Settings {
        db: dir.join("bench.db"),
        bind: "127.0.0.1:0".into(),
        admin_token: Some(ingest::Secret::new(ADMIN)),
        allow_private_urls: vec!["127.0.0.1".into()],
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("app");
    let address = format!("http://127.0.0.1:{}", app.port());
    (app, address)
}

async fn wait_count(sink: &Sink, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while sink.count.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "the sink got {} of {n}",
            sink.count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn throughput(n_rows: u64, n_subscribers: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let (app, address) = start(dir.path()).await;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let (sink_url, sink) = spawn_sink().await;
    for idx in 0..n_subscribers {
        subscribe(&client, &address, &format!("{sink_url}/s{idx}"), "*").await;
    }
    let rows = (1..=n_rows)
        .map(|n| outbox_row(n, "payment.received", n))
        .collect();
    let started = Instant::now();
    insert(&state, rows).await;
    let expected = n_rows * n_subscribers as u64;
    wait_count(&sink, expected, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    println!(
        "  {n_subscribers} subscriber(s): {expected} deliveries in {:.2} s = {:.0} deliveries/s",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn fresh_delay(n_backlog: u64, n_fresh: u64, with_down: bool) {
    let dir = tempfile::tempdir().expect("dir");
    let (app, address) = start(dir.path()).await;
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let mut seq = 0;
    if with_down {
        let down = spawn_black_hole().await;
        subscribe(&client, &address, &down, "*").await;
        let backlog = (1..=n_backlog)
            .map(|n| {
                seq += 1;
                outbox_row(seq, "customer.created", n)
            })
            .collect();
        insert(&state, backlog).await;
        // Let the worker expand the backlog and fill the dead endpoint's slots.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (sink_url, sink) = spawn_sink().await;
    subscribe(&client, &address, &sink_url, "payment.failed").await;
    let mut inserted = HashMap::new();
    for n in 1..=n_fresh {
        seq += 1;
        inserted.insert(n, Instant::now());
        insert(&state, vec![outbox_row(seq, "payment.failed", n)]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_count(&sink, n_fresh, Duration::from_secs(60)).await;
    let arrivals = sink.arrivals.lock().expect("arrivals").clone();
    let mut delays: Vec<Duration> = inserted
        .iter()
        .filter_map(|(n, at)| arrivals.get(n).map(|arrived| *arrived - *at))
        .collect();
    delays.sort();
    let label = if with_down {
        format!("with a subscriber down and {n_backlog} deliveries pending for it")
    } else {
        "with every subscriber up".to_owned()
    };
    println!(
        "  {label}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} fresh deliveries)",
        percentile(&delays, 0.5).as_secs_f64() * 1e3,
        percentile(&delays, 0.99).as_secs_f64() * 1e3,
        delays.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        delays.len()
    );
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_rows = args.first().copied().unwrap_or(5000);
    let n_fresh = args.get(1).copied().unwrap_or(300);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!("deliveries/s to a local sink (synchronous=FULL, every attempt recorded):");
        throughput(n_rows, 1).await;
        throughput(n_rows, 4).await;
        println!("insert-to-arrival delay of fresh deliveries, {n_fresh} rows 20 ms apart:");
        fresh_delay(n_rows, n_fresh, false).await;
        fresh_delay(n_rows, n_fresh, true).await;
    });
    // The dead subscriber's connections and the servers end with the process.
    std::process::exit(0);
}
