//! Building and running the service: [`Application::build`] opens the store, starts the writer
//! and the request log, binds the listener (port 0 picks a free port, for tests) and reports the
//! port it got, and starts the delivery worker and the console's chain check;
//! [`Application::run_until_stopped`] serves until
//! SIGINT/SIGTERM (or [`Application::stop_handle`]), then stops the worker.

use std::fs::File;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use ingest::Secret;
use store::requestlog::RequestLog;
use store::{Store, Writer, WriterConfig};

use crate::auth::generate_token;
use crate::metrics::Metrics;
use crate::routes::console::ConsoleState;
use crate::settings::Settings;
use crate::state::{AppState, OutboundState};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: String,
        source: std::io::Error,
    },
    /// Another `serve` (or an in-place `replay`) holds the database.
    #[error("{0} is held by another hookledger process (serve or replay); stop it first")]
    Locked(PathBuf),
    #[error("cannot start the delivery worker: {0}")]
    Outbound(#[from] outbound::OutboundError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Postgres(#[from] store_pg::PgStoreError),
    /// A setting that serving on PostgreSQL needs is missing: which, and why.
    #[error("{0}")]
    Setting(String),
}

/// A built, not yet running, service.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: AppState,
    /// The delivery worker's task, aborted when the server stops.
    delivery_worker: tokio::task::JoinHandle<()>,
    /// The console's chain badge's background verification, aborted when the server stops.
    chain_watch: tokio::task::JoinHandle<()>,
    _lock: File,
    /// Set when the admin token was generated and stored on this start.
    pub generated_admin_token: Option<PathBuf>,
}

/// Takes the exclusive lock that marks a database as served (released when the file closes,
/// also when the process dies).
pub fn lock_database(db: &std::path::Path) -> Result<File, StartError> {
    let path = db.with_extension("lock");
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StartError::Io {
            what: format!("cannot open {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(StartError::Locked(db.to_path_buf())),
    }
}

impl Application {
    pub async fn build(mut settings: Settings) -> Result<Application, StartError> {
        let postgres = settings.postgres_url().map(str::to_owned);
        if let Some(url) = &postgres {
            if settings.admin_token.is_none() {
                return Err(StartError::Setting(
                    "admin_token: on PostgreSQL every node needs the same admin token; set \
                     HOOKLEDGER_ADMIN_TOKEN (or admin_token in the config file)"
                        .into(),
                ));
            }
            // The node's own files (working copy, request log, lock) live in its folder.
            settings.db = settings.working_copy_path(url);
        }
        let lock = lock_database(&settings.db)?;
        let metrics = Metrics::new();
        // The delivery worker wakes after every committed batch: new outbox rows, new schedules.
        let wake = Arc::new(tokio::sync::Notify::new());
        let writer_config = WriterConfig {
            batch_max: settings.writer_batch_max,
            queue_max: settings.writer_queue_max,
            ..WriterConfig::default()
        };
        let observer = Some(metrics.writer_observer_waking(wake.clone()));
        let (store, writer) = match &postgres {
            None => {
                let store = Store::open(&settings.db, settings.durability)?;
                let (writer, _thread) = Writer::spawn(&store, writer_config, observer)?;
                (store, writer)
            }
            Some(url) => {
                // The PostgreSQL client blocks: off the runtime's threads.
                let (url, path) = (url.clone(), settings.db.clone());
                tokio::task::spawn_blocking(move || {
                    let store = crate::postgres::working_copy(&url, &path)?;
                    let shared = crate::postgres::shared(&url)?;
                    let (writer, _thread) =
                        Writer::spawn_shared(&store, writer_config, observer, shared)?;
                    Ok::<_, StartError>((store, writer))
                })
                .await
                .map_err(|e| StartError::Setting(format!("cannot open PostgreSQL: {e}")))??
            }
        };
        let request_log =
            RequestLog::open(&settings.request_log_path(), settings.request_log_rows_max)?;
        let (admin_token, generated_admin_token) = resolve_admin_token(&settings)?;
        let listener = TcpListener::bind(&settings.bind).map_err(|source| StartError::Bind {
            bind: settings.bind.clone(),
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                bind: settings.bind.clone(),
                source,
            })?
            .port();
        // Started once the listener is bound, so that a failed start leaves no worker behind.
        let outbound_config = settings.outbound_config();
        let outbound = OutboundState::new(&outbound_config)?;
        let delivery_worker = if let Some(url) = &postgres {
            // Every node runs one; they share the delivery state in PostgreSQL, with leases.
            outbound::on_postgres::start(url, outbound_config, Arc::new(metrics.clone()), wake)
                .await?
        } else {
            outbound::start(
                store.clone(),
                writer.clone(),
                outbound_config,
                Arc::new(metrics.clone()),
                wake,
            )
            .await?
        };
        let settings_rate = settings.source_rate_per_second;
        let connections_max = settings.connections_max;
        let console = ConsoleState::default();
        let state = AppState {
            settings: Arc::new(settings),
            store,
            writer,
            postgres: postgres
                .as_deref()
                .map(|url| Arc::new(crate::postgres::PgPool::new(url))),
            request_log,
            metrics,
            admin_token,
            outbound,
            storage: Default::default(),
            rates: Arc::new(crate::rate::SourceRates::new(settings_rate)),
            console,
        };
        let data = web::Data::new(state.clone());
        // The JSON APIs' bodies (subscriptions, tokens, seed 003's test) share the webhooks' limit.
        let payload_config = web::PayloadConfig::new(state.settings.body_limit_bytes);
        // `connections_max` over all workers (actix counts per worker); beyond, new connections
        // wait in the kernel's accept queue.
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let per_worker = connections_max.div_ceil(workers).max(1);
        // The access log costs a formatted line per request; it is on only when its target is
        // enabled (`RUST_LOG=info,hookledger::http=info`). The request log records every
        // inbound request either way.
        let access_log = tracing::enabled!(target: "hookledger::http", tracing::Level::INFO);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(payload_config.clone())
                .wrap(
                    actix_web::middleware::ErrorHandlers::new()
                        .default_handler(crate::error::json_errors),
                )
                .wrap(actix_web::middleware::Condition::new(
                    access_log,
                    tracing_actix(),
                ))
                .configure(crate::routes::configure)
        })
        .workers(workers)
        .max_connections(per_worker)
        .listen(listener)
        .map_err(|source| StartError::Bind {
            bind: state.settings.bind.clone(),
            source,
        })?
        .run();
        // Started last, so that a failed start leaves no task behind.
        let chain_watch = tokio::spawn(crate::routes::console::chain::run(
            state.store.clone(),
            state.console.chain.clone(),
            state.settings.console_full_verify_interval,
        ));
        Ok(Application {
            port,
            server,
            state,
            delivery_worker,
            chain_watch,
            _lock: lock,
            generated_admin_token,
        })
    }

    /// A handle that stops the server (and then the delivery worker) from elsewhere.
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The port the listener got.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped (SIGINT or SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Application {
            server,
            state,
            delivery_worker,
            chain_watch,
            _lock,
            ..
        } = self;
        let result = server.await;
        delivery_worker.abort();
        chain_watch.abort();
        let _ = delivery_worker.await;
        let _ = chain_watch.await;
        state.request_log.flush();
        drop(_lock);
        result
    }
}

/// Logs each request's method, path, status and latency (target `hookledger::http`).
fn tracing_actix() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new("%r %s %Dms").log_target("hookledger::http")
}

/// The admin token: from the settings, else from the file beside the database, else a new one
/// written there (mode 0600) and announced on stderr.
fn resolve_admin_token(settings: &Settings) -> Result<(Secret, Option<PathBuf>), StartError> {
    if let Some(token) = &settings.admin_token {
        return Ok((token.clone(), None));
    }
    let path = settings.admin_token_path();
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim();
        if !token.is_empty() {
            return Ok((Secret::new(token), None));
        }
    }
    let token = generate_token();
    let io = |source| StartError::Io {
        what: format!("cannot write the admin token to {}", path.display()),
        source,
    };
    let mut options = File::options();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io)?;
    writeln!(file, "{token}").map_err(io)?;
    Ok((Secret::new(token), Some(path)))
}
