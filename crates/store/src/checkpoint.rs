//! The WAL checkpointer: a thread of its own that copies committed WAL frames back into the
//! database file, so that no commit pays for it.
//!
//! SQLite's default runs a checkpoint inside the commit that crosses 1000 WAL pages, on the
//! writer's thread and inside its latency. The writer turns that off (`wal_autocheckpoint=0`)
//! and nudges this thread after each commit; the thread runs a PASSIVE checkpoint at most every
//! [`CHECKPOINT_INTERVAL`] while commits arrive. PASSIVE never blocks the writer or readers; when
//! it has copied every frame, the writer's next transaction starts the WAL over from its
//! beginning, so the file stays small ([`WAL_SIZE_LIMIT_BYTES`] once reset). Under a load that
//! never pauses, a background checkpoint never catches up with the last commit; then the writer
//! finishes the job between two batches ([`Checkpointer::wants_writer`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::{Store, StoreError};

/// At most one checkpoint per this interval while commits arrive.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);
/// WAL frames (pages) past which the writer checkpoints the rest itself (about 32 MiB).
pub const RESTART_FRAMES: i64 = 8192;
/// WAL frames past which the writer's checkpoint is a RESTART (about 128 MiB): it waits up to
/// [`RESTART_WAIT`] for readers to leave the WAL, so that the next commit starts it over. A
/// PASSIVE checkpoint leaves the WAL where it is whenever a reader holds a snapshot in it at
/// that moment, and with readers at work all the time (the delivery worker, the console, the
/// read APIs) that was every time: the disk-fault campaign saw the WAL reach 523 MB.
pub const HARD_FRAMES: i64 = 4 * RESTART_FRAMES;
/// How long a RESTART checkpoint waits for readers at most (the writer waits with it).
pub const RESTART_WAIT: Duration = Duration::from_millis(100);
/// The WAL file is truncated back to this size when it is reset (`journal_size_limit`).
pub const WAL_SIZE_LIMIT_BYTES: i64 = 64 << 20;

/// Which checkpoint the writer runs between two batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriterCheckpoint {
    Passive,
    Restart,
}

/// A handle on the checkpointer thread; dropping it ends the thread after a last checkpoint.
pub(crate) struct Checkpointer {
    /// `None` only while dropping: closing the channel stops the thread.
    nudges: Option<SyncSender<()>>,
    /// Joined on drop, so that its connection is closed when the writer's is (a replay or a
    /// test that opens the file next does not meet it).
    thread: Option<std::thread::JoinHandle<()>>,
    /// The WAL's frames at the last checkpoint.
    wal_frames: Arc<AtomicI64>,
    /// [`RESTART_FRAMES`] and [`HARD_FRAMES`] unless a test says otherwise.
    restart_frames: i64,
    hard_frames: i64,
}

impl Checkpointer {
    pub(crate) fn spawn(store: &Store) -> Result<Checkpointer, StoreError> {
        let conn = store.open_writer_connection()?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
        let (nudges, received) = mpsc::sync_channel(1);
        let wal_frames = Arc::new(AtomicI64::new(0));
        let frames = wal_frames.clone();
        let thread = std::thread::Builder::new()
            .name("hookledger-checkpoint".into())
            .spawn(move || run(&conn, &received, &frames))
            .map_err(|e| StoreError::Invariant(format!("cannot start the checkpointer: {e}")))?;
        Ok(Checkpointer {
            nudges: Some(nudges),
            thread: Some(thread),
            wal_frames,
            restart_frames: RESTART_FRAMES,
            hard_frames: HARD_FRAMES,
        })
    }

    /// Other thresholds than [`RESTART_FRAMES`] and [`HARD_FRAMES`] (tests).
    pub(crate) fn with_frames(mut self, restart_frames: i64, hard_frames: i64) -> Checkpointer {
        self.restart_frames = restart_frames;
        self.hard_frames = hard_frames;
        self
    }

    /// `Some` when the WAL has grown past [`RESTART_FRAMES`]: the writer never paused long
    /// enough for a background checkpoint to copy every frame, so the WAL cannot start over.
    /// The writer then runs a checkpoint itself between two batches: PASSIVE, which copies only
    /// the frames committed since the last background one so that the next transaction can
    /// restart the WAL; or, past [`HARD_FRAMES`] (the WAL did not restart, readers were in
    /// it), RESTART, which waits for them briefly.
    pub(crate) fn wants_writer(&self) -> Option<WriterCheckpoint> {
        let frames = self.wal_frames.load(Ordering::Relaxed);
        if frames < self.restart_frames {
            return None;
        }
        self.wal_frames.store(0, Ordering::Relaxed);
        Some(if frames >= self.hard_frames {
            WriterCheckpoint::Restart
        } else {
            WriterCheckpoint::Passive
        })
    }

    /// Tells the thread that a commit added frames (never blocks).
    pub(crate) fn nudge(&self) {
        if let Some(nudges) = &self.nudges {
            let _ = nudges.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    /// Stops the thread (after a last checkpoint if a commit is pending) and waits for it.
    fn drop(&mut self) {
        self.nudges = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, nudges: &mpsc::Receiver<()>, wal_frames: &AtomicI64) {
    let mut pending = false;
    let mut last = Instant::now();
    loop {
        let wait = if pending {
            CHECKPOINT_INTERVAL.saturating_sub(last.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        match nudges.recv_timeout(wait) {
            Ok(()) => pending = true,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if pending {
                    checkpoint(conn, wal_frames);
                }
                return;
            }
        }
        if pending && last.elapsed() >= CHECKPOINT_INTERVAL {
            checkpoint(conn, wal_frames);
            last = Instant::now();
            pending = false;
        }
    }
}

/// One PASSIVE checkpoint; the WAL's size is published for [`Checkpointer::wants_writer`]. A
/// failure is logged and retried at the next nudge.
fn checkpoint(conn: &Connection, wal_frames: &AtomicI64) {
    match passive_checkpoint(conn) {
        Ok(frames) => wal_frames.store(frames, Ordering::Relaxed),
        Err(error) => {
            tracing::warn!(%error, "WAL checkpoint failed; retried after the next commit")
        }
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)` on `conn`; returns the WAL's frames.
pub(crate) fn passive_checkpoint(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?)
}

/// `PRAGMA wal_checkpoint(RESTART)` on the writer's `conn`, waiting at most [`RESTART_WAIT`]
/// for readers; returns whether it got them all off the WAL (else the next one tries again).
pub(crate) fn restart_checkpoint(conn: &Connection) -> Result<bool, StoreError> {
    conn.busy_timeout(RESTART_WAIT)?;
    let result = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    });
    conn.busy_timeout(crate::BUSY_TIMEOUT)?;
    Ok(result? == 0)
}
