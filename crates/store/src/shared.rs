//! A log shared by several nodes (PostgreSQL, crate `store-pg`), with this node's SQLite file as
//! its working copy (decision 8).
//!
//! The shared log is the source of truth. Each node's writer keeps a working copy of it in an
//! SQLite file of its own: every event of the shared log, and the projections folded from them.
//! A batch runs as on SQLite alone (the jobs read the working copy and the staged state), inside
//! a transaction of the shared log that holds its append lock:
//!
//! 1. [`SharedLog::begin`] takes the lock and reads the shared head;
//! 2. the events other nodes appended since this node's last batch are *followed*: each is
//!    checked to chain to the one before, added to the working copy and folded by the projectors
//!    ([`Follow`]), so the working copy is the shared log's state before the jobs run;
//! 3. the jobs run; their events and projection rows ([`crate::staging::Prepared`]) are written
//!    to the shared log by [`SharedLog::commit`] (on a thread of its own), while the writer
//!    writes them into the working copy's open transaction; the copy commits only once the
//!    shared log has, and the jobs are answered after that (a node reads its own writes).
//!
//! An answer to a job means its effects are durable in the shared log. The working copy is a
//! cache: if its own commit fails (or the node dies between the two commits), it is simply
//! behind, and the next batch follows the missing events from the shared log. Between batches
//! the writer follows the shared log every [`Shared::interval`] without the lock, so that reads
//! served from the working copy see other nodes' writes within that interval, and a new node
//! builds its copy without holding the others up.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use domain::Event;
use rusqlite::Connection;

use crate::log::{Head, StagedEvents};
use crate::projection::{ProjectionTx, Staging};
use crate::staging::Prepared;
use crate::StoreError;

/// The log this node shares with others. Errors are [`StoreError::Shared`] (a failure of the
/// shared database: nothing was committed, or the outcome of the commit is unknown) or
/// [`StoreError::Invariant`].
pub trait SharedLog: Send {
    /// The shared head's `seq`, read without the lock (the events up to it are committed).
    fn head_seq(&mut self) -> Result<u64, StoreError>;
    /// Opens the batch's transaction, waits for the append lock and returns the head's `seq`:
    /// from then until [`SharedLog::commit`] or [`SharedLog::rollback`] nobody else appends.
    fn begin(&mut self) -> Result<u64, StoreError>;
    /// At most `limit` events after `after_seq`, in `seq` order (inside the open transaction,
    /// if one is open).
    fn events_after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<Event>, StoreError>;
    /// Writes the batch's new events and projection rows and commits the open transaction.
    fn commit(&mut self, events: &[Event], rows: &Prepared) -> Result<(), StoreError>;
    /// Rolls the open transaction back, if one is open.
    fn rollback(&mut self);
}

/// Folds one event another node appended into this node's projections: the projectors'
/// `apply`, exactly as replay runs them. Its error is the projector's, as text.
pub type Follow = Arc<dyn Fn(&ProjectionTx<'_>, &Event) -> Result<(), String> + Send + Sync>;

/// What a writer on a shared log needs besides its working copy.
pub struct Shared {
    pub log: Box<dyn SharedLog>,
    pub follow: Follow,
    /// How often the writer follows the shared log between batches.
    pub interval: Duration,
}

/// How often a writer follows the shared log between batches, by default.
pub const FOLLOW_INTERVAL_DEFAULT: Duration = Duration::from_millis(200);

/// Events read from the shared log per step of following.
pub(crate) const FOLLOW_CHUNK: usize = 2_000;

/// Adds `events` (the next ones of the shared log after `head`) to the working copy inside the
/// open SQLite transaction: each checked to chain to `head`, folded by `follow` into `staging`
/// and staged in `staged`; `head` moves on. The caller flushes and commits.
pub(crate) fn apply_followed(
    conn: &Connection,
    staging: &Staging,
    staged: &RefCell<StagedEvents>,
    head: &mut Head,
    events: &[Event],
    follow: &Follow,
) -> Result<(), StoreError> {
    for event in events {
        if event.seq != head.seq + 1 || event.prev_hash != head.hash {
            return Err(StoreError::Invariant(format!(
                "the shared log's event {} does not follow this node's working copy (head {} \
                 {}): the copy belongs to another log; delete it and start again",
                event.seq, head.seq, head.hash
            )));
        }
        let tx = ProjectionTx::staged(conn, staging);
        if let Err(error) = follow(&tx, event) {
            staging.end_job(false);
            return Err(StoreError::Invariant(format!(
                "event {} of the shared log cannot be folded into the projections: {error}",
                event.seq
            )));
        }
        staging.end_job(true);
        staged.borrow_mut().absorb(std::slice::from_ref(event));
        *head = Head {
            seq: event.seq,
            hash: event.hash.clone(),
            recorded_at: event.recorded_at.clone(),
        };
    }
    Ok(())
}

/// Follows the shared log up to `target` inside the open SQLite transaction, and writes what
/// it followed to the working copy (not yet committed). Returns the events followed.
pub(crate) fn follow_to(
    conn: &Connection,
    staging: &Staging,
    staged: &RefCell<StagedEvents>,
    head: &mut Head,
    shared: &mut Shared,
    target: u64,
) -> Result<u64, StoreError> {
    let start = head.seq;
    while head.seq < target {
        let events = shared.log.events_after(head.seq, FOLLOW_CHUNK)?;
        if events.is_empty() {
            return Err(StoreError::Shared(format!(
                "the shared log's head is {target} but no event follows {}",
                head.seq
            )));
        }
        let upto: Vec<Event> = events.into_iter().take_while(|e| e.seq <= target).collect();
        apply_followed(conn, staging, staged, head, &upto, &shared.follow)?;
        staged.borrow_mut().flush(conn)?;
        staging.flush(conn)?;
    }
    Ok(head.seq - start)
}
