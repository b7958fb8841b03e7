//! Delivery state for the handlers (the API and the console), wherever it lives: in the SQLite
//! file (read on a read-only connection, written through the writer), or in PostgreSQL when the
//! nodes share it (through [`crate::postgres::PgPool`]; a node's working copy holds none).

use actix_web::web;
use outbound::subscriptions::{self, Redelivered};
use store::delivery::{Attempt, Delivery, DeliveryFilter, Subscription};

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
