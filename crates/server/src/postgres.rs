//! Serving on PostgreSQL (decision 8): the log is shared with the other nodes there, and this
//! node keeps a working copy of it in an SQLite file of its own, which its writer follows and
//! every read is served from.

use std::path::Path;
use std::sync::{Arc, Mutex};

use store_pg::{PgLog, PgStoreError};

use store::shared::{Shared, FOLLOW_INTERVAL_DEFAULT};
use store::{Durability, Store};

use crate::app::StartError;
use crate::ApiError;

/// The shared log for this node's writer: the database at `url`, and the projectors that fold
/// the events other nodes appended.
pub fn shared(url: &str) -> Result<Shared, StartError> {
    Ok(Shared {
        log: Box::new(store_pg::PgShared::connect(url)?),
        follow: Arc::new(|tx, event| projections::apply(*tx, event).map_err(|e| e.to_string())),
        interval: FOLLOW_INTERVAL_DEFAULT,
    })
}

/// Migrates the database at `url` (an empty one gets the schema) and opens this node's working
/// copy at `path`. A copy that does not belong to this database's log (its head is not the
/// shared log's event at that `seq`: another database, or one restored from an older backup)
/// is only a cache: it is deleted and built again.
pub fn working_copy(url: &str, path: &Path) -> Result<Store, StartError> {
    let mut log = store_pg::PgLog::connect(url)?;
    log.migrate()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
            what: format!("cannot create {}", dir.display()),
            source,
        })?;
    }
    // Durable enough: a commit lost here is followed again from PostgreSQL.
    let store = Store::open(path, Durability::Normal)?;
    let (_, local) = store.read(store::log::head)?;
    let Some((seq, hash)) = local else {
        return Ok(store);
    };
    let shared = log.read_events(seq - 1, 1)?;
    if shared.first().is_some_and(|event| event.hash == hash) {
        return Ok(store);
    }
    tracing::warn!(
        copy = %path.display(),
        seq,
        "this node's working copy does not belong to the PostgreSQL log; building it again"
    );
    drop(store);
    store::rebuild::remove_database(path)?;
    Ok(Store::open(path, Durability::Normal)?)
}

/// Connections to PostgreSQL for the handlers (minted tokens), made on demand and reused.
pub struct PgPool {
    url: String,
    idle: Mutex<Vec<PgLog>>,
}

impl Drop for PgPool {
    fn drop(&mut self) {
        // A client's drop blocks on its own runtime: never on the async runtime's threads.
        let idle = self.idle.get_mut().map(std::mem::take).unwrap_or_default();
        if !idle.is_empty() {
            let _ = std::thread::Builder::new()
                .name("hookledger-pg-close".into())
                .spawn(move || drop(idle));
        }
    }
}

/// Connections kept open for reuse.
const IDLE_MAX: usize = 8;

impl PgPool {
    pub fn new(url: &str) -> PgPool {
        PgPool {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` on a connection, off the runtime's threads. A connection whose statement failed
    /// is dropped (a new one is made next time). PostgreSQL unreachable or failing: 503.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgLog) -> Result<T, PgStoreError> + Send + 'static,
    {
        let pool = self.clone();
        actix_web::web::block(move || {
            let pooled = pool.idle.lock().ok().and_then(|mut idle| idle.pop());
            let mut log = match pooled {
                Some(log) => log,
                None => PgLog::connect(&pool.url)?,
            };
            let result = f(&mut log);
            if result.is_ok() {
                if let Ok(mut idle) = pool.idle.lock() {
                    if idle.len() < IDLE_MAX {
                        idle.push(log);
                    }
                }
            }
            result
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            PgStoreError::Postgres(_) => ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("PostgreSQL is unavailable; retry later ({e})"),
            ),
            other => ApiError::internal(other),
        })
    }
}
