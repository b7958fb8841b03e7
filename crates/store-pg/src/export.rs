//! Copying this log into a new SQLite database, byte for byte: the way back from `migrate`,
//! and how `replay` rebuilds projections of a PostgreSQL ledger (the projectors run on SQLite).
//!
//! The rows are read through a portal from one snapshot, each checked as `verify` checks it
//! (a broken chain stops the copy, naming the first bad `seq`), and inserted into the new
//! file's `events` table in transactions of [`CHUNK_ROWS`] rows.

use std::path::Path;

use postgres::Client;
use store::hash::GENESIS_HASH;

use crate::copy::CHUNK_ROWS;
use crate::import::{sqlite, EVENTS};
use crate::verify::{row_verdict, RAW_COLUMNS};
use crate::PgStoreError;

/// Rows fetched from the portal per round trip.
const ROWS_PER_FETCH: i32 = 2_000;

pub(crate) fn export(
    client: &mut Client,
    path: &Path,
    until_seq: Option<u64>,
    mut progress: impl FnMut(u64),
) -> Result<u64, PgStoreError> {
    if path.exists() {
        return Err(PgStoreError::Refused(format!(
            "{} exists; the log is copied into a new file",
            path.display()
        )));
    }
    // The store's own schema, then a plain connection for the inserts.
    drop(
        store::Store::open(path, store::Durability::Normal)
            .map_err(|e| PgStoreError::Sqlite(format!("cannot create {}: {e}", path.display())))?,
    );
    let mut target = rusqlite::Connection::open(path).map_err(sqlite)?;
    let until = i64::try_from(until_seq.unwrap_or(u64::MAX)).unwrap_or(i64::MAX);
    let mut tx = crate::snapshot(client)?;
    let portal = tx.bind(
        &format!("SELECT {RAW_COLUMNS} FROM events WHERE seq <= $1 ORDER BY seq"),
        &[&until],
    )?;
    let placeholders = (1..=EVENTS.columns.len())
        .map(|n| format!("?{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "INSERT INTO events ({}) VALUES ({placeholders})",
        EVENTS.column_list()
    );
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut chunk = target.transaction().map_err(sqlite)?;
    let mut in_chunk = 0;
    loop {
        let rows = tx.query_portal(&portal, ROWS_PER_FETCH)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            prev_hash = row_verdict(row, expected_seq, &prev_hash).map_err(|reason| {
                PgStoreError::Refused(format!(
                    "the log breaks at seq {expected_seq}: {reason} (run `hookledger verify`)"
                ))
            })?;
            let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(15);
            for (idx, (_, kind)) in EVENTS.columns.iter().enumerate() {
                values.push(match kind {
                    crate::copy::Kind::Int => row.try_get::<_, i64>(idx)?.into(),
                    crate::copy::Kind::Text => row.try_get::<_, String>(idx)?.into(),
                });
            }
            chunk
                .prepare_cached(&insert)
                .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(values)))
                .map_err(sqlite)?;
            expected_seq += 1;
            in_chunk += 1;
            if in_chunk == CHUNK_ROWS {
                chunk.commit().map_err(sqlite)?;
                chunk = target.transaction().map_err(sqlite)?;
                in_chunk = 0;
                progress(expected_seq - 1);
            }
        }
    }
    chunk.commit().map_err(sqlite)?;
    tx.commit()?;
    progress(expected_seq - 1);
    Ok(expected_seq - 1)
}
