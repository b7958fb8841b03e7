//! Recomputing the hash chain from the stored bytes.
//!
//! Every row is read as raw SQLite values (not through the typed reader), so that a change of
//! any stored byte, or of a column's storage type, is caught even if the triggers were dropped.
//!
//! [`verify`] walks the whole chain (`hookledger verify`, `GET /api/verify`). [`verify_after`]
//! walks a bounded stretch after a point already verified: the console's chain badge keeps its
//! verified head current with it, one chunk at a time. [`check_row`] checks one row against the
//! row before it (the console's event page).

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row};

use crate::hash::{row_hash, HashInput, GENESIS_HASH, HASH_LAYOUT};
use crate::StoreError;

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyReport {
    /// Every row chains; `head` is the last `seq` and hash (`None` for an empty log).
    Intact { head: Option<(u64, String)> },
    /// The first row that does not verify, and why.
    Broken { first_bad_seq: u64, reason: String },
}

/// The columns a verification reads, in the order [`row_verdict`] expects them.
const RAW_COLUMNS: &str = "seq, id, stream, stream_version, type, type_version, source, tenant,
     recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash";

/// One row's columns as a backend read them, its storage types already checked (integers are
/// non-negative integers, text is UTF-8 text). [`check_stored_row`] decides whether it chains.
/// PostgreSQL's log (crate `store-pg`) checks its rows with the same code as SQLite's.
#[derive(Debug, Clone, Copy)]
pub struct StoredRow<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub type_version: u64,
    pub source: &'a str,
    pub tenant: &'a str,
    pub recorded_at: &'a str,
    pub idempotency_key: &'a str,
    pub payload: &'a str,
    pub raw_request: &'a str,
    pub hash_layout: u64,
    pub prev_hash: &'a str,
    pub hash: &'a str,
}

/// Checks one stored row: it must be `expected_seq`, chain to `prev_hash`, and its stored hash
/// must be recomputed from its stored bytes. `Ok` is the row's hash; `Err` says what is wrong.
pub fn check_stored_row(
    row: &StoredRow<'_>,
    expected_seq: u64,
    prev_hash: &str,
) -> Result<String, String> {
    if row.seq != expected_seq {
        return Err(format!("expected seq {expected_seq}, found {}", row.seq));
    }
    if row.hash_layout != HASH_LAYOUT as u64 {
        return Err(format!("unknown hash layout {}", row.hash_layout));
    }
    if row.prev_hash != prev_hash {
        return Err("prev_hash does not match the previous event's hash".into());
    }
    let type_version = u32::try_from(row.type_version).map_err(|_| "type_version out of range")?;
    let computed = row_hash(
        prev_hash,
        &HashInput {
            seq: row.seq,
            id: row.id,
            stream: row.stream,
            stream_version: row.stream_version,
            event_type: row.event_type,
            type_version,
            source: row.source,
            tenant: row.tenant,
            recorded_at: row.recorded_at,
            idempotency_key: row.idempotency_key,
            payload: row.payload,
            raw_request: row.raw_request,
        },
    );
    if computed.as_deref() != Some(row.hash) {
        return Err("hash does not match the row's contents".into());
    }
    Ok(row.hash.to_owned())
}

/// Checks one raw SQLite row (see [`check_stored_row`]): a value of another storage type than
/// its column's breaks the row even if its bytes are equal.
fn row_verdict(row: &Row<'_>, expected_seq: u64, prev_hash: &str) -> Result<String, String> {
    let int = |idx: usize| match row.get_ref(idx) {
        Ok(ValueRef::Integer(n)) if n >= 0 => Some(n as u64),
        _ => None,
    };
    let text = |idx: usize| match row.get_ref(idx) {
        Ok(ValueRef::Text(bytes)) => std::str::from_utf8(bytes).ok(),
        _ => None,
    };
    let seq = int(0).ok_or("seq is not an integer")?;
    if seq != expected_seq {
        return Err(format!("expected seq {expected_seq}, found {seq}"));
    }
    let (Some(stream_version), Some(type_version), Some(hash_layout)) = (int(3), int(5), int(12))
    else {
        return Err("an integer column has another type".into());
    };
    let t: Vec<&str> = [1, 2, 4, 6, 7, 8, 9, 10, 11, 13, 14]
        .into_iter()
        .map(text)
        .collect::<Option<_>>()
        .ok_or("a text column has another type")?;
    let stored = StoredRow {
        seq,
        id: t[0],
        stream: t[1],
        stream_version,
        event_type: t[2],
        type_version,
        source: t[3],
        tenant: t[4],
        recorded_at: t[5],
        idempotency_key: t[6],
        payload: t[7],
        raw_request: t[8],
        hash_layout,
        prev_hash: t[9],
        hash: t[10],
    };
    check_stored_row(&stored, expected_seq, prev_hash)
}

/// Walks the rows after `from_seq` (whose hash is `from_hash`) in `seq` order, at most
/// `rows_max` of them, calling `on_row` with each verified row's `seq` and hash (an `Err` from
/// it stops the walk as a break at that row). `Intact` names the last verified point.
fn walk(
    conn: &Connection,
    from_seq: u64,
    from_hash: &str,
    rows_max: Option<u64>,
    mut on_row: impl FnMut(u64, &str) -> Result<(), String>,
) -> Result<VerifyReport, StoreError> {
    let limit = rows_max.map_or(-1, |n| n as i64);
    let mut stmt = conn.prepare(&format!(
        "SELECT {RAW_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let mut rows = stmt.query(rusqlite::params![from_seq as i64, limit])?;
    let mut expected_seq = from_seq + 1;
    let mut prev_hash = from_hash.to_owned();
    while let Some(row) = rows.next()? {
        let verdict = row_verdict(row, expected_seq, &prev_hash)
            .and_then(|hash| on_row(expected_seq, &hash).map(|()| hash));
        match verdict {
            Ok(hash) => prev_hash = hash,
            Err(reason) => {
                return Ok(VerifyReport::Broken {
                    first_bad_seq: expected_seq,
                    reason,
                })
            }
        }
        expected_seq += 1;
    }
    let last_seq = expected_seq - 1;
    Ok(VerifyReport::Intact {
        head: (last_seq > 0).then_some((last_seq, prev_hash)),
    })
}

/// Verifies the whole chain; with `expect`, also that the event at that `seq` still has that
/// hash (which proves the log up to it unchanged and not truncated).
pub fn verify(
    conn: &Connection,
    expect: Option<(u64, &str)>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let mut expect_matched = false;
    let walked = walk(conn, 0, GENESIS_HASH, None, |seq, hash| {
        if let Some((expect_seq, expect_hash)) = expect {
            if seq == expect_seq {
                if !hash.eq_ignore_ascii_case(expect_hash) {
                    return Err(format!("hash differs from the expected {expect_hash}"));
                }
                expect_matched = true;
            }
        }
        progress(seq);
        Ok(())
    })?;
    let VerifyReport::Intact { head } = &walked else {
        return Ok(walked);
    };
    let last_seq = head.as_ref().map_or(0, |(seq, _)| *seq);
    if let Some((expect_seq, _)) = expect {
        if !expect_matched {
            return Ok(VerifyReport::Broken {
                first_bad_seq: last_seq + 1,
                reason: format!(
                    "the log ends at seq {last_seq}, before the expected head {expect_seq}: truncated"
                ),
            });
        }
    }
    Ok(walked)
}

/// Verifies at most `rows_max` rows after `from_seq`, whose hash the caller verified before as
/// `from_hash` (`0` and [`GENESIS_HASH`] start at the beginning). The event at `from_seq` must
/// still carry that hash: a rewritten or vanished head is a break at `from_seq`. `Intact`
/// names the new verified head (the old one when no row follows it).
///
/// This trusts the rows up to `from_seq` as verified before; only a walk from the start
/// ([`verify`]) proves that none of them changed since.
pub fn verify_after(
    conn: &Connection,
    from_seq: u64,
    from_hash: &str,
    rows_max: u64,
) -> Result<VerifyReport, StoreError> {
    if from_seq > 0 {
        let stored: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [from_seq as i64],
            |row| row.get(0),
        ))?;
        let reason = match stored {
            None => Some("the verified head is gone: the log was truncated".to_owned()),
            Some(hash) if hash != from_hash => {
                Some("the verified head's hash changed since it was verified".to_owned())
            }
            Some(_) => None,
        };
        if let Some(reason) = reason {
            return Ok(VerifyReport::Broken {
                first_bad_seq: from_seq,
                reason,
            });
        }
    }
    walk(conn, from_seq, from_hash, Some(rows_max), |_, _| Ok(()))
}

/// One row checked on its own: its hash recomputed from its stored bytes, and its `prev_hash`
/// against the stored hash of the row before it. `None` when there is no such row. This says
/// nothing about the rows before it; [`verify`] does.
pub fn check_row(conn: &Connection, seq: u64) -> Result<Option<Result<(), String>>, StoreError> {
    if seq == 0 {
        return Ok(None);
    }
    let prev_hash: Option<String> = if seq == 1 {
        Some(GENESIS_HASH.to_owned())
    } else {
        rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [(seq - 1) as i64],
            |row| row.get(0),
        ))?
    };
    let mut stmt = conn.prepare(&format!("SELECT {RAW_COLUMNS} FROM events WHERE seq = ?1"))?;
    let mut rows = stmt.query([seq as i64])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let Some(prev_hash) = prev_hash else {
        return Ok(Some(Err(format!("there is no event with seq {}", seq - 1))));
    };
    Ok(Some(row_verdict(row, seq, &prev_hash).map(|_| ())))
}
