//! Pure projectors: they fold the event log into the read models (orders, work orders, catalog,
//! customers, the double-entry journal) and the outbox of outbound events.
//!
//! # Layout
//! - [`apply`]: folds one stored event into every projection. The writer calls it inside the
//!   append's savepoint; `replay` calls it, unchanged, for every event from `seq` 1.
//! - [`check`]: decisions against state that must refuse a request before anything is appended
//!   (seed 002's `WORK_ORDER_NOT_FOUND`, `PRODUCT_NOT_FOUND`).
//! - [`record`]: the writer's step for one inbound request (check, append, apply, respond).
//! - [`respond`]: the dialect's success body for an appended (or duplicate) event, read from the
//!   projections (`workOrderId`, seed 001's integer `order_id`…).
//!
//! # The determinism rule
//! Projectors never read the clock (they use the event's `recorded_at`), never draw random ids
//! (ids are UUIDv5 of the causing event's id and a role: [`domain::derive_id`]), and never look at
//! configuration or anything outside the log. Then replay gives the same digest as the live
//! service.

pub mod catalog;
pub mod customers;
pub mod fold;
pub mod orders;
mod respond;
pub mod work_orders;

use domain::payloads::{
    AccountingOrderStatusReported, EventPayload, ExactBatchNumbersAssigned, ExactCustomersSynced,
    ExactProductsSynced, ExactShopOrderSynced, RomsOrderReceived, StripePaymentIntentFailed,
    StripePaymentIntentSucceeded, VendorOrderStatusReported,
};
use domain::{Event, Json, NewEvent};
use fold::Fold;
use store::{ProjectionTx, StoreError, WriteCtx};

/// The posting rules' version, recorded on every journal entry so that a changed rule can be
/// replayed over old facts.
pub const RULES_VERSION: u32 = 1;

/// Why a projector failed. Handling: the request's savepoint is rolled back and it is answered
/// 500; in replay, the replay stops naming the `seq`.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored payload does not match its type (a bug, or an unknown `type_version`).
    #[error("event {seq} ({event_type}): {message}")]
    Payload {
        seq: u64,
        event_type: String,
        message: String,
    },
    /// A journal entry did not balance: a bug in a posting rule.
    #[error("event {seq}: unbalanced journal entry {entry}")]
    Unbalanced { seq: u64, entry: String },
}

/// Codes of [`StateRejection`] (seed 002's codes for state decisions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateCode {
    WorkOrderNotFound,
    ProductNotFound,
}

/// A request refused because of the current state. Handling: 404 with the dialect's body; nothing
/// is appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StateRejection {
    pub code: StateCode,
    pub message: String,
}

/// Folds one stored event into every projection.
pub fn apply(tx: ProjectionTx<'_>, event: &Event) -> Result<(), ProjectionError> {
    let mut fold = Fold::new(tx, event);
    match event.event_type.as_str() {
        AccountingOrderStatusReported::TYPE => orders::accounting(&mut fold),
        RomsOrderReceived::TYPE => orders::roms(&mut fold),
        VendorOrderStatusReported::TYPE => orders::vendor(&mut fold),
        ExactProductsSynced::TYPE => catalog::products_synced(&mut fold),
        ExactCustomersSynced::TYPE => customers::customers_synced(&mut fold),
        ExactShopOrderSynced::TYPE => work_orders::shop_order_synced(&mut fold).map(|_| ()),
        ExactBatchNumbersAssigned::TYPE => work_orders::batch_numbers_assigned(&mut fold),
        StripePaymentIntentSucceeded::TYPE => {
            let StripePaymentIntentSucceeded(intent) = fold.payload()?;
            orders::stripe(&mut fold, &intent, true)
        }
        StripePaymentIntentFailed::TYPE => {
            let StripePaymentIntentFailed(intent) = fold.payload()?;
            orders::stripe(&mut fold, &intent, false)
        }
        // Recorded facts with no effect on the read models (other Stripe events, and types a
        // newer build may add: replaying them under this build changes nothing).
        _ => Ok(()),
    }
}

/// Refuses a request that the current state makes impossible, before it is appended.
pub fn check(tx: ProjectionTx<'_>, event: &NewEvent) -> Result<(), StateRejection> {
    let parse_error = |e: serde_json::Error| StateRejection {
        code: StateCode::WorkOrderNotFound,
        message: format!("unreadable payload: {e}"),
    };
    match event.event_type.as_str() {
        ExactShopOrderSynced::TYPE => {
            let p: ExactShopOrderSynced =
                serde_json::from_str(&event.payload.canonical()).map_err(parse_error)?;
            catalog::check_shop_order(tx, &p)
        }
        ExactBatchNumbersAssigned::TYPE => {
            let p: ExactBatchNumbersAssigned =
                serde_json::from_str(&event.payload.canonical()).map_err(parse_error)?;
            work_orders::check_batch_numbers(tx, &p)
        }
        _ => Ok(()),
    }
}

/// The dialect's success body for `event` (the new event, or the original of a duplicate).
pub fn respond(tx: ProjectionTx<'_>, event: &Event) -> Result<Json, ProjectionError> {
    respond::respond(tx, event)
}

/// What recording one request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The `seq` of the (last) event: the new one, or the original's for a duplicate.
    pub seq: u64,
    /// True when every event was already recorded: nothing was appended.
    pub duplicate: bool,
    /// The dialect's success body.
    pub body: Json,
}

/// Why a request was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Refused by the current state (404 with the dialect's code); nothing appended.
    #[error(transparent)]
    Rejected(#[from] StateRejection),
    /// A projector or the store failed (500); the job's savepoint rolls back.
    #[error(transparent)]
    Failed(#[from] ProjectionError),
}

/// The writer's step for one inbound request: for each event, decide against state
/// ([`check`]), append (duplicates are skipped), fold the new event into the projections
/// ([`apply`]), and build the dialect's answer ([`respond`]). Returning `Err` makes the writer
/// roll the whole request back.
pub fn record(ctx: &mut WriteCtx<'_>, events: &[NewEvent]) -> Result<Recorded, RecordError> {
    let mut last: Option<(store::Appended, Event)> = None;
    let mut all_duplicates = true;
    for new in events {
        check(ctx.projections(), new)?;
        let (appended, event) = ctx.append(new).map_err(ProjectionError::from)?;
        if !appended.duplicate {
            all_duplicates = false;
            apply(ctx.projections(), &event)?;
        }
        last = Some((appended, event));
    }
    let Some((appended, event)) = last else {
        return Err(RecordError::Failed(ProjectionError::Payload {
            seq: ctx.head_seq(),
            event_type: String::new(),
            message: "a request with no events".into(),
        }));
    };
    Ok(Recorded {
        seq: appended.seq,
        duplicate: all_duplicates,
        body: respond(ctx.projections(), &event)?,
    })
}

/// An order by source and upstream reference (`GET /api/orders/{source}/{ref}`).
pub fn order(
    tx: ProjectionTx<'_>,
    source: &str,
    reference: &str,
) -> Result<Option<orders::Order>, ProjectionError> {
    fold::get(tx, orders::KIND, &orders::key(source, reference))
}

/// A Stripe payment by payment-intent id (`GET /api/orders/stripe/{pi}`).
pub fn payment(
    tx: ProjectionTx<'_>,
    payment_intent_id: &str,
) -> Result<Option<Json>, ProjectionError> {
    fold::get(tx, "payment", payment_intent_id)
}

/// A work order by id (`GET /api/work-orders/{id}`).
pub fn work_order(
    tx: ProjectionTx<'_>,
    id: &str,
) -> Result<Option<work_orders::WorkOrder>, ProjectionError> {
    fold::get(tx, work_orders::KIND, id)
}
