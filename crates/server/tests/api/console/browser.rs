//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! through fantoccini), for the console's end-to-end tests and its screenshots.
//!
//! Each [`Browser`] starts its own chromedriver on a free port, in its own process group,
//! with a fresh profile folder; closing it (or dropping it, after a failed assertion) ends
//! that group. Browsers are used one at a time ([`Browser::start`] waits for the previous one
//! to close): two Chromiums on two cores only slow each other down.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `HOOKLEDGER_TEST_BROWSER=1` (set by `.ci/run`, which installs both) makes a missing browser
/// a failure; without it, the browser tests are skipped where Chromium is not installed.
pub fn browser_required() -> bool {
    std::env::var("HOOKLEDGER_TEST_BROWSER").is_ok_and(|v| v == "1")
}

fn one_at_a_time() -> &'static tokio::sync::Mutex<()> {
    static LOCK: OnceLock<tokio::sync::Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// A browser, or `None` (with a note on stderr) when Chromium is not installed and not
    /// required.
    pub async fn start() -> Option<Browser> {
        let installed =
            std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists();
        if !installed {
            assert!(
                !browser_required(),
                "HOOKLEDGER_TEST_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing"
            );
            eprintln!("skipped: no {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)");
            return None;
        }
        let turn = one_at_a_time().lock().await;
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let driver = command.spawn().expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile folder");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1360,1000", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            panic!("the capabilities are a JSON object");
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                // chromedriver needs a moment to listen.
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session on {url}: {e}"),
            }
        };
        Some(Browser {
            client,
            driver,
            _profile: profile,
            _turn: turn,
        })
    }

    /// Ends the session (Chromium exits) and the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .text()
            .await
            .expect("text")
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"));
        element.clear().await.expect("clear");
        element.send_keys(value).await.expect("type");
    }

    /// Waits (10 s at most) until `css` matches an element whose text contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{css} never showed {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (10 s at most) until the page's path and query contain `needle` (after a click
    /// that navigates, the old page may still be there for a moment).
    pub async fn wait_for_path(&self, needle: &str) {
        let started = Instant::now();
        while !self.path().await.contains(needle) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "never reached a page at {needle:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Signs in on `/` with `token`.
    pub async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/")).await;
        self.fill("#token", token).await;
        self.click("#sign-in").await;
        self.wait_for_path("/console/events").await;
        self.wait_for_text("h1", "Event timeline").await;
    }

    /// A PNG of what the window shows (`examples/console_screenshots.rs`; the tests look at
    /// text, not pixels).
    #[allow(dead_code)]
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's whole process group: chromedriver and the Chromium it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
