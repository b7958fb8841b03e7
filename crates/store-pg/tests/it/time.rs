use chrono::{TimeZone, Utc};

use crate::{event, TestDb};

#[test]
fn a_clock_that_steps_back_does_not_move_the_logs_time_back() {
    let db = TestDb::create();
    let mut log = db.log();
    let mut times = vec![
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("a time"),
        Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0)
            .single()
            .expect("a time"),
    ]
    .into_iter();
    log.set_clock(Box::new(move || times.next().expect("two readings")));
    let appended = log
        .append_batch(&[event("s", "t", "k1"), event("s", "t", "k2")])
        .expect("append");
    assert_eq!(appended[0].recorded_at, "2026-01-01T12:00:00.000000Z");
    assert_eq!(appended[1].recorded_at, "2026-01-01T12:00:00.000000Z");
    assert!(matches!(
        log.verify(None, |_| {}).expect("verify"),
        store::VerifyReport::Intact { .. }
    ));
}
