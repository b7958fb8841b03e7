//! Recomputing the hash chain from the stored bytes, row by row in `seq` order.
//!
//! The walk reads through a portal in a read-only REPEATABLE READ transaction: one snapshot of
//! the log, [`ROWS_PER_FETCH`] rows in memory at a time. Each row is checked by
//! `store::verify::check_stored_row`, the code that checks SQLite's rows, so both logs break on
//! the same rows for the same reasons.

use postgres::{Client, Row};
use store::hash::GENESIS_HASH;
use store::verify::{check_stored_row, StoredRow};
use store::VerifyReport;

use crate::PgStoreError;

/// Rows fetched from the portal per round trip.
const ROWS_PER_FETCH: i32 = 1_000;

pub(crate) const RAW_COLUMNS: &str =
    "seq, id, stream, stream_version, type, type_version, source, tenant,
     recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash";

/// Checks one row: its integer columns must be non-negative, then as `check_stored_row`.
pub(crate) fn row_verdict(row: &Row, expected_seq: u64, prev_hash: &str) -> Result<String, String> {
    let int = |idx: usize| {
        row.try_get::<_, i64>(idx)
            .ok()
            .and_then(|n| u64::try_from(n).ok())
    };
    let text = |idx: usize| row.try_get::<_, &str>(idx).ok();
    let seq = int(0).ok_or("seq is not a non-negative integer")?;
    if seq != expected_seq {
        return Err(format!("expected seq {expected_seq}, found {seq}"));
    }
    let (Some(stream_version), Some(type_version), Some(hash_layout)) = (int(3), int(5), int(12))
    else {
        return Err("an integer column has another type or is negative".into());
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

pub(crate) fn verify(
    client: &mut Client,
    expect: Option<(u64, &str)>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, PgStoreError> {
    let mut tx = crate::snapshot(client)?;
    let portal = tx.bind(
        &format!("SELECT {RAW_COLUMNS} FROM events ORDER BY seq"),
        &[],
    )?;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut expect_matched = false;
    loop {
        let rows = tx.query_portal(&portal, ROWS_PER_FETCH)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let verdict = row_verdict(row, expected_seq, &prev_hash).and_then(|hash| {
                match expect {
                    Some((seq, expected)) if seq == expected_seq => {
                        if !hash.eq_ignore_ascii_case(expected) {
                            return Err(format!("hash differs from the expected {expected}"));
                        }
                        expect_matched = true;
                    }
                    _ => {}
                }
                Ok(hash)
            });
            match verdict {
                Ok(hash) => prev_hash = hash,
                Err(reason) => {
                    return Ok(VerifyReport::Broken {
                        first_bad_seq: expected_seq,
                        reason,
                    })
                }
            }
            progress(expected_seq);
            expected_seq += 1;
        }
    }
    tx.commit()?;
    let last_seq = expected_seq - 1;
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
    Ok(VerifyReport::Intact {
        head: (last_seq > 0).then_some((last_seq, prev_hash)),
    })
}
