//! The flows in a real headless Chromium: sign in, filter the timeline, open an event
//! and read its raw request, follow an order to its journal lines, read a past trial balance
//! that matches the API, retry a dead delivery as admin and be refused as auditor, and watch
//! the live tail bring a new event.

use fantoccini::Locator;
use serde_json::json;

use super::browser::Browser;
use super::seed::{seeded, ADMIN_TOKEN};

#[tokio::test]
async fn in_a_browser_an_auditor_filters_the_timeline_and_reads_an_events_raw_request() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = seeded().await;
    browser.sign_in(&app.address, &app.auditor_token).await;
    assert!(browser.text("#chain-badge").await.contains("Chain"));
    browser
        .wait_for_text("#chain-badge", "Chain verified")
        .await;
    // Filter: only the web shop's (seed 000) events.
    let source = browser
        .client
        .find(Locator::Css("#filters select[name=source]"))
        .await
        .expect("source filter");
    source.select_by_value("accounting").await.expect("select");
    browser.click("#apply-filters").await;
    browser.wait_for_path("source=accounting").await;
    let rows = browser
        .client
        .find_all(Locator::Css("#timeline tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 3, "the web shop sent three statuses");
    for row in &rows {
        assert!(row.text().await.expect("text").contains("accounting"));
    }
    // Open the newest of them: its raw request, with the body's secret removed.
    browser.click("#timeline tbody tr:first-child a.seq").await;
    browser.wait_for_path("/console/events/").await;
    let raw = browser.text("#raw-request").await;
    assert!(raw.contains("/api/webhooks/order-status"), "{raw}");
    assert!(raw.contains("WS-2001"), "{raw}");
    assert!(
        !raw.contains("console-accounting-secret"),
        "the secret is removed: {raw}"
    );
    let hash = browser.text("#hash").await;
    assert_eq!(hash.len(), 64, "the full hash: {hash}");
    assert!(browser.text("#row-check").await.contains("intact"));
    assert!(browser.text("#chain-status").await.contains("verified"));
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_an_order_leads_to_its_history_journal_lines_and_deliveries() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = seeded().await;
    browser.sign_in(&app.address, ADMIN_TOKEN).await;
    browser.fill("nav input[name=ref]", "ORD-1001").await;
    let source = browser
        .client
        .find(Locator::Css("nav select[name=source]"))
        .await
        .expect("lookup source");
    source.select_by_value("roms").await.expect("select");
    browser.click("nav form.lookup button").await;
    browser.wait_for_path("/console/orders/roms/ORD-1001").await;
    assert_eq!(browser.text("#order-status").await, "confirmed");
    let history = browser.text("#history").await;
    assert!(history.contains("roms.order_received"), "{history}");
    assert!(
        history.contains("stripe.payment_intent_succeeded"),
        "the payment is in its history"
    );
    // The journal lines the order's changes caused, as the API lists them.
    let journal = app
        .api("/api/ledger/journal?account=Assets:Receivables:Roms")
        .await;
    let lines = browser
        .client
        .find_all(Locator::Css("#history tr.journal-line"))
        .await
        .expect("journal lines");
    assert!(
        lines.len() >= 4,
        "revenue, commission and the payment: {}",
        lines.len()
    );
    let entries = journal["entries"].as_array().expect("entries");
    for entry in entries
        .iter()
        .filter(|e| e["stream"] == "order:roms:ORD-1001")
    {
        let seq = entry["seq"].as_u64().expect("seq");
        let change = browser
            .text(&format!("#history div.change[data-seq='{seq}']"))
            .await;
        assert!(change.contains("Income:Sales:Roms"), "seq {seq}: {change}");
    }
    // Following a journal line's account leads to its register.
    browser.click("#history a.account").await;
    browser.wait_for_path("/console/ledger/accounts/").await;
    assert!(browser.text("#balance-chart").await.contains("at seq"));
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_a_trial_balance_as_of_a_past_seq_matches_the_api() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = seeded().await;
    browser.sign_in(&app.address, &app.auditor_token).await;
    browser.click("nav a[href='/console/ledger']").await;
    browser.wait_for_path("/console/ledger").await;
    browser.fill("#seq-input", "4").await;
    browser.click("#show-as-of").await;
    browser.wait_for_path("seq=4").await;
    browser.wait_for_text("#as-of-point", "As of seq 4").await;
    let api = app.api("/api/ledger/trial-balance?as_of=4").await;
    let now = app.api("/api/ledger/trial-balance").await;
    assert_ne!(
        api["accounts"], now["accounts"],
        "seq 4 is a different point than now"
    );
    let rows = browser
        .client
        .find_all(Locator::Css("#trial-balance tr.account"))
        .await
        .expect("rows");
    let mut shown = Vec::new();
    for row in rows {
        let attr = |name: &'static str| {
            let row = row.clone();
            async move { row.attr(name).await.expect("attr").unwrap_or_default() }
        };
        shown.push(json!({
            "account": attr("data-account").await,
            "currency": attr("data-currency").await,
            "debit_minor": attr("data-debit-minor").await.parse::<i64>().expect("debit"),
            "credit_minor": attr("data-credit-minor").await.parse::<i64>().expect("credit"),
            "balance_minor": attr("data-balance-minor").await.parse::<i64>().expect("balance"),
        }));
    }
    assert_eq!(json!(shown), api["accounts"]);
    let text = browser.text("#trial-balance").await;
    assert!(text.contains("balanced"), "{text}");
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_an_admin_retries_a_dead_delivery_and_an_auditor_is_refused() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = seeded().await;
    let dead = app.dead_deliveries().await;
    let id = dead[0]["id"].as_str().expect("id").to_owned();
    let button = format!("#retry-{id}");
    // The auditor sees the button disabled; forced, the server refuses it.
    browser.sign_in(&app.address, &app.auditor_token).await;
    browser.click("nav a[href='/console/deliveries']").await;
    browser.wait_for_path("/console/deliveries").await;
    let element = browser
        .client
        .find(Locator::Css(&button))
        .await
        .expect("button");
    assert_eq!(
        element.attr("disabled").await.expect("attr").as_deref(),
        Some("true")
    );
    browser
        .client
        .execute(
            "const b = document.querySelector(arguments[0]); b.disabled = false; b.click();",
            vec![json!(button)],
        )
        .await
        .expect("force the button");
    browser.wait_for_path("/retry").await;
    browser.wait_for_text("section.error", "403").await;
    assert!(browser
        .text("section.error")
        .await
        .contains("an auditor token reads everything and changes nothing"));
    let still = app
        .api(&format!("/api/v1/tenant/webhooks/deliveries/{id}"))
        .await;
    assert_eq!(still["status"], "dead");
    // The admin retries it.
    browser.click("header form button.link").await;
    browser.wait_for_text("h1", "Sign in to the console").await;
    browser.sign_in(&app.address, ADMIN_TOKEN).await;
    browser
        .goto(&app.url("/console/deliveries?status=dead"))
        .await;
    browser.click(&button).await;
    browser.wait_for_path("done=retried").await;
    browser.wait_for_text("#notice", "queued again").await;
    let after = app
        .api(&format!("/api/v1/tenant/webhooks/deliveries/{id}"))
        .await;
    let retried =
        after["status"] == "pending" || after["attempts"].as_u64() > dead[0]["attempts"].as_u64();
    assert!(retried, "the delivery went back to the queue: {after}");
    browser.close().await;
}

#[tokio::test]
async fn in_a_browser_the_live_tail_brings_new_events_without_a_reload() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = seeded().await;
    browser.sign_in(&app.address, &app.auditor_token).await;
    let before = browser
        .client
        .find_all(Locator::Css("#timeline tbody tr"))
        .await
        .expect("rows")
        .len();
    app.roms(json!({ "order_number": "LIVE-1", "price": 5.00, "status": "pending" }))
        .await;
    browser
        .wait_for_text("#timeline tbody", "order:roms:LIVE-1")
        .await;
    browser.wait_for_text("#tail-status", "1 new").await;
    let after = browser
        .client
        .find_all(Locator::Css("#timeline tbody tr"))
        .await
        .expect("rows")
        .len();
    assert_eq!(after, before + 1);
    let first = browser.text("#timeline tbody tr:first-child").await;
    assert!(first.contains("LIVE-1"), "the newest on top: {first}");
    browser.close().await;
}
