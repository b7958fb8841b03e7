//! Appending a batch: one transaction, serialised with every other writer by an advisory lock.
//!
//! Under the lock the batch reads the head and the heads of its streams (a transaction in READ
//! COMMITTED reads each statement from a fresh snapshot, so it sees every batch committed
//! before it got the lock; REPEATABLE READ would read from the snapshot taken before the wait).
//! It then assigns `seq` and `stream_version` in memory, dedupes as SQLite's log does
//! (`store::log::WriteCtx::append`), hashes each row with `store::hash::row_hash` and inserts
//! every row with one statement. The primary key on `seq` and the unique `(stream,
//! stream_version)` stand behind the lock: a writer that skipped it would fail, not fork the
//! chain.

use std::collections::HashMap;

use domain::{event_id_for_key, Dedupe, Event, NewEvent, DEFAULT_TENANT};
use postgres::types::ToSql;
use postgres::{Client, GenericClient, IsolationLevel, Row, Statement, Transaction};
use store::hash::{row_hash, HashInput, GENESIS_HASH, HASH_LAYOUT};
use store::log::{content_key, is_content_key};
use store::Appended;
use uuid::Uuid;

use crate::{Clock, PgStoreError};

/// The key of the transaction-scoped advisory lock every batch takes first ("hookledg" in
/// ASCII). Another program that appends to this table must take it too.
pub const APPEND_LOCK_KEY: i64 = 0x686f_6f6b_6c65_6467;

/// Inserts a batch of events given as one array per column ([`EventColumns`], parameters
/// `$1` to `$15`).
pub(crate) const INSERT_EVENTS: &str =
    "INSERT INTO events (seq, id, stream, stream_version, type, type_version, source, tenant,
         recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[],
         $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
         $13::bigint[], $14::text[], $15::text[])";

/// The columns dedupe reads of an event already in the log.
const RECORDED_COLUMNS: &str = "seq, id, stream, stream_version, recorded_at, idempotency_key";

/// The statements of an append, prepared once per connection.
#[derive(Clone)]
pub(crate) struct Statements {
    pub(crate) lock: Statement,
    pub(crate) head: Statement,
    stream_heads: Statement,
    keys: Statement,
    pub(crate) insert: Statement,
}

impl Statements {
    pub(crate) fn prepare(client: &mut Client) -> Result<Statements, PgStoreError> {
        Ok(Statements {
            lock: client.prepare("SELECT pg_advisory_xact_lock($1)")?,
            head: client
                .prepare("SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1")?,
            // One index probe per stream (the unique (stream, stream_version), backwards).
            stream_heads: client.prepare(&format!(
                "SELECT {RECORDED_COLUMNS} FROM unnest($1::text[]) AS wanted (name)
                 CROSS JOIN LATERAL (SELECT {RECORDED_COLUMNS} FROM events
                     WHERE events.stream = wanted.name
                     ORDER BY stream_version DESC LIMIT 1) AS last"
            ))?,
            // Request keys only (the partial unique index's own condition, as SQLite's log
            // looks them up): a content key of another stream with the same text is another
            // event's, not this key's.
            keys: client.prepare(&format!(
                "SELECT {RECORDED_COLUMNS} FROM events WHERE idempotency_key = ANY($1::text[])
                 AND substr(idempotency_key, 1, length(stream) + 1) <> stream || '#'"
            ))?,
            insert: client.prepare(INSERT_EVENTS)?,
        })
    }
}

/// An event already in the log (or staged earlier in the batch), as dedupe needs it.
#[derive(Debug, Clone)]
struct Recorded {
    seq: u64,
    id: Uuid,
    stream: String,
    stream_version: u64,
    recorded_at: String,
    idempotency_key: String,
}

impl Recorded {
    fn from_row(row: &Row) -> Result<Recorded, PgStoreError> {
        let id: &str = row.try_get(1)?;
        Ok(Recorded {
            seq: to_u64(row.try_get(0)?, "seq")?,
            id: Uuid::parse_str(id)
                .map_err(|_| PgStoreError::Corrupt(format!("event id {id:?} is not a UUID")))?,
            stream: row.try_get(2)?,
            stream_version: to_u64(row.try_get(3)?, "stream_version")?,
            recorded_at: row.try_get(4)?,
            idempotency_key: row.try_get(5)?,
        })
    }

    fn from_event(event: &Event) -> Recorded {
        Recorded {
            seq: event.seq,
            id: event.id,
            stream: event.stream.clone(),
            stream_version: event.stream_version,
            recorded_at: event.recorded_at.clone(),
            idempotency_key: event.idempotency_key.clone(),
        }
    }

    /// What an append of a duplicate of this event answers.
    fn again(&self) -> Appended {
        Appended {
            seq: self.seq,
            id: self.id,
            stream_version: self.stream_version,
            recorded_at: self.recorded_at.clone(),
            duplicate: true,
        }
    }
}

pub(crate) fn to_u64(value: i64, column: &str) -> Result<u64, PgStoreError> {
    u64::try_from(value).map_err(|_| PgStoreError::Corrupt(format!("{column} {value} is negative")))
}

pub(crate) fn to_u32(value: i64, column: &str) -> Result<u32, PgStoreError> {
    u32::try_from(value)
        .map_err(|_| PgStoreError::Corrupt(format!("{column} {value} is out of range")))
}

pub(crate) fn to_i64(value: u64, column: &str) -> Result<i64, PgStoreError> {
    i64::try_from(value)
        .map_err(|_| PgStoreError::Invariant(format!("{column} {value} exceeds BIGINT")))
}

/// The last appended event, which the next one chains to.
struct Head {
    seq: u64,
    hash: String,
    recorded_at: String,
}

/// A batch being staged: the log as it will be once the batch's rows are in.
struct Batch {
    head: Head,
    /// The last event of each of the batch's streams that has one.
    streams: HashMap<String, Recorded>,
    /// The events recorded under the batch's request keys.
    request_keys: HashMap<String, Recorded>,
    /// The new rows, in `seq` order.
    rows: Vec<Event>,
}

pub(crate) fn append_batch(
    client: &mut Client,
    statements: &Statements,
    clock: &mut Clock,
    events: &[NewEvent],
) -> Result<Vec<Appended>, PgStoreError> {
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()?;
    tx.execute(&statements.lock, &[&APPEND_LOCK_KEY])?;
    let mut batch = Batch::load(&mut tx, statements, events)?;
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        appended.push(batch.stage(event, clock)?);
    }
    batch.insert(&mut tx, statements)?;
    tx.commit()?;
    Ok(appended)
}

impl Batch {
    /// Reads, under the lock, what the batch's events chain to and dedupe against.
    fn load(
        tx: &mut Transaction<'_>,
        statements: &Statements,
        events: &[NewEvent],
    ) -> Result<Batch, PgStoreError> {
        let head = match tx.query_opt(&statements.head, &[])? {
            Some(row) => Head {
                seq: to_u64(row.try_get(0)?, "seq")?,
                hash: row.try_get(1)?,
                recorded_at: row.try_get(2)?,
            },
            None => Head {
                seq: 0,
                hash: GENESIS_HASH.to_owned(),
                recorded_at: String::new(),
            },
        };
        let mut names: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let mut streams = HashMap::new();
        for row in tx.query(&statements.stream_heads, &[&names])? {
            let last = Recorded::from_row(&row)?;
            streams.insert(last.stream.clone(), last);
        }
        let keys: Vec<&str> = events
            .iter()
            .filter_map(|e| match &e.dedupe {
                Dedupe::Key(key) => Some(key.as_str()),
                Dedupe::SameAsLast(_) => None,
            })
            .collect();
        let mut request_keys = HashMap::new();
        if !keys.is_empty() {
            for row in tx.query(&statements.keys, &[&keys])? {
                let recorded = Recorded::from_row(&row)?;
                request_keys.insert(recorded.idempotency_key.clone(), recorded);
            }
        }
        Ok(Batch {
            head,
            streams,
            request_keys,
            rows: Vec::with_capacity(events.len()),
        })
    }

    /// Dedupes `new` against the log and the batch so far; stages it as the next row unless it
    /// is a duplicate.
    fn stage(&mut self, new: &NewEvent, clock: &mut Clock) -> Result<Appended, PgStoreError> {
        let last = self.streams.get(&new.stream);
        let last_version = last.map_or(0, |r| r.stream_version);
        let idempotency_key = match &new.dedupe {
            Dedupe::Key(key) => {
                if is_content_key(&new.stream, key) {
                    return Err(PgStoreError::Invariant(format!(
                        "request key {key:?} has the form of a content key of stream {:?}",
                        new.stream
                    )));
                }
                if let Some(original) = self.request_keys.get(key) {
                    return Ok(original.again());
                }
                key.clone()
            }
            Dedupe::SameAsLast(digest) => {
                if let Some(last) = last {
                    if last.idempotency_key == content_key(&new.stream, last.stream_version, digest)
                    {
                        return Ok(last.again());
                    }
                }
                content_key(&new.stream, last_version + 1, digest)
            }
        };
        let event = self.next_row(new, idempotency_key, last_version + 1, clock)?;
        let recorded = Recorded::from_event(&event);
        if let Dedupe::Key(key) = &new.dedupe {
            self.request_keys.insert(key.clone(), recorded.clone());
        }
        self.streams.insert(new.stream.clone(), recorded);
        let appended = Appended {
            seq: event.seq,
            id: event.id,
            stream_version: event.stream_version,
            recorded_at: event.recorded_at.clone(),
            duplicate: false,
        };
        self.rows.push(event);
        Ok(appended)
    }

    /// The row that `new` becomes at the head of the log, hashed onto the head; moves the head.
    fn next_row(
        &mut self,
        new: &NewEvent,
        idempotency_key: String,
        stream_version: u64,
        clock: &mut Clock,
    ) -> Result<Event, PgStoreError> {
        let seq = self.head.seq + 1;
        // The clock may step back; the log's time never does (as in SQLite's log).
        let now = domain::time::format_micros(clock());
        let recorded_at = if now > self.head.recorded_at {
            now
        } else {
            self.head.recorded_at.clone()
        };
        let id = event_id_for_key(&idempotency_key);
        let id_text = id.to_string();
        let tenant = DEFAULT_TENANT.to_string();
        let payload = new.payload.canonical();
        let raw_request = new.raw_request.canonical();
        let hash = row_hash(
            &self.head.hash,
            &HashInput {
                seq,
                id: &id_text,
                stream: &new.stream,
                stream_version,
                event_type: &new.event_type,
                type_version: new.type_version,
                source: new.source.as_str(),
                tenant: &tenant,
                recorded_at: &recorded_at,
                idempotency_key: &idempotency_key,
                payload: &payload,
                raw_request: &raw_request,
            },
        )
        .ok_or_else(|| {
            PgStoreError::Invariant(format!("head hash {:?} is not hex", self.head.hash))
        })?;
        let event = Event {
            seq,
            id,
            stream: new.stream.clone(),
            stream_version,
            event_type: new.event_type.clone(),
            type_version: new.type_version,
            source: new.source.as_str().to_owned(),
            tenant: DEFAULT_TENANT,
            recorded_at: recorded_at.clone(),
            idempotency_key,
            payload,
            raw_request,
            prev_hash: std::mem::replace(&mut self.head.hash, hash.clone()),
            hash,
        };
        self.head.seq = seq;
        self.head.recorded_at = recorded_at;
        Ok(event)
    }

    /// Inserts the staged rows with one statement (one array per column).
    fn insert(
        &self,
        tx: &mut Transaction<'_>,
        statements: &Statements,
    ) -> Result<(), PgStoreError> {
        insert_events(tx, &statements.insert, &self.rows)
    }
}

/// Inserts `rows` (hashed, in `seq` order) with `insert` (the statement [`Statements`]
/// prepares: one array per column), in the caller's transaction.
pub(crate) fn insert_events(
    client: &mut impl GenericClient,
    insert: &Statement,
    rows: &[Event],
) -> Result<(), PgStoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let inserted = client.execute(insert, &EventColumns::new(rows)?.params())?;
    check_inserted(inserted, rows.len())
}

/// Fails unless a statement inserted the `expected` rows of a batch.
pub(crate) fn check_inserted(inserted: u64, expected: usize) -> Result<(), PgStoreError> {
    if inserted != expected as u64 {
        return Err(PgStoreError::Invariant(format!(
            "inserted {inserted} rows of a batch of {expected}"
        )));
    }
    Ok(())
}

/// Events as one array per column, the parameters of [`INSERT_EVENTS`].
pub(crate) struct EventColumns<'a> {
    seqs: Vec<i64>,
    ids: Vec<String>,
    streams: Vec<&'a str>,
    versions: Vec<i64>,
    types: Vec<&'a str>,
    type_versions: Vec<i64>,
    sources: Vec<&'a str>,
    tenants: Vec<String>,
    recorded_at: Vec<&'a str>,
    keys: Vec<&'a str>,
    payloads: Vec<&'a str>,
    raw_requests: Vec<&'a str>,
    layouts: Vec<i64>,
    prev_hashes: Vec<&'a str>,
    hashes: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    pub(crate) fn new(rows: &'a [Event]) -> Result<EventColumns<'a>, PgStoreError> {
        let ints = |f: fn(&Event) -> u64, column: &str| -> Result<Vec<i64>, PgStoreError> {
            rows.iter().map(|e| to_i64(f(e), column)).collect()
        };
        let texts = |f: fn(&Event) -> &str| -> Vec<&str> { rows.iter().map(f).collect() };
        Ok(EventColumns {
            seqs: ints(|e| e.seq, "seq")?,
            ids: rows.iter().map(|e| e.id.to_string()).collect(),
            streams: texts(|e| &e.stream),
            versions: ints(|e| e.stream_version, "stream_version")?,
            types: texts(|e| &e.event_type),
            type_versions: ints(|e| u64::from(e.type_version), "type_version")?,
            sources: texts(|e| &e.source),
            tenants: rows.iter().map(|e| e.tenant.to_string()).collect(),
            recorded_at: texts(|e| &e.recorded_at),
            keys: texts(|e| &e.idempotency_key),
            payloads: texts(|e| &e.payload),
            raw_requests: texts(|e| &e.raw_request),
            layouts: vec![HASH_LAYOUT; rows.len()],
            prev_hashes: texts(|e| &e.prev_hash),
            hashes: texts(|e| &e.hash),
        })
    }

    /// `$1` to `$15` of [`INSERT_EVENTS`].
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 15] {
        [
            &self.seqs,
            &self.ids,
            &self.streams,
            &self.versions,
            &self.types,
            &self.type_versions,
            &self.sources,
            &self.tenants,
            &self.recorded_at,
            &self.keys,
            &self.payloads,
            &self.raw_requests,
            &self.layouts,
            &self.prev_hashes,
            &self.hashes,
        ]
    }
}
