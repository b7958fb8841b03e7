//! SQLite's own durable append limit on this machine, the yardstick of the writer's figures:
//! `raw_append [ROWS_PER_COMMIT...]` (default 1 10 100 1000) appends rows of an event's size
//! (800 bytes) to a table with an integer key only, in a new WAL database with
//! `synchronous=FULL`, one prepared statement, one transaction per commit, and prints rows/s
//! and microseconds per row for each commit size.

use std::time::{Duration, Instant};

use rusqlite::{params, Connection};

fn measure(rows_per_commit: usize) -> Result<(usize, Duration), rusqlite::Error> {
    let dir = std::env::temp_dir().join(format!(
        "raw-append-{}-{rows_per_commit}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let conn = Connection::open(dir.join("raw.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE raw (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")?;
    let body = "x".repeat(800);
    // About two seconds of work at any commit size on a disk whose fsync takes ~0.6 ms.
    let commits = match rows_per_commit {
        0..=1 => 2_000,
        2..=10 => 1_000,
        11..=100 => 500,
        _ => 200,
    };
    let started = Instant::now();
    let mut seq = 0u64;
    let mut stmt = conn.prepare("INSERT INTO raw (seq, body) VALUES (?1, ?2)")?;
    for _ in 0..commits {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        for _ in 0..rows_per_commit {
            seq += 1;
            stmt.execute(params![seq, body])?;
        }
        conn.execute_batch("COMMIT")?;
    }
    let elapsed = started.elapsed();
    drop(stmt);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((commits * rows_per_commit, elapsed))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![1, 10, 100, 1000]
    } else {
        sizes
    };
    for rows_per_commit in sizes {
        let (rows, elapsed) = measure(rows_per_commit)?;
        let seconds = elapsed.as_secs_f64();
        println!(
            "raw_append rows_per_commit={rows_per_commit} rows={rows} rows_per_s={:.0} us_per_row={:.2}",
            rows as f64 / seconds,
            seconds * 1e6 / rows as f64
        );
    }
    Ok(())
}
