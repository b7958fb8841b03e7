use rusqlite::Connection;
use store::hash::GENESIS_HASH;
use store::verify::{check_row, verify, verify_after};
use store::{VerifyReport, WriterConfig};

use crate::{append, event, open_log, TestLog};

async fn log_of_five() -> TestLog {
    let log = open_log(WriterConfig::default());
    for n in 1..=5 {
        append(&log.writer, event("s", "t", &format!("k{n}"))).await;
    }
    log
}

fn tamper(log: &TestLog, sql: &str) -> VerifyReport {
    let conn = Connection::open(log.store.path()).expect("open");
    conn.execute_batch("DROP TRIGGER events_refuse_update; DROP TRIGGER events_refuse_delete;")
        .expect("drop triggers");
    conn.execute_batch(sql).expect("tamper");
    drop(conn);
    log.store.read(|c| verify(c, None, |_| {})).expect("verify")
}

fn first_bad(report: VerifyReport) -> u64 {
    match report {
        VerifyReport::Broken { first_bad_seq, .. } => first_bad_seq,
        VerifyReport::Intact { .. } => panic!("tampering went unnoticed"),
    }
}

#[tokio::test]
async fn an_untouched_log_verifies_and_names_its_head() {
    let log = log_of_five().await;
    let report = log.store.read(|c| verify(c, None, |_| {})).expect("verify");
    let VerifyReport::Intact {
        head: Some((5, hash)),
    } = report
    else {
        panic!("expected an intact log of five, got {report:?}");
    };
    let with_expect = log
        .store
        .read(|c| verify(c, Some((3, "x")), |_| {}))
        .expect("verify");
    assert_eq!(first_bad(with_expect), 3);
    let head_ok = log
        .store
        .read(|c| verify(c, Some((5, &hash)), |_| {}))
        .expect("verify");
    assert!(matches!(head_ok, VerifyReport::Intact { .. }));
}

#[tokio::test]
async fn a_change_to_any_column_of_any_row_names_that_row() {
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
        ("payload", "'{\"amount\":1.51,\"key\":\"k3\"}'"),
        ("payload", "CAST(payload AS BLOB)"),
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
    ];
    for (column, value) in changes {
        for seq in [1u64, 3, 5] {
            let log = log_of_five().await;
            let report = tamper(
                &log,
                &format!("UPDATE events SET {column} = {value} WHERE seq = {seq}"),
            );
            // Changing a row's hash is seen at the next row (its prev_hash no longer matches),
            // or at the row itself when its own hash is recomputed first.
            assert_eq!(first_bad(report), seq, "{column} = {value} at seq {seq}");
        }
    }
}

#[tokio::test]
async fn a_changed_seq_or_a_deleted_row_is_a_gap() {
    let log = log_of_five().await;
    assert_eq!(
        first_bad(tamper(&log, "UPDATE events SET seq = 99 WHERE seq = 3")),
        3
    );
    let log = log_of_five().await;
    assert_eq!(
        first_bad(tamper(&log, "DELETE FROM events WHERE seq = 2")),
        2
    );
}

#[tokio::test]
async fn truncation_is_only_provable_against_an_expected_head() {
    let log = log_of_five().await;
    let VerifyReport::Intact {
        head: Some((5, hash)),
    } = log.store.read(|c| verify(c, None, |_| {})).expect("verify")
    else {
        panic!("intact log expected");
    };
    let truncated = tamper(&log, "DELETE FROM events WHERE seq >= 4");
    assert!(matches!(
        truncated,
        VerifyReport::Intact { head: Some((3, _)) }
    ));
    let against_head = log
        .store
        .read(|c| verify(c, Some((5, &hash)), |_| {}))
        .expect("verify");
    assert_eq!(first_bad(against_head), 4);
}

#[tokio::test]
async fn verifying_after_a_verified_point_walks_only_the_rows_after_it_in_chunks() {
    let log = log_of_five().await;
    let first = log
        .store
        .read(|c| verify_after(c, 0, GENESIS_HASH, 2))
        .expect("verify");
    let VerifyReport::Intact {
        head: Some((2, hash_2)),
    } = first
    else {
        panic!("expected the first chunk to end at seq 2, got {first:?}");
    };
    let rest = log
        .store
        .read(|c| verify_after(c, 2, &hash_2, 100))
        .expect("verify");
    let whole = log.store.read(|c| verify(c, None, |_| {})).expect("verify");
    assert_eq!(rest, whole);
    let VerifyReport::Intact {
        head: Some((5, hash_5)),
    } = whole
    else {
        panic!("intact log expected");
    };
    let nothing_new = log
        .store
        .read(|c| verify_after(c, 5, &hash_5, 100))
        .expect("verify");
    assert_eq!(
        nothing_new,
        VerifyReport::Intact {
            head: Some((5, hash_5))
        }
    );
}

#[tokio::test]
async fn verifying_after_a_head_that_changed_or_vanished_is_a_break_at_that_head() {
    let log = log_of_five().await;
    let VerifyReport::Intact {
        head: Some((_, hash_3)),
    } = log
        .store
        .read(|c| verify_after(c, 0, GENESIS_HASH, 3))
        .expect("verify")
    else {
        panic!("intact log expected");
    };
    let wrong = log
        .store
        .read(|c| verify_after(c, 3, "ab", 100))
        .expect("verify");
    assert_eq!(first_bad(wrong), 3);
    let report = tamper(&log, "DELETE FROM events WHERE seq >= 3");
    assert!(matches!(report, VerifyReport::Intact { .. }));
    let truncated = log
        .store
        .read(|c| verify_after(c, 3, &hash_3, 100))
        .expect("verify");
    assert_eq!(first_bad(truncated), 3);
}

#[tokio::test]
async fn one_row_is_checked_against_its_own_bytes_and_the_row_before_it() {
    let log = log_of_five().await;
    for seq in 1..=5 {
        let check = log.store.read(|c| check_row(c, seq)).expect("check");
        assert_eq!(check, Some(Ok(())), "seq {seq}");
    }
    assert_eq!(log.store.read(|c| check_row(c, 6)).expect("check"), None);
    tamper(&log, "UPDATE events SET payload = '{}' WHERE seq = 4");
    let check = log.store.read(|c| check_row(c, 4)).expect("check");
    assert!(matches!(check, Some(Err(_))), "{check:?}");
    let check = log.store.read(|c| check_row(c, 5)).expect("check");
    assert_eq!(
        check,
        Some(Ok(())),
        "seq 5 still chains to seq 4's stored hash"
    );
}
