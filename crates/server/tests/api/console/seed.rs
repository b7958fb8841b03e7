//! A service with a small, real history for the console's tests and screenshots: orders from
//! three upstreams over HTTP (their own webhooks), a Stripe payment, a work order, and a
//! subscriber that always answers 500, so that some deliveries end dead.
//!
//! Self-contained (the screenshot example includes this file too): it starts its own server
//! and its own failing receiver.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use server::{Application, Settings};
use sha2::Sha256;

pub const ADMIN_TOKEN: &str = "console-admin-token";
const ACCOUNTING_SECRET: &str = "console-accounting-secret";
const STRIPE_SECRET: &str = "whsec_console_stripe";

/// The seeded service.
pub struct Seeded {
    pub address: String,
    pub client: reqwest::Client,
    pub auditor_token: String,
    _dir: tempfile::TempDir,
}

/// A receiver on 127.0.0.1 that answers every request 500.
async fn failing_receiver() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;
                let answer = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 21\r\nconnection: close\r\n\r\nthe receiver is down.";
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/hooks")
}

impl Seeded {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET path` with the admin token, as JSON.
    pub async fn api(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    pub async fn post(&self, path: &str, headers: &[(&str, String)], body: &Value) -> Value {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .bearer_auth(ADMIN_TOKEN);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = response.status();
        let answer: Value = response.json().await.expect("json");
        assert!(status.is_success(), "POST {path}: {status} {answer}");
        answer
    }

    /// A seed 001 (ROMS) order webhook.
    pub async fn roms(&self, body: Value) -> Value {
        self.post("/api/v2/webhooks/orders", &[], &body).await
    }

    /// A seed 000 (web shop) order status webhook, its secret in the body.
    pub async fn accounting(&self, order: &str, status: &str, amount: Option<&str>) -> Value {
        let mut body =
            json!({ "orderId": order, "status": status, "webhookSecret": ACCOUNTING_SECRET });
        if let Some(amount) = amount {
            body["amount"] = json!(amount.parse::<f64>().expect("amount"));
            body["currency"] = json!("EUR");
        }
        self.post("/api/webhooks/order-status", &[], &body).await
    }

    /// A Stripe `payment_intent.succeeded` for a ROMS order, signed as Stripe signs.
    pub async fn stripe_payment(&self, event_id: &str, order_number: &str, amount_minor: i64) {
        let body = json!({
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": 1_704_897_000,
            "livemode": false,
            "data": { "object": {
                "id": format!("pi_{event_id}"),
                "object": "payment_intent",
                "amount": amount_minor,
                "currency": "usd",
                "metadata": { "order_number": order_number, "source": "roms" }
            }}
        })
        .to_string();
        let t = chrono::Utc::now().timestamp();
        let mut mac = Hmac::<Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        let signature = hex::encode(mac.finalize().into_bytes());
        let response = self
            .client
            .post(self.url("/api/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", format!("t={t},v1={signature}"))
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "stripe webhook");
    }

    /// The deliveries listed by the API with `query`.
    pub async fn deliveries(&self, query: &str) -> Vec<Value> {
        let body = self
            .api(&format!("/api/v1/tenant/webhooks/deliveries{query}"))
            .await;
        body["deliveries"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (10 s at most) until some delivery is dead; returns the dead ones.
    pub async fn dead_deliveries(&self) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let dead = self.deliveries("?status=dead").await;
            if !dead.is_empty() {
                return dead;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no delivery died"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Starts the service and writes the history.
pub async fn seeded() -> Seeded {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        db: dir.path().join("hookledger.db"),
        bind: "127.0.0.1:0".into(),
        admin_token: Some(ingest::Secret::new(ADMIN_TOKEN)),
        retry_delays: [30, 60, 90].map(Duration::from_millis).to_vec(),
        delivery_timeout: Duration::from_secs(3),
        allow_private_urls: vec!["127.0.0.1".into()],
        ..Settings::default()
    };
    settings.ingest.accounting_webhook_secret = Some(ingest::Secret::new(ACCOUNTING_SECRET));
    settings.ingest.stripe_webhook_secret = Some(ingest::Secret::new(STRIPE_SECRET));
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let mut seeded = Seeded {
        address,
        client: reqwest::Client::new(),
        auditor_token: String::new(),
        _dir: dir,
    };
    let receiver = failing_receiver().await;
    seeded
        .post(
            "/api/v1/tenant/webhooks/subscriptions",
            &[],
            &json!({ "url": receiver, "event": "sales_order.*" }),
        )
        .await;
    let minted = seeded
        .post("/api/v1/tenant/tokens", &[], &json!({ "role": "auditor" }))
        .await;
    seeded.auditor_token = minted["token"].as_str().expect("token").to_owned();
    write_history(&seeded).await;
    seeded
}

async fn write_history(s: &Seeded) {
    s.roms(json!({
        "order_number": "ORD-1001", "product": "Trail Shoes", "price": 120.00, "quantity": 1,
        "commission": 6.50, "email": "ada@example.com", "customer_name": "Ada Lovelace",
        "status": "pending"
    }))
    .await;
    s.roms(json!({ "order_number": "ORD-1001", "status": "confirmed" }))
        .await;
    s.roms(json!({
        "order_number": "ORD-1002", "product": "Rain Jacket", "price": 89.90, "quantity": 2,
        "email": "grace@example.com", "status": "confirmed"
    }))
    .await;
    s.stripe_payment("evt_console_1", "ORD-1001", 12_000).await;
    s.accounting("WS-2001", "pending", Some("250.00")).await;
    s.accounting("WS-2001", "processing", Some("250.00")).await;
    s.roms(json!({ "order_number": "ORD-1003", "product": "Socks", "price": 9.50, "status": "confirmed" }))
        .await;
    s.roms(json!({ "order_number": "ORD-1003", "status": "cancelled" }))
        .await;
    s.accounting("WS-2001", "completed", Some("250.00")).await;
}
