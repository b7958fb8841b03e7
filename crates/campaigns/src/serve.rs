//! `hookledger serve` as a child process on a free loopback port, with the campaign's
//! secrets, stopped with SIGKILL (the crash) or reaped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::traffic::SECRETS;

/// The admin token of every campaign server.
pub const ADMIN_TOKEN: &str = "campaign-admin-token";

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `hookledger` binary.
    pub bin: PathBuf,
    pub db: PathBuf,
    /// Extra environment (`CUSTOMER_WEBHOOK_URL`, retry schedule, …).
    pub env: Vec<(String, String)>,
    /// Where the server's stderr goes (appended), for the log lines a campaign checks.
    pub log: Option<PathBuf>,
    /// Run under this wrapper (`sh -c '…' --`), e.g. to ignore a signal.
    pub wrapper: Vec<String>,
}

/// A running server.
pub struct Server {
    pub port: u16,
    child: Child,
}

/// Why a server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("serve exited before listening: {0}")]
    Exited(String),
    #[error("serve did not listen within {0:?}")]
    Timeout(Duration),
    #[error("no free port: {0}")]
    Port(std::io::Error),
}

pub fn free_port() -> Result<u16, ServeError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(ServeError::Port)
}

impl Server {
    /// Starts `serve` and waits until `/health` answers.
    pub fn start(config: &ServeConfig) -> Result<Server, ServeError> {
        let port = free_port()?;
        let (program, mut args) = match config.wrapper.split_first() {
            Some((program, rest)) => (program.clone(), rest.to_vec()),
            None => (config.bin.display().to_string(), Vec::new()),
        };
        if !config.wrapper.is_empty() {
            args.push(config.bin.display().to_string());
        }
        args.extend([
            "serve".to_owned(),
            "--db".to_owned(),
            config.db.display().to_string(),
            "--bind".to_owned(),
            format!("127.0.0.1:{port}"),
        ]);
        let stderr = match &config.log {
            Some(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
            None => Stdio::null(),
        };
        let mut command = Command::new(&program);
        command
            .args(&args)
            .env_remove("HOOKLEDGER_DB")
            .env_remove("HOOKLEDGER_CONFIG")
            .env("HOOKLEDGER_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (name, value) in SECRETS {
            command.env(name, value);
        }
        for (name, value) in &config.env {
            command.env(name, value);
        }
        let child = command.spawn().map_err(|source| ServeError::Spawn {
            bin: program.clone(),
            source,
        })?;
        let mut server = Server { port, child };
        server.wait_until_listening(Duration::from_secs(30))?;
        Ok(server)
    }

    fn wait_until_listening(&mut self, within: Duration) -> Result<(), ServeError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(ServeError::Exited(status.to_string()));
            }
            if let Ok(answer) = crate::http::get(self.port, "/health", ADMIN_TOKEN) {
                if answer.status == 200 {
                    return Ok(());
                }
            }
            if started.elapsed() > within {
                return Err(ServeError::Timeout(within));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (for `prlimit`, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits (at most 20 s) for the graceful shutdown: the server stops taking
    /// requests, flushes its request log and exits. (The shell's `kill` builtin, so that no
    /// `kill` binary and no `unsafe` signal call is needed.)
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("sh")
            .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown, no flush, like a power cut for the process.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hookledger ARGS` to the end; returns (exit code, stdout, stderr).
pub fn run_cli(bin: &Path, args: &[&str]) -> std::io::Result<(i32, String, String)> {
    let output = Command::new(bin)
        .args(args)
        .env_remove("HOOKLEDGER_DB")
        .env_remove("HOOKLEDGER_CONFIG")
        .output()?;
    Ok((
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}
