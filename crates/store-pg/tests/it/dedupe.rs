use domain::Dedupe;

use crate::{count, event, status, TestDb};

#[test]
fn a_repeated_idempotency_key_yields_the_original_event_and_no_new_row() {
    let db = TestDb::create();
    let mut log = db.log();
    let first = log
        .append_batch(&[event("s", "t", "same")])
        .expect("append");
    let later = log
        .append_batch(&[event("s", "t", "other"), event("s2", "t", "same")])
        .expect("append");
    assert!(!first[0].duplicate);
    assert!(later[1].duplicate);
    assert_eq!(
        later[1],
        store::Appended {
            duplicate: true,
            ..first[0].clone()
        }
    );
    // Within one batch, too.
    let within = log
        .append_batch(&[event("s", "t", "new"), event("s", "t", "new")])
        .expect("append");
    assert!(!within[0].duplicate);
    assert_eq!(
        within[1],
        store::Appended {
            duplicate: true,
            ..within[0].clone()
        }
    );
    assert_eq!(count(&db), 3);
    assert_eq!(log.head().expect("head").map(|(seq, _)| seq), Some(3));
}

#[test]
fn same_as_last_dedupes_only_against_the_streams_last_event() {
    let db = TestDb::create();
    let mut log = db.log();
    let completed = log
        .append_batch(&[status("order:1", "completed")])
        .expect("append");
    let appended = log
        .append_batch(&[
            status("order:1", "completed"),
            status("order:1", "pending"),
            status("order:1", "completed"),
            status("order:1", "completed"),
        ])
        .expect("append");
    assert!(appended[0].duplicate);
    assert_eq!(appended[0].seq, completed[0].seq);
    assert!(!appended[1].duplicate);
    assert!(
        !appended[2].duplicate,
        "a status sent again after another is a new fact"
    );
    assert_eq!(appended[2].stream_version, 3);
    assert!(appended[3].duplicate);
    assert_eq!(appended[3].seq, appended[2].seq);
    let keys: Vec<String> = log
        .read_events(0, 10)
        .expect("read")
        .into_iter()
        .map(|e| e.idempotency_key)
        .collect();
    assert_eq!(
        keys,
        [
            "order:1#1:completed",
            "order:1#2:pending",
            "order:1#3:completed"
        ]
    );
}

#[test]
fn a_request_key_in_the_form_of_a_content_key_refuses_the_whole_batch() {
    let db = TestDb::create();
    let mut log = db.log();
    let mut forged = event("order:1", "t", "order:1#1:completed");
    forged.dedupe = Dedupe::Key("order:1#1:completed".into());
    let refused = log.append_batch(&[event("order:1", "t", "fine"), forged]);
    assert!(matches!(refused, Err(store_pg::PgStoreError::Invariant(_))));
    assert_eq!(count(&db), 0);
    // The connection is usable after the rollback.
    log.append_batch(&[event("order:1", "t", "fine")])
        .expect("append");
    assert_eq!(count(&db), 1);
}

#[test]
fn a_request_key_equal_to_another_streams_content_key_is_a_new_event_as_in_sqlite() {
    // SQLite's unique index covers request keys only, and so does this log's (migration 2):
    // the same appends give the same log on both, and every SQLite log can be copied here.
    let db = TestDb::create();
    let mut log = db.log();
    log.append_batch(&[status("order:1", "completed")])
        .expect("append");
    let appended = log
        .append_batch(&[event("order:2", "t", "order:1#1:completed")])
        .expect("append");
    assert!(!appended[0].duplicate);
    assert_eq!(appended[0].seq, 2);
    // And that request key now dedupes as any other.
    let again = log
        .append_batch(&[event("order:2", "t", "order:1#1:completed")])
        .expect("append");
    assert!(again[0].duplicate);
    assert_eq!(again[0].seq, 2);
    assert_eq!(count(&db), 2);
}
