//! The tables projectors write, and the state digest over them.
//!
//! Projections are derived state: replay deletes and rebuilds them from the log. Three tables
//! hold them all:
//! - `proj_docs(kind, key, body, seq)`: one canonical-JSON document per read-model row
//!   (an order, a work order, a product, a counter…), keyed by its kind and natural key;
//! - `proj_journal_lines`: the double-entry journal, one row per line, for the ledger queries;
//! - `proj_outbox`: the outbound events the projectors emitted, with deterministic ids.
//!
//! # The state digest (layout 2)
//! SHA-256 over the tag `hookledger-digest-v2` framed as below, then, for each table in the
//! order docs, journal lines, outbox, the table's name framed, then each row in primary-key
//! order (`kind, key`; `seq, entry_id, line_no`; `seq, id`): every column as `len(bytes)`
//! (u64 big-endian) followed by the bytes (integers as ASCII decimal text). `proj_meta` (replay
//! bookkeeping) is not covered. Layout 1 (before schema 5) had no tag and ordered journal lines
//! by `entry_id, line_no` and the outbox by `id`; docs/replay.md keeps its description.

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::staging::Body;
pub use crate::staging::{Staging, DOC_CACHE_BYTES_DEFAULT};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// One journal line as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub entry_id: String,
    pub line_no: u32,
    pub seq: u64,
    pub recorded_at: String,
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub memo: String,
}

/// One outbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub seq: u64,
    pub event: String,
    /// Symbolic: `customer`, `zapier` or `subscribers`; resolved at send time.
    pub destination: String,
    pub stream: String,
    pub recorded_at: String,
    pub payload: String,
}

/// Projection reads and writes on one connection (the writer's, or replay's).
///
/// Without [`Staging`] (`ProjectionTx::new`, the readers' and tools' form) every call is SQL on
/// the connection. With it ([`ProjectionTx::staged`], the writer's and replay's form) writes are
/// kept in memory and written by [`Staging::flush`], each table once per batch in primary-key
/// order; reads see this job's writes, then the batch's, then the committed documents cached in
/// memory, and only then the database.
#[derive(Clone, Copy)]
pub struct ProjectionTx<'c> {
    db: Db<'c>,
    staging: Option<&'c Staging>,
}

/// The connection behind a [`ProjectionTx`]: its own, or one shared with the thread that
/// writes a rebuild's rows ([`crate::rebuild::Rebuild`]), locked for each statement.
#[derive(Clone, Copy)]
enum Db<'c> {
    Own(&'c Connection),
    Shared(&'c Mutex<Connection>),
}

impl Db<'_> {
    fn with<R>(
        self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match self {
            Db::Own(conn) => f(conn),
            Db::Shared(shared) => f(&shared.lock()),
        }
    }
}

impl<'c> ProjectionTx<'c> {
    pub fn new(conn: &'c Connection) -> ProjectionTx<'c> {
        ProjectionTx {
            db: Db::Own(conn),
            staging: None,
        }
    }

    /// Writes go to `staging` until it is flushed.
    pub fn staged(conn: &'c Connection, staging: &'c Staging) -> ProjectionTx<'c> {
        ProjectionTx {
            db: Db::Own(conn),
            staging: Some(staging),
        }
    }

    /// Staged, on a connection another thread writes the flushed rows on: every read locks it
    /// for one statement.
    pub(crate) fn staged_shared(
        conn: &'c Mutex<Connection>,
        staging: &'c Staging,
    ) -> ProjectionTx<'c> {
        ProjectionTx {
            db: Db::Shared(conn),
            staging: Some(staging),
        }
    }

    /// A document's body as text.
    pub fn get_doc(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let Some(staging) = self.staging else {
            return self.db.with(|conn| get_doc(conn, kind, key));
        };
        if let Some(found) = staging.lookup_text(kind, key)? {
            return Ok(found);
        }
        let body = self.db.with(|conn| get_doc(conn, kind, key))?;
        staging.remember(kind, key, body.clone());
        Ok(body)
    }

    /// A document as `T`. Staged, the value is kept as `T` in memory, so that reading it again
    /// costs a clone, not a parse.
    pub fn get_typed<T>(&self, kind: &str, key: &str) -> Result<Option<T>, StoreError>
    where
        T: DeserializeOwned + Serialize + Clone + Send + 'static,
    {
        let Some(staging) = self.staging else {
            return self
                .db
                .with(|conn| get_doc(conn, kind, key))?
                .map(|body| parse_doc(kind, key, &body))
                .transpose();
        };
        if let Some(found) = staging.lookup_typed::<T>(kind, key)? {
            return Ok(found);
        }
        let body = self.db.with(|conn| get_doc(conn, kind, key))?;
        let value = body
            .as_deref()
            .map(|body| parse_doc::<T>(kind, key, body))
            .transpose()?;
        staging.remember_typed(kind, key, value.clone(), body.map_or(0, |b| b.len()));
        Ok(value)
    }

    /// Writes a document's body text.
    pub fn put_doc(&self, kind: &str, key: &str, body: &str, seq: u64) -> Result<(), StoreError> {
        if let Some(staging) = self.staging {
            staging.put(kind, key, Body::Text(body.to_owned()), seq);
            return Ok(());
        }
        self.db.with(|conn| write_doc(conn, kind, key, body, seq))
    }

    /// Writes a document as `value` (JSON by serde). Staged, it is serialised once, at the
    /// flush, however often it is written before.
    pub fn put_typed<T>(&self, kind: &str, key: &str, value: T, seq: u64) -> Result<(), StoreError>
    where
        T: Serialize + Clone + Send + 'static,
    {
        if let Some(staging) = self.staging {
            staging.put(kind, key, Body::Typed(Box::new(value)), seq);
            return Ok(());
        }
        let text = to_text(kind, key, &value)?;
        self.db.with(|conn| write_doc(conn, kind, key, &text, seq))
    }

    /// Like [`ProjectionTx::insert_journal_line`], taking the line (no copy when staged).
    pub fn add_journal_line(&self, line: JournalLine) -> Result<(), StoreError> {
        if let Some(staging) = self.staging {
            staging.push_line(line);
            return Ok(());
        }
        self.db.with(|conn| write_journal_line(conn, &line))
    }

    /// Like [`ProjectionTx::insert_outbox`], taking the row (no copy when staged).
    pub fn add_outbox(&self, row: OutboxRow) -> Result<(), StoreError> {
        if let Some(staging) = self.staging {
            staging.push_outbox(row);
            return Ok(());
        }
        self.db.with(|conn| write_outbox(conn, &row)).map(|_| ())
    }

    pub fn insert_journal_line(&self, line: &JournalLine) -> Result<(), StoreError> {
        if let Some(staging) = self.staging {
            staging.push_line(line.clone());
            return Ok(());
        }
        self.db.with(|conn| write_journal_line(conn, line))
    }

    /// Inserts an outbox row; a row with the same `seq` and id already there is left as it is
    /// (ids are derived from the causing event, so the same row is the same fact). Staged, the
    /// row is written at the flush and this answers `true`.
    pub fn insert_outbox(&self, row: &OutboxRow) -> Result<bool, StoreError> {
        if let Some(staging) = self.staging {
            staging.push_outbox(row.clone());
            return Ok(true);
        }
        self.db.with(|conn| write_outbox(conn, row))
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.db.with(|conn| {
            Ok(conn
                .query_row("SELECT value FROM proj_meta WHERE key = ?1", [key], |row| {
                    row.get(0)
                })
                .optional()?)
        })
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.db.with(|conn| {
            conn.execute(
                "INSERT INTO proj_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }
}

/// Parses a stored document.
fn parse_doc<T: DeserializeOwned>(kind: &str, key: &str, body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("stored {kind} {key} does not parse: {e}")))
}

/// A document's JSON text.
pub(crate) fn to_text<T: Serialize + ?Sized>(
    kind: &str,
    key: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invariant(format!("cannot serialise {kind} {key}: {e}")))
}

pub(crate) fn write_doc(
    conn: &Connection,
    kind: &str,
    key: &str,
    body: &str,
    seq: u64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO proj_docs (kind, key, body, seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, seq = excluded.seq",
    )?
    .execute(params![kind, key, body, seq])?;
    Ok(())
}

pub(crate) fn write_journal_line(conn: &Connection, line: &JournalLine) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO proj_journal_lines (entry_id, line_no, seq, recorded_at, account,
         currency, debit_minor, credit_minor, memo) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    )?
    .execute(params![
        line.entry_id,
        line.line_no,
        line.seq,
        line.recorded_at,
        line.account,
        line.currency,
        line.debit_minor,
        line.credit_minor,
        line.memo
    ])?;
    Ok(())
}

pub(crate) fn write_outbox(conn: &Connection, row: &OutboxRow) -> Result<bool, StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO proj_outbox (id, seq, event, destination, stream, recorded_at,
             payload) VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT (seq, id) DO NOTHING",
        )?
        .execute(params![
            row.id,
            row.seq,
            row.event,
            row.destination,
            row.stream,
            row.recorded_at,
            row.payload
        ])?;
    Ok(inserted == 1)
}

/// One document by kind and key.
pub fn get_doc(conn: &Connection, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT body FROM proj_docs WHERE kind = ?1 AND key = ?2")?
        .query_row(params![kind, key], |row| row.get(0))
        .optional()?)
}

/// Every document of one kind, in key order.
pub fn docs_of_kind(conn: &Connection, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT key, body FROM proj_docs WHERE kind = ?1 ORDER BY key")?;
    let rows = stmt.query_map([kind], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every journal line up to `until_seq` (inclusive; `None`: all), in `seq`, entry, line order.
pub fn journal_lines(
    conn: &Connection,
    until_seq: Option<u64>,
) -> Result<Vec<JournalLine>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT entry_id, line_no, seq, recorded_at, account, currency, debit_minor, credit_minor,
         memo FROM proj_journal_lines WHERE seq <= ?1 ORDER BY seq, entry_id, line_no",
    )?;
    let rows = stmt.query_map([until_seq.map_or(i64::MAX, |s| s as i64)], |row| {
        Ok(JournalLine {
            entry_id: row.get(0)?,
            line_no: row.get(1)?,
            seq: row.get(2)?,
            recorded_at: row.get(3)?,
            account: row.get(4)?,
            currency: row.get(5)?,
            debit_minor: row.get(6)?,
            credit_minor: row.get(7)?,
            memo: row.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Maps a row of `SELECT id, seq, event, destination, stream, recorded_at, payload FROM
/// proj_outbox` (every outbox query selects these columns in this order).
pub(crate) fn outbox_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: row.get(0)?,
        seq: row.get(1)?,
        event: row.get(2)?,
        destination: row.get(3)?,
        stream: row.get(4)?,
        recorded_at: row.get(5)?,
        payload: row.get(6)?,
    })
}

/// Outbox rows with `seq` after `after_seq`, in `seq` then id order.
pub fn outbox_after(conn: &Connection, after_seq: u64) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
         WHERE seq > ?1 ORDER BY seq, id",
    )?;
    let rows = stmt.query_map([after_seq as i64], outbox_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The digest layout's tag, framed first.
pub const DIGEST_LAYOUT_TAG: &[u8] = b"hookledger-digest-v2";

/// One table the digest covers: its name, its columns in the order they are framed, and the
/// order of its rows (its primary key). Every backend selects exactly these.
#[derive(Debug, Clone, Copy)]
pub struct DigestTable {
    pub name: &'static str,
    pub columns: &'static str,
    pub order_by: &'static str,
}

impl DigestTable {
    /// `SELECT columns FROM name ORDER BY order_by`.
    pub fn select(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.columns, self.name, self.order_by
        )
    }
}

/// The tables the digest covers, in the order they are framed.
pub const DIGEST_TABLES: &[DigestTable] = &[
    DigestTable {
        name: "proj_docs",
        columns: "kind, key, body, seq",
        order_by: "kind, key",
    },
    DigestTable {
        name: "proj_journal_lines",
        columns: "entry_id, line_no, seq, recorded_at, account, currency, debit_minor, \
                  credit_minor, memo",
        order_by: "seq, entry_id, line_no",
    },
    DigestTable {
        name: "proj_outbox",
        columns: "id, seq, event, destination, stream, recorded_at, payload",
        order_by: "seq, id",
    },
];

/// The digest's framing (layout 2, above), fed one table and value at a time, so that every
/// backend hashes the same bytes for the same state. Text must be compared and ordered as
/// bytes (SQLite's `BINARY`, PostgreSQL's `COLLATE "C"`).
pub struct Digester {
    hasher: Sha256,
}

impl Default for Digester {
    fn default() -> Self {
        Digester::new()
    }
}

impl Digester {
    /// A digest with the layout tag framed.
    pub fn new() -> Digester {
        let mut digester = Digester {
            hasher: Sha256::new(),
        };
        digester.frame(DIGEST_LAYOUT_TAG);
        digester
    }

    fn frame(&mut self, bytes: &[u8]) {
        self.hasher.update((bytes.len() as u64).to_be_bytes());
        self.hasher.update(bytes);
    }

    /// Starts the next table of [`DIGEST_TABLES`].
    pub fn table(&mut self, name: &str) {
        self.frame(name.as_bytes());
    }

    /// An integer column (framed as its ASCII decimal text).
    pub fn integer(&mut self, value: i64) {
        self.frame(value.to_string().as_bytes());
    }

    /// A text column.
    pub fn text(&mut self, value: &[u8]) {
        self.frame(value);
    }

    /// 64 lower-case hex digits.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// The SHA-256 state digest of every projection (64 lower-case hex digits).
pub fn digest(conn: &Connection) -> Result<String, StoreError> {
    use rusqlite::types::ValueRef;
    let mut digester = Digester::new();
    for table in DIGEST_TABLES {
        digester.table(table.name);
        let mut stmt = conn.prepare(&table.select())?;
        let n_columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for idx in 0..n_columns {
                match row.get_ref(idx)? {
                    ValueRef::Integer(n) => digester.integer(n),
                    ValueRef::Text(bytes) => digester.text(bytes),
                    other => {
                        return Err(StoreError::Corrupt(format!(
                            "{} column {idx} holds {:?}",
                            table.name,
                            other.data_type()
                        )))
                    }
                }
            }
        }
    }
    Ok(digester.finish())
}

/// Deletes every projection row (the first step of a rebuild).
pub fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "DELETE FROM proj_docs; DELETE FROM proj_journal_lines; DELETE FROM proj_outbox;
         DELETE FROM proj_meta;",
    )?;
    Ok(())
}
