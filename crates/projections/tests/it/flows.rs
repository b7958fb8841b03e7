//! Each seed's documented flow, end to end.

use serde_json::json;

use crate::{Answer, Ledger};

#[test]
fn seed_000_order_from_pending_to_completed() {
    let ledger = Ledger::new();
    let pending = ledger.accounting("3BzExHXnvYpEu0jOaFDP", "pending", json!({}));
    assert_eq!(pending.body().get("workOrderId"), Some(&domain::Json::Null));
    let processing = ledger.accounting(
        "3BzExHXnvYpEu0jOaFDP",
        "processing",
        json!({"amount": 250.00, "currency": "EUR"}),
    );
    let body = processing.body().to_value();
    assert_eq!(body["accountingStatus"], "producing");
    let work_order_id = body["workOrderId"]
        .as_str()
        .expect("work order id")
        .to_owned();

    let order = ledger.doc("order", "accounting:3BzExHXnvYpEu0jOaFDP");
    assert_eq!(order["status"], "processing");
    assert_eq!(order["sales_order_status"], "confirmed");
    assert_eq!(order["work_order_id"], work_order_id.as_str());
    let work_order = ledger.doc("work_order", &work_order_id);
    assert_eq!(work_order["status"], "pending");
    assert!(work_order["wo_number"]
        .as_str()
        .expect("wo_number")
        .starts_with("PENDING-"));
    assert_eq!(
        ledger.balance("Assets:Receivables:Accounting", "EUR"),
        25000
    );
    assert_eq!(ledger.balance("Income:Sales:Accounting", "EUR"), -25000);

    // The same status again appends nothing and answers with the same ids.
    let events = ledger.events();
    let again = ledger.accounting(
        "3BzExHXnvYpEu0jOaFDP",
        "processing",
        json!({"amount": 250.00, "currency": "EUR"}),
    );
    assert!(again.recorded().duplicate);
    assert_eq!(again.recorded().seq, processing.recorded().seq);
    assert_eq!(
        again.body().to_value()["workOrderId"],
        work_order_id.as_str()
    );
    assert_eq!(ledger.events(), events);

    let completed = ledger.accounting("3BzExHXnvYpEu0jOaFDP", "completed", json!({}));
    assert_eq!(
        completed.body().to_value()["workOrderId"],
        work_order_id.as_str()
    );
    assert_eq!(
        ledger.doc("work_order", &work_order_id)["status"],
        "completed"
    );
    assert_eq!(
        ledger.outbox_events("zapier"),
        [
            "shopOrder.create.requested",
            "shopOrder.completion.requested"
        ]
    );
    assert_eq!(
        ledger.outbox_events("customer"),
        ["order.status_changed"; 3]
    );
    let subscribers = ledger.outbox_events("subscribers");
    for name in [
        "sales_order.created",
        "sales_order.confirmed",
        "work_order.created",
        "journal_entry.posted",
        "shopOrder.create.requested",
    ] {
        assert!(
            subscribers.iter().any(|e| e == name),
            "{name} missing from {subscribers:?}"
        );
    }
    let status_changes: Vec<serde_json::Value> = ledger
        .outbox()
        .into_iter()
        .filter(|r| r.destination == "customer")
        .map(|r| serde_json::from_str(&r.payload).expect("json"))
        .collect();
    assert_eq!(status_changes[0]["previousStatus"], serde_json::Value::Null);
    assert_eq!(status_changes[1]["previousStatus"], "pending");
    assert_eq!(status_changes[2]["status"], "completed");
    assert_eq!(status_changes[1]["orderData"]["amount"], 250.00);
    assert_eq!(status_changes[1]["orderData"]["amount_minor"], 25000);
}

#[test]
fn seed_000_cancellation_after_recognition_posts_a_reversal() {
    let ledger = Ledger::new();
    ledger.accounting("o-1", "processing", json!({"amount": "10.00"}));
    ledger.accounting("o-1", "cancelled", json!({}));
    assert_eq!(ledger.balance("Assets:Receivables:Accounting", "USD"), 0);
    let lines = ledger.journal();
    assert_eq!(lines.len(), 4, "one entry, then its reversal: {lines:?}");
    assert!(ledger
        .outbox_events("subscribers")
        .contains(&"sales_order.cancelled".to_owned()));
    let order = ledger.doc("order", "accounting:o-1");
    assert_eq!(
        ledger.doc("work_order", order["work_order_id"].as_str().expect("id"))["status"],
        "cancelled"
    );
}

#[test]
fn a_backward_status_is_a_new_event_recorded_as_reported_and_flagged() {
    let ledger = Ledger::new();
    ledger.accounting("o-2", "completed", json!({}));
    let back = ledger.accounting("o-2", "pending", json!({}));
    assert!(!back.recorded().duplicate);
    let order = ledger.doc("order", "accounting:o-2");
    assert_eq!(order["status"], "pending");
    let history = order["history"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["backward"], true);
    assert_eq!(history[0]["backward"], false);
}

#[test]
fn seed_001_create_then_update_by_order_number() {
    let ledger = Ledger::new();
    let created = ledger.roms(json!({
        "order_number": "ORD-001", "product": "Nike Air Max", "price": 120.00, "quantity": 2,
        "commission": 15.00, "email": "customer@example.com", "customer_name": "John Doe", "status": "pending"
    }));
    assert_eq!(created.body().to_value()["order_id"], 1);
    let other = ledger.roms(json!({"order_number": 12345}));
    assert_eq!(other.body().to_value()["order_id"], 2);
    let updated = ledger
        .roms(json!({"order_number": "ORD-001", "status": "verified", "tracking_number": "1Z999"}));
    assert_eq!(
        updated.body().to_value()["order_id"],
        1,
        "the order keeps its number"
    );
    let order = ledger.doc("order", "roms:ORD-001");
    assert_eq!(
        order["fields"]["product"], "Nike Air Max",
        "fields not sent are kept"
    );
    assert_eq!(order["fields"]["tracking_number"], "1Z999");
    assert_eq!(order["fields"]["price_minor"], 12000);
    assert_eq!(
        order["fields"]["price"], 120.00,
        "seed 001's column, in major units"
    );
    assert_eq!(order["fields"]["quantity"], 2);
    assert_eq!(order["amount_minor"], 24000);
    assert_eq!(ledger.balance("Assets:Receivables:Roms", "USD"), 24000);
    assert_eq!(ledger.balance("Expenses:Commission:Roms", "USD"), 1500);
    assert_eq!(
        ledger.balance("Liabilities:CommissionPayable:Roms", "USD"),
        -1500
    );
    // A corrected total is an adjustment, never an edit.
    ledger.roms(json!({"order_number": "ORD-001", "total": 200.00}));
    assert_eq!(ledger.balance("Income:Sales:Roms", "USD"), -20000);
    let customer_events = ledger.outbox_events("subscribers");
    assert_eq!(
        customer_events
            .iter()
            .filter(|e| *e == "customer.created")
            .count(),
        1
    );
    ledger.roms(json!({"order_number": "ORD-001", "status": "cancelled"}));
    assert_eq!(ledger.balance("Assets:Receivables:Roms", "USD"), 0);
    assert_eq!(ledger.balance("Expenses:Commission:Roms", "USD"), 0);
}

fn seed_002_products(ledger: &Ledger) {
    ledger.exact(json!({"action": "sync_products", "products": [
        {"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001", "name": "SDM ECO Sensor Unit", "product_type": "SDM_ECO", "is_active": true},
        {"exact_item_id": "def456-uuid-from-exact", "item_code": "SENSOR-TMP-002", "name": "Temperature Sensor Module", "product_type": "SENSOR"}
    ]}));
}

fn shop_order(wo_number: Option<&str>, materials: &str) -> serde_json::Value {
    let mut body = json!({
        "action": "sync_exact_work_order", "exact_shop_order_number": "SO-2024-001234",
        "exact_shop_order_link": "https://start.exactonline.nl/docs/ShopOrderView.aspx?ID=abc123",
        "product": {"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001"},
        "batch_size": 3, "materials_issued_status": materials,
        "planned_start_date": "2024-01-15", "planned_end_date": "2024-01-20"
    });
    if let Some(number) = wo_number {
        body["wo_number"] = json!(number);
    }
    body
}

#[test]
fn seed_002_products_then_shop_order_then_batch_numbers_then_completion() {
    let ledger = Ledger::new();
    // Unknown product and unknown work order are refused, and append nothing.
    let refused = ledger.exact(shop_order(None, "pending"));
    assert!(
        matches!(refused, Answer::Rejected(ref why) if why.contains("ProductNotFound")),
        "{refused:?}"
    );
    let unknown = ledger.exact(json!({"action": "assign_batch_numbers", "work_order_id": "nope",
        "materials_issued_status": "partial", "batch_assignments": [{"position_in_batch": 1, "batch_number": "B"}]}));
    assert!(
        matches!(unknown, Answer::Rejected(ref why) if why.contains("WorkOrderNotFound")),
        "{unknown:?}"
    );
    assert_eq!(ledger.events(), 0);

    seed_002_products(&ledger);
    assert_eq!(
        ledger.doc("product", "def456-uuid-from-exact")["is_active"],
        true
    );
    // The web shop's order goes to processing: a pending work order is created.
    let processing = ledger.accounting("web-1", "processing", json!({}));
    let work_order_id = processing.body().to_value()["workOrderId"]
        .as_str()
        .expect("id")
        .to_owned();
    let wo_number = ledger.doc("work_order", &work_order_id)["wo_number"]
        .as_str()
        .expect("number")
        .to_owned();
    // Exact creates the shop order for that wo_number: the same work order, now planned.
    let synced = ledger.exact(shop_order(Some(&wo_number), "pending"));
    assert_eq!(
        synced.body().to_value()["work_order_id"],
        work_order_id.as_str()
    );
    assert_eq!(
        ledger.doc("work_order", &work_order_id)["status"],
        "planned"
    );
    let partial = ledger.exact(json!({"action": "assign_batch_numbers", "work_order_id": work_order_id,
        "materials_issued_status": "partial", "batch_assignments": [
            {"position_in_batch": 1, "serial_number": "SDM-2024-0001", "batch_number": "BATCH-2024-001"}]}));
    assert_eq!(partial.body().to_value()["updated_items"], 1);
    assert_eq!(
        ledger.doc("work_order", &work_order_id)["status"],
        "materials_partial"
    );
    ledger.exact(json!({"action": "assign_batch_numbers", "exact_shop_order_number": "SO-2024-001234",
        "materials_issued_status": "complete", "batch_assignments": [
            {"position_in_batch": 2, "serial_number": "SDM-2024-0002", "batch_number": "BATCH-2024-001"},
            {"position_in_batch": 3, "serial_number": "SDM-2024-0003", "batch_number": "BATCH-2024-002"}]}));
    let work_order = ledger.doc("work_order", &work_order_id);
    assert_eq!(
        work_order["status"], "in_progress",
        "materials complete and production dates set"
    );
    assert_eq!(work_order["materials_issued_status"], "complete");
    let items = work_order["items"].as_array().expect("items");
    assert_eq!(
        items
            .iter()
            .map(|i| i["position_in_batch"].as_i64().expect("pos"))
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(items[2]["batch_number"], "BATCH-2024-002");
    ledger.accounting("web-1", "completed", json!({}));
    assert_eq!(
        ledger.doc("work_order", &work_order_id)["status"],
        "completed"
    );
    let completion = ledger
        .outbox()
        .into_iter()
        .find(|r| r.event == "shopOrder.completion.requested" && r.destination == "zapier")
        .expect("completion requested");
    let data: serde_json::Value = serde_json::from_str(&completion.payload).expect("json");
    assert_eq!(data["exact_shop_order_number"], "SO-2024-001234");
    assert_eq!(data["completed_items"], 3);
    assert_eq!(data["items"][0]["serial_number"], "SDM-2024-0001");
}

#[test]
fn seed_002_deactivation_is_kept_as_history_and_customers_sync() {
    let ledger = Ledger::new();
    seed_002_products(&ledger);
    ledger.exact(json!({"action": "sync_products", "products": [
        {"exact_item_id": "abc123-uuid-from-exact", "item_code": "SDM-ECO-001", "name": "SDM ECO Sensor Unit", "product_type": "SDM_ECO", "is_active": false}]}));
    let product = ledger.doc("product", "abc123-uuid-from-exact");
    assert_eq!(product["is_active"], false);
    assert_eq!(product["history"].as_array().expect("history").len(), 2);
    let customer = json!({"action": "sync_customers", "customers": [{"exact_customer_id": "cust-001-uuid", "name": "Acme Corporation", "email": "orders@acme.com"}]});
    ledger.exact(customer);
    ledger.exact(json!({"action": "sync_customers", "customers": [{"exact_customer_id": "cust-001-uuid", "name": "Acme Corp", "email": "orders@acme.com"}]}));
    let names = ledger.outbox_events("subscribers");
    assert_eq!(names.iter().filter(|e| *e == "customer.created").count(), 1);
    assert_eq!(names.iter().filter(|e| *e == "customer.updated").count(), 1);
}

#[test]
fn seed_003_nine_statuses_in_order() {
    let ledger = Ledger::new();
    let statuses = [
        "pending",
        "assigned",
        "accepted",
        "in_progress",
        "payment_requested",
        "payment_confirmed",
        "arrival_confirmed",
        "completed",
    ];
    let mut previous = serde_json::Value::Null;
    for status in statuses {
        let answer = ledger.vendor(json!({
            "orderId": "64a7b2c8f9e4d1a2b3c4d5e6", "customerId": "customer-123", "status": status,
            "previousStatus": previous, "updatedAt": "2023-12-04T10:30:00.000Z",
            "orderData": {"fare": 250, "paymentMethod": "cod", "items": [{"title": "Fix screen", "qty": 1, "price": 250}]},
            "vendorDetails": {"vendorId": "v-1", "vendorName": "Tech Repair Services"}
        }));
        assert_eq!(
            answer.body().to_value(),
            json!({"success": true, "message": "Webhook received successfully"})
        );
        previous = json!(status);
    }
    let callbacks: Vec<serde_json::Value> = ledger
        .outbox()
        .into_iter()
        .filter(|r| r.destination == "customer")
        .map(|r| serde_json::from_str(&r.payload).expect("json"))
        .collect();
    assert_eq!(callbacks.len(), 8);
    assert_eq!(callbacks[2]["status"], "accepted");
    assert_eq!(callbacks[2]["previousStatus"], "assigned");
    assert_eq!(callbacks[2]["customerId"], "customer-123");
    assert_eq!(callbacks[2]["orderData"]["customerId"], "customer-123");
    assert_eq!(
        callbacks[2]["vendorDetails"]["vendorName"],
        "Tech Repair Services"
    );
    // Revenue at acceptance, cash at payment_confirmed: the receivable is settled.
    assert_eq!(ledger.balance("Income:Sales:Vendor", "USD"), -25000);
    assert_eq!(ledger.balance("Assets:Cash:Vendor", "USD"), 25000);
    assert_eq!(ledger.balance("Assets:Receivables:Vendor", "USD"), 0);
    let cancelled = ledger.vendor(json!({"orderId": "64a7b2c8f9e4d1a2b3c4d5e6", "status": "cancelled", "previousStatus": "completed"}));
    assert!(!cancelled.recorded().duplicate);
    assert_eq!(ledger.balance("Income:Sales:Vendor", "USD"), 0);
}

fn payment_intent(kind: &str, id: &str, amount: i64, order_number: &str) -> serde_json::Value {
    json!({"id": format!("evt_{id}"), "object": "event", "type": kind, "created": 1700000000,
        "data": {"object": {"id": format!("pi_{id}"), "object": "payment_intent", "amount": amount,
        "currency": "usd", "metadata": {"order_number": order_number},
        "last_payment_error": {"message": "Your card was declined.", "code": "card_declined"}}}})
}

#[test]
fn a_stripe_payment_settles_the_orders_receivable() {
    let ledger = Ledger::new();
    ledger.roms(json!({"order_number": "R-9", "total": "99.99", "status": "verified"}));
    assert_eq!(ledger.balance("Assets:Receivables:Roms", "USD"), 9999);
    let paid = ledger.stripe(payment_intent("payment_intent.succeeded", "1", 9999, "R-9"));
    assert_eq!(paid.body().to_value(), json!({"received": true}));
    assert_eq!(ledger.balance("Assets:Receivables:Roms", "USD"), 0);
    assert_eq!(ledger.balance("Assets:Cash:Stripe", "USD"), 9999);
    let again = ledger.stripe(payment_intent("payment_intent.succeeded", "1", 9999, "R-9"));
    assert!(again.recorded().duplicate, "Stripe's event id dedupes");
    assert_eq!(ledger.balance("Assets:Cash:Stripe", "USD"), 9999);
    ledger.stripe(payment_intent(
        "payment_intent.payment_failed",
        "2",
        500,
        "R-9",
    ));
    let failed = ledger
        .outbox()
        .into_iter()
        .find(|r| r.event == "payment.failed")
        .expect("payment.failed");
    let data: serde_json::Value = serde_json::from_str(&failed.payload).expect("json");
    assert_eq!(data["amount"], 5.00);
    assert_eq!(data["amount_minor"], 500);
    assert_eq!(data["reason"], "Your card was declined.");
    // A payment for an unknown order is held as unapplied, never lost.
    ledger.stripe(payment_intent(
        "payment_intent.succeeded",
        "3",
        100,
        "nobody",
    ));
    assert_eq!(
        ledger.balance("Liabilities:UnappliedPayments:Stripe", "USD"),
        -100
    );
}

#[test]
fn outbox_ids_and_journal_entries_are_derived_not_random() {
    let build = || {
        let ledger = Ledger::new();
        ledger.accounting("o", "processing", json!({"amount": 5}));
        ledger
            .outbox()
            .into_iter()
            .map(|r| r.event)
            .collect::<Vec<_>>()
    };
    assert_eq!(build(), build());
}

#[test]
fn work_order_numbers_follow_the_clock_and_run_on_within_a_burst() {
    let ledger = Ledger::new();
    let first: Vec<String> = (0..40).map(|i| format!("burst-a-{i}")).collect();
    let second: Vec<String> = (0..40).map(|i| format!("burst-b-{i}")).collect();
    ledger.accounting_burst(&first);
    std::thread::sleep(std::time::Duration::from_millis(60));
    ledger.accounting_burst(&second);

    let mut previous: Option<i64> = None;
    for order_id in first.iter().chain(&second) {
        let order = ledger.doc("order", &format!("accounting:{order_id}"));
        let wo_id = order["work_order_id"].as_str().expect("a work order");
        let wo = ledger.doc("work_order", wo_id);
        let number: i64 = wo["wo_number"]
            .as_str()
            .and_then(|n| n.strip_prefix("PENDING-"))
            .and_then(|n| n.parse().ok())
            .expect("PENDING-<ms>");
        let created =
            chrono::DateTime::parse_from_rfc3339(wo["created_at"].as_str().expect("time"))
                .expect("rfc3339")
                .timestamp_millis();
        // The first free millisecond from the event's own: the event's millisecond when the
        // numbers are behind the clock, the previous number plus one when they are not.
        let expected = match previous {
            Some(p) if p >= created => p + 1,
            _ => created,
        };
        assert_eq!(number, expected, "order {order_id}");
        previous = Some(number);
    }
    // The 60 ms pause lets the clock pass the first burst's numbers, so the second burst starts
    // at its own millisecond again; the counter holds the last number given.
    let counter = ledger.doc("counter", "work_order.pending_number");
    assert_eq!(counter.as_i64(), previous);
}
