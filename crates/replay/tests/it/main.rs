//! The replay engine against real databases written through the writer.

use std::path::{Path, PathBuf};

use replay::{replay, shadow_path, Options, ReplayError, Target};
use store::log::{query_events, EventFilter};
use store::projection::JournalLine;
use store::verify::VerifyReport;
use store::{Durability, Store, Writer};

/// A database with the mixed workload's first `n_requests` requests.
fn workload_db(dir: &Path, n_requests: u64) -> PathBuf {
    let path = dir.join("live.db");
    let store = Store::open(&path, Durability::Normal).expect("open");
    let (writer, thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
    replay::workload::run(&writer, 0, n_requests, 50).expect("workload");
    drop(writer);
    thread.join().expect("writer thread");
    path
}

fn digest(path: &Path) -> String {
    let store = Store::open(path, Durability::Normal).expect("open");
    store.read(store::projection::digest).expect("digest")
}

fn options(until_seq: Option<u64>, checkpoint_events: u64) -> Options {
    Options {
        until_seq,
        checkpoint_events,
        ..Options::default()
    }
}

fn no_progress() -> impl FnMut(u64, u64) {
    |_, _| {}
}

/// Writes a stale row into every projection table of `path`, as a bug or a changed rule would
/// leave behind.
fn make_projections_stale(path: &Path) {
    let store = Store::open(path, Durability::Normal).expect("open");
    let (writer, thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
    writer
        .submit_blocking(|ctx| {
            let tx = ctx.projections();
            tx.put_doc("order", "stale", "{}", 1)?;
            tx.insert_journal_line(&JournalLine {
                entry_id: "stale".into(),
                line_no: 1,
                seq: 1,
                recorded_at: "2024-01-01T00:00:00.000000Z".into(),
                account: "Assets:Stale".into(),
                currency: "USD".into(),
                debit_minor: 0,
                credit_minor: 0,
                memo: String::new(),
            })?;
            tx.set_meta("stale", "1")
        })
        .expect("answered")
        .expect("written");
    drop(writer);
    thread.join().expect("writer thread");
}

#[test]
fn in_place_and_into_replays_reach_the_live_digest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 120);
    let live_digest = digest(&live);
    let into = dir.path().join("copy.db");
    let report = replay(
        &live,
        &Target::Into(into.clone()),
        &options(None, 7),
        &mut no_progress(),
    )
    .expect("replay --into");
    assert_eq!(report.digest, live_digest);
    assert_eq!(digest(&into), live_digest);
    assert_eq!(report.resumed_after_seq, 0);
    assert_eq!(report.n_events_applied, report.until_seq);
    make_projections_stale(&live);
    assert_ne!(digest(&live), live_digest);
    let in_place = replay(
        &live,
        &Target::InPlace,
        &options(None, 7),
        &mut no_progress(),
    )
    .expect("replay in place");
    assert_eq!(in_place.digest, live_digest);
    assert_eq!(digest(&live), live_digest);
    assert!(!shadow_path(&live).exists(), "the shadow is removed");
}

/// The paths a large log takes, on a small one: batches of three events handed to the
/// rebuild's writer thread while the next are folded, a document cache that holds almost
/// nothing (so documents are read back from the batch in flight and from the target), and a
/// resume whose documents are all in the target already.
#[test]
fn tiny_batches_and_cache_and_a_resume_reach_the_live_digest() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 400);
    let live_digest = digest(&live);
    let tiny = Options {
        checkpoint_events: 50,
        tuning: store::rebuild::Tuning {
            flush_events: 3,
            doc_cache_bytes: 512,
        },
        ..Options::default()
    };
    let into = dir.path().join("copy.db");
    let report = replay(
        &live,
        &Target::Into(into.clone()),
        &tiny,
        &mut no_progress(),
    )
    .expect("replay --into");
    assert_eq!(report.digest, live_digest);
    assert_eq!(digest(&into), live_digest);

    make_projections_stale(&live);
    let interrupted = std::panic::catch_unwind(|| {
        let mut calls = 0;
        replay(&live, &Target::InPlace, &tiny, &mut |_, _| {
            calls += 1;
            assert!(calls < 4, "interrupted");
        })
    });
    assert!(interrupted.is_err());
    let resumed = replay(&live, &Target::InPlace, &tiny, &mut no_progress()).expect("resume");
    assert_eq!(resumed.resumed_after_seq, 200);
    assert_eq!(resumed.digest, live_digest);
    assert_eq!(digest(&live), live_digest);
}

#[test]
fn into_copies_events_byte_for_byte_up_to_the_limit_and_verifies() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 30);
    let into = dir.path().join("half.db");
    let report = replay(
        &live,
        &Target::Into(into.clone()),
        &options(Some(17), 5),
        &mut no_progress(),
    )
    .expect("replay");
    assert_eq!(report.until_seq, 17);
    let source = Store::open(&live, Durability::Normal).expect("open");
    let copy = Store::open(&into, Durability::Normal).expect("open");
    let all = EventFilter::default();
    let first_17 = EventFilter {
        until_seq: Some(17),
        ..Default::default()
    };
    assert_eq!(
        copy.read(|c| query_events(c, &all)).expect("copy"),
        source.read(|c| query_events(c, &first_17)).expect("source")
    );
    match copy
        .read(|c| store::verify::verify(c, None, |_| {}))
        .expect("verify")
    {
        VerifyReport::Intact { head } => assert_eq!(head.map(|h| h.0), Some(17)),
        broken => panic!("{broken:?}"),
    }
    let meta = copy
        .read(|c| store::projection::ProjectionTx::new(c).get_meta("replay.applied_seq"))
        .expect("meta");
    assert_eq!(meta, None, "a finished replay leaves no checkpoint behind");
}

#[test]
fn an_interrupted_replay_resumes_after_its_last_checkpoint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 60);
    let live_digest = digest(&live);
    let interrupted = std::panic::catch_unwind(|| {
        let mut calls = 0;
        replay(&live, &Target::InPlace, &options(None, 10), &mut |_, _| {
            calls += 1;
            assert!(calls < 3, "interrupted");
        })
    });
    assert!(interrupted.is_err());
    assert!(
        shadow_path(&live).exists(),
        "the shadow survives the interruption"
    );
    let resumed = replay(
        &live,
        &Target::InPlace,
        &options(None, 10),
        &mut no_progress(),
    )
    .expect("resume");
    assert_eq!(resumed.resumed_after_seq, 30);
    assert_eq!(resumed.n_events_applied, resumed.until_seq - 30);
    assert_eq!(resumed.digest, live_digest);
}

#[test]
fn into_refuses_an_existing_database_and_the_source_itself() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 12);
    let other = workload_db(&dir.path().join("other"), 6);
    for target in [other, live.clone()] {
        let before = digest(&target);
        let refused = replay(
            &live,
            &Target::Into(target.clone()),
            &Options::default(),
            &mut no_progress(),
        );
        assert!(
            matches!(refused, Err(ReplayError::Target(_))),
            "{target:?}: {refused:?}"
        );
        // A refused file is left as it was: its state, and the WAL every connection expects.
        assert_eq!(digest(&target), before, "{target:?}");
        let conn = rusqlite::Connection::open(&target).expect("open");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal", "{target:?}");
    }
}

#[test]
fn a_tampered_log_stops_the_replay_and_leaves_the_live_state_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let live = workload_db(dir.path(), 24);
    let before = digest(&live);
    let conn = rusqlite::Connection::open(&live).expect("open");
    conn.execute_batch(
        "DROP TRIGGER events_refuse_update;
         UPDATE events SET payload = '{\"tampered\":true}' WHERE seq = 9;",
    )
    .expect("tamper");
    drop(conn);
    let failed = replay(
        &live,
        &Target::InPlace,
        &options(None, 4),
        &mut no_progress(),
    );
    match failed {
        Err(ReplayError::Invariant(message)) => assert!(message.contains("seq 9"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(digest(&live), before);
}
