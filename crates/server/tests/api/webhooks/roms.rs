//! Seed 001, `/api/v2/webhooks/...`: the order webhook and its three companions.

use ingest::Dialect;
use serde_json::Value;

use crate::fixtures::check_every_fixture;
use crate::helpers::{spawn_app, spawn_app_with, ADMIN_TOKEN};

#[tokio::test]
async fn every_roms_fixture_gets_its_expected_answer_over_http() {
    assert!(check_every_fixture(Dialect::Roms).await >= 40);
}

#[tokio::test]
async fn the_test_endpoint_answers_as_the_seed_shows_without_a_token() {
    let app = spawn_app().await;
    let response = app.get("/api/v2/webhooks/test").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["message"], "Webhook endpoint is operational");
    assert_eq!(body["signature_required"], false);
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(
        domain::time::parse_rfc3339(timestamp).is_some(),
        "{timestamp}"
    );
    assert!(timestamp.ends_with('Z'));
    assert_eq!(body.as_object().expect("object").len(), 4);

    let signed = spawn_app_with(|s| {
        s.ingest.webhook_secret = Some(ingest::Secret::new("test-roms-secret"));
    })
    .await;
    let body: Value = signed
        .get("/api/v2/webhooks/test")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["signature_required"], true);
}

#[tokio::test]
async fn signature_help_explains_the_hmac_with_the_seeds_examples() {
    let app = spawn_app().await;
    let response = app.get("/api/v2/webhooks/signature-help").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["header"], "X-Webhook-Signature");
    assert_eq!(body["algorithm"], "HMAC-SHA256");
    for language in ["python", "nodejs", "curl"] {
        let example = body["examples"][language].as_str().expect(language);
        assert!(example.contains("X-Webhook-Signature"), "{language}");
    }
    assert!(body["examples"]["curl"]
        .as_str()
        .expect("curl")
        .contains("openssl dgst -sha256 -hmac"));
}

#[tokio::test]
async fn the_logs_need_a_bearer_token_and_answer_errors_as_detail() {
    let app = spawn_app().await;
    for token in [None, Some("nope")] {
        let response = match token {
            None => app.get("/api/v2/webhooks/logs").await,
            Some(token) => app.get_as("/api/v2/webhooks/logs", token).await,
        };
        assert_eq!(response.status(), 401);
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let body: Value = response.json().await.expect("json");
        assert!(body["detail"].is_string(), "{body}");
    }
    let auditor = app.token("auditor").await;
    assert_eq!(
        app.get_as("/api/v2/webhooks/logs", &auditor).await.status(),
        200
    );
    for query in ["limit=0", "limit=abc", "limit=-3", "limit=%ZZ"] {
        let response = app
            .get_as(&format!("/api/v2/webhooks/logs?{query}"), ADMIN_TOKEN)
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.expect("json");
        assert!(body["detail"].is_string(), "{query}: {body}");
    }
}

#[tokio::test]
async fn the_logs_limit_defaults_to_50_and_is_capped_at_1000() {
    let app = spawn_app().await;
    for n in 0..55 {
        let body = format!(r#"{{"order_number":"N-{n}"}}"#);
        let response = app.post_text("/api/v2/webhooks/orders", &[], &body).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.request_log(3).await.len(), 3);
    let default: Value = app.get_json("/api/v2/webhooks/logs").await;
    assert_eq!(default["logs"].as_array().expect("logs").len(), 50);
    assert_eq!(app.request_log(5000).await.len(), 55);
    let newest = &app.request_log(1).await[0];
    assert!(newest["body"].as_str().expect("body").contains("N-54"));
}

#[tokio::test]
async fn the_seeds_signed_examples_are_accepted_byte_for_byte() {
    use hmac::{Hmac, Mac};
    let app = spawn_app_with(|s| {
        s.ingest.webhook_secret = Some(ingest::Secret::new("your-webhook-secret"));
    })
    .await;
    let sign = |payload: &str| {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(b"your-webhook-secret").expect("any key length");
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    };
    // The curl example's payload, then what Python's json.dumps sends for the same order.
    let curl = r#"{"order_number":"12345","product":"Nike Shoes","price":99.99}"#;
    let python = r#"{"order_number": "12345", "product": "Nike Shoes", "price": 99.99}"#;
    for payload in [curl, python] {
        let signature = sign(payload);
        let response = app
            .post_text(
                "/api/v2/webhooks/orders",
                &[("x-webhook-signature", &signature)],
                payload,
            )
            .await;
        assert_eq!(response.status(), 200, "{payload}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["order_id"], 1);
        assert_eq!(body["order_number"], "12345");
    }
    let unsigned = app.post_text("/api/v2/webhooks/orders", &[], curl).await;
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"detail": "Missing X-Webhook-Signature header"})
    );
}
