//! Subscriptions (seed 004's `{url, event, secret}`) and the admin's delivery operations:
//! create, delete, rotate a secret, re-queue a dead delivery, redeliver everything for a
//! subscription since a `seq`.
//!
//! A subscription receives the events recorded after it was created: it stores the log's head
//! `seq` at creation, taken inside the writer's transaction, and matches rows with a larger one.

use std::time::Duration;

use chrono::Utc;
use store::delivery::{self, delivery_status, subscription_status, Requeue, Subscription};
use store::{Store, Writer};

use crate::body::{self, destination};
use crate::guard::AddressGuard;
use crate::signing::{generate_secret, validate_secret};
use crate::worker::{new_delivery, read, write};
use crate::{delivery_id, OutboundError};

/// Event patterns longer than this are refused.
pub const EVENT_BYTES_MAX: usize = 200;
/// Outbox rows one bulk redelivery re-queues at most; the answer says where to continue.
pub const REDELIVER_ROWS_MAX: u32 = 10_000;
/// The default grace period of a rotated-out secret.
pub const ROTATION_GRACE_DEFAULT: Duration = Duration::from_secs(24 * 3600);
/// The longest grace period accepted.
pub const ROTATION_GRACE_MAX: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// Handling: 400 with the message.
    #[error("{0}")]
    Invalid(String),
    /// Handling: 404.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The target is not in a state that allows the operation. Handling: 409 with the message.
    #[error("{0}")]
    Conflict(String),
    /// Handling: 500 (503 when the writer is busy).
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

impl From<store::StoreError> for SubscriptionError {
    fn from(e: store::StoreError) -> Self {
        SubscriptionError::Outbound(e.into())
    }
}

/// Whether a subscription's `pattern` (`*`, `prefix.*`, or an exact name) matches `event`.
pub fn event_matches(pattern: &str, event: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => event.starts_with(prefix),
        _ => pattern == event,
    }
}

/// Every outbound event name (`docs/outbound-events.md`): seed 004's seven, seed 003's, seed
/// 002's two, and the project's own.
pub const EVENT_NAMES: [&str; 13] = [
    "payment.received",
    "payment.failed",
    "customer.created",
    "customer.updated",
    "sales_order.created",
    "sales_order.confirmed",
    "sales_order.cancelled",
    "order.status_changed",
    "shopOrder.create.requested",
    "shopOrder.completion.requested",
    "work_order.created",
    "work_order.status_changed",
    "journal_entry.posted",
];

/// Checks an event pattern: `*`, a known event name, or a prefix (`work_order.*`) that matches
/// at least one, so that a misspelt name is refused rather than silently never delivered.
pub fn validate_event(pattern: &str) -> Result<(), String> {
    let valid_chars = pattern
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*'));
    let star_ok = match pattern.find('*') {
        None => true,
        Some(at) => at == pattern.len() - 1 && (pattern == "*" || pattern.ends_with(".*")),
    };
    if pattern.is_empty() || pattern.len() > EVENT_BYTES_MAX || !valid_chars || !star_ok {
        return Err(format!(
            "event: {pattern:?} is not an event name (payment.received), a prefix (work_order.*) or *"
        ));
    }
    if !EVENT_NAMES.iter().any(|name| event_matches(pattern, name)) {
        return Err(format!(
            "event: {pattern:?} names no event hookledger sends; one of *, {} (or a prefix such as work_order.*)",
            EVENT_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub url: String,
    pub event: String,
    /// Generated (`whsec_…`) when absent.
    pub secret: Option<String>,
    pub ordered: bool,
}

/// Validates and stores a subscription; the answer carries its secret (shown once).
pub async fn create(
    writer: &Writer,
    guard: &AddressGuard,
    tenant: &str,
    new: NewSubscription,
) -> Result<Subscription, SubscriptionError> {
    let template = validated(guard, tenant, new).await?;
    let created = write(writer, move |ctx| {
        let subscription = Subscription {
            created_after_seq: ctx.head_seq(),
            ..template.clone()
        };
        ctx.deliveries().insert_subscription(&subscription)?;
        Ok(subscription)
    })
    .await?;
    Ok(created)
}

/// The subscription `new` asks for, validated, with its secret (generated when absent) and a
/// new id; its `created_after_seq` is for the caller to set, to the log's head as it stores it.
pub async fn validated(
    guard: &AddressGuard,
    tenant: &str,
    new: NewSubscription,
) -> Result<Subscription, SubscriptionError> {
    validate_event(&new.event).map_err(SubscriptionError::Invalid)?;
    let secret = match new.secret {
        Some(secret) => {
            validate_secret(&secret).map_err(SubscriptionError::Invalid)?;
            secret
        }
        None => generate_secret(),
    };
    // Last, because it may wait for DNS.
    let url = guard
        .check_url(&new.url)
        .await
        .map_err(|e| SubscriptionError::Invalid(format!("url: {e}")))?;
    Ok(Subscription {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: tenant.to_owned(),
        url: url.to_string(),
        event: new.event,
        secret,
        previous_secret: None,
        previous_secret_expires_at: None,
        ordered: new.ordered,
        created_at: domain::time::format_micros(Utc::now()),
        created_after_seq: 0,
        status: subscription_status::ACTIVE.to_owned(),
        status_reason: None,
        status_changed_at: None,
        failing_since: None,
    })
}

/// Why a deleted subscription's pending deliveries ended dead (their `last_error`).
pub const DELETED_REASON: &str = "subscription deleted";

/// Deletes a subscription: it receives nothing more, and its pending deliveries end as dead.
pub async fn delete(writer: &Writer, id: &str) -> Result<(), SubscriptionError> {
    let id = id.to_owned();
    let now = domain::time::format_micros(Utc::now());
    let deleted = write(writer, move |ctx| {
        ctx.deliveries()
            .end_subscription(&id, subscription_status::DELETED, DELETED_REASON, &now)
    })
    .await?;
    deleted
        .then_some(())
        .ok_or(SubscriptionError::NotFound("subscription"))
}

/// A rotated secret.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub id: String,
    pub secret: String,
    /// Until then the old secret signs too (a second `webhook-signature`).
    pub previous_secret_expires_at: String,
}

/// Replaces a subscription's secret (generated when `secret` is absent); the old one keeps
/// signing for `grace`.
pub async fn rotate(
    writer: &Writer,
    id: &str,
    secret: Option<String>,
    grace: Duration,
) -> Result<Rotated, SubscriptionError> {
    let rotated = rotation(id, secret, grace)?;
    let (job_id, job_secret, job_expires) = (
        id.to_owned(),
        rotated.secret.clone(),
        rotated.previous_secret_expires_at.clone(),
    );
    let done = write(writer, move |ctx| {
        ctx.deliveries()
            .rotate_secret(&job_id, &job_secret, &job_expires)
    })
    .await?;
    if !done {
        return Err(SubscriptionError::NotFound("subscription"));
    }
    Ok(rotated)
}

/// The rotation asked for, validated: the new secret (generated when `secret` is absent) and
/// until when the old one signs too. The caller stores it.
pub fn rotation(
    id: &str,
    secret: Option<String>,
    grace: Duration,
) -> Result<Rotated, SubscriptionError> {
    if grace > ROTATION_GRACE_MAX {
        return Err(SubscriptionError::Invalid(format!(
            "grace_period_seconds: at most {}",
            ROTATION_GRACE_MAX.as_secs()
        )));
    }
    let secret = match secret {
        Some(secret) => {
            validate_secret(&secret).map_err(SubscriptionError::Invalid)?;
            secret
        }
        None => generate_secret(),
    };
    let expires = Utc::now() + chrono::Duration::from_std(grace).unwrap_or_default();
    let expires = domain::time::format_micros(expires);
    Ok(Rotated {
        id: id.to_owned(),
        secret,
        previous_secret_expires_at: expires,
    })
}

/// Re-queues a dead delivery with a fresh retry schedule.
pub async fn retry_delivery(writer: &Writer, id: &str) -> Result<(), SubscriptionError> {
    let id = id.to_owned();
    let now = domain::time::format_micros(Utc::now());
    let outcome = write(writer, move |ctx| ctx.deliveries().requeue_dead(&id, &now)).await?;
    requeued(outcome)
}

/// What a retry of a delivery answers, by what re-queueing it found.
pub fn requeued(outcome: Requeue) -> Result<(), SubscriptionError> {
    match outcome {
        Requeue::Requeued => Ok(()),
        Requeue::NotFound => Err(SubscriptionError::NotFound("delivery")),
        Requeue::NotDead => Err(SubscriptionError::Conflict(
            "only a dead delivery can be retried; this one is pending or delivered".into(),
        )),
    }
}

/// What a bulk redelivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redelivered {
    /// Settled deliveries put back in the queue.
    pub requeued: u64,
    /// Deliveries created for rows the subscription had not received (older than it, say).
    pub created: u64,
    /// Deliveries already pending, left as they were.
    pub pending: u64,
    /// Set when the row limit was reached: call again from this `seq`.
    pub next_since_seq: Option<u64>,
}

/// Sends everything for a subscription again from `since_seq` on: every `subscribers` outbox
/// row whose event it matches, whether it was delivered, dead, or never sent to it.
pub async fn redeliver_since(
    store: &Store,
    writer: &Writer,
    id: &str,
    since_seq: u64,
) -> Result<Redelivered, SubscriptionError> {
    let sub_id = id.to_owned();
    let subscription =
        redeliverable(read(store, move |conn| delivery::subscription(conn, &sub_id)).await?)?;
    let now = domain::time::format_micros(Utc::now());
    let report = write(writer, move |ctx| {
        let tx = ctx.deliveries();
        let rows = delivery::outbox_of_destination_since(
            tx.conn(),
            destination::SUBSCRIBERS,
            since_seq,
            REDELIVER_ROWS_MAX,
        )?;
        let mut statuses = std::collections::HashMap::new();
        for id in redelivery_ids(&subscription, &rows) {
            if let Some(found) = delivery::delivery(tx.conn(), &id)? {
                statuses.insert(id, found.status);
            }
        }
        let plan = plan_redelivery(&subscription, &rows, &statuses, &now);
        let mut report = Redelivered {
            pending: plan.pending,
            next_since_seq: plan.next_since_seq,
            ..Redelivered::default()
        };
        for id in &plan.requeue {
            report.requeued += u64::from(tx.requeue(id, &now)?);
        }
        for new in &plan.new {
            report.created += u64::from(tx.insert_delivery(new)?);
        }
        Ok(report)
    })
    .await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exactly_by_prefix_or_all() {
        assert!(event_matches("*", "payment.received"));
        assert!(event_matches("payment.received", "payment.received"));
        assert!(!event_matches("payment.received", "payment.failed"));
        assert!(event_matches("work_order.*", "work_order.created"));
        assert!(!event_matches("work_order.*", "work_orders.created"));
        for ok in [
            "*",
            "payment.received",
            "work_order.*",
            "shopOrder.create.requested",
        ] {
            assert!(validate_event(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "pay*",
            "a b",
            "*.x",
            "**",
            "payment.recieved",
            "Payment.received",
            "invoice.*",
        ] {
            assert!(validate_event(bad).is_err(), "{bad}");
        }
    }
}

/// The subscription a bulk redelivery may go to: it exists, is not deleted (404) and is active
/// (409 otherwise, with its status and reason).
pub fn redeliverable(found: Option<Subscription>) -> Result<Subscription, SubscriptionError> {
    let subscription = found
        .filter(|s| s.status != subscription_status::DELETED)
        .ok_or(SubscriptionError::NotFound("subscription"))?;
    if subscription.status != subscription_status::ACTIVE {
        return Err(SubscriptionError::Conflict(format!(
            "the subscription is {}: {}",
            subscription.status,
            subscription.status_reason.as_deref().unwrap_or("")
        )));
    }
    Ok(subscription)
}

/// What a bulk redelivery does with a page of `subscribers` outbox rows, given the status of
/// each delivery of them to the subscription that exists (for a backend that reads them first
/// and applies the plan in one transaction: PostgreSQL's).
#[derive(Debug, Clone, Default)]
pub struct RedeliveryPlan {
    /// Settled deliveries to put back in the queue.
    pub requeue: Vec<String>,
    /// Deliveries of rows the subscription never had.
    pub new: Vec<delivery::Delivery>,
    /// Deliveries already pending, left as they are.
    pub pending: u64,
    /// Set when the page was full: the next page starts there.
    pub next_since_seq: Option<u64>,
}

/// The ids of the deliveries of `rows` that `subscription` matches.
pub fn redelivery_ids(
    subscription: &Subscription,
    rows: &[store::projection::OutboxRow],
) -> Vec<String> {
    rows.iter()
        .filter(|r| event_matches(&subscription.event, &r.event))
        .map(|r| delivery_id(&r.id, &subscription.id))
        .collect()
}

/// Plans a bulk redelivery of `rows` (a page of at most [`REDELIVER_ROWS_MAX`]) to
/// `subscription`, as [`redeliver_since`] does it on SQLite.
pub fn plan_redelivery(
    subscription: &Subscription,
    rows: &[store::projection::OutboxRow],
    statuses: &std::collections::HashMap<String, String>,
    now: &str,
) -> RedeliveryPlan {
    let mut plan = RedeliveryPlan::default();
    if rows.len() as u32 == REDELIVER_ROWS_MAX {
        plan.next_since_seq = rows.last().map(|r| r.seq + 1);
    }
    for row in rows
        .iter()
        .filter(|r| event_matches(&subscription.event, &r.event))
    {
        let id = delivery_id(&row.id, &subscription.id);
        match statuses.get(&id).map(String::as_str) {
            Some(delivery_status::PENDING) => plan.pending += 1,
            Some(_) => plan.requeue.push(id),
            None => plan.new.push(new_delivery(
                row,
                &subscription.id,
                Some(&subscription.id),
                &subscription.tenant,
                body::subscriber(row),
                now,
            )),
        }
    }
    plan
}
