//! The request body each destination gets, built once when a delivery is created and sent
//! byte for byte on every attempt (signatures cover these bytes):
//! - `customer` (seed 003): the outbox payload as it is, the complete seed 003 body;
//! - `zapier` (seed 002): `{"event", "timestamp", "data"}`;
//! - a subscriber (Standard Webhooks): `{"type", "timestamp", "data"}`.
//!
//! `timestamp` is the outbox row's `recorded_at` in the seeds' millisecond form, so that the
//! body is a function of the log. The payload is spliced in as stored (canonical JSON whose
//! numbers keep their text), never re-serialised.

use store::projection::OutboxRow;

/// Where an outbox row goes, as the projectors name it.
pub mod destination {
    pub const CUSTOMER: &str = "customer";
    pub const ZAPIER: &str = "zapier";
    pub const SUBSCRIBERS: &str = "subscribers";
}

fn envelope(name_key: &str, row: &OutboxRow) -> String {
    let event = serde_json::Value::String(row.event.clone()).to_string();
    let timestamp = domain::time::micros_to_millis(&row.recorded_at);
    format!(
        "{{\"{name_key}\":{event},\"timestamp\":\"{timestamp}\",\"data\":{}}}",
        row.payload
    )
}

/// Seed 003's body: the payload itself.
pub fn customer(row: &OutboxRow) -> String {
    row.payload.clone()
}

/// Seed 002's body for Zapier.
pub fn zapier(row: &OutboxRow) -> String {
    envelope("event", row)
}

/// The Standard Webhooks body for subscribers.
pub fn subscriber(row: &OutboxRow) -> String {
    envelope("type", row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> OutboxRow {
        OutboxRow {
            id: "o1".into(),
            seq: 7,
            event: "payment.received".into(),
            destination: destination::SUBSCRIBERS.into(),
            stream: "order/roms/1".into(),
            recorded_at: "2024-01-10T14:30:00.123456Z".into(),
            payload: r#"{"amount":12.50,"currency":"USD"}"#.into(),
        }
    }

    #[test]
    fn bodies_splice_the_payload_verbatim() {
        assert_eq!(
            subscriber(&row()),
            r#"{"type":"payment.received","timestamp":"2024-01-10T14:30:00.123Z","data":{"amount":12.50,"currency":"USD"}}"#
        );
        assert_eq!(
            zapier(&row()),
            r#"{"event":"payment.received","timestamp":"2024-01-10T14:30:00.123Z","data":{"amount":12.50,"currency":"USD"}}"#
        );
        assert_eq!(customer(&row()), row().payload);
    }
}
