//! `spawn_app()`: the real server on port 0 with its own temporary SQLite file.

use reqwest::{Client, Response};
use server::{Application, Settings};

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// The running service's state (its writer, request log, settings), for tests that reach
    /// behind the HTTP surface (holding the writer, say).
    pub state: server::AppState,
    /// Keeps the temporary database alive as long as the app.
    pub _dir: tempfile::TempDir,
}

/// Starts the service with default settings, an admin token and `customise` applied.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings {
        db: dir.path().join("hookledger.db"),
        bind: "127.0.0.1:0".into(),
        admin_token: Some(ingest::Secret::new(ADMIN_TOKEN)),
        ..Settings::default()
    };
    customise(&mut settings);
    let app = Application::build(settings).await.expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: Client::new(),
        state,
        _dir: dir,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.get_as(path, ADMIN_TOKEN).await;
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("json")
    }

    pub async fn post_json_as(&self, path: &str, token: &str, body: serde_json::Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Mints a token with `role` through the API.
    pub async fn token(&self, role: &str) -> String {
        let response = self
            .post_json_as(
                "/api/v1/tenant/tokens",
                ADMIN_TOKEN,
                serde_json::json!({ "role": role }),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `POST path` with exactly these headers and body bytes.
    pub async fn post_raw(
        &self,
        path: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Response {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        request.send().await.expect("request")
    }

    /// `POST path` with a JSON body (sent as the given text) and extra headers.
    pub async fn post_text(&self, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let mut all = vec![("content-type".to_owned(), "application/json".to_owned())];
        all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self.post_raw(path, &all, body.as_bytes().to_vec()).await
    }

    /// `/health`'s event count; it also proves that the server still serves.
    pub async fn events_count(&self) -> u64 {
        let response = self.get("/health").await;
        assert_eq!(response.status(), 200, "/health");
        let body: serde_json::Value = response.json().await.expect("json");
        body["events"].as_u64().expect("events")
    }

    /// A GET with the admin token, its body read as exact JSON (numbers as sent).
    pub async fn get_exact(&self, path: &str) -> domain::Json {
        let response = self.get_as(path, ADMIN_TOKEN).await;
        assert_eq!(response.status(), 200, "GET {path}");
        let bytes = response.bytes().await.expect("body");
        domain::Json::parse(&bytes).expect("JSON")
    }

    /// The request log as `/api/v2/webhooks/logs?limit=` shows it to the admin.
    pub async fn request_log(&self, limit: u64) -> Vec<serde_json::Value> {
        let body = self
            .get_json(&format!("/api/v2/webhooks/logs?limit={limit}"))
            .await;
        body["logs"].as_array().expect("logs").clone()
    }
}
