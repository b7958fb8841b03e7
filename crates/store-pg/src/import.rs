//! Copying an SQLite log into this one, byte for byte (`hookledger migrate`).
//!
//! Every column of every row is copied as stored: the same `seq`, ids, times, payload text and
//! hashes, so both logs verify to the same head. Each source row is checked with
//! `store::verify::check_stored_row` before it is sent (a broken source copies nothing past its
//! first bad row), and each chunk is inserted in its own transaction under the append lock,
//! after checking that it continues this log's head: rows in this append-only table cannot be
//! taken back, so nothing that does not chain is ever inserted.
//!
//! A copy that stopped part way (a lost connection, a killed process) resumes: a target that
//! holds a prefix of the source (the same hash at its head `seq`) is continued from its head.
//! A target that holds anything else is refused.

use postgres::{Client, IsolationLevel};
use rusqlite::OptionalExtension;
use store::hash::GENESIS_HASH;
use store::verify::{check_stored_row, StoredRow};

use crate::append::APPEND_LOCK_KEY;
use crate::copy::{read_value, Chunk, Kind, Table, Value};
use crate::PgStoreError;

/// The log's columns in both databases, in the hash's field order.
pub(crate) const EVENTS: Table = Table {
    name: "events",
    columns: &[
        ("seq", Kind::Int),
        ("id", Kind::Text),
        ("stream", Kind::Text),
        ("stream_version", Kind::Int),
        ("type", Kind::Text),
        ("type_version", Kind::Int),
        ("source", Kind::Text),
        ("tenant", Kind::Text),
        ("recorded_at", Kind::Text),
        ("idempotency_key", Kind::Text),
        ("payload", Kind::Text),
        ("raw_request", Kind::Text),
        ("hash_layout", Kind::Int),
        ("prev_hash", Kind::Text),
        ("hash", Kind::Text),
    ],
};

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Events this log already held of the source's (a resumed copy), not copied again.
    pub n_already_present: u64,
    /// Events copied now.
    pub n_copied: u64,
    /// The head both logs share afterwards (`None`: both empty).
    pub head: Option<(u64, String)>,
}

/// Checks a source row read as [`EVENTS`]' values, as `verify` would.
fn check(values: &[Value], expected_seq: u64, prev_hash: &str) -> Result<String, String> {
    let int = |idx: usize| {
        values[idx]
            .int()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| format!("column {} is negative", EVENTS.columns[idx].0))
    };
    let text = |idx: usize| values[idx].text().unwrap_or_default();
    let row = StoredRow {
        seq: int(0)?,
        id: text(1),
        stream: text(2),
        stream_version: int(3)?,
        event_type: text(4),
        type_version: int(5)?,
        source: text(6),
        tenant: text(7),
        recorded_at: text(8),
        idempotency_key: text(9),
        payload: text(10),
        raw_request: text(11),
        hash_layout: int(12)?,
        prev_hash: text(13),
        hash: text(14),
    };
    check_stored_row(&row, expected_seq, prev_hash)
}

pub(crate) fn import(
    client: &mut Client,
    source: &rusqlite::Connection,
    mut progress: impl FnMut(u64),
) -> Result<ImportReport, PgStoreError> {
    let start = crate::read::head(client)?;
    let (start_seq, start_hash) = start
        .clone()
        .unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    if start_seq > 0 {
        let source_hash: Option<String> = source
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                [start_seq as i64],
                |row| row.get(0),
            )
            .optional()
            .map_err(sqlite)?;
        if source_hash.as_deref() != Some(start_hash.as_str()) {
            return Err(PgStoreError::Refused(format!(
                "the target already holds {start_seq} events that are not the source's first \
                 {start_seq} (its head hash {start_hash} is not the source's at that seq); \
                 migrate into an empty database"
            )));
        }
    }
    let mut stmt = source
        .prepare(&format!(
            "SELECT {} FROM events WHERE seq > ?1 ORDER BY seq",
            EVENTS.column_list()
        ))
        .map_err(sqlite)?;
    let mut rows = stmt.query([start_seq as i64]).map_err(sqlite)?;
    let (mut head_seq, mut head_hash) = (start_seq, start_hash);
    let mut chunk = Chunk::new(&EVENTS);
    // The head the chunk being gathered continues.
    let mut chunk_base = (head_seq, head_hash.clone());
    let mut n_copied = 0;
    loop {
        let row = rows.next().map_err(sqlite)?;
        let Some(row) = row else { break };
        let expected = head_seq + 1;
        let name = || format!("row seq {expected}");
        let values = (0..EVENTS.columns.len())
            .map(|idx| read_value(row, idx, EVENTS.columns[idx].1, &EVENTS, &name))
            .collect::<Result<Vec<_>, _>>()?;
        let hash = check(&values, expected, &head_hash).map_err(|reason| {
            PgStoreError::Refused(format!(
                "the source's chain breaks at seq {expected}: {reason} (run `hookledger verify`; \
                 the events before it were copied)"
            ))
        })?;
        chunk.push(values)?;
        head_seq = expected;
        head_hash = hash;
        if chunk.is_full() {
            n_copied += insert_chunk(client, &mut chunk, &chunk_base)?;
            chunk_base = (head_seq, head_hash.clone());
            progress(head_seq);
        }
    }
    n_copied += insert_chunk(client, &mut chunk, &chunk_base)?;
    progress(head_seq);
    Ok(ImportReport {
        n_already_present: start_seq,
        n_copied,
        head: (head_seq > 0).then_some((head_seq, head_hash)),
    })
}

/// Inserts `chunk` if this log's head is still `base` (no other writer appended meanwhile).
fn insert_chunk(
    client: &mut Client,
    chunk: &mut Chunk<'_>,
    base: &(u64, String),
) -> Result<u64, PgStoreError> {
    let n_rows = chunk.len() as u64;
    if n_rows == 0 {
        return Ok(0);
    }
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK_KEY])?;
    let head = tx.query_opt(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    let head = match head {
        Some(row) => (
            crate::append::to_u64(row.try_get(0)?, "seq")?,
            row.try_get::<_, String>(1)?,
        ),
        None => (0, GENESIS_HASH.to_owned()),
    };
    if &head != base {
        return Err(PgStoreError::Refused(format!(
            "another writer appended to the target during the copy (its head is seq {}, the copy \
             expected {}); stop it and run migrate again",
            head.0, base.0
        )));
    }
    chunk.flush(&mut tx)?;
    tx.commit()?;
    Ok(n_rows)
}

pub(crate) fn sqlite(error: rusqlite::Error) -> PgStoreError {
    PgStoreError::Sqlite(error.to_string())
}
