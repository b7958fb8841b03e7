//! The five upstream dialects: authenticate, validate and normalise an inbound request into
//! canonical events, as pure functions of (request, settings). Nothing here touches the database
//! or the clock (the time of receipt comes in [`Request::received_at`]).
//!
//! # Layout
//! - one module per dialect: `accounting` (seed 000), `roms` (seed 001), `exact` (seed 002),
//!   `vendor` (seed 003), `stripe` (the payment provider);
//! - [`Request`], [`Settings`] and [`Secret`]: the inputs every dialect shares;
//! - [`Rejection`]: why a request was refused, mapped at the HTTP edge to each dialect's body.
//!
//! Decisions that need state (seed 002's `WORK_ORDER_NOT_FOUND`, say) are not made here: they
//! belong to the writer's step, after this pure one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Currency, NewEvent};
use subtle::ConstantTimeEq;

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

    /// Compares with a presented value in constant time (for equal lengths).
    pub fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
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
