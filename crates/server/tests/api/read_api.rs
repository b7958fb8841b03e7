use crate::helpers::{spawn_app, spawn_app_with, ADMIN_TOKEN};

#[tokio::test]
async fn health_is_public_and_counts_events() {
    let app = spawn_app().await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({ "status": "ok", "events": 0, "head_seq": 0 })
    );
}

#[tokio::test]
async fn docs_and_openapi_are_served_offline() {
    let app = spawn_app().await;
    let page = app.get("/docs").await;
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .expect("text")
        .contains("swagger-ui-bundle.js"));
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    let spec: serde_json::Value = app.get("/openapi.json").await.json().await.expect("json");
    // Every endpoint the contract names outside the ledger (documented with its own routes).
    for path in [
        "/health",
        "/docs",
        "/openapi.json",
        "/metrics",
        "/api/events",
        "/api/events/{seq}",
        "/api/orders/{source}/{ref}",
        "/api/work-orders/{id}",
        "/api/verify",
        "/api/digest",
        "/api/v1/tenant/tokens",
        "/api/v1/tenant/webhooks/subscriptions",
        "/api/v1/tenant/webhooks/subscriptions/{id}",
        "/api/v1/tenant/webhooks/deliveries",
        "/api/v1/tenant/webhooks/deliveries/{id}/retry",
        "/api/external/webhook-test",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} missing");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_with_ingest_figures() {
    let app = spawn_app().await;
    let text = app.get("/metrics").await.text().await.expect("text");
    assert!(text.contains("hookledger_events_appended_total 0"));
    assert!(text.contains("# TYPE hookledger_writer_commit_seconds histogram"));
}

#[tokio::test]
async fn read_apis_need_a_known_bearer_token() {
    let app = spawn_app().await;
    for path in ["/api/events", "/api/events/1", "/api/verify", "/api/digest"] {
        assert_eq!(app.get(path).await.status(), 401, "{path} without a token");
        assert_eq!(
            app.get_as(path, "nope").await.status(),
            401,
            "{path} with an unknown token"
        );
        let body: serde_json::Value = app.get(path).await.json().await.expect("json error body");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn an_auditor_reads_but_cannot_mint_tokens() {
    let app = spawn_app().await;
    let auditor = app.token("auditor").await;
    assert_eq!(app.get_as("/api/verify", &auditor).await.status(), 200);
    let refused = app
        .post_json_as(
            "/api/v1/tenant/tokens",
            &auditor,
            serde_json::json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(refused.status(), 403);
    let bad_role = app
        .post_json_as(
            "/api/v1/tenant/tokens",
            ADMIN_TOKEN,
            serde_json::json!({ "role": "root" }),
        )
        .await;
    assert_eq!(bad_role.status(), 400);
}

#[tokio::test]
async fn an_empty_log_verifies_and_has_the_empty_digest() {
    let app = spawn_app().await;
    let verify = app.get_json("/api/verify").await;
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["head_seq"], 0);
    let digest = app.get_json("/api/digest").await;
    let digest = digest["digest"].as_str().expect("digest");
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test]
async fn bad_event_queries_are_400_with_a_json_reason() {
    let app = spawn_app().await;
    for query in [
        "limit=0",
        "since=yesterday",
        "after_seq=-1",
        "after_seq=abc",
    ] {
        let response = app
            .get_as(&format!("/api/events?{query}"), ADMIN_TOKEN)
            .await;
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().await.expect("a JSON error body");
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    let response = app.get_as("/api/events/abc", ADMIN_TOKEN).await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(
        body["error"],
        "\"abc\" is not a seq (a whole number from 1 to 9223372036854775807)"
    );
    assert_eq!(
        app.get_as("/api/events/99", ADMIN_TOKEN).await.status(),
        404
    );
}

#[tokio::test]
async fn a_limit_over_1000_is_lowered_to_1000_like_the_request_logs() {
    let app = spawn_app().await;
    for query in ["limit=1001", "limit=100000"] {
        let response = app
            .get_as(&format!("/api/events?{query}"), ADMIN_TOKEN)
            .await;
        assert_eq!(response.status(), 200, "{query}");
        let page: serde_json::Value = response.json().await.expect("json");
        assert_eq!(page["events"], serde_json::json!([]));
        assert_eq!(page["next_after_seq"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn framework_errors_are_json_too() {
    let app = spawn_app().await;
    // An unknown path.
    let response = app.get("/api/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.expect("a JSON 404");
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains("/api/nothing-here"));
    // A JSON API's body over the limit (the same limit as the webhooks').
    let app = spawn_app_with(|s| s.body_limit_bytes = 1000).await;
    let big = serde_json::json!({ "url": format!("https://example.com/{}", "a".repeat(2000)), "event": "*" });
    let response = app
        .post_json_as("/api/v1/tenant/webhooks/subscriptions", ADMIN_TOKEN, big)
        .await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.expect("a JSON 413");
    assert_eq!(
        body["error"],
        "Request body is larger than the limit of 1000 bytes"
    );
}
