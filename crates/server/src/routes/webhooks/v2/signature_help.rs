//! `GET /api/v2/webhooks/signature-help`: how to sign seed 001's order webhook, with the seed's
//! own examples; public.

use actix_web::{web, HttpResponse};
use ingest::Dialect;
use serde_json::json;

use crate::state::AppState;

// The seed's own examples, verbatim. They sign `json.dumps(payload)` / `JSON.stringify(payload)`
// and send `json=payload` / `payload`, which their HTTP clients serialise to the same bytes.
const PYTHON: &str = r#"import hmac
import hashlib
import json
import requests

# Your payload
payload = {
    "order_number": "12345",
    "product": "Nike Shoes",
    "price": 99.99
}

# Convert to JSON string
payload_string = json.dumps(payload)

# Your secret (set in backend-v2/.env)
secret = "your-webhook-secret"

# Generate signature
signature = hmac.new(
    secret.encode(),
    payload_string.encode(),
    hashlib.sha256
).hexdigest()

# Send request
headers = {
    "Content-Type": "application/json",
    "X-Webhook-Signature": signature
}

response = requests.post(
    "http://localhost:8001/api/v2/webhooks/orders",
    json=payload,
    headers=headers
)"#;

const NODE: &str = r#"const crypto = require('crypto');
const axios = require('axios');

const payload = {
    order_number: "12345",
    product: "Nike Shoes",
    price: 99.99
};

const payloadString = JSON.stringify(payload);
const secret = "your-webhook-secret";

const signature = crypto
    .createHmac('sha256', secret)
    .update(payloadString)
    .digest('hex');

axios.post('http://localhost:8001/api/v2/webhooks/orders', payload, {
    headers: {
        'Content-Type': 'application/json',
        'X-Webhook-Signature': signature
    }
});"#;

const CURL: &str = r#"SECRET="your-webhook-secret"
PAYLOAD='{"order_number":"12345","product":"Nike Shoes","price":99.99}'
SIGNATURE=$(echo -n "$PAYLOAD" | openssl dgst -sha256 -hmac "$SECRET" | cut -d' ' -f2)

curl -X POST http://localhost:8001/api/v2/webhooks/orders \
  -H "Content-Type: application/json" \
  -H "X-Webhook-Signature: $SIGNATURE" \
  -d "$PAYLOAD""#;

/// How to compute `X-Webhook-Signature`, with examples in Python, Node.js and curl.
#[utoipa::path(get, path = "/api/v2/webhooks/signature-help", tag = "inbound",
    responses((status = 200, description = "`{header, algorithm, signed_content, …, examples: {python, nodejs, curl}}`")))]
pub async fn signature_help(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "header": "X-Webhook-Signature",
        "algorithm": "HMAC-SHA256",
        "encoding": "hex (lower or upper case; an optional \"sha256=\" prefix is accepted)",
        "signed_content": "the raw request body, byte for byte as sent: sign the exact string you send, not a re-serialisation of it",
        "secret": "WEBHOOK_SECRET: set it on this server and give the same value to your software",
        "signature_required": state.settings.ingest.webhook_secret.is_some(),
        "when_required": "once WEBHOOK_SECRET is set, every POST /api/v2/webhooks/orders needs the header; without WEBHOOK_SECRET no signature is needed and one sent is not checked",
        "errors": {
            "missing": {"status": 401, "body": {"detail": "Missing X-Webhook-Signature header"}},
            "invalid": {"status": 401, "body": {"detail": "Invalid signature"}},
        },
        "examples": {"python": PYTHON, "nodejs": NODE, "curl": CURL},
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routes::webhooks::resource(
        "/api/v2/webhooks/signature-help",
        Dialect::Roms,
        "GET",
        web::get().to(signature_help),
    ));
}
