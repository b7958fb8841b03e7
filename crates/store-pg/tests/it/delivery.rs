//! Delivery leases: workers on several nodes never hold one delivery at the same time, a dead
//! node's leases pass to the others once they lapse, and an ordered endpoint gets one delivery
//! per stream at a time across all nodes.

use std::collections::{BTreeMap, BTreeSet};

use store::delivery::{delivery_status, Attempt, AttemptOutcome, Delivery};
use store_pg::{Lease, PgLog};

use crate::TestDb;

const T0: &str = "2026-12-06T10:00:00.000000Z";
const T0_LEASE_END: &str = "2026-12-06T10:00:30.000000Z";
const T1: &str = "2026-12-06T10:00:31.000000Z";
const T1_LEASE_END: &str = "2026-12-06T10:01:01.000000Z";
const T2: &str = "2026-12-06T10:01:02.000000Z";
const T2_LEASE_END: &str = "2026-12-06T10:01:32.000000Z";

fn pending(endpoint: &str, seq: u64, stream: &str) -> Delivery {
    Delivery {
        id: format!("{endpoint}-{seq}"),
        outbox_id: format!("outbox-{seq}"),
        endpoint: endpoint.to_owned(),
        destination: "subscribers".to_owned(),
        subscription_id: Some(endpoint.to_owned()),
        tenant: "00000000-0000-0000-0000-000000000000".to_owned(),
        seq,
        event: "order.status_changed".to_owned(),
        stream: stream.to_owned(),
        status: delivery_status::PENDING.to_owned(),
        attempts: 0,
        round_attempts: 0,
        next_attempt_at: Some(T0.to_owned()),
        last_error: None,
        last_status_code: None,
        body: format!("{{\"n\":{seq}}}"),
        created_at: T0.to_owned(),
        updated_at: T0.to_owned(),
        settled_at: None,
    }
}

fn delivered(id: &str, now: &str) -> AttemptOutcome {
    AttemptOutcome {
        attempt: Attempt {
            delivery_id: id.to_owned(),
            attempt_no: 0,
            started_at: now.to_owned(),
            duration_us: 1200,
            outcome: delivery_status::DELIVERED.to_owned(),
            status_code: Some(200),
            response_body: Some("ok".to_owned()),
            error: None,
        },
        status: delivery_status::DELIVERED.to_owned(),
        next_attempt_at: None,
        now: now.to_owned(),
    }
}

fn lease<'a>(owner: &'a str, now: &'a str, until: &'a str) -> Lease<'a> {
    Lease { owner, now, until }
}

fn ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

#[test]
fn nodes_leasing_at_once_never_hold_the_same_delivery_and_each_is_sent_once() {
    const NODES: usize = 4;
    const DELIVERIES: u64 = 300;
    let db = TestDb::create();
    let mut log = db.log();
    let all: Vec<Delivery> = (1..=DELIVERIES)
        .map(|seq| pending("sub_a", seq, &format!("order-{seq}")))
        .collect();
    assert_eq!(log.insert_deliveries(&all).expect("insert"), DELIVERIES);
    assert_eq!(
        log.insert_deliveries(&all).expect("insert again"),
        0,
        "the same deliveries again insert nothing"
    );

    let nodes: Vec<_> = (0..NODES)
        .map(|n| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let node = format!("node-{n}");
                let mut log = PgLog::connect(&url).expect("connect");
                let mut sent = Vec::new();
                loop {
                    let leased = log
                        .lease_due(lease(&node, T0, T0_LEASE_END), "sub_a", false, 7)
                        .expect("lease");
                    if leased.is_empty() {
                        break;
                    }
                    for d in &leased {
                        assert!(
                            log.record_attempt(
                                lease(&node, T0, T0_LEASE_END),
                                &delivered(&d.id, T0)
                            )
                            .expect("record"),
                            "{node} leased {} and must be able to record it",
                            d.id
                        );
                    }
                    sent.extend(ids(&leased));
                }
                sent
            })
        })
        .collect();
    let mut by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (n, node) in nodes.into_iter().enumerate() {
        by_node.insert(n, node.join().expect("node"));
    }
    let mut seen = BTreeSet::new();
    for sent in by_node.values() {
        for id in sent {
            assert!(seen.insert(id.clone()), "{id} was leased by two nodes");
        }
    }
    assert_eq!(seen.len() as u64, DELIVERIES, "every delivery was sent");
    for d in &all {
        let stored = log.delivery(&d.id).expect("read").expect("exists");
        assert_eq!(stored.status, delivery_status::DELIVERED);
        assert_eq!(stored.attempts, 1);
        let attempts = log.attempts(&d.id).expect("attempts");
        assert_eq!(attempts.len(), 1, "{}: one attempt", d.id);
        assert_eq!(attempts[0].attempt_no, 1);
    }
}

#[test]
fn a_dead_nodes_leases_pass_to_another_once_they_lapse() {
    let db = TestDb::create();
    let mut a = db.log();
    let mut b = db.log();
    let five: Vec<Delivery> = (1..=5)
        .map(|seq| pending("sub_b", seq, &format!("order-{seq}")))
        .collect();
    a.insert_deliveries(&five).expect("insert");

    let leased = a
        .lease_due(lease("node-a", T0, T0_LEASE_END), "sub_b", false, 10)
        .expect("lease");
    assert_eq!(ids(&leased), ids(&five), "soonest first, then by seq");
    assert_eq!(a.leased_count("sub_b", T0).expect("count"), 5);
    // Node a dies here. While its leases live, nobody else takes the deliveries.
    let during = b
        .lease_due(lease("node-b", T0, T0_LEASE_END), "sub_b", false, 10)
        .expect("lease");
    assert!(
        during.is_empty(),
        "leased by a live lease: {:?}",
        ids(&during)
    );
    // Once they lapse, node b takes them all over.
    assert_eq!(b.leased_count("sub_b", T1).expect("count"), 0);
    let after = b
        .lease_due(lease("node-b", T1, T1_LEASE_END), "sub_b", false, 10)
        .expect("lease");
    assert_eq!(ids(&after), ids(&five));
    // Node a's late outcome no longer counts; node b's does.
    let a_lease = lease("node-a", T0, T0_LEASE_END);
    let b_lease = lease("node-b", T1, T1_LEASE_END);
    assert!(!a
        .record_attempt(a_lease, &delivered("sub_b-1", T1))
        .expect("record"));
    assert!(b
        .record_attempt(b_lease, &delivered("sub_b-1", T1))
        .expect("record"));
    assert_eq!(b.attempts("sub_b-1").expect("attempts").len(), 1);
    assert!(
        !b.record_attempt(b_lease, &delivered("sub_b-1", T1))
            .expect("record"),
        "a settled delivery takes no second outcome"
    );
    // A node that stops gives its leases back: due again at once for any node.
    assert!(b.release(b_lease, "sub_b-2").expect("release"));
    assert!(!b.release(b_lease, "sub_b-2").expect("release twice"));
    let released = a
        .lease_due(lease("node-a", T1, T1_LEASE_END), "sub_b", false, 10)
        .expect("lease");
    assert_eq!(ids(&released), vec!["sub_b-2".to_owned()]);
    // A lease that lapsed and was taken anew by the same node: only the new lease's outcome
    // counts (the old attempt may still be on the wire when the new one starts).
    let renewed = lease("node-b", T2, T2_LEASE_END);
    let again = b.lease_due(renewed, "sub_b", false, 10).expect("lease");
    assert_eq!(
        ids(&again),
        ["sub_b-2", "sub_b-3", "sub_b-4", "sub_b-5"],
        "every lease lapsed at T2"
    );
    assert!(!b
        .record_attempt(b_lease, &delivered("sub_b-3", T2))
        .expect("record"));
    assert!(b
        .record_attempt(renewed, &delivered("sub_b-3", T2))
        .expect("record"));
    assert_eq!(b.attempts("sub_b-3").expect("attempts").len(), 1);
}

#[test]
fn an_ordered_endpoint_gets_one_delivery_per_stream_at_a_time_across_nodes() {
    let db = TestDb::create();
    let mut a = db.log();
    let mut b = db.log();
    // Three streams, three deliveries each, interleaved by seq.
    let all: Vec<Delivery> = (1..=9)
        .map(|seq| pending("customer", seq, &format!("order-{}", seq % 3)))
        .collect();
    a.insert_deliveries(&all).expect("insert");

    let first = a
        .lease_due(lease("node-a", T0, T0_LEASE_END), "customer", true, 10)
        .expect("lease");
    assert_eq!(ids(&first), ["customer-1", "customer-2", "customer-3"]);
    let meanwhile = b
        .lease_due(lease("node-b", T0, T0_LEASE_END), "customer", true, 10)
        .expect("lease");
    assert!(
        meanwhile.is_empty(),
        "each stream's first delivery is in flight on node a: {:?}",
        ids(&meanwhile)
    );
    assert!(a
        .record_attempt(
            lease("node-a", T0, T0_LEASE_END),
            &delivered("customer-1", T0)
        )
        .expect("record"));
    let next = b
        .lease_due(lease("node-b", T0, T0_LEASE_END), "customer", true, 10)
        .expect("lease");
    assert_eq!(
        ids(&next),
        ["customer-4"],
        "stream order-1's next delivery, and only that one"
    );
}

#[test]
fn nodes_expanding_the_outbox_at_once_cover_each_row_once() {
    const NODES: usize = 4;
    let db = TestDb::create();
    let mut log = db.log();
    let before_init = log.apply_expansion(0, 1, &[]);
    assert!(
        matches!(before_init, Err(store_pg::PgStoreError::Invariant(_))),
        "no expansion before the cursor is set: {before_init:?}"
    );
    assert_eq!(log.init_outbox_cursor().expect("init"), 0);
    // 60 causing events, two outbox rows each.
    let mut sql = db.sql();
    for seq in 1..=60_i64 {
        for n in 0..2 {
            sql.execute(
                "INSERT INTO proj_outbox (id, seq, event, destination, stream, recorded_at,
                 payload) VALUES ($1, $2, 'order.status_changed', 'subscribers', $3, $4, '{}')",
                &[
                    &format!("outbox-{seq}-{n}"),
                    &seq,
                    &format!("order-{seq}"),
                    &T0,
                ],
            )
            .expect("outbox row");
        }
    }
    assert_eq!(
        log.init_outbox_cursor().expect("init again"),
        0,
        "a later start leaves the cursor where it is"
    );

    let nodes: Vec<_> = (0..NODES)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut log = PgLog::connect(&url).expect("connect");
                let mut applied = Vec::new();
                loop {
                    let from = log.outbox_cursor().expect("cursor");
                    let rows = log.outbox_after(from, 7).expect("outbox");
                    let Some(last) = rows.last() else { break };
                    let to = last.seq;
                    let planned: Vec<Delivery> = rows
                        .iter()
                        .map(|row| Delivery {
                            id: format!("sub_a-{}", row.id),
                            outbox_id: row.id.clone(),
                            ..pending("sub_a", row.seq, &row.stream)
                        })
                        .collect();
                    if log.apply_expansion(from, to, &planned).expect("apply") {
                        applied.push((from, to));
                    }
                }
                applied
            })
        })
        .collect();
    let mut ranges: Vec<(u64, u64)> = nodes
        .into_iter()
        .flat_map(|node| node.join().expect("node"))
        .collect();
    ranges.sort_unstable();
    // The applied plans tile the outbox: each starts where the previous one ended.
    let mut expected_from = 0;
    for (from, to) in &ranges {
        assert_eq!(*from, expected_from, "plans applied: {ranges:?}");
        assert!(to > from);
        expected_from = *to;
    }
    assert_eq!(expected_from, 60);
    assert_eq!(log.outbox_cursor().expect("cursor"), 60);
    let count: i64 = sql
        .query_one("SELECT COUNT(*) FROM deliveries", &[])
        .expect("count")
        .get(0);
    assert_eq!(count, 120, "one delivery per outbox row");
    // Whole seqs: a plan never splits a seq's rows.
    let rows = log.outbox_after(0, 3).expect("outbox");
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 1, 2, 2]);
}

#[test]
fn the_live_leases_of_an_endpoint_stay_within_the_cap_over_every_node() {
    const CAP: u32 = 3;
    let db = TestDb::create();
    let mut log = db.log();
    let all: Vec<Delivery> = (1..=40)
        .map(|seq| pending("customer", seq, &format!("order-{seq}")))
        .collect();
    log.insert_deliveries(&all).expect("insert");
    // Four nodes lease at once, each asking for more than the cap, five times; nobody records
    // anything, so every lease stays live.
    let nodes: Vec<_> = (0..4)
        .map(|n| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let node = format!("node-{n}");
                let mut log = PgLog::connect(&url).expect("connect");
                let mut held = Vec::new();
                for _ in 0..5 {
                    let leased = log
                        .lease_due_capped(lease(&node, T0, T0_LEASE_END), "customer", true, 10, CAP)
                        .expect("lease");
                    held.extend(leased.into_iter().map(|d| (node.clone(), d.id)));
                }
                held
            })
        })
        .collect();
    let held: Vec<(String, String)> = nodes
        .into_iter()
        .flat_map(|node| node.join().expect("node"))
        .collect();
    assert_eq!(
        held.len(),
        CAP as usize,
        "live leases over all nodes: {held:?}"
    );
    assert_eq!(
        log.leased_count("customer", T0).expect("count"),
        u64::from(CAP)
    );

    // One attempt ends: one more may be leased, and only one.
    let (owner, id) = &held[0];
    assert!(log
        .record_attempt(lease(owner, T0, T0_LEASE_END), &delivered(id, T0))
        .expect("record"));
    let more = log
        .lease_due_capped(lease("node-9", T0, T0_LEASE_END), "customer", true, 10, CAP)
        .expect("lease");
    assert_eq!(more.len(), 1, "{:?}", ids(&more));
    // Once the leases lapse, the cap counts none of them.
    let later = log
        .lease_due_capped(lease("node-9", T1, T1_LEASE_END), "customer", true, 10, CAP)
        .expect("lease");
    assert_eq!(later.len(), CAP as usize);
}

#[test]
fn a_subscription_is_stored_after_the_head_rotated_ended_with_its_pending_deliveries() {
    let db = TestDb::create();
    let mut log = db.log();
    log.append_batch(&[crate::event("s", "t", "k1"), crate::event("s", "t", "k2")])
        .expect("append");
    let new = store::delivery::Subscription {
        id: "sub_x".to_owned(),
        tenant: "00000000-0000-0000-0000-000000000000".to_owned(),
        url: "https://example.com/hook".to_owned(),
        event: "*".to_owned(),
        secret: "whsec_old".to_owned(),
        previous_secret: None,
        previous_secret_expires_at: None,
        ordered: true,
        created_at: T0.to_owned(),
        created_after_seq: 0,
        status: store::delivery::subscription_status::ACTIVE.to_owned(),
        status_reason: None,
        status_changed_at: None,
        failing_since: None,
    };
    let stored = log.insert_subscription(&new).expect("insert");
    assert_eq!(stored.created_after_seq, 2, "after the log's head");
    assert_eq!(log.active_subscriptions().expect("list").len(), 1);

    assert!(log.rotate_secret("sub_x", "whsec_new", T1).expect("rotate"));
    let rotated = log.subscription("sub_x").expect("read").expect("exists");
    assert_eq!(rotated.secret, "whsec_new");
    assert_eq!(rotated.previous_secret.as_deref(), Some("whsec_old"));

    let deliveries: Vec<Delivery> = (1..=3).map(|seq| pending("sub_x", seq, "s")).collect();
    log.insert_deliveries(&deliveries).expect("insert");
    assert_eq!(
        log.requeue_dead("sub_x-1", T1).expect("requeue"),
        store::delivery::Requeue::NotDead
    );
    assert_eq!(
        log.requeue_dead("nothing", T1).expect("requeue"),
        store::delivery::Requeue::NotFound
    );
    assert!(log
        .end_subscription("sub_x", "deleted", "subscription deleted", T1)
        .expect("end"));
    assert!(
        !log.end_subscription("sub_x", "deleted", "again", T1)
            .expect("end"),
        "only a live subscription ends"
    );
    for d in &deliveries {
        let ended = log.delivery(&d.id).expect("read").expect("exists");
        assert_eq!(ended.status, delivery_status::DEAD);
        assert_eq!(ended.last_error.as_deref(), Some("subscription deleted"));
    }
    assert!(log.active_subscriptions().expect("list").is_empty());
    assert!(
        log.subscriptions().expect("list").is_empty(),
        "deleted ones are left out"
    );
    assert_eq!(
        log.requeue_dead("sub_x-1", T2).expect("requeue"),
        store::delivery::Requeue::Requeued
    );
    let again = log.delivery("sub_x-1").expect("read").expect("exists");
    assert_eq!(again.status, delivery_status::PENDING);
    assert_eq!(again.next_attempt_at.as_deref(), Some(T2));
}

#[test]
fn the_backlog_counts_pending_deliveries_and_unexpanded_rows_and_failing_endpoints_alone() {
    let db = TestDb::create();
    let mut log = db.log();
    assert_eq!(log.backlog().expect("backlog"), (0, None));
    let mut deliveries: Vec<Delivery> = (1..=5)
        .map(|seq| pending("customer", seq, &format!("order-{seq}")))
        .collect();
    deliveries.extend((6..=7).map(|seq| pending("sub_ok", seq, &format!("order-{seq}"))));
    log.insert_deliveries(&deliveries).expect("insert");
    assert_eq!(log.backlog().expect("backlog"), (7, Some(T0.to_owned())));
    assert!(
        log.failing_backlogs(100).expect("failing").is_empty(),
        "no endpoint failed an attempt yet"
    );
    // One customer attempt fails and is retried later: the customer endpoint is failing.
    let leased = log
        .lease_due(lease("node-a", T0, T0_LEASE_END), "customer", false, 1)
        .expect("lease");
    let mut retry = delivered(&leased[0].id, T0);
    retry.status = delivery_status::PENDING.to_owned();
    retry.next_attempt_at = Some(T2.to_owned());
    retry.attempt.outcome = "retry".to_owned();
    assert!(log
        .record_attempt(lease("node-a", T0, T0_LEASE_END), &retry)
        .expect("record"));
    let failing = log.failing_backlogs(100).expect("failing");
    assert_eq!(failing.len(), 1, "{failing:?}");
    assert_eq!(failing.get("customer"), Some(&5));
    assert_eq!(
        log.failing_backlogs(3).expect("failing").get("customer"),
        Some(&3),
        "counted up to the cap"
    );
}
