//! A deterministic, mixed workload for replay tests and benchmarks: real upstream requests of
//! every money-carrying dialect, normalised by `ingest` and written the way the server writes
//! them (`projections::record` in a writer job: `check`, append, then `apply`).
//!
//! Request `i` belongs to order `i / 6` and is one step of that order's life: a ROMS order, a
//! web-shop order going pending → processing, a Stripe payment of the ROMS order, a vendor's
//! payment confirmation with a fare in INR, and the web-shop order completed (every fifth one
//! cancelled). Because the requests are the dialects' real ones, the workload exercises the
//! projectors as they land, with no change here.

use chrono::{DateTime, Duration, Utc};
use domain::NewEvent;
use hmac::{Hmac, Mac};
use ingest::{Dialect, Request, Secret, Settings};
use projections::RecordError;
use sha2::Sha256;
use store::{StoreError, WriteCtx, Writer};

/// Steps in one order's life (requests per order).
pub const STEPS_PER_ORDER: u64 = 6;

const ACCOUNTING_SECRET: &str = "workload-accounting-secret";
const VENDOR_SECRET: &str = "workload-vendor-secret";
const STRIPE_SECRET: &str = "whsec_workload_stripe_secret";

/// The settings the workload's requests are signed for.
pub fn settings() -> Settings {
    Settings {
        accounting_webhook_secret: Some(Secret::new(ACCOUNTING_SECRET)),
        customer_server_secret: Some(Secret::new(VENDOR_SECRET)),
        stripe_webhook_secret: Some(Secret::new(STRIPE_SECRET)),
        ..Settings::default()
    }
}

/// When request `i` is received: one second apart from a fixed start (signatures and
/// timestamp windows are checked against it; the log's `recorded_at` is the writer's).
fn received_at(i: u64) -> DateTime<Utc> {
    let start = domain::time::parse_rfc3339("2024-01-10T14:30:00Z").unwrap_or_default();
    start + Duration::seconds(i as i64)
}

/// Request `i`: its dialect, lower-case headers and body.
pub fn request(i: u64) -> (Dialect, Vec<(String, String)>, String) {
    let order = i / STEPS_PER_ORDER;
    let at = received_at(i);
    let json = vec![("content-type".to_owned(), "application/json".to_owned())];
    match i % STEPS_PER_ORDER {
        0 => (
            Dialect::Roms,
            json,
            format!(
                r#"{{"order_number":"ORD-{order}","product":"Widget {order}","price":{}.{:02},"quantity":1,"commission":3.50,"email":"c{order}@example.com","status":"{status}"}}"#,
                100 + order % 50,
                order % 100,
                status = if order.is_multiple_of(4) {
                    "pending"
                } else {
                    "confirmed"
                },
            ),
        ),
        1 | 2 | 5 => {
            let status = match i % STEPS_PER_ORDER {
                1 => "pending",
                2 => "processing",
                _ if order.is_multiple_of(5) => "cancelled",
                _ => "completed",
            };
            (
                Dialect::Accounting,
                json,
                format!(
                    r#"{{"orderId":"A-{order}","status":"{status}","amount":"{}.90","currency":"EUR","webhookSecret":"{ACCOUNTING_SECRET}"}}"#,
                    40 + order % 60
                ),
            )
        }
        3 => stripe_request(order, at, json),
        _ => vendor_request(order, at, json),
    }
}

fn stripe_request(
    order: u64,
    at: DateTime<Utc>,
    mut headers: Vec<(String, String)>,
) -> (Dialect, Vec<(String, String)>, String) {
    let (kind, status) = if order % 7 == 3 {
        ("payment_intent.payment_failed", "requires_payment_method")
    } else {
        ("payment_intent.succeeded", "succeeded")
    };
    let body = format!(
        r#"{{"id":"evt_w{order}","object":"event","created":{t},"livemode":false,"type":"{kind}","data":{{"object":{{"id":"pi_w{order}","object":"payment_intent","amount":{amount},"amount_received":{amount},"currency":"usd","status":"{status}","metadata":{{"order_number":"ORD-{order}","source":"roms"}},"last_payment_error":null}}}}}}"#,
        t = at.timestamp(),
        amount = (100 + order % 50) * 100 + order % 100,
    );
    let mut mac = match Hmac::<Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(format!("{}.{body}", at.timestamp()).as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    headers.push((
        "stripe-signature".into(),
        format!("t={},v1={signature}", at.timestamp()),
    ));
    (Dialect::Stripe, headers, body)
}

fn vendor_request(
    order: u64,
    at: DateTime<Utc>,
    mut headers: Vec<(String, String)>,
) -> (Dialect, Vec<(String, String)>, String) {
    headers.extend([
        ("x-vendor-server-secret".into(), VENDOR_SECRET.into()),
        ("x-webhook-event".into(), "order.status_changed".into()),
        (
            "x-webhook-timestamp".into(),
            domain::time::format_millis(at),
        ),
    ]);
    let body = format!(
        r#"{{"orderId":"V-{order}","customerId":"customer-{order}","status":"payment_confirmed","previousStatus":"payment_requested","updatedAt":"{}","orderData":{{"fare":"{}.50","currency":"INR","paymentMethod":"cod"}}}}"#,
        domain::time::format_millis(at),
        200 + order % 90
    );
    (Dialect::Vendor, headers, body)
}

/// Seed 001 request `i`: a new order each time, as `scripts/bench` sends them over HTTP.
pub fn roms_order(i: u64) -> Vec<NewEvent> {
    let body = format!(
        r#"{{"order_number":"B-{i}","product":"Nike Shoes","price":99.99,"quantity":1,"email":"customer@example.com","status":"pending"}}"#
    );
    let headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    let request = Request {
        method: "POST",
        path: Dialect::Roms.path(),
        headers: &headers,
        body: body.as_bytes(),
        received_at: received_at(i),
    };
    match Dialect::Roms.parse(&request, &settings()) {
        Ok(ingested) => ingested.events,
        Err(rejection) => panic!("seed 001 order {i} was refused: {rejection}"),
    }
}

/// The canonical events of request `i` (as the server's edge would make them).
pub fn events(i: u64) -> Vec<NewEvent> {
    let (dialect, headers, body) = request(i);
    let request = Request {
        method: "POST",
        path: dialect.path(),
        headers: &headers,
        body: body.as_bytes(),
        received_at: received_at(i),
    };
    match dialect.parse(&request, &settings()) {
        Ok(ingested) => ingested.events,
        Err(rejection) => panic!("workload request {i} ({dialect:?}) was refused: {rejection}"),
    }
}

/// Writes the events of one request as the server's writer job does
/// ([`projections::record`]: state check, append, `apply` on each new event). Returns the number
/// of events appended.
pub fn write(ctx: &mut WriteCtx<'_>, events: &[NewEvent]) -> Result<u64, RecordError> {
    let recorded = projections::record(ctx, events)?;
    Ok(if recorded.duplicate {
        0
    } else {
        events.len() as u64
    })
}

/// Writes requests `from..to` through `writer`, `per_job` requests per writer job (the fast
/// path of benchmarks), and returns the number of events appended.
pub fn run(writer: &Writer, from: u64, to: u64, per_job: u64) -> Result<u64, StoreError> {
    let mut n_appended = 0;
    let mut start = from;
    while start < to {
        let end = (start + per_job.max(1)).min(to);
        let batch: Vec<Vec<NewEvent>> = (start..end).map(events).collect();
        let written = writer
            .submit_blocking(move |ctx| {
                let mut n_appended = 0;
                for request in &batch {
                    n_appended += write(ctx, request)?;
                }
                Ok::<_, RecordError>(n_appended)
            })
            .map_err(|e| StoreError::Invariant(format!("writer: {e}")))?
            .map_err(|e| StoreError::Invariant(format!("recording: {e}")))?;
        n_appended += written;
        start = end;
    }
    Ok(n_appended)
}
