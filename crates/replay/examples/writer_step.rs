//! The writer's step per event, without HTTP: `writer_step WORKLOAD N [IN_FLIGHT]` records N
//! requests (`roms`: seed 001 new orders; `mixed`: the replay workload) through the real writer,
//! one job per request with IN_FLIGHT (default 64) jobs in flight, as the server does under 64
//! connections, into a new database in a temporary folder (`synchronous=FULL`). The requests
//! are parsed by `ingest` before the clock starts. Prints events/s and the process's CPU time
//! per event (which, the requests being ready, is the writer's). For `scripts/bench` and for
//! `valgrind --tool=callgrind`, whose instruction counts do not depend on the machine's load.

use std::sync::Arc;
use std::time::Instant;

use domain::NewEvent;
use store::{Durability, Store, Writer, WriterConfig};

/// The binary's allocator (crates/cli/src/main.rs), so that the figures match.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: writer_step roms|mixed N [IN_FLIGHT]";
    let workload = args.next().ok_or(usage)?;
    let n: u64 = args.next().ok_or(usage)?.parse()?;
    let in_flight: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let requests: Vec<Vec<NewEvent>> = match workload.as_str() {
        "roms" => (0..n).map(replay::workload::roms_order).collect(),
        "mixed" => (0..n).map(replay::workload::events).collect(),
        _ => return Err(usage.into()),
    };
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().join("bench.db"), Durability::Full)?;
    let (writer, thread) = Writer::spawn(&store, WriterConfig::default(), None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()?;
    let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..in_flight {
            let writer = writer.clone();
            let queue = queue.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some(events) = next else { break };
                    match writer
                        .submit(move |ctx| projections::record(ctx, &events))
                        .await
                    {
                        Ok(Ok(_)) => {}
                        other => panic!("a request was not recorded: {other:?}"),
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    drop(writer);
    thread.join().map_err(|_| "the writer thread panicked")?;
    println!(
        "writer_step {workload}: {n} requests in {seconds:.2} s: {:.0} events/s, {:.1} us CPU per event",
        n as f64 / seconds,
        cpu * 1e6 / n as f64
    );
    Ok(())
}
