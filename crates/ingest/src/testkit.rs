//! The fixture harness: runs every `fixtures/<dialect>/**/<case>.json` through its dialect and
//! compares with `<case>.expected.json`. The format is documented in `fixtures/README.md`; the
//! same files are meant for the server's integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{Currency, Dedupe, Json};

use crate::support::hmac_sha256_hex;
use crate::{Dialect, Ingested, Rejection, Request, Secret, Settings};

/// When every fixture request is received (`{{now}}` in a fixture).
pub const RECEIVED_AT: &str = "2024-01-10T14:30:00Z";

/// The secrets the fixtures are written for (fixtures/README.md).
pub const TEST_SECRETS: [(&str, &str); 5] = [
    ("ACCOUNTING_WEBHOOK_SECRET", "test-accounting-secret"),
    ("WEBHOOK_SECRET", "test-roms-secret"),
    ("EXACT_WEBHOOK_SECRET", "test-exact-secret"),
    ("CUSTOMER_SERVER_SECRET", "test-vendor-secret"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_test_stripe_secret"),
];

pub fn received_at() -> DateTime<Utc> {
    domain::time::parse_rfc3339(RECEIVED_AT).unwrap_or_default()
}

/// The fixtures' default settings: every secret set except `WEBHOOK_SECRET`, which seed 001
/// leaves unset by default (`signature_required: false`); default currency USD.
pub fn test_settings() -> Settings {
    let secret = |name: &str| {
        TEST_SECRETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Secret::new(*v))
    };
    Settings {
        accounting_webhook_secret: secret("ACCOUNTING_WEBHOOK_SECRET"),
        webhook_secret: None,
        exact_webhook_secret: secret("EXACT_WEBHOOK_SECRET"),
        customer_server_secret: secret("CUSTOMER_SERVER_SECRET"),
        stripe_webhook_secret: secret("STRIPE_WEBHOOK_SECRET"),
        default_currency: Currency::USD,
        vendor_timestamp_tolerance: Duration::from_secs(300),
        stripe_tolerance: Duration::from_secs(300),
    }
}

/// One fixture, ready to run.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub settings: Settings,
    pub expected: Json,
    pub expected_path: PathBuf,
}

impl Case {
    pub fn run(&self, dialect: Dialect) -> Result<Ingested, Rejection> {
        let req = Request {
            method: &self.method,
            path: &self.path,
            headers: &self.headers,
            body: &self.body,
            received_at: received_at(),
        };
        dialect.parse(&req, &self.settings)
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn read_json(path: &Path) -> Result<Json, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Json::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every case of a dialect, the good ones and those under `bad/`, sorted by name.
pub fn cases(dialect: Dialect) -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in [
        fixtures_dir().join(dialect.name()),
        fixtures_dir().join(dialect.name()).join("bad"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".json") || name.ends_with(".expected.json") {
                continue;
            }
            match load(&path) {
                Ok(case) => cases.push(case),
                Err(e) => panic!("fixture {}: {e}", path.display()),
            }
        }
    }
    cases
}

fn load(path: &Path) -> Result<Case, String> {
    let request = read_json(path)?;
    let expected = read_json(&path.with_extension("expected.json"))
        .unwrap_or_else(|_| Json::object([("status", Json::int(200))]));
    let settings = settings_with(request.get("settings"))?;
    let body = body_bytes(&request)?;
    let mut headers = Vec::new();
    if let Some(map) = request.get("headers").and_then(Json::as_object) {
        for (name, value) in map {
            let value = value.as_str().ok_or("header values are strings")?;
            headers.push((name.to_ascii_lowercase(), expand(value, &body)?));
        }
    }
    let name = path
        .strip_prefix(fixtures_dir())
        .unwrap_or(path)
        .display()
        .to_string();
    Ok(Case {
        name,
        method: text_of(&request, "method").unwrap_or_else(|| "POST".into()),
        path: text_of(&request, "path").unwrap_or_default(),
        headers,
        body,
        settings,
        expected,
        expected_path: path.with_extension("expected.json"),
    })
}

fn text_of(json: &Json, key: &str) -> Option<String> {
    json.get(key).and_then(Json::as_str).map(str::to_owned)
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

fn settings_with(overrides: Option<&Json>) -> Result<Settings, String> {
    let mut settings = test_settings();
    let Some(map) = overrides.and_then(Json::as_object) else {
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

/// Expands `{{…}}` templates in a header value.
fn expand(value: &str, body: &[u8]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed {{")?;
        out.push_str(&template(&after[..end], body)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn template(spec: &str, body: &[u8]) -> Result<String, String> {
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
    let at = received_at() + chrono::Duration::seconds(offset);
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

/// Runs every case of a dialect and fails with the list of mismatches. Returns the number run.
pub fn check_all(dialect: Dialect) -> usize {
    let cases = cases(dialect);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(dialect, case)
                .err()
                .map(|e| format!("{}: {e}", case.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    cases.len()
}

fn check(dialect: Dialect, case: &Case) -> Result<(), String> {
    if std::env::var_os("BLESS_FIXTURES").is_some() {
        bless(dialect, case)?;
    }
    let status = case
        .expected
        .get("status")
        .and_then(|s| match s {
            Json::Number(n) => n.parse::<u16>().ok(),
            _ => None,
        })
        .ok_or("expected.status missing")?;
    match case.run(dialect) {
        Err(rejection) => {
            let body = dialect.error_body(&rejection);
            if rejection.status() != status || Some(&body) != case.expected.get("body") {
                return Err(format!(
                    "got {} {}, expected {status} {}",
                    rejection.status(),
                    body.canonical(),
                    case.expected
                        .get("body")
                        .map(Json::canonical)
                        .unwrap_or_default()
                ));
            }
            Ok(())
        }
        Ok(ingested) => {
            if status != 200 {
                return Err(format!("accepted, expected {status}"));
            }
            check_events(dialect, case, &ingested)
        }
    }
}

fn check_events(dialect: Dialect, case: &Case, ingested: &Ingested) -> Result<(), String> {
    for event in &ingested.events {
        let stored = format!(
            "{}{}",
            event.payload.canonical(),
            event.raw_request.canonical()
        );
        for (_, secret) in TEST_SECRETS {
            if stored.contains(secret) {
                return Err(format!("secret {secret:?} stored in {stored}"));
            }
        }
        if event.source != dialect.source() || event.type_version != 1 {
            return Err(format!("wrong source or version: {event:?}"));
        }
    }
    let Some(expected) = case.expected.get("events").and_then(Json::as_array) else {
        return Ok(());
    };
    let actual: Vec<Json> = ingested.events.iter().map(describe).collect();
    if actual.as_slice() != expected {
        let show = |events: &[Json]| {
            events
                .iter()
                .map(Json::canonical)
                .collect::<Vec<_>>()
                .join("\n  ")
        };
        return Err(format!(
            "events differ\n got:\n  {}\n expected:\n  {}",
            show(&actual),
            show(expected)
        ));
    }
    Ok(())
}

/// An event as `expected.json` describes it.
fn describe(event: &domain::NewEvent) -> Json {
    let dedupe = match &event.dedupe {
        Dedupe::Key(key) if key.starts_with("stripe:") => Json::object([("key", Json::str(key))]),
        Dedupe::Key(_) => Json::str("key"),
        Dedupe::SameAsLast(_) => Json::str("same_as_last"),
    };
    Json::object([
        ("type", Json::str(&event.event_type)),
        ("stream", Json::str(&event.stream)),
        ("dedupe", dedupe),
        ("payload", event.payload.clone()),
    ])
}

/// Rewrites `<case>.expected.json` from what the dialect does now (`BLESS_FIXTURES=1`): the error
/// body of a rejection, the events of an accepted request. The status written by hand is kept and
/// must match; review the diff before committing it.
fn bless(dialect: Dialect, case: &Case) -> Result<(), String> {
    let mut expected = case.expected.as_object().cloned().unwrap_or_default();
    let status = expected.get("status").cloned();
    match case.run(dialect) {
        Err(rejection) => {
            if status != Some(Json::int(i64::from(rejection.status()))) {
                return Err(format!(
                    "bless: rejected {rejection:?}, expected status {status:?}"
                ));
            }
            expected.insert("body".into(), dialect.error_body(&rejection));
        }
        Ok(ingested) => {
            if status != Some(Json::int(200)) {
                return Err(format!("bless: accepted, expected status {status:?}"));
            }
            let events = ingested.events.iter().map(describe).collect();
            expected.insert("events".into(), Json::Array(events));
        }
    }
    let mut text = String::new();
    pretty(&Json::Object(expected), 0, &mut text);
    text.push('\n');
    std::fs::write(&case.expected_path, text).map_err(|e| e.to_string())
}

/// Indented JSON with numbers as written (for fixtures a person reads).
fn pretty(json: &Json, indent: usize, out: &mut String) {
    let pad = |n: usize| "  ".repeat(n);
    match json {
        Json::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (idx, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                pretty(item, indent + 1, out);
                out.push_str(if idx + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Json::Object(map) if !map.is_empty() => {
            out.push_str("{\n");
            for (idx, (key, value)) in map.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                out.push_str(&Json::str(key).canonical());
                out.push_str(": ");
                pretty(value, indent + 1, out);
                out.push_str(if idx + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        other => out.push_str(&other.canonical()),
    }
}

/// Headers that authenticate `body` for a dialect under [`test_settings`], so that property tests
/// reach past authentication.
pub fn auth_headers(dialect: Dialect, body: &[u8]) -> Vec<(String, String)> {
    let header = |name: &str, value: String| (name.to_owned(), value);
    let expanded = |spec: &str| template(spec, body).unwrap_or_default();
    match dialect {
        Dialect::Accounting | Dialect::Roms => Vec::new(),
        Dialect::Exact => vec![header("x-webhook-secret", TEST_SECRETS[2].1.into())],
        Dialect::Vendor => vec![
            header("x-vendor-server-secret", TEST_SECRETS[3].1.into()),
            header("x-webhook-timestamp", expanded("now")),
        ],
        Dialect::Stripe => vec![header("stripe-signature", expanded("stripe_signature"))],
    }
}

/// Runs a dialect on `body` with authenticating headers; it may reject, it must not panic.
pub fn run_authenticated(dialect: Dialect, body: &[u8]) -> Result<Ingested, Rejection> {
    let headers = auth_headers(dialect, body);
    let req = Request {
        method: "POST",
        path: dialect.path(),
        headers: &headers,
        body,
        received_at: received_at(),
    };
    dialect.parse(&req, &test_settings())
}

/// Arbitrary exact JSON: scalars of every kind (odd number texts included), nested a few levels.
pub fn arb_json() -> impl proptest::strategy::Strategy<Value = Json> {
    use proptest::prelude::*;
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,6})?([eE][+-]?[0-9]{1,4})?",
    ];
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number.prop_map(Json::Number),
        "\\PC{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..6).prop_map(Json::Object),
        ]
    })
}

/// Arbitrary objects over a dialect's own field names (so that validation is reached), with
/// arbitrary values; `fixed` entries are set after (a correct secret, say).
pub fn arb_object(
    keys: &'static [&'static str],
    fixed: &'static [(&'static str, &'static str)],
) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let key = proptest::sample::select(keys);
    proptest::collection::btree_map(key, arb_json(), 0..keys.len() + 1).prop_map(move |map| {
        let mut object: std::collections::BTreeMap<String, Json> =
            map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (k, v) in fixed {
            object.insert((*k).to_owned(), Json::str(*v));
        }
        Json::Object(object).canonical().into_bytes()
    })
}
