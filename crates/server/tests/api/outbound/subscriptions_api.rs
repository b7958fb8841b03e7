//! Seed 004's subscriptions API and the address guard on its URLs.

use serde_json::{json, Value};

use super::support::start;

#[tokio::test]
async fn subscriptions_are_created_listed_without_secrets_and_deleted_by_an_admin() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |_| {}).await;
    let created = app
        .subscribe(json!({ "url": "http://127.0.0.1:9/hooks", "event": "payment.received", "secret": "test-secret-key" }))
        .await;
    for field in ["id", "url", "event", "secret", "created_at"] {
        assert!(created[field].is_string(), "{field} in {created}");
    }
    assert_eq!(created["secret"], "test-secret-key");
    let generated = app
        .subscribe(json!({ "url": "http://127.0.0.1:9/other", "event": "*" }))
        .await;
    assert!(generated["secret"]
        .as_str()
        .expect("secret")
        .starts_with("whsec_"));

    let listed = app.get("/api/v1/tenant/webhooks/subscriptions").await;
    let text = listed.to_string();
    assert!(
        !text.contains("test-secret-key") && !text.contains("whsec_"),
        "{text}"
    );
    assert_eq!(listed["subscriptions"].as_array().expect("list").len(), 2);

    let auditor = app.token("auditor").await;
    let refused = app
        .client
        .post(app.url("/api/v1/tenant/webhooks/subscriptions"))
        .bearer_auth(&auditor)
        .json(&json!({ "url": "http://127.0.0.1:9/x", "event": "*" }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 403);
    let anonymous = app
        .client
        .get(app.url("/api/v1/tenant/webhooks/deliveries"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    let as_auditor = app
        .client
        .get(app.url("/api/v1/tenant/webhooks/deliveries"))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("request");
    assert_eq!(as_auditor.status(), 200, "any role reads deliveries");

    let id = created["id"].as_str().expect("id");
    let path = format!("/api/v1/tenant/webhooks/subscriptions/{id}");
    let delete = || {
        app.client
            .delete(app.url(&path))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .send()
    };
    assert_eq!(delete().await.expect("request").status(), 204);
    assert_eq!(delete().await.expect("request").status(), 404);
    let listed = app.get("/api/v1/tenant/webhooks/subscriptions").await;
    assert_eq!(listed["subscriptions"].as_array().expect("list").len(), 1);

    let spec = app.get("/openapi.json").await;
    for path in [
        "/api/v1/tenant/webhooks/subscriptions",
        "/api/v1/tenant/webhooks/subscriptions/{id}",
        "/api/v1/tenant/webhooks/deliveries",
        "/api/v1/tenant/webhooks/deliveries/{id}/retry",
        "/api/external/webhook-test",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn the_url_guard_refuses_private_addresses_credentials_and_other_schemes() {
    let dir = tempfile::tempdir().expect("dir");
    let app = start(&dir.path().join("h.db"), |s| s.allow_private_urls.clear()).await;
    for url in [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://127.0.0.1:8001/hook",
        "http://localhost/hook",
        "https://user:pass@example.com/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let response = app
            .post(
                "/api/v1/tenant/webhooks/subscriptions",
                json!({ "url": url, "event": "*" }),
            )
            .await;
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["error"].as_str().expect("error").starts_with("url: "),
            "{body}"
        );
    }
    for bad in [
        json!({ "url": "https://93.184.216.34/" }),
        json!({ "url": "https://93.184.216.34/", "event": "pay*" }),
        json!({ "url": "https://93.184.216.34/", "event": "*", "secret": "whsec_!!" }),
    ] {
        let response = app
            .post("/api/v1/tenant/webhooks/subscriptions", bad.clone())
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}
