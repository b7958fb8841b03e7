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
            let dir = match tempfile::tempdir() {
                Ok(dir) => dir,
                Err(e) => {
                    eprintln!("campaign: cannot make a temporary folder: {e}");
                    return ExitCode::from(2);
                }
            };
            let config = campaigns::crash::CrashConfig {
                bin,
                dir: dir.path().to_path_buf(),
                rounds,
                clients,
                round_ms_min,
                round_ms_max,
                seed: seed.unwrap_or_else(Rng::seed_from_os),
                drain_ms_max: 30_000,
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
    }
}
