//! One function per command.

use std::io::Write as _;
use std::process::ExitCode;

use server::{Overrides, Settings};
use store::log::EventFilter;
use store::{Store, VerifyReport};

use crate::output::{csv_field, progress};
use crate::{DbArgs, EventFormat, EventsArgs};

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
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A bad argument value. Exit 2.
    #[error("{0}")]
    Usage(String),
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

/// Opens an existing database (offline commands never create one by accident).
fn open_existing(settings: &Settings) -> Result<Store, CommandError> {
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
    init_logging("info,actix_server=warn");
    let settings = settings(db, bind)?;
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
    let store = open_existing(&settings)?;
    let (count, _) = store.read(store::log::head)?;
    let bar = progress(count, "verifying");
    let report = store.read(|conn| {
        store::verify::verify(
            conn,
            expect.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
            |seq| {
                if seq % 4096 == 0 {
                    bar.set_position(seq);
                }
            },
        )
    })?;
    bar.finish_and_clear();
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
    let store = open_existing(&settings)?;
    println!("{}", store.read(store::projection::digest)?);
    Ok(ExitCode::SUCCESS)
}

pub fn events(args: &EventsArgs) -> Outcome {
    init_logging("warn");
    let settings = settings(&args.db, None)?;
    let store = open_existing(&settings)?;
    let time = |flag: &str, value: &Option<String>| -> Result<Option<String>, CommandError> {
        value
            .as_deref()
            .map(|text| {
                domain::time::normalize(text).ok_or_else(|| {
                    CommandError::Usage(format!("{flag}: {text:?} is not an RFC 3339 time"))
                })
            })
            .transpose()
    };
    let filter = EventFilter {
        stream: args.stream.clone(),
        event_type: args.event_type.clone(),
        source: args.source.clone(),
        since: time("--since", &args.since)?,
        until: time("--until", &args.until)?,
        after_seq: args.after_seq,
        limit: args.limit,
        until_seq: None,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut first = true;
    match args.format {
        EventFormat::Json => write!(out, "[")?,
        EventFormat::Csv => writeln!(
            out,
            "seq,id,stream,stream_version,type,type_version,source,tenant,recorded_at,idempotency_key,payload,prev_hash,hash"
        )?,
        EventFormat::Ndjson => {}
    }
    let mut write_error: Option<std::io::Error> = None;
    let read = store.read(|conn| {
        store::log::for_each_event(conn, &filter, |event| {
            let written = match args.format {
                EventFormat::Json | EventFormat::Ndjson => {
                    let view = server::routes::api::events::EventView::from_event(event, false)
                        .map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
                    let line = serde_json::to_string(&view)
                        .map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
                    if args.format == EventFormat::Json {
                        write!(out, "{}{line}", if first { "\n" } else { ",\n" })
                    } else {
                        writeln!(out, "{line}")
                    }
                }
                EventFormat::Csv => writeln!(
                    out,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    event.seq,
                    event.id,
                    csv_field(&event.stream),
                    event.stream_version,
                    csv_field(&event.event_type),
                    event.type_version,
                    csv_field(&event.source),
                    event.tenant,
                    event.recorded_at,
                    csv_field(&event.idempotency_key),
                    csv_field(&event.payload),
                    event.prev_hash,
                    event.hash
                ),
            };
            first = false;
            written.map_err(|e| {
                let message = format!("cannot write: {e}");
                write_error = Some(e);
                store::StoreError::Corrupt(message)
            })
        })
    });
    // A reader that stops early (`| head`) is not an error worth a message.
    let broken_pipe = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    match (read, write_error) {
        (_, Some(e)) if broken_pipe(&e) => return Ok(ExitCode::SUCCESS),
        (_, Some(e)) => return Err(e.into()),
        (Err(e), None) => return Err(e.into()),
        (Ok(()), None) => {}
    }
    let end = if args.format == EventFormat::Json {
        writeln!(out, "{}]", if first { "" } else { "\n" })
    } else {
        Ok(())
    };
    match end.and_then(|()| out.flush()) {
        Err(e) if !broken_pipe(&e) => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

pub fn token_create(db: &DbArgs, role: &str) -> Outcome {
    init_logging("warn");
    let settings = settings(db, None)?;
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
