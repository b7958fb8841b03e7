//! The replay engine: rebuilds every projection (documents, journal lines, outbox rows, meta)
//! from `seq` 1 by calling [`projections::apply`] for each event in order, exactly as the writer
//! does live, and proves the result with the state digest.
//!
//! # Layout
//! - [`replay`]: the engine, for both targets ([`Target::InPlace`] and [`Target::Into`]).
//! - [`workload`]: a deterministic mixed workload for tests and benchmarks.
//!
//! # How it works (docs/replay.md, docs/decisions/0005-replay-shadow-and-swap.md)
//! The projections are built in a *rebuild target*: a shadow file beside the live database for
//! an in-place replay, or the new file of `--into` (which also receives the events, copied
//! byte for byte). Every `checkpoint_events` events the target commits with a checkpoint
//! (`applied_seq` and that event's hash), so a killed replay resumes where it stopped. An
//! in-place replay ends by swapping the rebuilt projections into the live file in one
//! transaction: readers see the old state until then. Replay only writes tables; it never sends
//! anything.
//!
//! While replaying, the engine asserts the log's invariants again: `seq` runs without gaps,
//! each `prev_hash` is the previous hash, each hash recomputes, `recorded_at` never decreases,
//! and at the end every journal entry balances.

pub mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use domain::Event;
use projections::ProjectionError;
use store::hash::{row_hash, HashInput, GENESIS_HASH};
use store::log::EventFilter;
use store::rebuild::{Checkpoint, Rebuild, Tuning};
use store::{Durability, Store, StoreError};

/// Events applied between two checkpoints by default: large enough that commits cost little
/// (one per 10 000 events), small enough that a resume repeats at most a second's work.
pub const CHECKPOINT_EVENTS_DEFAULT: u64 = 10_000;

/// Why a replay stopped. Nothing of the live database has changed in any case.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A projector failed on an event (a bug, or an event it cannot read).
    #[error("projecting seq {seq}: {source}")]
    Projection { seq: u64, source: ProjectionError },
    /// The log or the rebuilt state broke an invariant (tampering, or a bug). Handling: run
    /// `hookledger verify`.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The target cannot be used (it exists and is not an interrupted replay of this log, or it
    /// is the source). Handling: choose another path.
    #[error("{0}")]
    Target(String),
}

/// Where the rebuilt projections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Into the source database itself, swapped in at the end in one transaction.
    InPlace,
    /// Into a new database file, with the events copied byte for byte; the source is untouched.
    Into(PathBuf),
}

/// How a replay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The last `seq` to replay (`None`: the log's head; a larger value is the head).
    pub until_seq: Option<u64>,
    /// Events between two checkpoints (at least 1).
    pub checkpoint_events: u64,
    /// The rebuild's batch and cache sizes.
    pub tuning: Tuning,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            until_seq: None,
            checkpoint_events: CHECKPOINT_EVENTS_DEFAULT,
            tuning: Tuning::default(),
        }
    }
}

/// What a finished replay did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Events applied by this run (fewer than `until_seq` when it resumed).
    pub n_events_applied: u64,
    /// The checkpoint this run resumed after (0: it started from `seq` 1).
    pub resumed_after_seq: u64,
    /// The last `seq` replayed.
    pub until_seq: u64,
    pub elapsed: Duration,
    /// The state digest of the rebuilt projections (of the live file after an in-place swap).
    pub digest: String,
}

impl Report {
    /// Events applied per second by this run.
    pub fn events_per_second(&self) -> f64 {
        self.n_events_applied as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The shadow file of an in-place replay of `db`: `<db>.replay`, beside it.
pub fn shadow_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".replay");
    PathBuf::from(name)
}

/// The rules a target is built with; a resume under other rules starts over.
fn rules() -> String {
    format!("rules_version={}", projections::RULES_VERSION)
}

/// Replays the log of `source` into `target`. `progress(applied_seq, until_seq)` is called
/// after every checkpoint. An in-place replay must run alone: the caller holds the database's
/// lock (`server::app::lock_database`).
pub fn replay(
    source: &Path,
    target: &Target,
    options: &Options,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Report, ReplayError> {
    let started = Instant::now();
    let store = Store::open(source, Durability::Full)?;
    let head = store.read(store::log::head)?.1.map_or(0, |(seq, _)| seq);
    let until_seq = options.until_seq.map_or(head, |seq| seq.min(head));
    let target_path = match target {
        Target::InPlace => shadow_path(source),
        Target::Into(path) => {
            refuse_same_file(source, path)?;
            path.clone()
        }
    };
    let rebuild = open_target(&store, target, &target_path, until_seq, options.tuning)?;
    let start = rebuild
        .checkpoint()?
        .ok_or_else(|| ReplayError::Invariant("the rebuild target lost its checkpoint".into()))?;
    let into = matches!(target, Target::Into(_));
    if into {
        rebuild.attach_source(source)?;
    }
    // The events are read, and their chain checked, from the source in both cases: for
    // `--into` the copy in the target holds the same rows (`INSERT … SELECT` of every column as
    // stored; `verify` on the copy proves it), and reading the source leaves the target's
    // connection to the rebuild's writer thread.
    let applied = store.read(|conn| {
        Ok(apply_range(
            &rebuild, conn, into, &start, until_seq, options, progress,
        ))
    })??;
    let unbalanced = store::ledger::unbalanced_entries(&rebuild.conn(), 5)?;
    if !unbalanced.is_empty() {
        return Err(ReplayError::Invariant(format!(
            "unbalanced journal entries (entry, currency, debits - credits): {unbalanced:?}"
        )));
    }
    let digest = match target {
        Target::Into(_) => {
            rebuild.finish()?;
            store::projection::digest(&rebuild.conn())?
        }
        Target::InPlace => swap_in(&store, rebuild)?,
    };
    Ok(Report {
        n_events_applied: applied,
        resumed_after_seq: start.applied_seq,
        until_seq,
        elapsed: started.elapsed(),
        digest,
    })
}

fn refuse_same_file(source: &Path, into: &Path) -> Result<(), ReplayError> {
    let canonical = |p: &Path| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        parent
            .canonicalize()
            .ok()
            .map(|dir| dir.join(p.file_name().unwrap_or_default()))
    };
    if canonical(source).is_some() && canonical(source) == canonical(into) {
        return Err(ReplayError::Target(format!(
            "--into {} is the source database; name a new file",
            into.display()
        )));
    }
    Ok(())
}

/// Opens the target and decides where to start: after its checkpoint when it is an interrupted
/// replay of the same log under the same rules, else from `seq` 1 (a stale shadow is thrown
/// away; an `--into` file that is not a replay in progress is refused).
fn open_target(
    store: &Store,
    target: &Target,
    path: &Path,
    until_seq: u64,
    tuning: Tuning,
) -> Result<Rebuild, ReplayError> {
    let existed = path.exists();
    let mut rebuild = Rebuild::open(path, tuning)?;
    let checkpoint = rebuild.checkpoint()?;
    if let Some(checkpoint) = &checkpoint {
        if resumable(store, checkpoint, until_seq)? {
            rebuild.use_rollback_journal()?;
            return Ok(rebuild);
        }
    }
    match target {
        Target::InPlace => {
            drop(rebuild);
            store::rebuild::remove_database(path)?;
            rebuild = Rebuild::open(path, tuning)?;
        }
        Target::Into(_) => {
            let (events, rows) = rebuild.row_counts()?;
            if existed && (checkpoint.is_some() || events > 0 || rows > 0) {
                return Err(ReplayError::Target(format!(
                    "{} exists and is not an interrupted replay of this log up to seq {until_seq}; \
                     name a new file (or remove it)",
                    path.display()
                )));
            }
            rebuild.reset()?;
        }
    }
    rebuild.use_rollback_journal()?;
    rebuild.begin()?;
    rebuild.commit(&Checkpoint {
        applied_seq: 0,
        applied_hash: GENESIS_HASH.to_owned(),
        rules: rules(),
    })?;
    Ok(rebuild)
}

fn resumable(store: &Store, checkpoint: &Checkpoint, until_seq: u64) -> Result<bool, ReplayError> {
    if checkpoint.rules != rules() || checkpoint.applied_seq > until_seq {
        return Ok(false);
    }
    if checkpoint.applied_seq == 0 {
        return Ok(checkpoint.applied_hash == GENESIS_HASH);
    }
    let hash = store.read(|conn| store::rebuild::event_hash(conn, checkpoint.applied_seq))?;
    Ok(hash.as_deref() == Some(checkpoint.applied_hash.as_str()))
}

/// The chain as replay has seen it so far.
struct Chain {
    next_seq: u64,
    prev_hash: String,
    recorded_at: String,
}

impl Chain {
    /// Asserts that `event` continues the chain, then advances it.
    fn advance(&mut self, event: &Event) -> Result<(), String> {
        let seq = event.seq;
        if seq != self.next_seq {
            return Err(format!("expected seq {}, found {seq}", self.next_seq));
        }
        if event.prev_hash != self.prev_hash {
            return Err(format!("seq {seq}: prev_hash does not chain"));
        }
        let tenant = event.tenant.to_string();
        let id = event.id.to_string();
        let computed = row_hash(
            &self.prev_hash,
            &HashInput {
                seq,
                id: &id,
                stream: &event.stream,
                stream_version: event.stream_version,
                event_type: &event.event_type,
                type_version: event.type_version,
                source: &event.source,
                tenant: &tenant,
                recorded_at: &event.recorded_at,
                idempotency_key: &event.idempotency_key,
                payload: &event.payload,
                raw_request: &event.raw_request,
            },
        );
        if computed.as_deref() != Some(event.hash.as_str()) {
            return Err(format!("seq {seq}: the hash does not match the row"));
        }
        if event.recorded_at < self.recorded_at {
            return Err(format!("seq {seq}: recorded_at goes backwards"));
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&event.hash);
        self.recorded_at.clone_from(&event.recorded_at);
        Ok(())
    }
}

/// Applies events `start.applied_seq + 1 ..= until_seq`, read from `events` (the source, or the
/// target itself after the copy), one checkpointed transaction per chunk. Returns the number
/// applied.
fn apply_range(
    rebuild: &Rebuild,
    events: &rusqlite::Connection,
    copy: bool,
    start: &Checkpoint,
    until_seq: u64,
    options: &Options,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, ReplayError> {
    let recorded_at = match start.applied_seq {
        0 => String::new(),
        seq => store::log::read_event(events, seq)?
            .map(|e| e.recorded_at)
            .unwrap_or_default(),
    };
    let mut chain = Chain {
        next_seq: start.applied_seq + 1,
        prev_hash: start.applied_hash.clone(),
        recorded_at,
    };
    let chunk = options.checkpoint_events.max(1);
    let mut applied_seq = start.applied_seq;
    while applied_seq < until_seq {
        let end = (applied_seq + chunk).min(until_seq);
        rebuild.begin()?;
        let result = apply_chunk(rebuild, events, copy, &mut chain, applied_seq, end);
        if let Err(error) = result {
            rebuild.rollback();
            return Err(error);
        }
        rebuild.commit(&Checkpoint {
            applied_seq: end,
            applied_hash: chain.prev_hash.clone(),
            rules: rules(),
        })?;
        applied_seq = end;
        progress(applied_seq, until_seq);
    }
    Ok(applied_seq - start.applied_seq)
}

fn apply_chunk(
    rebuild: &Rebuild,
    events: &rusqlite::Connection,
    copy: bool,
    chain: &mut Chain,
    after: u64,
    until: u64,
) -> Result<(), ReplayError> {
    if copy {
        let copied = rebuild.copy_events(after, until)?;
        if copied != until - after {
            return Err(ReplayError::Invariant(format!(
                "copied {copied} events for seq {}..={until}: the source has a gap",
                after + 1
            )));
        }
    }
    let filter = EventFilter {
        after_seq: after,
        until_seq: Some(until),
        ..EventFilter::default()
    };
    let mut failure: Option<ReplayError> = None;
    let streamed = store::log::for_each_event(events, &filter, |event| {
        let step = chain
            .advance(&event)
            .map_err(ReplayError::Invariant)
            .and_then(|()| {
                projections::apply(rebuild.projections(), &event).map_err(|source| {
                    ReplayError::Projection {
                        seq: event.seq,
                        source,
                    }
                })
            })
            .and_then(|()| rebuild.applied().map_err(ReplayError::from));
        step.map_err(|error| {
            failure = Some(error);
            StoreError::Invariant("replay stopped".into())
        })
    });
    if let Some(error) = failure {
        return Err(error);
    }
    streamed?;
    if chain.next_seq != until + 1 {
        return Err(ReplayError::Invariant(format!(
            "the log ends at seq {} before seq {until}",
            chain.next_seq - 1
        )));
    }
    Ok(())
}

/// Swaps the shadow's projections into the live file, checks the live digest equals the
/// shadow's, and removes the shadow.
fn swap_in(store: &Store, rebuild: Rebuild) -> Result<String, ReplayError> {
    let shadow_digest = store::projection::digest(&rebuild.conn())?;
    let shadow = rebuild.path().to_path_buf();
    drop(rebuild);
    let live = store.open_writer_connection()?;
    store::rebuild::swap_projections(&live, &shadow)?;
    let live_digest = store::projection::digest(&live)?;
    if live_digest != shadow_digest {
        return Err(ReplayError::Invariant(format!(
            "the swapped state's digest {live_digest} differs from the rebuilt {shadow_digest}"
        )));
    }
    drop(live);
    store::rebuild::remove_database(&shadow)?;
    Ok(live_digest)
}
