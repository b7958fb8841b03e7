//! The one writer: a dedicated thread that owns the only read-write connection and commits
//! whole batches of jobs at once (group commit).
//!
//! Handlers submit jobs over a bounded channel and wait for their answer. The writer takes
//! whatever is queued (up to `batch_max`), opens one transaction and runs each job against
//! state staged in memory ([`Staging`], [`StagedEvents`]): a job that fails is dropped from
//! memory alone, with no savepoint. Then the batch's events and projection rows are written,
//! each table once and in key order, the transaction commits, and only then is every job in the
//! batch answered: an answer is a promise that the job's effects are durable. A job that needs
//! SQL of its own gets a SAVEPOINT (see [`WriteCtx`]). A full queue is refused at once
//! ([`WriteError::Busy`]), so memory stays bounded and callers can answer 503. The WAL is
//! checkpointed by a thread of its own ([`Checkpointer`]), off the commit path.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use domain::Event;
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::checkpoint::{Checkpointer, WriterCheckpoint};
use crate::log::{Head, StagedEvents, WriteCtx};
use crate::projection::Staging;
use crate::shared::Shared;
use crate::{Store, StoreError};

/// The writer's limits.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Jobs committed together at most. 1 disables group commit.
    pub batch_max: usize,
    /// Jobs waiting at most; one more is refused with [`WriteError::Busy`].
    pub queue_max: usize,
    /// Body bytes of committed projection documents kept in memory.
    pub doc_cache_bytes: usize,
    /// Checkpoint the WAL from a thread of its own instead of inside a commit.
    pub checkpoint_off_thread: bool,
    /// WAL frames past which the writer checkpoints itself, PASSIVE then RESTART
    /// (`checkpoint::RESTART_FRAMES`, `checkpoint::HARD_FRAMES`; smaller in tests).
    pub wal_restart_frames: i64,
    pub wal_hard_frames: i64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_max: 256,
            queue_max: 8192,
            doc_cache_bytes: crate::projection::DOC_CACHE_BYTES_DEFAULT,
            checkpoint_off_thread: true,
            wal_restart_frames: crate::checkpoint::RESTART_FRAMES,
            wal_hard_frames: crate::checkpoint::HARD_FRAMES,
        }
    }
}

/// The page cache of the writer's connection, in KiB: a batch's pages, and the upper levels of
/// every B-tree it appends to, stay in memory instead of being read back and spilled.
pub const WRITER_CACHE_KIB: u32 = 64 * 1024;

/// Why a job got no answer of its own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The queue is full. Handling: 503 with `Retry-After`.
    #[error("the writer's queue is full; retry shortly")]
    Busy,
    /// The writer has stopped (shutdown, or a fatal error). Handling: 503.
    #[error("the writer has stopped")]
    Stopped,
    /// The batch's commit failed; nothing of it is durable. Handling: 500.
    #[error("commit failed: {0}")]
    Commit(Arc<StoreError>),
    /// The job panicked (a bug); its savepoint was rolled back. Handling: 500.
    #[error("the request's processing panicked; nothing was recorded")]
    Panicked,
}

/// What one committed batch did, for metrics.
#[derive(Debug, Clone)]
pub struct BatchReport {
    pub jobs: usize,
    pub events_appended: usize,
    /// From the start of the transaction to the end of the commit.
    pub commit_duration: Duration,
    /// The head `seq` after the commit.
    pub head_seq: u64,
}

/// Called after each committed batch with its report and the events it appended.
pub type Observer = Arc<dyn Fn(&BatchReport, &[Event]) + Send + Sync>;

type Reply = Box<dyn FnOnce(Result<(), WriteError>) + Send>;
type Job = Box<dyn FnOnce(&mut WriteCtx<'_>) -> (bool, Reply) + Send>;

/// What the writer thread is sent.
enum Msg {
    Job(Job),
    /// On a shared log: follow it now (between batches, without its lock).
    Follow,
}

/// A handle for submitting jobs to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Msg>,
}

impl Writer {
    /// Starts the writer thread on a new read-write connection to `store`.
    pub fn spawn(
        store: &Store,
        config: WriterConfig,
        observer: Option<Observer>,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        Writer::start(store, config, observer, None)
    }

    /// Starts the writer thread on `store` as the working copy of a log shared with other
    /// nodes (see [`crate::shared`]): it first follows the shared log to its head (a new
    /// node's copy is built here, before this returns), then every batch commits to the
    /// shared log first.
    pub fn spawn_shared(
        store: &Store,
        config: WriterConfig,
        observer: Option<Observer>,
        shared: Shared,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        Writer::start(store, config, observer, Some(shared))
    }

    fn start(
        store: &Store,
        config: WriterConfig,
        observer: Option<Observer>,
        mut shared: Option<Shared>,
    ) -> Result<(Writer, JoinHandle<()>), StoreError> {
        let conn = store.open_writer_connection()?;
        conn.pragma_update(None, "cache_size", -i64::from(WRITER_CACHE_KIB))?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let checkpointer = if config.checkpoint_off_thread {
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            // The writer's own checkpoints restart the WAL too: it is truncated back then.
            conn.pragma_update(
                None,
                "journal_size_limit",
                crate::checkpoint::WAL_SIZE_LIMIT_BYTES,
            )?;
            Some(
                Checkpointer::spawn(store)?
                    .with_frames(config.wal_restart_frames, config.wal_hard_frames),
            )
        } else {
            None
        };
        let mut state = WriterState {
            head: Head::load(&conn)?,
            staging: Staging::new(config.doc_cache_bytes),
            events: RefCell::new(StagedEvents::default()),
            checkpointer,
        };
        if let Some(shared) = shared.as_mut() {
            follow_between_batches(&conn, &mut state, shared)?;
        }
        let (jobs, queue) = mpsc::channel(config.queue_max.max(1));
        if let Some(shared) = &shared {
            spawn_follow_ticker(jobs.clone(), shared.interval)?;
        }
        let batch_max = config.batch_max.max(1);
        let thread = std::thread::Builder::new()
            .name("hookledger-writer".into())
            .spawn(move || run(conn, state, queue, batch_max, observer, shared))
            .map_err(|e| StoreError::Invariant(format!("cannot start the writer thread: {e}")))?;
        Ok((Writer { jobs }, thread))
    }

    /// Runs `f` inside the next batch's transaction and returns its result once the batch has
    /// committed. If `f` returns `Err`, everything it did is rolled back (the rest of the batch
    /// still commits) and the error is returned, also after the commit.
    pub async fn submit<T, E, F>(&self, f: F) -> Result<Result<T, E>, WriteError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<Result<T, E>, WriteError>>();
        let job: Job = Box::new(move |ctx: &mut WriteCtx<'_>| {
            let result = catch_unwind(AssertUnwindSafe(|| f(ctx)));
            let keep = matches!(result, Ok(Ok(_)));
            let reply: Reply = Box::new(move |committed: Result<(), WriteError>| {
                let outcome = match (committed, result) {
                    (Err(e), _) => Err(e),
                    (Ok(()), Err(_panic)) => Err(WriteError::Panicked),
                    (Ok(()), Ok(result)) => Ok(result),
                };
                let _ = answer.send(outcome);
            });
            (keep, reply)
        });
        self.jobs.try_send(Msg::Job(job)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => WriteError::Busy,
            mpsc::error::TrySendError::Closed(_) => WriteError::Stopped,
        })?;
        answered.await.unwrap_or(Err(WriteError::Stopped))
    }

    /// Like [`Writer::submit`], for callers outside an async runtime (tools, benchmarks).
    pub fn submit_blocking<T, E, F>(&self, f: F) -> Result<Result<T, E>, WriteError>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, E> + Send + 'static,
    {
        futures_lite_block_on(self.submit(f))
    }
}

/// A minimal executor for one future, so that blocking callers need no runtime.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map(|rt| rt.block_on(future))
        .unwrap_or_else(|e| panic!("cannot build a current-thread runtime: {e}"))
}

/// Everything the writer thread owns besides its connection.
struct WriterState {
    head: Head,
    staging: Staging,
    events: RefCell<StagedEvents>,
    checkpointer: Option<Checkpointer>,
}

/// Sends [`Msg::Follow`] every `interval` until the writer has stopped.
fn spawn_follow_ticker(jobs: mpsc::Sender<Msg>, interval: Duration) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name("hookledger-follow".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            match jobs.try_send(Msg::Follow) {
                // A full queue: the writer is busy, and every batch follows anyway.
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        })
        .map(drop)
        .map_err(|e| StoreError::Invariant(format!("cannot start the follow thread: {e}")))
}

/// Follows the shared log to its head without its lock, each chunk in an SQLite transaction
/// of its own. On failure the working copy is left as it was committed.
fn follow_between_batches(
    conn: &Connection,
    state: &mut WriterState,
    shared: &mut Shared,
) -> Result<(), StoreError> {
    let target = shared.log.head_seq()?;
    if target < state.head.seq {
        return Err(StoreError::Invariant(format!(
            "this node's working copy holds {} events, more than the shared log's {target}: it \
             belongs to another log (or the shared database was restored from an older \
             backup); delete the copy and start again",
            state.head.seq
        )));
    }
    while state.head.seq < target {
        let step_target = target.min(state.head.seq + crate::shared::FOLLOW_CHUNK as u64);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut head = state.head.clone();
        let followed = crate::shared::follow_to(
            conn,
            &state.staging,
            &state.events,
            &mut head,
            shared,
            step_target,
        )
        .and_then(|_| Ok(conn.execute_batch("COMMIT")?));
        match followed {
            Ok(()) => state.head = head,
            Err(error) => {
                let _ = conn.execute_batch("ROLLBACK");
                state.staging.forget();
                state.events.borrow_mut().forget();
                state.head = Head::load(conn)?;
                return Err(error);
            }
        }
    }
    Ok(())
}

fn run(
    conn: Connection,
    mut state: WriterState,
    mut queue: mpsc::Receiver<Msg>,
    batch_max: usize,
    observer: Option<Observer>,
    mut shared: Option<Shared>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(batch_max);
    // Whether following the shared log failed last time: logged once when it starts failing
    // (every 200 ms otherwise, for as long as the database is down) and once when it recovers.
    let mut follow_failing = false;
    while let Some(first) = queue.blocking_recv() {
        let mut follow = false;
        match first {
            Msg::Job(job) => batch.push(job),
            Msg::Follow => follow = true,
        }
        while batch.len() < batch_max {
            match queue.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Follow) => follow = true,
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            if let (true, Some(shared)) = (follow, shared.as_mut()) {
                match follow_between_batches(&conn, &mut state, shared) {
                    Ok(()) if follow_failing => {
                        follow_failing = false;
                        tracing::warn!("following the shared log again");
                    }
                    Ok(()) => {}
                    Err(error) if !follow_failing => {
                        follow_failing = true;
                        tracing::warn!(%error, "cannot follow the shared log; trying again");
                    }
                    Err(error) => tracing::debug!(%error, "cannot follow the shared log"),
                }
            }
            continue;
        }
        let started = Instant::now();
        match commit_batch(&conn, &mut state, &mut batch, shared.as_mut()) {
            Ok((replies, appended)) => {
                let report = BatchReport {
                    jobs: replies.len(),
                    events_appended: appended.len(),
                    commit_duration: started.elapsed(),
                    head_seq: state.head.seq,
                };
                if let Some(checkpointer) = &state.checkpointer {
                    checkpointer.nudge();
                }
                if let Some(observe) = &observer {
                    observe(&report, &appended);
                }
                for reply in replies {
                    reply(Ok(()));
                }
                match state
                    .checkpointer
                    .as_ref()
                    .and_then(Checkpointer::wants_writer)
                {
                    Some(WriterCheckpoint::Passive) => {
                        if let Err(error) = crate::checkpoint::passive_checkpoint(&conn) {
                            tracing::warn!(%error, "WAL checkpoint failed");
                        }
                    }
                    Some(WriterCheckpoint::Restart) => {
                        match crate::checkpoint::restart_checkpoint(&conn) {
                            Ok(true) => {}
                            Ok(false) => tracing::debug!(
                                "WAL restart checkpoint: readers stayed; tried again later"
                            ),
                            Err(error) => tracing::warn!(%error, "WAL checkpoint failed"),
                        }
                    }
                    None => {}
                }
            }
            Err((error, replies)) => {
                tracing::error!(%error, "batch commit failed; the batch is rolled back");
                let _ = conn.execute_batch("ROLLBACK");
                if let Some(shared) = shared.as_mut() {
                    shared.log.rollback();
                }
                state.staging.forget();
                state.events.borrow_mut().forget();
                let error = Arc::new(error);
                for reply in replies {
                    reply(Err(WriteError::Commit(error.clone())));
                }
                // The writer never gives up on a failing disk: it waits for the head to be
                // readable again (a 503 meanwhile), so it recovers by itself.
                let mut pause = Duration::from_millis(50);
                loop {
                    match Head::load(&conn) {
                        Ok(reloaded) => {
                            state.head = reloaded;
                            break;
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot reload the log head; retrying");
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
        }
    }
}

type Replies = Vec<Reply>;

/// Runs one batch in one transaction: each job against the staged state, then the staged
/// events and projection rows written in order, then COMMIT. On failure, the replies are
/// returned with the error so that every caller is told.
#[allow(clippy::type_complexity)]
fn commit_batch(
    conn: &Connection,
    state: &mut WriterState,
    batch: &mut Vec<Job>,
    mut shared: Option<&mut Shared>,
) -> Result<(Replies, Vec<Event>), (StoreError, Replies)> {
    let mut replies: Replies = Vec::with_capacity(batch.len());
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // The jobs cannot run: dropped unrun, each caller's answer channel closes and it is
        // told the writer could not take it.
        batch.clear();
        return Err((e.into(), replies));
    }
    if let Some(shared) = shared.as_mut() {
        // Under the shared log's lock: what other nodes appended since the last batch joins
        // the working copy first, so the jobs see the log as it is.
        let followed = shared.log.begin().and_then(|target| {
            if target < state.head.seq {
                return Err(StoreError::Invariant(format!(
                    "the shared log's head {target} is behind this node's working copy ({})",
                    state.head.seq
                )));
            }
            crate::shared::follow_to(
                conn,
                &state.staging,
                &state.events,
                &mut state.head,
                shared,
                target,
            )
        });
        if let Err(e) = followed {
            batch.clear();
            return Err((e, replies));
        }
    }
    let mut appended: Vec<Event> = Vec::new();
    for job in batch.drain(..) {
        let mut ctx = WriteCtx::new(conn, &state.staging, &state.events, state.head.clone());
        ctx.shared = shared.is_some();
        let (keep, reply) = job(&mut ctx);
        replies.push(reply);
        if let Some(error) = ctx.poisoned.take() {
            return Err((error, replies));
        }
        if ctx.direct.get() {
            let finish = if keep {
                conn.execute_batch("RELEASE job")
            } else {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            };
            if let Err(e) = finish {
                return Err((e.into(), replies));
            }
        }
        state.staging.end_job(keep);
        if keep {
            state.head = ctx.head;
            state.events.borrow_mut().absorb(&ctx.appended);
            appended.append(&mut ctx.appended);
        }
    }
    let Some(shared) = shared else {
        let flushed = state
            .events
            .borrow_mut()
            .flush(conn)
            .and_then(|_| state.staging.flush(conn));
        if let Err(e) = flushed {
            return Err((e, replies));
        }
        return match conn.execute_batch("COMMIT") {
            Ok(()) => Ok((replies, appended)),
            Err(e) => Err((e.into(), replies)),
        };
    };
    // The shared log first: once it has committed, the batch is durable and is answered so,
    // whatever becomes of the working copy's commit. Meanwhile this thread writes the same
    // rows to the working copy, inside its open transaction: its SQLite work overlaps the
    // shared log's round trips and commit, and it commits only once the shared log has (a
    // failure there rolls both back).
    let prepared = match state.staging.prepare() {
        Ok(prepared) => prepared,
        Err(e) => return Err((e, replies)),
    };
    let events = &state.events;
    let (committed, local) = std::thread::scope(|scope| {
        let log = &mut shared.log;
        let remote = std::thread::Builder::new()
            .name("hookledger-shared-commit".into())
            .spawn_scoped(scope, || log.commit(&appended, &prepared));
        let local = || {
            events
                .borrow_mut()
                .flush(conn)
                .and_then(|_| prepared.write(conn))
        };
        match remote {
            Ok(remote) => {
                let local = local();
                let committed = remote.join().unwrap_or_else(|_| {
                    Err(StoreError::Shared(
                        "the shared log's commit panicked; the batch is rolled back".into(),
                    ))
                });
                (committed, local)
            }
            // Nothing was sent: the batch fails as a failure of the shared log would.
            Err(e) => (
                Err(StoreError::Shared(format!(
                    "cannot start the shared log's commit: {e}"
                ))),
                Ok(0),
            ),
        }
    });
    if let Err(e) = committed {
        return Err((e, replies));
    }
    let local = local.and_then(|_| Ok(conn.execute_batch("COMMIT")?));
    if let Err(error) = local {
        tracing::warn!(
            %error,
            "the batch is in the shared log but not in this node's working copy; it will be \
             followed from the shared log"
        );
        let _ = conn.execute_batch("ROLLBACK");
        state.staging.forget();
        state.events.borrow_mut().forget();
        if let Ok(head) = Head::load(conn) {
            state.head = head;
        }
    }
    Ok((replies, appended))
}
