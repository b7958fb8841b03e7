//! The hash chain's byte layout (version 1), documented in `docs/hash-chain.md`.
//!
//! ```text
//! hash = SHA-256( "hookledger-hash-v1"            (18 ASCII bytes)
//!               ‖ prev_hash                        (32 raw bytes; zeros for seq 1)
//!               ‖ for each column below: len(bytes) as u64 big-endian ‖ bytes )
//! columns: seq, id, stream, stream_version, type, type_version, source, tenant,
//!          recorded_at, idempotency_key, payload, raw_request
//! ```
//! Integers are their ASCII decimal text; text columns are their stored UTF-8 bytes. The hash
//! covers the bytes as stored, never a re-serialisation, so an auditor can recompute it from the
//! SQLite file with any language's SHA-256.

use sha2::{Digest, Sha256};

/// The layout this build writes (stored in each row's `hash_layout`).
pub const HASH_LAYOUT: i64 = 1;

/// The layout's domain-separation prefix.
const LAYOUT_V1_TAG: &[u8] = b"hookledger-hash-v1";

/// The `prev_hash` of the first event: 32 zero bytes, as 64 hex digits.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The columns of one row that the hash covers, as stored.
pub struct HashInput<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub stream: &'a str,
    pub stream_version: u64,
    pub event_type: &'a str,
    pub type_version: u32,
    pub source: &'a str,
    pub tenant: &'a str,
    pub recorded_at: &'a str,
    pub idempotency_key: &'a str,
    pub payload: &'a str,
    pub raw_request: &'a str,
}

/// Computes a row's hash (layout 1) as 64 lower-case hex digits. `prev_hash` is the previous
/// row's hash in hex; `None` if it is not 64 hex digits.
pub fn row_hash(prev_hash: &str, row: &HashInput<'_>) -> Option<String> {
    let prev = hex::decode(prev_hash).ok().filter(|b| b.len() == 32)?;
    let mut hasher = Sha256::new();
    hasher.update(LAYOUT_V1_TAG);
    hasher.update(&prev);
    let seq = row.seq.to_string();
    let stream_version = row.stream_version.to_string();
    let type_version = row.type_version.to_string();
    let columns: [&[u8]; 12] = [
        seq.as_bytes(),
        row.id.as_bytes(),
        row.stream.as_bytes(),
        stream_version.as_bytes(),
        row.event_type.as_bytes(),
        type_version.as_bytes(),
        row.source.as_bytes(),
        row.tenant.as_bytes(),
        row.recorded_at.as_bytes(),
        row.idempotency_key.as_bytes(),
        row.payload.as_bytes(),
        row.raw_request.as_bytes(),
    ];
    for column in columns {
        hasher.update((column.len() as u64).to_be_bytes());
        hasher.update(column);
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> HashInput<'static> {
        HashInput {
            seq: 1,
            id: "00000000-0000-0000-0000-000000000001",
            stream: "s",
            stream_version: 1,
            event_type: "t",
            type_version: 1,
            source: "roms",
            tenant: "00000000-0000-0000-0000-000000000000",
            recorded_at: "2026-01-01T00:00:00.000000Z",
            idempotency_key: "k",
            payload: "{}",
            raw_request: "{}",
        }
    }

    #[test]
    fn the_layout_is_pinned_to_an_independent_implementation() {
        // Computed with Python's hashlib from the layout in docs/hash-chain.md. A changed layout
        // must be a new HASH_LAYOUT, never a silent change.
        assert_eq!(
            row_hash(GENESIS_HASH, &input()).as_deref(),
            Some("5ca0318e17114feb1b5ed2939b084f57124d4653707cdf9779282937344c0dce")
        );
    }

    #[test]
    fn length_prefixes_keep_adjacent_columns_apart() {
        let mut moved = input();
        moved.stream = "st";
        moved.event_type = "";
        assert_ne!(
            row_hash(GENESIS_HASH, &moved),
            row_hash(GENESIS_HASH, &input())
        );
    }

    #[test]
    fn a_bad_prev_hash_is_refused() {
        assert!(row_hash("zz", &input()).is_none());
        assert!(row_hash("00", &input()).is_none());
    }
}
