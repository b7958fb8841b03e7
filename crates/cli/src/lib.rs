//! The `hookledger` command line: `serve`, `replay`, `verify`, `digest`, `events`, `ledger`,
//! `token`, `migrate`.
//!
//! # Layout
//! - [`Cli`] and [`Command`]: the clap definitions (each flag's help is the documentation).
//! - [`run`]: dispatch; each command is a function in [`commands`].
//!
//! Results go to stdout; progress, logs and errors to stderr. Exit codes: 0 success, 1 a
//! negative result (a broken chain), 2 bad flags or settings.

pub mod commands;
pub mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Webhooks in, a hash-chained event log, projections and a double-entry ledger out.
#[derive(Debug, Parser)]
#[command(name = "hookledger", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the database and settings come from (flags beat environment beat the TOML file).
#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// The database: an SQLite file, or a postgres:// URL (every command but serve and token so far)
    /// [env: HOOKLEDGER_DB] [default: ./data/hookledger.db]
    #[arg(long, value_name = "PATH|URL")]
    pub db: Option<PathBuf>,
    /// A TOML settings file [env: HOOKLEDGER_CONFIG]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (webhooks in, read APIs, metrics, docs).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        /// The address to listen on [env: HOOKLEDGER_BIND] [default: 127.0.0.1:8001]
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Recompute the hash chain: exit 0 and print the head when intact, exit 1 naming the first
    /// bad seq when not.
    Verify {
        #[command(flatten)]
        db: DbArgs,
        /// An earlier head `SEQ:HASH` an auditor recorded: proves the log up to it unchanged and
        /// not truncated.
        #[arg(long, value_name = "SEQ:HASH")]
        expect: Option<String>,
    },
    /// Print the SHA-256 state digest of all projections (same digest ⇔ same state).
    Digest {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Query the event log (the auditor's view).
    Events(EventsArgs),
    /// Rebuild every projection from the event log, in place (swapped in atomically at the end)
    /// or into a new file or PostgreSQL database; an interrupted replay in place or into a file
    /// resumes on the next run.
    Replay(ReplayArgs),
    /// The accountant's reports: trial balance, journal, an account's register.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Copy an SQLite ledger into PostgreSQL byte for byte, rebuild its projections there and
    /// prove the digest equal. Resumes an interrupted copy.
    Migrate(MigrateArgs),
    /// Manage bearer tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Only this stream (e.g. order:roms:12345).
    #[arg(long)]
    pub stream: Option<String>,
    /// Only this event type (e.g. roms.order_received).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only this source (accounting, roms, exact, vendor, stripe).
    #[arg(long)]
    pub source: Option<String>,
    /// Recorded at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Recorded before this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events after this seq (cursor paging).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub after_seq: u64,
    /// At most this many events (default: all).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EventFormat::Json)]
    pub format: EventFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventFormat {
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy (left untouched; not while `serve` runs on it).
    #[arg(long, value_name = "PATH")]
    pub from: PathBuf,
    /// The PostgreSQL database to copy into (postgres://user[:password]@host[:port]/database),
    /// empty or holding an interrupted copy of the same log.
    #[arg(long, value_name = "URL")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Replay only up to this seq (needs --into).
    #[arg(long, value_name = "N", conflicts_with = "as_of")]
    pub until_seq: Option<u64>,
    /// Replay only the events recorded at or before this RFC 3339 time (needs --into).
    #[arg(long, value_name = "RFC3339")]
    pub as_of: Option<String>,
    /// Build a new ledger (events copied byte for byte, projections rebuilt) and leave the
    /// source untouched: a new SQLite file PATH, or a PostgreSQL database URL
    /// (postgres://user[:password]@host[:port]/database) whose events table is absent or empty.
    #[arg(long, value_name = "PATH|URL")]
    pub into: Option<PathBuf>,
    /// Events applied between two checkpoints.
    #[arg(long, value_name = "N", default_value_t = replay::CHECKPOINT_EVENTS_DEFAULT, hide = true)]
    pub checkpoint_events: u64,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Every account's debits, credits and balance per currency, with totals per currency.
    TrialBalance {
        #[command(flatten)]
        db: DbArgs,
        /// As of this seq, or RFC 3339 time (inclusive); default: now.
        #[arg(long, value_name = "SEQ|TIME")]
        as_of: Option<String>,
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Journal entries with their lines and the seq of the event that caused each.
    Journal {
        #[command(flatten)]
        db: DbArgs,
        /// Only entries touching this account or its sub-accounts (e.g. Assets:Receivables).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// Recorded at or after this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Recorded before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// `ledger`: the plain-text journal hledger and ledger read; `beancount`: a file
        /// bean-check accepts.
        #[arg(long, value_enum, default_value_t = JournalFormat::Table)]
        format: JournalFormat,
    },
    /// One account's (and its sub-accounts') lines with the running balance per currency.
    Register {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, value_name = "ACCOUNT")]
        account: String,
        /// Recorded at or after this RFC 3339 time (earlier lines make the opening balance).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Recorded before this RFC 3339 time.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JournalFormat {
    Table,
    Json,
    Csv,
    Ledger,
    Beancount,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Mint a bearer token; it is printed once and stored only as its SHA-256.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// The token's role.
        #[arg(long, value_parser = ["auditor", "admin"])]
        role: String,
    },
}

/// Answers a command line clap refused. `--help` and `--version` print as usual (stdout, exit
/// 0); a bad flag or value is one line on stderr naming it, exit 2, like a bad setting.
pub fn usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
    }
    eprintln!("hookledger: {}", one_line(&error.render().to_string()));
    ExitCode::from(2)
}

/// clap's message up to its usage section, on one line (`error: ` dropped, whitespace folded),
/// with the pointer to `--help` at the end.
fn one_line(rendered: &str) -> String {
    let message = rendered
        .lines()
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .collect::<Vec<_>>()
        .join(" ");
    let message = message.trim().trim_start_matches("error:").trim();
    let folded = message.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{folded} (see --help)")
}

/// Runs a parsed command line and returns the process's exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve { db, bind } => commands::serve(&db, bind),
        Command::Verify { db, expect } => commands::verify(&db, expect.as_deref()),
        Command::Digest { db } => commands::digest(&db),
        Command::Events(args) => commands::events(&args),
        Command::Replay(args) => commands::replay(&args),
        Command::Migrate(args) => commands::migrate(&args),
        Command::Ledger { command } => commands::ledger(&command),
        Command::Token {
            command: TokenCommand::Create { db, role },
        } => commands::token_create(&db, &role),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("hookledger: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
