//! Work orders: created by seed 000's `processing`, attached to Exact's shop orders by seed 002's
//! `sync_exact_work_order`, given batch numbers by `assign_batch_numbers`, completed by seed 000's
//! `completed`.
//!
//! Lifecycle (seed 002's status flow): `pending` (no shop order yet) → `planned` (has SO#,
//! materials pending) → `materials_partial` → `ready` (materials complete) → `in_progress`
//! (materials complete and production dates set) → `completed`; `cancelled` from any state.

use std::collections::BTreeMap;

use domain::payloads::{ExactBatchNumbersAssigned, ExactShopOrderSynced, MaterialsIssuedStatus};
use domain::{derive_id, Json};
use serde::{Deserialize, Serialize};
use store::ProjectionTx;
use uuid::Uuid;

use crate::fold::{get, stream_id, Destination, Fold};
use crate::orders::{Order, COUNTER};
use crate::{ProjectionError, StateCode, StateRejection};

pub const KIND: &str = "work_order";
/// Index documents: `wo_number` → work order id, Exact's shop order number → work order id.
const BY_WO_NUMBER: &str = "work_order_by_wo_number";
const BY_SHOP_ORDER: &str = "work_order_by_shop_order";
/// The counter document holding the last `PENDING-<ms>` number given to a work order.
const PENDING_COUNTER: &str = "work_order.pending_number";

/// One production item of a work order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub position_in_batch: i64,
    pub serial_number: Option<String>,
    pub batch_number: String,
    pub materials: Option<Json>,
    pub assigned_seq: u64,
}

/// The work order read model (`GET /api/work-orders/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkOrder {
    pub id: Uuid,
    pub wo_number: Option<String>,
    pub status: String,
    pub materials_issued_status: Option<String>,
    pub exact_shop_order_number: Option<String>,
    pub exact_shop_order_link: Option<String>,
    pub product: Option<Json>,
    pub batch_size: i64,
    pub customer: Option<Json>,
    pub planned_start_date: Option<String>,
    pub planned_end_date: Option<String>,
    pub materials_summary: Option<Json>,
    pub notes: Option<String>,
    /// The order it was made for (`{source, ref}`), if any.
    pub order: Option<Json>,
    pub items: Vec<Item>,
    pub created_seq: u64,
    pub updated_seq: u64,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<Json>,
}

fn new_work_order(fold: &Fold<'_>, id: Uuid) -> WorkOrder {
    WorkOrder {
        id,
        wo_number: None,
        status: "pending".into(),
        materials_issued_status: None,
        exact_shop_order_number: None,
        exact_shop_order_link: None,
        product: None,
        batch_size: 1,
        customer: None,
        planned_start_date: None,
        planned_end_date: None,
        materials_summary: None,
        notes: None,
        order: None,
        items: Vec::new(),
        created_seq: fold.event.seq,
        updated_seq: fold.event.seq,
        created_at: fold.event.recorded_at.clone(),
        updated_at: fold.event.recorded_at.clone(),
        history: Vec::new(),
    }
}

fn load(tx: ProjectionTx<'_>, id: &str) -> Result<Option<WorkOrder>, ProjectionError> {
    get(tx, KIND, id)
}

/// The work order that an Exact request names: by `work_order_id`, else by shop order number.
fn find(
    tx: ProjectionTx<'_>,
    work_order_id: Option<&str>,
    shop_order: Option<&str>,
) -> Result<Option<WorkOrder>, ProjectionError> {
    if let Some(id) = work_order_id {
        if let Some(wo) = load(tx, id)? {
            return Ok(Some(wo));
        }
    }
    if let Some(number) = shop_order {
        if let Some(id) = get::<String>(tx, BY_SHOP_ORDER, number)? {
            return load(tx, &id);
        }
    }
    Ok(None)
}

/// The status implied by the materials and dates, never moving a finished order back.
fn derived_status(wo: &WorkOrder) -> String {
    if matches!(wo.status.as_str(), "completed" | "cancelled") {
        return wo.status.clone();
    }
    if wo.exact_shop_order_number.is_none() {
        return "pending".into();
    }
    match wo.materials_issued_status.as_deref() {
        Some("complete") if wo.planned_start_date.is_some() && wo.planned_end_date.is_some() => {
            "in_progress".into()
        }
        Some("complete") => "ready".into(),
        Some("partial") => "materials_partial".into(),
        _ => "planned".into(),
    }
}

/// Saves a work order, recording and emitting a status change when there is one.
fn save(
    fold: &mut Fold<'_>,
    mut wo: WorkOrder,
    created: bool,
    status: String,
) -> Result<(), ProjectionError> {
    let previous = wo.status.clone();
    wo.updated_seq = fold.event.seq;
    wo.updated_at = fold.event.recorded_at.clone();
    if created || previous != status {
        wo.history.push(Json::object([
            ("seq", Json::int(fold.event.seq as i64)),
            ("recorded_at", Json::str(fold.event.recorded_at.clone())),
            ("status", Json::str(status.clone())),
            (
                "previous_status",
                if created {
                    Json::Null
                } else {
                    Json::str(previous.clone())
                },
            ),
        ]));
    }
    wo.status = status.clone();
    let summary = Json::object([
        ("work_order_id", Json::str(wo.id.to_string())),
        ("wo_number", wo.wo_number.clone().map(Json::str).into()),
        (
            "exact_shop_order_number",
            wo.exact_shop_order_number.clone().map(Json::str).into(),
        ),
        ("status", Json::str(status.clone())),
        (
            "previous_status",
            if created {
                Json::Null
            } else {
                Json::str(previous.clone())
            },
        ),
        (
            "materials_issued_status",
            wo.materials_issued_status.clone().map(Json::str).into(),
        ),
    ]);
    if created {
        fold.emit("work_order.created", &[Destination::Subscribers], &summary)?;
    } else if previous != status {
        fold.emit(
            "work_order.status_changed",
            &[Destination::Subscribers],
            &summary,
        )?;
    }
    if let Some(number) = &wo.wo_number {
        fold.put(BY_WO_NUMBER, number, wo.id.to_string())?;
    }
    if let Some(number) = &wo.exact_shop_order_number {
        fold.put(BY_SHOP_ORDER, number, wo.id.to_string())?;
    }
    fold.put(KIND, &wo.id.to_string(), wo.clone())
}

/// Seed 000 `processing`: the order's work order, created once, with a `PENDING-…` number; asks
/// Exact (through Zapier) to create the shop order.
pub fn create_for_order(fold: &mut Fold<'_>, order: &mut Order) -> Result<(), ProjectionError> {
    if order.work_order_id.is_some() {
        return Ok(());
    }
    let id = derive_id(&stream_id(&fold.event.stream), "work_order");
    let recorded = chrono::DateTime::parse_from_rfc3339(&fold.event.recorded_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    // The number is the first free `PENDING-<ms>` from the event's millisecond on, so two orders
    // processed in the same millisecond still get distinct numbers, in log order. Numbers are
    // never released and `recorded_at` never decreases, so every number from the last one
    // given back to this millisecond is taken: the search starts after the last one given
    // (a counter) instead of probing each taken number again. Without it, a burst of more
    // work orders per second than a thousand puts the numbers ahead of the clock and every
    // new work order probes the whole lead (quadratic; 26% of a replay's time in the mixed
    // workload at 100k events).
    let last = fold.get::<i64>(COUNTER, PENDING_COUNTER)?;
    let mut millis = match last {
        Some(last) if last >= recorded => last + 1,
        _ => recorded,
    };
    while fold
        .get::<String>(BY_WO_NUMBER, &format!("PENDING-{millis}"))?
        .is_some()
    {
        millis += 1;
    }
    fold.put(COUNTER, PENDING_COUNTER, millis)?;
    let mut wo = new_work_order(fold, id);
    wo.wo_number = Some(format!("PENDING-{millis}"));
    wo.order = Some(Json::object([
        ("source", Json::str(order.source.clone())),
        ("ref", Json::str(order.reference.clone())),
    ]));
    wo.notes = Some(format!("{} order {}", order.source, order.reference));
    order.work_order_id = Some(id);
    let request = Json::object([
        ("work_order_id", Json::str(id.to_string())),
        ("wo_number", wo.wo_number.clone().map(Json::str).into()),
        ("product", Json::Null),
        ("batch_size", Json::int(wo.batch_size)),
        ("planned_start_date", Json::Null),
        ("planned_end_date", Json::Null),
        ("notes", wo.notes.clone().map(Json::str).into()),
    ]);
    save(fold, wo, true, "pending".into())?;
    fold.emit(
        "shopOrder.create.requested",
        &[Destination::Zapier, Destination::Subscribers],
        &request,
    )
}

/// Seed 000 `completed`: completes the order's work order and asks Exact to complete the shop
/// order, with its items.
pub fn complete_for_order(fold: &mut Fold<'_>, order: &Order) -> Result<(), ProjectionError> {
    let Some(wo) = unfinished_work_order(fold, order)? else {
        return Ok(());
    };
    let completed_at = fold.timestamp();
    let items: Vec<Json> = wo
        .items
        .iter()
        .map(|item| {
            Json::object([
                (
                    "serial_number",
                    item.serial_number.clone().map(Json::str).into(),
                ),
                ("batch_number", Json::str(item.batch_number.clone())),
                ("completed_at", Json::str(completed_at.clone())),
            ])
        })
        .collect();
    let completed_items = if items.is_empty() {
        wo.batch_size
    } else {
        items.len() as i64
    };
    let request = Json::object([
        ("work_order_id", Json::str(wo.id.to_string())),
        (
            "exact_shop_order_number",
            wo.exact_shop_order_number.clone().map(Json::str).into(),
        ),
        ("completed_items", Json::int(completed_items)),
        ("completion_date", Json::str(completed_at)),
        ("items", Json::Array(items)),
    ]);
    inventory_memo(fold, &wo, "finished_goods_received", completed_items)?;
    save(fold, wo, false, "completed".into())?;
    fold.emit(
        "shopOrder.completion.requested",
        &[Destination::Zapier, Destination::Subscribers],
        &request,
    )
}

/// Seed 000 `cancelled`: cancels the order's work order (a completed one stays completed).
pub fn cancel_for_order(fold: &mut Fold<'_>, order: &Order) -> Result<(), ProjectionError> {
    let Some(wo) = unfinished_work_order(fold, order)? else {
        return Ok(());
    };
    save(fold, wo, false, "cancelled".into())
}

/// The order's work order, unless it has none or it is already completed (a completed work
/// order is neither completed again nor cancelled).
fn unfinished_work_order(
    fold: &Fold<'_>,
    order: &Order,
) -> Result<Option<WorkOrder>, ProjectionError> {
    let Some(id) = order.work_order_id else {
        return Ok(None);
    };
    Ok(load(fold.tx, &id.to_string())?.filter(|wo| wo.status != "completed"))
}

/// Seed 002 `sync_exact_work_order`: attaches the shop order to the pending work order its
/// `wo_number` names, or updates the one already attached, or creates one.
pub fn shop_order_synced(fold: &mut Fold<'_>) -> Result<Uuid, ProjectionError> {
    let p: ExactShopOrderSynced = fold.payload()?;
    let by_number = match &p.wo_number {
        Some(number) => match fold.get::<String>(BY_WO_NUMBER, number)? {
            Some(id) => load(fold.tx, &id)?,
            None => None,
        },
        None => None,
    };
    let existing = match by_number {
        Some(wo) => Some(wo),
        None => find(fold.tx, None, Some(&p.exact_shop_order_number))?,
    };
    let created = existing.is_none();
    let mut wo = match existing {
        Some(wo) => wo,
        None => new_work_order(
            fold,
            derive_id(&stream_id(&fold.event.stream), "work_order"),
        ),
    };
    if wo.wo_number.is_none() {
        wo.wo_number = p.wo_number.clone();
    }
    let product_name = fold
        .get::<Json>(crate::catalog::PRODUCT_KIND, &p.product.exact_item_id)?
        .and_then(|doc| doc.get("name").cloned());
    wo.exact_shop_order_number = Some(p.exact_shop_order_number.clone());
    wo.exact_shop_order_link = Some(p.exact_shop_order_link.clone());
    wo.product = Some(Json::object([
        ("exact_item_id", Json::str(p.product.exact_item_id.clone())),
        ("item_code", Json::str(p.product.item_code.clone())),
        ("name", product_name.into()),
    ]));
    wo.batch_size = p.batch_size;
    if let Some(customer) = &p.customer {
        wo.customer = Some(Json::object([
            (
                "exact_customer_id",
                customer.exact_customer_id.clone().map(Json::str).into(),
            ),
            ("name", customer.name.clone().map(Json::str).into()),
        ]));
    }
    wo.planned_start_date = p.planned_start_date.clone().or(wo.planned_start_date);
    wo.planned_end_date = p.planned_end_date.clone().or(wo.planned_end_date);
    if p.materials_summary.is_some() {
        wo.materials_summary = p.materials_summary.clone();
    }
    if let Some(status) = p.materials_issued_status {
        wo.materials_issued_status = Some(status.as_str().to_owned());
    }
    if p.notes.is_some() {
        wo.notes = p.notes.clone();
    }
    let id = wo.id;
    let status = derived_status(&wo);
    save(fold, wo, created, status)?;
    Ok(id)
}

/// Seed 002 `assign_batch_numbers`: items by position, materials status, lifecycle.
pub fn batch_numbers_assigned(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: ExactBatchNumbersAssigned = fold.payload()?;
    let Some(mut wo) = find(
        fold.tx,
        p.work_order_id.as_deref(),
        p.exact_shop_order_number.as_deref(),
    )?
    else {
        // `check` refused this request before it was appended; an old log replayed under a
        // newer rule may still hold one: it changes nothing.
        return Ok(());
    };
    let mut items: BTreeMap<i64, Item> = wo
        .items
        .drain(..)
        .map(|item| (item.position_in_batch, item))
        .collect();
    for assignment in &p.batch_assignments {
        items.insert(
            assignment.position_in_batch,
            Item {
                position_in_batch: assignment.position_in_batch,
                serial_number: assignment.serial_number.clone(),
                batch_number: assignment.batch_number.clone(),
                materials: assignment.materials.clone(),
                assigned_seq: fold.event.seq,
            },
        );
    }
    wo.items = items.into_values().collect();
    let was_complete = wo.materials_issued_status.as_deref() == Some("complete");
    wo.materials_issued_status = Some(p.materials_issued_status.as_str().to_owned());
    if p.materials_issued_status == MaterialsIssuedStatus::Complete && !was_complete {
        inventory_memo(
            fold,
            &wo,
            "materials_issued",
            p.batch_assignments.len() as i64,
        )?;
    }
    let status = derived_status(&wo);
    save(fold, wo, false, status)
}

/// A quantity-only inventory movement (no cost is known in any seed, so nothing is valued and no
/// journal entry is posted; the movement is kept as a memo document).
fn inventory_memo(
    fold: &mut Fold<'_>,
    wo: &WorkOrder,
    movement: &str,
    quantity: i64,
) -> Result<(), ProjectionError> {
    let id = derive_id(&fold.event.id, &format!("inventory:{movement}"));
    let memo = Json::object([
        ("id", Json::str(id.to_string())),
        ("work_order_id", Json::str(wo.id.to_string())),
        ("movement", Json::str(movement)),
        ("quantity", Json::int(quantity)),
        ("product", wo.product.clone().into()),
        ("valued", Json::Bool(false)),
        ("seq", Json::int(fold.event.seq as i64)),
        ("recorded_at", Json::str(fold.event.recorded_at.clone())),
    ]);
    fold.put("inventory_movement", &id.to_string(), memo)
}

/// Refuses `assign_batch_numbers` for an unknown work order.
pub fn check_batch_numbers(
    tx: ProjectionTx<'_>,
    p: &ExactBatchNumbersAssigned,
) -> Result<(), StateRejection> {
    let found = find(
        tx,
        p.work_order_id.as_deref(),
        p.exact_shop_order_number.as_deref(),
    )
    .map_err(|e| StateRejection {
        code: StateCode::WorkOrderNotFound,
        message: format!("cannot read work orders: {e}"),
    })?;
    if found.is_some() {
        return Ok(());
    }
    let named = p
        .work_order_id
        .as_deref()
        .map(|id| format!("work_order_id {id}"))
        .or_else(|| {
            p.exact_shop_order_number
                .as_deref()
                .map(|n| format!("exact_shop_order_number {n}"))
        })
        .unwrap_or_default();
    Err(StateRejection {
        code: StateCode::WorkOrderNotFound,
        message: format!("Work order not found: {named}"),
    })
}

/// The id of the work order an Exact event concerns (for responses).
pub fn id_for_shop_order(
    tx: ProjectionTx<'_>,
    shop_order: &str,
) -> Result<Option<String>, ProjectionError> {
    get(tx, BY_SHOP_ORDER, shop_order)
}
