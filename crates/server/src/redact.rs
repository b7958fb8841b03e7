//! Removing secrets from what the request log stores.
//!
//! The event log's `raw_request` is built by `ingest`, which drops the secret-bearing headers and
//! seed 000's `webhookSecret` field. The request log also keeps requests that `ingest` refused
//! (malformed JSON, a wrong secret…), so the edge redacts them itself, the same way, and then
//! replaces any configured secret value that is still somewhere in the text: a body that is not
//! valid JSON may still carry one.

use domain::Json;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Configured secrets shorter than this are not searched for in free text (replacing every `a`
/// in a body would destroy it and protect nothing).
const SECRET_CHARS_MIN: usize = 4;

/// Removes secrets from headers, bodies and messages, given the configured secret values.
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for every secret configured for the dialects.
    pub fn new(settings: &ingest::Settings) -> Redactor {
        let secrets = [
            &settings.accounting_webhook_secret,
            &settings.webhook_secret,
            &settings.exact_webhook_secret,
            &settings.customer_server_secret,
            &settings.stripe_webhook_secret,
        ]
        .into_iter()
        .flatten()
        .map(|s| s.expose().to_owned())
        .filter(|s| s.chars().count() >= SECRET_CHARS_MIN)
        .collect();
        Redactor { secrets }
    }

    /// Replaces every configured secret value in `text`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// The headers as a JSON object without the secret-bearing ones (`ingest::SECRET_HEADERS`)
    /// and with signatures replaced (`ingest::SIGNATURE_HEADERS`, as `ingest` stores them);
    /// repeated names are joined with `, ` as HTTP allows.
    pub fn headers(&self, headers: &[(String, String)]) -> Json {
        let mut kept = std::collections::BTreeMap::<String, String>::new();
        for (name, value) in headers {
            if ingest::SECRET_HEADERS.contains(&name.as_str()) {
                continue;
            }
            let value = if ingest::SIGNATURE_HEADERS.contains(&name.as_str()) {
                ingest::SIGNATURE_REDACTED
            } else {
                value.as_str()
            };
            kept.entry(name.clone())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
        Json::object(
            kept.into_iter()
                .map(|(name, value)| (name, Json::str(self.text(&value)))),
        )
    }

    /// The body as text without secrets: a JSON object loses seed 000's `webhookSecret` field
    /// (and is then stored in canonical form, as the event log stores it); any other body is
    /// kept as sent (invalid UTF-8 replaced) with that field's string value blanked.
    pub fn body(&self, body: &[u8]) -> String {
        let field = ingest::accounting::SECRET_FIELD;
        let text = String::from_utf8_lossy(body);
        // Most bodies do not name the field: they are kept as sent without a second parse.
        if !text.contains(field) {
            return self.text(&text);
        }
        if let Ok(Json::Object(mut map)) = Json::parse(body) {
            if map.remove(field).is_some() {
                return self.text(&Json::Object(map).canonical());
            }
        }
        self.text(&blank_string_field(&text, field))
    }
}

/// Replaces the string value of every `"field": "…"` in text that may not parse as JSON.
fn blank_string_field(text: &str, field: &str) -> String {
    let quoted = format!("\"{field}\"");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&quoted) {
        let after_key = at + quoted.len();
        out.push_str(&rest[..after_key]);
        rest = &rest[after_key..];
        let value_at = rest
            .char_indices()
            .find(|(_, c)| !c.is_whitespace() && *c != ':')
            .map(|(idx, _)| idx);
        let Some(start) = value_at.filter(|idx| rest[*idx..].starts_with('"')) else {
            continue;
        };
        out.push_str(&rest[..=start]);
        let value = &rest[start + 1..];
        let end = string_end(value).unwrap_or(value.len());
        out.push_str(REDACTED);
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

/// The byte index of the closing quote of a JSON string's contents, honouring escapes.
fn string_end(contents: &str) -> Option<usize> {
    let mut escaped = false;
    for (idx, c) in contents.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(idx),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&ingest::fixtures::test_settings())
    }

    #[test]
    fn the_secret_field_leaves_a_json_body() {
        let body = br#"{"orderId":"O-1", "webhookSecret":"anything"}"#;
        assert_eq!(redactor().body(body), r#"{"orderId":"O-1"}"#);
    }

    #[test]
    fn a_body_that_is_not_json_loses_its_secrets_too() {
        let body = br#"{"webhookSecret" : "wr\"ong", "x": "test-exact-secret" "#;
        assert_eq!(
            redactor().body(body),
            r#"{"webhookSecret" : "[redacted]", "x": "[redacted]" "#
        );
        assert_eq!(redactor().body(b"\"webhookSecret\":"), "\"webhookSecret\":");
    }

    #[test]
    fn secret_headers_are_dropped_and_secret_values_replaced() {
        let headers = vec![
            (
                "x-webhook-secret".to_owned(),
                "test-exact-secret".to_owned(),
            ),
            ("authorization".to_owned(), "Bearer t".to_owned()),
            ("x-other".to_owned(), "a test-vendor-secret b".to_owned()),
            ("x-other".to_owned(), "2".to_owned()),
        ];
        assert_eq!(
            redactor().headers(&headers).canonical(),
            r#"{"x-other":"a [redacted] b, 2"}"#
        );
    }
}
