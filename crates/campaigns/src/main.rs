//! `campaign`: runs one reliability campaign and prints its figures (see the `campaigns` crate).

use std::path::PathBuf;
use std::process::ExitCode;

use campaigns::rng::Rng;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "campaign",
    about = "hookledger's reliability campaigns (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// kill -9 under load from all five dialects and delivery.
    Crash {
        /// The hookledger binary.
        #[arg(long)]
        bin: PathBuf,
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        #[arg(long, default_value_t = 8)]
        clients: u32,
        #[arg(long, default_value_t = 300)]
        round_ms_min: u64,
        #[arg(long, default_value_t = 3000)]
        round_ms_max: u64,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// A failing disk (full, fsync failing, read-only), healed again, under load.
    Disk {
        #[arg(long)]
        bin: PathBuf,
        /// enospc, eio-fsync, erofs (an LD_PRELOAD shim) or tmpfs-full (a real tmpfs; root).
        #[arg(long, default_value = "enospc")]
        mode: String,
        #[arg(long, default_value_t = 5)]
        cycles: u32,
        #[arg(long, default_value_t = 2000)]
        fault_ms: u64,
        #[arg(long, default_value_t = 1500)]
        healthy_ms: u64,
        #[arg(long, default_value_t = 6)]
        clients: u32,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// One changed byte in a random row of a copy, FLIPS times: verify must catch each.
    Tamper {
        #[arg(long)]
        bin: PathBuf,
        /// The database to copy; without it one is filled through a server for --fill-ms.
        #[arg(long)]
        source: Option<PathBuf>,
        #[arg(long, default_value_t = 1000)]
        flips: u32,
        #[arg(long, default_value_t = 3000)]
        fill_ms: u64,
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn temp_dir() -> Result<tempfile::TempDir, ExitCode> {
    tempfile::tempdir().map_err(|e| {
        eprintln!("campaign: cannot make a temporary folder: {e}");
        ExitCode::from(2)
    })
}

fn tamper(
    bin: PathBuf,
    source: Option<PathBuf>,
    flips: u32,
    fill_ms: u64,
    seed: u64,
) -> Result<ExitCode, ExitCode> {
    let dir = temp_dir()?;
    let source = match source {
        Some(source) => source,
        None => {
            let db = dir.path().join("source.db");
            let acknowledged =
                campaigns::crash::fill(&bin, &db, 4, fill_ms, seed).map_err(|e| {
                    eprintln!("campaign: {e}");
                    ExitCode::from(2)
                })?;
            eprintln!(
                "source: {acknowledged} requests acknowledged into {}",
                db.display()
            );
            db
        }
    };
    let config = campaigns::tamper::TamperConfig {
        bin,
        source,
        dir: dir.path().to_path_buf(),
        flips,
        seed,
    };
    let report = campaigns::tamper::run(&config, &mut |line| eprintln!("{line}")).map_err(|e| {
        eprintln!("campaign: {e}");
        ExitCode::from(2)
    })?;
    println!("{}", report.summary());
    let columns: Vec<String> = report
        .by_column
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!("flips by column: {}", columns.join(", "));
    for missed in &report.missed {
        println!("missed: {missed}");
    }
    Ok(if report.missed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crash {
            bin,
            rounds,
            clients,
            round_ms_min,
            round_ms_max,
            seed,
        } => {
            let dir = match temp_dir() {
                Ok(dir) => dir,
                Err(code) => return code,
            };
            let config = campaigns::crash::CrashConfig {
                bin,
                dir: dir.path().to_path_buf(),
                rounds,
                clients,
                round_ms_min,
                round_ms_max,
                seed: seed.unwrap_or_else(Rng::seed_from_os),
                drain_ms_max: 300_000,
            };
            match campaigns::crash::run(&config, &mut |line| eprintln!("{line}")) {
                Ok(report) => {
                    println!("{}", report.summary());
                    for problem in &report.problems {
                        println!("problem: {problem}");
                    }
                    if report.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("campaign: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Disk {
            bin,
            mode,
            cycles,
            fault_ms,
            healthy_ms,
            clients,
            seed,
        } => {
            let Some(mode) = campaigns::disk::Mode::parse(&mode) else {
                eprintln!(
                    "campaign: --mode: {mode:?} is not enospc, eio-fsync, erofs or tmpfs-full"
                );
                return ExitCode::from(2);
            };
            let dir = match temp_dir() {
                Ok(dir) => dir,
                Err(code) => return code,
            };
            let config = campaigns::disk::DiskConfig {
                bin,
                dir: dir.path().to_path_buf(),
                mode,
                cycles,
                fault_ms,
                healthy_ms,
                clients,
                seed: seed.unwrap_or_else(Rng::seed_from_os),
            };
            match campaigns::disk::run(&config, &mut |line| eprintln!("{line}")) {
                Ok(report) => {
                    println!("{}", report.summary());
                    for problem in &report.problems {
                        println!("problem: {problem}");
                    }
                    if !report.ok() {
                        for line in &report.server_errors {
                            println!("server log: {line}");
                        }
                    }
                    if report.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("campaign: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Tamper {
            bin,
            source,
            flips,
            fill_ms,
            seed,
        } => {
            let seed = seed.unwrap_or_else(Rng::seed_from_os);
            tamper(bin, source, flips, fill_ms, seed).unwrap_or_else(|code| code)
        }
    }
}
