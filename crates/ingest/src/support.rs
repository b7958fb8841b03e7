//! What every dialect does the same way: parse the body, check a secret, hash, build the
//! `raw_request` without secrets, and wrap a typed payload into a [`NewEvent`].

use domain::payloads::EventPayload;
use domain::{Dedupe, Json, JsonError, NewEvent, RawRequest, Source};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::{Rejection, Request, Secret};

/// How deeply an inbound body may nest. Lower than [`domain::json::JSON_DEPTH_MAX`] by a margin,
/// because a payload places upstream values one or two levels deeper than the body did (under
/// `extra`, say) and must still parse back. Deeper bodies: 400.
pub const BODY_DEPTH_MAX: usize = domain::json::JSON_DEPTH_MAX - 4;

/// Fields one object of an inbound body may have at most. More: 400.
pub const OBJECT_FIELDS_MAX: usize = 1000;
/// Bytes one string (a key or a value) of an inbound body may have at most. Longer: 400.
/// Fields with a meaning have tighter limits (ids: [`crate::fields::ID_CHARS_MAX`] characters).
pub const STRING_BYTES_MAX: usize = 64 * 1024;
/// Items one array of an inbound body may have at most (seed 002's batches included). More: 400.
pub const ARRAY_ITEMS_MAX: usize = 10_000;

/// Headers that carry secrets: never stored.
pub const SECRET_HEADERS: [&str; 4] = [
    "x-webhook-secret",
    "x-vendor-server-secret",
    "authorization",
    "cookie",
];

/// Headers that carry a signature of the body: stored as [`SIGNATURE_REDACTED`], so that the
/// log shows one was sent but nobody who reads it (an auditor token reads the request log) can
/// send the same signed body again. Seed 001's signature has no timestamp: a stored one would
/// replay for ever.
pub const SIGNATURE_HEADERS: [&str; 4] = [
    "x-webhook-signature",
    "stripe-signature",
    "webhook-signature",
    "x-signature",
];

/// What a signature header's value is stored as.
pub const SIGNATURE_REDACTED: &str = "[signature]";

/// Parses the body as exact JSON (UTF-8, no duplicate keys, bounded depth).
pub fn parse_body(body: &[u8]) -> Result<Json, Rejection> {
    let json = Json::parse(body).map_err(|e| match e {
        JsonError::TooDeep => too_deep(),
        JsonError::Syntax(message) => Rejection::invalid(format!("Invalid JSON body: {message}")),
        JsonError::DuplicateKey(key) => {
            Rejection::invalid(format!("Invalid JSON body: duplicate key {key:?}"))
        }
    })?;
    if depth(&json) > BODY_DEPTH_MAX {
        return Err(too_deep());
    }
    if let Some(number) = out_of_range_number(&json) {
        return Err(Rejection::invalid(format!(
            "Invalid JSON body: the number {number} is out of range (beyond ±1.8e308)"
        )));
    }
    if let Some(problem) = over_a_limit(&json) {
        return Err(Rejection::invalid(format!("Invalid JSON body: {problem}")));
    }
    Ok(json)
}

/// The first place where a body passes [`OBJECT_FIELDS_MAX`], [`STRING_BYTES_MAX`] or
/// [`ARRAY_ITEMS_MAX`], described for the 400.
fn over_a_limit(json: &Json) -> Option<String> {
    match json {
        Json::String(text) if text.len() > STRING_BYTES_MAX => Some(format!(
            "a string of {} bytes is longer than the limit of {STRING_BYTES_MAX}",
            text.len()
        )),
        Json::Array(items) if items.len() > ARRAY_ITEMS_MAX => Some(format!(
            "an array of {} items is longer than the limit of {ARRAY_ITEMS_MAX}",
            items.len()
        )),
        Json::Array(items) => items.iter().find_map(over_a_limit),
        Json::Object(map) if map.len() > OBJECT_FIELDS_MAX => Some(format!(
            "an object with {} fields has more than the limit of {OBJECT_FIELDS_MAX}",
            map.len()
        )),
        Json::Object(map) => map.iter().find_map(|(key, value)| {
            if key.len() > STRING_BYTES_MAX {
                return Some(format!(
                    "a key of {} bytes is longer than the limit of {STRING_BYTES_MAX}",
                    key.len()
                ));
            }
            over_a_limit(value)
        }),
        _ => None,
    }
}

/// The first number whose magnitude no JSON reader can hold (past `f64`, e.g. `1e400`). The
/// log keeps numbers as written, but the projectors, the API's readers and most clients read
/// them as doubles: such a number would make the stored payload unreadable (a 500 on every
/// later read of its order), so it is refused at the edge. Tiny numbers (`1e-400`) read as 0
/// and are kept.
fn out_of_range_number(json: &Json) -> Option<&str> {
    match json {
        Json::Number(text) => text
            .parse::<f64>()
            .map_or(true, |n| !n.is_finite())
            .then_some(text.as_str()),
        Json::Array(items) => items.iter().find_map(out_of_range_number),
        Json::Object(map) => map.values().find_map(out_of_range_number),
        _ => None,
    }
}

fn too_deep() -> Rejection {
    Rejection::invalid(format!(
        "Invalid JSON body: nested deeper than {BODY_DEPTH_MAX} levels"
    ))
}

/// Container nesting: `1` for `{}`, `2` for `{"a":[]}`, `0` for a scalar.
fn depth(json: &Json) -> usize {
    match json {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The configured secret, or the 503 that names its setting.
pub fn configured<'a>(
    secret: &'a Option<Secret>,
    setting: &'static str,
) -> Result<&'a Secret, Rejection> {
    secret.as_ref().ok_or(Rejection::NotConfigured { setting })
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lower-case hex HMAC-SHA256 of `parts` (concatenated), keyed by the secret's bytes.
pub fn hmac_sha256_hex(secret: &Secret, parts: &[&[u8]]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Compares a presented hex signature with the expected one in constant time (case-insensitive).
pub fn signature_matches(expected_hex: &str, presented: &str) -> bool {
    !expected_hex.is_empty()
        && Secret::new(expected_hex).matches(&presented.trim().to_ascii_lowercase())
}

/// The request as stored: lower-case headers without secrets, and `body` (the raw text, or a
/// version with secret fields removed).
pub fn raw_request(req: &Request<'_>, body: String) -> RawRequest {
    let mut headers = std::collections::BTreeMap::<String, String>::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        if SECRET_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let value = if SIGNATURE_HEADERS.contains(&name.as_str()) {
            SIGNATURE_REDACTED
        } else {
            value.as_str()
        };
        headers
            .entry(name)
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    RawRequest {
        method: req.method.to_owned(),
        path: req.path.to_owned(),
        headers,
        body,
    }
}

/// The raw body as text (it parsed as JSON, so it is UTF-8).
pub fn body_text(req: &Request<'_>) -> String {
    String::from_utf8_lossy(req.body).into_owned()
}

/// A typed payload as canonical exact JSON.
pub fn payload_json<P: EventPayload>(payload: &P) -> Result<Json, Rejection> {
    let text = serde_json::to_string(payload)
        .map_err(|e| Rejection::invalid(format!("Payload could not be encoded: {e}")))?;
    Json::parse(text.as_bytes())
        .map_err(|e| Rejection::invalid(format!("Payload could not be encoded: {e}")))
}

/// SHA-256 hex of a value's canonical text: the digest of "meaningful content".
pub fn content_digest(json: &Json) -> String {
    sha256_hex(json.canonical().as_bytes())
}

/// Wraps a typed payload into an event. `dedupe` is computed from the canonical payload.
pub fn event<P: EventPayload>(
    source: Source,
    stream: String,
    payload: &P,
    dedupe: impl FnOnce(&Json) -> Dedupe,
    raw_request: RawRequest,
) -> Result<NewEvent, Rejection> {
    let payload = payload_json(payload)?;
    Ok(NewEvent {
        stream,
        event_type: P::TYPE.to_owned(),
        type_version: P::VERSION,
        source,
        dedupe: dedupe(&payload),
        payload,
        raw_request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_strings_and_arrays_past_their_limits_are_refused() {
        let fields: Vec<String> = (0..=OBJECT_FIELDS_MAX)
            .map(|i| format!("\"f{i}\":1"))
            .collect();
        let many_fields = format!("{{{}}}", fields.join(","));
        let long_string = format!("{{\"a\":\"{}\"}}", "x".repeat(STRING_BYTES_MAX + 1));
        let long_key = format!("{{\"{}\":1}}", "k".repeat(STRING_BYTES_MAX + 1));
        let items = vec!["1"; ARRAY_ITEMS_MAX + 1].join(",");
        let long_array = format!("{{\"a\":[{items}]}}");
        for (body, says) in [
            (many_fields, "fields"),
            (long_string, "string"),
            (long_key, "key"),
            (long_array, "array"),
        ] {
            let refused = parse_body(body.as_bytes());
            assert!(
                matches!(&refused, Err(r) if r.to_string().contains(says) && r.status() == 400),
                "{says}: {refused:?}"
            );
        }
        let at_the_limits = format!(
            "{{\"a\":\"{}\",\"b\":[{}]}}",
            "x".repeat(STRING_BYTES_MAX),
            vec!["1"; ARRAY_ITEMS_MAX].join(",")
        );
        assert!(parse_body(at_the_limits.as_bytes()).is_ok());
    }

    #[test]
    fn numbers_past_a_double_are_refused_and_tiny_ones_kept() {
        for body in [
            r#"{"a":1e400}"#,
            r#"{"a":[1,{"b":-0.03E+0630}]}"#,
            r#"{"a":1.8e308}"#,
        ] {
            let refused = parse_body(body.as_bytes());
            assert!(
                matches!(&refused, Err(r) if r.to_string().contains("out of range")),
                "{body}: {refused:?}"
            );
        }
        for body in [r#"{"a":1e-400}"#, r#"{"a":1.7e308}"#, r#"{"a":99.99}"#] {
            assert!(parse_body(body.as_bytes()).is_ok(), "{body}");
        }
    }

    #[test]
    fn depth_counts_containers() {
        let json = Json::parse(br#"{"a":[{"b":1}],"c":2}"#).expect("valid");
        assert_eq!(depth(&json), 3);
        let ok = "[".repeat(BODY_DEPTH_MAX) + &"]".repeat(BODY_DEPTH_MAX);
        assert!(parse_body(ok.as_bytes()).is_ok());
        let deep = "[".repeat(BODY_DEPTH_MAX + 1) + &"]".repeat(BODY_DEPTH_MAX + 1);
        assert!(parse_body(deep.as_bytes()).is_err());
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let secret = Secret::new("Jefe");
        assert_eq!(
            hmac_sha256_hex(&secret, &[b"what do ya want ", b"for nothing?"]),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secret_headers_are_dropped_and_names_lower_cased() {
        let headers = vec![
            ("X-Webhook-Secret".to_owned(), "s".to_owned()),
            ("authorization".to_owned(), "Bearer t".to_owned()),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ];
        let req = Request {
            method: "POST",
            path: "/p",
            headers: &headers,
            body: b"{}",
            received_at: chrono::DateTime::UNIX_EPOCH,
        };
        let raw = raw_request(&req, "{}".into());
        assert_eq!(raw.headers.keys().collect::<Vec<_>>(), ["content-type"]);
    }
}
