use store::VerifyReport;

use crate::{event, TestDb};

fn log_of_five() -> TestDb {
    let db = TestDb::create();
    let mut log = db.log();
    let events: Vec<_> = (1..=5).map(|n| event("s", "t", &format!("k{n}"))).collect();
    log.append_batch(&events[..2]).expect("append");
    log.append_batch(&events[2..]).expect("append");
    db
}

/// Drops the triggers as the superuser, runs `sql`, and verifies.
fn tamper(db: &TestDb, sql: &str) -> VerifyReport {
    let mut conn = db.sql();
    conn.batch_execute(
        "DROP TRIGGER events_refuse_update ON events;
         DROP TRIGGER events_refuse_delete ON events;
         DROP TRIGGER events_refuse_truncate ON events;",
    )
    .expect("drop the triggers");
    conn.batch_execute(sql).expect("tamper");
    db.log().verify(None, |_| {}).expect("verify")
}

fn first_bad(report: VerifyReport) -> u64 {
    match report {
        VerifyReport::Broken { first_bad_seq, .. } => first_bad_seq,
        VerifyReport::Intact { .. } => panic!("tampering went unnoticed"),
    }
}

#[test]
fn an_untouched_log_verifies_and_names_its_head() {
    let db = log_of_five();
    let mut log = db.log();
    let mut seen = Vec::new();
    let report = log.verify(None, |seq| seen.push(seq)).expect("verify");
    let VerifyReport::Intact {
        head: Some((5, hash)),
    } = report
    else {
        panic!("expected an intact log of five, got {report:?}");
    };
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    assert_eq!(log.head().expect("head"), Some((5, hash.clone())));
    assert_eq!(
        first_bad(log.verify(Some((3, "x")), |_| {}).expect("verify")),
        3
    );
    assert!(matches!(
        log.verify(Some((5, &hash)), |_| {}).expect("verify"),
        VerifyReport::Intact { .. }
    ));
    // An expected head past the end: the log was truncated.
    assert_eq!(
        first_bad(log.verify(Some((7, &hash)), |_| {}).expect("verify")),
        6
    );
}

#[test]
fn an_empty_log_verifies_with_no_head() {
    let db = TestDb::create();
    let report = db.log().verify(None, |_| {}).expect("verify");
    assert_eq!(report, VerifyReport::Intact { head: None });
}

#[test]
fn a_changed_payload_is_found_at_its_seq() {
    let db = log_of_five();
    let report = tamper(
        &db,
        r#"UPDATE events SET payload = '{"amount":1.51,"key":"k3"}' WHERE seq = 3"#,
    );
    let VerifyReport::Broken {
        first_bad_seq,
        reason,
    } = report
    else {
        panic!("tampering went unnoticed");
    };
    assert_eq!(first_bad_seq, 3);
    assert_eq!(reason, "hash does not match the row's contents");
}

#[test]
fn a_change_to_any_column_of_any_row_names_that_row() {
    let changes = [
        ("id", "'00000000-0000-0000-0000-0000000000ff'"),
        ("stream", "'other'"),
        ("stream_version", "stream_version + 10"),
        ("type", "'t2'"),
        ("type_version", "2"),
        ("source", "'stripe'"),
        ("tenant", "'00000000-0000-0000-0000-000000000001'"),
        ("recorded_at", "'2000-01-01T00:00:00.000000Z'"),
        ("idempotency_key", "'forged'"),
        ("raw_request", "'{}'"),
        ("hash_layout", "2"),
        (
            "prev_hash",
            "'2222222222222222222222222222222222222222222222222222222222222222'",
        ),
        (
            "hash",
            "'1111111111111111111111111111111111111111111111111111111111111111'",
        ),
        ("hash", "upper(hash)"),
        ("type_version", "-1"),
    ];
    for (column, value) in changes {
        let db = log_of_five();
        let report = tamper(
            &db,
            &format!("UPDATE events SET {column} = {value} WHERE seq = 3"),
        );
        assert_eq!(first_bad(report), 3, "{column} = {value}");
    }
}

#[test]
fn a_deleted_or_inserted_row_breaks_the_chain_there() {
    let db = log_of_five();
    assert_eq!(
        first_bad(tamper(&db, "DELETE FROM events WHERE seq = 3")),
        3
    );

    let db = log_of_five();
    let report = tamper(
        &db,
        "INSERT INTO events SELECT seq + 10, id, stream, stream_version + 10, type, type_version,
             source, tenant, recorded_at, idempotency_key || 'x', payload, raw_request,
             hash_layout, prev_hash, hash FROM events WHERE seq = 5",
    );
    assert_eq!(first_bad(report), 6);
}

#[test]
fn cutting_the_last_rows_is_caught_by_an_expected_head() {
    let db = log_of_five();
    let head = db.log().head().expect("head").expect("a head");
    let truncated = tamper(&db, "DELETE FROM events WHERE seq > 3");
    assert!(
        matches!(truncated, VerifyReport::Intact { head: Some((3, _)) }),
        "a shorter chain is still a chain"
    );
    let report = db
        .log()
        .verify(Some((head.0, &head.1)), |_| {})
        .expect("verify");
    assert_eq!(first_bad(report), 4);
}

#[test]
fn a_change_past_the_first_fetches_of_a_long_log_is_found() {
    // More rows than the walk fetches at once (1,000): the break sits in a later fetch.
    let db = TestDb::create();
    let mut log = db.log();
    for batch in 0..5 {
        let events: Vec<_> = (0..500)
            .map(|n| event(&format!("s{}", n % 7), "t", &format!("k{batch}-{n}")))
            .collect();
        log.append_batch(&events).expect("append");
    }
    let intact = log.verify(None, |_| {}).expect("verify");
    assert!(matches!(
        intact,
        VerifyReport::Intact {
            head: Some((2500, _))
        }
    ));
    let report = tamper(&db, "UPDATE events SET source = 'stripe' WHERE seq = 2345");
    assert_eq!(first_bad(report), 2345);
}
