//! For random interleavings of valid and invalid requests from every dialect: every journal
//! entry balances, the trial balance sums to zero per currency, and folding the same events
//! again from empty gives the same digest.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use store::log::{query_events, EventFilter};
use store::projection::JournalLine;

use crate::Ledger;

#[derive(Debug, Clone)]
enum Step {
    Accounting(u8, &'static str, Option<u32>),
    Roms(u8, Option<&'static str>, Option<u32>, Option<i32>),
    Vendor(u8, &'static str, Option<u32>),
    Stripe(u8, u32, bool),
    Products(bool),
    ShopOrder(u8),
    Batch(u8, &'static str),
    Invalid(u8),
}

fn step() -> impl Strategy<Value = Step> {
    let order = 0u8..4;
    prop_oneof![
        (
            order.clone(),
            prop::sample::select(vec!["pending", "processing", "completed", "cancelled"]),
            prop::option::of(0u32..100_000)
        )
            .prop_map(|(o, s, a)| Step::Accounting(o, s, a)),
        (
            order.clone(),
            prop::option::of(prop::sample::select(vec![
                "pending",
                "verified",
                "shipped",
                "cancelled",
                "weird"
            ])),
            prop::option::of(1u32..100_000),
            prop::option::of(-500i32..5000)
        )
            .prop_map(|(o, s, t, c)| Step::Roms(o, s, t, c)),
        (
            order.clone(),
            prop::sample::select(vec![
                "pending",
                "accepted",
                "payment_confirmed",
                "completed",
                "cancelled"
            ]),
            prop::option::of(1u32..50_000)
        )
            .prop_map(|(o, s, f)| Step::Vendor(o, s, f)),
        (order.clone(), 1u32..100_000, any::<bool>()).prop_map(|(o, a, ok)| Step::Stripe(o, a, ok)),
        any::<bool>().prop_map(Step::Products),
        order.clone().prop_map(Step::ShopOrder),
        (
            order.clone(),
            prop::sample::select(vec!["pending", "partial", "complete"])
        )
            .prop_map(|(o, s)| Step::Batch(o, s)),
        (0u8..6).prop_map(Step::Invalid),
    ]
}

fn run(ledger: &Ledger, step: &Step, n: usize) {
    let money = |minor: u32| format!("{}.{:02}", minor / 100, minor % 100);
    let _ = match step {
        Step::Accounting(o, s, a) => {
            let extra = a.map_or(json!({}), |a| json!({"amount": money(a)}));
            ledger.accounting(&format!("a{o}"), s, extra)
        }
        Step::Roms(o, s, t, c) => {
            let mut body = json!({"order_number": format!("r{o}")});
            if let Some(s) = s { body["status"] = json!(s); }
            if let Some(t) = t { body["total"] = json!(money(*t)); }
            if let Some(c) = c { body["commission"] = json!(format!("{}", *c as f64 / 100.0)); }
            ledger.roms(body)
        }
        Step::Vendor(o, s, f) => {
            let mut body = json!({"orderId": format!("v{o}"), "status": s, "customerId": "c"});
            if let Some(f) = f { body["orderData"] = json!({"fare": money(*f).parse::<f64>().unwrap_or(0.0)}); }
            ledger.vendor(body)
        }
        Step::Stripe(o, amount, ok) => {
            let kind = if *ok { "payment_intent.succeeded" } else { "payment_intent.payment_failed" };
            ledger.stripe(json!({"id": format!("evt_{n}"), "type": kind, "data": {"object": {
                "id": format!("pi_{n}"), "amount": amount, "currency": "usd", "metadata": {"order_number": format!("r{o}")}}}}))
        }
        Step::Products(active) => ledger.exact(json!({"action": "sync_products", "products": [
            {"exact_item_id": "p1", "item_code": "P1", "name": "Product", "product_type": "HMI", "is_active": active}]})),
        Step::ShopOrder(o) => ledger.exact(json!({"action": "sync_exact_work_order", "exact_shop_order_number": format!("SO-{o}"),
            "exact_shop_order_link": "https://x", "product": {"exact_item_id": "p1", "item_code": "P1"}, "batch_size": 2})),
        Step::Batch(o, s) => ledger.exact(json!({"action": "assign_batch_numbers", "exact_shop_order_number": format!("SO-{o}"),
            "materials_issued_status": s, "batch_assignments": [{"position_in_batch": 1, "batch_number": "B1"}]})),
        Step::Invalid(kind) => match kind {
            0 => ledger.accounting("x", "shipped", json!({})),
            1 => ledger.roms(json!({"price": 1})),
            2 => ledger.roms(json!({"order_number": "r0", "price": "1.001"})),
            3 => ledger.exact(json!({"action": "explode"})),
            4 => ledger.vendor(json!({"orderId": "v0", "status": "teleported"})),
            _ => ledger.exact(json!({"action": "sync_products", "products": [{"exact_item_id": "p", "item_code": "c", "name": "n", "product_type": "NOPE"}]})),
        },
    };
}

fn check_books(lines: &[JournalLine]) {
    let mut entries: BTreeMap<&str, (i64, i64, &str)> = BTreeMap::new();
    let mut per_currency: BTreeMap<&str, i64> = BTreeMap::new();
    for line in lines {
        assert!(line.debit_minor >= 0 && line.credit_minor >= 0);
        let entry = entries
            .entry(&line.entry_id)
            .or_insert((0, 0, &line.currency));
        entry.0 += line.debit_minor;
        entry.1 += line.credit_minor;
        assert_eq!(entry.2, line.currency, "one currency per entry");
        *per_currency.entry(&line.currency).or_insert(0) += line.debit_minor - line.credit_minor;
    }
    for (id, (debit, credit, _)) in entries {
        assert_eq!(debit, credit, "entry {id} balances");
    }
    assert!(
        per_currency.values().all(|sum| *sum == 0),
        "trial balance is zero per currency: {per_currency:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn books_balance_and_a_second_fold_gives_the_same_digest(steps in prop::collection::vec(step(), 1..40)) {
        let ledger = Ledger::new();
        for (n, step) in steps.iter().enumerate() {
            run(&ledger, step, n);
        }
        check_books(&ledger.journal());
        let live = ledger.digest();
        // Fold the same events again, from empty, in a fresh database.
        let events = ledger.store.read(|conn| query_events(conn, &EventFilter::default())).expect("events");
        let again = Ledger::new();
        again
            .writer
            .submit_blocking(move |ctx| -> Result<(), projections::ProjectionError> {
                for event in &events {
                    projections::apply(ctx.projections(), event)?;
                }
                Ok(())
            })
            .expect("answered")
            .expect("folded");
        prop_assert_eq!(again.digest(), live);
    }
}
