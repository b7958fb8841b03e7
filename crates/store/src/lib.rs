//! The SQLite event log and the state derived from it. Only this crate issues SQL.
//!
//! # Layout
//! - [`schema`]: numbered migrations (`PRAGMA user_version`).
//! - [`hash`]: the hash chain's byte layout.
//! - [`log`]: appending (inside the writer's transaction), reading and querying events.
//! - [`ops`]: operational state outside the digest (tokens).
//! - [`delivery`]: outbound delivery state outside the digest (subscriptions, deliveries,
//!   attempts, the delivery worker's cursor).
//! - [`verify`]: recomputing the chain.
//! - [`writer`]: the one writer thread with group commit, over state staged in memory.
//! - [`checkpoint`]: the WAL checkpointer thread (off the commit path).
//! - [`requestlog`]: the operational log of every inbound request, in its own file.
//! - [`projection`]: the tables projectors write (documents, journal lines, outbox) and the
//!   state digest over them.
//! - [`staging`]: projection writes staged in memory per job and batch, and the cache of
//!   committed documents (typed values, so a read is a clone, not a parse).
//! - [`ledger`]: the accountant's queries (trial balance, journal, register).
//! - [`rebuild`]: replay's SQL (rebuild targets, checkpoints, the swap into the live file).
//! - [`console`]: the web console's read-only queries (the timeline newest first, what an
//!   event caused, a register page by page).
//!
//! A [`Store`] is a path plus a pool of read-only connections. The one read-write connection
//! lives inside the [`writer::Writer`] thread; readers run beside it thanks to WAL.

pub mod checkpoint;
pub mod console;
pub mod delivery;
pub mod hash;
mod keyfilter;
pub mod ledger;
pub mod log;
pub mod ops;
pub mod projection;
pub mod rebuild;
pub mod requestlog;
pub mod schema;
pub mod shared;
pub mod staging;
pub mod verify;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use log::{Appended, EventFilter, WriteCtx};
pub use projection::{ProjectionTx, Staging};
pub use verify::VerifyReport;
pub use writer::{BatchReport, WriteError, Writer, WriterConfig};

/// Errors of the store. Handling: these are server-side failures (500) unless a variant says
/// otherwise.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A database file that had to go could not be removed.
    #[error("cannot remove {path}: {source}")]
    RemoveFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was written by a newer hookledger. Handling: upgrade the binary.
    #[error("the database schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew { found: u32, supported: u32 },
    /// A stored row does not have the shape this build expects. Handling: run `verify`.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// An invariant of the log broke (a gap in seq, a chain mismatch while appending). This is a
    /// bug or outside tampering; the writer refuses to go on.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The log shared with other nodes (PostgreSQL, [`shared::SharedLog`]) failed or cannot be
    /// reached; nothing of the batch was acknowledged. Handling: 503, retry later.
    #[error("shared log: {0}")]
    Shared(String),
}

/// How durable a commit is (SQLite's `synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: a commit survives power loss. The default.
    #[default]
    Full,
    /// `synchronous=NORMAL`: a commit survives a process crash; the last commits may be lost on
    /// power loss.
    Normal,
}

/// How long a connection waits for a lock held by another connection.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read-only connections kept open for reuse.
const READERS_IDLE_MAX: usize = 16;

/// A handle on one database file: it opens the writer's connection and lends read-only ones.
#[derive(Clone)]
pub struct Store {
    path: Arc<PathBuf>,
    durability: Durability,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl Store {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>, durability: Durability) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut conn = open_rw(&path, durability)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            path: Arc::new(path),
            durability,
            readers: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens a new read-write connection. Only the writer and offline tools (replay) use one.
    pub fn open_writer_connection(&self) -> Result<Connection, StoreError> {
        open_rw(&self.path, self.durability)
    }

    /// Runs `f` on a read-only connection from the pool.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pooled = self.readers.lock().ok().and_then(|mut pool| pool.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &*self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn
            }
        };
        let result = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < READERS_IDLE_MAX {
                pool.push(conn);
            }
        }
        result
    }
}

fn open_rw(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}
