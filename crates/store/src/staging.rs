//! Projection writes staged in memory, and the committed documents cached there.
//!
//! The writer (and replay) run projectors against a [`Staging`]: a job's writes stay in memory
//! until the job ends; the writes of the jobs that succeeded join the batch's; the batch's are
//! written by [`Staging::flush`], each table once and in key order, just before COMMIT. A job
//! that fails is dropped from memory, so no savepoint is needed, and a document written by
//! several jobs of one batch is written once.
//!
//! Documents are kept as the projector's own type ([`Body::Typed`]) wherever they can be: a
//! typed read of a document already in memory is a clone, not a parse, and a typed write is
//! serialised once, at the flush. Committed documents stay cached ([`DocCache`]) across
//! batches, within a byte budget.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::keyfilter::KeyFilter;
use crate::projection::{
    to_text, write_doc, write_journal_line, write_outbox, JournalLine, OutboxRow,
};
use crate::StoreError;

/// Body bytes of committed documents a [`Staging`] keeps in memory by default.
pub const DOC_CACHE_BYTES_DEFAULT: usize = 64 << 20;

/// A document value of any projector type that can be serialised and cloned.
pub(crate) trait Doc: Send {
    fn to_text(&self, kind: &str, key: &str) -> Result<String, StoreError>;
    fn as_any(&self) -> &dyn Any;
}

impl<T: Serialize + Clone + Send + 'static> Doc for T {
    fn to_text(&self, kind: &str, key: &str) -> Result<String, StoreError> {
        to_text(kind, key, self)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A document's body: its stored text, or the projector's value.
pub(crate) enum Body {
    Text(String),
    Typed(Box<dyn Doc>),
}

impl Body {
    fn text(&self, kind: &str, key: &str) -> Result<String, StoreError> {
        match self {
            Body::Text(text) => Ok(text.clone()),
            Body::Typed(doc) => doc.to_text(kind, key),
        }
    }

    /// The value as `T`: a clone when it is one, else parsed from its text.
    fn typed<T>(&self, kind: &str, key: &str) -> Result<T, StoreError>
    where
        T: DeserializeOwned + Clone + 'static,
    {
        if let Body::Typed(doc) = self {
            if let Some(value) = doc.as_any().downcast_ref::<T>() {
                return Ok(value.clone());
            }
        }
        let text = self.text(kind, key)?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("stored {kind} {key} does not parse: {e}")))
    }
}

/// Maps keyed by document kind and key, with foldhash: SipHash (std's default) took 8% of a
/// replay. foldhash's per-process random seed keeps keys chosen by a client from colliding
/// on purpose.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;
type Docs<V> = Map<Map<V>>;

/// A staged document: its body and the `seq` that wrote it.
type Staged = (Body, u64);

fn slot<'m, V>(docs: &'m mut Docs<V>, kind: &str) -> &'m mut Map<V> {
    if !docs.contains_key(kind) {
        docs.insert(kind.to_owned(), Map::default());
    }
    docs.get_mut(kind)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

/// Projection writes not yet in the database: one job's, or one batch's.
#[derive(Default)]
struct Changes {
    /// Documents by kind, then key: the last body written and its `seq`.
    docs: Docs<Staged>,
    lines: Vec<JournalLine>,
    outbox: Vec<OutboxRow>,
}

impl Changes {
    fn get(&self, kind: &str, key: &str) -> Option<&Body> {
        self.docs.get(kind)?.get(key).map(|(body, _)| body)
    }

    fn absorb(&mut self, other: &mut Changes) {
        for (kind, docs) in other.docs.drain() {
            match self.docs.get_mut(&kind) {
                Some(mine) => mine.extend(docs),
                None => {
                    self.docs.insert(kind, docs);
                }
            }
        }
        self.lines.append(&mut other.lines);
        self.outbox.append(&mut other.outbox);
    }

    fn clear(&mut self) {
        self.docs.clear();
        self.lines.clear();
        self.outbox.clear();
    }

    fn is_empty(&self) -> bool {
        self.docs.is_empty() && self.lines.is_empty() && self.outbox.is_empty()
    }
}

/// Committed documents kept in memory: two generations of at most `bytes_max / 2` bytes each
/// (a typed value counts its text's length when it was last written or read). A hit in the old
/// generation moves the document to the young one; when the young one is full it becomes the
/// old one and the old one is dropped (an approximate LRU for two hash lookups). A key known to
/// have no document is cached as `None`.
struct DocCache {
    young: Docs<Option<Body>>,
    old: Docs<Option<Body>>,
    young_bytes: usize,
    generation_bytes_max: usize,
}

impl DocCache {
    fn new(bytes_max: usize) -> DocCache {
        DocCache {
            young: Docs::default(),
            old: Docs::default(),
            young_bytes: 0,
            generation_bytes_max: (bytes_max / 2).max(1),
        }
    }

    /// `Some(None)`: known absent; `None`: not cached.
    fn get(&mut self, kind: &str, key: &str) -> Option<&Option<Body>> {
        let young = self
            .young
            .get(kind)
            .is_some_and(|docs| docs.contains_key(key));
        if !young {
            let found = self.old.get_mut(kind).and_then(|docs| docs.remove(key))?;
            self.insert(kind, key, found, 0);
        }
        self.young.get(kind)?.get(key)
    }

    fn insert(&mut self, kind: &str, key: &str, body: Option<Body>, bytes: usize) {
        if self.young_bytes >= self.generation_bytes_max {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += key.len() + bytes + 64;
        slot(&mut self.young, kind).insert(key.to_owned(), body);
    }

    fn clear(&mut self) {
        self.young.clear();
        self.old.clear();
        self.young_bytes = 0;
    }
}

/// The memory behind a staged [`crate::ProjectionTx`]: the open job's writes, the batch's
/// writes (jobs that succeeded), and a cache of committed documents.
///
/// The owner (the writer, or replay) calls [`Staging::end_job`] after each job,
/// [`Staging::flush`] before its transaction commits, and [`Staging::forget`] when a
/// transaction rolls back (the cache may then hold documents that never committed).
pub struct Staging {
    job: RefCell<Changes>,
    batch: RefCell<Changes>,
    /// A prepared batch that another thread is writing ([`Staging::set_in_flight`]): its
    /// documents are read from here until it is written, whatever the cache dropped.
    in_flight: RefCell<Option<std::sync::Arc<Prepared>>>,
    cache: RefCell<DocCache>,
    /// A rebuild's: every key it may hold ([`Staging::with_key_filter`]). A key it has never
    /// seen is answered absent without asking the database.
    known: Option<RefCell<KeyFilter>>,
}

/// A document's key, text and the `seq` that wrote it.
type PreparedDoc = (String, String, u64);

/// Statements run on a connection, for [`Prepared::write_with`].
type Rows<'r> = &'r mut dyn FnMut(&Connection) -> Result<(), StoreError>;

/// A batch's rows ready to be written: documents serialised, each table in key order
/// ([`Staging::prepare`]). Written by [`Prepared::write`], on this thread or another.
#[derive(Default)]
pub struct Prepared {
    /// By kind, then key, both sorted: the text and the `seq` that wrote it.
    docs: Vec<(String, Vec<PreparedDoc>)>,
    lines: Vec<JournalLine>,
    outbox: Vec<OutboxRow>,
}

impl Prepared {
    /// The rows it holds.
    pub fn len(&self) -> usize {
        let docs: usize = self.docs.iter().map(|(_, docs)| docs.len()).sum();
        docs + self.lines.len() + self.outbox.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The documents, by kind then key: kind, key, text and the `seq` that wrote it.
    pub fn docs(&self) -> impl Iterator<Item = (&str, &str, &str, u64)> {
        self.docs.iter().flat_map(|(kind, docs)| {
            docs.iter()
                .map(move |(key, text, seq)| (kind.as_str(), key.as_str(), text.as_str(), *seq))
        })
    }

    /// The journal lines, by `seq`, entry and line.
    pub fn journal_lines(&self) -> &[JournalLine] {
        &self.lines
    }

    /// The outbox rows, by `seq` and id.
    pub fn outbox(&self) -> &[OutboxRow] {
        &self.outbox
    }

    fn doc(&self, kind: &str, key: &str) -> Option<&str> {
        let at = self
            .docs
            .binary_search_by(|(k, _)| k.as_str().cmp(kind))
            .ok()?;
        let docs = &self.docs[at].1;
        let at = docs
            .binary_search_by(|(k, _, _)| k.as_str().cmp(key))
            .ok()?;
        Some(docs[at].1.as_str())
    }

    /// Writes the rows on `conn` (inside the caller's transaction). Returns the rows written.
    pub fn write(&self, conn: &Connection) -> Result<usize, StoreError> {
        self.write_with(&mut |rows| rows(conn))
    }

    /// Writes the rows on a connection shared with another thread, locking it for a few
    /// rows at a time and handing it over fairly after each group (a thread waiting for it
    /// gets it before this one locks it again), so that the other thread's reads wait for a
    /// few rows, not the batch.
    pub fn write_shared(
        &self,
        shared: &parking_lot::Mutex<Connection>,
    ) -> Result<usize, StoreError> {
        self.write_with(&mut |rows| {
            let conn = shared.lock();
            let written = rows(&conn);
            parking_lot::MutexGuard::unlock_fair(conn);
            written
        })
    }

    /// `on(rows)` runs `rows` (a group of at most [`ROWS_PER_LOCK`] statements) on a
    /// connection.
    fn write_with(
        &self,
        on: &mut dyn FnMut(Rows<'_>) -> Result<(), StoreError>,
    ) -> Result<usize, StoreError> {
        for (kind, docs) in &self.docs {
            for group in docs.chunks(ROWS_PER_LOCK) {
                on(&mut |conn| {
                    for (key, text, seq) in group {
                        write_doc(conn, kind, key, text, *seq)?;
                    }
                    Ok(())
                })?;
            }
        }
        for group in self.lines.chunks(ROWS_PER_LOCK) {
            on(&mut |conn| {
                group
                    .iter()
                    .try_for_each(|line| write_journal_line(conn, line))
            })?;
        }
        for group in self.outbox.chunks(ROWS_PER_LOCK) {
            on(&mut |conn| {
                group
                    .iter()
                    .try_for_each(|row| write_outbox(conn, row).map(|_| ()))
            })?;
        }
        Ok(self.len())
    }
}

/// Rows written per lock of a shared connection ([`Prepared::write_shared`]).
const ROWS_PER_LOCK: usize = 32;

impl Default for Staging {
    fn default() -> Self {
        Staging::new(DOC_CACHE_BYTES_DEFAULT)
    }
}

impl Staging {
    /// A staging area whose document cache holds about `cache_bytes` of documents.
    pub fn new(cache_bytes: usize) -> Staging {
        Staging {
            job: RefCell::new(Changes::default()),
            batch: RefCell::new(Changes::default()),
            in_flight: RefCell::new(None),
            cache: RefCell::new(DocCache::new(cache_bytes)),
            known: None,
        }
    }

    /// A staging area that knows every document key its database holds: the caller notes the
    /// keys already there ([`Staging::note_key`]); every key written is noted by the write.
    /// For a rebuild, whose database has no other writer.
    pub fn with_key_filter(mut self) -> Staging {
        self.known = Some(RefCell::new(KeyFilter::default()));
        self
    }

    /// Notes a key the database holds (see [`Staging::with_key_filter`]).
    pub fn note_key(&self, kind: &str, key: &str) {
        if let Some(known) = &self.known {
            known.borrow_mut().insert(kind, key);
        }
    }

    /// Runs `f` on the freshest staged or cached state of a document: `Some(None)` when it is
    /// known not to exist, `None` when the database must be asked.
    fn with_doc<R>(&self, kind: &str, key: &str, f: impl FnOnce(Option<&Body>) -> R) -> Option<R> {
        if let Some(body) = self.job.borrow().get(kind, key) {
            return Some(f(Some(body)));
        }
        if let Some(body) = self.batch.borrow().get(kind, key) {
            return Some(f(Some(body)));
        }
        // The cache before the batch in flight: `prepare` cached that batch's documents, and
        // nothing written later reaches the cache before the batch is written, so a cached
        // document is never older than the one in flight; it is only there in case the cache
        // has dropped it.
        let mut cache = self.cache.borrow_mut();
        if let Some(cached) = cache.get(kind, key) {
            return Some(f(cached.as_ref()));
        }
        drop(cache);
        if let Some(text) = self
            .in_flight
            .borrow()
            .as_ref()
            .and_then(|prepared| prepared.doc(kind, key))
        {
            return Some(f(Some(&Body::Text(text.to_owned()))));
        }
        match &self.known {
            Some(known) if !known.borrow().may_contain(kind, key) => Some(f(None)),
            _ => None,
        }
    }

    pub(crate) fn lookup_text(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        self.with_doc(kind, key, |body| {
            body.map(|b| b.text(kind, key)).transpose()
        })
        .transpose()
    }

    pub(crate) fn lookup_typed<T>(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<Option<T>>, StoreError>
    where
        T: DeserializeOwned + Clone + 'static,
    {
        self.with_doc(kind, key, |body| {
            body.map(|b| b.typed::<T>(kind, key)).transpose()
        })
        .transpose()
    }

    /// Caches what the database said of a document.
    pub(crate) fn remember(&self, kind: &str, key: &str, body: Option<String>) {
        let bytes = body.as_ref().map_or(0, String::len);
        self.cache
            .borrow_mut()
            .insert(kind, key, body.map(Body::Text), bytes);
    }

    /// Caches a document read from the database, as its parsed value.
    pub(crate) fn remember_typed<T: Serialize + Clone + Send + 'static>(
        &self,
        kind: &str,
        key: &str,
        value: Option<T>,
        bytes: usize,
    ) {
        let body = value.map(|v| Body::Typed(Box::new(v)));
        self.cache.borrow_mut().insert(kind, key, body, bytes);
    }

    pub(crate) fn put(&self, kind: &str, key: &str, body: Body, seq: u64) {
        self.note_key(kind, key);
        let mut job = self.job.borrow_mut();
        slot(&mut job.docs, kind).insert(key.to_owned(), (body, seq));
    }

    pub(crate) fn push_line(&self, line: JournalLine) {
        self.job.borrow_mut().lines.push(line);
    }

    pub(crate) fn push_outbox(&self, row: OutboxRow) {
        self.job.borrow_mut().outbox.push(row);
    }

    /// Ends the open job: its writes join the batch when `keep`, else they are dropped.
    pub fn end_job(&self, keep: bool) {
        let mut job = self.job.borrow_mut();
        if keep {
            self.batch.borrow_mut().absorb(&mut job);
        } else {
            job.clear();
        }
    }

    /// True when no write waits for a flush.
    pub fn is_empty(&self) -> bool {
        self.batch.borrow().is_empty() && self.job.borrow().is_empty()
    }

    /// Writes the batch's staged rows on `conn` (inside the caller's transaction), each table
    /// in key order, and caches the documents written. Returns the rows written.
    pub fn flush(&self, conn: &Connection) -> Result<usize, StoreError> {
        self.prepare()?.write(conn)
    }

    /// Takes the batch's staged rows out, serialised and in key order, for [`Prepared::write`],
    /// and caches its documents as committed (the caller writes them before it commits).
    pub fn prepare(&self) -> Result<Prepared, StoreError> {
        let mut batch = self.batch.borrow_mut();
        let mut cache = self.cache.borrow_mut();
        let mut kinds: Vec<(String, Map<Staged>)> = batch.docs.drain().collect();
        kinds.sort_by(|a, b| a.0.cmp(&b.0));
        let mut prepared = Prepared::default();
        for (kind, docs) in kinds {
            let mut docs: Vec<(String, Staged)> = docs.into_iter().collect();
            docs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut texts = Vec::with_capacity(docs.len());
            for (key, (body, seq)) in docs {
                let text = body.text(&kind, &key)?;
                let cached = match body {
                    Body::Text(_) => Body::Text(text.clone()),
                    typed => typed,
                };
                cache.insert(&kind, &key, Some(cached), text.len());
                texts.push((key, text, seq));
            }
            prepared.docs.push((kind, texts));
        }
        prepared.lines = std::mem::take(&mut batch.lines);
        prepared
            .lines
            .sort_by(|a, b| (a.seq, &a.entry_id, a.line_no).cmp(&(b.seq, &b.entry_id, b.line_no)));
        prepared.outbox = std::mem::take(&mut batch.outbox);
        prepared
            .outbox
            .sort_by(|a, b| (a.seq, &a.id).cmp(&(b.seq, &b.id)));
        Ok(prepared)
    }

    /// Names the prepared batch another thread is writing (`None` once it is written): reads
    /// of its documents are answered from it until then.
    pub fn set_in_flight(&self, prepared: Option<std::sync::Arc<Prepared>>) {
        *self.in_flight.borrow_mut() = prepared;
    }

    /// Drops every staged write and the cache (after a rollback).
    pub fn forget(&self) {
        self.in_flight.borrow_mut().take();
        self.job.borrow_mut().clear();
        self.batch.borrow_mut().clear();
        self.cache.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Thing {
        n: u64,
    }

    #[test]
    fn a_failed_job_leaves_nothing_and_a_kept_one_is_flushed_once() {
        let conn = conn();
        let staging = Staging::default();
        let tx = crate::ProjectionTx::staged(&conn, &staging);
        tx.put_typed("thing", "a", Thing { n: 1 }, 1).expect("put");
        staging.end_job(false);
        assert_eq!(tx.get_typed::<Thing>("thing", "a").expect("get"), None);
        tx.put_typed("thing", "a", Thing { n: 2 }, 2).expect("put");
        staging.end_job(true);
        tx.put_typed("thing", "a", Thing { n: 3 }, 3).expect("put");
        assert_eq!(
            tx.get_typed::<Thing>("thing", "a").expect("get"),
            Some(Thing { n: 3 }),
            "a job sees its own write first"
        );
        staging.end_job(true);
        assert_eq!(
            staging.flush(&conn).expect("flush"),
            1,
            "one row per document"
        );
        assert_eq!(
            crate::projection::get_doc(&conn, "thing", "a").expect("read"),
            Some(r#"{"n":3}"#.to_owned())
        );
        assert!(staging.is_empty());
        // Served from the cache now, as text or as the value.
        assert_eq!(
            tx.get_doc("thing", "a").expect("get"),
            Some(r#"{"n":3}"#.to_owned())
        );
    }

    #[test]
    fn a_forgotten_batch_falls_back_to_the_database() {
        let conn = conn();
        let staging = Staging::default();
        let tx = crate::ProjectionTx::staged(&conn, &staging);
        tx.put_doc("thing", "b", r#"{"n":7}"#, 1).expect("put");
        staging.end_job(true);
        staging.flush(&conn).expect("flush");
        staging.forget();
        assert_eq!(
            tx.get_typed::<Thing>("thing", "b").expect("get"),
            Some(Thing { n: 7 })
        );
        assert_eq!(tx.get_typed::<Thing>("thing", "none").expect("get"), None);
    }

    #[test]
    fn a_small_cache_drops_old_documents_and_still_answers() {
        let conn = conn();
        let staging = Staging::new(256);
        let tx = crate::ProjectionTx::staged(&conn, &staging);
        for n in 0..50u64 {
            tx.put_typed("thing", &n.to_string(), Thing { n }, n + 1)
                .expect("put");
            staging.end_job(true);
        }
        staging.flush(&conn).expect("flush");
        for n in 0..50u64 {
            assert_eq!(
                tx.get_typed::<Thing>("thing", &n.to_string()).expect("get"),
                Some(Thing { n })
            );
        }
    }
}
