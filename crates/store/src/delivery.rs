//! Outbound delivery state: webhook subscriptions, deliveries (one per outbox row and endpoint),
//! every attempt, and the delivery worker's cursor over `proj_outbox`.
//!
//! This is operational state, outside the chain and the digest: replay never touches it, which
//! is what makes "a settled delivery is never sent again" hold across replays. A delivery's id is
//! derived from its outbox row's id and its endpoint, so re-inserted outbox rows (same ids) map to
//! the deliveries that already exist and create nothing new.
//!
//! Writes go through [`WriteCtx::deliveries`] inside a writer job; reads take a read-only
//! connection from [`crate::Store::read`]. Times are stored in the log's fixed-width RFC 3339
//! form (micro-seconds), so that text order is time order.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::log::WriteCtx;
use crate::projection::OutboxRow;
use crate::StoreError;

/// The worker's cursor over `proj_outbox`: every row with `seq` at or below it has been
/// turned into deliveries (or was there before deliveries began).
pub const OUTBOX_CURSOR: &str = "outbox";

/// Subscription states.
pub mod subscription_status {
    pub const ACTIVE: &str = "active";
    /// Disabled by the worker (a 410, or failures over the configured span); reason kept.
    pub const DISABLED: &str = "disabled";
    /// Deleted through the API; kept so that its deliveries still name it.
    pub const DELETED: &str = "deleted";
}

/// Delivery states.
pub mod delivery_status {
    pub const PENDING: &str = "pending";
    pub const DELIVERED: &str = "delivered";
    pub const DEAD: &str = "dead";
    /// The destination's URL was not configured when the row was expanded: nothing was sent.
    pub const SKIPPED: &str = "skipped";
}

/// One webhook subscription as stored. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub tenant: String,
    pub url: String,
    /// An event name, `*`, or a prefix pattern such as `work_order.*`.
    pub event: String,
    pub secret: String,
    /// The secret before the last rotation, still signed with until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<String>,
    /// Events of one stream reach this subscriber in `seq` order.
    pub ordered: bool,
    pub created_at: String,
    /// The log's head when the subscription was created: it receives rows with a larger `seq`.
    pub created_after_seq: u64,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_changed_at: Option<String>,
    /// When the current run of failed attempts began; cleared by a success.
    pub failing_since: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("event", &self.event)
            .field("ordered", &self.ordered)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

const SUBSCRIPTION_COLUMNS: &str = "id, tenant, url, event, secret, previous_secret,
    previous_secret_expires_at, ordered, created_at, created_after_seq, status, status_reason,
    status_changed_at, failing_since";

fn subscription_from_row(row: &Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: row.get(0)?,
        tenant: row.get(1)?,
        url: row.get(2)?,
        event: row.get(3)?,
        secret: row.get(4)?,
        previous_secret: row.get(5)?,
        previous_secret_expires_at: row.get(6)?,
        ordered: row.get(7)?,
        created_at: row.get(8)?,
        created_after_seq: row.get(9)?,
        status: row.get(10)?,
        status_reason: row.get(11)?,
        status_changed_at: row.get(12)?,
        failing_since: row.get(13)?,
    })
}

/// One delivery: an outbox row bound for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Derived from the outbox row's id and the endpoint; sent as `webhook-id` on every attempt.
    pub id: String,
    pub outbox_id: String,
    /// `customer`, `zapier`, or the subscription's id.
    pub endpoint: String,
    /// The outbox row's symbolic destination (`customer`, `zapier`, `subscribers`).
    pub destination: String,
    pub subscription_id: Option<String>,
    pub tenant: String,
    pub seq: u64,
    pub event: String,
    pub stream: String,
    pub status: String,
    /// Attempts made in all.
    pub attempts: u32,
    /// Attempts made since the delivery was (re-)queued: the retry schedule's position.
    pub round_attempts: u32,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub last_status_code: Option<u16>,
    /// The exact bytes sent on every attempt.
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
    pub settled_at: Option<String>,
}

pub(crate) const DELIVERY_COLUMNS: &str =
    "id, outbox_id, endpoint, destination, subscription_id, tenant,
    seq, event, stream, status, attempts, round_attempts, next_attempt_at, last_error,
    last_status_code, body, created_at, updated_at, settled_at";

pub(crate) fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        outbox_id: row.get(1)?,
        endpoint: row.get(2)?,
        destination: row.get(3)?,
        subscription_id: row.get(4)?,
        tenant: row.get(5)?,
        seq: row.get(6)?,
        event: row.get(7)?,
        stream: row.get(8)?,
        status: row.get(9)?,
        attempts: row.get(10)?,
        round_attempts: row.get(11)?,
        next_attempt_at: row.get(12)?,
        last_error: row.get(13)?,
        last_status_code: row.get(14)?,
        body: row.get(15)?,
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
        settled_at: row.get(18)?,
    })
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery_id: String,
    /// 1-based, over the delivery's whole life.
    pub attempt_no: u32,
    pub started_at: String,
    pub duration_us: u64,
    /// `delivered`, `retry` (failed, another attempt is scheduled), or `dead`.
    pub outcome: String,
    pub status_code: Option<u16>,
    /// The first KiB of the response body.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// What an attempt changes on its delivery.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    /// The delivery's new status: `pending` (a retry is scheduled), `delivered` or `dead`.
    pub status: String,
    pub next_attempt_at: Option<String>,
    pub now: String,
}

impl AttemptOutcome {
    /// The delivery's `last_error`: the attempt's error, else its HTTP status if not a 2xx.
    pub fn last_error(&self) -> Option<String> {
        let a = &self.attempt;
        a.error.clone().or_else(|| {
            a.status_code
                .filter(|code| !(200..300).contains(code))
                .map(|code| format!("HTTP {code}"))
        })
    }

    /// The delivery's `settled_at`: now, unless it stays pending.
    pub fn settled_at(&self) -> Option<&str> {
        (self.status != delivery_status::PENDING).then_some(self.now.as_str())
    }
}

/// Filters of the deliveries list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub event: Option<String>,
    pub subscription_id: Option<String>,
    /// Rows with a smaller `seq` than this (paging backwards); none means from the newest.
    pub before_seq: Option<u64>,
    pub limit: u32,
}

/// What re-queueing a delivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    Requeued,
    NotFound,
    /// It is not dead (pending or delivered): nothing changed.
    NotDead,
}

/// Delivery writes inside the writer's transaction.
#[derive(Clone, Copy)]
pub struct DeliveryTx<'c> {
    conn: &'c Connection,
}

impl<'c> WriteCtx<'c> {
    /// Outbound delivery state, inside this job's savepoint (opened on first use).
    pub fn deliveries(&self) -> DeliveryTx<'c> {
        DeliveryTx { conn: self.sql() }
    }
}

impl<'c> DeliveryTx<'c> {
    /// The connection of the open transaction, for reads that must see this job's writes.
    pub fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// Sets the cursor to the outbox's last `seq` unless it exists: rows written before the
    /// first `serve` (imported or replayed into a new file) are never sent.
    pub fn init_cursor(&self) -> Result<u64, StoreError> {
        self.conn.execute(
            "INSERT INTO outbound_cursor (name, seq)
             VALUES (?1, (SELECT COALESCE(MAX(seq), 0) FROM proj_outbox))
             ON CONFLICT (name) DO NOTHING",
            [OUTBOX_CURSOR],
        )?;
        cursor(self.conn)
    }

    pub fn set_cursor(&self, seq: u64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO outbound_cursor (name, seq) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            params![OUTBOX_CURSOR, seq],
        )?;
        Ok(())
    }

    pub fn insert_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        self.conn.execute(
            &format!(
                "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS})
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
            ),
            params![
                s.id,
                s.tenant,
                s.url,
                s.event,
                s.secret,
                s.previous_secret,
                s.previous_secret_expires_at,
                s.ordered,
                s.created_at,
                s.created_after_seq,
                s.status,
                s.status_reason,
                s.status_changed_at,
                s.failing_since
            ],
        )?;
        Ok(())
    }

    /// Changes a live subscription's status (disable, delete) and ends its pending deliveries
    /// as dead with `reason`. Returns false when there is no such live subscription.
    pub fn end_subscription(
        &self,
        id: &str,
        status: &str,
        reason: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE subscriptions SET status = ?2, status_reason = ?3, status_changed_at = ?4
             WHERE id = ?1 AND status <> 'deleted' AND status <> ?2",
            params![id, status, reason, now],
        )?;
        if changed == 0 {
            return Ok(false);
        }
        self.conn.execute(
            "UPDATE deliveries SET status = 'dead', last_error = ?2, updated_at = ?3,
             settled_at = ?3, next_attempt_at = NULL
             WHERE endpoint = ?1 AND status = 'pending'",
            params![id, reason, now],
        )?;
        Ok(true)
    }

    /// Replaces a subscription's secret, keeping the old one until `previous_expires_at`.
    pub fn rotate_secret(
        &self,
        id: &str,
        secret: &str,
        previous_expires_at: &str,
    ) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE subscriptions SET previous_secret = secret, secret = ?2,
             previous_secret_expires_at = ?3 WHERE id = ?1 AND status <> 'deleted'",
            params![id, secret, previous_expires_at],
        )?;
        Ok(changed == 1)
    }

    /// Records when a subscription's current run of failures began (`None` after a success).
    pub fn set_failing_since(&self, id: &str, since: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE subscriptions SET failing_since = ?2 WHERE id = ?1
                 AND failing_since IS NOT ?2",
            )?
            .execute(params![id, since])?;
        Ok(())
    }

    /// Inserts a delivery unless one exists for the same outbox row and endpoint (or id).
    /// Returns whether it was inserted.
    pub fn insert_delivery(&self, d: &Delivery) -> Result<bool, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS})
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)
                 ON CONFLICT DO NOTHING"
            ))?
            .execute(params![
                d.id,
                d.outbox_id,
                d.endpoint,
                d.destination,
                d.subscription_id,
                d.tenant,
                d.seq,
                d.event,
                d.stream,
                d.status,
                d.attempts,
                d.round_attempts,
                d.next_attempt_at,
                d.last_error,
                d.last_status_code,
                d.body,
                d.created_at,
                d.updated_at,
                d.settled_at
            ])?;
        Ok(inserted == 1)
    }

    /// Records an attempt and moves its delivery on, but only while the delivery is pending:
    /// a settled delivery never changes again. Returns false when it was not pending.
    pub fn record_attempt(&self, outcome: &AttemptOutcome) -> Result<bool, StoreError> {
        let a = &outcome.attempt;
        let settled_at = outcome.settled_at();
        let last_error = outcome.last_error();
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET status = ?2, attempts = attempts + 1,
                 round_attempts = round_attempts + 1, next_attempt_at = ?3, last_error = ?4,
                 last_status_code = ?5, updated_at = ?6, settled_at = ?7
                 WHERE id = ?1 AND status = 'pending'",
            )?
            .execute(params![
                a.delivery_id,
                outcome.status,
                outcome.next_attempt_at,
                last_error,
                a.status_code,
                outcome.now,
                settled_at
            ])?;
        if changed == 0 {
            return Ok(false);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at,
                 duration_us, outcome, status_code, response_body, error)
                 VALUES (?1, (SELECT attempts FROM deliveries WHERE id = ?1), ?2,?3,?4,?5,?6,?7)",
            )?
            .execute(params![
                a.delivery_id,
                a.started_at,
                a.duration_us,
                a.outcome,
                a.status_code,
                a.response_body,
                a.error
            ])?;
        Ok(true)
    }

    /// Ends a pending delivery as dead without an attempt (its subscription is gone).
    pub fn abandon(&self, id: &str, reason: &str, now: &str) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE deliveries SET status = 'dead', last_error = ?2, updated_at = ?3,
             settled_at = ?3, next_attempt_at = NULL WHERE id = ?1 AND status = 'pending'",
            params![id, reason, now],
        )?;
        Ok(changed == 1)
    }

    /// Puts a dead delivery back in the queue with a fresh retry schedule.
    pub fn requeue_dead(&self, id: &str, now: &str) -> Result<Requeue, StoreError> {
        let status: Option<String> = self
            .conn
            .query_row("SELECT status FROM deliveries WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        match status.as_deref() {
            None => Ok(Requeue::NotFound),
            Some(delivery_status::DEAD) => {
                self.requeue(id, now)?;
                Ok(Requeue::Requeued)
            }
            Some(_) => Ok(Requeue::NotDead),
        }
    }

    /// Puts a settled (or skipped) delivery back in the queue with a fresh retry schedule;
    /// a pending one is left as it is. Only an admin's explicit redelivery calls this.
    pub fn requeue(&self, id: &str, now: &str) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'pending', round_attempts = 0,
                 next_attempt_at = ?2, updated_at = ?2, settled_at = NULL
                 WHERE id = ?1 AND status <> 'pending'",
            )?
            .execute(params![id, now])?;
        Ok(changed == 1)
    }

    /// Deliveries of one endpoint from `since_seq` on (for bulk redelivery), at most `limit`.
    pub fn deliveries_of_endpoint_since(
        &self,
        endpoint: &str,
        since_seq: u64,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT outbox_id, id FROM deliveries WHERE endpoint = ?1 AND seq >= ?2
             ORDER BY seq, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![endpoint, since_seq, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The cursor's position (0 before the worker first ran).
pub fn cursor(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT seq FROM outbound_cursor WHERE name = ?1")?
        .query_row([OUTBOX_CURSOR], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The outbox's last `seq` (0 when empty).
pub fn outbox_head_seq(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM proj_outbox")?
        .query_row([], |row| row.get(0))?)
}

/// Outbox rows after `after_seq`, whole `seq`s only, about `limit` rows (more when one `seq`
/// has more rows than that), in (`seq`, `id`) order.
pub fn outbox_after(
    conn: &Connection,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
    let upper: u64 = conn
        .prepare_cached(
            "SELECT seq FROM proj_outbox WHERE seq > ?1 ORDER BY seq LIMIT 1 OFFSET ?2",
        )?
        .query_row(params![after_seq, limit.max(1) - 1], |row| row.get(0))
        .optional()?
        .unwrap_or(i64::MAX as u64);
    let mut stmt = conn.prepare_cached(
        "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
         WHERE seq > ?1 AND seq <= ?2 ORDER BY seq, id",
    )?;
    let rows = stmt.query_map(params![after_seq, upper], crate::projection::outbox_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Outbox rows of `destination` from `since_seq` on, at most `limit` (bulk redelivery).
pub fn outbox_of_destination_since(
    conn: &Connection,
    destination: &str,
    since_seq: u64,
    limit: u32,
) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
         WHERE destination = ?1 AND seq >= ?2 ORDER BY seq, id LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        params![destination, since_seq, limit],
        crate::projection::outbox_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One subscription (deleted ones included).
pub fn subscription(conn: &Connection, id: &str) -> Result<Option<Subscription>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1"
        ))?
        .query_row([id], subscription_from_row)
        .optional()?)
}

/// Every subscription that is not deleted, oldest first.
pub fn subscriptions(conn: &Connection) -> Result<Vec<Subscription>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE status <> 'deleted'
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], subscription_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every active subscription, oldest first.
pub fn active_subscriptions(conn: &Connection) -> Result<Vec<Subscription>, StoreError> {
    Ok(subscriptions(conn)?
        .into_iter()
        .filter(|s| s.status == subscription_status::ACTIVE)
        .collect())
}

/// One delivery.
pub fn delivery(conn: &Connection, id: &str) -> Result<Option<Delivery>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
        ))?
        .query_row([id], delivery_from_row)
        .optional()?)
}

/// Deliveries matching `filter`, newest (`seq`) first.
pub fn deliveries(conn: &Connection, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE (?1 IS NULL AND status <> 'skipped' OR status = ?1)
           AND (?2 IS NULL OR event = ?2)
           AND (?3 IS NULL OR subscription_id = ?3)
           AND (?4 IS NULL OR seq < ?4)
         ORDER BY seq DESC, id LIMIT ?5"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.status,
            filter.event,
            filter.subscription_id,
            filter.before_seq,
            filter.limit
        ],
        delivery_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A delivery's attempts, first first.
pub fn attempts(conn: &Connection, delivery_id: &str) -> Result<Vec<Attempt>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT delivery_id, attempt_no, started_at, duration_us, outcome, status_code,
         response_body, error FROM delivery_attempts WHERE delivery_id = ?1
         ORDER BY attempt_no",
    )?;
    let rows = stmt.query_map([delivery_id], |row| {
        Ok(Attempt {
            delivery_id: row.get(0)?,
            attempt_no: row.get(1)?,
            started_at: row.get(2)?,
            duration_us: row.get(3)?,
            outcome: row.get(4)?,
            status_code: row.get(5)?,
            response_body: row.get(6)?,
            error: row.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The endpoints that have pending deliveries (a skip-scan over the pending index: one probe
/// per endpoint, however long the backlog).
pub fn pending_endpoints(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE e(endpoint) AS (
             SELECT MIN(endpoint) FROM deliveries WHERE status = 'pending'
             UNION ALL
             SELECT (SELECT MIN(endpoint) FROM deliveries
                     WHERE status = 'pending' AND endpoint > e.endpoint)
             FROM e WHERE e.endpoint IS NOT NULL)
         SELECT endpoint FROM e WHERE endpoint IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Pending deliveries of one endpoint due at `now`, soonest first, at most `limit`. In
/// `ordered` mode only the first pending delivery of each stream is eligible.
pub fn due_for_endpoint(
    conn: &Connection,
    endpoint: &str,
    now: &str,
    ordered: bool,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(&due_sql(ordered))?;
    let rows = stmt.query_map(params![endpoint, now, limit], delivery_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// [`due_for_endpoint`]'s query: `?1` the endpoint, `?2` now, `?3` the limit. It walks the
/// pending index in its own order (`endpoint, next_attempt_at, seq`) and stops at the limit:
/// unordered, after `limit` rows whatever the endpoint's backlog. Ordered, a due delivery
/// whose stream has an earlier one pending is passed over (one index probe each), so a
/// backlog of streams held up by a retry is walked until `limit` eligible ones are found.
fn due_sql(ordered: bool) -> String {
    if ordered {
        format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries AS d
             WHERE d.status = 'pending' AND d.endpoint = ?1 AND d.next_attempt_at <= ?2
               AND NOT EXISTS (SELECT 1 FROM deliveries AS e
                   WHERE e.status = 'pending' AND e.endpoint = d.endpoint
                     AND e.stream = d.stream
                     AND (e.seq < d.seq OR (e.seq = d.seq AND e.id < d.id)))
             ORDER BY d.next_attempt_at, d.seq LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE status = 'pending' AND endpoint = ?1 AND next_attempt_at <= ?2
             ORDER BY next_attempt_at, seq LIMIT ?3"
        )
    }
}

/// The earliest `next_attempt_at` strictly after `now` among pending deliveries.
pub fn next_due_after(conn: &Connection, now: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM deliveries
             WHERE status = 'pending' AND next_attempt_at > ?1",
        )?
        .query_row([now], |row| row.get(0))?)
}

/// The outbound backlog: pending deliveries plus outbox rows past the cursor, and the time the
/// oldest of them was created (for the "oldest pending" gauge).
pub fn backlog(conn: &Connection) -> Result<(u64, Option<String>), StoreError> {
    let (pending, oldest_pending): (u64, Option<String>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status = 'pending'",
        )?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let (unexpanded, oldest_row): (u64, Option<String>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(recorded_at) FROM proj_outbox
             WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM outbound_cursor WHERE name = ?1)",
        )?
        .query_row([OUTBOX_CURSOR], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let oldest = match (oldest_pending, oldest_row) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok((pending + unexpanded, oldest))
}

/// Deliveries with more than one settling attempt (`delivered` or `dead`): with no admin
/// redelivery in between, this list is empty, since a settled delivery is never sent again.
/// The crash campaign checks it after every kill.
pub fn settled_more_than_once(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT delivery_id, COUNT(*) FROM delivery_attempts
         WHERE outcome IN ('delivered', 'dead') GROUP BY delivery_id HAVING COUNT(*) > 1",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deliveries by status (`pending`, `delivered`, `dead`, `skipped`), for campaign reports.
pub fn count_by_status(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status")?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The failing endpoints (a pending delivery of theirs has failed an attempt) and how many
/// deliveries each has pending, counted up to `cap`, for the worker's backlog limit. Healthy
/// endpoints are not counted: the limit never cuts one off, and counting a burst of thousands
/// on every expansion cost the worker more than the expansion itself.
pub fn failing_backlogs(
    conn: &Connection,
    cap: u64,
) -> Result<std::collections::HashMap<String, u64>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE e(endpoint) AS (
             SELECT MIN(endpoint) FROM deliveries WHERE status = 'pending' AND attempts > 0
             UNION ALL
             SELECT (SELECT MIN(endpoint) FROM deliveries
                     WHERE status = 'pending' AND attempts > 0 AND endpoint > e.endpoint)
             FROM e WHERE e.endpoint IS NOT NULL)
         SELECT endpoint,
                (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries AS d
                     WHERE d.status = 'pending' AND d.endpoint = e.endpoint LIMIT ?1))
         FROM e WHERE endpoint IS NOT NULL",
    )?;
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let rows = stmt.query_map([cap], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    /// `n` deliveries of `endpoint`, all due at the same instant (as one expansion makes them),
    /// with `attempts` failed attempts each and the given status.
    fn insert(conn: &Connection, endpoint: &str, n: u64, attempts: u32, status: &str) {
        for i in 0..n {
            conn.execute(
                "INSERT INTO deliveries (id, outbox_id, endpoint, destination, tenant, seq, event,
                 stream, status, attempts, round_attempts, next_attempt_at, body, created_at,
                 updated_at) VALUES (?1, ?2, ?3, 'subscribers', 't', ?4, 'order.status_changed',
                 ?5, ?6, ?7, ?7, '2026-12-06T00:00:00.000000Z', '{}',
                 '2026-12-06T00:00:00.000000Z', '2026-12-06T00:00:00.000000Z')",
                params![
                    format!("{endpoint}-{status}-{attempts}-{i}"),
                    format!("o-{status}-{attempts}-{i}"),
                    endpoint,
                    1000 - i,
                    format!("s{}", i % 7),
                    status,
                    attempts
                ],
            )
            .expect("insert");
        }
    }

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let rows = stmt
            .query_map([], |row| row.get::<_, String>(3))
            .expect("plan");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn due_deliveries_come_in_index_order_without_sorting_the_backlog() {
        let conn = migrated();
        insert(&conn, "sub_a", 500, 0, delivery_status::PENDING);
        for ordered in [false, true] {
            let sql = due_sql(ordered)
                .replace("?1", "'sub_a'")
                .replace("?2", "'2026-12-07'")
                .replace("?3", "4");
            let plan = plan(&conn, &sql);
            assert!(
                plan.contains("deliveries_pending_by_endpoint") && !plan.contains("TEMP B-TREE"),
                "ordered={ordered}: {plan}"
            );
        }
        // Same instant: the lowest seqs first.
        let due = due_for_endpoint(&conn, "sub_a", "2026-12-07", false, 4).expect("due");
        let seqs: Vec<u64> = due.iter().map(|d| d.seq).collect();
        assert_eq!(seqs, vec![501, 502, 503, 504]);
        let due = due_for_endpoint(&conn, "sub_a", "2026-12-07", true, 100).expect("due");
        assert_eq!(due.len(), 7, "one per stream when ordered");
    }

    #[test]
    fn failing_backlogs_count_failing_endpoints_only_up_to_the_cap() {
        let conn = migrated();
        // A healthy burst: pending, never failed.
        insert(&conn, "healthy", 50, 0, delivery_status::PENDING);
        // A failing endpoint: one pending delivery has failed an attempt.
        insert(&conn, "failing", 1, 2, delivery_status::PENDING);
        insert(&conn, "failing", 9, 0, delivery_status::PENDING);
        // Failed attempts on deliveries that settled since: not failing now.
        insert(&conn, "recovered", 5, 1, delivery_status::DELIVERED);
        insert(&conn, "recovered", 5, 0, delivery_status::PENDING);
        let all = failing_backlogs(&conn, 100).expect("backlogs");
        assert_eq!(all, [("failing".to_owned(), 10)].into_iter().collect());
        let capped = failing_backlogs(&conn, 3).expect("backlogs");
        assert_eq!(capped, [("failing".to_owned(), 3)].into_iter().collect());
        let sql = "SELECT MIN(endpoint) FROM deliveries WHERE status = 'pending' AND attempts > 0";
        assert!(
            plan(&conn, sql).contains("deliveries_retrying_by_endpoint"),
            "{}",
            plan(&conn, sql)
        );
    }
}
