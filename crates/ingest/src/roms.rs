//! Seed 001: ROMS V2 order webhooks, `POST /api/v2/webhooks/orders`.
//!
//! An order is created or updated by `order_number`. Fields arrive under any alias of seed 001's
//! mapping table and are stored under the table's database column; the first alias of a row that
//! is present (and not `null`) wins, in the table's order, and the losing aliases are kept in
//! `extra`. `status` is free text. Amounts are exact decimals in major units of the body's
//! `currency` (else the default currency). One event: `roms.order_received`.

use domain::payloads::RomsOrderReceived;
use domain::{Dedupe, Source};

use crate::fields::{amount, currency, integer, order_ref, text, Fields};
use crate::support::{
    body_text, content_digest, event, hmac_sha256_hex, parse_body, raw_request, signature_matches,
};
use crate::{Ingested, Rejection, Request, Settings};

/// The endpoint.
pub const PATH: &str = "/api/v2/webhooks/orders";

/// The signature header: hex HMAC-SHA256 of the raw body keyed by `WEBHOOK_SECRET`.
pub const SIGNATURE_HEADER: &str = "x-webhook-signature";

/// The largest `quantity` accepted; beyond it: 400.
pub const QUANTITY_MAX: i64 = 1_000_000_000;

/// Where a text column is stored in the payload.
type Column = fn(&mut RomsOrderReceived) -> &mut Option<String>;

/// Seed 001's mapping table for text columns: (column, aliases in order of precedence, slot).
pub const TEXT_COLUMNS: [(&str, &[&str], Column); 9] = [
    ("product", &["product", "product_name", "item"], |o| {
        &mut o.product
    }),
    ("email", &["email", "customer_email"], |o| &mut o.email),
    ("customer_name", &["customer_name", "name"], |o| {
        &mut o.customer_name
    }),
    ("profile", &["profile"], |o| &mut o.profile),
    ("proxy_list", &["proxy_list", "proxy"], |o| {
        &mut o.proxy_list
    }),
    (
        "reference_number",
        &["reference", "reference_number"],
        |o| &mut o.reference_number,
    ),
    ("status", &["status", "order_status"], |o| &mut o.status),
    (
        "tracking_number",
        &["tracking", "tracking_number", "shipment_id"],
        |o| &mut o.tracking_number,
    ),
    ("order_date", &["order_date", "created_at", "date"], |o| {
        &mut o.order_date
    }),
];

/// Seed 001's amount columns and their aliases.
pub const PRICE_ALIASES: &[&str] = &["price", "unit_price"];
pub const TOTAL_ALIASES: &[&str] = &["total", "total_price", "amount"];
pub const COMMISSION_ALIASES: &[&str] = &["commission", "profit"];
pub const QUANTITY_ALIASES: &[&str] = &["quantity", "qty"];

/// Authenticates and normalises one request: 401 when `WEBHOOK_SECRET` is set and the signature
/// is missing or wrong (the secret unset, a signature is not checked), then 400 on an invalid
/// body.
pub fn parse(req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
    authenticate(req, settings)?;
    let mut fields = Fields::of(parse_body(req.body)?, "")?;
    let order_number = order_ref("order_number", fields.take("order_number"))?;
    let sent_currency = fields
        .take("currency")
        .map(|v| currency("currency", v))
        .transpose()?;
    let amount_currency = sent_currency.unwrap_or(settings.default_currency);
    let mut money = |aliases: &[&str], negative_ok: bool| {
        fields
            .take_first(aliases)
            .map(|(path, v)| amount(&path, v, amount_currency, negative_ok))
            .transpose()
    };
    // A commission (or profit) may be a loss; a price or a total may not be negative.
    let price_minor = money(PRICE_ALIASES, false)?;
    let total_minor = money(TOTAL_ALIASES, false)?;
    let commission_minor = money(COMMISSION_ALIASES, true)?;
    let any_amount = price_minor.or(total_minor).or(commission_minor).is_some();
    let quantity = fields
        .take_first(QUANTITY_ALIASES)
        .map(|(path, v)| integer(&path, &v, 0, QUANTITY_MAX))
        .transpose()?;
    let mut order = RomsOrderReceived {
        order_number,
        price_minor,
        total_minor,
        commission_minor,
        currency: sent_currency.or(any_amount.then_some(amount_currency)),
        quantity,
        ..RomsOrderReceived::default()
    };
    for (_, aliases, slot) in TEXT_COLUMNS {
        *slot(&mut order) = fields
            .take_first(aliases)
            .map(|(path, v)| text(&path, v))
            .transpose()?;
    }
    order.extra = fields.rest();
    let stream = format!("order:roms:{}", order.order_number);
    let event = event(
        Source::Roms,
        stream,
        &order,
        |json| Dedupe::SameAsLast(content_digest(json)),
        raw_request(req, body_text(req)),
    )?;
    Ok(Ingested {
        events: vec![event],
    })
}

fn authenticate(req: &Request<'_>, settings: &Settings) -> Result<(), Rejection> {
    let Some(secret) = &settings.webhook_secret else {
        return Ok(());
    };
    let presented = req
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| Rejection::Unauthorized("Missing X-Webhook-Signature header".into()))?;
    let presented = presented.trim();
    let presented = presented.strip_prefix("sha256=").unwrap_or(presented);
    if !signature_matches(&hmac_sha256_hex(secret, &[req.body]), presented) {
        return Err(Rejection::Unauthorized("Invalid signature".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{arb_object, check_all, run_authenticated, test_settings};
    use crate::{Dialect, Secret};

    #[test]
    fn every_fixture_gives_its_expected_answer() {
        assert!(check_all(Dialect::Roms) >= 40);
    }

    #[test]
    fn the_raw_body_is_stored_byte_for_byte() {
        let body = br#"{ "order_number": "A",  "price": 1.10 }"#;
        let ingested = run_authenticated(Dialect::Roms, body).expect("accepted");
        assert_eq!(ingested.events[0].raw_request.body.as_bytes(), body);
    }

    #[test]
    fn a_signature_is_compared_case_insensitively() {
        let settings = Settings {
            webhook_secret: Some(Secret::new("s")),
            ..test_settings()
        };
        let body = br#"{"order_number":"A"}"#;
        let signature = hmac_sha256_hex(&Secret::new("s"), &[body]).to_ascii_uppercase();
        let headers = vec![(SIGNATURE_HEADER.to_owned(), signature)];
        let req = Request {
            method: "POST",
            path: PATH,
            headers: &headers,
            body,
            received_at: crate::testkit::received_at(),
        };
        assert!(parse(&req, &settings).is_ok());
    }

    const KEYS: &[&str] = &[
        "order_number",
        "product",
        "item",
        "price",
        "total",
        "amount",
        "commission",
        "profit",
        "quantity",
        "qty",
        "currency",
        "status",
        "email",
        "tracking",
        "order_date",
        "other",
    ];

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = run_authenticated(Dialect::Roms, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_objects(body in arb_object(KEYS, &[])) {
            let _ = run_authenticated(Dialect::Roms, &body);
        }

        #[test]
        fn parse_never_panics_with_a_valid_order_number(body in arb_object(KEYS, &[("order_number", "ORD-1")])) {
            let _ = run_authenticated(Dialect::Roms, &body);
        }
    }
}
