//! Writes the mixed workload into a database, for `scripts/bench-replay`:
//! `workload PATH N [PER_JOB]` appends N events through the writer (PER_JOB requests per job).

use std::time::Instant;

/// The binary's allocator (crates/cli/src/main.rs), so that the figures match.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use store::{Durability, Store, Writer, WriterConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: workload PATH N [PER_JOB]";
    let path = args.next().ok_or(usage)?;
    let n: u64 = args.next().ok_or(usage)?.parse()?;
    let per_job: u64 = args.next().map_or(Ok(1000), |a| a.parse())?;
    let store = Store::open(&path, Durability::Normal)?;
    let (writer, thread) = Writer::spawn(&store, WriterConfig::default(), None)?;
    let started = Instant::now();
    let head = store.read(store::log::head)?.1.map_or(0, |(seq, _)| seq);
    // Each request of the workload is one event.
    let appended = replay::workload::run(&writer, head, head + n, per_job)?;
    drop(writer);
    thread.join().map_err(|_| "the writer thread panicked")?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "workload: appended {appended} events in {seconds:.1} s ({:.0} events/s)",
        appended as f64 / seconds
    );
    Ok(())
}
