use crate::{count, event, TestDb};

#[test]
fn a_nul_character_refuses_the_batch_with_the_servers_error() {
    // PostgreSQL's text cannot hold NUL (SQLite's can): such an event is refused, never stored
    // altered.
    let db = TestDb::create();
    let mut log = db.log();
    let refused = log.append_batch(&[event("s", "t", "fine"), event("s\0", "t", "nul")]);
    let Err(error @ store_pg::PgStoreError::Postgres(_)) = refused else {
        panic!("expected the server's refusal, got {refused:?}");
    };
    // The error says what the server said.
    assert!(error.to_string().contains("0x00"), "{error}");
    assert_eq!(count(&db), 0);
}

#[test]
fn an_empty_batch_appends_nothing() {
    let db = TestDb::create();
    let mut log = db.log();
    assert_eq!(log.append_batch(&[]).expect("append"), []);
    assert_eq!(log.head().expect("head"), None);
}

#[test]
fn a_batch_over_the_limit_is_refused_before_any_sql() {
    let db = TestDb::create();
    let mut log = db.log();
    let events = vec![event("s", "t", "k"); store_pg::BATCH_EVENTS_MAX + 1];
    assert!(matches!(
        log.append_batch(&events),
        Err(store_pg::PgStoreError::BatchTooLarge { n_events }) if n_events == events.len()
    ));
    assert_eq!(count(&db), 0);
}

#[test]
fn the_build_lock_waits_briefly_for_a_holder_that_is_letting_go_and_refuses_one_that_is_not() {
    let db = TestDb::create();
    let mut builder = db.log();
    // A holder that lets go 300 ms later, as a build that has just ended does while the server
    // ends its session: taken, not refused.
    let mut holder = db.sql();
    let taken: bool = holder
        .query_one(
            "SELECT pg_try_advisory_lock($1)",
            &[&store_pg::BUILD_LOCK_KEY],
        )
        .expect("lock")
        .get(0);
    assert!(taken);
    let letting_go = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(holder);
    });
    assert!(builder.try_lock_build().expect("try"));
    letting_go.join().expect("holder");
    // Now this builder holds it for as long as its connection lives: another is refused after
    // the wait.
    let mut other = db.log();
    let started = std::time::Instant::now();
    assert!(!other.try_lock_build().expect("try"));
    assert!(started.elapsed() >= store_pg::BUILD_LOCK_WAIT);
}
