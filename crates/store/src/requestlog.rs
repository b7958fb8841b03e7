//! The request log: every inbound request, accepted or not, with its outcome.
//!
//! It is operational, not part of the chain or the digest, and lives in its own SQLite file with
//! its own batched writer thread, so that a flood of rejected requests never slows the ledger's
//! writer. Entries are queued without waiting; if the queue is full the entry is dropped and
//! counted (the event log, not this, is the record that matters). A batch the disk refuses
//! (full, read-only, failing) is kept and written again once it can be, so a disk fault loses
//! no entry. The file keeps at most `rows_max` entries, dropping the oldest.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;

use crate::StoreError;

/// Entries waiting to be written at most; more are dropped and counted.
const QUEUE_MAX: usize = 16_384;
/// Entries written per transaction at most.
const BATCH_MAX: usize = 512;
/// Body text kept per entry at most (bytes); longer bodies are cut and marked.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// One request as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestEntry {
    /// Assigned by the log; 0 until written.
    pub id: u64,
    pub received_at: String,
    pub method: String,
    pub path: String,
    /// The dialect (`accounting`, `roms`, `exact`, `vendor`, `stripe`).
    pub source: String,
    pub status_code: u16,
    /// `accepted`, `duplicate` or `rejected`.
    pub outcome: String,
    /// Why it was rejected (empty otherwise).
    pub reason: String,
    /// The event's `seq` (the original's for a duplicate), if any.
    pub seq: Option<u64>,
    /// Canonical JSON of the headers, secrets removed.
    pub headers: String,
    /// The body text, secrets removed, at most [`BODY_BYTES_MAX`] bytes.
    pub body: String,
}

enum Message {
    Entry(Box<RequestEntry>),
    /// Answered once everything queued before it is written.
    Flush(std::sync::mpsc::Sender<()>),
}

/// A handle on the request log: queue entries, read recent ones.
#[derive(Clone)]
pub struct RequestLog {
    queue: std::sync::mpsc::SyncSender<Message>,
    path: Arc<std::path::PathBuf>,
    dropped: Arc<AtomicU64>,
    reader: Arc<Mutex<Option<Connection>>>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS requests (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at TEXT    NOT NULL,
        method      TEXT    NOT NULL,
        path        TEXT    NOT NULL,
        source      TEXT    NOT NULL,
        status_code INTEGER NOT NULL,
        outcome     TEXT    NOT NULL,
        reason      TEXT    NOT NULL,
        seq         INTEGER,
        headers     TEXT    NOT NULL,
        body        TEXT    NOT NULL
    );";

impl RequestLog {
    /// Opens (creating) the log file and starts its writer thread.
    pub fn open(path: &Path, rows_max: u64) -> Result<RequestLog, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute_batch(SCHEMA)?;
        let (queue, entries) = std::sync::mpsc::sync_channel(QUEUE_MAX);
        let dropped = Arc::new(AtomicU64::new(0));
        let thread_dropped = dropped.clone();
        std::thread::Builder::new()
            .name("hookledger-request-log".into())
            .spawn(move || run(conn, entries, rows_max, thread_dropped))
            .map_err(|e| StoreError::Invariant(format!("cannot start the request log: {e}")))?;
        Ok(RequestLog {
            queue,
            path: Arc::new(path.to_path_buf()),
            dropped,
            reader: Arc::new(Mutex::new(None)),
        })
    }

    /// Queues an entry without waiting.
    pub fn record(&self, mut entry: RequestEntry) {
        truncate_body(&mut entry.body);
        if self
            .queue
            .try_send(Message::Entry(Box::new(entry)))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The newest `limit` entries, newest first.
    pub fn recent(&self, limit: u64) -> Result<Vec<RequestEntry>, StoreError> {
        let mut guard = self
            .reader
            .lock()
            .map_err(|_| StoreError::Invariant("request log reader poisoned".into()))?;
        if guard.is_none() {
            let conn = Connection::open_with_flags(
                &*self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(10))?;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let mut stmt = conn.prepare_cached(
            "SELECT id, received_at, method, path, source, status_code, outcome, reason, seq,
             headers, body FROM requests ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |row| {
            Ok(RequestEntry {
                id: row.get(0)?,
                received_at: row.get(1)?,
                method: row.get(2)?,
                path: row.get(3)?,
                source: row.get(4)?,
                status_code: row.get(5)?,
                outcome: row.get(6)?,
                reason: row.get(7)?,
                seq: row.get(8)?,
                headers: row.get(9)?,
                body: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Waits until every entry queued so far is written (for tests and shutdown).
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::channel();
        if self.queue.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// The number of entries in the request-log file at `path` (for tests and campaigns; the
/// file is opened read-only).
pub fn count_rows(path: &Path) -> Result<u64, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    Ok(conn.query_row("SELECT COUNT(*) FROM requests", [], |row| row.get(0))?)
}

fn truncate_body(body: &mut String) {
    if body.len() > BODY_BYTES_MAX {
        let mut cut = BODY_BYTES_MAX;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push_str("…[truncated]");
    }
}

/// How long the request log waits before writing again after a failed batch, at first and
/// at most (the wait doubles while the disk keeps refusing).
const RETRY_PAUSE_MIN: Duration = Duration::from_millis(50);
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(5);

/// The request log's writer thread. Entries that could not be written (a full or failing disk)
/// are kept and written again, oldest first, once the disk takes them: a fault loses nothing
/// while at most [`QUEUE_MAX`] entries wait in all; beyond that the newest are dropped and
/// counted, as when the queue is full.
fn run(
    conn: Connection,
    messages: std::sync::mpsc::Receiver<Message>,
    rows_max: u64,
    dropped: Arc<AtomicU64>,
) {
    let mut held: Vec<RequestEntry> = Vec::new();
    let mut pause = RETRY_PAUSE_MIN;
    let mut n_batches = 0u64;
    let mut failing = false;
    loop {
        // Wait for work; while entries are held, only until it is time to try them again.
        let first = if held.is_empty() {
            match messages.recv() {
                Ok(message) => Some(message),
                Err(_) => return,
            }
        } else {
            match messages.recv_timeout(pause) {
                Ok(message) => Some(message),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = write_batch(&conn, &held);
                    return;
                }
            }
        };
        let mut flushes = Vec::new();
        let mut next = first;
        while let Some(message) = next {
            match message {
                Message::Entry(entry) if held.len() < QUEUE_MAX => held.push(*entry),
                Message::Entry(_) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                Message::Flush(done) => flushes.push(done),
            }
            next = if held.len() < BATCH_MAX {
                messages.try_recv().ok()
            } else {
                None
            };
        }
        while !held.is_empty() {
            let n = held.len().min(BATCH_MAX);
            match write_batch(&conn, &held[..n]) {
                Ok(()) => {
                    held.drain(..n);
                    pause = RETRY_PAUSE_MIN;
                    if failing {
                        failing = false;
                        tracing::warn!("request log: writes succeed again; held entries written");
                    }
                    n_batches += 1;
                }
                Err(error) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    if !failing {
                        tracing::error!(%error, held = held.len(),
                            "request log: batch not written; its entries are kept and written again");
                    }
                    failing = true;
                    pause = (pause * 2).min(RETRY_PAUSE_MAX);
                    break;
                }
            }
        }
        if held.is_empty() && (n_batches.is_multiple_of(64) || !flushes.is_empty()) {
            let _ = conn.execute(
                "DELETE FROM requests WHERE id <= (SELECT MAX(id) FROM requests) - ?1",
                [rows_max],
            );
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn write_batch(conn: &Connection, batch: &[RequestEntry]) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    conn.execute_batch("BEGIN")?;
    {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO requests (received_at, method, path, source, status_code, outcome,
             reason, seq, headers, body) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        )?;
        for e in batch {
            stmt.execute(params![
                e.received_at,
                e.method,
                e.path,
                e.source,
                e.status_code,
                e.outcome,
                e.reason,
                e.seq,
                e.headers,
                e.body
            ])?;
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}
