//! `cargo bench -p replay --bench write_path`: the writer's step per event and each projector's
//! fold per event, so that a regression shows in numbers (figures: docs/performance.md).
//!
//! - `writer/roms`, `writer/mixed`: requests (parsed by `ingest` beforehand) recorded through
//!   the real writer (`projections::record`: check, append, apply, respond) in jobs of 64, into
//!   a database in a temporary folder with `synchronous=NORMAL`, so that the disk's fsync
//!   latency, which `scripts/bench` measures on its own, does not drown the CPU cost.
//! - `apply/<event type>`: `projections::apply` alone, on staged state (as the writer and
//!   replay run it), timed for the events of that type only, inside a fold of the whole mixed
//!   workload so that each event meets the state it meets in production.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use domain::{Event, NewEvent};
use store::{Durability, ProjectionTx, Staging, Store, Writer, WriterConfig};

const PER_JOB: usize = 64;

/// The binary's allocator (crates/cli/src/main.rs), so that the figures match.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn record_through_writer(requests: &[Vec<NewEvent>]) -> Duration {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = Store::open(dir.path().join("bench.db"), Durability::Normal).expect("store");
    let (writer, thread) = Writer::spawn(&store, WriterConfig::default(), None).expect("writer");
    let started = Instant::now();
    for chunk in requests.chunks(PER_JOB) {
        let chunk = chunk.to_vec();
        writer
            .submit_blocking(move |ctx| {
                for events in &chunk {
                    projections::record(ctx, events)?;
                }
                Ok::<_, projections::RecordError>(())
            })
            .expect("writer")
            .expect("recorded");
    }
    let elapsed = started.elapsed();
    drop(writer);
    let _ = thread.join();
    elapsed
}

fn writer(c: &mut Criterion) {
    let mut group = c.benchmark_group("writer");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    type Make = fn(u64) -> Vec<NewEvent>;
    let workloads: [(&str, Make); 2] = [
        ("roms", replay::workload::roms_order),
        ("mixed", replay::workload::events),
    ];
    for (name, make) in workloads {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let requests: Vec<Vec<NewEvent>> = (0..iters).map(make).collect();
                record_through_writer(&requests)
            })
        });
    }
    group.finish();
}

/// The mixed workload's events as stored (appended once, then read back).
fn stored_events(n: u64) -> Vec<Event> {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = Store::open(dir.path().join("events.db"), Durability::Normal).expect("store");
    let (writer, thread) = Writer::spawn(&store, WriterConfig::default(), None).expect("writer");
    replay::workload::run(&writer, 0, n, 1000).expect("workload");
    drop(writer);
    let _ = thread.join();
    store
        .read(|conn| store::log::query_events(conn, &store::EventFilter::default()))
        .expect("events")
}

fn apply(c: &mut Criterion) {
    let events = stored_events(6 * 2_000);
    let mut types: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
    types.sort();
    types.dedup();
    let mut group = c.benchmark_group("apply");
    group.sample_size(10);
    for event_type in types {
        group.bench_function(&event_type, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut n_timed = 0u64;
                while n_timed < iters {
                    let conn = rusqlite::Connection::open_in_memory().expect("memory database");
                    let mut conn = conn;
                    store::schema::migrate(&mut conn).expect("schema");
                    let staging = Staging::default();
                    for (idx, event) in events.iter().enumerate() {
                        if idx % 1000 == 0 {
                            staging.flush(&conn).expect("flush");
                        }
                        let tx = ProjectionTx::staged(&conn, &staging);
                        let started = Instant::now();
                        projections::apply(tx, event).expect("apply");
                        if event.event_type == event_type && n_timed < iters {
                            timed += started.elapsed();
                            n_timed += 1;
                        }
                        staging.end_job(true);
                    }
                }
                timed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, writer, apply);
criterion_main!(benches);
