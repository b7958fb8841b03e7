//! Webhook subscriptions in PostgreSQL, shared by every `serve` node, as SQLite's
//! `store::delivery` keeps them: created and ended by an admin, their secrets rotated, their
//! failure runs followed by the delivery workers; and a dead delivery put back in the queue.

use std::collections::HashMap;

use postgres::Row;
use store::delivery::{delivery_status, subscription_status, Delivery, Requeue, Subscription};
use store::projection::OutboxRow;

use crate::append::{to_i64, to_u64};
use crate::{PgLog, PgStoreError};

const SUBSCRIPTION_COLUMNS: &str = "id, tenant, url, event, secret, previous_secret, \
     previous_secret_expires_at, ordered, created_at, created_after_seq, status, status_reason, \
     status_changed_at, failing_since";

fn subscription_from_row(row: &Row) -> Result<Subscription, PgStoreError> {
    Ok(Subscription {
        id: row.try_get(0)?,
        tenant: row.try_get(1)?,
        url: row.try_get(2)?,
        event: row.try_get(3)?,
        secret: row.try_get(4)?,
        previous_secret: row.try_get(5)?,
        previous_secret_expires_at: row.try_get(6)?,
        ordered: row.try_get(7)?,
        created_at: row.try_get(8)?,
        created_after_seq: to_u64(row.try_get(9)?, "created_after_seq")?,
        status: row.try_get(10)?,
        status_reason: row.try_get(11)?,
        status_changed_at: row.try_get(12)?,
        failing_since: row.try_get(13)?,
    })
}

impl PgLog {
    /// Stores a new subscription with `created_after_seq` set to the log's head now (it
    /// receives the events appended after it), in one statement; returns it as stored.
    pub fn insert_subscription(&mut self, s: &Subscription) -> Result<Subscription, PgStoreError> {
        let row = self.client.query_one(
            &format!(
                "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
                     (SELECT COALESCE(MAX(seq), 0) FROM events), $10, $11, $12, $13)
                 RETURNING {SUBSCRIPTION_COLUMNS}"
            ),
            &[
                &s.id,
                &s.tenant,
                &s.url,
                &s.event,
                &s.secret,
                &s.previous_secret,
                &s.previous_secret_expires_at,
                &s.ordered,
                &s.created_at,
                &s.status,
                &s.status_reason,
                &s.status_changed_at,
                &s.failing_since,
            ],
        )?;
        subscription_from_row(&row)
    }

    /// One subscription, whatever its status.
    pub fn subscription(&mut self, id: &str) -> Result<Option<Subscription>, PgStoreError> {
        self.client
            .query_opt(
                &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(subscription_from_row)
            .transpose()
    }

    /// Every subscription that is not deleted, oldest first.
    pub fn subscriptions(&mut self) -> Result<Vec<Subscription>, PgStoreError> {
        let statement = self.prepared(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status <> 'deleted'
             ORDER BY created_at, id"
        ))?;
        self.client
            .query(&statement, &[])?
            .iter()
            .map(subscription_from_row)
            .collect()
    }

    /// Every active subscription, oldest first.
    pub fn active_subscriptions(&mut self) -> Result<Vec<Subscription>, PgStoreError> {
        Ok(self
            .subscriptions()?
            .into_iter()
            .filter(|s| s.status == subscription_status::ACTIVE)
            .collect())
    }

    /// Changes a live subscription's status (disable, delete) and ends its pending deliveries
    /// as dead with `reason`, in one transaction. Returns false when there is no such live
    /// subscription.
    pub fn end_subscription(
        &mut self,
        id: &str,
        status: &str,
        reason: &str,
        now: &str,
    ) -> Result<bool, PgStoreError> {
        let mut tx = self.client.transaction()?;
        let changed = tx.execute(
            "UPDATE subscriptions SET status = $2, status_reason = $3, status_changed_at = $4
             WHERE id = $1 AND status <> 'deleted' AND status <> $2",
            &[&id, &status, &reason, &now],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        tx.execute(
            "UPDATE deliveries SET status = 'dead', last_error = $2, updated_at = $3,
             settled_at = $3, next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE endpoint = $1 AND status = 'pending'",
            &[&id, &reason, &now],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Replaces a subscription's secret, keeping the old one until `previous_expires_at`.
    pub fn rotate_secret(
        &mut self,
        id: &str,
        secret: &str,
        previous_expires_at: &str,
    ) -> Result<bool, PgStoreError> {
        let changed = self.client.execute(
            "UPDATE subscriptions SET previous_secret = secret, secret = $2,
             previous_secret_expires_at = $3 WHERE id = $1 AND status <> 'deleted'",
            &[&id, &secret, &previous_expires_at],
        )?;
        Ok(changed == 1)
    }

    /// Records when a subscription's current run of failures began (`None` after a success).
    pub fn set_failing_since(&mut self, id: &str, since: Option<&str>) -> Result<(), PgStoreError> {
        self.client.execute(
            "UPDATE subscriptions SET failing_since = $2 WHERE id = $1
             AND failing_since IS DISTINCT FROM $2",
            &[&id, &since],
        )?;
        Ok(())
    }

    /// Puts a dead delivery back in the queue with a fresh retry schedule.
    pub fn requeue_dead(&mut self, id: &str, now: &str) -> Result<Requeue, PgStoreError> {
        let changed = self.client.execute(
            "UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $2,
             updated_at = $2, settled_at = NULL WHERE id = $1 AND status = $3",
            &[&id, &now, &delivery_status::DEAD],
        )?;
        if changed == 1 {
            return Ok(Requeue::Requeued);
        }
        let exists = self
            .client
            .query_opt("SELECT 1 FROM deliveries WHERE id = $1", &[&id])?
            .is_some();
        Ok(if exists {
            Requeue::NotDead
        } else {
            Requeue::NotFound
        })
    }

    /// Outbox rows for `destination` from `since_seq` on, at most `limit`, in (`seq`, id)
    /// order: what a bulk redelivery goes through.
    pub fn outbox_of_destination_since(
        &mut self,
        destination: &str,
        since_seq: u64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, PgStoreError> {
        self.client
            .query(
                "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
                 WHERE destination = $1 AND seq >= $2 ORDER BY seq, id LIMIT $3",
                &[&destination, &to_i64(since_seq, "seq")?, &i64::from(limit)],
            )?
            .iter()
            .map(crate::delivery::outbox_from_row)
            .collect()
    }

    /// The status of each of `ids` that exists.
    pub fn delivery_statuses(
        &mut self,
        ids: &[String],
    ) -> Result<HashMap<String, String>, PgStoreError> {
        let rows = self.client.query(
            "SELECT id, status FROM deliveries WHERE id = ANY($1)",
            &[&ids],
        )?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// Applies a bulk redelivery in one transaction: the settled deliveries `requeue` go back
    /// in the queue with a fresh schedule (a pending one is left as it is) and the deliveries
    /// `new` are inserted (one that exists is left as it is). Returns how many were re-queued
    /// and how many inserted.
    pub fn apply_redelivery(
        &mut self,
        requeue: &[String],
        new: &[Delivery],
        now: &str,
    ) -> Result<(u64, u64), PgStoreError> {
        let insert = self.prepared(&crate::delivery::INSERT_DELIVERIES)?;
        let mut tx = self.client.transaction()?;
        let requeued = tx.execute(
            "UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $2,
             updated_at = $2, settled_at = NULL WHERE id = ANY($1) AND status <> 'pending'",
            &[&requeue, &now],
        )?;
        let created = crate::delivery::insert_deliveries(&mut tx, &insert, new)?;
        tx.commit()?;
        Ok((requeued, created))
    }
}
