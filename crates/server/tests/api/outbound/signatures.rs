//! Signatures checked with an implementation written here from the two documents, not with
//! the crate's own code.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::receiver::{spawn_receiver, Received, Reply};
use super::support::{row, start};

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Seed 004: hex HMAC-SHA256 of the body, keyed by the secret's bytes as given.
pub fn x_signature_verifies(secret: &str, request: &Received) -> bool {
    hex::encode(hmac_sha256(secret.as_bytes(), request.body.as_bytes()))
        == request.header("x-signature")
}

/// Standard Webhooks: which of the space-separated `v1,` signatures `secret` produced (by
/// position), over `id.timestamp.body`, keyed by the decoded `whsec_` rest or the raw secret.
pub fn standard_signature_matches(secret: &str, request: &Received) -> Vec<usize> {
    let key = match secret.strip_prefix("whsec_") {
        Some(rest) => BASE64.decode(rest).expect("base64 secret"),
        None => secret.as_bytes().to_vec(),
    };
    let signed = format!(
        "{}.{}.{}",
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.body
    );
    let expected = format!("v1,{}", BASE64.encode(hmac_sha256(&key, signed.as_bytes())));
    request
        .header("webhook-signature")
        .split(' ')
        .enumerate()
        .filter(|(_, s)| *s == expected)
        .map(|(idx, _)| idx)
        .collect()
}

#[tokio::test]
async fn subscribers_get_standard_webhooks_bodies_whose_signatures_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(200)]).await;
    let whsec = app
        .subscribe(json!({ "url": receiver.url, "event": "payment.received" }))
        .await;
    let whsec_secret = whsec["secret"]
        .as_str()
        .expect("generated secret")
        .to_owned();
    assert!(whsec_secret.starts_with("whsec_"));
    assert_eq!(BASE64.decode(&whsec_secret[6..]).expect("base64").len(), 32);
    let plain = app
        .subscribe_to(&receiver.url, "*", "test-secret-key")
        .await;

    let payload =
        json!({ "payment_id": "pi_1", "amount": 12.5, "amount_minor": 1250, "currency": "USD" });
    app.insert_outbox(vec![row(
        "o-sig",
        1,
        "payment.received",
        "subscribers",
        payload.clone(),
    )])
    .await;
    let received = receiver.wait_for(2, Duration::from_secs(5)).await;
    let now = chrono::Utc::now().timestamp();
    for request in &received {
        let body = request.json();
        assert_eq!(body["type"], "payment.received");
        assert_eq!(body["timestamp"], "2024-01-10T14:30:00.123Z");
        assert_eq!(body["data"], payload);
        assert_eq!(request.header("content-type"), "application/json");
        let timestamp: i64 = request
            .header("webhook-timestamp")
            .parse()
            .expect("unix seconds");
        assert!((now - timestamp).abs() < 30);
    }
    let by_secret = |secret: &str| {
        received
            .iter()
            .find(|r| x_signature_verifies(secret, r))
            .unwrap_or_else(|| panic!("no request verifies with {secret}"))
            .clone()
    };
    let to_whsec = by_secret(&whsec_secret);
    let to_plain = by_secret("test-secret-key");
    assert_eq!(
        standard_signature_matches(&whsec_secret, &to_whsec),
        vec![0]
    );
    assert_eq!(
        standard_signature_matches("test-secret-key", &to_plain),
        vec![0]
    );
    assert!(standard_signature_matches("wrong", &to_plain).is_empty());

    // webhook-id is the delivery's id; both deliveries settle as delivered, once.
    for (subscription, request) in [(&whsec, &to_whsec), (&plain, &to_plain)] {
        let id = subscription["id"].as_str().expect("id");
        let delivery = app
            .wait_for_status("o-sig", Some(id), "delivered", Duration::from_secs(5))
            .await;
        assert_eq!(delivery["id"], request.header("webhook-id"));
        assert_eq!(delivery["attempts"], 1);
        assert_eq!(delivery["attempt_history"][0]["status_code"], 200);
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"webhook_deliveries_total{event="payment.received",status="delivered",tenant_id="00000000-0000-0000-0000-000000000000"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"webhook_delivery_duration_seconds_count{event="payment.received",tenant_id="00000000-0000-0000-0000-000000000000"} 2"#));
    assert!(metrics.contains("hookledger_outbox_backlog"));
    assert!(metrics.contains("hookledger_outbox_oldest_pending_seconds"));
    receiver
        .assert_total_after(2, Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_during_its_grace_period() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let receiver = spawn_receiver(vec![Reply::Status(200)]).await;
    let subscription = app
        .subscribe_to(&receiver.url, "*", "old-secret-0123456789")
        .await;
    let id = subscription["id"].as_str().expect("id");
    let rotated = app
        .post(
            &format!("/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret"),
            json!({ "grace_period_seconds": 3600 }),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: serde_json::Value = rotated.json().await.expect("json");
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert!(new_secret.starts_with("whsec_"));
    assert!(rotated["previous_secret_expires_at"].is_string());

    app.insert_outbox(vec![row(
        "o-rot",
        1,
        "customer.created",
        "subscribers",
        json!({"id": 1}),
    )])
    .await;
    let request = receiver.wait_for(1, Duration::from_secs(5)).await[0].clone();
    assert_eq!(request.header("webhook-signature").split(' ').count(), 2);
    assert_eq!(standard_signature_matches(new_secret, &request), vec![0]);
    assert_eq!(
        standard_signature_matches("old-secret-0123456789", &request),
        vec![1]
    );
    assert!(x_signature_verifies(new_secret, &request));

    // Without a grace period, only the new secret signs.
    let again = app
        .post(
            &format!("/api/v1/tenant/webhooks/subscriptions/{id}/rotate-secret"),
            json!({ "secret": "newest-secret-0123456789", "grace_period_seconds": 0 }),
        )
        .await;
    assert_eq!(again.status(), 200);
    app.insert_outbox(vec![row(
        "o-rot2",
        2,
        "customer.created",
        "subscribers",
        json!({"id": 2}),
    )])
    .await;
    let request = receiver.wait_for(2, Duration::from_secs(5)).await[1].clone();
    assert_eq!(request.header("webhook-signature").split(' ').count(), 1);
    assert_eq!(
        standard_signature_matches("newest-secret-0123456789", &request),
        vec![0]
    );
}
