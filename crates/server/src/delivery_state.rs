//! Delivery state for the handlers (the API and the console), wherever it lives: in the SQLite
//! file (read on a read-only connection, written through the writer), or in PostgreSQL when the
//! nodes share it (through [`crate::postgres::PgPool`]; a node's working copy holds none).

use actix_web::web;
use outbound::subscriptions::{self, NewSubscription, Redelivered, Rotated, SubscriptionError};
use store::delivery::{subscription_status, Attempt, Delivery, DeliveryFilter, Subscription};

use crate::routes::api::subscriptions::api_error;
use crate::{ApiError, AppState};

/// Deliveries by `filter`, newest event first.
pub async fn deliveries(
    state: &AppState,
    filter: DeliveryFilter,
) -> Result<Vec<Delivery>, ApiError> {
    match &state.postgres {
        Some(pool) => pool.run(move |log| log.deliveries(&filter)).await,
        None => {
            let store = state.store.clone();
            Ok(
                web::block(move || store.read(|conn| store::delivery::deliveries(conn, &filter)))
                    .await??,
            )
        }
    }
}

/// On PostgreSQL, the deliveries of the events at `seqs` (the working copy holds none);
/// `None` on SQLite, where the caller read them with the rest.
pub async fn shared_deliveries_at(
    state: &AppState,
    seqs: Vec<u64>,
) -> Result<Option<Vec<Delivery>>, ApiError> {
    match &state.postgres {
        Some(pool) => Ok(Some(pool.run(move |log| log.deliveries_at(&seqs)).await?)),
        None => Ok(None),
    }
}

/// One delivery with its attempts, if it exists.
pub async fn delivery(
    state: &AppState,
    id: String,
) -> Result<Option<(Delivery, Vec<Attempt>)>, ApiError> {
    match &state.postgres {
        Some(pool) => {
            pool.run(move |log| {
                let Some(delivery) = log.delivery(&id)? else {
                    return Ok(None);
                };
                let attempts = log.attempts(&id)?;
                Ok(Some((delivery, attempts)))
            })
            .await
        }
        None => {
            let store = state.store.clone();
            Ok(web::block(move || {
                store.read(|conn| {
                    let Some(delivery) = store::delivery::delivery(conn, &id)? else {
                        return Ok(None);
                    };
                    let attempts = store::delivery::attempts(conn, &id)?;
                    Ok(Some((delivery, attempts)))
                })
            })
            .await??)
        }
    }
}

/// Every subscription that is not deleted, oldest first.
pub async fn subscriptions(state: &AppState) -> Result<Vec<Subscription>, ApiError> {
    match &state.postgres {
        Some(pool) => pool.run(|log| log.subscriptions()).await,
        None => {
            let store = state.store.clone();
            Ok(web::block(move || store.read(store::delivery::subscriptions)).await??)
        }
    }
}

/// Creates a subscription (400 invalid); it receives the events recorded after it.
pub async fn create_subscription(
    state: &AppState,
    new: NewSubscription,
) -> Result<Subscription, ApiError> {
    let tenant = outbound::default_tenant();
    let Some(pool) = &state.postgres else {
        return subscriptions::create(&state.writer, &state.outbound.guard, &tenant, new)
            .await
            .map_err(api_error);
    };
    // Shared by every node: stored in PostgreSQL, after the log's head there.
    let template = subscriptions::validated(&state.outbound.guard, &tenant, new)
        .await
        .map_err(api_error)?;
    pool.run(move |log| log.insert_subscription(&template))
        .await
}

/// Deletes a subscription and ends its pending deliveries as dead (404 unknown).
pub async fn delete_subscription(state: &AppState, id: String) -> Result<(), ApiError> {
    let Some(pool) = &state.postgres else {
        return subscriptions::delete(&state.writer, &id)
            .await
            .map_err(api_error);
    };
    let now = domain::time::format_micros(chrono::Utc::now());
    let deleted = pool
        .run(move |log| {
            log.end_subscription(
                &id,
                subscription_status::DELETED,
                subscriptions::DELETED_REASON,
                &now,
            )
        })
        .await?;
    found(deleted)
}

/// Rotates a subscription's secret, the old one signing too for `grace` (400 invalid, 404
/// unknown).
pub async fn rotate_secret(
    state: &AppState,
    id: String,
    secret: Option<String>,
    grace: std::time::Duration,
) -> Result<Rotated, ApiError> {
    let Some(pool) = &state.postgres else {
        return subscriptions::rotate(&state.writer, &id, secret, grace)
            .await
            .map_err(api_error);
    };
    let rotated = subscriptions::rotation(&id, secret, grace).map_err(api_error)?;
    let (secret, expires) = (
        rotated.secret.clone(),
        rotated.previous_secret_expires_at.clone(),
    );
    let done = pool
        .run(move |log| log.rotate_secret(&id, &secret, &expires))
        .await?;
    found(done).map(|()| rotated)
}

/// A change to a subscription that found none: 404, as on SQLite.
fn found(changed: bool) -> Result<(), ApiError> {
    changed
        .then_some(())
        .ok_or_else(|| api_error(SubscriptionError::NotFound("subscription")))
}

/// Re-queues a dead delivery with a fresh retry schedule (404 unknown, 409 not dead).
pub async fn retry(state: &AppState, id: String) -> Result<(), ApiError> {
    match &state.postgres {
        Some(pool) => {
            let now = domain::time::format_micros(chrono::Utc::now());
            let outcome = pool.run(move |log| log.requeue_dead(&id, &now)).await?;
            subscriptions::requeued(outcome).map_err(api_error)
        }
        None => subscriptions::retry_delivery(&state.writer, &id)
            .await
            .map_err(api_error),
    }
}

/// Sends everything for subscription `id` again from `since_seq` on (one page of outbox rows).
pub async fn redeliver(
    state: &AppState,
    id: String,
    since_seq: u64,
) -> Result<Redelivered, ApiError> {
    let Some(pool) = &state.postgres else {
        return subscriptions::redeliver_since(&state.store, &state.writer, &id, since_seq)
            .await
            .map_err(api_error);
    };
    let subscription =
        subscriptions::redeliverable(pool.run(move |log| log.subscription(&id)).await?)
            .map_err(api_error)?;
    let now = domain::time::format_micros(chrono::Utc::now());
    pool.run(move |log| {
        let rows = log.outbox_of_destination_since(
            outbound::body::destination::SUBSCRIBERS,
            since_seq,
            subscriptions::REDELIVER_ROWS_MAX,
        )?;
        let statuses =
            log.delivery_statuses(&subscriptions::redelivery_ids(&subscription, &rows))?;
        let plan = subscriptions::plan_redelivery(&subscription, &rows, &statuses, &now);
        let (requeued, created) = log.apply_redelivery(&plan.requeue, &plan.new, &now)?;
        Ok(Redelivered {
            requeued,
            created,
            pending: plan.pending,
            next_since_seq: plan.next_since_seq,
        })
    })
    .await
}
