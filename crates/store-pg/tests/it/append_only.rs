use crate::{count, event, TestDb};

fn refusal(db: &TestDb, sql: &str) -> String {
    let error = db
        .sql()
        .batch_execute(sql)
        .expect_err("the statement must be refused");
    error
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_else(|| error.to_string())
}

#[test]
fn update_delete_and_truncate_are_refused_with_a_clear_message() {
    let db = TestDb::create();
    let mut log = db.log();
    log.append_batch(&[event("s", "t", "k1"), event("s", "t", "k2")])
        .expect("append");
    let before = log.read_events(0, 10).expect("read");
    assert_eq!(
        refusal(&db, "UPDATE events SET payload = '{}' WHERE seq = 1"),
        "the event log is append-only: UPDATE refused"
    );
    assert_eq!(
        refusal(&db, "DELETE FROM events WHERE seq = 2"),
        "the event log is append-only: DELETE refused"
    );
    assert_eq!(
        refusal(&db, "TRUNCATE events"),
        "the event log is append-only: TRUNCATE refused"
    );
    // Statement-level triggers: refused even when no row matches.
    assert_eq!(
        refusal(&db, "UPDATE events SET payload = '{}' WHERE seq = 99"),
        "the event log is append-only: UPDATE refused"
    );
    assert_eq!(log.read_events(0, 10).expect("read"), before);
    assert_eq!(count(&db), 2);
}
