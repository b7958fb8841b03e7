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
            CommandError::Config(_)
            | CommandError::Usage(_)
            | CommandError::Start(server::StartError::Setting(_)) => 2,
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
            "--db {}: {command} does not run on PostgreSQL yet (serve, token create, verify, \
             digest, events, ledger, replay and migrate do); give it an SQLite file",
            redact(&url)
        ))),
    }
}

/// Takes the database's build lock for this command's session, which every `serve` node holds
/// shared: refused while a node serves it or another command builds it.
fn lock_postgres(log: &mut store_pg::PgLog, target: &str) -> Result<(), CommandError> {
    if log.try_lock_build()? {
        return Ok(());
    }
    Err(CommandError::Failed(format!(
        "{target} is served or being built by another hookledger process (serve, replay, \
         migrate); stop it first"
    )))
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
    init_logging("info,actix_server=warn,hookledger::http=warn,postgres=warn,tokio_postgres=warn");
    let settings = settings(db, bind)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let app = server::Application::build(settings).await?;
        let database = match &app.state().postgres {
            Some(url) => format!(
                "{}, this node's working copy {}",
                redact(url.url()),
                app.state().settings.db.display()
            ),
            None => app.state().settings.db.display().to_string(),
        };
        if let Some(path) = &app.generated_admin_token {
            eprintln!(
                "hookledger: generated an admin token; it is in {}",
                path.display()
            );
        }
        eprintln!(
            "hookledger: serving http://{} (database {database})",
            app.state()
                .settings
                .bind
                .replace(":0", &format!(":{}", app.port())),
        );
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `work` with a progress bar over `total` items on stderr (`work` moves it), cleared at
/// the end whatever the outcome.
fn with_progress<T, E>(
    total: u64,
    what: &str,
    work: impl FnOnce(&indicatif::ProgressBar) -> Result<T, E>,
) -> Result<T, E> {
    let bar = progress(total, what);
    let result = work(&bar);
    bar.finish_and_clear();
    result
}

/// Runs a walk over `count` events with a progress bar (moved every 4,096 events, so that the
/// bar costs nothing per row), cleared at the end.
fn walk_with_progress<T>(
    count: u64,
    what: &str,
    walk: impl FnOnce(&mut dyn FnMut(u64)) -> Result<T, CommandError>,
) -> Result<T, CommandError> {
    with_progress(count, what, |bar| {
        walk(&mut |seq| {
            if seq % 4096 == 0 {
                bar.set_position(seq);
            }
        })
    })
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
    let token = server::auth::generate_token();
    match location(&settings) {
        Location::Postgres(url) => {
            // Every node serving this database accepts it at once.
            open_postgres(&url)?.insert_token(&token, role)?;
        }
        Location::Sqlite => {
            let store = Store::open(&settings.db, settings.durability)?;
            let (writer, _thread) = store::Writer::spawn(&store, Default::default(), None)?;
            let stored = token.clone();
            let role_owned = role.to_owned();
            writer
                .submit_blocking(move |ctx| ctx.insert_token(&stored, &role_owned))
                .map_err(|e| CommandError::Usage(e.to_string()))??;
        }
    }
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
/// end) or `--into` a new file or PostgreSQL database; prints events replayed, events/s and the
/// digest.
pub fn replay(args: &ReplayArgs) -> Outcome {
    init_logging("warn");
    let settings = settings(&args.db, None)?;
    let limited = args.until_seq.is_some() || args.as_of.is_some();
    if limited && args.into.is_none() {
        return Err(CommandError::Usage(
            "--until-seq and --as-of rebuild a past state, which goes into a new ledger: add \
             --into PATH|URL (an in-place replay always covers the whole log, so that the live \
             projections agree with it)"
                .into(),
        ));
    }
    let into_url = args.into.as_deref().and_then(std::path::Path::to_str);
    if let Some(url) = into_url.filter(|text| is_postgres_url(text)) {
        return replay_into_postgres(args, &settings, url);
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
    let options = replay_options(args, |time| {
        Ok(store.read(|conn| store::log::seq_as_of(conn, time))?)
    })?;
    drop(store);
    let report = replay_with_progress(&settings.db, &target, &options)
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    if report.resumed_after_seq > 0 {
        eprintln!(
            "hookledger: resumed an interrupted replay after seq {}",
            report.resumed_after_seq
        );
    }
    print_replayed(&report, &report.digest);
    Ok(ExitCode::SUCCESS)
}

/// The replay `args` ask for: up to `--until-seq`, or to the last event recorded at or before
/// `--as-of` (which `seq_as_of` looks up in the source, given the log's fixed-width time), or
/// to the head.
fn replay_options(
    args: &ReplayArgs,
    seq_as_of: impl FnOnce(&str) -> Result<u64, CommandError>,
) -> Result<replay::Options, CommandError> {
    let until_seq = match (&args.until_seq, &args.as_of) {
        (Some(seq), _) => Some(*seq),
        (None, Some(text)) => {
            let time = time_flag("--as-of", Some(text))?.unwrap_or_default();
            Some(seq_as_of(&time)?)
        }
        (None, None) => None,
    };
    Ok(replay::Options {
        until_seq,
        checkpoint_events: args.checkpoint_events,
        ..replay::Options::default()
    })
}

/// A replay with its progress on stderr (cleared at the end whatever the outcome).
fn replay_with_progress(
    source: &std::path::Path,
    target: &replay::Target,
    options: &replay::Options,
) -> Result<replay::Report, replay::ReplayError> {
    let mut progress = ReplayProgress::new();
    let report = replay::replay(source, target, options, &mut |seq, until| {
        progress.update(seq, until)
    });
    progress.finish();
    report
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

/// The folder `path` is in (`.` for a bare file name).
fn folder_of(path: &std::path::Path) -> &std::path::Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
}

/// A new scratch folder `<prefix>…` in `dir`, removed with the value.
fn scratch_in(dir: &std::path::Path, prefix: &str) -> Result<tempfile::TempDir, CommandError> {
    Ok(tempfile::Builder::new().prefix(prefix).tempdir_in(dir)?)
}

/// The PostgreSQL log (up to `options.until_seq`) replayed on SQLite, where the projectors
/// run: copied byte for byte into `scratch/log.db` (each row checked as `verify` checks it),
/// then replayed into the new file `rebuilt`, which ends up holding that log and its
/// projections.
fn replay_postgres_log(
    log: &mut store_pg::PgLog,
    scratch: &std::path::Path,
    rebuilt: &std::path::Path,
    options: &replay::Options,
) -> Result<replay::Report, CommandError> {
    let copy = scratch.join("log.db");
    let head = log.head()?.map_or(0, |(seq, _)| seq);
    let count = options.until_seq.map_or(head, |seq| seq.min(head));
    with_progress(count, "copying the log", |bar| {
        log.export_log_to_sqlite(&copy, options.until_seq, |seq| bar.set_position(seq))
    })?;
    let target = replay::Target::Into(rebuilt.to_path_buf());
    replay_with_progress(&copy, &target, options).map_err(|e| CommandError::Failed(e.to_string()))
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
    if args.into.is_none() {
        // In place: no node may append between the copy of the log and the swap.
        lock_postgres(&mut log, &redact(url))?;
    }
    let options = replay_options(args, |time| Ok(log.seq_as_of(time)?))?;
    // Beside the new file, or in the temporary folder (TMPDIR) for an in-place replay.
    let dir = match args.into.as_deref() {
        Some(path) => folder_of(path).to_path_buf(),
        None => std::env::temp_dir(),
    };
    let scratch = scratch_in(&dir, ".hookledger-replay-")?;
    let rebuilt_path = match &args.into {
        Some(path) => path.clone(),
        None => scratch.path().join("rebuilt.db"),
    };
    let report = replay_postgres_log(&mut log, scratch.path(), &rebuilt_path, &options)?;
    let digest = match &args.into {
        Some(_) => report.digest.clone(),
        None => {
            let rebuilt = Store::open(&rebuilt_path, store::Durability::Full)?;
            replace_projections(&mut log, &redact(url), &rebuilt, &report.digest)?
        }
    };
    print_replayed(&report, &digest);
    Ok(ExitCode::SUCCESS)
}

/// `replay --into postgres://…`: a new PostgreSQL ledger built from the source (an SQLite file
/// or another PostgreSQL database, left untouched) up to the chosen seq. The target is checked
/// first: not the source, not being built by another replay (a session lock there), and no row
/// in its `events` table. The source is then replayed into a scratch SQLite file (beside an
/// SQLite source; in TMPDIR for a PostgreSQL one, whose log is first copied out), which holds
/// exactly the log up to that seq and its rebuilt projections; that file fills the target as
/// `migrate` fills one, each step checked: the log byte for byte, its chain verified there,
/// the projections in one transaction, and the digest computed from PostgreSQL's rows, which
/// must be the replay's.
fn replay_into_postgres(args: &ReplayArgs, settings: &Settings, url: &str) -> Outcome {
    let mut source = match location(settings) {
        Location::Sqlite => Opened::Sqlite(open_existing(settings)?),
        Location::Postgres(source_url) => Opened::Postgres(Box::new(open_postgres(&source_url)?)),
    };
    let (source_log, scratch_dir) = match &mut source {
        Opened::Sqlite(_) => (None, folder_of(&settings.db).to_path_buf()),
        Opened::Postgres(log) => (Some(log.as_mut()), std::env::temp_dir()),
    };
    let mut target_log = open_empty_target(url, source_log)?;
    let scratch = scratch_in(&scratch_dir, ".hookledger-replay-")?;
    let rebuilt_path = scratch.path().join("rebuilt.db");
    let report = match source {
        Opened::Sqlite(store) => {
            let options = replay_options(args, |time| {
                Ok(store.read(|conn| store::log::seq_as_of(conn, time))?)
            })?;
            drop(store);
            let target = replay::Target::Into(rebuilt_path.clone());
            replay_with_progress(&settings.db, &target, &options)
                .map_err(|e| CommandError::Failed(e.to_string()))?
        }
        Opened::Postgres(mut log) => {
            let options = replay_options(args, |time| Ok(log.seq_as_of(time)?))?;
            replay_postgres_log(&mut log, scratch.path(), &rebuilt_path, &options)?
        }
    };
    // The scratch file holds exactly the log up to `report.until_seq` and its projections.
    let rebuilt = Store::open(&rebuilt_path, store::Durability::Full)?;
    let (_, head) = rebuilt.read(store::log::head)?;
    target_log.migrate()?;
    let filled = fill_postgres(
        &mut target_log,
        &redact(url),
        &rebuilt,
        &rebuilt,
        &head,
        &report.digest,
    )
    .map_err(|failure| {
        let state = state_after_failure(url, failure.step);
        CommandError::Failed(format!("{}; {state}", failure.error))
    })?;
    print_replayed(&report, &filled.digest);
    Ok(ExitCode::SUCCESS)
}

/// Connects to the target of `replay --into postgres://…` and refuses it unless it can become
/// a new ledger: it is not `source` (the same database reached by another URL, say), no other
/// replay is building it (this connection takes the build lock, held until it closes), and
/// its `events` table is absent or empty. Nothing in it changes.
fn open_empty_target(
    url: &str,
    source: Option<&mut store_pg::PgLog>,
) -> Result<store_pg::PgLog, CommandError> {
    let target = redact(url);
    let mut log = store_pg::PgLog::connect(url)?;
    if let Some(source) = source {
        if source.identity()? == log.identity()? {
            return Err(CommandError::Failed(format!(
                "--into {target} is the source database; name a new database"
            )));
        }
    }
    if !log.try_lock_build()? {
        return Err(CommandError::Failed(format!(
            "{target} is served or being built by another hookledger process (serve, replay, \
             migrate); stop it, wait for it to finish or name another database"
        )));
    }
    if log.holds_events()? {
        return Err(CommandError::Failed(format!(
            "{target} holds events (its events table is not empty); name a new database (or \
             drop that one)"
        )));
    }
    Ok(log)
}

/// The steps of [`fill_postgres`], in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FillStep {
    CopyingEvents,
    Verifying,
    CopyingProjections,
    CheckingDigest,
}

/// Why [`fill_postgres`] stopped, and at which step.
#[derive(Debug)]
struct FillFailure {
    step: FillStep,
    error: CommandError,
}

impl From<FillFailure> for CommandError {
    fn from(failure: FillFailure) -> CommandError {
        failure.error
    }
}

/// What [`fill_postgres`] did.
struct Filled {
    imported: store_pg::ImportReport,
    n_projection_rows: u64,
    /// Computed from PostgreSQL's rows (the one expected).
    digest: String,
}

/// Fills the PostgreSQL ledger `log` (migrated) from SQLite, each step checked before the
/// next: `events`' log copied byte for byte (each row's hash recomputed before it is sent; a
/// copy that holds a prefix already is continued), its whole chain verified in PostgreSQL to
/// end at `head`, `projections`' projection rows copied in one transaction, and the digest
/// computed from PostgreSQL's rows required to be `digest`. `target` names `log` in messages.
fn fill_postgres(
    log: &mut store_pg::PgLog,
    target: &str,
    events: &Store,
    projections: &Store,
    head: &Option<(u64, String)>,
    digest: &str,
) -> Result<Filled, FillFailure> {
    let at = |step: FillStep| move |error: CommandError| FillFailure { step, error };
    let count = head.as_ref().map_or(0, |(seq, _)| *seq);
    let imported = with_progress(count, "copying events", |bar| {
        let imported =
            events.read(|conn| Ok(log.import_sqlite_log(conn, |seq| bar.set_position(seq))))??;
        if &imported.head != head {
            return Err(CommandError::Failed(format!(
                "the copy ends at {:?}, the source at {head:?}",
                imported.head
            )));
        }
        Ok(imported)
    })
    .map_err(at(FillStep::CopyingEvents))?;
    verify_copy(log, target, head).map_err(at(FillStep::Verifying))?;
    let n_projection_rows =
        copy_projections(log, projections).map_err(at(FillStep::CopyingProjections))?;
    let digest = check_digest(log, target, digest).map_err(at(FillStep::CheckingDigest))?;
    Ok(Filled {
        imported,
        n_projection_rows,
        digest,
    })
}

/// Verifies the chain of the copy in PostgreSQL, recomputed from the bytes it stored, and
/// requires it to end at `head`.
fn verify_copy(
    log: &mut store_pg::PgLog,
    target: &str,
    head: &Option<(u64, String)>,
) -> Result<(), CommandError> {
    let count = head.as_ref().map_or(0, |(seq, _)| *seq);
    let report = walk_with_progress(count, "verifying the copy", |progress| {
        Ok(log.verify(None, progress)?)
    })?;
    match report {
        VerifyReport::Intact { head: copied } if &copied == head => Ok(()),
        VerifyReport::Intact { head: copied } => Err(CommandError::Failed(format!(
            "the copy verifies to {copied:?}, not the source's head {head:?}"
        ))),
        VerifyReport::Broken {
            first_bad_seq,
            reason,
        } => Err(CommandError::Failed(format!(
            "the copy in {target} does not verify: first bad seq {first_bad_seq}: {reason}"
        ))),
    }
}

/// Replaces every projection row in PostgreSQL by `projections`' (one transaction). Returns
/// the rows copied.
fn copy_projections(log: &mut store_pg::PgLog, projections: &Store) -> Result<u64, CommandError> {
    let copied = projections.read(|conn| Ok(log.replace_projections_from_sqlite(conn)))??;
    Ok(copied.iter().map(|(_, n)| n).sum())
}

/// The digest computed from PostgreSQL's rows, required to be `expected`.
fn check_digest(
    log: &mut store_pg::PgLog,
    target: &str,
    expected: &str,
) -> Result<String, CommandError> {
    let digest = log.digest()?;
    if digest != expected {
        return Err(CommandError::Failed(format!(
            "the digest computed in {target} is {digest} after the copy, not {expected} (the \
             rebuilt state's)"
        )));
    }
    Ok(digest)
}

/// The rebuilt projections of `rebuilt` in place of PostgreSQL's (one transaction), and the
/// digest computed from PostgreSQL's rows, required to be `expected`.
fn replace_projections(
    log: &mut store_pg::PgLog,
    target: &str,
    rebuilt: &Store,
    expected: &str,
) -> Result<String, CommandError> {
    copy_projections(log, rebuilt)?;
    check_digest(log, target, expected)
}

/// What the target of a `replay --into postgres://…` holds after [`fill_postgres`] failed at
/// `step`, asked of it on a new connection (the failure may have been the old one's).
fn state_after_failure(url: &str, step: FillStep) -> String {
    let target = redact(url);
    let head = store_pg::PgLog::connect(url).and_then(|mut log| match log.holds_events()? {
        true => log.head(),
        false => Ok(None),
    });
    let seq = match head {
        Err(e) => {
            return format!(
                "cannot tell what {target} holds now ({e}): it may hold part of the log, and is \
                 no ledger to use; drop it and replay into a new database"
            )
        }
        Ok(None) => {
            return format!("{target} holds no events (only empty tables): replay into it again")
        }
        Ok(Some((seq, _))) => seq,
    };
    let holds = match step {
        FillStep::CopyingEvents => {
            format!("the first {seq} events of the log (the copy stopped there), no projections")
        }
        FillStep::Verifying => {
            format!("{seq} events that do not verify as the log's, no projections")
        }
        FillStep::CopyingProjections => format!(
            "the log up to seq {seq}, verified, and its projections as they were (their copy is \
             one transaction)"
        ),
        FillStep::CheckingDigest => format!(
            "the log up to seq {seq}, verified, and the rebuilt projections, whose digest there \
             is not the replay's"
        ),
    };
    format!(
        "{target} now holds {holds}: it is no ledger to use; drop it and replay into a new \
         database"
    )
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
/// Steps 2 to 5 are [`fill_postgres`]'s. The source is locked as `serve` locks it, so that
/// nothing is appended during the copy.
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
    lock_postgres(&mut log, &target)?;

    // 1. The projections, rebuilt from the log by the projectors (which run on SQLite).
    let scratch = scratch_in(folder_of(&args.from), ".hookledger-migrate-")?;
    let rebuilt_path = scratch.path().join("rebuilt.db");
    let rebuilt = replay_with_progress(
        &args.from,
        &replay::Target::Into(rebuilt_path.clone()),
        &replay::Options::default(),
    )
    .map_err(|e| CommandError::Failed(format!("rebuilding the projections: {e}")))?;
    if rebuilt.digest != source_digest {
        return Err(CommandError::Failed(format!(
            "the source's projections (digest {source_digest}) are not what its log replays to \
             (digest {}); nothing was copied. Run `hookledger replay --db {}` and migrate again",
            rebuilt.digest,
            args.from.display()
        )));
    }

    // 2. to 5.: the log, its chain, the rebuilt projections, the digest.
    let rebuilt_store = Store::open(&rebuilt_path, store::Durability::Full)?;
    let filled = fill_postgres(
        &mut log,
        &target,
        &source,
        &rebuilt_store,
        &source_head,
        &source_digest,
    )?;
    drop(rebuilt_store);
    let head = match &source_head {
        Some((seq, hash)) => format!("head seq {seq} hash {hash}"),
        None => "an empty log".to_owned(),
    };
    // 6. The minted tokens (as their SHA-256): every node serving the database accepts them.
    let tokens = source.read(store::ops::all_tokens)?;
    let tokens_added = log.import_tokens(&tokens)?;
    println!(
        "migrated {count} events to {target} ({} copied, {} there already): {head} verified; \
         {} projection rows rebuilt; digest {} on both; {} of {} tokens added",
        filled.imported.n_copied,
        filled.imported.n_already_present,
        filled.n_projection_rows,
        filled.digest,
        tokens_added,
        tokens.len()
    );
    Ok(ExitCode::SUCCESS)
}
