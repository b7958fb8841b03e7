//! The SQL of `replay`: a rebuild target (a shadow file beside the live database, or the new
//! file of `replay --into`), its checkpoints, the byte-for-byte copy of events into it, and the
//! swap of rebuilt projections into the live database in one transaction.
//!
//! The replay engine (crate `replay`) drives these; projectors write into the target through
//! [`Rebuild::projections`], exactly as they write inside the writer's savepoints.
//!
//! Checkpoints live in the target's `proj_meta` under keys starting `replay.`, committed in the
//! same transaction as the projection rows they describe, so a killed replay finds a consistent
//! target and resumes after its last checkpoint.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rusqlite::{params, Connection, DatabaseName, OptionalExtension};

use parking_lot::{Mutex, MutexGuard};

use crate::projection::{ProjectionTx, Staging};
use crate::staging::Prepared;
use crate::{Durability, Store, StoreError};

/// `proj_meta` keys that are replay's own bookkeeping (never swapped into the live database).
pub const META_PREFIX: &str = "replay.";
const META_APPLIED_SEQ: &str = "replay.applied_seq";
const META_APPLIED_HASH: &str = "replay.applied_hash";
const META_RULES: &str = "replay.rules";

/// The page cache of a rebuild's connection, in KiB. A checkpoint's transaction touches every
/// projection page it writes; with SQLite's default 2 MiB cache they spill to the file and are
/// read back again and again. This much memory keeps a chunk's working set in the cache
/// (replay's peak memory is about this plus a few MiB).
pub const REBUILD_CACHE_KIB: u32 = 32 * 1024;
/// The rebuild's document cache (the live writer's is larger: it keeps documents between
/// batches for ever, a replay only needs those that later events of the log touch again).
pub const REBUILD_DOC_CACHE_BYTES: usize = 24 << 20;
/// Events whose staged rows are handed to the writer thread together. Two such batches are in
/// memory at once (one written, one staged); 1,000 keeps a replay's peak RSS near 185 MiB,
/// 2,000 took it to 205-215 MiB at no gain in speed.
pub const REBUILD_FLUSH_EVENTS: u64 = 1_000;

/// A rebuild's memory knobs; tests make them tiny to exercise the paths a large log takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Events per batch handed to the writer thread ([`REBUILD_FLUSH_EVENTS`]).
    pub flush_events: u64,
    /// Body bytes of documents kept in memory ([`REBUILD_DOC_CACHE_BYTES`]).
    pub doc_cache_bytes: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            flush_events: REBUILD_FLUSH_EVENTS,
            doc_cache_bytes: REBUILD_DOC_CACHE_BYTES,
        }
    }
}

/// How far a rebuild target got: every event up to `applied_seq` is applied, and the event at
/// `applied_seq` had hash `applied_hash` (so a resume can check it continues the same log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub applied_seq: u64,
    /// 64 zeros when nothing is applied yet.
    pub applied_hash: String,
    /// The projectors' rules the target was built with; a resume with other rules restarts.
    pub rules: String,
}

/// A database being rebuilt, with its own read-write connection.
///
/// Two threads share the work: the caller's folds events into [`Staging`], and every
/// [`Tuning::flush_events`] events hands the staged rows, prepared, to a writer thread of the
/// rebuild's own that writes them into the open transaction while the caller folds the next
/// events. Each side is about half of a replay's time, and a machine has two cores at least.
/// One batch is in flight at a time; the caller's reads of documents in it are answered from
/// it ([`Staging::set_in_flight`]), and its other reads lock the connection for one statement,
/// so that they see every batch written before.
pub struct Rebuild {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Projection writes of the open chunk, written once each at its commit.
    staging: Staging,
    /// Events applied since the last flush of `staging`.
    staged_events: std::cell::Cell<u64>,
    flush_events: u64,
    writer: RowWriter,
}

/// The thread that writes prepared batches on the rebuild's connection.
struct RowWriter {
    /// `None` only while dropping: closing the channel stops the thread.
    batches: Option<SyncSender<Arc<Prepared>>>,
    written: Receiver<Result<usize, StoreError>>,
    /// A batch was sent and its answer not yet received.
    in_flight: std::cell::Cell<bool>,
    thread: Option<JoinHandle<()>>,
}

impl RowWriter {
    fn spawn(conn: Arc<Mutex<Connection>>) -> Result<RowWriter, StoreError> {
        let (batches, received) = mpsc::sync_channel::<Arc<Prepared>>(1);
        let (answers, written) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("hookledger-rebuild-writer".into())
            .spawn(move || {
                for batch in received {
                    if answers.send(batch.write_shared(&conn)).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError::Invariant(format!("cannot start the rebuild writer: {e}")))?;
        Ok(RowWriter {
            batches: Some(batches),
            written,
            in_flight: std::cell::Cell::new(false),
            thread: Some(thread),
        })
    }

    fn send(&self, batch: Arc<Prepared>) -> Result<(), StoreError> {
        let sent = self.batches.as_ref().map(|batches| batches.send(batch));
        if !matches!(sent, Some(Ok(()))) {
            return Err(stopped());
        }
        self.in_flight.set(true);
        Ok(())
    }

    /// Waits until the batch in flight, if any, is written.
    fn wait(&self) -> Result<(), StoreError> {
        if !self.in_flight.replace(false) {
            return Ok(());
        }
        self.written.recv().map_err(|_| stopped())?.map(|_| ())
    }
}

fn stopped() -> StoreError {
    StoreError::Invariant("the rebuild's writer thread stopped".into())
}

impl Drop for RowWriter {
    fn drop(&mut self) {
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The SQLite files of a database: the file, its WAL, its shared-memory index and its rollback
/// journal (a rebuild target's while it is being written).
pub fn database_files(path: &Path) -> [PathBuf; 4] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [
        path.to_path_buf(),
        with("-wal"),
        with("-shm"),
        with("-journal"),
    ]
}

/// Removes a database and its WAL and index files (missing files are fine).
pub fn remove_database(path: &Path) -> Result<(), StoreError> {
    for file in database_files(path) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::RemoveFile { path: file, source });
            }
        }
    }
    Ok(())
}

impl Rebuild {
    /// Opens (creating if missing, with the full schema) a rebuild target. It is still a WAL
    /// database, as every hookledger file is, until the caller has decided to write it:
    /// [`Rebuild::use_rollback_journal`].
    pub fn open(path: &Path, tuning: Tuning) -> Result<Rebuild, StoreError> {
        let store = Store::open(path, Durability::Full)?;
        let conn = store.open_writer_connection()?;
        conn.pragma_update(None, "cache_size", -i64::from(REBUILD_CACHE_KIB))?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Every key a resumed rebuild holds; a new one holds none.
        let staging = Staging::new(tuning.doc_cache_bytes).with_key_filter();
        {
            let mut keys = conn.prepare("SELECT kind, key FROM proj_docs")?;
            let mut rows = keys.query([])?;
            while let Some(row) = rows.next()? {
                let kind: String = row.get(0)?;
                let key: String = row.get(1)?;
                staging.note_key(&kind, &key);
            }
        }
        let conn = Arc::new(Mutex::new(conn));
        Ok(Rebuild {
            path: path.to_path_buf(),
            writer: RowWriter::spawn(conn.clone())?,
            conn,
            staging,
            staged_events: std::cell::Cell::new(0),
            flush_events: tuning.flush_events.max(1),
        })
    }

    /// Puts the target in rollback-journal mode until [`Rebuild::finish`]: a crash loses at
    /// most the work since the last checkpoint, never consistency (the next open rolls the
    /// journal back). Called once the target is accepted, so that a file a replay refuses is
    /// left as it was found.
    ///
    /// A rebuild target is written by this one connection and read by nobody else until it is
    /// finished, and nearly every page it writes is new: with a rollback journal those pages go
    /// straight into the file once (pages past the file's size at the start of a transaction
    /// need no journal), where the WAL writes each page twice (frame, then checkpoint) and
    /// looks every page read up in its index. `synchronous=FULL` (from [`Store::open`]) costs
    /// two fsyncs per checkpoint here and keeps the journal safe on any file system.
    ///
    /// Leaving WAL needs every other connection out of the file and SQLite's busy handler does
    /// not wait for that: a brief visitor (a progress probe, a checkpointer thread finishing)
    /// is waited out here, as a lock is everywhere else.
    pub fn use_rollback_journal(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        let deadline = std::time::Instant::now() + crate::BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(Some(DatabaseName::Main), "journal_mode", "DELETE") {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                other => break Ok(other?),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reading what the target holds (every batch handed to the writer
    /// thread is written once a chunk is committed).
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock()
    }

    /// The projection tables of the target, staged in memory until the chunk commits. Call
    /// [`Rebuild::applied`] after each event.
    pub fn projections(&self) -> ProjectionTx<'_> {
        ProjectionTx::staged_shared(&self.conn, &self.staging)
    }

    /// Ends one event's fold: its writes join the chunk's. Every [`Tuning::flush_events`]
    /// events the chunk's staged rows go to the writer thread, which writes them into the open
    /// transaction (once the batch before is written), so that a chunk's memory stays bounded
    /// whatever its size.
    pub fn applied(&self) -> Result<(), StoreError> {
        self.staging.end_job(true);
        let staged = self.staged_events.get() + 1;
        if staged >= self.flush_events {
            self.writer.wait()?;
            let batch = Arc::new(self.staging.prepare()?);
            self.staging.set_in_flight(Some(batch.clone()));
            self.writer.send(batch)?;
            self.staged_events.set(0);
        } else {
            self.staged_events.set(staged);
        }
        Ok(())
    }

    /// The last checkpoint, or `None` if this file is not a rebuild in progress.
    pub fn checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        let meta = self.projections();
        let (Some(seq), Some(hash), Some(rules)) = (
            meta.get_meta(META_APPLIED_SEQ)?,
            meta.get_meta(META_APPLIED_HASH)?,
            meta.get_meta(META_RULES)?,
        ) else {
            return Ok(None);
        };
        let applied_seq = seq
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{META_APPLIED_SEQ} is {seq:?}")))?;
        Ok(Some(Checkpoint {
            applied_seq,
            applied_hash: hash,
            rules,
        }))
    }

    /// The number of events and projection rows the target holds.
    pub fn row_counts(&self) -> Result<(u64, u64), StoreError> {
        let conn = self.conn();
        let events: u64 = conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?;
        let projections: u64 = conn.query_row(
            "SELECT (SELECT COUNT(*) FROM proj_docs) + (SELECT COUNT(*) FROM proj_journal_lines)
             + (SELECT COUNT(*) FROM proj_outbox)",
            [],
            |row| row.get(0),
        )?;
        Ok((events, projections))
    }

    /// Opens the transaction of the next chunk.
    pub fn begin(&self) -> Result<(), StoreError> {
        self.conn().execute_batch("BEGIN IMMEDIATE")?;
        Ok(())
    }

    /// Records `checkpoint` and commits the open transaction.
    pub fn commit(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        self.staging.end_job(true);
        self.writer.wait()?;
        self.staging.set_in_flight(None);
        self.staging.flush(&self.conn())?;
        self.staged_events.set(0);
        let meta = self.projections();
        meta.set_meta(META_APPLIED_SEQ, &checkpoint.applied_seq.to_string())?;
        meta.set_meta(META_APPLIED_HASH, &checkpoint.applied_hash)?;
        meta.set_meta(META_RULES, &checkpoint.rules)?;
        self.conn().execute_batch("COMMIT")?;
        Ok(())
    }

    /// Rolls back the open transaction (after a failure).
    pub fn rollback(&self) {
        let _ = self.writer.wait();
        self.staging.forget();
        self.staged_events.set(0);
        let _ = self.conn().execute_batch("ROLLBACK");
    }

    /// Attaches the source database (for [`Rebuild::copy_events`]); outside a transaction.
    pub fn attach_source(&self, source: &Path) -> Result<(), StoreError> {
        let path = source.to_str().ok_or_else(|| {
            StoreError::Corrupt(format!("{} is not a UTF-8 path", source.display()))
        })?;
        self.conn()
            .execute("ATTACH DATABASE ?1 AS source", params![path])?;
        Ok(())
    }

    /// Copies the source's events with `after < seq <= until` into the target, every column's
    /// stored value unchanged (so the copy's hashes, and `verify`, are the source's).
    pub fn copy_events(&self, after: u64, until: u64) -> Result<u64, StoreError> {
        const COLUMNS: &str = "seq, id, stream, stream_version, type, type_version, source, \
             tenant, recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash";
        let copied = self.conn().execute(
            &format!(
                "INSERT INTO main.events ({COLUMNS}) SELECT {COLUMNS} FROM source.events
                 WHERE seq > ?1 AND seq <= ?2 ORDER BY seq"
            ),
            params![after as i64, until as i64],
        )?;
        Ok(copied as u64)
    }

    /// Ends a completed rebuild: removes the checkpoint keys, commits durably and turns the file
    /// into the WAL database every other connection expects.
    pub fn finish(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM proj_meta WHERE substr(key, 1, ?1) = ?2",
            params![META_PREFIX.len() as i64, META_PREFIX],
        )?;
        // `main`: without the schema name an attached source would be switched too.
        conn.pragma_update(Some(DatabaseName::Main), "journal_mode", "WAL")?;
        Ok(())
    }

    /// Deletes every projection row and checkpoint (a restart from `seq` 1). Refused when the
    /// target holds events, which are append-only.
    pub fn reset(&self) -> Result<(), StoreError> {
        let (events, _) = self.row_counts()?;
        if events > 0 {
            return Err(StoreError::Invariant(format!(
                "{} holds events; a rebuild target with events cannot restart",
                self.path.display()
            )));
        }
        crate::projection::clear(&self.conn())?;
        Ok(())
    }
}

/// The rebuilt projections of `shadow` replace the live ones of `live`, in one transaction:
/// readers see the old state until the commit, then the new one. Replay's bookkeeping keys stay
/// behind.
///
/// The swap is differential: rows the rebuild did not produce are deleted, changed rows are
/// updated in place and identical rows are left alone. An outbox row that the rebuild produced
/// again (same derived id) is therefore never deleted, so delivery state that refers to it (in
/// the outbound tables, outside the digest) stays attached and nothing is sent again.
pub fn swap_projections(live: &Connection, shadow: &Path) -> Result<(), StoreError> {
    let path = shadow
        .to_str()
        .ok_or_else(|| StoreError::Corrupt(format!("{} is not a UTF-8 path", shadow.display())))?;
    live.execute("ATTACH DATABASE ?1 AS shadow", params![path])?;
    let swapped = live.execute_batch(SWAP_SQL);
    if swapped.is_err() {
        let _ = live.execute_batch("ROLLBACK");
    }
    let detached = live.execute_batch("DETACH DATABASE shadow");
    swapped?;
    detached?;
    Ok(())
}

/// One transaction; `WHERE true` disambiguates an upsert after `SELECT` (SQLite's docs).
const SWAP_SQL: &str = "BEGIN IMMEDIATE;
    DELETE FROM main.proj_docs AS m WHERE NOT EXISTS (SELECT 1 FROM shadow.proj_docs s
        WHERE s.kind = m.kind AND s.key = m.key);
    INSERT INTO main.proj_docs (kind, key, body, seq)
        SELECT kind, key, body, seq FROM shadow.proj_docs WHERE true
        ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, seq = excluded.seq
        WHERE body IS NOT excluded.body OR seq IS NOT excluded.seq;
    DELETE FROM main.proj_journal_lines AS m WHERE NOT EXISTS (
        SELECT 1 FROM shadow.proj_journal_lines s
        WHERE s.seq = m.seq AND s.entry_id = m.entry_id AND s.line_no = m.line_no);
    INSERT INTO main.proj_journal_lines (entry_id, line_no, seq, recorded_at, account, currency,
        debit_minor, credit_minor, memo)
        SELECT entry_id, line_no, seq, recorded_at, account, currency, debit_minor, credit_minor,
        memo FROM shadow.proj_journal_lines WHERE true
        ON CONFLICT (seq, entry_id, line_no) DO UPDATE SET
        recorded_at = excluded.recorded_at, account = excluded.account,
        currency = excluded.currency, debit_minor = excluded.debit_minor,
        credit_minor = excluded.credit_minor, memo = excluded.memo
        WHERE recorded_at IS NOT excluded.recorded_at
        OR account IS NOT excluded.account OR currency IS NOT excluded.currency
        OR debit_minor IS NOT excluded.debit_minor OR credit_minor IS NOT excluded.credit_minor
        OR memo IS NOT excluded.memo;
    DELETE FROM main.proj_outbox AS m WHERE NOT EXISTS (SELECT 1 FROM shadow.proj_outbox s
        WHERE s.seq = m.seq AND s.id = m.id);
    INSERT INTO main.proj_outbox (id, seq, event, destination, stream, recorded_at, payload)
        SELECT id, seq, event, destination, stream, recorded_at, payload
        FROM shadow.proj_outbox WHERE true
        ON CONFLICT (seq, id) DO UPDATE SET event = excluded.event,
        destination = excluded.destination, stream = excluded.stream,
        recorded_at = excluded.recorded_at, payload = excluded.payload
        WHERE event IS NOT excluded.event
        OR destination IS NOT excluded.destination OR stream IS NOT excluded.stream
        OR recorded_at IS NOT excluded.recorded_at OR payload IS NOT excluded.payload;
    DELETE FROM main.proj_meta WHERE substr(key, 1, 7) != 'replay.';
    INSERT INTO main.proj_meta (key, value)
        SELECT key, value FROM shadow.proj_meta WHERE substr(key, 1, 7) != 'replay.';
    COMMIT;";

/// The hash of the event at `seq`, if there is one.
pub fn event_hash(conn: &Connection, seq: u64) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [seq as i64],
            |row| row.get(0),
        )
        .optional()?)
}
