//! Pure projectors: they fold the event log into the read models (orders, work orders, catalog,
//! customers, the double-entry journal) and the outbox of outbound events.
//!
//! # Layout
//! - [`apply`]: folds one stored event into every projection. The writer calls it inside the
//!   append's savepoint; `replay` calls it, unchanged, for every event from `seq` 1.
//! - [`check`]: decisions against state that must refuse a request before anything is appended
//!   (seed 002's `WORK_ORDER_NOT_FOUND`, `PRODUCT_NOT_FOUND`).
//! - [`respond`]: the dialect's success body for an appended (or duplicate) event, read from the
//!   projections (`workOrderId`, seed 001's integer `order_id`…).
//!
//! # The determinism rule
//! Projectors never read the clock (they use the event's `recorded_at`), never draw random ids
//! (ids are UUIDv5 of the causing event's id and a role: [`domain::derive_id`]), and never look at
//! configuration or anything outside the log. Then replay gives the same digest as the live
//! service.

use domain::{Event, Json, NewEvent};
use store::{ProjectionTx, StoreError};

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
    let _ = (tx, event);
    Ok(())
}

/// Refuses a request that the current state makes impossible, before it is appended.
pub fn check(tx: ProjectionTx<'_>, event: &NewEvent) -> Result<(), StateRejection> {
    let _ = (tx, event);
    Ok(())
}

/// The dialect's success body for `event` (the new event, or the original of a duplicate).
pub fn respond(tx: ProjectionTx<'_>, event: &Event) -> Result<Json, ProjectionError> {
    let _ = tx;
    Ok(Json::object([
        ("success", Json::Bool(true)),
        ("seq", Json::int(event.seq as i64)),
    ]))
}
