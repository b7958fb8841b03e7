//! [`PgShared`]: this database as the log several `serve` nodes share ([`store::shared`]).
//!
//! Each batch of a node's writer is one transaction here, in READ COMMITTED, that first takes
//! the append lock ([`crate::APPEND_LOCK_KEY`], the same one [`crate::PgLog::append_batch`]
//! takes) and only then reads the head, so it sees every batch committed before it. The
//! batch's events and projection rows are written by one statement (one array per column of
//! each table) and committed together: a node's answer means both are durable here.
//!
//! A batch costs three round trips when no other node appended since this node's last batch:
//! BEGIN with the lock and the head (one simple query), the rows, COMMIT. (Down from eight,
//! with no gain measured: a batch's time goes to the writer's and the server's CPU.)
//!
//! A batch is written only on the connection that opened it: if that connection was lost,
//! the batch fails ([`PgStoreError::ConnectionLost`]) rather than being written on a new one,
//! outside the transaction and the lock.

use domain::Event;
use postgres::types::ToSql;
use postgres::{Client, NoTls, SimpleQueryMessage, Statement};
use store::staging::Prepared;
use store::StoreError;

use crate::append::{check_inserted, to_i64, to_u64, EventColumns, APPEND_LOCK_KEY, INSERT_EVENTS};
use crate::{PgStoreError, BUILD_LOCK_KEY};

/// Opens a batch's transaction: BEGIN, the append lock and the head's `seq`, one round trip.
/// A multi-statement simple query that starts with BEGIN leaves the transaction open.
fn begin_sql() -> String {
    format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED;
         SELECT pg_advisory_xact_lock({APPEND_LOCK_KEY}) AS locked;
         SELECT seq AS head FROM events ORDER BY seq DESC LIMIT 1"
    )
}

/// The head's `seq` from [`begin_sql`]'s answer (0 for an empty log).
fn head_from(messages: &[SimpleQueryMessage]) -> Result<u64, PgStoreError> {
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            if row.columns().first().map(|c| c.name()) != Some("head") {
                continue;
            }
            let text = row.try_get(0)?.unwrap_or_default();
            let seq: i64 = text
                .parse()
                .map_err(|_| PgStoreError::Corrupt(format!("head seq {text:?} is not a number")))?;
            return to_u64(seq, "seq");
        }
    }
    Ok(0)
}

/// A batch's events and projection rows, one statement: a data-modifying WITH per table
/// (each runs to completion whether or not the query reads it). Answers the events inserted.
fn write_sql() -> String {
    format!(
        "WITH new_events AS ({INSERT_EVENTS} RETURNING 1),
         new_docs AS (
             INSERT INTO proj_docs (kind, key, body, seq)
             SELECT * FROM unnest($16::text[], $17::text[], $18::text[], $19::bigint[])
             ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body, seq = excluded.seq),
         new_lines AS (
             INSERT INTO proj_journal_lines (entry_id, line_no, seq, recorded_at, account,
                 currency, debit_minor, credit_minor, memo)
             SELECT * FROM unnest($20::text[], $21::bigint[], $22::bigint[], $23::text[],
                 $24::text[], $25::text[], $26::bigint[], $27::bigint[], $28::text[])),
         new_outbox AS (
             INSERT INTO proj_outbox (id, seq, event, destination, stream, recorded_at, payload)
             SELECT * FROM unnest($29::text[], $30::bigint[], $31::text[], $32::text[],
                 $33::text[], $34::text[], $35::text[])
             ON CONFLICT (seq, id) DO NOTHING)
         SELECT count(*) FROM new_events"
    )
}

/// The statements of a shared writer, prepared once per connection.
struct SharedStatements {
    begin: String,
    write: Statement,
    follow: Statement,
}

impl SharedStatements {
    fn prepare(client: &mut Client) -> Result<SharedStatements, PgStoreError> {
        Ok(SharedStatements {
            begin: begin_sql(),
            write: client.prepare(&write_sql())?,
            follow: client.prepare(&crate::read::events_after_sql())?,
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
        let events_columns = EventColumns::new(events)?;
        let docs = DocColumns::new(rows)?;
        let lines = LineColumns::new(rows)?;
        let outbox = OutboxColumns::new(rows)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(35);
        params.extend(events_columns.params());
        params.extend(docs.params());
        params.extend(lines.params());
        params.extend(outbox.params());
        let Some((client, statements)) = self
            .connection
            .as_mut()
            .filter(|(client, _)| !client.is_closed())
        else {
            return Err(PgStoreError::ConnectionLost);
        };
        let inserted: i64 = client.query_one(&statements.write, &params)?.try_get(0)?;
        check_inserted(to_u64(inserted, "count")?, events.len())?;
        client.batch_execute("COMMIT")?;
        Ok(())
    }
}

/// The documents of a batch, the parameters `$16` to `$19` of [`write_sql`].
struct DocColumns<'a> {
    kinds: Vec<&'a str>,
    keys: Vec<&'a str>,
    bodies: Vec<&'a str>,
    seqs: Vec<i64>,
}

impl<'a> DocColumns<'a> {
    fn new(rows: &'a Prepared) -> Result<DocColumns<'a>, PgStoreError> {
        let mut columns = DocColumns {
            kinds: Vec::new(),
            keys: Vec::new(),
            bodies: Vec::new(),
            seqs: Vec::new(),
        };
        for (kind, key, body, seq) in rows.docs() {
            columns.kinds.push(kind);
            columns.keys.push(key);
            columns.bodies.push(body);
            columns.seqs.push(to_i64(seq, "seq")?);
        }
        Ok(columns)
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 4] {
        [&self.kinds, &self.keys, &self.bodies, &self.seqs]
    }
}

/// The journal lines of a batch, the parameters `$20` to `$28` of [`write_sql`].
struct LineColumns<'a> {
    entry_ids: Vec<&'a str>,
    line_nos: Vec<i64>,
    seqs: Vec<i64>,
    recorded_at: Vec<&'a str>,
    accounts: Vec<&'a str>,
    currencies: Vec<&'a str>,
    debits: Vec<i64>,
    credits: Vec<i64>,
    memos: Vec<&'a str>,
}

impl<'a> LineColumns<'a> {
    fn new(rows: &'a Prepared) -> Result<LineColumns<'a>, PgStoreError> {
        let lines = rows.journal_lines();
        let texts = |f: fn(&store::projection::JournalLine) -> &str| -> Vec<&str> {
            lines.iter().map(f).collect()
        };
        Ok(LineColumns {
            entry_ids: texts(|l| &l.entry_id),
            line_nos: lines.iter().map(|l| i64::from(l.line_no)).collect(),
            seqs: lines
                .iter()
                .map(|l| to_i64(l.seq, "seq"))
                .collect::<Result<_, _>>()?,
            recorded_at: texts(|l| &l.recorded_at),
            accounts: texts(|l| &l.account),
            currencies: texts(|l| &l.currency),
            debits: lines.iter().map(|l| l.debit_minor).collect(),
            credits: lines.iter().map(|l| l.credit_minor).collect(),
            memos: texts(|l| &l.memo),
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.entry_ids,
            &self.line_nos,
            &self.seqs,
            &self.recorded_at,
            &self.accounts,
            &self.currencies,
            &self.debits,
            &self.credits,
            &self.memos,
        ]
    }
}

/// The outbox rows of a batch, the parameters `$29` to `$35` of [`write_sql`].
struct OutboxColumns<'a> {
    ids: Vec<&'a str>,
    seqs: Vec<i64>,
    events: Vec<&'a str>,
    destinations: Vec<&'a str>,
    streams: Vec<&'a str>,
    recorded_at: Vec<&'a str>,
    payloads: Vec<&'a str>,
}

impl<'a> OutboxColumns<'a> {
    fn new(rows: &'a Prepared) -> Result<OutboxColumns<'a>, PgStoreError> {
        let outbox = rows.outbox();
        let texts = |f: fn(&store::projection::OutboxRow) -> &str| -> Vec<&str> {
            outbox.iter().map(f).collect()
        };
        Ok(OutboxColumns {
            ids: texts(|r| &r.id),
            seqs: outbox
                .iter()
                .map(|r| to_i64(r.seq, "seq"))
                .collect::<Result<_, _>>()?,
            events: texts(|r| &r.event),
            destinations: texts(|r| &r.destination),
            streams: texts(|r| &r.stream),
            recorded_at: texts(|r| &r.recorded_at),
            payloads: texts(|r| &r.payload),
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [
            &self.ids,
            &self.seqs,
            &self.events,
            &self.destinations,
            &self.streams,
            &self.recorded_at,
            &self.payloads,
        ]
    }
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
            let messages = client.simple_query(&statements.begin)?;
            head_from(&messages)
        })();
        self.in_transaction = true;
        result.map_err(|error| {
            self.rollback();
            to_store(error)
        })
    }

    fn events_after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let (client, statements) = self.connection().map_err(to_store)?;
        crate::read::read_events_with(client, &statements.follow, after_seq, limit as u64)
            .map_err(to_store)
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
