//! One function per command.

use std::io::Write as _;
use std::process::ExitCode;

use server::{Overrides, Settings};
use store::log::EventFilter;
use store::{Store, VerifyReport};

use crate::output::{progress, ReplayProgress};
use crate::{
    DbArgs, EventFormat, EventsArgs, JournalFormat, LedgerCommand, MigrateArgs, ReplayArgs,
    TableFormat,
};

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// A bad flag or setting. Exit 2.
    #[error(transparent)]
    Config(#[from] server::ConfigError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Start(#[from] server::StartError),
    #[error(transparent)]
    Postgres(#[from] store_pg::PgStoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A bad argument value. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed (a replay that met a broken invariant). Exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Config(_) | CommandError::Usage(_) => 2,
            _ => 1,
        }
    }
}

type Outcome = Result<ExitCode, CommandError>;

fn settings(db: &DbArgs, bind: Option<String>) -> Result<Settings, CommandError> {
    Ok(Settings::load(&Overrides {
        db: db.db.clone(),
        bind,
        config: db.config.clone(),
    })?)
}

/// Where a command's database is: an SQLite file or a PostgreSQL URL.
enum Location {
    Sqlite,
    Postgres(String),
}

/// Whether `text` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

fn location(settings: &Settings) -> Location {
    match settings.db.to_str() {
        Some(text) if is_postgres_url(text) => Location::Postgres(text.to_owned()),
        _ => Location::Sqlite,
    }
}

/// A database a command opened.
enum Opened {
    Sqlite(Store),
    // Boxed: a connection is some 360 bytes, a store handle 24.
    Postgres(Box<store_pg::PgLog>),
}

/// `url` with its password (if any) replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let authority = &url[after_scheme..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..after_scheme],
            &authority[..colon],
            &url[after_scheme + at..]
        ),
        _ => url.to_owned(),
    }
}

/// Refuses a command that runs on SQLite only when `--db` names PostgreSQL (before anything
/// is opened, so that no file named `postgres:…` is created).
fn sqlite_only(settings: &Settings, command: &str) -> Result<(), CommandError> {
    match location(settings) {
        Location::Sqlite => Ok(()),
        Location::Postgres(url) => Err(CommandError::Usage(format!(
            "--db {}: {command} does not run on PostgreSQL yet (verify, digest, events, \
             ledger, replay and migrate do); give it an SQLite file",
            redact(&url)
        ))),
    }
}

/// Connects to an existing hookledger database in PostgreSQL (migrated to this build's
/// schema; offline commands never make one in an empty database by accident).
fn open_postgres(url: &str) -> Result<store_pg::PgLog, CommandError> {
    let mut log = store_pg::PgLog::connect(url)?;
    if !log.is_initialised()? {
        return Err(CommandError::Usage(format!(
            "no hookledger log in {} (fill it with `hookledger migrate --from PATH --to URL`)",
            redact(url)
        )));
    }
    log.migrate()?;
    Ok(log)
}

/// Opens an existing database (offline commands never create one by accident).
fn open_existing(settings: &Settings) -> Result<Store, CommandError> {
    sqlite_only(settings, "this command")?;
    if !settings.db.exists() {
        return Err(CommandError::Usage(format!(
            "no database at {} (set --db or HOOKLEDGER_DB)",
            settings.db.display()
        )));
    }
    Ok(Store::open(&settings.db, settings.durability)?)
}

fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

pub fn serve(db: &DbArgs, bind: Option<String>) -> Outcome {
    init_logging("info,actix_server=warn,hookledger::http=warn");
    let settings = settings(db, bind)?;
    sqlite_only(&settings, "`serve`")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db_path = settings.db.clone();
        let app = server::Application::build(settings).await?;
        if let Some(path) = &app.generated_admin_token {
            eprintln!(
                "hookledger: generated an admin token; it is in {}",
                path.display()
            );
        }
        eprintln!(
            "hookledger: serving http://{} (database {})",
            app.state()
                .settings
                .bind
                .replace(":0", &format!(":{}", app.port())),
            db_path.display()
        );
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs a walk over `count` events with a progress bar (moved every 4,096 events, so that the
/// bar costs nothing per row), cleared at the end.
fn walk_with_progress<T>(
    count: u64,
    what: &str,
    walk: impl FnOnce(&mut dyn FnMut(u64)) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    let bar = progress(count, what);
    let result = walk(&mut |seq| {
        if seq % 4096 == 0 {
            bar.set_position(seq);
        }
    });
    bar.finish_and_clear();
    result
}

fn parse_expect(text: &str) -> Result<(u64, String), CommandError> {
    let usage = || {
        CommandError::Usage(format!(
            "--expect: {text:?} is not SEQ:HASH (e.g. 42:9f86d0…)"
        ))
    };
    let (seq, hash) = text.split_once(':').ok_or_else(usage)?;
    let seq = seq.parse::<u64>().map_err(|_| usage())?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(usage());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

pub fn verify(db: &DbArgs, expect: Option<&str>) -> Outcome {
    init_logging("warn");
    let expect = expect.map(parse_expect).transpose()?;
    let settings = settings(db, None)?;
    let expect = expect.as_ref().map(|(seq, hash)| (*seq, hash.as_str()));
    let report = match location(&settings) {
        Location::Sqlite => {
            let store = open_existing(&settings)?;
            let (count, _) = store.read(store::log::head)?;
            walk_with_progress(count, "verifying", |progress| {
                Ok(store.read(|conn| store::verify::verify(conn, expect, progress))?)
            })?
        }
        Location::Postgres(url) => {
            let mut log = open_postgres(&url)?;
            let count = log.head()?.map_or(0, |(seq, _)| seq);
            walk_with_progress(count, "verifying", |progress| {
                Ok(log.verify(expect, progress)?)
            })?
        }
    };
    match report {
        VerifyReport::Intact { head } => {
            match head {
                Some((seq, hash)) => println!("ok: head seq {seq} hash {hash}"),
                None => println!("ok: the log is empty"),
            }
            Ok(ExitCode::SUCCESS)
        }
        VerifyReport::Broken {
            first_bad_seq,
            reason,
        } => {
            println!("broken: first bad seq {first_bad_seq}: {reason}");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn digest(db: &DbArgs) -> Outcome {
    init_logging("warn");
    let settings = settings(db, None)?;
    let digest = match location(&settings) {
        Location::Sqlite => open_existing(&settings)?.read(store::projection::digest)?,
        Location::Postgres(url) => open_postgres(&url)?.digest()?,
    };
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// Parses an optional RFC 3339 flag into the log's fixed-width form.
fn time_flag(flag: &str, value: Option<&str>) -> Result<Option<String>, CommandError> {
    value
        .map(|text| {
            domain::time::normalize(text).ok_or_else(|| {
                CommandError::Usage(format!("{flag}: {text:?} is not an RFC 3339 time"))
            })
        })
        .transpose()
}

fn corrupt(e: impl std::fmt::Display) -> store::StoreError {
    store::StoreError::Corrupt(e.to_string())
}

/// `events`: the log, filtered, as JSON (`{events, next_after_seq}`, the API's page shape),
/// NDJSON or CSV. With `--limit`, the cursor of the next page is `next_after_seq` (on stderr
/// for NDJSON and CSV).
pub fn events(args: &EventsArgs) -> Outcome {
    init_logging("warn");
    let settings = settings(&args.db, None)?;
    // Open first: a missing database is an error before any output.
    let mut opened = match location(&settings) {
        Location::Sqlite => Opened::Sqlite(open_existing(&settings)?),
        Location::Postgres(url) => Opened::Postgres(Box::new(open_postgres(&url)?)),
    };
    let filter = EventFilter {
        stream: args.stream.clone(),
        event_type: args.event_type.clone(),
        source: args.source.clone(),
        since: time_flag("--since", args.since.as_deref())?,
        until: time_flag("--until", args.until.as_deref())?,
        after_seq: args.after_seq,
        // One more than asked for tells whether a next page exists.
        limit: args.limit.map(|n| n + 1),
        until_seq: None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        EventFormat::Json => write!(out, "{{\"events\":[")?,
        EventFormat::Csv => write!(out, "{}", reports::events::csv_header())?,
        EventFormat::Ndjson => {}
    }
    let mut n_written = 0u64;
    let mut next_after_seq = None;
    let mut last_seq = None;
    let mut write_error: Option<std::io::Error> = None;
    let read: Result<(), CommandError> = {
        let mut emit = |event: domain::Event| -> Result<(), store::StoreError> {
            if args.limit.is_some_and(|limit| n_written == limit) {
                next_after_seq = last_seq;
                return Ok(());
            }
            last_seq = Some(event.seq);
            let written = match args.format {
                EventFormat::Json | EventFormat::Ndjson => {
                    let view = server::routes::api::events::EventView::from_event(event, false)
                        .map_err(corrupt)?;
                    let line = serde_json::to_string(&view).map_err(corrupt)?;
                    if args.format == EventFormat::Json {
                        let separator = if n_written == 0 { "\n" } else { ",\n" };
                        write!(out, "{separator}{line}")
                    } else {
                        writeln!(out, "{line}")
                    }
                }
                EventFormat::Csv => write!(out, "{}", reports::events::csv_row(&event)),
            };
            n_written += 1;
            written.map_err(|e| {
                let message = format!("cannot write: {e}");
                write_error = Some(e);
                corrupt(message)
            })
        };
        match &mut opened {
            Opened::Sqlite(store) => store
                .read(|conn| store::log::for_each_event(conn, &filter, &mut emit))
                .map_err(Into::into),
            Opened::Postgres(log) => {
                log.for_each_event(&filter, |event| emit(event).map_err(CommandError::from))
            }
        }
    };
    // A reader that stops early (`| head`) is not an error worth a message.
    let broken_pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    match (read, write_error) {
        (_, Some(e)) if broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
        (_, Some(e)) => return Err(e.into()),
        (Err(e), None) => return Err(e),
        (Ok(()), None) => {}
    }
    if args.format == EventFormat::Json {
        let cursor = next_after_seq.map_or("null".to_owned(), |seq| seq.to_string());
        let newline = if n_written == 0 { "" } else { "\n" };
        writeln!(out, "{newline}],\"next_after_seq\":{cursor}}}")?;
    } else if let Some(seq) = next_after_seq {
        eprintln!("next_after_seq: {seq}");
    }
    match out.flush() {
        Err(e) if broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}

pub fn token_create(db: &DbArgs, role: &str) -> Outcome {
    init_logging("warn");
    let settings = settings(db, None)?;
    sqlite_only(&settings, "`token create`")?;
    let store = Store::open(&settings.db, settings.durability)?;
    let (writer, _thread) = store::Writer::spawn(&store, Default::default(), None)?;
    let token = server::auth::generate_token();
    let stored = token.clone();
    let role_owned = role.to_owned();
    writer
        .submit_blocking(move |ctx| ctx.insert_token(&stored, &role_owned))
        .map_err(|e| CommandError::Usage(e.to_string()))??;
    println!("{token}");
    let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    eprintln!("hookledger: created {article} {role} token; it is shown only now");
    Ok(ExitCode::SUCCESS)
}

/// `replay`: rebuilds every projection, in place (under the database's lock, swapped in at the
/// end) or `--into` a new file; prints events replayed, events/s and the digest.
pub fn replay(args: &ReplayArgs) -> Outcome {
    init_logging("warn");
    let settings = settings(&args.db, None)?;
    let limited = args.until_seq.is_some() || args.as_of.is_some();
    if limited && args.into.is_none() {
        return Err(CommandError::Usage(
            "--until-seq and --as-of rebuild a past state, which goes into a new file: add \
             --into PATH (an in-place replay always covers the whole log, so that the live \
             projections agree with it)"
                .into(),
        ));
    }
    if let Location::Postgres(url) = location(&settings) {
        return replay_postgres(args, &url);
    }
    let store = open_existing(&settings)?;
    let target = match &args.into {
        Some(path) => replay::Target::Into(path.clone()),
        None => replay::Target::InPlace,
    };
    // In place: the lock `serve` holds, so that nothing appends while the state is rebuilt.
    // Into: the new file's lock, so that two replays never build the same file.
    let _lock = server::app::lock_database(args.into.as_deref().unwrap_or(&settings.db))?;
    let until_seq = match (&args.until_seq, &args.as_of) {
        (Some(seq), _) => Some(*seq),
        (None, Some(text)) => {
            let time = time_flag("--as-of", Some(text))?.unwrap_or_default();
            Some(store.read(|conn| store::log::seq_as_of(conn, &time))?)
        }
        (None, None) => None,
    };
    drop(store);
    let options = replay::Options {
        until_seq,
        checkpoint_events: args.checkpoint_events,
    };
    let mut progress = ReplayProgress::new();
    let report = replay::replay(&settings.db, &target, &options, &mut |seq, until| {
        progress.update(seq, until)
    })
    .map_err(|e| CommandError::Failed(e.to_string()))?;
    progress.finish();
    if report.resumed_after_seq > 0 {
        eprintln!(
            "hookledger: resumed an interrupted replay after seq {}",
            report.resumed_after_seq
        );
    }
    print_replayed(&report, &report.digest);
    Ok(ExitCode::SUCCESS)
}

/// A replay's one line on stdout: events replayed, events/s and the state digest.
fn print_replayed(report: &replay::Report, digest: &str) {
    println!(
        "replayed {} events (up to seq {}) in {:.3} s: {:.0} events/s; digest {digest}",
        report.n_events_applied,
        report.until_seq,
        report.elapsed.as_secs_f64(),
        report.events_per_second(),
    );
}

/// `replay --db postgres://…`: the projectors run on SQLite, so the log is first copied byte
/// for byte into a scratch file (each row checked as `verify` checks it). `--into PATH` then
/// replays that copy into a new SQLite file PATH (a PostgreSQL ledger taken offline, or a past
/// state of it); in place, the rebuilt projections replace PostgreSQL's in one transaction and
/// the digest is computed from PostgreSQL's rows.
fn replay_postgres(args: &ReplayArgs, url: &str) -> Outcome {
    let _into_lock = args
        .into
        .as_deref()
        .map(server::app::lock_database)
        .transpose()?;
    let mut log = open_postgres(url)?;
    let until_seq = match (&args.until_seq, &args.as_of) {
        (Some(seq), _) => Some(*seq),
        (None, Some(text)) => {
            let time = time_flag("--as-of", Some(text))?.unwrap_or_default();
            Some(log.seq_as_of(&time)?)
        }
        (None, None) => None,
    };
    // Beside the new file, or in the temporary folder (TMPDIR) for an in-place replay.
    let dir = match args.into.as_deref().and_then(std::path::Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        Some(_) => std::path::PathBuf::from("."),
        None => std::env::temp_dir(),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".hookledger-replay-")
        .tempdir_in(&dir)?;
    let copy = scratch.path().join("log.db");
    let head = log.head()?.map_or(0, |(seq, _)| seq);
    let bar = progress(until_seq.map_or(head, |s| s.min(head)), "copying the log");
    log.export_log_to_sqlite(&copy, until_seq, |seq| bar.set_position(seq))?;
    bar.finish_and_clear();
    let (target, rebuilt_path) = match &args.into {
        Some(path) => (replay::Target::Into(path.clone()), path.clone()),
        None => {
            let path = scratch.path().join("rebuilt.db");
            (replay::Target::Into(path.clone()), path)
        }
    };
    let options = replay::Options {
        until_seq,
        checkpoint_events: args.checkpoint_events,
    };
    let mut replay_progress = ReplayProgress::new();
    let report = replay::replay(&copy, &target, &options, &mut |seq, until| {
        replay_progress.update(seq, until)
    })
    .map_err(|e| CommandError::Failed(e.to_string()))?;
    replay_progress.finish();
    let digest = if args.into.is_some() {
        report.digest.clone()
    } else {
        let rebuilt = Store::open(&rebuilt_path, store::Durability::Full)?;
        rebuilt.read(|conn| Ok(log.replace_projections_from_sqlite(conn)))??;
        let digest = log.digest()?;
        if digest != report.digest {
            return Err(CommandError::Failed(format!(
                "the digest in PostgreSQL is {digest} after the copy, the replay's {}",
                report.digest
            )));
        }
        digest
    };
    print_replayed(&report, &digest);
    Ok(ExitCode::SUCCESS)
}

/// `ledger trial-balance | journal | register`.
pub fn ledger(command: &LedgerCommand) -> Outcome {
    init_logging("warn");
    let text = match command {
        LedgerCommand::TrialBalance { db, as_of, format } => {
            let settings = settings(db, None)?;
            let as_of = as_of
                .as_deref()
                .map(|text| reports::AsOf::parse(text).map_err(|e| usage("--as-of", e)))
                .transpose()?;
            let tb = match location(&settings) {
                Location::Sqlite => open_existing(&settings)?.read(|conn| {
                    let until_seq = as_of.as_ref().map(|a| a.until_seq(conn)).transpose()?;
                    store::ledger::trial_balance(conn, until_seq)
                })?,
                Location::Postgres(url) => {
                    let mut log = open_postgres(&url)?;
                    let until_seq = match &as_of {
                        Some(reports::AsOf::Seq(seq)) => Some(*seq),
                        Some(reports::AsOf::Time(time)) => Some(log.seq_as_of(time)?),
                        None => None,
                    };
                    log.trial_balance(until_seq)?
                }
            };
            match format {
                TableFormat::Table => reports::ledger::trial_balance_table(&tb),
                TableFormat::Csv => reports::ledger::trial_balance_csv(&tb),
                TableFormat::Json => json_line(&reports::ledger::TrialBalanceView::from(&tb))?,
            }
        }
        LedgerCommand::Journal {
            db,
            account,
            since,
            until,
            format,
        } => {
            let settings = settings(db, None)?;
            let filter = journal_filter(account.clone(), since, until)?;
            let entries = match location(&settings) {
                Location::Sqlite => {
                    open_existing(&settings)?.read(|conn| store::ledger::journal(conn, &filter))?
                }
                Location::Postgres(url) => open_postgres(&url)?.journal(&filter)?,
            };
            match format {
                JournalFormat::Table => reports::ledger::journal_table(&entries),
                JournalFormat::Csv => reports::ledger::journal_csv(&entries),
                JournalFormat::Json => json_line(&reports::ledger::JournalView::new(&entries))?,
                JournalFormat::Ledger => reports::ledger::journal_ledger(&entries),
                JournalFormat::Beancount => reports::ledger::journal_beancount(&entries),
            }
        }
        LedgerCommand::Register {
            db,
            account,
            since,
            until,
            format,
        } => {
            let settings = settings(db, None)?;
            let filter = journal_filter(None, since, until)?;
            let register = match location(&settings) {
                Location::Sqlite => open_existing(&settings)?
                    .read(|conn| store::ledger::register(conn, account, &filter))?,
                Location::Postgres(url) => open_postgres(&url)?.register(account, &filter)?,
            };
            match format {
                TableFormat::Table => reports::ledger::register_table(&register),
                TableFormat::Csv => reports::ledger::register_csv(&register),
                TableFormat::Json => {
                    json_line(&reports::ledger::RegisterView::new(account, &register))?
                }
            }
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn usage(flag: &str, message: String) -> CommandError {
    CommandError::Usage(format!("{flag}: {message}"))
}

fn json_line(value: &impl serde::Serialize) -> Result<String, CommandError> {
    let mut text = serde_json::to_string(value).map_err(|e| CommandError::Failed(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

fn journal_filter(
    account: Option<String>,
    since: &Option<String>,
    until: &Option<String>,
) -> Result<store::ledger::JournalFilter, CommandError> {
    Ok(store::ledger::JournalFilter {
        account,
        since: time_flag("--since", since.as_deref())?,
        until: time_flag("--until", until.as_deref())?,
        until_seq: None,
    })
}

/// `migrate --from PATH --to URL`: the SQLite ledger at PATH copied into PostgreSQL. In order,
/// each step checked before the next:
/// 1. the source's projections rebuilt by a replay into a scratch file beside it, whose digest
///    must equal the source's own (else the source is not a replay of its log, and nothing is
///    written);
/// 2. the log copied byte for byte (each row's hash recomputed before it is sent; an
///    interrupted copy resumes where it stopped);
/// 3. the copy's whole chain verified in PostgreSQL, ending at the source's head;
/// 4. the rebuilt projections copied in one transaction;
/// 5. the digest computed in PostgreSQL, which must equal the source's.
///
/// The source is locked as `serve` locks it, so that nothing is appended during the copy.
pub fn migrate(args: &MigrateArgs) -> Outcome {
    init_logging("warn");
    if !is_postgres_url(&args.to) {
        return Err(CommandError::Usage(format!(
            "--to: {:?} is not a postgres:// URL",
            redact(&args.to)
        )));
    }
    let from = args.from.to_string_lossy();
    if is_postgres_url(&from) {
        return Err(CommandError::Usage(format!(
            "--from: {} is a URL; migrate copies from an SQLite file",
            redact(&from)
        )));
    }
    if !args.from.exists() {
        return Err(CommandError::Usage(format!(
            "--from: no database at {}",
            args.from.display()
        )));
    }
    let _lock = server::app::lock_database(&args.from)?;
    let source = Store::open(&args.from, store::Durability::Full)?;
    let (count, source_head) = source.read(store::log::head)?;
    let source_digest = source.read(store::projection::digest)?;
    let target = redact(&args.to);
    let mut log = store_pg::PgLog::connect(&args.to)?;
    log.migrate()?;

    // 1. The projections, rebuilt from the log by the projectors (which run on SQLite).
    let dir = args
        .from
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".hookledger-migrate-")
        .tempdir_in(dir)?;
    let rebuilt_path = scratch.path().join("rebuilt.db");
    let mut replay_progress = ReplayProgress::new();
    let rebuilt = replay::replay(
        &args.from,
        &replay::Target::Into(rebuilt_path.clone()),
        &replay::Options {
            until_seq: None,
            checkpoint_events: replay::CHECKPOINT_EVENTS_DEFAULT,
        },
        &mut |seq, until| replay_progress.update(seq, until),
    )
    .map_err(|e| CommandError::Failed(format!("rebuilding the projections: {e}")))?;
    replay_progress.finish();
    if rebuilt.digest != source_digest {
        return Err(CommandError::Failed(format!(
            "the source's projections (digest {source_digest}) are not what its log replays to \
             (digest {}); nothing was copied. Run `hookledger replay --db {}` and migrate again",
            rebuilt.digest,
            args.from.display()
        )));
    }

    // 2. The log, byte for byte.
    let bar = progress(count, "copying events");
    let imported =
        source.read(|conn| Ok(log.import_sqlite_log(conn, |seq| bar.set_position(seq))))??;
    bar.finish_and_clear();
    if imported.head != source_head {
        return Err(CommandError::Failed(format!(
            "the copy ends at {:?}, the source at {:?}",
            imported.head, source_head
        )));
    }

    // 3. The copy's chain, recomputed from the bytes PostgreSQL stored.
    let report = walk_with_progress(count, "verifying the copy", |progress| {
        Ok(log.verify(None, progress)?)
    })?;
    match report {
        VerifyReport::Intact { head } if head == source_head => {}
        VerifyReport::Intact { head } => {
            return Err(CommandError::Failed(format!(
                "the copy verifies to {head:?}, not the source's head {source_head:?}"
            )))
        }
        VerifyReport::Broken {
            first_bad_seq,
            reason,
        } => {
            return Err(CommandError::Failed(format!(
                "the copy in {target} does not verify: first bad seq {first_bad_seq}: {reason}"
            )))
        }
    }

    // 4. The rebuilt projections, in one transaction.
    let rebuilt_store = Store::open(&rebuilt_path, store::Durability::Full)?;
    let copied = rebuilt_store.read(|conn| Ok(log.replace_projections_from_sqlite(conn)))??;
    drop(rebuilt_store);

    // 5. The digest, computed by PostgreSQL's rows.
    let target_digest = log.digest()?;
    if target_digest != source_digest {
        return Err(CommandError::Failed(format!(
            "the digest in {target} is {target_digest}, the source's {source_digest}"
        )));
    }
    let rows: u64 = copied.iter().map(|(_, n)| n).sum();
    let head = match &source_head {
        Some((seq, hash)) => format!("head seq {seq} hash {hash}"),
        None => "an empty log".to_owned(),
    };
    println!(
        "migrated {count} events to {target} ({} copied, {} there already): {head} verified; \
         {rows} projection rows rebuilt; digest {target_digest} on both",
        imported.n_copied, imported.n_already_present
    );
    Ok(ExitCode::SUCCESS)
}
