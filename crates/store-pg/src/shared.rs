//! [`PgShared`]: this database as the log several `serve` nodes share ([`store::shared`]).
//!
//! Each batch of a node's writer is one transaction here, in READ COMMITTED, that first takes
//! the append lock ([`crate::APPEND_LOCK_KEY`], the same one [`crate::PgLog::append_batch`]
//! takes) and only then reads the head, so it sees every batch committed before it. The
//! batch's events and projection rows are written with one statement per table (an array per
//! column) and committed together: a node's answer means both are durable here.

use domain::Event;
use postgres::{Client, NoTls, Statement};
use store::staging::Prepared;
use store::StoreError;

use crate::append::{insert_events, to_i64, to_u64, Statements, APPEND_LOCK_KEY};
use crate::{PgStoreError, BUILD_LOCK_KEY};

/// The statements of a shared writer, prepared once per connection.
struct SharedStatements {
    append: Statements,
    docs: Statement,
    lines: Statement,
    outbox: Statement,
}

impl SharedStatements {
    fn prepare(client: &mut Client) -> Result<SharedStatements, PgStoreError> {
        Ok(SharedStatements {
            append: Statements::prepare(client)?,
            docs: client.prepare(
                "INSERT INTO proj_docs (kind, key, body, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                 ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, seq = excluded.seq",
            )?,
            lines: client.prepare(
                "INSERT INTO proj_journal_lines (entry_id, line_no, seq, recorded_at, account,
                     currency, debit_minor, credit_minor, memo)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],
                     $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])",
            )?,
            outbox: client.prepare(
                "INSERT INTO proj_outbox (id, seq, event, destination, stream, recorded_at,
                     payload)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[])
                 ON CONFLICT (seq, id) DO NOTHING",
            )?,
        })
    }
}

/// A connection to the shared log for one node's writer. It reconnects by itself when the
/// connection was lost (the batch that saw the loss failed and was not acknowledged).
pub struct PgShared {
    url: String,
    connection: Option<(Client, SharedStatements)>,
    in_transaction: bool,
}

impl PgShared {
    /// Connects to `url`, a database already migrated by this build ([`crate::PgLog::migrate`]).
    pub fn connect(url: &str) -> Result<PgShared, PgStoreError> {
        let mut shared = PgShared {
            url: url.to_owned(),
            connection: None,
            in_transaction: false,
        };
        shared.connection()?;
        Ok(shared)
    }

    fn connection(&mut self) -> Result<&mut (Client, SharedStatements), PgStoreError> {
        if self
            .connection
            .as_ref()
            .is_some_and(|(client, _)| client.is_closed())
        {
            self.connection = None;
            self.in_transaction = false;
        }
        if self.connection.is_none() {
            let mut client = Client::connect(&self.url, NoTls)?;
            // Held shared for the session: a command that rebuilds the database (replay in
            // place, migrate) takes it alone, so neither starts while a node serves.
            let free: bool = client
                .query_one("SELECT pg_try_advisory_lock_shared($1)", &[&BUILD_LOCK_KEY])?
                .try_get(0)?;
            if !free {
                return Err(PgStoreError::Refused(
                    "the database is being built or replayed by another hookledger process \
                     (replay, migrate); serve it once that has finished"
                        .into(),
                ));
            }
            let statements = SharedStatements::prepare(&mut client)?;
            self.connection = Some((client, statements));
        }
        self.connection
            .as_mut()
            .ok_or_else(|| PgStoreError::Invariant("no connection".into()))
    }

    fn write(&mut self, events: &[Event], rows: &Prepared) -> Result<(), PgStoreError> {
        let (client, statements) = self.connection()?;
        insert_events(client, &statements.append.insert, events)?;
        write_docs(client, &statements.docs, rows)?;
        write_lines(client, &statements.lines, rows)?;
        write_outbox(client, &statements.outbox, rows)?;
        client.batch_execute("COMMIT")?;
        Ok(())
    }
}

fn write_docs(
    client: &mut Client,
    statement: &Statement,
    rows: &Prepared,
) -> Result<(), PgStoreError> {
    let mut kinds = Vec::new();
    let mut keys = Vec::new();
    let mut bodies = Vec::new();
    let mut seqs = Vec::new();
    for (kind, key, body, seq) in rows.docs() {
        kinds.push(kind);
        keys.push(key);
        bodies.push(body);
        seqs.push(to_i64(seq, "seq")?);
    }
    if !kinds.is_empty() {
        client.execute(statement, &[&kinds, &keys, &bodies, &seqs])?;
    }
    Ok(())
}

fn write_lines(
    client: &mut Client,
    statement: &Statement,
    rows: &Prepared,
) -> Result<(), PgStoreError> {
    let lines = rows.journal_lines();
    if lines.is_empty() {
        return Ok(());
    }
    let texts = |f: fn(&store::projection::JournalLine) -> &str| -> Vec<&str> {
        lines.iter().map(f).collect()
    };
    let line_nos: Vec<i64> = lines.iter().map(|l| i64::from(l.line_no)).collect();
    let seqs = lines
        .iter()
        .map(|l| to_i64(l.seq, "seq"))
        .collect::<Result<Vec<i64>, _>>()?;
    let debits: Vec<i64> = lines.iter().map(|l| l.debit_minor).collect();
    let credits: Vec<i64> = lines.iter().map(|l| l.credit_minor).collect();
    client.execute(
        statement,
        &[
            &texts(|l| &l.entry_id),
            &line_nos,
            &seqs,
            &texts(|l| &l.recorded_at),
            &texts(|l| &l.account),
            &texts(|l| &l.currency),
            &debits,
            &credits,
            &texts(|l| &l.memo),
        ],
    )?;
    Ok(())
}

fn write_outbox(
    client: &mut Client,
    statement: &Statement,
    rows: &Prepared,
) -> Result<(), PgStoreError> {
    let outbox = rows.outbox();
    if outbox.is_empty() {
        return Ok(());
    }
    let texts = |f: fn(&store::projection::OutboxRow) -> &str| -> Vec<&str> {
        outbox.iter().map(f).collect()
    };
    let seqs = outbox
        .iter()
        .map(|r| to_i64(r.seq, "seq"))
        .collect::<Result<Vec<i64>, _>>()?;
    client.execute(
        statement,
        &[
            &texts(|r| &r.id),
            &seqs,
            &texts(|r| &r.event),
            &texts(|r| &r.destination),
            &texts(|r| &r.stream),
            &texts(|r| &r.recorded_at),
            &texts(|r| &r.payload),
        ],
    )?;
    Ok(())
}

/// A failure here, as the writer reports it: the database's failures are [`StoreError::Shared`]
/// (503: retry), broken invariants and rows stay what they are.
fn to_store(error: PgStoreError) -> StoreError {
    match error {
        PgStoreError::Corrupt(message) => StoreError::Corrupt(message),
        PgStoreError::Invariant(message) => StoreError::Invariant(message),
        other => StoreError::Shared(other.to_string()),
    }
}

impl store::shared::SharedLog for PgShared {
    fn head_seq(&mut self) -> Result<u64, StoreError> {
        let (client, _) = self.connection().map_err(to_store)?;
        crate::read::head(client)
            .map(|head| head.map_or(0, |(seq, _)| seq))
            .map_err(to_store)
    }

    fn begin(&mut self) -> Result<u64, StoreError> {
        self.rollback();
        let result = (|| -> Result<u64, PgStoreError> {
            let (client, statements) = self.connection()?;
            client.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED")?;
            client.execute(&statements.append.lock, &[&APPEND_LOCK_KEY])?;
            let row = client.query_opt(&statements.append.head, &[])?;
            row.map(|row| to_u64(row.try_get(0)?, "seq"))
                .transpose()
                .map(|seq| seq.unwrap_or(0))
        })();
        self.in_transaction = true;
        result.map_err(|error| {
            self.rollback();
            to_store(error)
        })
    }

    fn events_after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let (client, _) = self.connection().map_err(to_store)?;
        crate::read::read_events(client, after_seq, limit as u64).map_err(to_store)
    }

    fn commit(&mut self, events: &[Event], rows: &Prepared) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(StoreError::Invariant(
                "commit to the shared log without begin".into(),
            ));
        }
        let written = self.write(events, rows);
        if written.is_ok() {
            self.in_transaction = false;
        } else {
            self.rollback();
        }
        written.map_err(to_store)
    }

    fn rollback(&mut self) {
        if !self.in_transaction {
            return;
        }
        self.in_transaction = false;
        if let Some((client, _)) = self.connection.as_mut() {
            if client.batch_execute("ROLLBACK").is_err() {
                // The connection is unusable: the server rolls back when it goes.
                self.connection = None;
            }
        }
    }
}
