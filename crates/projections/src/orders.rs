//! Orders from seeds 000 (`accounting`), 001 (`roms`) and 003 (`vendor`), their sales orders,
//! revenue recognition and payments.
//!
//! One document per order (`kind = "order"`, key `{source}:{ref}`). Every status report is kept
//! as reported; one that moves backwards in the source's own order (`completed` then `pending`)
//! is flagged `backward`. Posting follows the current reported status (docs/accounting.md).

use std::collections::BTreeMap;

use domain::payloads::{
    AccountingOrderStatusReported, RomsOrderReceived, StripePaymentIntent,
    VendorOrderStatusReported,
};
use domain::{derive_id, Currency, Json};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customers;
use crate::fold::{major, stream_id, Destination, Fold, Posting};
use crate::work_orders;
use crate::ProjectionError;

pub const KIND: &str = "order";

/// Revenue and commission currently recognised for an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recognised {
    pub currency: Option<Currency>,
    pub revenue_minor: i64,
    pub commission_minor: i64,
}

/// One status report in an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub seq: u64,
    pub recorded_at: String,
    pub status: String,
    pub previous_status: Option<String>,
    pub backward: bool,
}

/// A payment applied to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub seq: u64,
    pub payment_id: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub method: String,
}

/// The order read model. Field names are the API's (`GET /api/orders/{source}/{ref}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub source: String,
    #[serde(rename = "ref")]
    pub reference: String,
    /// Seed 001's integer `order_id`: the order's number in its source, in log order.
    pub order_id: Option<u64>,
    pub status: Option<String>,
    pub previous_status: Option<String>,
    /// Seed 000's mapped status.
    pub accounting_status: Option<String>,
    /// The current fields as upstream sent them (seed 001 column names; seed 003 `orderData`…).
    pub fields: BTreeMap<String, Json>,
    pub currency: Option<Currency>,
    /// The order's value, when known.
    pub amount_minor: Option<i64>,
    pub commission_minor: Option<i64>,
    pub customer_id: Option<String>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub sales_order_id: Uuid,
    /// `created`, `confirmed` or `cancelled`.
    pub sales_order_status: String,
    pub work_order_id: Option<Uuid>,
    pub recognised: Recognised,
    pub payments: Vec<Payment>,
    pub created_seq: u64,
    pub updated_seq: u64,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<StatusChange>,
}

/// The document key of an order.
pub fn key(source: &str, reference: &str) -> String {
    format!("{source}:{reference}")
}

/// The capitalised account segment of a source (`roms` → `Roms`).
fn segment(source: &str) -> String {
    let mut chars = source.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What a status means for revenue: recognise, reverse, or leave as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    Confirmed,
    NotConfirmed,
    Cancelled,
    Unknown,
}

/// The rank of a status in its source's own order (for flagging backward reports), and its
/// meaning for posting.
fn classify(source: &str, status: &str) -> (Option<u32>, Meaning) {
    let lower = status.to_ascii_lowercase();
    match source {
        "accounting" => match lower.as_str() {
            "pending" => (Some(0), Meaning::NotConfirmed),
            "processing" => (Some(1), Meaning::Confirmed),
            "completed" => (Some(2), Meaning::Confirmed),
            "cancelled" => (Some(3), Meaning::Cancelled),
            _ => (None, Meaning::Unknown),
        },
        "vendor" => match lower.as_str() {
            "pending" => (Some(0), Meaning::NotConfirmed),
            "assigned" => (Some(1), Meaning::NotConfirmed),
            "accepted" => (Some(2), Meaning::Confirmed),
            "in_progress" => (Some(3), Meaning::Confirmed),
            "payment_requested" => (Some(4), Meaning::Confirmed),
            "payment_confirmed" => (Some(5), Meaning::Confirmed),
            "arrival_confirmed" => (Some(6), Meaning::Confirmed),
            "completed" => (Some(7), Meaning::Confirmed),
            "cancelled" => (Some(8), Meaning::Cancelled),
            _ => (None, Meaning::Unknown),
        },
        _ => match lower.as_str() {
            "pending" | "new" | "received" => (Some(0), Meaning::NotConfirmed),
            "verified" | "confirmed" | "processing" | "paid" => (Some(1), Meaning::Confirmed),
            "shipped" | "in_transit" => (Some(2), Meaning::Confirmed),
            "delivered" | "completed" | "complete" | "fulfilled" => (Some(3), Meaning::Confirmed),
            "cancelled" | "canceled" | "refunded" | "voided" | "failed" => {
                (Some(4), Meaning::Cancelled)
            }
            _ => (None, Meaning::Unknown),
        },
    }
}

/// Loads an order or starts a new one (the sales order is created with it).
fn load_or_create(
    fold: &mut Fold<'_>,
    source: &str,
    reference: &str,
) -> Result<(Order, bool), ProjectionError> {
    if let Some(order) = fold.get::<Order>(KIND, &key(source, reference))? {
        return Ok((order, false));
    }
    let stream = stream_id(&fold.event.stream);
    let order_id = if source == "roms" {
        Some(next_counter(fold, "roms.order_id")?)
    } else {
        None
    };
    Ok((
        Order {
            source: source.to_owned(),
            reference: reference.to_owned(),
            order_id,
            status: None,
            previous_status: None,
            accounting_status: None,
            fields: BTreeMap::new(),
            currency: None,
            amount_minor: None,
            commission_minor: None,
            customer_id: None,
            customer_email: None,
            customer_name: None,
            sales_order_id: derive_id(&stream, "sales_order"),
            sales_order_status: "created".into(),
            work_order_id: None,
            recognised: Recognised::default(),
            payments: Vec::new(),
            created_seq: fold.event.seq,
            updated_seq: fold.event.seq,
            created_at: fold.event.recorded_at.clone(),
            updated_at: fold.event.recorded_at.clone(),
            history: Vec::new(),
        },
        true,
    ))
}

/// The kind of the counter documents (one per name).
pub(crate) const COUNTER: &str = "counter";

/// The next value of a named counter (1, 2, 3… in log order).
fn next_counter(fold: &mut Fold<'_>, name: &str) -> Result<u64, ProjectionError> {
    let next = fold.get::<u64>(COUNTER, name)?.unwrap_or(0) + 1;
    fold.put(COUNTER, name, next)?;
    Ok(next)
}

/// Records a status report; returns whether the status changed.
fn report_status(fold: &Fold<'_>, order: &mut Order, status: &str) -> bool {
    if order.status.as_deref() == Some(status) {
        return false;
    }
    let (new_rank, _) = classify(&order.source, status);
    let old_rank = order
        .status
        .as_deref()
        .and_then(|s| classify(&order.source, s).0);
    let backward = matches!((old_rank, new_rank), (Some(old), Some(new)) if new < old);
    order.previous_status = order.status.take();
    order.status = Some(status.to_owned());
    order.history.push(StatusChange {
        seq: fold.event.seq,
        recorded_at: fold.event.recorded_at.clone(),
        status: status.to_owned(),
        previous_status: order.previous_status.clone(),
        backward,
    });
    true
}

/// Seed 000.
pub fn accounting(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: AccountingOrderStatusReported = fold.payload()?;
    let (mut order, created) = load_or_create(fold, "accounting", &p.order_id)?;
    for (name, value) in &p.extra {
        order.fields.insert(name.clone(), value.clone());
    }
    if let Some(amount) = p.amount_minor {
        order.amount_minor = Some(amount);
        order.currency = p.currency.or(order.currency);
    }
    order.accounting_status = Some(p.accounting_status.as_str().to_owned());
    let changed = report_status(fold, &mut order, p.status.as_str());
    match p.status.as_str() {
        "processing" => work_orders::create_for_order(fold, &mut order)?,
        "completed" => work_orders::complete_for_order(fold, &order)?,
        "cancelled" => work_orders::cancel_for_order(fold, &order)?,
        _ => {}
    }
    finish(fold, order, created, changed, None)
}

/// Seed 001.
pub fn roms(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: RomsOrderReceived = fold.payload()?;
    let (mut order, created) = load_or_create(fold, "roms", &p.order_number)?;
    // Upsert only the fields sent, under their column names (amounts in minor units).
    if let Ok(Json::Object(fields)) = fold.event.payload_json() {
        let currency = p.currency.or(order.currency).unwrap_or(Currency::USD);
        for (name, value) in fields {
            if name == "order_number" || name == "extra" {
                continue;
            }
            // Amounts are kept in minor units and under seed 001's column name in major units.
            if let (Some(column), Json::Number(text)) = (name.strip_suffix("_minor"), &value) {
                if let Ok(minor) = text.parse::<i64>() {
                    order
                        .fields
                        .insert(column.to_owned(), major(minor, currency));
                }
            }
            order.fields.insert(name, value);
        }
    }
    for (name, value) in &p.extra {
        order.fields.insert(format!("extra.{name}"), value.clone());
    }
    if p.currency.is_some() {
        order.currency = p.currency;
    }
    let total = p
        .total_minor
        .or(match (p.price_minor, order_quantity(&order)) {
            (Some(price), quantity) => price.checked_mul(quantity),
            (None, _) => None,
        });
    if let Some(total) = total.or_else(|| stored_total(&order)) {
        order.amount_minor = Some(total);
    }
    if p.commission_minor.is_some() {
        order.commission_minor = p.commission_minor;
    }
    if let Some(email) = &p.email {
        order.customer_email = Some(email.clone());
    }
    if let Some(name) = &p.customer_name {
        order.customer_name = Some(name.clone());
    }
    if let Some(email) = order.customer_email.clone() {
        order.customer_id = Some(customers::seen_on_order(
            fold,
            &email,
            order.customer_name.as_deref(),
        )?);
    }
    let changed = match &p.status {
        Some(status) => report_status(fold, &mut order, status),
        None => false,
    };
    finish(fold, order, created, changed, None)
}

fn order_quantity(order: &Order) -> i64 {
    match order.fields.get("quantity") {
        Some(Json::Number(text)) => text.parse().unwrap_or(1),
        _ => 1,
    }
}

/// The order's total from its stored fields (when this event sent neither price nor total).
fn stored_total(order: &Order) -> Option<i64> {
    let number = |name: &str| match order.fields.get(name) {
        Some(Json::Number(text)) => text.parse::<i64>().ok(),
        _ => None,
    };
    number("total_minor").or_else(|| number("price_minor")?.checked_mul(order_quantity(order)))
}

/// Seed 003.
pub fn vendor(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: VendorOrderStatusReported = fold.payload()?;
    let (mut order, created) = load_or_create(fold, "vendor", &p.order_id)?;
    if let Some(data) = &p.order_data {
        order.fields.insert("orderData".into(), data.clone());
    }
    if let Some(details) = &p.vendor_details {
        order.fields.insert("vendorDetails".into(), details.clone());
    }
    if let Some(updated_at) = &p.updated_at {
        order
            .fields
            .insert("updatedAt".into(), Json::str(updated_at.clone()));
    }
    if p.customer_id.is_some() {
        order.customer_id = p.customer_id.clone();
    }
    if let Some(fare) = p.fare_minor {
        order.amount_minor = Some(fare);
        order.currency = p.currency.or(order.currency);
    }
    let changed = report_status(fold, &mut order, p.status.as_str());
    finish(fold, order, created, changed, p.updated_at.clone())?;
    if p.status.as_str() == "payment_confirmed" {
        if let Some(fare) = p.fare_minor {
            let currency = p.currency.unwrap_or(Currency::USD);
            let payment_id = format!("vendor:{}", p.order_id);
            apply_payment(
                fold,
                "vendor",
                &p.order_id,
                &payment_id,
                fare,
                currency,
                "vendor",
            )?;
        }
    }
    Ok(())
}

/// Common end of an order fold: recognition, sales-order events, status event, save.
fn finish(
    fold: &mut Fold<'_>,
    mut order: Order,
    created: bool,
    changed: bool,
    updated_at: Option<String>,
) -> Result<(), ProjectionError> {
    order.updated_seq = fold.event.seq;
    order.updated_at = fold.event.recorded_at.clone();
    if created {
        let payload = sales_order_payload(&order, None);
        fold.emit("sales_order.created", &[Destination::Subscribers], &payload)?;
    }
    let meaning = order
        .status
        .as_deref()
        .map_or(Meaning::Unknown, |s| classify(&order.source, s).1);
    recognise(fold, &mut order, meaning)?;
    if changed {
        match (meaning, order.sales_order_status.as_str()) {
            (Meaning::Confirmed, "created" | "cancelled") => {
                order.sales_order_status = "confirmed".into();
                let payload = sales_order_payload(&order, None);
                fold.emit(
                    "sales_order.confirmed",
                    &[Destination::Subscribers],
                    &payload,
                )?;
            }
            (Meaning::Cancelled, "created" | "confirmed") => {
                order.sales_order_status = "cancelled".into();
                let reason = format!(
                    "{} reported {}",
                    order.source,
                    order.status.clone().unwrap_or_default()
                );
                let payload = sales_order_payload(&order, Some(reason));
                fold.emit(
                    "sales_order.cancelled",
                    &[Destination::Subscribers],
                    &payload,
                )?;
            }
            _ => {}
        }
        let payload = status_changed_payload(fold, &order, updated_at);
        fold.emit(
            "order.status_changed",
            &[Destination::Customer, Destination::Subscribers],
            &payload,
        )?;
    }
    fold.put(KIND, &key(&order.source, &order.reference), order)
}

/// Posts the difference between what is recognised and what the order's status and amount say
/// should be (a corrected amount is an adjustment; a cancellation reverses in full).
fn recognise(
    fold: &mut Fold<'_>,
    order: &mut Order,
    meaning: Meaning,
) -> Result<(), ProjectionError> {
    let confirmed = match meaning {
        Meaning::Confirmed => true,
        Meaning::NotConfirmed | Meaning::Cancelled => false,
        Meaning::Unknown => {
            order.recognised.revenue_minor != 0 || order.recognised.commission_minor != 0
        }
    };
    let (target_revenue, target_commission, target_currency) =
        match (confirmed, order.amount_minor, order.currency) {
            (true, Some(amount), Some(currency)) => {
                (amount, order.commission_minor.unwrap_or(0), Some(currency))
            }
            (true, Some(amount), None) => (
                amount,
                order.commission_minor.unwrap_or(0),
                Some(Currency::USD),
            ),
            _ => (0, 0, order.recognised.currency),
        };
    // A change of currency reverses everything in the old one first.
    if let (Some(old), Some(new)) = (order.recognised.currency, target_currency) {
        if old != new
            && (order.recognised.revenue_minor != 0 || order.recognised.commission_minor != 0)
        {
            post_delta(
                fold,
                order,
                old,
                -order.recognised.revenue_minor,
                -order.recognised.commission_minor,
            )?;
            order.recognised = Recognised {
                currency: Some(new),
                ..Recognised::default()
            };
        }
    }
    let Some(currency) = target_currency else {
        return Ok(());
    };
    let revenue_delta = target_revenue - order.recognised.revenue_minor;
    let commission_delta = target_commission - order.recognised.commission_minor;
    post_delta(fold, order, currency, revenue_delta, commission_delta)?;
    order.recognised = Recognised {
        currency: Some(currency),
        revenue_minor: target_revenue,
        commission_minor: target_commission,
    };
    Ok(())
}

fn post_delta(
    fold: &mut Fold<'_>,
    order: &Order,
    currency: Currency,
    revenue_delta: i64,
    commission_delta: i64,
) -> Result<(), ProjectionError> {
    let segment = segment(&order.source);
    let what = format!("{} order {}", order.source, order.reference);
    if revenue_delta != 0 {
        let description = if revenue_delta > 0 {
            format!("Revenue recognised: {what}")
        } else {
            format!("Revenue reversed: {what}")
        };
        fold.post(
            &description,
            currency,
            vec![
                Posting::debit(
                    format!("Assets:Receivables:{segment}"),
                    revenue_delta,
                    &what,
                ),
                Posting::credit(format!("Income:Sales:{segment}"), revenue_delta, &what),
            ],
        )?;
    }
    if commission_delta != 0 {
        let description = if commission_delta > 0 {
            format!("Commission accrued: {what}")
        } else {
            format!("Commission reversed: {what}")
        };
        fold.post(
            &description,
            currency,
            vec![
                Posting::debit(
                    format!("Expenses:Commission:{segment}"),
                    commission_delta,
                    &what,
                ),
                Posting::credit(
                    format!("Liabilities:CommissionPayable:{segment}"),
                    commission_delta,
                    &what,
                ),
            ],
        )?;
    }
    Ok(())
}

/// Seed 004's sales-order payload, plus `order_number` and the amount in all three forms.
fn sales_order_payload(order: &Order, reason: Option<String>) -> Json {
    let mut fields = vec![
        ("order_id", Json::str(order.sales_order_id.to_string())),
        ("order_number", Json::str(order.reference.clone())),
        ("source", Json::str(order.source.clone())),
        ("status", Json::str(order.sales_order_status.clone())),
        (
            "customer_id",
            order.customer_id.clone().map(Json::str).into(),
        ),
        (
            "customer_name",
            order.customer_name.clone().map(Json::str).into(),
        ),
        (
            "items_count",
            Json::int(if order.fields.contains_key("product") {
                1
            } else {
                0
            }),
        ),
    ];
    fields.extend(amount_fields(order.amount_minor, order.currency));
    if let Some(reason) = reason {
        fields.push(("reason", Json::str(reason)));
    }
    Json::object(fields)
}

/// `amount` (major units), `amount_minor` and `currency`, as every outbound payload carries them.
pub fn amount_fields(
    amount_minor: Option<i64>,
    currency: Option<Currency>,
) -> Vec<(&'static str, Json)> {
    match (amount_minor, currency) {
        (Some(amount), Some(currency)) => vec![
            ("amount", major(amount, currency)),
            ("amount_minor", Json::int(amount)),
            ("currency", Json::str(currency.code())),
        ],
        _ => vec![
            ("amount", Json::Null),
            ("amount_minor", Json::Null),
            ("currency", currency.map(|c| Json::str(c.code())).into()),
        ],
    }
}

/// Seed 003's `order.status_changed` body for any order. `customerId` at the top level and in
/// `orderData`.
fn status_changed_payload(fold: &Fold<'_>, order: &Order, updated_at: Option<String>) -> Json {
    let customer = order.customer_id.clone().map(Json::str).into();
    let mut data = match order.fields.get("orderData") {
        Some(Json::Object(map)) => map.clone(),
        _ => {
            let mut map: BTreeMap<String, Json> = BTreeMap::new();
            for (name, value) in amount_fields(order.amount_minor, order.currency) {
                map.insert(name.to_owned(), value);
            }
            if let (Some(amount), Some(currency)) = (order.amount_minor, order.currency) {
                map.insert("fare".into(), major(amount, currency));
            }
            map.insert("source".into(), Json::str(order.source.clone()));
            map.insert("fields".into(), Json::Object(order.fields.clone()));
            map.insert(
                "createdAt".into(),
                Json::str(domain::time::micros_to_millis(&order.created_at)),
            );
            map
        }
    };
    data.entry("customerId".to_owned())
        .or_insert_with(|| Json::clone(&customer));
    let mut body = vec![
        ("orderId", Json::str(order.reference.clone())),
        ("customerId", customer),
        ("status", order.status.clone().map(Json::str).into()),
        (
            "previousStatus",
            order.previous_status.clone().map(Json::str).into(),
        ),
        (
            "updatedAt",
            Json::str(updated_at.unwrap_or_else(|| fold.timestamp())),
        ),
        ("orderData", Json::Object(data)),
        ("source", Json::str(order.source.clone())),
    ];
    if let Some(details) = order.fields.get("vendorDetails") {
        body.push(("vendorDetails", details.clone()));
    }
    Json::object(body)
}

/// A payment against an order (Stripe, or seed 003's `payment_confirmed`): settles the
/// receivable (or, for an unknown order, is held as unapplied) and emits `payment.received`.
pub fn apply_payment(
    fold: &mut Fold<'_>,
    source: &str,
    reference: &str,
    payment_id: &str,
    amount_minor: i64,
    currency: Currency,
    method: &str,
) -> Result<(), ProjectionError> {
    let order_key = key(source, reference);
    let mut order = fold.get::<Order>(KIND, &order_key)?;
    if let Some(order) = &order {
        if order.payments.iter().any(|p| p.payment_id == payment_id) {
            return Ok(());
        }
    }
    let cash = format!("Assets:Cash:{}", segment(method));
    let counter = match &order {
        Some(o) => format!("Assets:Receivables:{}", segment(&o.source)),
        None => format!("Liabilities:UnappliedPayments:{}", segment(method)),
    };
    let memo = format!("payment {payment_id} for {source} order {reference}");
    fold.post(
        &format!("Payment received: {source} order {reference}"),
        currency,
        vec![
            Posting::debit(cash, amount_minor, &memo),
            Posting::credit(counter, amount_minor, &memo),
        ],
    )?;
    let mut payload = vec![
        ("payment_id", Json::str(payment_id)),
        ("invoice_id", Json::str(reference)),
        ("order_number", Json::str(reference)),
        ("source", Json::str(source)),
        ("payment_method", Json::str(method)),
        ("reference_number", Json::str(payment_id)),
        ("order_known", Json::Bool(order.is_some())),
    ];
    payload.extend(amount_fields(Some(amount_minor), Some(currency)));
    fold.emit(
        "payment.received",
        &[Destination::Subscribers],
        &Json::object(payload),
    )?;
    if let Some(order) = order.as_mut() {
        order.payments.push(Payment {
            seq: fold.event.seq,
            payment_id: payment_id.to_owned(),
            amount_minor,
            currency,
            method: method.to_owned(),
        });
        order.updated_seq = fold.event.seq;
        order.updated_at = fold.event.recorded_at.clone();
        fold.put(KIND, &order_key, order.clone())?;
    }
    Ok(())
}

/// Stripe's `payment_intent.succeeded` / `payment_intent.payment_failed`.
pub fn stripe(
    fold: &mut Fold<'_>,
    intent: &StripePaymentIntent,
    succeeded: bool,
) -> Result<(), ProjectionError> {
    let reference = intent.order_number.clone().unwrap_or_default();
    let doc = Json::object([
        (
            "payment_intent_id",
            Json::str(intent.payment_intent_id.clone()),
        ),
        ("event_id", Json::str(intent.event_id.clone())),
        (
            "status",
            Json::str(if succeeded { "succeeded" } else { "failed" }),
        ),
        ("amount_minor", Json::int(intent.amount_minor)),
        ("currency", Json::str(intent.currency.code())),
        ("order_source", Json::str(intent.order_source.clone())),
        (
            "order_number",
            intent.order_number.clone().map(Json::str).into(),
        ),
        (
            "failure_message",
            intent.failure_message.clone().map(Json::str).into(),
        ),
        ("seq", Json::int(fold.event.seq as i64)),
    ]);
    fold.put("payment", &intent.payment_intent_id, doc)?;
    if succeeded {
        return apply_payment(
            fold,
            &intent.order_source,
            &reference,
            &intent.payment_intent_id,
            intent.amount_minor,
            intent.currency,
            "stripe",
        );
    }
    let mut payload = vec![
        ("payment_id", Json::str(intent.payment_intent_id.clone())),
        ("invoice_id", Json::str(reference.clone())),
        ("order_number", Json::str(reference)),
        ("source", Json::str(intent.order_source.clone())),
        (
            "reason",
            Json::str(
                intent
                    .failure_message
                    .clone()
                    .unwrap_or_else(|| "Payment failed".into()),
            ),
        ),
        (
            "error_code",
            intent.failure_code.clone().map(Json::str).into(),
        ),
    ];
    payload.extend(amount_fields(
        Some(intent.amount_minor),
        Some(intent.currency),
    ));
    fold.emit(
        "payment.failed",
        &[Destination::Subscribers],
        &Json::object(payload),
    )
}
