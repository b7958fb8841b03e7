//! One HTTP attempt: build the request with its headers and signatures, send it with a
//! timeout, never follow a redirect, keep the first KiB of the answer, and classify the outcome.
//!
//! Two clients: one for the operator's own URLs (`CUSTOMER_WEBHOOK_URL`, `ZAPIER_WEBHOOK_URL`,
//! trusted as configured), and one for URLs that arrived through the API, whose every
//! connection goes through the address guard (IP literals checked before the request, names
//! through [`GuardedResolver`]). Neither uses a proxy from the environment, which would resolve
//! names where the guard cannot see.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::guard::{AddressGuard, GuardedResolver};
use crate::policy::{classify_status, parse_retry_after, Verdict};
use crate::signing::{webhook_signature_header, x_signature};

/// Bytes of a response body kept with an attempt.
pub const RESPONSE_BYTES_MAX: usize = 1024;
/// Seed 003's `User-Agent`.
pub const VENDOR_USER_AGENT: &str = "VendorServer-Webhook/1.0";
/// The `User-Agent` of every other delivery.
pub const USER_AGENT: &str = concat!("hookledger-webhooks/", env!("CARGO_PKG_VERSION"));
/// Idle connections kept per host.
const IDLE_CONNECTIONS_PER_HOST_MAX: usize = 16;

/// What to send.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub url: &'a str,
    /// The URL came through the API: apply the address guard.
    pub guarded: bool,
    /// `webhook-id`: the delivery id, the same on every attempt.
    pub webhook_id: &'a str,
    pub event: &'a str,
    pub body: &'a str,
    /// Signing secrets, the current one first (a rotated-out one second, during its grace).
    pub signing_secrets: Vec<&'a str>,
    /// Send seed 003's headers, with this `x-vendor-server-secret`.
    pub vendor_secret: Option<&'a str>,
    pub timeout: Duration,
}

/// What one attempt found.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
    pub status_code: Option<u16>,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// `Retry-After` of a 429 or 503.
    pub retry_after: Option<Duration>,
    pub verdict: Verdict,
}

/// The two HTTP clients. Cheap to clone.
#[derive(Clone)]
pub struct Sender {
    trusted: reqwest::Client,
    guarded: reqwest::Client,
    guard: AddressGuard,
}

impl Sender {
    pub fn new(guard: AddressGuard) -> Result<Sender, reqwest::Error> {
        let base = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .pool_max_idle_per_host(IDLE_CONNECTIONS_PER_HOST_MAX)
        };
        Ok(Sender {
            trusted: base().build()?,
            guarded: base()
                .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
                .build()?,
            guard,
        })
    }

    /// Sends one attempt. Never fails: every failure is described in the result.
    pub async fn send(&self, out: &Outgoing<'_>) -> AttemptResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let failed = |error: String, verdict: Verdict| AttemptResult {
            started_at,
            duration: clock.elapsed(),
            status_code: None,
            response_body: None,
            error: Some(error),
            retry_after: None,
            verdict,
        };
        if out.guarded {
            if let Err(refused) = self.guard.check_literal(out.url) {
                return failed(refused.to_string(), Verdict::Final);
            }
        }
        let headers = match headers(out, started_at) {
            Ok(headers) => headers,
            Err(e) => return failed(e, Verdict::Final),
        };
        let client = if out.guarded {
            &self.guarded
        } else {
            &self.trusted
        };
        let sent = client
            .post(out.url)
            .headers(headers)
            .body(out.body.to_owned())
            .timeout(out.timeout)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => return failed(describe(&e), transport_verdict(&e)),
        };
        let code = response.status().as_u16();
        let retry_after = matches!(code, 429 | 503)
            .then(|| response.headers().get(reqwest::header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let mut kept = Vec::new();
        let mut body_error = None;
        while kept.len() < RESPONSE_BYTES_MAX {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    body_error = Some(e);
                    break;
                }
            }
        }
        kept.truncate(RESPONSE_BYTES_MAX);
        let mut verdict = classify_status(code);
        let mut error = None;
        // A 2xx whose body timed out still counts as delivered: the receiver has answered.
        if let (Some(e), false) = (&body_error, verdict == Verdict::Delivered) {
            error = Some(describe(e));
            if e.is_timeout() {
                verdict = Verdict::Retry("timeout");
            }
        }
        AttemptResult {
            started_at,
            duration: clock.elapsed(),
            status_code: Some(code),
            response_body: Some(String::from_utf8_lossy(&kept).into_owned()),
            error,
            retry_after,
            verdict,
        }
    }
}

fn transport_verdict(e: &reqwest::Error) -> Verdict {
    if e.is_timeout() {
        Verdict::Retry("timeout")
    } else if e.is_connect() {
        Verdict::Retry("connection_error")
    } else if e.is_builder() {
        Verdict::Final
    } else {
        Verdict::Retry("request_error")
    }
}

/// The error and its causes on one line (reqwest's own message hides the cause).
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn headers(out: &Outgoing<'_>, at: DateTime<Utc>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| -> Result<(), String> {
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the {name} header value is not valid"))?;
        headers.insert(HeaderName::from_static(name), value);
        Ok(())
    };
    put("content-type", "application/json")?;
    let timestamp = at.timestamp();
    put("webhook-id", out.webhook_id)?;
    put("webhook-timestamp", &timestamp.to_string())?;
    if let Some(current) = out.signing_secrets.first() {
        put("x-signature", &x_signature(current, out.body.as_bytes()))?;
        let signature = webhook_signature_header(
            &out.signing_secrets,
            out.webhook_id,
            timestamp,
            out.body.as_bytes(),
        );
        put("webhook-signature", &signature)?;
    }
    match out.vendor_secret {
        Some(secret) => {
            put("x-vendor-server-secret", secret)?;
            put("x-webhook-event", out.event)?;
            put("x-webhook-timestamp", &domain::time::format_millis(at))?;
            put("x-webhook-order-id", &order_id(out.body))?;
            put("user-agent", VENDOR_USER_AGENT)?;
        }
        None => put("user-agent", USER_AGENT)?,
    }
    Ok(headers)
}

/// Seed 003's `orderId` from the body (a string, or a number as its text).
fn order_id(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    match &value["orderId"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}
