//! Screenshots of every console page, for docs/console.md: `console_screenshots DIR` starts
//! the service with the tests' seeded history (tests/api/console/seed.rs), signs in in a
//! headless Chromium (tests/api/console/browser.rs) and writes one PNG per page into DIR.
//! `scripts/console-screenshots` runs it.

#[allow(dead_code)]
#[path = "../tests/api/console/browser.rs"]
mod browser;
#[allow(dead_code)]
#[path = "../tests/api/console/seed.rs"]
mod seed;

use std::path::PathBuf;

use serde_json::json;

/// Browser window width; each shot is as tall as its page, up to this height.
const WIDTH: u32 = 1360;
const HEIGHT_MAX: u32 = 2200;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: console_screenshots DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let app = seed::seeded().await;
    for n in 1..=12 {
        app.roms(json!({
            "order_number": format!("ORD-{}", 1100 + n),
            "product": "Widget", "price": format!("{}.{:02}", 10 + n, n).parse::<f64>()?,
            "quantity": 1, "status": if n % 3 == 0 { "pending" } else { "confirmed" }
        }))
        .await;
    }
    app.dead_deliveries().await;
    let work_order = app.api("/api/orders/accounting/WS-2001").await["work_order_id"]
        .as_str()
        .ok_or("no work order")?
        .to_owned();
    let accounting_seq = app.api("/api/events?source=accounting&limit=1").await["events"][0]["seq"]
        .as_u64()
        .ok_or("no accounting event")?;
    let browser = browser::Browser::start()
        .await
        .ok_or("chromium and chromium-driver are needed")?;
    shoot(&browser, &dir, "sign-in", &app.url("/")).await?;
    browser.sign_in(&app.address, seed::ADMIN_TOKEN).await;
    browser
        .wait_for_text("#chain-badge", "Chain verified")
        .await;
    let pages = [
        ("timeline", "/console/events".to_owned()),
        ("event", format!("/console/events/{accounting_seq}")),
        ("order", "/console/orders/roms/ORD-1001".to_owned()),
        ("work-order", format!("/console/work-orders/{work_order}")),
        ("trial-balance", "/console/ledger?seq=8".to_owned()),
        (
            "register",
            "/console/ledger/accounts/Assets:Receivables".to_owned(),
        ),
        ("deliveries", "/console/deliveries".to_owned()),
    ];
    for (name, path) in pages {
        shoot(&browser, &dir, name, &app.url(&path)).await?;
    }
    browser.close().await;
    Ok(())
}

/// Opens `url`, sizes the window to the page, and writes `DIR/console-NAME.png`.
async fn shoot(
    browser: &browser::Browser,
    dir: &std::path::Path,
    name: &str,
    url: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    // Measured in a short window: a page is never shorter than the window it is in.
    browser.client.set_window_size(WIDTH, 600).await?;
    browser.goto(url).await;
    let height = browser
        .client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await?
        .as_u64()
        .unwrap_or(1000)
        .clamp(600, HEIGHT_MAX as u64) as u32;
    // The window's frame is outside the page: add it, then let the page lay out again.
    let frame = browser
        .client
        .execute("return window.outerHeight - window.innerHeight;", vec![])
        .await?
        .as_u64()
        .unwrap_or(0) as u32;
    browser
        .client
        .set_window_size(WIDTH, height + frame)
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let png = browser.screenshot().await;
    let path = dir.join(format!("console-{name}.png"));
    std::fs::write(&path, png)?;
    eprintln!("wrote {} ({WIDTH}x{height})", path.display());
    Ok(())
}
