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
