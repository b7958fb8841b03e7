//! Fuzz targets, shared by `fuzz/` (cargo-fuzz, libFuzzer) and this crate's property tests
//! (`fuzz::tests`, which also replay the fixtures as a corpus). Each target takes arbitrary
//! bytes and panics only when an invariant breaks; a rejection is a fine answer.
//!
//! - [`dialect`]: one dialect's parser. The first byte picks how the request is dressed: with
//!   headers that authenticate the body (so the parser is reached past its secret check), or
//!   with headers cut from the input (so the secret and signature checks themselves are fuzzed),
//!   and whether seed 001's optional signature is required.
//! - [`amount`]: the exact decimal parser for every exponent a currency has, with a round trip.
//! - [`signatures`]: the constant-time secret comparison and the HMAC signature checks.
//! - [`canonical_json`]: exact JSON parsing and its canonical form (idempotent, valid JSON,
//!   numbers kept as written).

use chrono::{DateTime, Utc};
use domain::{Currency, Json};

use crate::fixtures::{expand, test_settings, TEST_SECRETS};
use crate::support::{hmac_sha256_hex, signature_matches, BODY_DEPTH_MAX};
use crate::{Dialect, Request, Secret};

/// The fixed time of receipt of every fuzzed request (signatures and windows use it).
fn received_at() -> DateTime<Utc> {
    domain::time::parse_rfc3339("2024-01-10T14:30:00Z").unwrap_or_default()
}

/// Headers that authenticate `body` for `dialect` under the fixture secrets.
fn authenticating_headers(dialect: Dialect, body: &[u8], signed: bool) -> Vec<(String, String)> {
    let at = received_at();
    let value = |template: &str| expand(template, body, at).unwrap_or_default();
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    match dialect {
        Dialect::Accounting => {}
        Dialect::Roms if signed => {
            headers.push(("x-webhook-signature".into(), value("{{signature}}")));
        }
        Dialect::Roms => {}
        Dialect::Exact => headers.push(("x-webhook-secret".into(), TEST_SECRETS[2].1.into())),
        Dialect::Vendor => {
            headers.push(("x-vendor-server-secret".into(), TEST_SECRETS[3].1.into()));
            headers.push(("x-webhook-timestamp".into(), value("{{now}}")));
        }
        Dialect::Stripe => headers.push(("stripe-signature".into(), value("{{stripe_signature}}"))),
    }
    headers
}

/// The header names each dialect reads, for the mode that cuts header values from the input.
const HEADER_NAMES: [&str; 6] = [
    "x-webhook-signature",
    "x-webhook-secret",
    "x-vendor-server-secret",
    "x-webhook-timestamp",
    "stripe-signature",
    "content-type",
];

/// Splits `data` at the first `\n` bytes into header values; the rest is the body.
fn cut_headers(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let mut headers = Vec::new();
    let mut rest = data;
    for name in HEADER_NAMES {
        let Some(at) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        if let Ok(value) = std::str::from_utf8(&rest[..at]) {
            headers.push((name.to_owned(), value.to_owned()));
        }
        rest = &rest[at + 1..];
    }
    (headers, rest)
}

/// Invariants of an accepted request: at least one event, payloads that survive their canonical
/// form, no secret field or header stored.
fn check_accepted(dialect: Dialect, events: &[domain::NewEvent]) {
    assert!(!events.is_empty(), "{dialect:?}: accepted without an event");
    for event in events {
        let text = event.payload.canonical();
        let again = Json::parse(text.as_bytes())
            .unwrap_or_else(|e| panic!("{dialect:?}: stored payload does not parse: {e}"));
        assert_eq!(
            again.canonical(),
            text,
            "{dialect:?}: payload not canonical"
        );
        assert!(
            !text.contains("\"webhookSecret\""),
            "{dialect:?}: seed 000's secret field kept in the payload"
        );
        assert!(
            !event.raw_request.body.contains("\"webhookSecret\""),
            "{dialect:?}: seed 000's secret field kept in the raw request"
        );
        for secret in crate::SECRET_HEADERS {
            assert!(
                !event.raw_request.headers.contains_key(secret),
                "{dialect:?}: secret header {secret} stored"
            );
        }
        assert!(
            !event.stream.is_empty(),
            "{dialect:?}: an event without a stream"
        );
    }
}

/// Fuzzes one dialect's parser with `data`.
pub fn dialect(dialect: Dialect, data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let signed = mode & 2 != 0;
    let (headers, body) = if mode & 1 == 0 {
        (authenticating_headers(dialect, rest, signed), rest)
    } else {
        cut_headers(rest)
    };
    let mut settings = test_settings();
    if signed {
        settings.webhook_secret = Some(Secret::new(TEST_SECRETS[1].1));
    }
    let request = Request {
        method: "POST",
        path: dialect.path(),
        headers: &headers,
        body,
        received_at: received_at(),
    };
    match dialect.parse(&request, &settings) {
        Ok(ingested) => check_accepted(dialect, &ingested.events),
        Err(rejection) => {
            let status = rejection.status();
            assert!(
                (400..=503).contains(&status),
                "{dialect:?}: a rejection with status {status}"
            );
            // The error body names no configured secret (unless the client sent that text
            // itself, which an error may quote back to it).
            let body = dialect.error_body(&rejection).canonical();
            let sent = String::from_utf8_lossy(data);
            for (_, secret) in TEST_SECRETS {
                assert!(
                    !body.contains(secret) || sent.contains(secret),
                    "{dialect:?}: error body shows a secret"
                );
            }
        }
    }
}

/// Fuzzes the exact decimal parser: whatever parses formats back to the same amount.
pub fn amount(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for exponent in 0..=4u32 {
        if let Ok(minor) = domain::money::parse_decimal(text, exponent) {
            let formatted = domain::money::format_minor(minor, exponent);
            assert_eq!(
                domain::money::parse_decimal(&formatted, exponent),
                Ok(minor),
                "{text:?} (exponent {exponent}) gave {minor}, formatted {formatted:?}"
            );
        }
    }
    for code in ["USD", "JPY", "KWD", "EUR", "INR"] {
        if let Ok(currency) = Currency::parse(code) {
            if let Ok(money) = domain::Money::parse_major(text, currency) {
                let major = money.major_text();
                let again = domain::Money::parse_major(&major, currency);
                assert_eq!(again.ok(), Some(money), "{text:?} {code}: {major}");
            }
        }
    }
}

/// Fuzzes the secret and signature checks: equal inputs match, different ones never do, and
/// a signature matches only its own body.
pub fn signatures(data: &[u8]) {
    let (secret, rest) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let secret = String::from_utf8_lossy(secret).into_owned();
    let presented = String::from_utf8_lossy(rest).into_owned();
    let key = Secret::new(secret.clone());
    assert_eq!(key.matches(&presented), secret == presented);
    assert!(key.matches(&secret));
    let signature = hmac_sha256_hex(&key, &[rest]);
    assert!(signature_matches(
        &signature,
        &signature.to_ascii_uppercase()
    ));
    let other = hmac_sha256_hex(&key, &[rest, b"x"]);
    assert!(!signature_matches(&signature, &other));
    assert!(!signature_matches("", &presented));
    // Whatever the header says, it matches only if it is the body's signature.
    if signature_matches(&signature, &presented) {
        assert_eq!(presented.trim().to_ascii_lowercase(), signature);
    }
}

/// Fuzzes the exact JSON parser and its canonical form.
pub fn canonical_json(data: &[u8]) {
    let Ok(json) = Json::parse(data) else {
        return;
    };
    let canonical = json.canonical();
    let again = Json::parse(canonical.as_bytes())
        .unwrap_or_else(|e| panic!("canonical form does not parse: {e}: {canonical}"));
    assert_eq!(again, json, "canonical form changes the value");
    assert_eq!(
        again.canonical(),
        canonical,
        "canonical form is not idempotent"
    );
    // A body the edge accepts is readable by every JSON reader downstream (serde_json here:
    // the projectors and the API read payloads with it), and nests at most BODY_DEPTH_MAX.
    if let Ok(body) = crate::support::parse_body(data) {
        assert!(depth(&body) <= BODY_DEPTH_MAX);
        let standard: Result<serde_json::Value, _> = serde_json::from_str(&canonical);
        assert!(
            standard.is_ok(),
            "an accepted body's canonical form is unreadable: {canonical}"
        );
    }
}

fn depth(json: &Json) -> usize {
    match json {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Every fixture body (with its first byte as the mode `0`: authenticated), as a seed corpus.
pub fn fixture_corpus(dialect: Dialect) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(dialect.name());
    let mut corpus = Vec::new();
    for dir in [dir.clone(), dir.join("bad")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if !name.ends_with(".json") || name.ends_with(".expected.json") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(fixture) = Json::parse(&bytes) else {
                continue;
            };
            let Ok(request) = crate::fixtures::FixtureRequest::from_json(&fixture) else {
                continue;
            };
            for mode in [0u8, 2] {
                let mut input = vec![mode];
                input.extend_from_slice(&request.body);
                corpus.push(input);
            }
        }
    }
    corpus
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_fixture_runs_through_every_target() {
        let mut n = 0;
        for d in Dialect::ALL {
            for input in fixture_corpus(d) {
                dialect(d, &input);
                canonical_json(&input[1..]);
                n += 1;
            }
        }
        assert!(n >= 60, "only {n} fixture inputs");
        for text in [
            "99.99",
            "-0.5",
            "1e3",
            "1.5e-2",
            "00012.3400",
            "9223372036854775807",
        ] {
            amount(text.as_bytes());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn no_dialect_panics_on_any_bytes(d in 0usize..5, data in proptest::collection::vec(any::<u8>(), 0..512)) {
            dialect(Dialect::ALL[d], &data);
        }

        #[test]
        fn no_dialect_panics_on_mutated_fixtures(d in 0usize..5, pick in any::<prop::sample::Index>(),
                flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
            let corpus = fixture_corpus(Dialect::ALL[d]);
            let mut input = corpus[pick.index(corpus.len())].clone();
            for (at, byte) in flips {
                let at = at.index(input.len());
                input[at] = byte;
            }
            dialect(Dialect::ALL[d], &input);
        }

        #[test]
        fn amounts_round_trip(text in "[-+]?[0-9]{0,22}(\\.[0-9]{0,8})?([eE][-+]?[0-9]{1,4})?") {
            amount(text.as_bytes());
        }

        #[test]
        fn signature_checks_hold(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            signatures(&data);
        }

        #[test]
        fn canonical_json_is_idempotent(json in crate::testkit::arb_json()) {
            canonical_json(json.canonical().as_bytes());
        }
    }
}
