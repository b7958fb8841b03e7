//! Seed 003: the vendor server's order status callbacks, `POST /api/vendor/order-updates`.
//!
//! Authenticated by `x-vendor-server-secret` (`CUSTOMER_SERVER_SECRET`), then by
//! `x-webhook-timestamp`, which must lie within the tolerance (5 minutes) either side of the time of
//! receipt: a stale or future timestamp is a replayed or forged callback, so it is answered 401 like
//! a wrong secret. The timestamp is RFC 3339 as the seed sends it, or Unix seconds or milliseconds.
//! One event: `vendor.order_status_reported`, with `orderData` and `vendorDetails` kept exact.

use chrono::{DateTime, Utc};
use domain::payloads::{VendorOrderStatusReported, VendorStatus};
use domain::{Dedupe, Json, Source};

use crate::fields::{amount, currency, order_ref, text, Fields};
use crate::support::{body_text, configured, content_digest, event, parse_body, raw_request};
use crate::{Ingested, Rejection, Request, Settings};

/// The endpoint.
pub const PATH: &str = "/api/vendor/order-updates";

/// The header that carries `CUSTOMER_SERVER_SECRET`.
pub const SECRET_HEADER: &str = "x-vendor-server-secret";

/// The header that carries the time the callback was sent.
pub const TIMESTAMP_HEADER: &str = "x-webhook-timestamp";

/// Unix timestamps at or above this are milliseconds (10^11 s is in the year 5138).
const UNIX_MILLIS_MIN: i64 = 100_000_000_000;

/// Authenticates and normalises one request: 503 when `CUSTOMER_SERVER_SECRET` is not set, 401
/// `Invalid webhook secret`, 401 on a missing, unreadable, stale or future timestamp, then 400 on
/// an invalid body.
pub fn parse(req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
    let secret = configured(&settings.customer_server_secret, "CUSTOMER_SERVER_SECRET")?;
    if !req.header(SECRET_HEADER).is_some_and(|s| secret.matches(s)) {
        return Err(Rejection::Unauthorized("Invalid webhook secret".into()));
    }
    check_timestamp(req, settings)?;
    let mut fields = Fields::of(parse_body(req.body)?, "")?;
    let order_id = order_ref("orderId", fields.take("orderId"))?;
    let status = fields.required_enum("status", VendorStatus::parse, &VendorStatus::expected())?;
    let previous_status = fields.optional_enum(
        "previousStatus",
        VendorStatus::parse,
        &VendorStatus::expected(),
    )?;
    let customer_id = fields
        .take("customerId")
        .map(|v| text("customerId", v))
        .transpose()?;
    let updated_at = fields.optional_str("updatedAt")?;
    let order_data = fields.optional_object("orderData")?;
    let vendor_details = fields.optional_object("vendorDetails")?;
    let (fare_minor, currency) = fare(order_data.as_ref(), settings)?;
    let customer_id = customer_id.or_else(|| {
        order_data
            .as_ref()
            .and_then(|d| d.get("customerId"))
            .and_then(Json::as_str)
            .map(str::to_owned)
    });
    let payload = VendorOrderStatusReported {
        order_id,
        customer_id,
        status,
        previous_status,
        updated_at,
        order_data,
        vendor_details,
        fare_minor,
        currency,
        extra: fields.rest(),
    };
    let stream = format!("order:vendor:{}", payload.order_id);
    let event = event(
        Source::Vendor,
        stream,
        &payload,
        |json| Dedupe::SameAsLast(content_digest(&without_updated_at(json))),
        raw_request(req, body_text(req)),
    )?;
    Ok(Ingested {
        events: vec![event],
    })
}

/// The payload without `updated_at`: a timestamp, not meaningful content.
fn without_updated_at(json: &Json) -> Json {
    match json {
        Json::Object(map) => {
            let mut map = map.clone();
            map.remove("updated_at");
            Json::Object(map)
        }
        other => other.clone(),
    }
}

/// `orderData.fare` in minor units of `orderData.currency` (else the default currency).
fn fare(
    order_data: Option<&Json>,
    settings: &Settings,
) -> Result<(Option<i64>, Option<domain::Currency>), Rejection> {
    let Some(data) = order_data else {
        return Ok((None, None));
    };
    let Some(fare) = data.get("fare").filter(|v| !v.is_null()) else {
        return Ok((None, None));
    };
    let code = match data.get("currency").filter(|v| !v.is_null()) {
        Some(value) => currency("orderData.currency", value.clone())?,
        None => settings.default_currency,
    };
    let minor = amount("orderData.fare", fare.clone(), code, false)?;
    Ok((Some(minor), Some(code)))
}

fn check_timestamp(req: &Request<'_>, settings: &Settings) -> Result<(), Rejection> {
    let text = req
        .header(TIMESTAMP_HEADER)
        .ok_or_else(|| Rejection::Unauthorized("Missing x-webhook-timestamp header".into()))?;
    let sent = parse_timestamp(text).ok_or_else(|| {
        Rejection::Unauthorized(
            "Invalid x-webhook-timestamp header: expected RFC 3339 or Unix time".into(),
        )
    })?;
    let tolerance_ms =
        i64::try_from(settings.vendor_timestamp_tolerance.as_millis()).unwrap_or(i64::MAX);
    let age_ms = (req.received_at - sent).num_milliseconds();
    if age_ms > tolerance_ms {
        return Err(Rejection::Unauthorized("Webhook timestamp too old".into()));
    }
    if -age_ms > tolerance_ms {
        return Err(Rejection::Unauthorized(
            "Webhook timestamp is in the future".into(),
        ));
    }
    Ok(())
}

/// RFC 3339, or Unix seconds, or Unix milliseconds (digits only, at least 10^11).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = text.parse().ok()?;
        return if n >= UNIX_MILLIS_MIN {
            DateTime::from_timestamp_millis(n)
        } else {
            DateTime::from_timestamp(n, 0)
        };
    }
    domain::time::parse_rfc3339(text)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{arb_object, check_all, run_authenticated};
    use crate::Dialect;

    #[test]
    fn every_fixture_gives_its_expected_answer() {
        assert!(check_all(Dialect::Vendor) >= 35);
    }

    #[test]
    fn timestamps_parse_in_every_accepted_form() {
        let t = parse_timestamp("2023-12-04T10:30:00.000Z");
        assert_eq!(t, parse_timestamp("1701685800"));
        assert_eq!(t, parse_timestamp("1701685800000"));
        assert_eq!(t, parse_timestamp("2023-12-04T11:30:00+01:00"));
        assert!(t.is_some());
        for bad in ["", "yesterday", "-1", "99999999999999999999", "2023-12-04"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn updated_at_is_not_part_of_the_duplicate_test() {
        let digest = |body: &[u8]| {
            run_authenticated(Dialect::Vendor, body).map(|i| i.events[0].dedupe.clone())
        };
        let a = digest(
            br#"{"orderId":"o","status":"accepted","updatedAt":"2023-12-04T10:30:00.000Z"}"#,
        );
        let b = digest(
            br#"{"orderId":"o","status":"accepted","updatedAt":"2023-12-04T10:31:00.000Z"}"#,
        );
        let c = digest(
            br#"{"orderId":"o","status":"completed","updatedAt":"2023-12-04T10:31:00.000Z"}"#,
        );
        assert!(matches!(a, Ok(Dedupe::SameAsLast(_))));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    const KEYS: &[&str] = &[
        "orderId",
        "customerId",
        "status",
        "previousStatus",
        "updatedAt",
        "orderData",
        "vendorDetails",
        "other",
    ];

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = run_authenticated(Dialect::Vendor, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_objects(body in arb_object(KEYS, &[])) {
            let _ = run_authenticated(Dialect::Vendor, &body);
        }

        #[test]
        fn parse_never_panics_with_a_valid_status(
            body in arb_object(KEYS, &[("orderId", "o-1"), ("status", "payment_confirmed")])
        ) {
            let _ = run_authenticated(Dialect::Vendor, &body);
        }

        #[test]
        fn parse_timestamp_never_panics(text in "\\PC{0,40}") {
            let _ = parse_timestamp(&text);
        }
    }
}
