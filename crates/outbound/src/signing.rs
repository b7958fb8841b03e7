//! Signing outbound requests, two ways at once, so that receivers written to either document
//! can verify:
//! - seed 004's `X-Signature`: HMAC-SHA256 of the body, hex, keyed by the secret's UTF-8 bytes
//!   exactly as given (a `whsec_` prefix included);
//! - Standard Webhooks' `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over
//!   `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64-decoded rest of a `whsec_`
//!   secret, or by the raw bytes of any other secret. During a rotation's grace period the
//!   header carries one signature per secret, space-separated, the new one first.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of secrets in the Standard Webhooks form.
pub const WHSEC_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 32;
/// Secrets longer than this are refused.
pub const SECRET_BYTES_MAX: usize = 512;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Seed 004's `X-Signature`: hex HMAC-SHA256 of the body keyed by the secret as given.
pub fn x_signature(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
}

/// The Standard Webhooks key of a secret: the base64-decoded rest of a `whsec_` secret, else
/// the secret's raw bytes.
pub fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(WHSEC_PREFIX)
        .and_then(|rest| BASE64.decode(rest).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// One Standard Webhooks signature: `v1,<base64>`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        &standard_key(secret),
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", BASE64.encode(mac))
}

/// The `webhook-signature` header for the current secret and, during a grace period, the
/// previous one.
pub fn webhook_signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| standard_signature(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A new secret: `whsec_` + base64 of 32 random bytes.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut bytes)
        .unwrap_or_else(|e| panic!("the operating system has no randomness: {e}"));
    format!("{WHSEC_PREFIX}{}", BASE64.encode(bytes))
}

/// Checks a secret given through the API. Handling: 400 with the message.
pub fn validate_secret(secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err("secret: must not be empty (omit it to have one generated)".into());
    }
    if secret.len() > SECRET_BYTES_MAX {
        return Err(format!("secret: longer than {SECRET_BYTES_MAX} bytes"));
    }
    if let Some(rest) = secret.strip_prefix(WHSEC_PREFIX) {
        match BASE64.decode(rest) {
            Ok(key) if key.len() >= 16 => {}
            _ => {
                return Err(
                    "secret: a whsec_ secret must be followed by base64 of at least 16 bytes"
                        .into(),
                )
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_standard_webhooks_reference_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// The worked example of `docs/outbound.md`.
    #[test]
    fn the_documented_example_holds() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"type":"payment.received","timestamp":"2024-01-10T14:30:00.123Z","data":{"amount":12.5,"amount_minor":1250,"currency":"USD","order_number":"1001"}}"#;
        assert_eq!(body.len(), 148);
        assert_eq!(
            x_signature(secret, body),
            "860cc72d0629569378ef5563665eb63398c51c308df69f639b1160eeadc9bb25"
        );
        assert_eq!(
            standard_signature(
                secret,
                "3b0f1a4e-8a52-5c7e-9d2b-6f1e0c4a7b91",
                1704897000,
                body
            ),
            "v1,8T2fZGwRKtrXpoDIfB5cbND4zlF6S5EgG6aUhGaIUdo="
        );
    }

    #[test]
    fn x_signature_keys_with_the_secret_as_given() {
        let body = br#"{"a":1}"#;
        let expected = {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"whsec_abc").expect("key");
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        };
        assert_eq!(x_signature("whsec_abc", body), expected);
    }

    #[test]
    fn generated_secrets_are_whsec_with_32_bytes() {
        let secret = generate_secret();
        assert!(validate_secret(&secret).is_ok());
        assert_eq!(standard_key(&secret).len(), 32);
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn rotation_sends_both_signatures() {
        let header = webhook_signature_header(&["new-secret", "old-secret"], "id", 1, b"x");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], standard_signature("new-secret", "id", 1, b"x"));
        assert_eq!(parts[1], standard_signature("old-secret", "id", 1, b"x"));
    }
}
