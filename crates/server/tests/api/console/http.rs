//! The console over plain HTTP, with the session cookie handled by hand.

use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::StatusCode;

use super::seed::{seeded, Seeded, ADMIN_TOKEN};
use crate::helpers::{spawn_app_with, TestApp};

/// A browser without a browser: one session cookie, no redirects followed.
pub struct Console {
    base: String,
    client: reqwest::Client,
    cookie: String,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
}

async fn page(response: reqwest::Response) -> Page {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Page {
        status: response.status(),
        location: header("location"),
        content_type: header("content-type").unwrap_or_default(),
        body: response.text().await.expect("body"),
    }
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body.find(marker).expect("a form with a CSRF token") + marker.len();
    body[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Console {
    pub fn anonymous(base: &str) -> Console {
        Console {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            cookie: String::new(),
        }
    }

    /// Signs in with `token`; the answer of the sign-in form.
    pub async fn sign_in(&mut self, token: &str) -> Page {
        let response = self
            .client
            .post(format!("{}/console/sign-in", self.base))
            .form(&[("token", token), ("next", "/console/ledger")])
            .send()
            .await
            .expect("request");
        if let Some(cookie) = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
        {
            self.cookie = cookie.split(';').next().unwrap_or_default().to_owned();
        }
        page(response).await
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("request");
        page(response).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("request");
        page(response).await
    }
}

async fn signed_in(app: &Seeded, token: &str) -> Console {
    let mut console = Console::anonymous(&app.address);
    let answer = console.sign_in(token).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    console
}

#[tokio::test]
async fn the_front_page_is_public_and_every_data_page_asks_for_a_sign_in_first() {
    let app = seeded().await;
    let mut console = Console::anonymous(&app.address);
    let front = console.get("/").await;
    assert_eq!(front.status, StatusCode::OK);
    assert!(
        front.content_type.starts_with("text/html"),
        "{}",
        front.content_type
    );
    assert!(front.body.contains(r#"action="/console/sign-in""#));
    assert!(
        !front.body.contains("chain-badge"),
        "no data before sign-in"
    );
    // Offline: every asset comes from the server itself, compiled into the binary.
    for marker in [r#"src="http"#, r#"href="http"#, "//cdn", "@import"] {
        assert!(!front.body.contains(marker), "{marker}");
    }
    for (asset, kind) in [
        ("/console/assets/console.css", "text/css"),
        ("/console/assets/console.js", "text/javascript"),
    ] {
        let served = console.get(asset).await;
        assert_eq!(served.status, StatusCode::OK, "{asset}");
        assert!(
            served.content_type.starts_with(kind),
            "{asset}: {}",
            served.content_type
        );
        assert!(
            !served.body.contains("http://") && !served.body.contains("https://"),
            "{asset}"
        );
    }
    let spec: serde_json::Value = app.api("/openapi.json").await;
    for path in ["/", "/console/sign-in"] {
        assert!(
            spec["paths"].get(path).is_some(),
            "{path} is in the OpenAPI document"
        );
    }
    for path in [
        "/console/events",
        "/console/events/1",
        "/console/ledger",
        "/console/deliveries",
        "/console/orders/roms/ORD-1001",
    ] {
        let refused = console.get(path).await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER, "{path}");
        let location = refused.location.unwrap_or_default();
        assert!(
            location.starts_with("/?next=%2Fconsole%2F"),
            "{path}: {location}"
        );
    }
    let tail = console.get("/console/events/tail?after_seq=0").await;
    assert_eq!(tail.status, StatusCode::UNAUTHORIZED);
    let wrong = console.sign_in("hl_not_a_token").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("That token is not known here."));
    // A form without a token, or a body that is no form, is the sign-in page again, never a
    // bare error (schemathesis found the first answering 400 with a JSON parse error).
    for (content_type, body, status, message) in [
        (
            "application/x-www-form-urlencoded",
            "",
            StatusCode::UNAUTHORIZED,
            "Paste a token to sign in.",
        ),
        (
            "application/x-www-form-urlencoded",
            "next=%2Fconsole%2Fledger",
            StatusCode::UNAUTHORIZED,
            "Paste a token to sign in.",
        ),
        (
            "application/json",
            r#"{"token":"x"}"#,
            StatusCode::BAD_REQUEST,
            "could not be read",
        ),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/console/sign-in", app.address))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{content_type} {body:?}");
        assert!(response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html")));
        let page = response.text().await.expect("body");
        assert!(page.contains(message), "{page}");
        assert!(page.contains(r#"action="/console/sign-in""#));
    }
    let right = console.sign_in(ADMIN_TOKEN).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER);
    assert_eq!(right.location.as_deref(), Some("/console/ledger"));
    let ledger = console.get("/console/ledger").await;
    assert_eq!(ledger.status, StatusCode::OK);
    assert!(ledger.body.contains("chain-badge"));
    // Signing out ends the session on the server, not only in the browser.
    let csrf = csrf(&ledger.body);
    let out = console.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        console.get("/console/ledger").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn every_page_of_an_auditor_session_shows_data_and_the_chain_badge() {
    let app = seeded().await;
    let console = signed_in(&app, &app.auditor_token.clone()).await;
    let dead = app.dead_deliveries().await;
    let dead_id = dead[0]["id"].as_str().expect("id").to_owned();
    let work_order = app.api("/api/orders/accounting/WS-2001").await["work_order_id"]
        .as_str()
        .expect("work order id")
        .to_owned();
    for (path, needle) in [
        ("/console/events", "roms.order_received"),
        (
            "/console/events?source=stripe",
            "stripe.payment_intent_succeeded",
        ),
        ("/console/events/1", "Raw request"),
        ("/console/orders/roms/ORD-1001", "Assets:Receivables:Roms"),
        ("/console/orders/stripe/pi_evt_console_1", "Stripe payment"),
        (&format!("/console/work-orders/{work_order}"), "Work order"),
        ("/console/ledger", "Income:Sales:Roms"),
        (
            "/console/ledger/accounts/Assets:Receivables",
            "Balance over time",
        ),
        ("/console/deliveries", "dead"),
        (&format!("/console/deliveries/{dead_id}"), "Attempts"),
    ] {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(page.body.contains(needle), "{path} lacks {needle:?}");
        assert!(
            page.body.contains(r#"id="chain-badge""#),
            "{path} has no badge"
        );
        assert!(page.body.contains("auditor · read-only"), "{path}");
    }
    let missing = console.get("/console/events/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.content_type.starts_with("text/html"));
    let bad = console.get("/console/events?since=yesterday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body
            .contains("since: &quot;yesterday&quot; is not a time"),
        "{}",
        bad.body
    );
}

#[tokio::test]
async fn an_auditor_is_refused_every_change_and_an_admin_is_not() {
    let app = seeded().await;
    let dead = app.dead_deliveries().await;
    let id = dead[0]["id"].as_str().expect("id").to_owned();
    let subscription = dead[0]["subscription_id"]
        .as_str()
        .expect("subscription")
        .to_owned();
    let auditor = signed_in(&app, &app.auditor_token.clone()).await;
    let list = auditor.get("/console/deliveries").await;
    assert!(list.body.contains(&format!(r#"id="retry-{id}""#)));
    assert!(
        list.body.contains("disabled"),
        "an auditor's buttons are disabled"
    );
    let token = csrf(&list.body);
    let retry = format!("/console/deliveries/{id}/retry");
    let refused = auditor.post(&retry, &[("csrf", &token)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused
        .body
        .contains("an auditor token reads everything and changes nothing"));
    let redeliver = format!("/console/subscriptions/{subscription}/redeliver");
    let refused = auditor
        .post(&redeliver, &[("csrf", &token), ("since_seq", "1")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let still = app
        .api(&format!("/api/v1/tenant/webhooks/deliveries/{id}"))
        .await;
    assert_eq!(still["status"], "dead", "nothing changed");

    let admin = signed_in(&app, ADMIN_TOKEN).await;
    let forged = admin.post(&retry, &[("csrf", "forged")]).await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a form without the session's CSRF token"
    );
    let token = csrf(&admin.get("/console/deliveries").await.body);
    let done = admin.post(&retry, &[("csrf", &token)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location.as_deref(),
        Some("/console/deliveries?done=retried")
    );
    let after = app
        .api(&format!("/api/v1/tenant/webhooks/deliveries/{id}"))
        .await;
    assert!(
        after["attempts"].as_u64() > dead[0]["attempts"].as_u64() || after["status"] == "pending",
        "{after}"
    );
    let again = admin
        .post(&redeliver, &[("csrf", &token), ("since_seq", "1")])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert!(again
        .location
        .unwrap_or_default()
        .starts_with("/console/deliveries?done=redelivered"));
}

#[tokio::test]
async fn the_csv_downloads_are_what_the_page_shows_in_the_apis_format() {
    let app = seeded().await;
    let console = signed_in(&app, ADMIN_TOKEN).await;
    let csv = console.get("/console/ledger/trial-balance.csv?seq=4").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type.starts_with("text/csv"));
    let api = app
        .client
        .get(app.url("/api/ledger/trial-balance?as_of=4&format=csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(csv.body, api);
    let events = console.get("/console/events.csv?limit=3").await;
    let lines: Vec<&str> = events.body.lines().collect();
    assert_eq!(lines.len(), 4, "a header and the page's three events");
    let head = app.api("/health").await["head_seq"].as_u64().expect("head");
    assert!(
        lines[1].starts_with(&format!("{head},")),
        "newest first: {}",
        lines[1]
    );
}

/// Waits (10 s at most) until the timeline's badge shows `needle`; returns the page.
async fn badge_showing(console: &Console, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let page = console.get("/console/events").await;
        if page.body.contains(needle) {
            return page.body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the badge never showed {needle}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_badge_follows_the_head_and_turns_red_at_the_first_bad_seq() {
    let app: TestApp = spawn_app_with(|s| {
        s.console_full_verify_interval = Duration::from_millis(300);
    })
    .await;
    for n in 1..=3 {
        let body = format!(r#"{{"order_number":"B-{n}","price":10.00,"status":"pending"}}"#);
        let answer = app.post_text("/api/v2/webhooks/orders", &[], &body).await;
        assert_eq!(answer.status(), 200);
    }
    let mut console = Console::anonymous(&app.address);
    console.sign_in(crate::helpers::ADMIN_TOKEN).await;
    // The badge follows the head.
    badge_showing(&console, r#"data-state="intact" data-head-seq="3""#).await;
    let conn = rusqlite::Connection::open(app.state.store.path()).expect("open");
    conn.execute_batch(
        "DROP TRIGGER events_refuse_update; UPDATE events SET payload = '{}' WHERE seq = 2;",
    )
    .expect("tamper");
    let broken = badge_showing(&console, r#"data-state="broken""#).await;
    assert!(broken.contains(r#"data-first-bad-seq="2""#), "{broken}");
    let detail = console.get("/console/events/2").await;
    assert!(
        detail.body.contains("does not verify"),
        "the row itself is named"
    );
}

#[tokio::test]
async fn a_trial_balance_brought_forward_or_back_from_the_last_is_the_apis_at_every_seq() {
    let app = seeded().await;
    let console = signed_in(&app, ADMIN_TOKEN).await;
    let head = app.api("/health").await["head_seq"].as_u64().expect("head");
    // Now, then back and forth: each is computed from the sums kept by the one before.
    let mut order: Vec<u64> = vec![head, 2, head - 1, 0, 5];
    order.extend((0..=head).rev());
    for seq in order {
        let shown = console
            .get(&format!("/console/ledger/trial-balance.csv?seq={seq}"))
            .await;
        assert_eq!(shown.status, StatusCode::OK);
        let api = app
            .client
            .get(app.url(&format!("/api/ledger/trial-balance?as_of={seq}&format=csv")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("body");
        assert_eq!(shown.body, api, "as of seq {seq}");
    }
    // Forward from the kept sums: a new order's revenue is in the next trial balance.
    app.roms(serde_json::json!({ "order_number": "NEW-1", "price": 7.25, "status": "confirmed" }))
        .await;
    let now = console.get("/console/ledger/trial-balance.csv").await;
    let api = app
        .client
        .get(app.url("/api/ledger/trial-balance?format=csv"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    assert_eq!(now.body, api, "after a new event");
    assert!(now.body.contains("Income:Sales:Roms"));
}
