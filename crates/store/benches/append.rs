//! Appends per second through the one writer, for batch limits 1, 16 and 256 in the same run.
//!
//! `cargo bench -p store --bench append [-- EVENTS PRODUCERS]` (defaults 20000 and 512). Each
//! limit gets a fresh database with `synchronous=FULL`; producers are tokio tasks that submit
//! one append each and wait for the commit, as HTTP handlers do.

use std::time::Instant;

use domain::{Dedupe, Json, NewEvent, RawRequest, Source};
use store::{Durability, Store, Writer, WriterConfig};

fn event(n: u64) -> NewEvent {
    NewEvent {
        stream: format!("order:roms:{}", n % 1000),
        event_type: "roms.order_received".into(),
        type_version: 1,
        source: Source::Roms,
        dedupe: Dedupe::Key(format!("bench-{n}")),
        payload: Json::object([
            ("order_number", Json::str(format!("{}", n % 1000))),
            ("price_minor", Json::int(9999)),
            ("currency", Json::str("USD")),
            ("status", Json::str("pending")),
        ]),
        raw_request: RawRequest {
            method: "POST".into(),
            path: "/api/v2/webhooks/orders".into(),
            headers: Default::default(),
            body: format!("{{\"order_number\":\"{}\",\"price\":99.99}}", n % 1000),
        },
    }
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_events = args.first().copied().unwrap_or(20_000);
    let n_producers = args.get(1).copied().unwrap_or(512);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!("appends through the writer: {n_events} events, {n_producers} concurrent producers, synchronous=FULL");
    let mut baseline = None;
    for batch_max in [1usize, 16, 256] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("bench.db"), Durability::Full).expect("open");
        let (writer, _thread) = Writer::spawn(
            &store,
            WriterConfig {
                batch_max,
                queue_max: 1 << 16,
                ..WriterConfig::default()
            },
            None,
        )
        .expect("writer");
        let started = Instant::now();
        runtime.block_on(run(&writer, n_events, n_producers));
        let per_second = n_events as f64 / started.elapsed().as_secs_f64();
        let ratio = per_second / *baseline.get_or_insert(per_second);
        println!(
            "batch_max {batch_max:>4}: {per_second:>10.0} appends/s  ({ratio:.1}x batch_max 1)"
        );
    }
}

async fn run(writer: &Writer, n_events: u64, n_producers: u64) {
    let mut tasks = Vec::new();
    for producer in 0..n_producers {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = producer;
            while n < n_events {
                let e = event(n);
                writer
                    .submit(move |ctx| ctx.append(&e).map(|_| ()))
                    .await
                    .expect("answered")
                    .expect("appended");
                n += n_producers;
            }
        }));
    }
    for task in tasks {
        task.await.expect("producer");
    }
}
