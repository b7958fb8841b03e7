use domain::Dedupe;
use store::log::{query_events, EventFilter};
use store::WriterConfig;

use crate::{append, event, open_log};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_from_32_concurrent_tasks_get_gapless_seqs_and_a_chain_that_verifies() {
    let log = open_log(WriterConfig::default());
    let mut tasks = Vec::new();
    for task in 0..32 {
        let writer = log.writer.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..50 {
                let e = event(
                    &format!("stream-{task}"),
                    "test.appended",
                    &format!("{task}-{n}"),
                );
                seqs.push(append(&writer, e).await.seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    all.sort_unstable();
    assert_eq!(all, (1..=1600).collect::<Vec<u64>>());
    let report = log
        .store
        .read(|conn| store::verify::verify(conn, None, |_| {}))
        .expect("verify");
    assert!(matches!(
        report,
        store::VerifyReport::Intact {
            head: Some((1600, _))
        }
    ));
    let events = log
        .store
        .read(|conn| {
            query_events(
                conn,
                &EventFilter {
                    stream: Some("stream-7".into()),
                    ..Default::default()
                },
            )
        })
        .expect("query");
    let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=50).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_duplicate_idempotency_key_appends_nothing_and_returns_the_first_seq() {
    let log = open_log(WriterConfig::default());
    let first = append(&log.writer, event("s", "t", "same")).await;
    append(&log.writer, event("s", "t", "other")).await;
    let again = append(&log.writer, event("s", "t", "same")).await;
    assert!(!first.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    assert_eq!(again.id, first.id);
    let (count, _) = log.store.read(store::log::head).expect("head");
    assert_eq!(count, 2);
}

#[tokio::test]
async fn same_as_last_dedupes_only_against_the_streams_last_event() {
    let log = open_log(WriterConfig::default());
    let status = |digest: &str| {
        let mut e = event("order:1", "status", digest);
        e.dedupe = Dedupe::SameAsLast(digest.to_owned());
        e
    };
    let completed = append(&log.writer, status("completed")).await;
    let repeat = append(&log.writer, status("completed")).await;
    assert!(repeat.duplicate);
    assert_eq!(repeat.seq, completed.seq);
    let pending = append(&log.writer, status("pending")).await;
    let completed_again = append(&log.writer, status("completed")).await;
    assert!(!pending.duplicate);
    assert!(
        !completed_again.duplicate,
        "a status sent again after another is a new fact"
    );
    assert_eq!(completed_again.stream_version, 3);
}

#[tokio::test]
async fn a_failed_job_rolls_back_alone_and_the_batch_commits() {
    let log = open_log(WriterConfig {
        batch_max: 64,
        queue_max: 1024,
        ..WriterConfig::default()
    });
    let mut tasks = Vec::new();
    for n in 0..40u32 {
        let writer = log.writer.clone();
        tasks.push(tokio::spawn(async move {
            let e = event("s", "t", &format!("k{n}"));
            writer
                .submit(move |ctx| {
                    ctx.append(&e).map_err(|e| e.to_string())?;
                    if n % 2 == 0 {
                        Err("refused".to_owned())
                    } else {
                        Ok(())
                    }
                })
                .await
                .expect("answered")
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.expect("task").is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 20);
    let events = log
        .store
        .read(|conn| query_events(conn, &EventFilter::default()))
        .expect("query");
    assert_eq!(events.len(), 20);
    assert!(events
        .iter()
        .enumerate()
        .all(|(idx, e)| e.seq == idx as u64 + 1));
    let report = log
        .store
        .read(|c| store::verify::verify(c, None, |_| {}))
        .expect("verify");
    assert!(matches!(report, store::VerifyReport::Intact { .. }));
}

#[tokio::test]
async fn a_panicking_job_is_answered_and_the_writer_goes_on() {
    let log = open_log(WriterConfig::default());
    let panicked = log
        .writer
        .submit(|_ctx| -> Result<(), ()> { panic!("a bug") })
        .await;
    assert!(matches!(panicked, Err(store::WriteError::Panicked)));
    assert_eq!(append(&log.writer, event("s", "t", "after")).await.seq, 1);
}

#[tokio::test]
async fn update_and_delete_on_events_are_refused_by_sqlite() {
    let log = open_log(WriterConfig::default());
    append(&log.writer, event("s", "t", "k")).await;
    let conn = rusqlite::Connection::open(log.store.path()).expect("open");
    let update = conn.execute("UPDATE events SET payload = '{}' WHERE seq = 1", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM events WHERE seq = 1", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn events_filter_by_stream_type_source_time_and_cursor() {
    let log = open_log(WriterConfig::default());
    let mut e = event("a", "x.one", "1");
    e.source = domain::Source::Stripe;
    append(&log.writer, e).await;
    let mid = append(&log.writer, event("b", "x.two", "2")).await;
    append(&log.writer, event("a", "x.two", "3")).await;
    let query = |filter: EventFilter| {
        log.store
            .read(|conn| query_events(conn, &filter))
            .expect("query")
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        query(EventFilter {
            stream: Some("a".into()),
            ..Default::default()
        }),
        [1, 3]
    );
    assert_eq!(
        query(EventFilter {
            event_type: Some("x.two".into()),
            ..Default::default()
        }),
        [2, 3]
    );
    assert_eq!(
        query(EventFilter {
            source: Some("stripe".into()),
            ..Default::default()
        }),
        [1]
    );
    assert_eq!(
        query(EventFilter {
            after_seq: 1,
            limit: Some(1),
            ..Default::default()
        }),
        [2]
    );
    assert_eq!(
        query(EventFilter {
            since: Some(mid.recorded_at.clone()),
            ..Default::default()
        }),
        [2, 3]
    );
    assert_eq!(
        query(EventFilter {
            until: Some(mid.recorded_at.clone()),
            ..Default::default()
        }),
        [1]
    );
}

#[tokio::test]
async fn recorded_at_never_decreases_along_seq() {
    let log = open_log(WriterConfig::default());
    for n in 0..200 {
        append(&log.writer, event("s", "t", &n.to_string())).await;
    }
    let events = log
        .store
        .read(|c| query_events(c, &EventFilter::default()))
        .expect("query");
    assert!(events
        .windows(2)
        .all(|w| w[0].recorded_at <= w[1].recorded_at));
}

#[tokio::test]
async fn a_full_queue_is_refused_at_once_with_busy() {
    let log = open_log(WriterConfig {
        batch_max: 1,
        queue_max: 1,
        ..WriterConfig::default()
    });
    // Hold the writer inside a job so that the queue fills behind it.
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let writer = log.writer.clone();
    let blocker = tokio::spawn(async move {
        writer
            .submit(move |_ctx| -> Result<(), ()> {
                let _ = hold.recv();
                Ok(())
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let writer = log.writer.clone();
    let queued = tokio::spawn(async move { append(&writer, event("s", "t", "queued")).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = log.writer.submit(|_ctx| -> Result<(), ()> { Ok(()) }).await;
    assert!(matches!(refused, Err(store::WriteError::Busy)));
    release.send(()).expect("release");
    assert!(blocker.await.expect("task").is_ok());
    assert_eq!(queued.await.expect("task").seq, 1);
}
