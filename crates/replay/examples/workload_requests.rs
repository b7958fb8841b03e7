//! Prints the mixed workload's requests for a live server, timestamped and signed now:
//! `workload_requests N > FILE`, one per line as `path TAB header:value|… TAB body`, the form
//! `scripts/bench.d/replay-file.lua` sends with wrk. The server needs the workload's secrets
//! (`replay::workload::{ACCOUNTING_SECRET, VENDOR_SECRET, STRIPE_SECRET}`).

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .ok_or("usage: workload_requests N")?
        .parse()?;
    let now = chrono::Utc::now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for i in 0..n {
        let (dialect, headers, body) = replay::workload::request_at(i, now);
        let headers: Vec<String> = headers.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        writeln!(out, "{}\t{}\t{body}", dialect.path(), headers.join("|"))?;
    }
    out.flush()?;
    Ok(())
}
