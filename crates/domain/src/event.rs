//! The event envelope: what an event is before it is appended ([`NewEvent`]) and as the log
//! stores it ([`Event`]).
//!
//! Events are facts as upstream reported them (`accounting.order_status_reported`,
//! `exact.products_synced`, …), past tense, each with a `type_version` so that a reader can upgrade
//! old shapes on the way in. Decisions derived from them live in projections.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::json::Json;

/// The one tenant of this version (seed 004's default).
pub const DEFAULT_TENANT: Uuid = Uuid::nil();

/// The namespace of every id hookledger derives (UUIDv5), so that ids are a pure function of the log.
pub const ID_NAMESPACE: Uuid = Uuid::from_bytes([
    0x6b, 0x1f, 0x4e, 0x2a, 0x0c, 0x5d, 0x4b, 0x8e, 0x9a, 0x21, 0x3c, 0x77, 0xd0, 0x1e, 0x55, 0x0b,
]);

/// Derives a stable id from a parent id and a role ("work_order", "journal:revenue", …).
pub fn derive_id(parent: &Uuid, role: &str) -> Uuid {
    v5(&[parent.as_bytes(), role.as_bytes()])
}

/// The event id of an idempotency key: the same request always names the same event.
pub fn event_id_for_key(idempotency_key: &str) -> Uuid {
    v5(&[idempotency_key.as_bytes()])
}

/// A name-based UUID (version 5) in [`ID_NAMESPACE`] of the concatenated `parts`: the same
/// value as `Uuid::new_v5`, computed with RustCrypto's SHA-1, which uses the CPU's SHA
/// instructions where there are some (ids are derived several times per event, on the
/// writer's thread).
pub fn v5(parts: &[&[u8]]) -> Uuid {
    use sha1::{Digest, Sha1};
    let mut hasher = Sha1::new();
    hasher.update(ID_NAMESPACE.as_bytes());
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// Which upstream an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Seed 000: the web shop's order-status webhook.
    Accounting,
    /// Seed 001: ROMS V2 order webhooks.
    Roms,
    /// Seed 002: Exact Online through Zapier.
    Exact,
    /// Seed 003: the vendor server's status callbacks.
    Vendor,
    /// The payment provider (Stripe).
    Stripe,
    /// hookledger itself (administrative facts).
    System,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Accounting,
        Source::Roms,
        Source::Exact,
        Source::Vendor,
        Source::Stripe,
        Source::System,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Accounting => "accounting",
            Source::Roms => "roms",
            Source::Exact => "exact",
            Source::Vendor => "vendor",
            Source::Stripe => "stripe",
            Source::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the writer recognises a request it has already recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// A key that names the request for ever (a Stripe event id, a digest of a seed 002 action):
    /// the same key again is a duplicate however much later it comes.
    Key(String),
    /// A digest of the request's meaningful content: a duplicate only when it equals the digest of
    /// the last event accepted on the same stream (seeds 000, 001, 003), so that a status sent
    /// again after another status is a new fact.
    SameAsLast(String),
}

/// The original request an event came from, secrets removed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RawRequest {
    pub method: String,
    pub path: String,
    /// Header names in lower case; secret-bearing headers are removed before this is built.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body text, with secret fields removed.
    pub body: String,
}

impl RawRequest {
    /// The canonical JSON text stored in the log's `raw_request` column.
    pub fn canonical(&self) -> String {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Json::str(v.clone())));
        Json::object([
            ("method", Json::str(self.method.clone())),
            ("path", Json::str(self.path.clone())),
            ("headers", Json::object(headers)),
            ("body", Json::str(self.body.clone())),
        ])
        .canonical()
    }
}

/// An event on its way into the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The aggregate this fact is about, e.g. `order:roms:12345`.
    pub stream: String,
    /// The fact's name, e.g. `roms.order_received`.
    pub event_type: String,
    pub type_version: u32,
    pub source: Source,
    pub dedupe: Dedupe,
    pub payload: Json,
    pub raw_request: RawRequest,
}

/// An event as the log stores it. Text columns are exactly the stored bytes, which the hash covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub id: Uuid,
    pub stream: String,
    pub stream_version: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub type_version: u32,
    pub source: String,
    pub tenant: Uuid,
    /// RFC 3339, UTC, microseconds, `Z`: fixed width, so text order is time order.
    pub recorded_at: String,
    pub idempotency_key: String,
    /// Canonical JSON text.
    pub payload: String,
    /// Canonical JSON text of [`RawRequest`].
    pub raw_request: String,
    /// Lower-case hex of the previous event's hash (64 zeros for the first event).
    pub prev_hash: String,
    /// Lower-case hex of this event's hash.
    pub hash: String,
}

impl Event {
    /// The payload parsed into a typed struct.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }

    /// The payload as an exact [`Json`] value.
    pub fn payload_json(&self) -> Result<Json, crate::json::JsonError> {
        Json::parse(self.payload.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_uuid_crates_version_5() {
        for name in [
            "",
            "k",
            "stripe:evt_1",
            "a much longer name than one SHA-1 block holds, \
                      so that the second block is covered too: 0123456789abcdef",
        ] {
            assert_eq!(
                event_id_for_key(name),
                Uuid::new_v5(&ID_NAMESPACE, name.as_bytes())
            );
        }
        let parent = event_id_for_key("p");
        let mut name = parent.as_bytes().to_vec();
        name.extend_from_slice(b"journal:1");
        assert_eq!(
            derive_id(&parent, "journal:1"),
            Uuid::new_v5(&ID_NAMESPACE, &name)
        );
    }

    #[test]
    fn derived_ids_are_stable_and_role_specific() {
        let parent = event_id_for_key("k");
        assert_eq!(derive_id(&parent, "a"), derive_id(&parent, "a"));
        assert_ne!(derive_id(&parent, "a"), derive_id(&parent, "b"));
        assert_eq!(event_id_for_key("k"), parent);
    }

    #[test]
    fn sources_round_trip_through_their_names() {
        for source in Source::ALL {
            assert_eq!(Source::parse(source.as_str()), Some(source));
        }
    }
}
