use rusqlite::Connection;
use store::verify::verify;
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
