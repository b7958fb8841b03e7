//! The chain badge's state: the verified head, kept current in the background.
//!
//! Verifying a million-event chain takes seconds, far too long for every page. So a task keeps
//! the last verified head (`seq` and hash) and, every [`POLL_INTERVAL`], verifies only the
//! events appended after it ([`store::verify::verify_after`], [`CHUNK_ROWS`] at a time, each on
//! a blocking thread), after checking that the head itself still carries its hash. That alone
//! would trust the rows verified before; so every `console_full_verify_interval` the walk
//! starts again from seq 1, and the badge shows when that last full pass finished. Pages read
//! the state from memory ([`ChainWatch::status`]).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use store::hash::GENESIS_HASH;
use store::{Store, VerifyReport};

/// How often the watcher looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Rows one verification step reads at most (one blocking call, a fraction of a second).
pub const CHUNK_ROWS: u64 = 50_000;

/// What the badge shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// The first walk from seq 1 has not reached the head yet.
    Verifying { through_seq: u64 },
    /// Every event through `head_seq` verified.
    Intact {
        /// 0 for an empty log.
        head_seq: u64,
        head_hash: Option<String>,
        /// When the head was last verified (RFC 3339).
        checked_at: String,
        /// When the last walk from seq 1 finished.
        full_pass_at: String,
    },
    /// Verification failed at `first_bad_seq`.
    Broken {
        first_bad_seq: u64,
        reason: String,
        checked_at: String,
    },
}

impl ChainStatus {
    /// Whether the event `seq` lies in the verified part of the chain.
    pub fn covers(&self, seq: u64) -> bool {
        match self {
            ChainStatus::Intact { head_seq, .. } => seq <= *head_seq,
            ChainStatus::Verifying { through_seq } => seq <= *through_seq,
            ChainStatus::Broken { first_bad_seq, .. } => seq < *first_bad_seq,
        }
    }
}

/// The shared badge state.
pub struct ChainWatch {
    status: RwLock<ChainStatus>,
}

impl Default for ChainWatch {
    fn default() -> Self {
        ChainWatch {
            status: RwLock::new(ChainStatus::Verifying { through_seq: 0 }),
        }
    }
}

impl ChainWatch {
    pub fn status(&self) -> ChainStatus {
        match self.status.read() {
            Ok(status) => status.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, status: ChainStatus) {
        match self.status.write() {
            Ok(mut slot) => *slot = status,
            Err(poisoned) => *poisoned.into_inner() = status,
        }
    }
}

fn now() -> String {
    domain::time::format_micros(chrono::Utc::now())
}

/// Where the walk stands.
struct Walk {
    seq: u64,
    hash: String,
    /// When the current walk from seq 1 began (`None` once it reached the head).
    pass_started: Option<(Instant, String)>,
    /// When the last walk from seq 1 finished.
    full_pass_at: Option<String>,
    last_pass_start: Instant,
    /// The last step found a break: nothing more is walked until the next full pass.
    broken: bool,
}

impl Walk {
    fn from_start() -> Walk {
        Walk {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
            pass_started: Some((Instant::now(), now())),
            full_pass_at: None,
            last_pass_start: Instant::now(),
            broken: false,
        }
    }

    fn restart(&mut self) {
        self.seq = 0;
        self.hash = GENESIS_HASH.to_owned();
        self.pass_started = Some((Instant::now(), now()));
        self.last_pass_start = Instant::now();
        self.broken = false;
    }
}

/// One verification step: verifies up to `chunk_rows` rows after the walk's point and updates
/// `watch`. Returns whether more rows may follow at once (the chunk was full).
pub fn step(store: &Store, watch: &ChainWatch, walk: &mut WalkHandle, chunk_rows: u64) -> bool {
    let walk = &mut walk.0;
    let from_seq = walk.seq;
    let report =
        store.read(|conn| store::verify::verify_after(conn, from_seq, &walk.hash, chunk_rows));
    match report {
        Err(e) => {
            tracing::warn!(error = %e, "the console's chain check could not read the log");
            false
        }
        Ok(VerifyReport::Broken {
            first_bad_seq,
            reason,
        }) => {
            watch.set(ChainStatus::Broken {
                first_bad_seq,
                reason,
                checked_at: now(),
            });
            // Walk again at the next full pass: a repaired file (restored from a backup) is
            // then seen for what it is.
            walk.broken = true;
            false
        }
        Ok(VerifyReport::Intact { head }) => {
            let (seq, hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
            let more = seq - from_seq >= chunk_rows;
            walk.seq = seq;
            walk.hash = hash.clone();
            if more {
                if walk.full_pass_at.is_none() {
                    watch.set(ChainStatus::Verifying { through_seq: seq });
                }
                return true;
            }
            if let Some((_, started)) = walk.pass_started.take() {
                walk.full_pass_at = Some(started);
            }
            watch.set(ChainStatus::Intact {
                head_seq: seq,
                head_hash: (seq > 0).then_some(hash),
                checked_at: now(),
                full_pass_at: walk.full_pass_at.clone().unwrap_or_default(),
            });
            false
        }
    }
}

/// The walk's position, owned by the one task that steps it.
pub struct WalkHandle(Walk);

impl Default for WalkHandle {
    fn default() -> Self {
        WalkHandle(Walk::from_start())
    }
}

impl WalkHandle {
    /// Starts the walk again from seq 1 when `interval` has passed since the last start;
    /// returns whether there is anything to step (not while a break waits for the next pass).
    pub fn ready(&mut self, interval: Duration) -> bool {
        let walk = &mut self.0;
        if walk.last_pass_start.elapsed() >= interval {
            walk.restart();
        }
        !walk.broken
    }
}

/// Keeps `watch` current until the task is aborted.
pub async fn run(store: Store, watch: Arc<ChainWatch>, full_pass_interval: Duration) {
    let mut walk = WalkHandle::default();
    loop {
        if !walk.ready(full_pass_interval) {
            tokio::time::sleep(POLL_INTERVAL).await;
            continue;
        }
        let (store_, watch_) = (store.clone(), watch.clone());
        let stepped = tokio::task::spawn_blocking(move || {
            let more = step(&store_, &watch_, &mut walk, CHUNK_ROWS);
            (walk, more)
        })
        .await;
        let more = match stepped {
            Ok((returned, more)) => {
                walk = returned;
                more
            }
            Err(e) => {
                tracing::error!(error = %e, "the console's chain check panicked; starting over");
                walk = WalkHandle::default();
                false
            }
        };
        if !more {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Dedupe, Json, NewEvent, RawRequest, Source};
    use store::{Durability, Writer, WriterConfig};

    fn log_of(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("log.db"), Durability::Normal).expect("open");
        let (writer, thread) =
            Writer::spawn(&store, WriterConfig::default(), None).expect("writer");
        for k in 0..n {
            let event = NewEvent {
                stream: "s".into(),
                event_type: "t".into(),
                type_version: 1,
                source: Source::Roms,
                dedupe: Dedupe::Key(format!("k{k}")),
                payload: Json::object([("k", Json::int(k as i64))]),
                raw_request: RawRequest::default(),
            };
            writer
                .submit_blocking(move |ctx| ctx.append(&event).map(|_| ()))
                .expect("writer answered")
                .expect("appended");
        }
        drop(writer);
        thread.join().expect("writer thread");
        (dir, store)
    }

    #[test]
    fn the_first_pass_shows_its_progress_then_the_verified_head() {
        let (_dir, store) = log_of(5);
        let watch = ChainWatch::default();
        let mut walk = WalkHandle::default();
        assert!(walk.ready(Duration::from_secs(600)));
        assert!(step(&store, &watch, &mut walk, 2));
        assert_eq!(watch.status(), ChainStatus::Verifying { through_seq: 2 });
        assert!(watch.status().covers(2) && !watch.status().covers(3));
        assert!(step(&store, &watch, &mut walk, 2));
        assert!(!step(&store, &watch, &mut walk, 2), "the head is reached");
        let ChainStatus::Intact {
            head_seq,
            head_hash,
            full_pass_at,
            ..
        } = watch.status()
        else {
            panic!("intact expected, got {:?}", watch.status());
        };
        assert_eq!(head_seq, 5);
        let whole = store
            .read(|c| store::verify::verify(c, None, |_| {}))
            .expect("verify");
        assert_eq!(
            whole,
            VerifyReport::Intact {
                head: Some((5, head_hash.expect("hash")))
            }
        );
        assert!(!full_pass_at.is_empty(), "the first full pass is dated");
    }

    #[test]
    fn a_tampered_old_row_is_found_by_the_next_full_pass_and_waits_for_the_one_after() {
        let (_dir, store) = log_of(4);
        let watch = ChainWatch::default();
        let mut walk = WalkHandle::default();
        while step(&store, &watch, &mut walk, 100) {}
        assert!(matches!(
            watch.status(),
            ChainStatus::Intact { head_seq: 4, .. }
        ));
        let conn = rusqlite::Connection::open(store.path()).expect("open");
        conn.execute_batch(
            "DROP TRIGGER events_refuse_update; UPDATE events SET payload = '{}' WHERE seq = 2;",
        )
        .expect("tamper");
        // Between full passes only new rows are walked: the old row is not looked at.
        assert!(walk.ready(Duration::from_secs(600)));
        step(&store, &watch, &mut walk, 100);
        assert!(matches!(watch.status(), ChainStatus::Intact { .. }));
        // A full pass is due at once with a zero interval.
        assert!(walk.ready(Duration::ZERO));
        step(&store, &watch, &mut walk, 100);
        let ChainStatus::Broken { first_bad_seq, .. } = watch.status() else {
            panic!("broken expected, got {:?}", watch.status());
        };
        assert_eq!(first_bad_seq, 2);
        assert!(!watch.status().covers(2) && watch.status().covers(1));
        assert!(
            !walk.ready(Duration::from_secs(600)),
            "no walking until the next pass"
        );
    }
}
