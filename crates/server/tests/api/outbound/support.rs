//! A service that can be stopped and started again on the same database, outbox rows inserted
//! through a writer job (as the projectors will), and the calls the outbound tests make.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use server::{AppState, Application, Settings};
use store::projection::OutboxRow;

use crate::helpers::ADMIN_TOKEN;

/// The retry schedule of the tests: seed 003's shape, 20 times shorter.
pub const DELAYS_MS: [u64; 3] = [50, 100, 150];

pub struct Service {
    pub address: String,
    pub client: reqwest::Client,
    pub state: AppState,
    stop: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Test settings: short delays, loopback allow-listed, then `customise`.
pub fn settings(db: &Path, customise: impl FnOnce(&mut Settings)) -> Settings {
    let mut settings = Settings {
        db: db.to_path_buf(),
        bind: "127.0.0.1:0".into(),
        admin_token: Some(ingest::Secret::new(ADMIN_TOKEN)),
        retry_delays: DELAYS_MS.map(Duration::from_millis).to_vec(),
        delivery_timeout: Duration::from_secs(3),
        allow_private_urls: vec!["127.0.0.1".into()],
        ..Settings::default()
    };
    customise(&mut settings);
    settings
}

/// Starts the service on the database at `db`.
pub async fn start(db: &Path, customise: impl FnOnce(&mut Settings)) -> Service {
    let app = Application::build(settings(db, customise))
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    let stop = app.stop_handle();
    let task = tokio::spawn(app.run_until_stopped());
    Service {
        address,
        client: reqwest::Client::new(),
        state,
        stop,
        task,
    }
}

/// An outbox row as a projector would write it.
pub fn row(id: &str, seq: u64, event: &str, destination: &str, payload: Value) -> OutboxRow {
    OutboxRow {
        id: id.to_owned(),
        seq,
        event: event.to_owned(),
        destination: destination.to_owned(),
        stream: "order/roms/1001".to_owned(),
        recorded_at: "2024-01-10T14:30:00.123456Z".to_owned(),
        payload: payload.to_string(),
    }
}

impl Service {
    /// Stops the server and the delivery worker, releasing the database.
    pub async fn stop(self) {
        self.stop.stop(false).await;
        let _ = self.task.await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Inserts outbox rows through a writer job, as the projectors do.
    pub async fn insert_outbox(&self, rows: Vec<OutboxRow>) {
        self.state
            .writer
            .submit(move |ctx| {
                for row in &rows {
                    ctx.projections().insert_outbox(row)?;
                }
                Ok::<_, store::StoreError>(())
            })
            .await
            .expect("writer")
            .expect("insert");
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json")
    }

    /// Creates a subscription and returns the 201 body.
    pub async fn subscribe(&self, body: Value) -> Value {
        let response = self
            .post("/api/v1/tenant/webhooks/subscriptions", body)
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.expect("json")
    }

    pub async fn subscribe_to(&self, url: &str, event: &str, secret: &str) -> Value {
        self.subscribe(json!({ "url": url, "event": event, "secret": secret }))
            .await
    }

    pub async fn deliveries(&self, query: &str) -> Vec<Value> {
        let body = self
            .get(&format!("/api/v1/tenant/webhooks/deliveries{query}"))
            .await;
        body["deliveries"].as_array().expect("deliveries").clone()
    }

    /// Waits until the delivery of `outbox_id` (to `subscription_id`, if given) reaches
    /// `status`, and returns it with its attempts.
    pub async fn wait_for_status(
        &self,
        outbox_id: &str,
        subscription_id: Option<&str>,
        status: &str,
        within: Duration,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let all = self.all_deliveries().await;
            let hit = all.into_iter().find(|d| {
                d["outbox_id"] == outbox_id
                    && subscription_id.is_none_or(|s| d["subscription_id"] == s)
            });
            if let Some(d) = hit.filter(|d| d["status"] == status) {
                let id = d["id"].as_str().expect("id");
                return self
                    .get(&format!("/api/v1/tenant/webhooks/deliveries/{id}"))
                    .await;
            }
            assert!(
                Instant::now() < deadline,
                "delivery of {outbox_id} did not become {status} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every delivery whatever its status (skipped ones included).
    pub async fn all_deliveries(&self) -> Vec<Value> {
        let mut all = self.deliveries("?limit=1000").await;
        all.extend(self.deliveries("?limit=1000&status=skipped").await);
        all
    }

    /// Mints a token with `role`.
    pub async fn token(&self, role: &str) -> String {
        let response = self
            .post("/api/v1/tenant/tokens", json!({ "role": role }))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `/metrics` once it contains `needle` (or fails after `within`).
    pub async fn metrics_until(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.metrics().await;
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "/metrics did not show {needle} within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    }
}
