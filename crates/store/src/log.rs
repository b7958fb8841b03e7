//! Appending to the log (inside the writer's transaction) and reading it back.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::Utc;
use domain::{event_id_for_key, Dedupe, Event, NewEvent, DEFAULT_TENANT};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::hash::{row_hash, HashInput, GENESIS_HASH, HASH_LAYOUT};
use crate::projection::{ProjectionTx, Staging};
use crate::StoreError;

/// The last appended event, which the next one chains to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub seq: u64,
    pub hash: String,
    pub recorded_at: String,
}

impl Head {
    pub(crate) fn load(conn: &Connection) -> Result<Head, StoreError> {
        let head = conn
            .query_row(
                "SELECT seq, hash, recorded_at FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |row| {
                    Ok(Head {
                        seq: row.get(0)?,
                        hash: row.get(1)?,
                        recorded_at: row.get(2)?,
                    })
                },
            )
            .optional()?;
        Ok(head.unwrap_or(Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
            recorded_at: String::new(),
        }))
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The event's `seq`: the new one, or the original's for a duplicate.
    pub seq: u64,
    pub id: uuid::Uuid,
    pub stream_version: u64,
    pub recorded_at: String,
    /// True when the request was already recorded: nothing was appended.
    pub duplicate: bool,
}

/// The last event of a stream, as dedupe and `stream_version` need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamHead {
    pub seq: u64,
    pub version: u64,
    pub idempotency_key: String,
}

/// Stream heads of committed events kept in memory at most, per generation (two generations).
const STREAM_HEADS_PER_GENERATION: usize = 65_536;

/// Events appended by the batch's finished jobs and not yet inserted, with the indexes that
/// dedupe needs, and a cache of committed stream heads. Owned by the writer thread.
#[derive(Default)]
pub(crate) struct StagedEvents {
    /// In `seq` order.
    pending: Vec<Event>,
    streams: HashMap<String, StreamHead>,
    keys: HashMap<String, u64>,
    heads_young: HashMap<String, Option<StreamHead>>,
    heads_old: HashMap<String, Option<StreamHead>>,
}

impl StagedEvents {
    /// Adds the events of a job that succeeded.
    pub(crate) fn absorb(&mut self, events: &[Event]) {
        for event in events {
            self.streams.insert(
                event.stream.clone(),
                StreamHead {
                    seq: event.seq,
                    version: event.stream_version,
                    idempotency_key: event.idempotency_key.clone(),
                },
            );
            self.keys.insert(event.idempotency_key.clone(), event.seq);
            self.pending.push(event.clone());
        }
    }

    fn remember_head(&mut self, stream: &str, head: Option<StreamHead>) {
        if self.heads_young.len() >= STREAM_HEADS_PER_GENERATION {
            self.heads_old = std::mem::take(&mut self.heads_young);
        }
        self.heads_young.insert(stream.to_owned(), head);
    }

    fn cached_head(&mut self, stream: &str) -> Option<Option<StreamHead>> {
        if let Some(head) = self.streams.get(stream) {
            return Some(Some(head.clone()));
        }
        if let Some(head) = self.heads_young.get(stream) {
            return Some(head.clone());
        }
        let head = self.heads_old.remove(stream)?;
        self.remember_head(stream, head.clone());
        Some(head)
    }

    /// Inserts the pending events on `conn` (inside the writer's transaction); their stream
    /// heads move to the cache. Returns the number inserted.
    pub(crate) fn flush(&mut self, conn: &Connection) -> Result<usize, StoreError> {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO events (seq, id, stream, stream_version, type, type_version, source,
             tenant, recorded_at, idempotency_key, payload, raw_request, hash_layout,
             prev_hash, hash) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
        )?;
        let tenant = DEFAULT_TENANT.to_string();
        for event in &self.pending {
            stmt.execute(params![
                event.seq,
                event.id.to_string(),
                event.stream,
                event.stream_version,
                event.event_type,
                event.type_version,
                event.source,
                tenant,
                event.recorded_at,
                event.idempotency_key,
                event.payload,
                event.raw_request,
                HASH_LAYOUT,
                event.prev_hash,
                event.hash,
            ])?;
        }
        let n = self.pending.len();
        self.pending.clear();
        self.keys.clear();
        let streams = std::mem::take(&mut self.streams);
        for (stream, head) in streams {
            self.remember_head(&stream, Some(head));
        }
        Ok(n)
    }

    /// Drops everything, the cache included (after a rollback).
    pub(crate) fn forget(&mut self) {
        *self = StagedEvents::default();
    }
}

/// The writer's view of the open transaction, handed to each job in a batch.
///
/// Appends and projection writes are staged in memory and written when the batch commits (a
/// job that fails is dropped from memory: no savepoint needed). A job that needs SQL of its own
/// ([`WriteCtx::deliveries`], [`WriteCtx::insert_token`], [`WriteCtx::conn_events`]) first
/// writes what the batch staged so far, then runs inside a SAVEPOINT of its own; its own staged
/// writes are not visible to that SQL.
pub struct WriteCtx<'c> {
    pub(crate) conn: &'c Connection,
    pub(crate) staging: &'c Staging,
    pub(crate) events: &'c RefCell<StagedEvents>,
    pub(crate) head: Head,
    pub(crate) appended: Vec<Event>,
    /// True once the job opened its savepoint for direct SQL.
    pub(crate) direct: Cell<bool>,
    /// A failure to open the savepoint: the writer rolls the whole batch back.
    pub(crate) poisoned: RefCell<Option<StoreError>>,
    /// True when the writer works on a copy of a shared log ([`crate::shared`]), where a job's
    /// own SQL would reach this node's copy alone: refused.
    pub(crate) shared: bool,
}

impl<'c> WriteCtx<'c> {
    pub(crate) fn new(
        conn: &'c Connection,
        staging: &'c Staging,
        events: &'c RefCell<StagedEvents>,
        head: Head,
    ) -> WriteCtx<'c> {
        WriteCtx {
            conn,
            staging,
            events,
            head,
            appended: Vec::new(),
            direct: Cell::new(false),
            poisoned: RefCell::new(None),
            shared: false,
        }
    }

    /// The connection, for a job's own SQL: the batch's staged rows are written first and the
    /// job's savepoint is opened (once).
    pub(crate) fn sql(&self) -> &'c Connection {
        if self.shared && self.poisoned.borrow().is_none() {
            *self.poisoned.borrow_mut() = Some(StoreError::Shared(
                "a job's own SQL (tokens, subscriptions, deliveries) does not run on a shared \
                 log yet"
                    .into(),
            ));
        }
        if !self.direct.get() {
            self.direct.set(true);
            let opened = self
                .events
                .borrow_mut()
                .flush(self.conn)
                .and_then(|_| self.staging.flush(self.conn))
                .and_then(|_| Ok(self.conn.execute_batch("SAVEPOINT job")?));
            if let Err(error) = opened {
                *self.poisoned.borrow_mut() = Some(error);
            }
        }
        self.conn
    }

    /// The `seq` of the last event in the log as this job sees it.
    pub fn head_seq(&self) -> u64 {
        self.head.seq
    }

    /// The projection tables, staged with this job.
    pub fn projections(&self) -> ProjectionTx<'c> {
        ProjectionTx::staged(self.conn, self.staging)
    }

    /// Stores a bearer token (as its SHA-256) with its role.
    pub fn insert_token(&self, token: &str, role: &str) -> Result<(), StoreError> {
        let now = domain::time::format_micros(Utc::now());
        crate::ops::insert_token(self.sql(), token, role, &DEFAULT_TENANT.to_string(), &now)
    }

    /// Reads events already in the log (including those earlier jobs of this batch appended).
    pub fn conn_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
        query_events(self.sql(), filter)
    }

    /// The last event of `stream` as this job sees it.
    fn stream_head(&self, stream: &str) -> Result<Option<StreamHead>, StoreError> {
        if let Some(event) = self.appended.iter().rev().find(|e| e.stream == stream) {
            return Ok(Some(StreamHead {
                seq: event.seq,
                version: event.stream_version,
                idempotency_key: event.idempotency_key.clone(),
            }));
        }
        let mut staged = self.events.borrow_mut();
        if let Some(head) = staged.cached_head(stream) {
            return Ok(head);
        }
        let head = self
            .conn
            .prepare_cached(
                "SELECT seq, stream_version, idempotency_key FROM events
                 WHERE stream = ?1 ORDER BY stream_version DESC LIMIT 1",
            )?
            .query_row([stream], |row| {
                Ok(StreamHead {
                    seq: row.get(0)?,
                    version: row.get(1)?,
                    idempotency_key: row.get(2)?,
                })
            })
            .optional()?;
        staged.remember_head(stream, head.clone());
        Ok(head)
    }

    /// The `seq` of the event recorded under `key`, as this job sees the log.
    fn seq_of_key(&self, key: &str) -> Result<Option<u64>, StoreError> {
        if let Some(event) = self.appended.iter().find(|e| e.idempotency_key == key) {
            return Ok(Some(event.seq));
        }
        if let Some(seq) = self.events.borrow().keys.get(key) {
            return Ok(Some(*seq));
        }
        // The condition is the partial index's own (schema 5), so that SQLite uses it.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT seq FROM events WHERE idempotency_key = ?1
                 AND substr(idempotency_key, 1, length(stream) + 1) <> stream || '#'",
            )?
            .query_row([key], |row| row.get::<_, u64>(0))
            .optional()?)
    }

    /// Appends `event` unless its dedupe rule finds it already recorded; returns the stored
    /// event (the original, for a duplicate).
    pub fn append(&mut self, event: &NewEvent) -> Result<(Appended, Event), StoreError> {
        let last_in_stream = self.stream_head(&event.stream)?;
        let last_version = last_in_stream.as_ref().map_or(0, |h| h.version);
        let idempotency_key = match &event.dedupe {
            Dedupe::Key(key) => {
                if is_content_key(&event.stream, key) {
                    return Err(StoreError::Invariant(format!(
                        "request key {key:?} has the form of a content key of stream {:?}",
                        event.stream
                    )));
                }
                if let Some(seq) = self.seq_of_key(key)? {
                    return self.duplicate_of(seq);
                }
                key.clone()
            }
            Dedupe::SameAsLast(digest) => {
                if let Some(head) = &last_in_stream {
                    if head.idempotency_key == content_key(&event.stream, head.version, digest) {
                        return self.duplicate_of(head.seq);
                    }
                }
                content_key(&event.stream, last_version + 1, digest)
            }
        };
        self.insert(event, idempotency_key, last_version + 1)
    }

    fn duplicate_of(&self, seq: u64) -> Result<(Appended, Event), StoreError> {
        let staged = self
            .appended
            .iter()
            .find(|e| e.seq == seq)
            .cloned()
            .or_else(|| {
                let events = self.events.borrow();
                events.pending.iter().find(|e| e.seq == seq).cloned()
            });
        let original = match staged {
            Some(event) => event,
            None => read_event(self.conn, seq)?
                .ok_or_else(|| StoreError::Invariant(format!("event {seq} vanished")))?,
        };
        let appended = Appended {
            seq,
            id: original.id,
            stream_version: original.stream_version,
            recorded_at: original.recorded_at.clone(),
            duplicate: true,
        };
        Ok((appended, original))
    }

    fn insert(
        &mut self,
        new: &NewEvent,
        idempotency_key: String,
        stream_version: u64,
    ) -> Result<(Appended, Event), StoreError> {
        let seq = self.head.seq + 1;
        // The clock may step back; the log's time never does, so that `--as-of` and
        // `--until-seq` agree.
        let now = domain::time::format_micros(Utc::now());
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
            StoreError::Invariant(format!("head hash {:?} is not hex", self.head.hash))
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
            prev_hash: self.head.hash.clone(),
            hash: hash.clone(),
        };
        self.head = Head {
            seq,
            hash,
            recorded_at: recorded_at.clone(),
        };
        self.appended.push(event.clone());
        let appended = Appended {
            seq,
            id,
            stream_version,
            recorded_at,
            duplicate: false,
        };
        Ok((appended, event))
    }
}

/// True when `key` has the form of a content key of `stream` (`{stream}#…`): such keys are
/// unique by `(stream, stream_version)` and not in the request-key index. Public so that another
/// backend (crate `store-pg`) dedupes exactly as this log does.
pub fn is_content_key(stream: &str, key: &str) -> bool {
    key.len() > stream.len() && key.starts_with(stream) && key.as_bytes()[stream.len()] == b'#'
}

/// The idempotency key of a content-deduplicated event: unique by stream position, and carrying
/// the content digest so that the next request can be compared with it. Part of what the hash
/// covers: another backend must build the same key.
pub fn content_key(stream: &str, stream_version: u64, digest: &str) -> String {
    format!("{stream}#{stream_version}:{digest}")
}

const EVENT_COLUMNS: &str = "seq, id, stream, stream_version, type, type_version, source, tenant, \
     recorded_at, idempotency_key, payload, raw_request, prev_hash, hash";

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<Event> {
    let id: String = row.get(1)?;
    let tenant: String = row.get(7)?;
    let parse_uuid = |idx: usize, text: &str| {
        uuid::Uuid::parse_str(text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(Event {
        seq: row.get(0)?,
        id: parse_uuid(1, &id)?,
        stream: row.get(2)?,
        stream_version: row.get(3)?,
        event_type: row.get(4)?,
        type_version: row.get(5)?,
        source: row.get(6)?,
        tenant: parse_uuid(7, &tenant)?,
        recorded_at: row.get(8)?,
        idempotency_key: row.get(9)?,
        payload: row.get(10)?,
        raw_request: row.get(11)?,
        prev_hash: row.get(12)?,
        hash: row.get(13)?,
    })
}

/// One event by `seq`.
pub fn read_event(conn: &Connection, seq: u64) -> Result<Option<Event>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?1");
    Ok(conn.query_row(&sql, [seq], event_from_row).optional()?)
}

/// The filters of `GET /api/events` and `hookledger events`. Every filter is optional;
/// `since` is inclusive and `until` exclusive (RFC 3339 text, compared as the log's fixed-width
/// UTC form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub stream: Option<String>,
    pub event_type: Option<String>,
    pub source: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub after_seq: u64,
    /// At most this many events (None: no limit).
    pub limit: Option<u64>,
    /// Only events with `seq` up to this one (inclusive).
    pub until_seq: Option<u64>,
}

/// Events matching `filter`, ascending by `seq`.
pub fn query_events(conn: &Connection, filter: &EventFilter) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::new();
    for_each_event(conn, filter, |event| {
        events.push(event);
        Ok(())
    })?;
    Ok(events)
}

/// Streams the events matching `filter` to `f`, ascending by `seq`, without holding them all.
pub fn for_each_event(
    conn: &Connection,
    filter: &EventFilter,
    mut f: impl FnMut(Event) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut clauses = vec!["seq > ?".to_owned()];
    let mut values: Vec<rusqlite::types::Value> = vec![(filter.after_seq as i64).into()];
    let mut add = |clause: &str, value: rusqlite::types::Value| {
        clauses.push(clause.to_owned());
        values.push(value);
    };
    if let Some(stream) = &filter.stream {
        add("stream = ?", stream.clone().into());
    }
    if let Some(event_type) = &filter.event_type {
        add("type = ?", event_type.clone().into());
    }
    if let Some(source) = &filter.source {
        add("source = ?", source.clone().into());
    }
    if let Some(since) = &filter.since {
        add("recorded_at >= ?", since.clone().into());
    }
    if let Some(until) = &filter.until {
        add("recorded_at < ?", until.clone().into());
    }
    if let Some(until_seq) = filter.until_seq {
        add("seq <= ?", (until_seq as i64).into());
    }
    let limit = filter.limit.map_or(-1, |l| l as i64);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY seq LIMIT {limit}",
        clauses.join(" AND ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        f(event_from_row(row)?)?;
    }
    Ok(())
}

/// The number of events and the head `seq` and hash (`None` for an empty log).
pub fn head(conn: &Connection) -> Result<(u64, Option<(u64, String)>), StoreError> {
    let count: u64 = conn.query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))?;
    let head = Head::load(conn)?;
    Ok((count, (head.seq > 0).then_some((head.seq, head.hash))))
}

/// The `seq` of the last event recorded at or before `as_of` (the log's micro-second form,
/// inclusive), 0 if none.
pub fn seq_as_of(conn: &Connection, as_of: &str) -> Result<u64, StoreError> {
    Ok(conn
        .query_row(
            "SELECT seq FROM events WHERE recorded_at <= ?1 ORDER BY seq DESC LIMIT 1",
            [as_of],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}
