//! Seed 000: the web shop's order-status webhook, `POST /api/webhooks/order-status`.
//!
//! Body `{orderId, status, webhookSecret}` plus optional `amount` (major units) and `currency`.
//! The secret travels in the body, so the body is parsed before it is authenticated; it is
//! removed before anything is stored. One event: `accounting.order_status_reported`.

use domain::payloads::{AccountingOrderStatusReported, WebsiteStatus};
use domain::{Dedupe, Source};

use crate::fields::{amount, currency, order_ref, Fields};
use crate::support::{configured, content_digest, event, parse_body, raw_request};
use crate::{Ingested, Rejection, Request, Settings};

/// The endpoint.
pub const PATH: &str = "/api/webhooks/order-status";

/// The setting that holds the secret.
pub const SECRET_SETTING: &str = "ACCOUNTING_WEBHOOK_SECRET";

/// The body field that carries the secret.
pub const SECRET_FIELD: &str = "webhookSecret";

/// Authenticates and normalises one request. Order: 503 when the secret is not configured, 400
/// when the body is not a JSON object, 401 on a wrong or missing `webhookSecret`, then 400 on
/// invalid fields.
pub fn parse(req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
    let secret = configured(&settings.accounting_webhook_secret, SECRET_SETTING)?;
    let mut fields = Fields::of(parse_body(req.body)?, "")?;
    let presented = fields.take(SECRET_FIELD);
    if !presented
        .as_ref()
        .and_then(|v| v.as_str())
        .is_some_and(|s| secret.matches(s))
    {
        return Err(Rejection::Unauthorized("Invalid webhook secret".into()));
    }
    // The stored body is the request without its secret, in canonical form.
    let stored_body = fields.snapshot().canonical();

    let order_id = order_ref("orderId", fields.take("orderId"))?;
    let status =
        fields.required_enum("status", WebsiteStatus::parse, &WebsiteStatus::expected())?;
    let currency_sent = fields
        .take("currency")
        .map(|v| currency("currency", v))
        .transpose()?;
    let amount_currency = currency_sent.unwrap_or(settings.default_currency);
    let amount_minor = fields
        .take("amount")
        .map(|v| amount("amount", v, amount_currency, false))
        .transpose()?;
    let payload = AccountingOrderStatusReported {
        order_id,
        status,
        accounting_status: status.accounting_status(),
        amount_minor,
        currency: currency_sent.or(amount_minor.map(|_| amount_currency)),
        extra: fields.rest(),
    };
    let stream = format!("order:accounting:{}", payload.order_id);
    let event = event(
        Source::Accounting,
        stream,
        &payload,
        |json| Dedupe::SameAsLast(content_digest(json)),
        raw_request(req, stored_body),
    )?;
    Ok(Ingested {
        events: vec![event],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{arb_object, check_all, run_authenticated};
    use crate::Dialect;

    #[test]
    fn every_fixture_gives_its_expected_answer() {
        assert!(check_all(Dialect::Accounting) >= 30);
    }

    #[test]
    fn the_secret_field_is_removed_from_the_stored_body() {
        let body =
            br#"{"orderId":"O-1","status":"pending","webhookSecret":"test-accounting-secret"}"#;
        let ingested = run_authenticated(Dialect::Accounting, body).expect("accepted");
        assert_eq!(
            ingested.events[0].raw_request.body,
            r#"{"orderId":"O-1","status":"pending"}"#
        );
    }

    #[test]
    fn the_same_content_gives_the_same_digest_whatever_the_layout() {
        let digest = |body: &[u8]| {
            run_authenticated(Dialect::Accounting, body).map(|i| i.events[0].dedupe.clone())
        };
        let a = digest(
            br#"{"orderId":"O-1","status":"pending","webhookSecret":"test-accounting-secret"}"#,
        );
        let b = digest(
            br#"{ "webhookSecret":"test-accounting-secret", "status":"pending", "orderId":"O-1" }"#,
        );
        let c = digest(
            br#"{"orderId":"O-1","status":"completed","webhookSecret":"test-accounting-secret"}"#,
        );
        assert!(matches!(a, Ok(Dedupe::SameAsLast(_))));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    const KEYS: &[&str] = &[
        "orderId",
        "status",
        "amount",
        "currency",
        "webhookSecret",
        "note",
    ];

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = run_authenticated(Dialect::Accounting, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_objects(body in arb_object(KEYS, &[])) {
            let _ = run_authenticated(Dialect::Accounting, &body);
        }

        #[test]
        fn parse_never_panics_past_authentication(
            body in arb_object(KEYS, &[("webhookSecret", "test-accounting-secret")])
        ) {
            let _ = run_authenticated(Dialect::Accounting, &body);
        }
    }
}
