//! Live traffic from all five upstream dialects, signed for the current time with the
//! campaign's secrets, and for each request what the log must hold once it was answered 2xx.
//!
//! A *script* is one upstream entity's life, sent in order by one client: a seed 000 order going
//! pending → processing → completed (which makes work orders, journal entries and callbacks to
//! the customer and Zapier), a seed 001 order and its update, seed 002 product and customer
//! syncs, a seed 003 order accepted then paid, and a Stripe payment. Every entity id carries the
//! campaign's round and a counter, so each acknowledged request names exactly one event.

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// The secrets the campaign's server runs with (environment names as in the contract).
pub const SECRETS: [(&str, &str); 5] = [
    ("ACCOUNTING_WEBHOOK_SECRET", "campaign-accounting-secret"),
    ("WEBHOOK_SECRET", "campaign-roms-secret"),
    ("EXACT_WEBHOOK_SECRET", "campaign-exact-secret"),
    ("CUSTOMER_SERVER_SECRET", "campaign-vendor-secret"),
    (
        "STRIPE_WEBHOOK_SECRET",
        "whsec_Y2FtcGFpZ24tc3RyaXBlLXNlY3JldA==",
    ),
];

fn secret(name: &str) -> &'static str {
    SECRETS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, v)| *v)
}

/// What the log must hold for an answered request: exactly one event on `stream` whose payload
/// has `value` at the JSON `pointer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub stream: String,
    pub pointer: String,
    pub value: Value,
}

/// One request, ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub dialect: &'static str,
    pub path: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub expect: Expect,
}

/// The kinds of script, one per upstream flow.
pub const KINDS: u64 = 6;

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fn json_headers() -> Vec<(String, String)> {
    vec![("Content-Type".to_owned(), "application/json".to_owned())]
}

fn expect(stream: String, pointer: &str, value: Value) -> Expect {
    Expect {
        stream,
        pointer: pointer.to_owned(),
        value,
    }
}

/// The number of steps of a script of `kind`.
pub fn steps(kind: u64) -> usize {
    match kind % KINDS {
        0 => 3,
        1 | 4 => 2,
        _ => 1,
    }
}

/// Step `step` of the script of `kind` for entity `id`, built now (timestamps and signatures
/// are for the moment it is sent).
pub fn request(kind: u64, id: &str, step: usize) -> Request {
    match kind % KINDS {
        0 => accounting(id, step),
        1 => roms(id, step),
        2 => exact_products(id),
        3 => exact_customers(id),
        4 => vendor(id, step),
        _ => stripe(id),
    }
}

fn accounting(id: &str, step: usize) -> Request {
    let status = ["pending", "processing", "completed"][step.min(2)];
    let body = json!({
        "orderId": format!("A-{id}"),
        "status": status,
        "amount": "12.50",
        "currency": "EUR",
        "webhookSecret": secret("ACCOUNTING_WEBHOOK_SECRET"),
    });
    Request {
        dialect: "accounting",
        path: "/api/webhooks/order-status",
        headers: json_headers(),
        body: body.to_string().into_bytes(),
        expect: expect(format!("order:accounting:A-{id}"), "/status", json!(status)),
    }
}

fn roms(id: &str, step: usize) -> Request {
    let status = ["pending", "shipped"][step.min(1)];
    let body = json!({
        "order_number": format!("R-{id}"),
        "product": "Campaign widget",
        "price": 19.99,
        "quantity": 2,
        "email": format!("r-{id}@example.com"),
        "status": status,
    })
    .to_string()
    .into_bytes();
    let mut headers = json_headers();
    headers.push((
        "X-Webhook-Signature".to_owned(),
        hmac_hex(secret("WEBHOOK_SECRET").as_bytes(), &body),
    ));
    Request {
        dialect: "roms",
        path: "/api/v2/webhooks/orders",
        headers,
        body,
        expect: expect(format!("order:roms:R-{id}"), "/status", json!(status)),
    }
}

fn exact_headers() -> Vec<(String, String)> {
    let mut headers = json_headers();
    headers.push((
        "X-Webhook-Secret".to_owned(),
        secret("EXACT_WEBHOOK_SECRET").to_owned(),
    ));
    headers
}

fn exact_products(id: &str) -> Request {
    let item = format!("X-{id}");
    let body = json!({
        "action": "sync_products",
        "products": [{"exact_item_id": item, "item_code": format!("SKU-{id}"),
                      "name": "Campaign sensor", "product_type": "SENSOR"}],
    });
    Request {
        dialect: "exact",
        path: "/functions/v1/webhook-receiver",
        headers: exact_headers(),
        body: body.to_string().into_bytes(),
        expect: expect(
            "catalog:exact".to_owned(),
            "/products/0/exact_item_id",
            json!(item),
        ),
    }
}

fn exact_customers(id: &str) -> Request {
    let customer = format!("C-{id}");
    let body = json!({
        "action": "sync_customers",
        "customers": [{"exact_customer_id": customer, "name": format!("Customer {id}"),
                       "email": format!("c-{id}@example.com")}],
    });
    Request {
        dialect: "exact",
        path: "/functions/v1/webhook-receiver",
        headers: exact_headers(),
        body: body.to_string().into_bytes(),
        expect: expect(
            "customers:exact".to_owned(),
            "/customers/0/exact_customer_id",
            json!(customer),
        ),
    }
}

fn vendor(id: &str, step: usize) -> Request {
    let now = domain::time::format_millis(Utc::now());
    let (status, previous) = [
        ("accepted", "pending"),
        ("payment_confirmed", "payment_requested"),
    ][step.min(1)];
    let body = json!({
        "orderId": format!("V-{id}"),
        "customerId": format!("vc-{id}"),
        "status": status,
        "previousStatus": previous,
        "updatedAt": now,
        "orderData": {"fare": "250.50", "currency": "INR", "paymentMethod": "cod"},
    });
    let mut headers = json_headers();
    headers.extend([
        (
            "x-vendor-server-secret".to_owned(),
            secret("CUSTOMER_SERVER_SECRET").to_owned(),
        ),
        (
            "x-webhook-event".to_owned(),
            "order.status_changed".to_owned(),
        ),
        ("x-webhook-timestamp".to_owned(), now),
    ]);
    Request {
        dialect: "vendor",
        path: "/api/vendor/order-updates",
        headers,
        body: body.to_string().into_bytes(),
        expect: expect(format!("order:vendor:V-{id}"), "/status", json!(status)),
    }
}

fn stripe(id: &str) -> Request {
    let t = Utc::now().timestamp();
    let event_id = format!("evt_{id}");
    let body = json!({
        "id": event_id, "object": "event", "created": t, "livemode": false,
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": format!("pi_{id}"), "object": "payment_intent",
            "amount": 3998, "amount_received": 3998, "currency": "usd", "status": "succeeded",
            "metadata": {"order_number": format!("R-{id}"), "source": "roms"},
            "last_payment_error": null}},
    })
    .to_string()
    .into_bytes();
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&body);
    let signature = hmac_hex(secret("STRIPE_WEBHOOK_SECRET").as_bytes(), &signed);
    let mut headers = json_headers();
    headers.push((
        "Stripe-Signature".to_owned(),
        format!("t={t},v1={signature}"),
    ));
    Request {
        dialect: "stripe",
        path: "/api/webhooks/stripe",
        headers,
        body,
        expect: expect(
            format!("payment:stripe:pi_{id}"),
            "/event_id",
            json!(event_id),
        ),
    }
}
