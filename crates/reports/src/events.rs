//! Log events as CSV rows (the export of `hookledger events --format csv` and
//! `GET /api/events?format=csv`). The payload is its stored canonical JSON text; the raw request
//! is left to `GET /api/events/{seq}`.

use domain::Event;

use crate::csv::{record, text};

/// The header record.
pub fn csv_header() -> String {
    record(
        &[
            "seq",
            "id",
            "stream",
            "stream_version",
            "type",
            "type_version",
            "source",
            "tenant",
            "recorded_at",
            "idempotency_key",
            "payload",
            "prev_hash",
            "hash",
        ]
        .map(String::from),
    )
}

/// One event as a record.
pub fn csv_row(event: &Event) -> String {
    record(&[
        event.seq.to_string(),
        event.id.to_string(),
        text(&event.stream),
        event.stream_version.to_string(),
        text(&event.event_type),
        event.type_version.to_string(),
        text(&event.source),
        event.tenant.to_string(),
        text(&event.recorded_at),
        text(&event.idempotency_key),
        text(&event.payload),
        event.prev_hash.clone(),
        event.hash.clone(),
    ])
}
