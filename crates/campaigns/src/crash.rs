//! The crash campaign: `serve` under concurrent load from all five dialects and from its own
//! delivery worker, killed with SIGKILL at a random moment, round after round on the same
//! database. After each kill: every request answered 2xx is in the log exactly once, no
//! delivery was settled twice, `hookledger verify` passes and `replay --into` reproduces the
//! live digest. A last round lets the outbox drain and checks that every delivery marked
//! delivered really reached the receiver.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::{self, CheckError};
use crate::http;
use crate::receiver::Receiver;
use crate::rng::Rng;
use crate::serve::{ServeConfig, ServeError, Server, ADMIN_TOKEN};
use crate::traffic::{self, Expect};

/// The campaign's knobs.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    pub bin: PathBuf,
    /// A folder for the database (kept across rounds) and the replays.
    pub dir: PathBuf,
    pub rounds: u32,
    /// Concurrent clients.
    pub clients: u32,
    /// Each round's load runs a random time in this range before the kill.
    pub round_ms_min: u64,
    pub round_ms_max: u64,
    pub seed: u64,
    /// How long the final round waits for the outbox to drain.
    pub drain_ms_max: u64,
}

/// What the campaign found.
#[derive(Debug, Default, Clone)]
pub struct CrashReport {
    pub seed: u64,
    pub rounds: u32,
    pub requests: u64,
    pub acknowledged: u64,
    /// Answered 503 (back-pressure): not acknowledged, allowed.
    pub busy: u64,
    /// Answered with another non-2xx status: a bug in the traffic or the server; must be 0.
    pub unexpected: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub settled_twice: u64,
    pub verify_failures: u64,
    pub digest_mismatches: u64,
    pub events: u64,
    pub delivered: u64,
    pub dead: u64,
    pub pending_after_drain: u64,
    /// Deliveries recorded as delivered that never reached the receiver with a 2xx.
    pub delivered_not_received: u64,
    pub receiver_requests: u64,
    /// The first problems found, for the message.
    pub problems: Vec<String>,
}

impl CrashReport {
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.unexpected == 0
            && self.duplicated == 0
            && self.settled_twice == 0
            && self.verify_failures == 0
            && self.digest_mismatches == 0
            && self.delivered_not_received == 0
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < 20 {
            self.problems.push(text);
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "rounds {} requests {} acknowledged {} busy {} unexpected {} lost {} duplicated {} \
             settled_twice {} \
             verify_failures {} digest_mismatches {} events {} delivered {} dead {} \
             pending_after_drain {} delivered_not_received {} receiver_requests {} seed {}",
            self.rounds,
            self.requests,
            self.acknowledged,
            self.busy,
            self.unexpected,
            self.lost,
            self.duplicated,
            self.settled_twice,
            self.verify_failures,
            self.digest_mismatches,
            self.events,
            self.delivered,
            self.dead,
            self.pending_after_drain,
            self.delivered_not_received,
            self.receiver_requests,
            self.seed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("{0}")]
    Setup(String),
}

/// Shared by the clients of one round.
struct Load {
    port: u16,
    stop: AtomicBool,
    sent: AtomicU64,
    busy: AtomicU64,
    acknowledged: Mutex<Vec<Expect>>,
    unexpected: Mutex<Vec<String>>,
}

/// One client: scripts of random kinds, each step after the previous one's answer, until the
/// server stops answering.
fn client(load: &Load, seed: u64, prefix: &str) {
    let mut rng = Rng::new(seed);
    let mut n = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        let kind = rng.range(0, traffic::KINDS);
        let id = format!("{prefix}-{n}");
        n += 1;
        for step in 0..traffic::steps(kind) {
            let request = traffic::request(kind, &id, step);
            load.sent.fetch_add(1, Ordering::Relaxed);
            let answer = http::request(
                load.port,
                "POST",
                request.path,
                &request.headers,
                &request.body,
                Duration::from_secs(15),
            );
            match answer {
                Ok(a) if (200..300).contains(&a.status) => {
                    if let Ok(mut acknowledged) = load.acknowledged.lock() {
                        acknowledged.push(request.expect);
                    }
                }
                // Back-pressure: not acknowledged; this script ends, the client goes on.
                Ok(a) if a.status == 503 => {
                    load.busy.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(a) => {
                    if let Ok(mut unexpected) = load.unexpected.lock() {
                        unexpected.push(format!(
                            "{} {} answered {}: {}",
                            request.dialect, request.path, a.status, a.body
                        ));
                    }
                    break;
                }
                // No answer: the server is gone.
                Err(_) => return,
            }
        }
    }
}

fn serve_config(config: &CrashConfig, receiver: &Receiver) -> ServeConfig {
    ServeConfig {
        bin: config.bin.clone(),
        db: config.dir.join("crash.db"),
        env: vec![
            (
                "CUSTOMER_WEBHOOK_URL".into(),
                format!("{}/customer", receiver.url),
            ),
            (
                "ZAPIER_WEBHOOK_URL".into(),
                format!("{}/zapier", receiver.url),
            ),
            ("HOOKLEDGER_ALLOW_PRIVATE_URLS".into(), "127.0.0.1".into()),
            ("HOOKLEDGER_RETRY_DELAYS_MS".into(), "100,200,300".into()),
            ("HOOKLEDGER_DELIVERY_TIMEOUT_MS".into(), "2000".into()),
        ],
        log: Some(config.dir.join("serve.log")),
        wrapper: Vec::new(),
    }
}

fn subscribe(port: u16, url: &str) -> Result<(), CampaignError> {
    let body = format!(r#"{{"url":"{url}/subscriber","event":"*","ordered":true}}"#);
    let headers = [
        ("Authorization".to_owned(), format!("Bearer {ADMIN_TOKEN}")),
        ("Content-Type".to_owned(), "application/json".to_owned()),
    ];
    let answer = http::request(
        port,
        "POST",
        "/api/v1/tenant/webhooks/subscriptions",
        &headers,
        body.as_bytes(),
        Duration::from_secs(10),
    )
    .map_err(|e| CampaignError::Setup(format!("subscribe: {e}")))?;
    if answer.status != 201 {
        return Err(CampaignError::Setup(format!(
            "subscribe: {} {}",
            answer.status, answer.body
        )));
    }
    Ok(())
}

/// Fills the database at `db` with `ms` milliseconds of load from `clients` clients (the
/// campaign's traffic, through a real server), then stops the server; returns the number of
/// acknowledged requests. The tamper campaign builds its source database with this.
pub fn fill(
    bin: &std::path::Path,
    db: &std::path::Path,
    clients: u32,
    ms: u64,
    seed: u64,
) -> Result<u64, CampaignError> {
    let serve = ServeConfig {
        bin: bin.to_path_buf(),
        db: db.to_path_buf(),
        env: Vec::new(),
        log: None,
        wrapper: Vec::new(),
    };
    let server = Server::start(&serve)?;
    let load = Arc::new(Load {
        port: server.port,
        stop: AtomicBool::new(false),
        sent: AtomicU64::new(0),
        busy: AtomicU64::new(0),
        acknowledged: Mutex::new(Vec::new()),
        unexpected: Mutex::new(Vec::new()),
    });
    let mut rng = Rng::new(seed);
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let load = load.clone();
            let seed = rng.next_u64();
            std::thread::spawn(move || client(&load, seed, &format!("fill{c}")))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(ms));
    load.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    server.kill9();
    let acknowledged = load.acknowledged.lock().map(|a| a.len()).unwrap_or(0);
    Ok(acknowledged as u64)
}

/// Runs the campaign; `progress` gets one line per round.
pub fn run(
    config: &CrashConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<CrashReport, CampaignError> {
    let receiver = Receiver::start(20).map_err(|e| CampaignError::Setup(e.to_string()))?;
    let serve = serve_config(config, &receiver);
    let mut rng = Rng::new(config.seed);
    let mut report = CrashReport {
        seed: config.seed,
        ..CrashReport::default()
    };
    let mut acknowledged: Vec<Expect> = Vec::new();
    for round in 1..=config.rounds {
        let server = Server::start(&serve)?;
        if round == 1 {
            subscribe(server.port, &receiver.url)?;
        }
        let load = Arc::new(Load {
            port: server.port,
            stop: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            acknowledged: Mutex::new(Vec::new()),
            unexpected: Mutex::new(Vec::new()),
        });
        let clients: Vec<_> = (0..config.clients)
            .map(|c| {
                let load = load.clone();
                let seed = rng.next_u64();
                let prefix = format!("r{round}c{c}");
                std::thread::spawn(move || client(&load, seed, &prefix))
            })
            .collect();
        let wait = rng.range(
            config.round_ms_min,
            config.round_ms_max.max(config.round_ms_min + 1),
        );
        std::thread::sleep(Duration::from_millis(wait));
        server.kill9();
        load.stop.store(true, Ordering::Relaxed);
        for c in clients {
            let _ = c.join();
        }
        report.requests += load.sent.load(Ordering::Relaxed);
        report.busy += load.busy.load(Ordering::Relaxed);
        let unexpected = load
            .unexpected
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default();
        report.unexpected += unexpected.len() as u64;
        for text in unexpected.into_iter().take(3) {
            report.problem(format!("round {round}: {text}"));
        }
        let new = load
            .acknowledged
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default();
        let new_count = new.len();
        acknowledged.extend(new);
        check_round(config, &acknowledged, &mut report, round)?;
        report.rounds = round;
        progress(&format!(
            "round {round}: killed after {wait} ms, {new_count} acknowledged this round; {}",
            report.summary()
        ));
    }
    drain(config, &serve, &receiver, &mut report)?;
    Ok(report)
}

/// The checks after a kill, cumulative over every round so far.
fn check_round(
    config: &CrashConfig,
    acknowledged: &[Expect],
    report: &mut CrashReport,
    round: u32,
) -> Result<(), CampaignError> {
    let db = config.dir.join("crash.db");
    let log = check::acknowledged_in_log(&db, acknowledged)?;
    report.acknowledged = log.acknowledged;
    report.events = log.events;
    report.lost = log.lost.len() as u64;
    report.duplicated = log.duplicated.len() as u64;
    for e in log.lost.iter().take(3) {
        report.problem(format!("round {round}: lost {e:?}"));
    }
    for e in log.duplicated.iter().take(3) {
        report.problem(format!("round {round}: duplicated {e:?}"));
    }
    let deliveries = check::deliveries(&db)?;
    report.settled_twice = deliveries.settled_twice.len() as u64;
    report.delivered = deliveries.count("delivered");
    report.dead = deliveries.count("dead");
    for (id, n) in deliveries.settled_twice.iter().take(3) {
        report.problem(format!("round {round}: delivery {id} settled {n} times"));
    }
    if let Err(output) = check::verify(&config.bin, &db)? {
        report.verify_failures += 1;
        report.problem(format!("round {round}: verify failed: {output}"));
    }
    let (live, replayed) = check::digests(&config.bin, &db, &config.dir.join("replayed.db"))?;
    if live != replayed || live.len() != 64 {
        report.digest_mismatches += 1;
        report.problem(format!(
            "round {round}: live digest {live} but replay gives {replayed}"
        ));
    }
    Ok(())
}

/// A last, gentle round: no new load, the outbox drains, and every delivery recorded as
/// delivered must have reached the receiver.
fn drain(
    config: &CrashConfig,
    serve: &ServeConfig,
    receiver: &Receiver,
    report: &mut CrashReport,
) -> Result<(), CampaignError> {
    let db = config.dir.join("crash.db");
    let server = Server::start(serve)?;
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let pending = check::deliveries(&db)?.count("pending");
        if pending < last.0 {
            last = (pending, Instant::now());
        }
        // Done when drained, when nothing moved for 10 s, or at the cap.
        if pending == 0
            || last.1.elapsed() > Duration::from_secs(10)
            || started.elapsed() > Duration::from_millis(config.drain_ms_max)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    server.kill9();
    let deliveries = check::deliveries(&db)?;
    report.delivered = deliveries.count("delivered");
    report.dead = deliveries.count("dead");
    report.pending_after_drain = deliveries.count("pending");
    report.settled_twice = deliveries.settled_twice.len() as u64;
    let arrivals = receiver.arrivals();
    report.receiver_requests = arrivals.requests;
    for id in check::delivered_not_received(&db, &arrivals)? {
        report.delivered_not_received += 1;
        report.problem(format!("delivery {id} is delivered but never arrived"));
    }
    Ok(())
}
