//! The event log in PostgreSQL: the append-only, hash-chained `events` table with the same
//! columns, dedupe rules and chain as SQLite's (`store`), for several writers on several nodes.
//!
//! The PostgreSQL backend: the log (append, read, filter, verify), the projection tables, their
//! digest and the ledger's reports, the copy of an SQLite database into them (`hookledger
//! migrate`, `replay --into postgres://…`) and back (`replay`), and [`PgShared`], the log that
//! several `serve` nodes share, each with a working copy of its own (decision 0008,
//! docs/operations.md).
//!
//! # Layout
//! - [`schema`]: numbered migrations, recorded in the `schema_version` table; triggers refuse
//!   UPDATE, DELETE and TRUNCATE on `events`.
//! - `copy`: rows from SQLite into the same table here, value for value, in chunks.
//! - `import`: [`PgLog::import_sqlite_log`], an SQLite log copied byte for byte, each row
//!   checked before it is sent; resumable.
//! - `export`: [`PgLog::export_log_to_sqlite`], the way back, for `replay`.
//! - `projection`: [`PgLog::digest`] (the same framing as SQLite's) and
//!   [`PgLog::replace_projections_from_sqlite`].
//! - `ledger`: the trial balance, journal and register, as `store::ledger` (whose Rust totals,
//!   groups and runs the balances of both).
//! - `append`: [`PgLog::append_batch`], one transaction per batch under a transaction-scoped
//!   advisory lock, so that writers on any number of connections take turns per batch.
//! - `read`: [`PgLog::head`] and [`PgLog::read_events`].
//! - `shared`: [`PgShared`], `store::shared::SharedLog` for a `serve` node's writer: a batch is
//!   one transaction under the append lock, its events and projection rows written with one
//!   statement (a data-modifying `WITH` per table); the node holds the build lock shared for
//!   its session.
//! - `target`: what a build into a database checks first ([`PgLog::holds_events`],
//!   [`PgLog::identity`]) and its lock ([`PgLog::try_lock_build`]).
//! - `delivery`: outbound delivery state for workers on several nodes: due deliveries leased
//!   with `FOR UPDATE SKIP LOCKED` and an expiry ([`PgLog::lease_due`]), an attempt recorded
//!   only under the lease it was sent under ([`PgLog::record_attempt`]), outbox rows expanded into
//!   deliveries with the cursor moved in the same transaction ([`PgLog::apply_expansion`]).
//! - `subscriptions`: webhook subscriptions shared by every node (created, ended, rotated,
//!   their failure runs), and a dead delivery re-queued.
//! - `tokens`: minted bearer tokens ([`PgLog::insert_token`], [`PgLog::token_identity`]), as
//!   their SHA-256.
//! - `verify`: [`PgLog::verify`], the chain walked in `seq` order through a portal (a bounded
//!   number of rows in memory), each row checked by `store::verify::check_stored_row`, the
//!   same code that checks SQLite's rows.
//!
//! # What is shared with `store`, so that both logs hash the same bytes
//! The hash layout (`store::hash::row_hash`), the content keys of `Dedupe::SameAsLast`
//! (`store::log::content_key`), the event ids (`domain::event_id_for_key`), the envelope
//! (`domain::NewEvent` in, `domain::Event` out) and what an append reports
//! (`store::Appended`).

mod append;
mod copy;
mod delivery;
mod export;
mod import;
mod ledger;
mod projection;
mod read;
pub mod schema;
mod shared;
mod subscriptions;
mod target;
mod tokens;
mod verify;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use domain::{Event, NewEvent};
use postgres::{Client, NoTls, Statement};
use store::{Appended, VerifyReport};

pub use append::APPEND_LOCK_KEY;
pub use delivery::Lease;
pub use import::ImportReport;
pub use shared::PgShared;
pub use target::{BUILD_LOCK_KEY, BUILD_LOCK_WAIT};

/// Errors of the PostgreSQL log. Handling: server-side failures (500) unless a variant says
/// otherwise.
#[derive(Debug, thiserror::Error)]
pub enum PgStoreError {
    /// The server refused a statement or the connection failed. A failed append committed
    /// nothing: the batch can be sent again as it was (dedupe makes a retry safe).
    #[error("PostgreSQL error: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
    /// The database was migrated by a newer hookledger. Handling: upgrade the binary.
    #[error("the database schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    /// A stored row does not have the shape this build expects. Handling: run `verify`.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// More events in one batch than [`BATCH_EVENTS_MAX`]. Nothing was appended. Handling:
    /// split the batch.
    #[error("a batch of {n_events} events is over the limit of {BATCH_EVENTS_MAX}")]
    BatchTooLarge { n_events: usize },
    /// A copy from SQLite was refused before anything wrong was written: the source's chain
    /// breaks, a value cannot be stored here, or the target holds another log. Handling: the
    /// message says which.
    #[error("{0}")]
    Refused(String),
    /// The SQLite source could not be read.
    #[error("SQLite error: {0}")]
    Sqlite(String),
    /// An invariant of the log broke or an event cannot be appended without breaking one (a
    /// request key with the form of a content key, say). Nothing of the batch was appended.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The connection that held a node's batch (its transaction and the append lock) was lost
    /// before the batch was written: nothing of it was committed, and it is not written on a
    /// new connection outside that transaction. Handling: a failure of the shared log (503).
    #[error("the connection to PostgreSQL was lost during the batch; nothing of it was committed")]
    ConnectionLost,
}

/// A read-only REPEATABLE READ transaction: one snapshot of the database for a whole walk
/// (verify, the digest, an event query, an export), however long it runs.
pub(crate) fn snapshot(client: &mut Client) -> Result<postgres::Transaction<'_>, postgres::Error> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
}

/// The server's own words for an error it reported (the client's `Display` says only "db
/// error" for those), else the client's.
fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.to_string(),
        None => error.to_string(),
    }
}

/// Events in one batch at most: one transaction, one INSERT of one array per column. A
/// larger batch is refused with [`PgStoreError::BatchTooLarge`].
pub const BATCH_EVENTS_MAX: usize = 10_000;

/// The wall clock an append stamps `recorded_at` from.
pub type Clock = Box<dyn FnMut() -> DateTime<Utc> + Send>;

/// One connection to the log. Several `PgLog`s (threads, processes, nodes) may append to the
/// same database at once: each batch waits for the advisory lock [`APPEND_LOCK_KEY`].
pub struct PgLog {
    client: Client,
    clock: Clock,
    statements: Option<append::Statements>,
    /// Statements prepared on this connection by [`PgLog::prepared`], by their text.
    prepared: HashMap<String, Statement>,
}

impl PgLog {
    /// Connects to `url` (`postgres://user@host:port/database`, or the key=value form). TLS is
    /// not supported yet: a URL that requires it fails to connect.
    pub fn connect(url: &str) -> Result<PgLog, PgStoreError> {
        let client = Client::connect(url, NoTls)?;
        Ok(PgLog {
            client,
            clock: Box::new(Utc::now),
            statements: None,
            prepared: HashMap::new(),
        })
    }

    /// `sql` prepared on this connection, the first time only: a statement a delivery worker
    /// runs every round is parsed once and costs one round trip, not two, afterwards.
    pub(crate) fn prepared(&mut self, sql: &str) -> Result<Statement, PgStoreError> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Whether this database holds a hookledger schema (any version): commands that only read
    /// refuse an empty database rather than create one.
    pub fn is_initialised(&mut self) -> Result<bool, PgStoreError> {
        Ok(self
            .client
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
            .try_get(0)?)
    }

    /// Whether the database has an `events` table holding any row (a build into it is refused
    /// then). Changes nothing: a database without the table is not migrated by asking.
    pub fn holds_events(&mut self) -> Result<bool, PgStoreError> {
        target::holds_events(&mut self.client)
    }

    /// Text naming the database this connection is on (its OID and the server's start
    /// time): equal for two connections exactly when they reach the same database.
    pub fn identity(&mut self) -> Result<String, PgStoreError> {
        target::identity(&mut self.client)
    }

    /// Takes the build lock [`BUILD_LOCK_KEY`] for as long as this connection lives, unless
    /// another connection holds it and does not let it go within [`BUILD_LOCK_WAIT`] (then
    /// `false`, and nothing is taken).
    pub fn try_lock_build(&mut self) -> Result<bool, PgStoreError> {
        target::try_lock_build(&mut self.client)
    }

    /// Applies every migration the database has not seen (see [`schema`]).
    pub fn migrate(&mut self) -> Result<(), PgStoreError> {
        self.statements = None;
        self.prepared.clear();
        schema::migrate(&mut self.client)
    }

    /// Replaces the wall clock (tests; an import that keeps another log's times). The log's
    /// time never steps back whatever the clock says: `recorded_at` is at least the head's.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Appends `events` in one transaction, in order, and answers for each what the append
    /// did: the new event, or the original for a duplicate (by its request key, or by its
    /// content against the stream's last event, as SQLite's log dedupes). An error appends
    /// nothing of the batch. At most [`BATCH_EVENTS_MAX`] events.
    pub fn append_batch(&mut self, events: &[NewEvent]) -> Result<Vec<Appended>, PgStoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if events.len() > BATCH_EVENTS_MAX {
            return Err(PgStoreError::BatchTooLarge {
                n_events: events.len(),
            });
        }
        let statements = match &self.statements {
            Some(statements) => statements.clone(),
            None => {
                let prepared = append::Statements::prepare(&mut self.client)?;
                self.statements = Some(prepared.clone());
                prepared
            }
        };
        append::append_batch(&mut self.client, &statements, &mut self.clock, events)
    }

    /// The last event's `seq` and hash (`None` for an empty log). The log has `seq` events:
    /// `seq` runs 1, 2, 3… without gaps, which [`PgLog::verify`] proves.
    pub fn head(&mut self) -> Result<Option<(u64, String)>, PgStoreError> {
        read::head(&mut self.client)
    }

    /// At most `limit` events after `after_seq`, ascending by `seq`.
    pub fn read_events(&mut self, after_seq: u64, limit: u64) -> Result<Vec<Event>, PgStoreError> {
        read::read_events(&mut self.client, after_seq, limit)
    }

    /// Streams the events matching `filter` to `f`, ascending by `seq`, with the meaning
    /// `store::log::for_each_event` gives each filter, from one snapshot.
    pub fn for_each_event<E: From<PgStoreError>>(
        &mut self,
        filter: &store::log::EventFilter,
        f: impl FnMut(Event) -> Result<(), E>,
    ) -> Result<(), E> {
        read::for_each_event(&mut self.client, filter, f)
    }

    /// The SHA-256 state digest of the projections here, framed as
    /// `store::projection::digest` frames SQLite's: the same state gives the same digest.
    pub fn digest(&mut self) -> Result<String, PgStoreError> {
        projection::digest(&mut self.client)
    }

    /// Copies the events of the SQLite log `source` that this log does not hold yet, byte for
    /// byte (see the `import` module): an empty log gets them all, a log holding a prefix of
    /// the source (an interrupted copy) the rest; any other log is refused. Each source row's
    /// hash is recomputed before it is sent. `progress` gets the `seq` copied so far.
    pub fn import_sqlite_log(
        &mut self,
        source: &rusqlite::Connection,
        progress: impl FnMut(u64),
    ) -> Result<ImportReport, PgStoreError> {
        self.statements = None;
        import::import(&mut self.client, source, progress)
    }

    /// Copies this log (up to `until_seq`, all if `None`) into a new SQLite database at
    /// `path`, byte for byte, each row checked as `verify` checks it; the file gets `store`'s
    /// schema and empty projections (a replay fills them). Returns the events copied.
    /// `progress` gets the `seq` copied so far.
    pub fn export_log_to_sqlite(
        &mut self,
        path: &std::path::Path,
        until_seq: Option<u64>,
        progress: impl FnMut(u64),
    ) -> Result<u64, PgStoreError> {
        export::export(&mut self.client, path, until_seq, progress)
    }

    /// Replaces every projection row here by `source`'s (an SQLite database with the
    /// projection tables of `store`), in one transaction. Returns the rows copied per table.
    pub fn replace_projections_from_sqlite(
        &mut self,
        source: &rusqlite::Connection,
    ) -> Result<Vec<(&'static str, u64)>, PgStoreError> {
        projection::replace_from_sqlite(&mut self.client, source)
    }

    /// Every account's sums per currency over the journal lines caused by events up to
    /// `until_seq` (all if `None`), as `store::ledger::trial_balance`.
    pub fn trial_balance(
        &mut self,
        until_seq: Option<u64>,
    ) -> Result<store::ledger::TrialBalance, PgStoreError> {
        ledger::trial_balance(&mut self.client, until_seq)
    }

    /// The journal entries matching `filter`, as `store::ledger::journal`.
    pub fn journal(
        &mut self,
        filter: &store::ledger::JournalFilter,
    ) -> Result<Vec<store::ledger::JournalEntry>, PgStoreError> {
        ledger::journal(&mut self.client, filter)
    }

    /// One account's register, as `store::ledger::register`.
    pub fn register(
        &mut self,
        account: &str,
        filter: &store::ledger::JournalFilter,
    ) -> Result<store::ledger::Register, PgStoreError> {
        ledger::register(&mut self.client, account, filter)
    }

    /// The `seq` of the last event recorded at or before `as_of` (the log's fixed-width
    /// form), 0 if none.
    pub fn seq_as_of(&mut self, as_of: &str) -> Result<u64, PgStoreError> {
        ledger::seq_as_of(&mut self.client, as_of)
    }

    /// Walks the whole chain in `seq` order, recomputing every hash from the stored bytes, as
    /// `store::verify::verify` does for SQLite (the same report). With `expect`, also checks
    /// that the event at that `seq` still has that hash, which proves the log up to it
    /// unchanged and not truncated. `progress` gets each verified `seq`.
    pub fn verify(
        &mut self,
        expect: Option<(u64, &str)>,
        progress: impl FnMut(u64),
    ) -> Result<VerifyReport, PgStoreError> {
        verify::verify(&mut self.client, expect, progress)
    }
}
