//! The disk-fault campaign, after SQLite's own I/O-error tests: `serve` under load while its
//! disk fails, then heals, several times without a restart.
//!
//! Faults (one [`Mode`] per run):
//! - `enospc`, `eio-fsync`, `erofs`: injected by a small `LD_PRELOAD` shim (`faultfs.c`, built
//!   with `cc` here) into the data folder's files only: writes fail with `ENOSPC` (a full disk),
//!   fsync fails with `EIO`, or everything fails with `EROFS` (a file system gone read-only).
//!   Unprivileged and exact, so the test suite runs these.
//! - `tmpfs-full`: a real 1 GiB tmpfs holding the data folder, filled to the last byte by a
//!   ballast file and emptied again (needs `mount`, so root). It has room for the whole run's
//!   files, so that only the ballast fills it: the database and its WAL reach 250 MB in a run
//!   (the WAL grows past its 64 MiB limit while retried requests arrive in a burst after a
//!   fault), and at 24 and 256 MiB they filled the disk themselves, which no service recovers
//!   from without an operator.
//!
//! Clients behave like upstreams: a 503 is retried after a pause, a 2xx is acknowledged. The
//! checks: every 503 carries `Retry-After`, no other 5xx; the server logs the fault and its end;
//! the process never dies and serves 2xx again by itself after each fault; every acknowledged
//! request is in the log exactly once; `verify` and the replay digest hold; after a graceful
//! stop the request log holds one entry per answered request; after a restart the outbox drains,
//! no delivery settled twice, and every delivery marked delivered reached the receiver.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::{self, CheckError};
use crate::crash::CampaignError;
use crate::http;
use crate::receiver::Receiver;
use crate::rng::Rng;
use crate::serve::{ServeConfig, Server};
use crate::traffic::{self, Expect};

/// The shim's source, built into the campaign folder at run time.
const SHIM_SOURCE: &str = include_str!("faultfs.c");

/// Which fault a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enospc,
    EioFsync,
    Erofs,
    TmpfsFull,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Enospc => "enospc",
            Mode::EioFsync => "eio-fsync",
            Mode::Erofs => "erofs",
            Mode::TmpfsFull => "tmpfs-full",
        }
    }

    pub fn parse(text: &str) -> Option<Mode> {
        [Mode::Enospc, Mode::EioFsync, Mode::Erofs, Mode::TmpfsFull]
            .into_iter()
            .find(|m| m.name() == text)
    }
}

#[derive(Debug, Clone)]
pub struct DiskConfig {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub mode: Mode,
    /// Fault episodes, each followed by a healthy spell.
    pub cycles: u32,
    pub fault_ms: u64,
    pub healthy_ms: u64,
    pub clients: u32,
    pub seed: u64,
}

/// What one run found.
#[derive(Debug, Default, Clone)]
pub struct DiskReport {
    pub mode: String,
    pub cycles: u32,
    pub requests: u64,
    pub acknowledged: u64,
    /// 503 answers that named a storage fault.
    pub storage_503: u64,
    /// 503 answers without `Retry-After` (must be 0).
    pub missing_retry_after: u64,
    /// 5xx answers other than 503, and other unexpected statuses (must be 0).
    pub unexpected: u64,
    /// Write-side calls the shim failed (or ballast fills, for tmpfs).
    pub faults_injected: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Requests never acknowledged (still 503 at the end) found in the log.
    pub refused_but_logged: u64,
    /// The longest wait from the end of a fault to the next 2xx.
    pub recovery_ms_max: u64,
    pub fault_logged: bool,
    pub recovery_logged: bool,
    pub server_survived: bool,
    pub request_log_rows: u64,
    pub answered: u64,
    pub verify_ok: bool,
    pub digest_ok: bool,
    pub settled_twice: u64,
    pub pending_after_drain: u64,
    pub delivered: u64,
    pub delivered_not_received: u64,
    pub problems: Vec<String>,
    /// The first error lines of the server log other than the storage-fault ones.
    pub server_errors: Vec<String>,
}

impl DiskReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn summary(&self) -> String {
        format!(
            "mode {} cycles {} requests {} acknowledged {} storage_503 {} faults_injected {} \
             lost {} duplicated {} refused_but_logged {} unexpected {} missing_retry_after {} \
             recovery_ms_max {} request_log_rows {} answered {} delivered {} \
             pending_after_drain {} settled_twice {} delivered_not_received {} problems {}",
            self.mode,
            self.cycles,
            self.requests,
            self.acknowledged,
            self.storage_503,
            self.faults_injected,
            self.lost,
            self.duplicated,
            self.refused_but_logged,
            self.unexpected,
            self.missing_retry_after,
            self.recovery_ms_max,
            self.request_log_rows,
            self.answered,
            self.delivered,
            self.pending_after_drain,
            self.settled_twice,
            self.delivered_not_received,
            self.problems.len()
        )
    }
}

/// Shared by the clients.
#[derive(Default)]
struct Load {
    port: u16,
    stop: AtomicBool,
    requests: AtomicU64,
    answered: AtomicU64,
    storage_503: AtomicU64,
    missing_retry_after: AtomicU64,
    last_ok_ms: AtomicU64,
    acknowledged: Mutex<Vec<Expect>>,
    refused: Mutex<Vec<Expect>>,
    unexpected: Mutex<Vec<String>>,
}

/// Builds the shim with `cc`; returns the library's path.
pub fn build_shim(dir: &Path) -> Result<PathBuf, CampaignError> {
    let source = dir.join("faultfs.c");
    let library = dir.join("libfaultfs.so");
    std::fs::write(&source, SHIM_SOURCE).map_err(|e| CampaignError::Setup(e.to_string()))?;
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .status()
        .map_err(|e| CampaignError::Setup(format!("cannot run cc for the fault shim: {e}")))?;
    if !status.success() {
        return Err(CampaignError::Setup(format!(
            "cc failed to build the fault shim: {status}"
        )));
    }
    Ok(library)
}

fn client(load: &Load, seed: u64, prefix: &str, started: Instant) {
    let mut rng = Rng::new(seed);
    let mut n = 0u64;
    'scripts: while !load.stop.load(Ordering::Relaxed) {
        let kind = rng.range(0, traffic::KINDS);
        let id = format!("{prefix}-{n}");
        n += 1;
        for step in 0..traffic::steps(kind) {
            // An upstream sends again after a 503; each try is built afresh (timestamps).
            let mut tries = 0;
            loop {
                let request = traffic::request(kind, &id, step);
                load.requests.fetch_add(1, Ordering::Relaxed);
                let answer = http::request(
                    load.port,
                    "POST",
                    request.path,
                    &request.headers,
                    &request.body,
                    Duration::from_secs(20),
                );
                let Ok(answer) = answer else {
                    continue 'scripts;
                };
                load.answered.fetch_add(1, Ordering::Relaxed);
                match answer.status {
                    200..=299 => {
                        let ms = started.elapsed().as_millis() as u64;
                        load.last_ok_ms.fetch_max(ms, Ordering::Relaxed);
                        if let Ok(mut a) = load.acknowledged.lock() {
                            a.push(request.expect);
                        }
                        break;
                    }
                    503 => {
                        if answer.header("retry-after").is_none() {
                            load.missing_retry_after.fetch_add(1, Ordering::Relaxed);
                        }
                        if answer.body.contains("nothing was recorded, retry later") {
                            load.storage_503.fetch_add(1, Ordering::Relaxed);
                        }
                        tries += 1;
                        if tries > 200 || load.stop.load(Ordering::Relaxed) {
                            if let Ok(mut r) = load.refused.lock() {
                                r.push(request.expect);
                            }
                            continue 'scripts;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    status => {
                        if let Ok(mut u) = load.unexpected.lock() {
                            u.push(format!(
                                "{} answered {status}: {}",
                                request.path, answer.body
                            ));
                        }
                        continue 'scripts;
                    }
                }
            }
        }
    }
}

/// Turns the fault on or off.
struct Fault {
    mode: Mode,
    control: PathBuf,
    data: PathBuf,
    ballast_fills: u64,
}

impl Fault {
    fn set(&mut self, on: bool) -> Result<(), CampaignError> {
        let io = |e: std::io::Error| CampaignError::Setup(format!("fault switch: {e}"));
        if self.mode == Mode::TmpfsFull {
            let ballast = self.data.join("ballast");
            if on {
                fill(&ballast).map_err(io)?;
                self.ballast_fills += 1;
            } else {
                std::fs::remove_file(&ballast).map_err(io)?;
            }
            return Ok(());
        }
        let flag = self.control.join(self.mode.name());
        if on {
            std::fs::write(&flag, b"").map_err(io)?;
        } else {
            std::fs::remove_file(&flag).map_err(io)?;
        }
        Ok(())
    }

    fn injected(&self) -> u64 {
        if self.mode == Mode::TmpfsFull {
            return self.ballast_fills;
        }
        std::fs::metadata(self.control.join("injected")).map_or(0, |m| m.len())
    }
}

/// Writes a file until the file system is full.
fn fill(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    let chunk = vec![0u8; 1 << 16];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    for _ in 0..4096 {
        if file.write_all(&[0u8; 512]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    Ok(())
}

fn mount_tmpfs(at: &Path) -> Result<(), CampaignError> {
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1g", "tmpfs"])
        .arg(at)
        .status()
        .map_err(|e| CampaignError::Setup(format!("mount: {e}")))?;
    if !status.success() {
        return Err(CampaignError::Setup(
            "cannot mount a tmpfs (tmpfs-full needs root); the other modes need no privileges"
                .into(),
        ));
    }
    Ok(())
}

/// Runs one mode; `progress` gets a line per phase.
pub fn run(
    config: &DiskConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<DiskReport, CampaignError> {
    let setup = |e: std::io::Error| CampaignError::Setup(e.to_string());
    let control = config.dir.join("control");
    let data = config.dir.join("data");
    std::fs::create_dir_all(&control).map_err(setup)?;
    std::fs::create_dir_all(&data).map_err(setup)?;
    if config.mode == Mode::TmpfsFull {
        mount_tmpfs(&data)?;
    }
    let result = run_mounted(config, &control, &data, progress);
    if config.mode == Mode::TmpfsFull {
        let _ = Command::new("umount").arg(&data).status();
    }
    result
}

fn run_mounted(
    config: &DiskConfig,
    control: &Path,
    data: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<DiskReport, CampaignError> {
    let shim = build_shim(control)?;
    let data = data
        .canonicalize()
        .map_err(|e| CampaignError::Setup(e.to_string()))?;
    let receiver = Receiver::start(10).map_err(|e| CampaignError::Setup(e.to_string()))?;
    let db = data.join("hookledger.db");
    let log_path = control.join("serve.log");
    let mut env = vec![
        (
            "CUSTOMER_WEBHOOK_URL".into(),
            format!("{}/customer", receiver.url),
        ),
        (
            "ZAPIER_WEBHOOK_URL".into(),
            format!("{}/zapier", receiver.url),
        ),
        ("HOOKLEDGER_RETRY_DELAYS_MS".into(), "100,200,300".into()),
    ];
    let serve_plain = ServeConfig {
        bin: config.bin.clone(),
        db: db.clone(),
        env: env.clone(),
        log: Some(log_path.clone()),
        wrapper: Vec::new(),
    };
    env.extend([
        ("LD_PRELOAD".into(), shim.display().to_string()),
        ("FAULT_CONTROL".into(), control.display().to_string()),
        ("FAULT_PREFIX".into(), data.display().to_string()),
    ]);
    let serve_faulty = ServeConfig {
        env,
        ..serve_plain.clone()
    };
    let mut fault = Fault {
        mode: config.mode,
        control: control.to_path_buf(),
        data: data.clone(),
        ballast_fills: 0,
    };
    let mut report = DiskReport {
        mode: config.mode.name().to_owned(),
        cycles: config.cycles,
        ..DiskReport::default()
    };
    let mut server = Server::start(&serve_faulty)?;
    let started = Instant::now();
    let load = Arc::new(Load {
        port: server.port,
        ..Load::default()
    });
    let mut rng = Rng::new(config.seed);
    let clients: Vec<_> = (0..config.clients)
        .map(|c| {
            let load = load.clone();
            let seed = rng.next_u64();
            std::thread::spawn(move || client(&load, seed, &format!("d{c}"), started))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(config.healthy_ms));
    for cycle in 1..=config.cycles {
        fault.set(true)?;
        std::thread::sleep(Duration::from_millis(config.fault_ms));
        fault.set(false)?;
        let healed_ms = started.elapsed().as_millis() as u64;
        let deadline = Instant::now() + Duration::from_secs(30);
        while load.last_ok_ms.load(Ordering::Relaxed) <= healed_ms && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let recovered = load
            .last_ok_ms
            .load(Ordering::Relaxed)
            .saturating_sub(healed_ms);
        if load.last_ok_ms.load(Ordering::Relaxed) <= healed_ms {
            report.problems.push(format!(
                "cycle {cycle}: no 2xx within 30 s after the fault ended"
            ));
        }
        report.recovery_ms_max = report.recovery_ms_max.max(recovered);
        progress(&format!(
            "{} cycle {cycle}: fault for {} ms, 2xx again {recovered} ms after it ended; {} storage 503s so far",
            config.mode.name(),
            config.fault_ms,
            load.storage_503.load(Ordering::Relaxed)
        ));
        std::thread::sleep(Duration::from_millis(config.healthy_ms));
    }
    load.stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    report.server_survived = server.is_running();
    report.faults_injected = fault.injected();
    server.terminate();
    collect(&load, &mut report);
    check_after(config, &db, &log_path, &mut report, &load)?;
    // The outbox: a plain restart drains it.
    server = Server::start(&serve_plain)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while check::deliveries(&db)?.count("pending") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    server.terminate();
    check_outbox(&db, &receiver, &mut report)?;
    judge(config.mode, &mut report);
    Ok(report)
}

fn collect(load: &Load, report: &mut DiskReport) {
    report.requests = load.requests.load(Ordering::Relaxed);
    report.answered = load.answered.load(Ordering::Relaxed);
    report.storage_503 = load.storage_503.load(Ordering::Relaxed);
    report.missing_retry_after = load.missing_retry_after.load(Ordering::Relaxed);
    let unexpected = load
        .unexpected
        .lock()
        .map(|u| u.clone())
        .unwrap_or_default();
    report.unexpected = unexpected.len() as u64;
    for text in unexpected.into_iter().take(3) {
        report.problems.push(format!("unexpected answer: {text}"));
    }
}

fn check_after(
    config: &DiskConfig,
    db: &Path,
    log_path: &Path,
    report: &mut DiskReport,
    load: &Load,
) -> Result<(), CampaignError> {
    let acknowledged = load
        .acknowledged
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    let log = check::acknowledged_in_log(db, &acknowledged)?;
    report.acknowledged = log.acknowledged;
    report.lost = log.lost.len() as u64;
    report.duplicated = log.duplicated.len() as u64;
    for e in log.lost.iter().take(3) {
        report.problems.push(format!("lost: {e:?}"));
    }
    let refused = load.refused.lock().map(|r| r.clone()).unwrap_or_default();
    let in_log = check::acknowledged_in_log(db, &refused)?;
    report.refused_but_logged = refused.len() as u64 - in_log.lost.len() as u64;
    let server_log = std::fs::read_to_string(log_path).unwrap_or_default();
    report.server_errors = server_log
        .lines()
        .filter(|l| l.contains("ERROR") && !l.contains("storage fault"))
        .take(5)
        .map(str::to_owned)
        .collect();
    report.fault_logged = server_log.contains("storage fault");
    report.recovery_logged = server_log.contains("storage recovered");
    let requests_db = db.with_extension("requests.db");
    report.request_log_rows =
        store::requestlog::count_rows(&requests_db).map_err(CheckError::from)?;
    report.verify_ok = check::verify(&config.bin, db)?.is_ok();
    let (live, replayed) = check::digests(&config.bin, db, &config.dir.join("replayed.db"))?;
    report.digest_ok = live == replayed && live.len() == 64;
    Ok(())
}

fn check_outbox(
    db: &Path,
    receiver: &Receiver,
    report: &mut DiskReport,
) -> Result<(), CampaignError> {
    let deliveries = check::deliveries(db)?;
    report.settled_twice = deliveries.settled_twice.len() as u64;
    report.pending_after_drain = deliveries.count("pending");
    report.delivered = deliveries.count("delivered");
    let missing = check::delivered_not_received(db, &receiver.arrivals())?;
    report.delivered_not_received = missing.len() as u64;
    for id in missing.iter().take(3) {
        report
            .problems
            .push(format!("delivery {id} is delivered but never arrived"));
    }
    Ok(())
}

/// Turns the figures into problems.
fn judge(mode: Mode, report: &mut DiskReport) {
    let r = report.clone();
    let mut fail = |bad: bool, text: String| {
        if bad {
            report.problems.push(text);
        }
    };
    fail(r.lost > 0, format!("{} acknowledged requests lost", r.lost));
    fail(
        r.duplicated > 0,
        format!("{} acknowledged requests twice in the log", r.duplicated),
    );
    fail(
        r.unexpected > 0,
        format!("{} unexpected answers (a 500?)", r.unexpected),
    );
    fail(
        r.missing_retry_after > 0,
        format!("{} 503s without Retry-After", r.missing_retry_after),
    );
    fail(r.faults_injected == 0, "no fault was injected".into());
    fail(
        r.storage_503 == 0,
        "no request met the fault (no storage 503)".into(),
    );
    fail(
        !r.fault_logged,
        "the server log has no 'storage fault' line".into(),
    );
    fail(
        !r.recovery_logged,
        "the server log has no 'storage recovered' line".into(),
    );
    fail(!r.server_survived, "the server died".into());
    fail(
        r.request_log_rows < r.answered || r.request_log_rows > r.requests,
        format!(
            "the request log holds {} entries for {} answered requests ({} sent)",
            r.request_log_rows, r.answered, r.requests
        ),
    );
    fail(!r.verify_ok, "verify failed".into());
    fail(
        !r.digest_ok,
        "the replay digest differs from the live one".into(),
    );
    fail(
        r.settled_twice > 0,
        format!("{} deliveries settled twice", r.settled_twice),
    );
    fail(
        r.pending_after_drain > 0,
        format!(
            "{} deliveries still pending after the drain",
            r.pending_after_drain
        ),
    );
    fail(r.delivered == 0, "nothing was delivered".into());
    // A failed fsync may leave a refused request's bytes in the file; every other fault must
    // not record what it refused.
    fail(
        mode != Mode::EioFsync && r.refused_but_logged > 0,
        format!(
            "{} requests answered 503 are in the log",
            r.refused_but_logged
        ),
    );
}
