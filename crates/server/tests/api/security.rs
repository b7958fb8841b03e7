//! Security: bearer tokens (401 without or with a wrong one, 403 for a wrong role or another
//! tenant), tenant isolation, replay windows on the timestamped dialects, and the tidy rule
//! that secrets are only ever compared in constant time. (Secrets in logs, events, the request
//! log and error bodies: `crates/cli/tests/cli/campaigns.rs`, against the real binary; the
//! address guard: `outbound::guard`'s tests.)

use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{spawn_app_with, TestApp, ADMIN_TOKEN};

/// Every endpoint behind a bearer token: (method, path, body, needs admin).
fn bearer_endpoints() -> Vec<(&'static str, &'static str, Option<Value>, bool)> {
    vec![
        ("GET", "/api/events", None, false),
        ("GET", "/api/events/1", None, false),
        ("GET", "/api/orders/accounting/SEC-1", None, false),
        ("GET", "/api/work-orders/x", None, false),
        ("GET", "/api/verify", None, false),
        ("GET", "/api/digest", None, false),
        ("GET", "/api/ledger/trial-balance", None, false),
        ("GET", "/api/ledger/journal", None, false),
        ("GET", "/api/ledger/register?account=Assets", None, false),
        ("GET", "/api/v2/webhooks/logs", None, false),
        ("GET", "/api/v1/tenant/webhooks/deliveries", None, false),
        ("GET", "/api/v1/tenant/webhooks/deliveries/x", None, false),
        ("GET", "/api/v1/tenant/webhooks/subscriptions", None, true),
        (
            "POST",
            "/api/v1/tenant/webhooks/subscriptions",
            Some(json!({"url": "http://127.0.0.1:9/h", "event": "*"})),
            true,
        ),
        (
            "DELETE",
            "/api/v1/tenant/webhooks/subscriptions/x",
            None,
            true,
        ),
        (
            "POST",
            "/api/v1/tenant/webhooks/subscriptions/x/rotate-secret",
            Some(json!({})),
            true,
        ),
        (
            "POST",
            "/api/v1/tenant/webhooks/subscriptions/x/redeliver",
            Some(json!({"since_seq": 1})),
            true,
        ),
        (
            "POST",
            "/api/v1/tenant/webhooks/deliveries/x/retry",
            None,
            true,
        ),
        (
            "POST",
            "/api/v1/tenant/tokens",
            Some(json!({"role": "auditor"})),
            true,
        ),
    ]
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: &Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The error text of an answer, in `{error}` or seed 001's `{detail}`.
fn error_text(body: &Value) -> &str {
    body["error"]
        .as_str()
        .or_else(|| body["detail"].as_str())
        .unwrap_or("")
}

#[tokio::test]
async fn every_bearer_endpoint_is_401_without_or_with_a_wrong_token_and_403_for_an_auditor_on_writes(
) {
    let app = spawn_app_with(|s| s.allow_private_urls = vec!["127.0.0.1".into()]).await;
    let auditor = app.token("auditor").await;
    for (method, path, body, admin_only) in bearer_endpoints() {
        for token in [None, Some("wrong-token"), Some(""), Some("Bearer")] {
            let (status, answer) = call(&app, method, path, &body, token).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert!(
                !error_text(&answer).is_empty(),
                "{method} {path}: a JSON reason"
            );
        }
        let (status, answer) = call(&app, method, path, &body, Some(&auditor)).await;
        if admin_only {
            assert_eq!(status, 403, "{method} {path} as auditor: {answer}");
            assert!(error_text(&answer).contains("admin"), "{answer}");
        } else {
            assert!(
                status != 401 && status != 403,
                "{method} {path} as auditor: {status}"
            );
        }
        let (status, _) = call(&app, method, path, &body, Some(ADMIN_TOKEN)).await;
        assert!(
            status != 401 && status != 403,
            "{method} {path} as admin: {status}"
        );
    }
}

const OTHER_TENANT: &str = "11111111-1111-1111-1111-111111111111";

/// Stores a token of another tenant, as a second tenant's admin would hold.
async fn other_tenant_token(app: &TestApp, role: &'static str) -> String {
    let token = format!("hl_other_tenant_{role}");
    let stored = token.clone();
    app.state
        .writer
        .submit(move |ctx| {
            let now = domain::time::format_micros(Utc::now());
            store::ops::insert_token(ctx.deliveries().conn(), &stored, role, OTHER_TENANT, &now)
        })
        .await
        .expect("writer")
        .expect("token stored");
    token
}

#[tokio::test]
async fn a_second_tenant_cannot_read_or_change_the_first_tenants_data() {
    let app = spawn_app_with(|s| {
        s.ingest = ingest::fixtures::test_settings();
        s.allow_private_urls = vec!["127.0.0.1".into()];
    })
    .await;
    // The first tenant's data: an order (events, ledger), a subscription.
    for status in ["pending", "processing"] {
        let body = format!(
            r#"{{"orderId":"SEC-1","status":"{status}","amount":"10.00","webhookSecret":"test-accounting-secret"}}"#
        );
        assert_eq!(
            app.post_text("/api/webhooks/order-status", &[], &body)
                .await
                .status(),
            200
        );
    }
    let subscription: Value = app
        .post_json_as(
            "/api/v1/tenant/webhooks/subscriptions",
            ADMIN_TOKEN,
            json!({"url": "http://127.0.0.1:9/h", "event": "*"}),
        )
        .await
        .json()
        .await
        .expect("json");
    let subscription_id = subscription["id"].as_str().expect("id").to_owned();
    let digest_before = app.get_json("/api/digest").await;
    let events_before = app.events_count().await;

    for role in ["admin", "auditor"] {
        let token = other_tenant_token(&app, role).await;
        let mut endpoints = bearer_endpoints();
        endpoints.push(("DELETE", "", None, true));
        for (method, path, body, _) in endpoints {
            let path = if path.is_empty() {
                format!("/api/v1/tenant/webhooks/subscriptions/{subscription_id}")
            } else {
                path.replace("/x", &format!("/{subscription_id}"))
            };
            let (status, answer) = call(&app, method, &path, &body, Some(&token)).await;
            assert_eq!(
                status, 403,
                "{role} of another tenant: {method} {path}: {answer}"
            );
            assert!(error_text(&answer).contains(OTHER_TENANT), "{answer}");
        }
    }
    // Nothing changed, and the first tenant still sees everything.
    assert_eq!(app.get_json("/api/digest").await, digest_before);
    assert_eq!(app.events_count().await, events_before);
    let subscriptions = app.get_json("/api/v1/tenant/webhooks/subscriptions").await;
    assert_eq!(
        subscriptions["subscriptions"].as_array().map(Vec::len),
        Some(1)
    );
    let order = app.get_json("/api/orders/accounting/SEC-1").await;
    assert_eq!(order["events"].as_array().map(Vec::len), Some(2));
}

fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_captured_stripe_or_vendor_request_replayed_outside_its_window_is_refused_and_inside_it_appends_nothing(
) {
    let app = spawn_app_with(|s| s.ingest = ingest::fixtures::test_settings()).await;
    let secret = ingest::fixtures::TEST_SECRETS[4].1;
    let body = r#"{"id":"evt_replay","object":"event","type":"charge.refunded","created":1,"livemode":false,"data":{"object":{"id":"ch_1"}}}"#;
    let now = Utc::now().timestamp();
    // 10 s past the 300 s window either way: a test that waits for a busy machine for a second
    // or two between `now` and the server's check still sends a request outside it.
    for (t, expected) in [(now - 310, 401), (now + 310, 401), (now, 200), (now, 200)] {
        let signature = stripe_signature(secret, t, body);
        let response = app
            .post_text(
                "/api/webhooks/stripe",
                &[("stripe-signature", &signature)],
                body,
            )
            .await;
        assert_eq!(response.status(), expected, "t = now {:+}", t - now);
    }
    assert_eq!(
        app.events_count().await,
        1,
        "the replay within the window is a duplicate"
    );

    let vendor_secret = ingest::fixtures::TEST_SECRETS[3].1;
    let vendor = r#"{"orderId":"V-REPLAY","status":"accepted","previousStatus":"pending"}"#;
    let at = |offset_s: i64| {
        domain::time::format_millis(Utc::now() + chrono::Duration::seconds(offset_s))
    };
    for (timestamp, expected) in [
        (at(-310), 401),
        (at(310), 401),
        (at(0), 200),
        (at(-10), 200),
    ] {
        let response = app
            .post_text(
                "/api/vendor/order-updates",
                &[
                    ("x-vendor-server-secret", vendor_secret),
                    ("x-webhook-timestamp", &timestamp),
                ],
                vendor,
            )
            .await;
        assert_eq!(
            response.status(),
            expected,
            "x-webhook-timestamp {timestamp}"
        );
    }
    assert_eq!(app.events_count().await, 2);
}

#[test]
fn secrets_tokens_and_signatures_are_never_compared_with_eq() {
    // Library code compares them only through `Secret::matches` / `signature_matches`
    // (SHA-256 digests compared with `subtle`); a plain `==` on a line naming one is refused.
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut offenders = Vec::new();
    let mut stack = vec![crates];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n != "tests" && n != "target")
                {
                    stack.push(path);
                }
                continue;
            }
            // The fuzz targets' oracles compare with `==` on purpose (`ingest::fuzz`).
            let oracle = path.file_name().is_some_and(|n| n == "fuzz.rs");
            if oracle
                || path.extension().is_none_or(|e| e != "rs")
                || !path.to_string_lossy().contains("/src/")
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let library = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in library.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("").to_ascii_lowercase();
                let compares = code.contains("==") || code.contains("!=");
                let names = ["secret", "token", "signature", "expose()", "hmac"];
                if compares && names.iter().any(|w| code.contains(w)) {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "compare these in constant time: {offenders:#?}"
    );
}
