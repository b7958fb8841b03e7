//! The secrets check, against the real binary: a server with every secret set and logging at
//! `debug` is sent valid and invalid requests from every dialect (wrong secrets and
//! signatures, seed 000's `webhookSecret` in the body, wrong bearer tokens), mints a token and
//! creates a subscription; then every byte it left behind is searched for every secret and
//! token, right or wrong: its log, the database and request-log files (WAL included, free
//! pages included), and every answer it gave. Only what the contract stores on purpose is
//! allowed: a subscription's signing secret, in the database ("stored as given, since they
//! sign").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::crash::CampaignError;
use crate::http;
use crate::receiver::Receiver;
use crate::serve::{ServeConfig, Server, ADMIN_TOKEN};
use crate::traffic::{self, SECRETS};

/// What the search found.
#[derive(Debug, Default, Clone)]
pub struct SecretsReport {
    pub requests: u64,
    pub needles: u64,
    pub bytes_searched: u64,
    /// `(needle name, where)` for every find.
    pub found: Vec<(String, String)>,
}

impl SecretsReport {
    pub fn summary(&self) -> String {
        format!(
            "requests {} secrets_and_tokens {} bytes_searched {} found {}",
            self.requests,
            self.needles,
            self.bytes_searched,
            self.found.len()
        )
    }
}

const WRONG: [&str; 4] = [
    "wrong-secret-4f9a1c",
    "wrong-signature-b77e02",
    "wrong-bearer-token-93d1aa",
    "whsec_d3JvbmctY2FtcGFpZ24=",
];
const SUBSCRIPTION_SECRET: &str = "whsec_c3Vic2NyaXB0aW9uLWNhbXBhaWdu";

fn post(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<http::Answer, CampaignError> {
    let mut all = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    http::request(
        port,
        "POST",
        path,
        &all,
        body.as_bytes(),
        Duration::from_secs(10),
    )
    .map_err(|e| CampaignError::Setup(format!("POST {path}: {e}")))
}

/// One hostile request: path, headers, body.
type Hostile<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);

/// Requests with wrong secrets, signatures and tokens, one set per dialect and API.
fn hostile(port: u16, answers: &mut Vec<String>) -> Result<u64, CampaignError> {
    let [wrong_secret, wrong_signature, wrong_token, wrong_whsec] = WRONG;
    let bearer = format!("Bearer {wrong_token}");
    let stripe = format!("t={},v1={wrong_signature}", chrono::Utc::now().timestamp());
    let now = domain::time::format_millis(chrono::Utc::now());
    let accounting =
        format!(r#"{{"orderId":"S-1","status":"pending","webhookSecret":"{wrong_secret}"}}"#);
    let requests: Vec<Hostile> = vec![
        ("/api/webhooks/order-status", vec![], accounting),
        (
            "/api/v2/webhooks/orders",
            vec![("X-Webhook-Signature", wrong_signature)],
            r#"{"order_number":"S-2"}"#.into(),
        ),
        (
            "/functions/v1/webhook-receiver",
            vec![("X-Webhook-Secret", wrong_secret)],
            r#"{"action":"sync_products","products":[]}"#.into(),
        ),
        (
            "/api/vendor/order-updates",
            vec![
                ("x-vendor-server-secret", wrong_secret),
                ("x-webhook-timestamp", &now),
            ],
            r#"{"orderId":"S-3","status":"accepted"}"#.into(),
        ),
        (
            "/api/webhooks/stripe",
            vec![("Stripe-Signature", &stripe)],
            r#"{"id":"evt_s","type":"x","created":1,"livemode":false,"data":{"object":{}}}"#.into(),
        ),
        (
            "/api/external/webhook-test",
            vec![("x-vendor-server-secret", wrong_secret)],
            r#"{"webhookUrl":"http://127.0.0.1:9/"}"#.into(),
        ),
        (
            "/api/v1/tenant/tokens",
            vec![("Authorization", &bearer)],
            r#"{"role":"admin"}"#.into(),
        ),
        (
            "/api/v1/tenant/webhooks/subscriptions",
            vec![("Authorization", &bearer)],
            format!(r#"{{"url":"http://127.0.0.1:9/","event":"*","secret":"{wrong_whsec}"}}"#),
        ),
    ];
    let mut n = 0;
    for (path, headers, body) in requests {
        let answer = post(port, path, &headers, &body)?;
        answers.push(format!(
            "{path} {} {:?} {}",
            answer.status, answer.headers, answer.body
        ));
        n += 1;
    }
    Ok(n)
}

/// Valid traffic from every dialect, a minted token and a subscription; returns the minted
/// token.
fn valid(port: u16, answers: &mut Vec<String>) -> Result<(u64, String), CampaignError> {
    let mut n = 0;
    for kind in 0..traffic::KINDS {
        for step in 0..traffic::steps(kind) {
            let request = traffic::request(kind, &format!("sec{kind}"), step);
            let answer = http::request(
                port,
                "POST",
                request.path,
                &request.headers,
                &request.body,
                Duration::from_secs(10),
            )
            .map_err(|e| CampaignError::Setup(e.to_string()))?;
            answers.push(format!(
                "{} {} {}",
                request.path, answer.status, answer.body
            ));
            n += 1;
        }
    }
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let minted = post(
        port,
        "/api/v1/tenant/tokens",
        &[("Authorization", &admin)],
        r#"{"role":"auditor"}"#,
    )?;
    let token = serde_json::from_str::<serde_json::Value>(&minted.body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned))
        .ok_or_else(|| CampaignError::Setup(format!("mint: {}", minted.body)))?;
    let subscription = format!(
        r#"{{"url":"http://127.0.0.1:9/hooks","event":"*","secret":"{SUBSCRIPTION_SECRET}"}}"#
    );
    let created = post(
        port,
        "/api/v1/tenant/webhooks/subscriptions",
        &[("Authorization", &admin)],
        &subscription,
    )?;
    answers.push(format!("subscription {}", created.status));
    let with_token = http::get(port, "/api/v2/webhooks/logs?limit=1000", &token)
        .map_err(|e| CampaignError::Setup(e.to_string()))?;
    answers.push(with_token.body);
    for path in [
        "/api/events?limit=1000",
        "/api/v1/tenant/webhooks/deliveries",
    ] {
        let answer =
            http::get(port, path, ADMIN_TOKEN).map_err(|e| CampaignError::Setup(e.to_string()))?;
        answers.push(answer.body);
    }
    Ok((n + 4, token))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs the check in `dir` with `bin`.
pub fn run(bin: &Path, dir: &Path) -> Result<SecretsReport, CampaignError> {
    let receiver = Receiver::start(0).map_err(|e| CampaignError::Setup(e.to_string()))?;
    let log = dir.join("serve.log");
    let db = dir.join("secrets.db");
    let serve = ServeConfig {
        bin: bin.to_path_buf(),
        db: db.clone(),
        env: vec![
            ("RUST_LOG".into(), "debug".into()),
            ("CUSTOMER_WEBHOOK_URL".into(), receiver.url.clone()),
            ("ZAPIER_WEBHOOK_URL".into(), receiver.url.clone()),
            ("HOOKLEDGER_ALLOW_PRIVATE_URLS".into(), "127.0.0.1".into()),
        ],
        log: Some(log.clone()),
        wrapper: Vec::new(),
    };
    let server = Server::start(&serve)?;
    let mut answers = Vec::new();
    let (n_valid, minted) = valid(server.port, &mut answers)?;
    let n_hostile = hostile(server.port, &mut answers)?;
    // Let the deliveries go out (their attempts are stored too), then stop gracefully so that
    // the request log is flushed.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.arrivals().requests < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    server.terminate();
    // (what, value, whether the ledger database may keep it: only a subscription's secret).
    let mut needles: Vec<(String, String, bool)> = SECRETS
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned(), false))
        .collect();
    needles.push(("HOOKLEDGER_ADMIN_TOKEN".into(), ADMIN_TOKEN.into(), false));
    needles.push(("a minted token".into(), minted, false));
    needles.extend(
        WRONG
            .iter()
            .map(|w| (format!("the wrong value {w}"), (*w).to_owned(), false)),
    );
    needles.push((
        "a subscription secret".into(),
        SUBSCRIPTION_SECRET.into(),
        true,
    ));
    let mut report = SecretsReport {
        requests: n_valid + n_hostile,
        needles: needles.len() as u64,
        ..SecretsReport::default()
    };
    let mut places: Vec<(String, Vec<u8>, bool)> = Vec::new();
    places.push((
        "the server log".into(),
        std::fs::read(&log).unwrap_or_default(),
        false,
    ));
    places.push(("the answers".into(), answers.join("\n").into_bytes(), false));
    for file in files_beside(&db) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let ledger_database = !file.to_string_lossy().contains("requests");
        places.push((file.display().to_string(), bytes, ledger_database));
    }
    for (place, bytes, ledger_database) in &places {
        report.bytes_searched += bytes.len() as u64;
        for (name, value, kept_in_ledger_database) in &needles {
            let allowed = *ledger_database && *kept_in_ledger_database;
            if !allowed && contains(bytes, value) {
                report.found.push((name.clone(), place.clone()));
            }
        }
    }
    Ok(report)
}

/// The database file and everything beside it with its name (WAL, shared memory, request log).
fn files_beside(db: &Path) -> Vec<PathBuf> {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(dir) = db.parent() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
        })
        .filter(|p| p.extension().is_none_or(|e| e != "lock"))
        .collect();
    files.sort();
    files
}
