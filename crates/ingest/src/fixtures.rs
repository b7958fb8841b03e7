//! The fixture format of `fixtures/README.md`, shared by this crate's unit tests (which run each
//! request through its dialect) and the server's integration tests (which send it over HTTP):
//! reading a request file, the fixture settings and their per-case overrides, the header
//! templates (`{{now}}`, `{{signature}}`, …) expanded at a given time of receipt, and the
//! `{{any}}` matcher of expected bodies.
//!
//! The templates are expanded by the caller's clock: the unit tests use a fixed time, a server
//! test the real one (its server stamps requests with `Utc::now()`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Currency, Json};

use crate::support::hmac_sha256_hex;
use crate::{Secret, Settings};

/// The secrets the fixtures are written for (fixtures/README.md).
pub const TEST_SECRETS: [(&str, &str); 5] = [
    ("ACCOUNTING_WEBHOOK_SECRET", "test-accounting-secret"),
    ("WEBHOOK_SECRET", "test-roms-secret"),
    ("EXACT_WEBHOOK_SECRET", "test-exact-secret"),
    ("CUSTOMER_SERVER_SECRET", "test-vendor-secret"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_test_stripe_secret"),
];

/// The value an expected body uses for a server-assigned value: it matches anything.
pub const ANY: &str = "{{any}}";

fn test_secret(name: &str) -> Option<Secret> {
    TEST_SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| Secret::new(*v))
}

/// The fixtures' default settings: every secret set except `WEBHOOK_SECRET`, which seed 001
/// leaves unset by default (`signature_required: false`); default currency USD.
pub fn test_settings() -> Settings {
    Settings {
        accounting_webhook_secret: test_secret("ACCOUNTING_WEBHOOK_SECRET"),
        webhook_secret: None,
        exact_webhook_secret: test_secret("EXACT_WEBHOOK_SECRET"),
        customer_server_secret: test_secret("CUSTOMER_SERVER_SECRET"),
        stripe_webhook_secret: test_secret("STRIPE_WEBHOOK_SECRET"),
        default_currency: Currency::USD,
        vendor_timestamp_tolerance: Duration::from_secs(300),
        stripe_tolerance: Duration::from_secs(300),
    }
}

/// One request file, read; header values still hold their templates.
#[derive(Debug, Clone)]
pub struct FixtureRequest {
    pub method: String,
    pub path: String,
    /// Lower-case names; values may hold templates ([`FixtureRequest::headers_at`]).
    pub header_templates: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// [`test_settings`] with the case's overrides applied.
    pub settings: Settings,
    /// The case's `settings` object as written (`{}` when none): equal overrides, equal settings.
    pub settings_overrides: Json,
}

impl FixtureRequest {
    /// Reads a request file's JSON (see fixtures/README.md).
    pub fn from_json(request: &Json) -> Result<FixtureRequest, String> {
        let text_of = |key: &str| request.get(key).and_then(Json::as_str).map(str::to_owned);
        let mut header_templates = Vec::new();
        if let Some(map) = request.get("headers").and_then(Json::as_object) {
            for (name, value) in map {
                let value = value.as_str().ok_or("header values are strings")?;
                header_templates.push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
        let settings_overrides = request
            .get("settings")
            .cloned()
            .unwrap_or_else(|| Json::object::<String>([]));
        Ok(FixtureRequest {
            method: text_of("method").unwrap_or_else(|| "POST".into()),
            path: text_of("path").unwrap_or_default(),
            header_templates,
            body: body_bytes(request)?,
            settings: settings_with(&settings_overrides)?,
            settings_overrides,
        })
    }

    /// The headers with their templates expanded for a request received at `at`.
    pub fn headers_at(&self, at: DateTime<Utc>) -> Result<Vec<(String, String)>, String> {
        self.header_templates
            .iter()
            .map(|(name, value)| Ok((name.clone(), expand(value, &self.body, at)?)))
            .collect()
    }
}

fn body_bytes(request: &Json) -> Result<Vec<u8>, String> {
    if let Some(text) = request.get("body_text").and_then(Json::as_str) {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(items) = request.get("body_bytes").and_then(Json::as_array) {
        return items
            .iter()
            .map(|b| match b {
                Json::Number(n) => n.parse::<u8>().map_err(|e| e.to_string()),
                _ => Err("body_bytes holds numbers".to_owned()),
            })
            .collect();
    }
    Ok(request
        .get("body")
        .map(|b| b.canonical().into_bytes())
        .unwrap_or_default())
}

fn settings_with(overrides: &Json) -> Result<Settings, String> {
    let mut settings = test_settings();
    let Some(map) = overrides.as_object() else {
        return Ok(settings);
    };
    for (name, value) in map {
        let secret = value.as_str().map(Secret::new);
        match name.as_str() {
            "ACCOUNTING_WEBHOOK_SECRET" => settings.accounting_webhook_secret = secret,
            "WEBHOOK_SECRET" => settings.webhook_secret = secret,
            "EXACT_WEBHOOK_SECRET" => settings.exact_webhook_secret = secret,
            "CUSTOMER_SERVER_SECRET" => settings.customer_server_secret = secret,
            "STRIPE_WEBHOOK_SECRET" => settings.stripe_webhook_secret = secret,
            "HOOKLEDGER_DEFAULT_CURRENCY" => {
                let code = value.as_str().unwrap_or_default();
                settings.default_currency = Currency::parse(code).map_err(|e| e.to_string())?;
            }
            other => return Err(format!("unknown setting {other}")),
        }
    }
    Ok(settings)
}

/// Expands `{{…}}` templates in a header value, for a request received at `at`.
pub fn expand(value: &str, body: &[u8], at: DateTime<Utc>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed {{")?;
        out.push_str(&template(&after[..end], body, at)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn template(spec: &str, body: &[u8], received_at: DateTime<Utc>) -> Result<String, String> {
    let (name, offset) = match spec.find(['+', '-']) {
        Some(idx) => (
            &spec[..idx],
            spec[idx..]
                .trim_start_matches('+')
                .parse::<i64>()
                .map_err(|e| e.to_string())?,
        ),
        None => (spec, 0),
    };
    let at = received_at + chrono::Duration::seconds(offset);
    match name {
        "now" => Ok(domain::time::format_millis(at)),
        "unix" => Ok(at.timestamp().to_string()),
        "unix_ms" => Ok(at.timestamp_millis().to_string()),
        // Signatures are always made with the fixture secrets (TEST_SECRETS), whatever the
        // case configures, so that a case can configure another secret and expect a 401.
        "signature" => Ok(hmac_sha256_hex(&Secret::new(TEST_SECRETS[1].1), &[body])),
        "stripe_signature" => {
            let t = at.timestamp().to_string();
            let secret = Secret::new(TEST_SECRETS[4].1);
            let v1 = hmac_sha256_hex(&secret, &[t.as_bytes(), b".", body]);
            Ok(format!("t={t},v1={v1}"))
        }
        other => Err(format!("unknown template {{{{{other}}}}}")),
    }
}

/// Whether `actual` matches `expected`, where the string [`ANY`] in `expected` matches any value
/// (`null` included) and everything else must be equal (numbers by their text).
pub fn matches(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::String(s), _) if s == ANY => true,
        (Json::Object(e), Json::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|actual| matches(v, actual)))
        }
        (Json::Array(e), Json::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches(e, a))
        }
        _ => expected == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_matches_every_value_and_nothing_else_is_loose() {
        let expected = Json::parse(br#"{"a":"{{any}}","b":[1,"x"]}"#).expect("valid");
        for actual in [r#"{"a":null,"b":[1,"x"]}"#, r#"{"a":{"z":1},"b":[1,"x"]}"#] {
            assert!(matches(
                &expected,
                &Json::parse(actual.as_bytes()).expect("valid")
            ));
        }
        for actual in [
            r#"{"b":[1,"x"]}"#,
            r#"{"a":1,"b":[1,"y"]}"#,
            r#"{"a":1,"b":[1,"x"],"c":2}"#,
            r#"{"a":1,"b":[1.0,"x"]}"#,
        ] {
            assert!(!matches(
                &expected,
                &Json::parse(actual.as_bytes()).expect("valid")
            ));
        }
    }

    #[test]
    fn templates_follow_the_clock_given() {
        let at = domain::time::parse_rfc3339("2024-01-10T14:30:00Z").expect("valid");
        assert_eq!(
            expand("{{now-120}}", b"", at).expect("valid"),
            "2024-01-10T14:28:00.000Z"
        );
        assert_eq!(
            expand("t{{unix+1}}", b"", at).expect("valid"),
            "t1704897001"
        );
        assert!(expand("{{nope}}", b"", at).is_err());
    }
}
