//! The fixture harness: runs every `fixtures/<dialect>/**/<case>.json` through its dialect and
//! compares with `<case>.expected.json`. The format is documented in `fixtures/README.md`; the
//! same files are meant for the server's integration tests.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use domain::{Dedupe, Json};

use crate::fixtures::{expand, FixtureRequest};
pub use crate::fixtures::{test_settings, TEST_SECRETS};
use crate::{Dialect, Ingested, Rejection, Request, Settings};

/// When every fixture request is received (`{{now}}` in a fixture).
pub const RECEIVED_AT: &str = "2024-01-10T14:30:00Z";

pub fn received_at() -> DateTime<Utc> {
    domain::time::parse_rfc3339(RECEIVED_AT).unwrap_or_default()
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
    let request = FixtureRequest::from_json(&read_json(path)?)?;
    let expected = read_json(&path.with_extension("expected.json"))
        .unwrap_or_else(|_| Json::object([("status", Json::int(200))]));
    let headers = request.headers_at(received_at())?;
    let name = path
        .strip_prefix(fixtures_dir())
        .unwrap_or(path)
        .display()
        .to_string();
    Ok(Case {
        name,
        method: request.method,
        path: request.path,
        headers,
        body: request.body,
        settings: request.settings,
        expected,
        expected_path: path.with_extension("expected.json"),
    })
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
    let expanded =
        |spec: &str| expand(&format!("{{{{{spec}}}}}"), body, received_at()).unwrap_or_default();
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
