//! The five upstream dialects: authenticate, validate and normalise an inbound request into
//! canonical events, as pure functions of (request, settings). Nothing here touches the database
//! or the clock (the time of receipt comes in [`Request::received_at`]).
//!
//! # Layout
//! - one module per dialect: [`accounting`] (seed 000), [`roms`] (seed 001), [`exact`] (seed 002),
//!   [`vendor`] (seed 003), [`stripe`] (the payment provider), each with
//!   `parse(&Request, &Settings) -> Result<Ingested, Rejection>`; [`Dialect`] names them and maps a
//!   [`Rejection`] to each dialect's error body;
//! - [`fixtures`]: the fixture format of `fixtures/README.md` (shared with the server's tests);
//! - [`fuzz`]: the fuzz targets (shared by `fuzz/` and this crate's property tests);
//! - [`fields`]: typed access to a JSON object's fields, with the error messages all dialects share;
//! - `support`: body parsing, secret checks, hashing and the secret-free `raw_request`;
//! - [`Request`], [`Settings`] and [`Secret`]: the inputs every dialect shares;
//! - [`Rejection`]: why a request was refused, mapped at the HTTP edge to each dialect's body.
//!
//! Decisions that need state (seed 002's `WORK_ORDER_NOT_FOUND`, say) are not made here: they
//! belong to the writer's step, after this pure one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Currency, Json, NewEvent, Source};
use subtle::ConstantTimeEq;

pub mod accounting;
pub mod exact;
pub mod fields;
pub mod fixtures;
pub mod fuzz;
pub mod roms;
pub mod stripe;
mod support;
pub mod vendor;

#[cfg(test)]
mod testkit;

pub use support::{
    ARRAY_ITEMS_MAX, BODY_DEPTH_MAX, OBJECT_FIELDS_MAX, SECRET_HEADERS, SIGNATURE_HEADERS,
    SIGNATURE_REDACTED, STRING_BYTES_MAX,
};

/// An inbound HTTP request, as the edge received it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Header names in lower case, values as sent (non-UTF-8 values are dropped by the edge).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// When the edge received the request (for timestamp windows); never read from a clock here.
    pub received_at: DateTime<Utc>,
}

impl Request<'_> {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A secret setting. Its `Debug` never shows the value, and comparison takes constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes, for keying an HMAC. Never log them.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares with a presented value in constant time: the SHA-256 digests of both are
    /// compared with `subtle`, so neither the position of the first difference nor the
    /// secret's length shows in the time taken.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let expected = Sha256::digest(self.0.as_bytes());
        let presented = Sha256::digest(presented.as_bytes());
        expected.as_slice().ct_eq(presented.as_slice()).into()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The settings the dialects need. Names follow the seeds' environment variables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `ACCOUNTING_WEBHOOK_SECRET` (seed 000, body field `webhookSecret`).
    pub accounting_webhook_secret: Option<Secret>,
    /// `WEBHOOK_SECRET` (seed 001, optional `X-Webhook-Signature` HMAC; required once set).
    pub webhook_secret: Option<Secret>,
    /// `EXACT_WEBHOOK_SECRET` (seed 002, header `X-Webhook-Secret`).
    pub exact_webhook_secret: Option<Secret>,
    /// `CUSTOMER_SERVER_SECRET` (seed 003, header `x-vendor-server-secret`).
    pub customer_server_secret: Option<Secret>,
    /// `STRIPE_WEBHOOK_SECRET` (`Stripe-Signature`).
    pub stripe_webhook_secret: Option<Secret>,
    /// `HOOKLEDGER_DEFAULT_CURRENCY`: the currency of amounts that name none.
    pub default_currency: Currency,
    /// Seed 003's timestamp window, either side of now (5 minutes).
    pub vendor_timestamp_tolerance: Duration,
    /// Stripe's signature timestamp tolerance (300 s).
    pub stripe_tolerance: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            accounting_webhook_secret: None,
            webhook_secret: None,
            exact_webhook_secret: None,
            customer_server_secret: None,
            stripe_webhook_secret: None,
            default_currency: Currency::USD,
            vendor_timestamp_tolerance: Duration::from_secs(300),
            stripe_tolerance: Duration::from_secs(300),
        }
    }
}

/// Seed 002's error codes (its `code` field); other dialects ignore them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidAction,
    MissingRequiredField,
    InvalidStatus,
    WorkOrderNotFound,
    ProductNotFound,
    Unauthorized,
    /// Malformed input that seed 002 has no code of its own for (bad JSON, a wrong type).
    InvalidPayload,
}

impl ErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::InvalidAction => "INVALID_ACTION",
            ErrorCode::MissingRequiredField => "MISSING_REQUIRED_FIELD",
            ErrorCode::InvalidStatus => "INVALID_STATUS",
            ErrorCode::WorkOrderNotFound => "WORK_ORDER_NOT_FOUND",
            ErrorCode::ProductNotFound => "PRODUCT_NOT_FOUND",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::InvalidPayload => "INVALID_PAYLOAD",
        }
    }
}

/// Why a request was refused. The edge maps it to the dialect's status and body; nothing is
/// appended for a rejected request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The endpoint's secret is required but not configured. Handling: 503 naming the setting.
    #[error("{setting} is not configured on this server")]
    NotConfigured { setting: &'static str },
    /// A wrong or missing secret or signature. Handling: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Malformed or invalid input. Handling: 400 (404 for the `*_NOT_FOUND` codes).
    #[error("{message}")]
    Invalid { message: String, code: ErrorCode },
}

impl Rejection {
    pub fn invalid(message: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            message: message.into(),
            code: ErrorCode::InvalidPayload,
        }
    }

    pub fn coded(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection::Invalid {
            message: message.into(),
            code,
        }
    }

    /// Seed 002's `code` for this rejection (`UNAUTHORIZED` for a bad secret, `NOT_CONFIGURED`
    /// for a missing setting).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::NotConfigured { .. } => "NOT_CONFIGURED",
            Rejection::Unauthorized(_) => ErrorCode::Unauthorized.as_str(),
            Rejection::Invalid { code, .. } => code.as_str(),
        }
    }

    /// The HTTP status the edge answers with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::NotConfigured { .. } => 503,
            Rejection::Unauthorized(_) => 401,
            Rejection::Invalid {
                code: ErrorCode::WorkOrderNotFound | ErrorCode::ProductNotFound,
                ..
            } => 404,
            Rejection::Invalid { .. } => 400,
        }
    }
}

/// The canonical events one accepted request becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub events: Vec<NewEvent>,
}

/// The five upstream dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Seed 000: the web shop's order status.
    Accounting,
    /// Seed 001: ROMS V2 orders.
    Roms,
    /// Seed 002: Exact Online through Zapier.
    Exact,
    /// Seed 003: the vendor server's status callbacks.
    Vendor,
    /// The payment provider.
    Stripe,
}

impl Dialect {
    pub const ALL: [Dialect; 5] = [
        Dialect::Accounting,
        Dialect::Roms,
        Dialect::Exact,
        Dialect::Vendor,
        Dialect::Stripe,
    ];

    /// The dialect's name: its folder under `fixtures/` and `docs/dialects/`.
    pub fn name(&self) -> &'static str {
        self.source().as_str()
    }

    /// The source its events carry.
    pub fn source(&self) -> Source {
        match self {
            Dialect::Accounting => Source::Accounting,
            Dialect::Roms => Source::Roms,
            Dialect::Exact => Source::Exact,
            Dialect::Vendor => Source::Vendor,
            Dialect::Stripe => Source::Stripe,
        }
    }

    /// The inbound endpoint (POST).
    pub fn path(&self) -> &'static str {
        match self {
            Dialect::Accounting => accounting::PATH,
            Dialect::Roms => roms::PATH,
            Dialect::Exact => exact::PATH,
            Dialect::Vendor => vendor::PATH,
            Dialect::Stripe => stripe::PATH,
        }
    }

    /// Authenticates, validates and normalises a request of this dialect.
    pub fn parse(&self, req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
        match self {
            Dialect::Accounting => accounting::parse(req, settings),
            Dialect::Roms => roms::parse(req, settings),
            Dialect::Exact => exact::parse(req, settings),
            Dialect::Vendor => vendor::parse(req, settings),
            Dialect::Stripe => stripe::parse(req, settings),
        }
    }

    /// The error body this dialect's clients read (CONTRACT.md): seed 001 `{detail}`, seed 002
    /// `{success: false, error, code}`, the others `{error}`. The status is [`Rejection::status`].
    pub fn error_body(&self, rejection: &Rejection) -> Json {
        let message = Json::str(rejection.to_string());
        match self {
            Dialect::Roms => Json::object([("detail", message)]),
            Dialect::Exact => Json::object([
                ("success", Json::Bool(false)),
                ("error", message),
                ("code", Json::str(rejection.code())),
            ]),
            Dialect::Accounting | Dialect::Vendor | Dialect::Stripe => {
                Json::object([("error", message)])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_matches_only_itself_whatever_the_length_or_shared_prefix() {
        let secret = Secret::new("whsec_abcdef0123456789");
        assert!(secret.matches("whsec_abcdef0123456789"));
        for other in [
            "",
            "w",
            "whsec_abcdef012345678",
            "whsec_abcdef01234567890",
            "whsec_abcdef0123456788",
            "Whsec_abcdef0123456789",
            "whsec_abcdef0123456789\0",
        ] {
            assert!(!secret.matches(other), "{other:?}");
        }
        assert!(Secret::new("").matches(""));
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }

    fn doc(path: &str) -> String {
        let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(path);
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
    }

    #[test]
    fn every_dialect_has_its_page_naming_its_endpoint() {
        for dialect in Dialect::ALL {
            let page = doc(&format!("dialects/{}.md", dialect.name()));
            assert!(page.contains(dialect.path()), "{}", dialect.name());
        }
    }

    #[test]
    fn every_event_type_is_in_the_catalogue() {
        let catalogue = doc("events.md");
        for event_type in domain::payloads::EVENT_TYPES {
            assert!(
                catalogue.contains(&format!("`{event_type}`")),
                "{event_type}"
            );
        }
    }

    #[test]
    fn error_bodies_follow_each_dialect() {
        let rejection = Rejection::coded(ErrorCode::InvalidStatus, "bad");
        assert_eq!(
            Dialect::Roms.error_body(&rejection).canonical(),
            r#"{"detail":"bad"}"#
        );
        assert_eq!(
            Dialect::Exact.error_body(&rejection).canonical(),
            r#"{"code":"INVALID_STATUS","error":"bad","success":false}"#
        );
        assert_eq!(
            Dialect::Vendor.error_body(&rejection).canonical(),
            r#"{"error":"bad"}"#
        );
        let unauthorized = Rejection::Unauthorized("no".into());
        assert_eq!(unauthorized.status(), 401);
        assert_eq!(unauthorized.code(), "UNAUTHORIZED");
    }
}
