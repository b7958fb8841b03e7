//! The store's writer on a shared log (`Writer::spawn_shared` over [`PgShared`]), as `serve`
//! runs it on PostgreSQL: the log suite's properties (gapless `seq`, one chain, dedupe by key
//! and against a stream's last event, a failed job rolled back alone) hold with two writers,
//! each with its own working copy, appending to the same streams; both copies and PostgreSQL
//! hold the same state; a copy deleted is built again by following the log.

use std::sync::Arc;

use domain::Event;
use store::log::EventFilter;
use store::shared::{Follow, Shared};
use store::{Durability, ProjectionTx, Store, StoreError, Writer, WriterConfig};
use store_pg::PgShared;

use crate::{event, status, TestDb};

/// A projector for the test: the number of events of each stream, as a document. The jobs run
/// it after their append and the writers follow other nodes' events with it, as `serve` runs
/// `projections::apply`.
fn count_events(tx: &ProjectionTx<'_>, event: &Event) -> Result<(), StoreError> {
    let n: u64 = tx.get_typed("count", &event.stream)?.unwrap_or(0);
    tx.put_typed("count", &event.stream, n + 1, event.seq)
}

fn follow() -> Follow {
    Arc::new(|tx, event| count_events(tx, event).map_err(|e| e.to_string()))
}

/// One node: a working copy in a folder of its own and a writer on the shared log.
struct Node {
    _dir: tempfile::TempDir,
    store: Store,
    writer: Writer,
}

fn node(db: &TestDb) -> Node {
    db.log(); // migrated
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("copy.db"), Durability::Normal).expect("open");
    let shared = Shared {
        log: Box::new(PgShared::connect(&db.url).expect("connect")),
        follow: follow(),
        interval: std::time::Duration::from_millis(50),
    };
    let (writer, _thread) =
        Writer::spawn_shared(&store, WriterConfig::default(), None, shared).expect("writer");
    Node {
        _dir: dir,
        store,
        writer,
    }
}

/// Appends `new` and folds it unless it was a duplicate; returns the append's report.
fn record(writer: &Writer, new: domain::NewEvent) -> store::Appended {
    writer
        .submit_blocking(move |ctx| {
            let (appended, stored) = ctx.append(&new)?;
            if !appended.duplicate {
                count_events(&ctx.projections(), &stored)?;
            }
            Ok::<_, StoreError>(appended)
        })
        .expect("answered")
        .expect("recorded")
}

/// Waits until `node`'s copy has followed the log to `head`.
fn followed(node: &Node, head: u64) {
    let started = std::time::Instant::now();
    loop {
        let (count, _) = node.store.read(store::log::head).expect("head");
        if count == head {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the copy stayed at {count} of {head}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn two_writers_on_the_same_streams_get_gapless_seqs_one_chain_and_one_state() {
    let db = TestDb::create();
    let nodes = [Arc::new(node(&db)), Arc::new(node(&db))];
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                (0..40)
                    .map(|n| {
                        // Four streams, each written by both nodes.
                        let e = event(
                            &format!("stream-{}", (task + n) % 4),
                            "test.appended",
                            &format!("{task}-{n}"),
                        );
                        record(&nodes[(task + n) % 2].writer, e).seq
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = tasks
        .into_iter()
        .flat_map(|t| t.join().expect("task"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=320).collect::<Vec<u64>>(), "gapless, none twice");

    let mut log = db.log();
    let report = log.verify(None, |_| {}).expect("verify");
    assert!(
        matches!(
            report,
            store::VerifyReport::Intact {
                head: Some((320, _))
            }
        ),
        "{report:?}"
    );
    for stream in 0..4 {
        let events = log
            .read_events(0, 1000)
            .expect("read")
            .into_iter()
            .filter(|e| e.stream == format!("stream-{stream}"))
            .map(|e| e.stream_version)
            .collect::<Vec<u64>>();
        assert_eq!(events, (1..=80).collect::<Vec<u64>>(), "stream-{stream}");
    }
    // Each copy folded every event, its own and the other node's: the same state as
    // PostgreSQL's rows, which hold each stream's count once.
    let digest = log.digest().expect("digest");
    for node in &nodes {
        followed(node, 320);
        assert_eq!(
            node.store.read(store::projection::digest).expect("digest"),
            digest
        );
        let count: Option<u64> = node
            .store
            .read(|conn| ProjectionTx::new(conn).get_typed("count", "stream-2"))
            .expect("count");
        assert_eq!(count, Some(80));
    }
}

#[test]
fn a_request_recorded_on_one_node_is_a_duplicate_on_the_other() {
    let db = TestDb::create();
    let (a, b) = (node(&db), node(&db));
    let first = record(&a.writer, event("s", "t", "key-1"));
    let again = record(&b.writer, event("s", "t", "key-1"));
    assert!(!first.duplicate);
    assert!(again.duplicate, "node b saw node a's event");
    assert_eq!((again.seq, again.id), (first.seq, first.id));

    let completed = record(&a.writer, status("order:1", "completed"));
    let repeat = record(&b.writer, status("order:1", "completed"));
    assert!(repeat.duplicate);
    assert_eq!(repeat.seq, completed.seq);
    let pending = record(&b.writer, status("order:1", "pending"));
    let completed_again = record(&a.writer, status("order:1", "completed"));
    assert!(!pending.duplicate);
    assert!(!completed_again.duplicate);
    assert_eq!(completed_again.stream_version, 3);
    assert_eq!(crate::count(&db), 4);
}

#[test]
fn a_failed_job_leaves_nothing_in_postgresql_and_the_rest_of_its_batch_commits() {
    let db = TestDb::create();
    let a = Arc::new(node(&db));
    let tasks: Vec<_> = (0..40u32)
        .map(|n| {
            let a = a.clone();
            std::thread::spawn(move || {
                let e = event("s", "t", &format!("k{n}"));
                a.writer
                    .submit_blocking(move |ctx| {
                        let (_, stored) = ctx.append(&e).map_err(|e| e.to_string())?;
                        count_events(&ctx.projections(), &stored).map_err(|e| e.to_string())?;
                        if n % 2 == 0 {
                            Err("refused".to_owned())
                        } else {
                            Ok(())
                        }
                    })
                    .expect("answered")
                    .is_ok()
            })
        })
        .collect();
    let ok = tasks
        .into_iter()
        .map(|t| t.join().expect("task"))
        .filter(|ok| *ok)
        .count();
    assert_eq!(ok, 20);
    let mut log = db.log();
    let keys: Vec<String> = log
        .read_events(0, 100)
        .expect("read")
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert_eq!(keys.len(), 20);
    assert!(keys
        .iter()
        .all(|k| { k[1..].parse::<u32>().is_ok_and(|n| n % 2 == 1) }));
    // Only the kept jobs' document rows reached PostgreSQL: the count is 20, not 40.
    let body: String = db
        .sql()
        .query_one(
            "SELECT body FROM proj_docs WHERE kind = 'count' AND key = 's'",
            &[],
        )
        .expect("doc")
        .get(0);
    assert_eq!(body, "20");
    assert_eq!(
        a.store.read(store::projection::digest).expect("digest"),
        log.digest().expect("digest")
    );
}

/// After a batch that failed: the shared log and `node`'s working copy both still end at `head`.
fn held_by_neither(db: &TestDb, node: &Node, head: u64) {
    assert_eq!(crate::count(db), i64::try_from(head).expect("head"));
    let (count, _) = node.store.read(store::log::head).expect("head");
    assert_eq!(count, head, "the working copy's head");
}

/// `node`'s next event gets `seq` `next`, the shared log verifies up to it, and the working
/// copy holds the shared log's state.
fn next_chains_on(db: &TestDb, node: &Node, next: u64) {
    let appended = record(&node.writer, event("s", "t", "after"));
    assert_eq!(appended.seq, next);
    let mut log = db.log();
    let report = log.verify(None, |_| {}).expect("verify");
    assert!(
        matches!(&report, store::VerifyReport::Intact { head: Some((seq, _)) } if *seq == next),
        "{report:?}"
    );
    assert_eq!(
        node.store.read(store::projection::digest).expect("digest"),
        log.digest().expect("digest")
    );
}

#[test]
fn a_batch_the_shared_log_refuses_leaves_the_working_copy_as_it_was() {
    let db = TestDb::create();
    let a = node(&db);
    for n in 0..3 {
        record(&a.writer, event("s", "t", &format!("k{n}")));
    }
    // PostgreSQL refuses the next batch's rows, after the writer has sent them (the working
    // copy's rows are written while the shared log's commit is on its way).
    db.sql()
        .batch_execute(
            "CREATE FUNCTION refuse_docs() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
             CREATE TRIGGER refuse_docs BEFORE INSERT ON proj_docs
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse_docs();",
        )
        .expect("trigger");
    let refused = a.writer.submit_blocking(|ctx| {
        let (_, stored) = ctx.append(&event("s", "t", "refused"))?;
        count_events(&ctx.projections(), &stored)
    });
    assert!(refused.is_err(), "answered as refused: {refused:?}");
    // Neither the shared log nor the working copy holds any of it.
    held_by_neither(&db, &a, 3);
    let copy_count = a
        .store
        .read(|conn| store::projection::get_doc(conn, "count", "s"))
        .expect("doc");
    assert_eq!(
        copy_count.as_deref(),
        Some("3"),
        "the working copy's document"
    );
    // Once PostgreSQL takes rows again, the next event chains to the last one committed.
    db.sql()
        .batch_execute("DROP TRIGGER refuse_docs ON proj_docs")
        .expect("drop trigger");
    next_chains_on(&db, &a, 4);
}

#[test]
fn a_batch_whose_connection_dies_is_refused_and_the_next_one_reconnects() {
    let db = TestDb::create();
    let a = node(&db);
    for n in 0..3 {
        record(&a.writer, event("s", "t", &format!("k{n}")));
    }
    // The node's connection, holding the batch's transaction and the append lock, is
    // terminated while the batch's job runs.
    let url = db.url.clone();
    let refused = a.writer.submit_blocking(move |ctx| {
        let mut admin = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| StoreError::Invariant(e.to_string()))?;
        let killed = admin
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .map_err(|e| StoreError::Invariant(e.to_string()))?;
        assert_eq!(killed.len(), 1, "the node's one connection");
        let (_, stored) = ctx.append(&event("s", "t", "lost"))?;
        count_events(&ctx.projections(), &stored)
    });
    assert!(refused.is_err(), "answered as failed: {refused:?}");
    held_by_neither(&db, &a, 3);
    // The next batch opens a new connection and chains to the last event committed.
    next_chains_on(&db, &a, 4);
}

#[test]
fn a_deleted_working_copy_is_built_again_from_the_shared_log() {
    let db = TestDb::create();
    let a = node(&db);
    for n in 0..150 {
        record(
            &a.writer,
            event(&format!("s{}", n % 7), "t", &format!("k{n}")),
        );
    }
    // A new node (an empty copy) follows the whole log before its writer takes a job.
    let b = node(&db);
    let (count, _) = b.store.read(store::log::head).expect("head");
    assert_eq!(count, 150, "followed at start");
    let events = b
        .store
        .read(|conn| store::log::query_events(conn, &EventFilter::default()))
        .expect("events");
    let mut log = db.log();
    assert_eq!(
        events,
        log.read_events(0, 1000).expect("read"),
        "byte for byte"
    );
    assert_eq!(
        b.store.read(store::projection::digest).expect("digest"),
        log.digest().expect("digest")
    );
    // And it writes on: its next event chains to the shared head.
    let next = record(&b.writer, event("s0", "t", "after"));
    assert_eq!(next.seq, 151);
    assert!(matches!(
        log.verify(None, |_| {}).expect("verify"),
        store::VerifyReport::Intact {
            head: Some((151, _))
        }
    ));
}
