use std::collections::BTreeMap;

use store::VerifyReport;

use crate::{event, TestDb};

const THREADS: u64 = 4;
const BATCHES: u64 = 50;
const EVENTS_PER_BATCH: u64 = 5;

#[test]
fn four_connections_appending_batches_at_once_get_gapless_seqs_versions_and_one_chain() {
    let db = TestDb::create();
    db.log();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut log = store_pg::PgLog::connect(&url).expect("connect");
                let mut seqs = Vec::new();
                for batch in 0..BATCHES {
                    // Four events on the thread's own stream and one on a stream all threads
                    // share, so that stream versions are contended too.
                    let events: Vec<_> = (0..EVENTS_PER_BATCH)
                        .map(|n| {
                            let stream = if n == 0 {
                                "shared".to_owned()
                            } else {
                                format!("stream-{thread}")
                            };
                            event(&stream, "test.appended", &format!("{thread}-{batch}-{n}"))
                        })
                        .collect();
                    let appended = log.append_batch(&events).expect("append");
                    assert!(appended.iter().all(|a| !a.duplicate));
                    // A batch is contiguous: nobody else's rows sit inside it.
                    let first = appended[0].seq;
                    let batch_seqs: Vec<u64> = appended.iter().map(|a| a.seq).collect();
                    assert_eq!(
                        batch_seqs,
                        (first..first + EVENTS_PER_BATCH).collect::<Vec<_>>()
                    );
                    seqs.extend(batch_seqs);
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    seqs.sort_unstable();
    let n_events = THREADS * BATCHES * EVENTS_PER_BATCH;
    assert_eq!(seqs, (1..=n_events).collect::<Vec<_>>());

    let mut log = db.log();
    let events = log.read_events(0, n_events + 10).expect("read");
    let stored: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(stored, (1..=n_events).collect::<Vec<_>>());
    let mut versions: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &events {
        versions
            .entry(&e.stream)
            .or_default()
            .push(e.stream_version);
    }
    assert_eq!(versions.len(), THREADS as usize + 1);
    for (stream, versions) in versions {
        let n = versions.len() as u64;
        assert_eq!(versions, (1..=n).collect::<Vec<_>>(), "stream {stream}");
    }
    let head = log.head().expect("head");
    let report = log.verify(None, |_| {}).expect("verify");
    assert_eq!(report, VerifyReport::Intact { head: head.clone() });
    assert_eq!(head.map(|(seq, _)| seq), Some(n_events));
}

#[test]
fn the_same_keys_sent_by_four_connections_at_once_are_appended_once() {
    let db = TestDb::create();
    db.log();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut log = store_pg::PgLog::connect(&url).expect("connect");
                (0..BATCHES)
                    .flat_map(|batch| {
                        let events: Vec<_> = (0..EVENTS_PER_BATCH)
                            .map(|n| event("s", "t", &format!("key-{batch}-{n}")))
                            .collect();
                        log.append_batch(&events).expect("append")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<Vec<store::Appended>> = threads
        .into_iter()
        .map(|t| t.join().expect("thread"))
        .collect();
    let n_keys = (BATCHES * EVENTS_PER_BATCH) as usize;
    // Every connection got the same event for each key; exactly one of them appended it.
    for key_idx in 0..n_keys {
        let seqs: Vec<u64> = answers.iter().map(|a| a[key_idx].seq).collect();
        assert!(
            seqs.iter().all(|&seq| seq == seqs[0]),
            "key {key_idx}: {seqs:?}"
        );
        let n_new = answers.iter().filter(|a| !a[key_idx].duplicate).count();
        assert_eq!(n_new, 1, "key {key_idx}");
    }
    let mut log = db.log();
    assert_eq!(crate::count(&db), n_keys as i64);
    assert!(matches!(
        log.verify(None, |_| {}).expect("verify"),
        VerifyReport::Intact { head: Some((seq, _)) } if seq == n_keys as u64
    ));
}
