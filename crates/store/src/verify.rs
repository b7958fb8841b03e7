//! Recomputing the hash chain from the stored bytes.
//!
//! Every row is read as raw SQLite values (not through the typed reader), so that a change of
//! any stored byte, or of a column's storage type, is caught even if the triggers were dropped.

use rusqlite::types::ValueRef;
use rusqlite::Connection;

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

/// Verifies the whole chain; with `expect`, also that the event at that `seq` still has that
/// hash (which proves the log up to it unchanged and not truncated).
pub fn verify(
    conn: &Connection,
    expect: Option<(u64, &str)>,
    mut progress: impl FnMut(u64),
) -> Result<VerifyReport, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, id, stream, stream_version, type, type_version, source, tenant, recorded_at,
         idempotency_key, payload, raw_request, hash_layout, prev_hash, hash
         FROM events ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut expected_seq = 1u64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut expect_matched = false;
    while let Some(row) = rows.next()? {
        let broken = |reason: String| VerifyReport::Broken {
            first_bad_seq: expected_seq,
            reason,
        };
        let int = |idx: usize| match row.get_ref(idx) {
            Ok(ValueRef::Integer(n)) if n >= 0 => Some(n as u64),
            _ => None,
        };
        let text = |idx: usize| match row.get_ref(idx) {
            Ok(ValueRef::Text(bytes)) => std::str::from_utf8(bytes).ok(),
            _ => None,
        };
        let Some(seq) = int(0) else {
            return Ok(broken("seq is not an integer".into()));
        };
        if seq != expected_seq {
            return Ok(broken(format!("expected seq {expected_seq}, found {seq}")));
        }
        let (Some(stream_version), Some(type_version), Some(layout)) = (int(3), int(5), int(12))
        else {
            return Ok(broken("an integer column has another type".into()));
        };
        let texts: Option<Vec<&str>> = [1, 2, 4, 6, 7, 8, 9, 10, 11, 13, 14]
            .into_iter()
            .map(text)
            .collect();
        let Some(t) = texts else {
            return Ok(broken("a text column has another type".into()));
        };
        let (id, stream, event_type, source, tenant, recorded_at, key, payload, raw) =
            (t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]);
        let (stored_prev, stored_hash) = (t[9], t[10]);
        if layout != HASH_LAYOUT as u64 {
            return Ok(broken(format!("unknown hash layout {layout}")));
        }
        if stored_prev != prev_hash {
            return Ok(broken(
                "prev_hash does not match the previous event's hash".into(),
            ));
        }
        let Ok(type_version) = u32::try_from(type_version) else {
            return Ok(broken("type_version out of range".into()));
        };
        let computed = row_hash(
            &prev_hash,
            &HashInput {
                seq,
                id,
                stream,
                stream_version,
                event_type,
                type_version,
                source,
                tenant,
                recorded_at,
                idempotency_key: key,
                payload,
                raw_request: raw,
            },
        );
        if computed.as_deref() != Some(stored_hash) {
            return Ok(broken("hash does not match the row's contents".into()));
        }
        if let Some((expect_seq, expect_hash)) = expect {
            if seq == expect_seq {
                if !stored_hash.eq_ignore_ascii_case(expect_hash) {
                    return Ok(broken(format!(
                        "hash differs from the expected {expect_hash}"
                    )));
                }
                expect_matched = true;
            }
        }
        prev_hash = stored_hash.to_owned();
        progress(seq);
        expected_seq += 1;
    }
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
