//! The console's timeline over a real log: newest first, cursors both ways, filters.

use store::console::{self, Page, TimelineFilter};
use store::WriterConfig;

use crate::{append, event, open_log};

fn seqs(events: &[console::EventSummary]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn the_timeline_pages_newest_first_both_ways_from_a_cursor() {
    let log = open_log(WriterConfig::default());
    for n in 1..=7 {
        let stream = if n % 2 == 0 { "even" } else { "odd" };
        let event_type = if n <= 3 { "early" } else { "late" };
        append(&log.writer, event(stream, event_type, &format!("k{n}"))).await;
    }
    let all = TimelineFilter::default();
    let read = |filter: &TimelineFilter, page: Page, limit: u64| {
        log.store
            .read(|c| console::timeline(c, filter, page, limit))
            .expect("timeline")
    };
    let first = read(&all, Page::Older { before_seq: None }, 3);
    assert_eq!(seqs(&first), [7, 6, 5]);
    let older = read(
        &all,
        Page::Older {
            before_seq: Some(5),
        },
        3,
    );
    assert_eq!(seqs(&older), [4, 3, 2]);
    let newer = read(&all, Page::Newer { after_seq: 2 }, 3);
    assert_eq!(seqs(&newer), [5, 4, 3]);
    let even = TimelineFilter {
        stream: Some("even".into()),
        ..Default::default()
    };
    assert_eq!(
        seqs(&read(&even, Page::Older { before_seq: None }, 10)),
        [6, 4, 2]
    );
    let late_odd = TimelineFilter {
        stream: Some("odd".into()),
        event_type: Some("late".into()),
        ..Default::default()
    };
    assert_eq!(
        seqs(&read(&late_odd, Page::Older { before_seq: None }, 10)),
        [7, 5]
    );
    let types = log.store.read(console::event_types).expect("types");
    assert_eq!(types, ["early", "late"]);
    assert_eq!(log.store.read(console::sources).expect("sources"), ["roms"]);
    assert_eq!(log.store.read(console::head_seq).expect("head"), 7);
}

#[tokio::test]
async fn a_time_window_selects_the_events_recorded_in_it() {
    let log = open_log(WriterConfig::default());
    for n in 1..=4 {
        append(&log.writer, event("s", "t", &format!("k{n}"))).await;
    }
    let events = log
        .store
        .read(|c| {
            console::timeline(
                c,
                &TimelineFilter::default(),
                Page::Older { before_seq: None },
                10,
            )
        })
        .expect("timeline");
    let at = |seq: u64| {
        events
            .iter()
            .find(|e| e.seq == seq)
            .map(|e| e.recorded_at.clone())
            .expect("event")
    };
    let window = TimelineFilter {
        since: Some(at(2)),
        until: Some(at(4)),
        ..Default::default()
    };
    let found = log
        .store
        .read(|c| console::timeline(c, &window, Page::Older { before_seq: None }, 10))
        .expect("timeline");
    // The window is by time: exactly the events recorded at or after seq 2's time and before
    // seq 4's (events of one microsecond share a time), newest first.
    let expected: Vec<u64> = events
        .iter()
        .filter(|e| e.recorded_at >= at(2) && e.recorded_at < at(4))
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs(&found), expected);
    assert!(expected.contains(&2) && !expected.contains(&4));
    let empty = TimelineFilter {
        since: Some("2999-01-01T00:00:00.000000Z".into()),
        ..Default::default()
    };
    assert!(log
        .store
        .read(|c| console::timeline(c, &empty, Page::Older { before_seq: None }, 10))
        .expect("timeline")
        .is_empty());
}
