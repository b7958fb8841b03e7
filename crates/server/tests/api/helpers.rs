//! `spawn_app()`: the real server on port 0 with its own temporary SQLite file.

use reqwest::{Client, Response};
use server::{Application, Settings};

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct TestApp {
    pub address: String,
    pub client: Client,
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
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: Client::new(),
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
}
