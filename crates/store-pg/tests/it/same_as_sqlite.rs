//! The same events appended to SQLite's log (through the store's writer) and to PostgreSQL's
//! become the same rows, byte for byte, and the same verified head.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{Dedupe, Event, Json, NewEvent, RawRequest, Source};
use store::log::{query_events, EventFilter};
use store::{Appended, Durability, Store, VerifyReport, Writer, WriterConfig};

use crate::{event, TestDb};

/// A deterministic mix of batches: five streams (one with a non-ASCII name), request keys
/// from a small pool (so that many repeat, within a batch and across batches), content dedupe
/// with three digests (so that a status repeats right after itself and after another), every
/// source, two type versions, and text that JSON must escape.
pub(crate) fn workload() -> Vec<Vec<NewEvent>> {
    let mut state: u64 = 0x5eed;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let streams = [
        "order:roms:1",
        "order:roms:2",
        "payment:stripe:ä",
        "product:exact:42",
        "s",
    ];
    let digests = ["completed", "pending", "shipped"];
    (0..40)
        .map(|batch| {
            (0..1 + next(8))
                .map(|n| {
                    let stream = streams[next(5) as usize];
                    let mut e = event(stream, "test.happened", "");
                    e.source = Source::ALL[next(6) as usize];
                    e.type_version = 1 + next(2) as u32;
                    e.dedupe = if next(2) == 0 {
                        Dedupe::Key(format!("key-{}", next(40)))
                    } else {
                        Dedupe::SameAsLast(digests[next(3) as usize].to_owned())
                    };
                    e.payload = Json::object([
                        ("batch", Json::int(batch)),
                        ("n", Json::int(n as i64)),
                        ("note", Json::str("naïve \"quoted\" \\ ✓\n")),
                        ("amount", Json::Number("12.30".into())),
                    ]);
                    e.raw_request = RawRequest {
                        method: "POST".into(),
                        path: "/webhooks/test".into(),
                        headers: BTreeMap::from([(
                            "content-type".to_owned(),
                            "application/json".to_owned(),
                        )]),
                        body: format!("{{\"batch\":{batch},\"n\":{n}}}"),
                    };
                    e
                })
                .collect()
        })
        .collect()
}

/// Appends each batch as one writer job; returns what each append did, every stored event and
/// the verification's report.
fn through_sqlite(batches: &[Vec<NewEvent>]) -> (Vec<Vec<Appended>>, Vec<Event>, VerifyReport) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("log.db"), Durability::Normal).expect("open");
    let (writer, _thread) = Writer::spawn(&store, WriterConfig::default(), None).expect("writer");
    let appended = batches
        .iter()
        .map(|batch| {
            let batch = batch.clone();
            writer
                .submit_blocking(move |ctx| {
                    batch
                        .iter()
                        .map(|e| ctx.append(e).map(|(appended, _)| appended))
                        .collect::<Result<Vec<_>, _>>()
                })
                .expect("the writer answered")
                .expect("append")
        })
        .collect();
    let events = store
        .read(|c| query_events(c, &EventFilter::default()))
        .expect("query");
    let report = store
        .read(|c| store::verify::verify(c, None, |_| {}))
        .expect("verify");
    (appended, events, report)
}

#[test]
fn the_same_events_become_the_same_rows_and_the_same_verified_head() {
    let batches = workload();
    let (sqlite_appended, sqlite_events, sqlite_report) = through_sqlite(&batches);
    let n_events = sqlite_events.len() as u64;
    let n_duplicates = sqlite_appended
        .iter()
        .flatten()
        .filter(|a| a.duplicate)
        .count();
    assert!(
        n_events > 50 && n_duplicates > 20,
        "{n_events} events, {n_duplicates} duplicates"
    );

    // `recorded_at` is the wall clock's, and the hash covers it: PostgreSQL's log reads the
    // times SQLite's did, in the same order (one reading per appended event).
    let mut times = sqlite_events
        .iter()
        .map(|e| domain::time::parse_rfc3339(&e.recorded_at).expect("a stored time"))
        .collect::<Vec<DateTime<Utc>>>()
        .into_iter();
    let db = TestDb::create();
    let mut log = db.log();
    log.set_clock(Box::new(move || {
        times
            .next()
            .expect("PostgreSQL's log read the clock more often than SQLite's")
    }));
    let pg_appended: Vec<Vec<Appended>> = batches
        .iter()
        .map(|batch| log.append_batch(batch).expect("append"))
        .collect();
    let pg_events = log.read_events(0, n_events + 10).expect("read");

    assert_eq!(pg_appended, sqlite_appended);
    assert_eq!(pg_events.len(), sqlite_events.len());
    for (pg, sqlite) in pg_events.iter().zip(&sqlite_events) {
        assert_eq!(
            (pg.seq, pg.stream_version, &pg.prev_hash, &pg.hash),
            (
                sqlite.seq,
                sqlite.stream_version,
                &sqlite.prev_hash,
                &sqlite.hash
            )
        );
        assert_eq!(pg, sqlite, "every column of seq {}", sqlite.seq);
    }
    let pg_report = log.verify(None, |_| {}).expect("verify");
    assert_eq!(pg_report, sqlite_report);
    let VerifyReport::Intact {
        head: Some((seq, _)),
    } = pg_report
    else {
        panic!("expected an intact chain, got {pg_report:?}");
    };
    assert_eq!(seq, n_events);
}
