//! The payment provider (Stripe), `POST /api/webhooks/stripe`.
//!
//! Authenticated as Stripe documents it: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, where a
//! `v1` is the hex HMAC-SHA256 of `"{t}.{raw body}"` keyed by the whole `STRIPE_WEBHOOK_SECRET`
//! string (its `whsec_` prefix included), and `t` lies within the tolerance (300 s) of the time of
//! receipt. Any `v1` may match (Stripe sends several while a secret is rolled).
//!
//! `payment_intent.succeeded` and `payment_intent.payment_failed` become typed payment events; any
//! other event type is recorded as `stripe.event_received` and accepted, because Stripe retries
//! anything but a 2xx for days. Every event is deduplicated by Stripe's event `id`.

use domain::payloads::{
    EventPayload, StripeEventReceived, StripePaymentIntent, StripePaymentIntentFailed,
    StripePaymentIntentSucceeded,
};
use domain::{Dedupe, Json, NewEvent, RawRequest, Source};

use crate::fields::{currency, integer, text, wrong, Fields, AMOUNT_MINOR_MAX};
use crate::support::{
    body_text, configured, event, hmac_sha256_hex, parse_body, raw_request, signature_matches,
};
use crate::{Ingested, Rejection, Request, Secret, Settings};

/// The endpoint.
pub const PATH: &str = "/api/webhooks/stripe";

/// The signature header.
pub const SIGNATURE_HEADER: &str = "stripe-signature";

/// The `metadata.source` of a payment that names none: ROMS (seed 001) orders.
pub const DEFAULT_ORDER_SOURCE: &str = "roms";

/// Authenticates and normalises one request: 503 when `STRIPE_WEBHOOK_SECRET` is not set, 401 on a
/// missing, malformed, wrong or stale signature, then 400 on a body that is not a Stripe event.
pub fn parse(req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
    let secret = configured(&settings.stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET")?;
    verify_signature(req, secret, settings)?;
    let mut fields = Fields::of(parse_body(req.body)?, "")?;
    let event_id = fields.required_str("id")?;
    let stripe_type = fields.required_str("type")?;
    let created = fields
        .take("created")
        .map(|v| integer("created", &v, 0, i64::MAX))
        .transpose()?;
    let livemode = match fields.take("livemode") {
        None => None,
        Some(Json::Bool(b)) => Some(b),
        Some(other) => return Err(wrong("livemode", "a boolean", &other)),
    };
    let object = match fields.take("data") {
        None => None,
        Some(data) => Fields::of(data, "data")?.take("object"),
    };
    let raw = raw_request(req, body_text(req));
    let envelope = Envelope {
        event_id,
        created,
        livemode,
    };
    let event = match stripe_type.as_str() {
        "payment_intent.succeeded" => {
            let intent = payment_intent(envelope, object)?;
            let (stream, id) = intent_stream(&intent);
            stripe_event(stream, &id, &StripePaymentIntentSucceeded(intent), raw)?
        }
        "payment_intent.payment_failed" => {
            let intent = payment_intent(envelope, object)?;
            let (stream, id) = intent_stream(&intent);
            stripe_event(stream, &id, &StripePaymentIntentFailed(intent), raw)?
        }
        _ => other_event(envelope, stripe_type, object, raw)?,
    };
    Ok(Ingested {
        events: vec![event],
    })
}

/// The fields every Stripe event carries.
struct Envelope {
    event_id: String,
    created: Option<i64>,
    livemode: Option<bool>,
}

/// Every Stripe event is deduplicated by Stripe's event id.
fn stripe_event<P: EventPayload>(
    stream: String,
    event_id: &str,
    payload: &P,
    raw: RawRequest,
) -> Result<NewEvent, Rejection> {
    let key = format!("stripe:{event_id}");
    event(Source::Stripe, stream, payload, |_| Dedupe::Key(key), raw)
}

/// The payment intent's stream and the event id.
fn intent_stream(intent: &StripePaymentIntent) -> (String, String) {
    (
        format!("payment:stripe:{}", intent.payment_intent_id),
        intent.event_id.clone(),
    )
}

fn payment_intent(
    envelope: Envelope,
    object: Option<Json>,
) -> Result<StripePaymentIntent, Rejection> {
    let object = object.ok_or_else(|| crate::fields::missing("data.object"))?;
    let mut f = Fields::of(object.clone(), "data.object")?;
    let payment_intent_id = f.required_str("id")?;
    let amount_minor = integer(
        "data.object.amount",
        &f.required("amount")?,
        0,
        AMOUNT_MINOR_MAX,
    )?;
    let currency = currency("data.object.currency", f.required("currency")?)?;
    let (order_number, order_source) = match f.take("metadata") {
        None => (None, None),
        Some(metadata) => {
            let mut m = Fields::of(metadata, "data.object.metadata")?;
            let order_number = m
                .take("order_number")
                .map(|v| text("data.object.metadata.order_number", v))
                .transpose()?
                .filter(|s| !s.trim().is_empty());
            (order_number, m.optional_str("source")?)
        }
    };
    let (failure_message, failure_code) = match f.take("last_payment_error") {
        None => (None, None),
        Some(error) => {
            let mut e = Fields::of(error, "data.object.last_payment_error")?;
            (e.optional_str("message")?, e.optional_str("code")?)
        }
    };
    Ok(StripePaymentIntent {
        event_id: envelope.event_id,
        created: envelope.created,
        livemode: envelope.livemode,
        payment_intent_id,
        amount_minor,
        currency,
        order_number,
        order_source: order_source
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ORDER_SOURCE.to_owned()),
        failure_message,
        failure_code,
        object,
    })
}

fn other_event(
    envelope: Envelope,
    stripe_type: String,
    object: Option<Json>,
    raw: RawRequest,
) -> Result<NewEvent, Rejection> {
    let object = object.unwrap_or(Json::Null);
    let object_id = object
        .get("id")
        .and_then(Json::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let stream = match &object_id {
        Some(id) => format!("payment:stripe:{id}"),
        None => format!("stripe:event:{}", envelope.event_id),
    };
    let payload = StripeEventReceived {
        event_id: envelope.event_id,
        stripe_type,
        created: envelope.created,
        livemode: envelope.livemode,
        object_id,
        object,
    };
    stripe_event(stream, &payload.event_id, &payload, raw)
}

/// Checks `Stripe-Signature` as Stripe's libraries do.
fn verify_signature(
    req: &Request<'_>,
    secret: &Secret,
    settings: &Settings,
) -> Result<(), Rejection> {
    let unauthorized = |message: &str| Rejection::Unauthorized(message.to_owned());
    let header = req
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| unauthorized("Missing Stripe-Signature header"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(unauthorized(
            "Unable to extract timestamp and signatures from header",
        ));
    };
    let t_seconds: i64 = match t.parse() {
        Ok(seconds) if t.bytes().all(|b| b.is_ascii_digit()) => seconds,
        _ => {
            return Err(unauthorized(
                "Unable to extract timestamp and signatures from header",
            ))
        }
    };
    let expected = hmac_sha256_hex(secret, &[t.as_bytes(), b".", req.body]);
    if !signatures.iter().any(|s| signature_matches(&expected, s)) {
        return Err(unauthorized(
            "No signatures found matching the expected signature for payload",
        ));
    }
    let tolerance = i64::try_from(settings.stripe_tolerance.as_secs()).unwrap_or(i64::MAX);
    if req.received_at.timestamp().abs_diff(t_seconds) > tolerance.unsigned_abs() {
        return Err(unauthorized("Timestamp outside the tolerance zone"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{arb_object, check_all, run_authenticated};
    use crate::Dialect;

    #[test]
    fn every_fixture_gives_its_expected_answer() {
        assert!(check_all(Dialect::Stripe) >= 30);
    }

    #[test]
    fn the_same_event_id_is_the_same_key_and_the_body_is_stored_as_sent() {
        let body = br#"{"id":"evt_1", "type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;
        let ingested = run_authenticated(Dialect::Stripe, body).expect("accepted");
        let event = &ingested.events[0];
        assert_eq!(event.dedupe, Dedupe::Key("stripe:evt_1".into()));
        assert_eq!(event.stream, "payment:stripe:cus_1");
        assert_eq!(event.raw_request.body.as_bytes(), body);
    }

    const KEYS: &[&str] = &["id", "type", "created", "livemode", "data", "object"];

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = run_authenticated(Dialect::Stripe, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_objects(body in arb_object(KEYS, &[])) {
            let _ = run_authenticated(Dialect::Stripe, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_payment_intents(
            object in arb_object(&["id", "amount", "currency", "metadata", "last_payment_error", "status"], &[]),
            failed in any::<bool>(),
        ) {
            let object = Json::parse(&object).expect("arb_object is valid JSON");
            let kind = if failed { "payment_intent.payment_failed" } else { "payment_intent.succeeded" };
            let body = Json::object([
                ("id", Json::str("evt_1")),
                ("type", Json::str(kind)),
                ("data", Json::object([("object", object)])),
            ]);
            let _ = run_authenticated(Dialect::Stripe, body.canonical().as_bytes());
        }

        #[test]
        fn any_other_signed_event_type_is_accepted(kind in "[a-z_]{1,12}\\.[a-z_]{1,12}") {
            prop_assume!(!kind.starts_with("payment_intent."));
            let body = Json::object([
                ("id", Json::str("evt_2")),
                ("type", Json::str(kind)),
                ("data", Json::object([("object", Json::object([("id", Json::str("x_1"))]))])),
            ]);
            prop_assert!(run_authenticated(Dialect::Stripe, body.canonical().as_bytes()).is_ok());
        }
    }
}
