//! Outbound delivery state in PostgreSQL, for delivery workers on several nodes at once.
//!
//! The tables are SQLite's (`store::delivery`, as of its migration 6) with two more columns on
//! `deliveries`: `lease_owner` and `lease_until`. A worker takes due deliveries by leasing
//! them: one statement picks the first due ones of an endpoint with `FOR UPDATE SKIP LOCKED`
//! (rows another node is leasing at that instant are passed over, not waited for) and stamps
//! them with its node name and an expiry. A leased delivery stays `pending`, so that in
//! ordered mode the next delivery of its stream is not eligible while it is in flight, on any
//! node. The attempt's outcome is recorded only under the lease it was sent under (its owner
//! and expiry: a lease that lapsed and was taken anew, even by the same node, no longer
//! counts); a node that dies
//! mid-delivery leaves its leases to expire, and then any node takes them over (the delivery
//! is sent again: at least once, as on SQLite after a crash). A lease should outlast the send
//! timeout, so that a live node's attempt is never taken over while it is on the wire.
//!
//! Outbox rows become deliveries as on SQLite: a node plans them from the workers' cursor
//! over `proj_outbox` ([`PgLog::outbox_after`]), then inserts them and moves the cursor in one
//! transaction, under the cursor row's lock and only if the cursor is still where its plan
//! started ([`PgLog::apply_expansion`]); a node that lost the race plans again.
//!
//! Times are the log's fixed-width RFC 3339 text (micro-seconds, `Z`), `COLLATE "C"`, so that
//! text order is time order here as in SQLite.

use std::collections::HashMap;
use std::sync::LazyLock;

use postgres::{Row, Statement};
use store::delivery::{Attempt, AttemptOutcome, Delivery, DeliveryFilter, OUTBOX_CURSOR};
use store::projection::OutboxRow;

use crate::append::{to_i64, to_u32, to_u64};
use crate::{PgLog, PgStoreError};

const DELIVERY_COLUMNS: &str = "id, outbox_id, endpoint, destination, subscription_id, tenant, \
     seq, event, stream, status, attempts, round_attempts, next_attempt_at, last_error, \
     last_status_code, body, created_at, updated_at, settled_at";

/// Who leases due deliveries, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// The node's name (unique among the nodes sharing the database).
    pub owner: &'a str,
    /// The current time, as the log writes it.
    pub now: &'a str,
    /// When the lease lapses and another node may take the deliveries over.
    pub until: &'a str,
}

impl PgLog {
    /// Lets this connection's commits return before PostgreSQL has flushed them to disk
    /// (`synchronous_commit = off`), for a delivery worker's bookkeeping: a commit lost in a
    /// crash of the server (its last few hundred milliseconds) leaves the delivery pending, or
    /// the outbox rows unexpanded, and they are sent again: at least once, as after a crash of
    /// a node. The log's batches never use such a connection.
    pub fn relax_commit_durability(&mut self) -> Result<(), PgStoreError> {
        self.client.batch_execute("SET synchronous_commit = off")?;
        Ok(())
    }

    /// Sets the delivery workers' cursor over `proj_outbox` on their first start, to the
    /// outbox's last `seq` (rows already there then are never sent); later starts, on any
    /// node, leave it where it is. Returns the cursor.
    pub fn init_outbox_cursor(&mut self) -> Result<u64, PgStoreError> {
        self.client.execute(
            "INSERT INTO outbound_cursor (name, seq)
             VALUES ($1, (SELECT COALESCE(MAX(seq), 0) FROM proj_outbox))
             ON CONFLICT (name) DO NOTHING",
            &[&OUTBOX_CURSOR],
        )?;
        self.outbox_cursor()
    }

    /// The workers' cursor: every outbox row with `seq` at or below it has its deliveries.
    pub fn outbox_cursor(&mut self) -> Result<u64, PgStoreError> {
        let statement = self.prepared("SELECT seq FROM outbound_cursor WHERE name = $1")?;
        let row = self.client.query_opt(&statement, &[&OUTBOX_CURSOR])?;
        row.map_or(Ok(0), |row| to_u64(row.try_get(0)?, "cursor"))
    }

    /// Outbox rows after `after_seq`, whole `seq`s only, about `limit` rows (more when one
    /// `seq` has more rows than that), in (`seq`, `id`) order: what a node plans deliveries for.
    pub fn outbox_after(
        &mut self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, PgStoreError> {
        let after = to_i64(after_seq, "seq")?;
        let last = self.prepared(
            "SELECT seq FROM proj_outbox WHERE seq > $1 ORDER BY seq LIMIT 1 OFFSET $2",
        )?;
        let rows = self.prepared(
            "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
             WHERE seq > $1 AND seq <= $2 ORDER BY seq, id",
        )?;
        let upper: i64 = self
            .client
            .query_opt(&last, &[&after, &i64::from(limit.max(1) - 1)])?
            .map(|row| row.try_get(0))
            .transpose()?
            .unwrap_or(i64::MAX);
        let rows = self.client.query(&rows, &[&after, &upper])?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Applies a node's expansion plan: the deliveries planned for the outbox rows after
    /// `from_cursor` up to `to_cursor` are inserted and the cursor moves, in one transaction,
    /// only if the cursor is still at `from_cursor` (the row lock on it orders nodes that
    /// expand at once). Returns `false`, changing nothing, when another node moved it first:
    /// its plan covered these rows, and this node plans again from the new cursor.
    pub fn apply_expansion(
        &mut self,
        from_cursor: u64,
        to_cursor: u64,
        deliveries: &[Delivery],
    ) -> Result<bool, PgStoreError> {
        let lock_cursor =
            self.prepared("SELECT seq FROM outbound_cursor WHERE name = $1 FOR UPDATE")?;
        let insert = self.prepared(&INSERT_DELIVERIES)?;
        let move_cursor = self.prepared(
            "INSERT INTO outbound_cursor (name, seq) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        )?;
        let mut tx = self.client.transaction()?;
        let current = tx
            .query_opt(&lock_cursor, &[&OUTBOX_CURSOR])?
            .map(|row| row.try_get::<_, i64>(0))
            .transpose()?;
        let Some(current) = current else {
            return Err(PgStoreError::Invariant(
                "the outbox cursor is not set: init_outbox_cursor runs before any expansion".into(),
            ));
        };
        if to_u64(current, "cursor")? != from_cursor {
            return Ok(false);
        }
        insert_deliveries(&mut tx, &insert, deliveries)?;
        tx.execute(
            &move_cursor,
            &[&OUTBOX_CURSOR, &to_i64(to_cursor, "cursor")?],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Inserts new pending deliveries (an expansion of outbox rows); one that exists already
    /// (same id) is left as it is. Returns how many were inserted.
    pub fn insert_deliveries(&mut self, deliveries: &[Delivery]) -> Result<u64, PgStoreError> {
        let insert = self.prepared(&INSERT_DELIVERIES)?;
        let mut tx = self.client.transaction()?;
        let inserted = insert_deliveries(&mut tx, &insert, deliveries)?;
        tx.commit()?;
        Ok(inserted)
    }

    /// Leases the first due deliveries of `endpoint` (soonest first, then by `seq`), at most
    /// `limit`, skipping those another node holds a live lease on or is leasing right now. In
    /// `ordered` mode only the first pending delivery of each stream is eligible, leased or
    /// not, so a stream's deliveries go one at a time across all nodes.
    pub fn lease_due(
        &mut self,
        lease: Lease<'_>,
        endpoint: &str,
        ordered: bool,
        limit: u32,
    ) -> Result<Vec<Delivery>, PgStoreError> {
        let rows = self.client.query(
            &lease_sql(ordered, "$3"),
            &[
                &endpoint,
                &lease.now,
                &i64::from(limit),
                &lease.owner,
                &lease.until,
            ],
        )?;
        leased_in_order(&rows)
    }

    /// When something of `endpoints` next becomes due after `now`: a pending delivery's next
    /// attempt, or a lease's end (its delivery is then due again), for a dispatcher's sleep.
    /// Both read an index from `now` on (retries scheduled later, live leases), so the cost
    /// does not grow with the deliveries due already.
    pub fn next_due_after(
        &mut self,
        endpoints: &[&str],
        now: &str,
    ) -> Result<Option<String>, PgStoreError> {
        let statement = self.prepared(
            "SELECT LEAST(
                 (SELECT MIN(next_attempt_at) FROM deliveries
                  WHERE status = 'pending' AND endpoint = ANY($1) AND next_attempt_at > $2),
                 (SELECT MIN(lease_until) FROM deliveries
                  WHERE status = 'pending' AND endpoint = ANY($1) AND lease_until > $2))",
        )?;
        Ok(self
            .client
            .query_one(&statement, &[&endpoints, &now])?
            .try_get(0)?)
    }

    /// Like [`PgLog::lease_due`], keeping the live leases of `endpoint` over every node at
    /// `cap` at most: in one transaction under a lock of the endpoint's own (so that two
    /// nodes leasing at once count each other's leases), it leases at most `limit` and at
    /// most `cap` minus the leases live now.
    pub fn lease_due_capped(
        &mut self,
        lease: Lease<'_>,
        endpoint: &str,
        ordered: bool,
        limit: u32,
        cap: u32,
    ) -> Result<Vec<Delivery>, PgStoreError> {
        let lease_capped = self.prepared(&lease_sql(
            ordered,
            "GREATEST(0, LEAST($3, $6 - (SELECT COUNT(*) FROM deliveries
                 WHERE status = 'pending' AND endpoint = $1 AND lease_until > $2)))",
        ))?;
        let mut tx = self.client.transaction()?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({})",
            endpoint_lock_key(endpoint)
        ))?;
        let rows = tx.query(
            &lease_capped,
            &[
                &endpoint,
                &lease.now,
                &i64::from(limit),
                &lease.owner,
                &lease.until,
                &i64::from(cap),
            ],
        )?;
        tx.commit()?;
        leased_in_order(&rows)
    }

    /// Deliveries of `endpoint` under a live lease, whichever node holds it: the attempts in
    /// flight across the cluster, for a per-endpoint limit that holds on every node together.
    pub fn leased_count(&mut self, endpoint: &str, now: &str) -> Result<u64, PgStoreError> {
        let count: i64 = self
            .client
            .query_one(
                "SELECT COUNT(*) FROM deliveries WHERE status = 'pending' AND endpoint = $1
                 AND lease_until > $2",
                &[&endpoint, &now],
            )?
            .try_get(0)?;
        to_u64(count, "count")
    }

    /// Records an attempt's outcome on a delivery leased by `lease` (its owner and the
    /// `until` it was leased with), and ends the lease, in one transaction. Returns `false`,
    /// changing nothing, when the delivery is no longer pending or is no longer under that
    /// lease: it lapsed and another node, or this one again, leased the delivery anew (that
    /// lease's attempt is the one that counts).
    pub fn record_attempt(
        &mut self,
        lease: Lease<'_>,
        outcome: &AttemptOutcome,
    ) -> Result<bool, PgStoreError> {
        let a = &outcome.attempt;
        let settled_at = outcome.settled_at();
        let last_error = outcome.last_error();
        let status_code = a.status_code.map(i64::from);
        // One statement, so one round trip and atomic: no attempt row unless the lease held.
        let statement = self.prepared(
            "WITH settled AS (
                 UPDATE deliveries SET status = $2, attempts = attempts + 1,
                 round_attempts = round_attempts + 1, next_attempt_at = $3, last_error = $4,
                 last_status_code = $5, updated_at = $6, settled_at = $7,
                 lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND status = 'pending' AND lease_owner = $8 AND lease_until = $9
                 RETURNING id, attempts)
             INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_us,
                 outcome, status_code, response_body, error)
             SELECT id, attempts, $10::text, $11::bigint, $12::text, $5::bigint, $13::text,
                 $14::text FROM settled
             RETURNING attempt_no",
        )?;
        let recorded = self.client.query_opt(
            &statement,
            &[
                &a.delivery_id,
                &outcome.status,
                &outcome.next_attempt_at,
                &last_error,
                &status_code,
                &outcome.now,
                &settled_at,
                &lease.owner,
                &lease.until,
                &a.started_at,
                &to_i64(a.duration_us, "duration_us")?,
                &a.outcome,
                &a.response_body,
                &a.error,
            ],
        )?;
        Ok(recorded.is_some())
    }

    /// Gives a lease back without an attempt (the node is stopping): the delivery is due again
    /// at once for any node. Returns whether `lease` still held it.
    pub fn release(&mut self, lease: Lease<'_>, id: &str) -> Result<bool, PgStoreError> {
        let changed = self.client.execute(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2 AND lease_until = $3",
            &[&id, &lease.owner, &lease.until],
        )?;
        Ok(changed == 1)
    }

    /// Deliveries by `filter`, newest event first (skipped ones only when asked for), as
    /// `store::delivery::deliveries` lists them on SQLite.
    pub fn deliveries(&mut self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, PgStoreError> {
        let before = filter
            .before_seq
            .map(|seq| to_i64(seq, "before_seq"))
            .transpose()?;
        let rows = self.client.query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries
                 WHERE (($1::text IS NULL AND status <> 'skipped') OR status = $1)
                   AND ($2::text IS NULL OR event = $2)
                   AND ($3::text IS NULL OR subscription_id = $3)
                   AND ($4::bigint IS NULL OR seq < $4)
                 ORDER BY seq DESC, id LIMIT $5"
            ),
            &[
                &filter.status,
                &filter.event,
                &filter.subscription_id,
                &before,
                &i64::from(filter.limit),
            ],
        )?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// The deliveries of the events at `seqs`, by `seq` and id (the console's history of an
    /// order shows them under the events that caused them).
    pub fn deliveries_at(&mut self, seqs: &[u64]) -> Result<Vec<Delivery>, PgStoreError> {
        let seqs = seqs
            .iter()
            .map(|seq| to_i64(*seq, "seq"))
            .collect::<Result<Vec<i64>, _>>()?;
        self.client
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE seq = ANY($1)
                     ORDER BY seq, id"
                ),
                &[&seqs],
            )?
            .iter()
            .map(delivery_from_row)
            .collect()
    }

    /// Pending deliveries per failing endpoint (one with a pending delivery that failed an
    /// attempt), each count capped at `cap`: what the backlog limit of an expansion needs, read
    /// without counting the healthy endpoints' pending deliveries (as SQLite's
    /// `store::delivery::failing_backlogs`).
    pub fn failing_backlogs(&mut self, cap: u64) -> Result<HashMap<String, u64>, PgStoreError> {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        let statement = self.prepared(
            "SELECT e.endpoint, (SELECT COUNT(*) FROM (SELECT 1 FROM deliveries AS d
                 WHERE d.status = 'pending' AND d.endpoint = e.endpoint LIMIT $1) AS capped)
             FROM (SELECT DISTINCT endpoint FROM deliveries
                   WHERE status = 'pending' AND attempts > 0) AS e",
        )?;
        self.client
            .query(&statement, &[&cap])?
            .iter()
            .map(|row| Ok((row.try_get(0)?, to_u64(row.try_get(1)?, "count")?)))
            .collect()
    }

    /// The outbound backlog: pending deliveries plus outbox rows past the workers' cursor, and
    /// the time the oldest of them was created or recorded (as SQLite's
    /// `store::delivery::backlog`), for the gauges.
    pub fn backlog(&mut self) -> Result<(u64, Option<String>), PgStoreError> {
        let row = self.client.query_one(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE status = 'pending'),
                    (SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'),
                    (SELECT COUNT(*) FROM proj_outbox WHERE seq > (SELECT COALESCE(MAX(seq), 0)
                         FROM outbound_cursor WHERE name = $1)),
                    (SELECT MIN(recorded_at) FROM proj_outbox WHERE seq > (SELECT
                         COALESCE(MAX(seq), 0) FROM outbound_cursor WHERE name = $1))",
            &[&OUTBOX_CURSOR],
        )?;
        let pending = to_u64(row.try_get(0)?, "count")?;
        let oldest_pending: Option<String> = row.try_get(1)?;
        let unexpanded = to_u64(row.try_get(2)?, "count")?;
        let oldest_row: Option<String> = row.try_get(3)?;
        let oldest = match (oldest_pending, oldest_row) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok((pending + unexpanded, oldest))
    }

    /// One delivery, leased or not.
    pub fn delivery(&mut self, id: &str) -> Result<Option<Delivery>, PgStoreError> {
        self.client
            .query_opt(
                &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"),
                &[&id],
            )?
            .as_ref()
            .map(delivery_from_row)
            .transpose()
    }

    /// A delivery's attempts, first first.
    pub fn attempts(&mut self, delivery_id: &str) -> Result<Vec<Attempt>, PgStoreError> {
        let rows = self.client.query(
            "SELECT delivery_id, attempt_no, started_at, duration_us, outcome, status_code,
             response_body, error FROM delivery_attempts WHERE delivery_id = $1
             ORDER BY attempt_no",
            &[&delivery_id],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Attempt {
                    delivery_id: row.try_get(0)?,
                    attempt_no: to_u32(row.try_get(1)?, "attempt_no")?,
                    started_at: row.try_get(2)?,
                    duration_us: to_u64(row.try_get(3)?, "duration_us")?,
                    outcome: row.try_get(4)?,
                    status_code: row
                        .try_get::<_, Option<i64>>(5)?
                        .map(|code| to_u16(code, "status_code"))
                        .transpose()?,
                    response_body: row.try_get(6)?,
                    error: row.try_get(7)?,
                })
            })
            .collect()
    }
}

/// Inserts deliveries given as one array per column (`$1` to `$19`, [`DELIVERY_COLUMNS`]'s
/// order); one that exists already (same id, or same outbox row and endpoint) is left as it is.
pub(crate) static INSERT_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO deliveries ({DELIVERY_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[],
             $12::bigint[], $13::text[], $14::text[], $15::bigint[], $16::text[], $17::text[],
             $18::text[], $19::text[])
         ON CONFLICT DO NOTHING"
    )
});

/// Inserts `deliveries` with one statement ([`INSERT_DELIVERIES`], prepared as `statement`) in
/// the caller's transaction. Returns how many were inserted.
pub(crate) fn insert_deliveries(
    tx: &mut postgres::Transaction<'_>,
    statement: &Statement,
    deliveries: &[Delivery],
) -> Result<u64, PgStoreError> {
    if deliveries.is_empty() {
        return Ok(0);
    }
    let texts = |f: fn(&Delivery) -> &str| -> Vec<&str> { deliveries.iter().map(f).collect() };
    let optional = |f: fn(&Delivery) -> Option<&str>| -> Vec<Option<&str>> {
        deliveries.iter().map(f).collect()
    };
    let seqs = deliveries
        .iter()
        .map(|d| to_i64(d.seq, "seq"))
        .collect::<Result<Vec<i64>, _>>()?;
    let attempts: Vec<i64> = deliveries.iter().map(|d| i64::from(d.attempts)).collect();
    let round_attempts: Vec<i64> = deliveries
        .iter()
        .map(|d| i64::from(d.round_attempts))
        .collect();
    let status_codes: Vec<Option<i64>> = deliveries
        .iter()
        .map(|d| d.last_status_code.map(i64::from))
        .collect();
    Ok(tx.execute(
        statement,
        &[
            &texts(|d| &d.id),
            &texts(|d| &d.outbox_id),
            &texts(|d| &d.endpoint),
            &texts(|d| &d.destination),
            &optional(|d| d.subscription_id.as_deref()),
            &texts(|d| &d.tenant),
            &seqs,
            &texts(|d| &d.event),
            &texts(|d| &d.stream),
            &texts(|d| &d.status),
            &attempts,
            &round_attempts,
            &optional(|d| d.next_attempt_at.as_deref()),
            &optional(|d| d.last_error.as_deref()),
            &status_codes,
            &texts(|d| &d.body),
            &texts(|d| &d.created_at),
            &texts(|d| &d.updated_at),
            &optional(|d| d.settled_at.as_deref()),
        ],
    )?)
}

/// The statement that leases due deliveries of `$1` at `$2` for owner `$4` until `$5`, at most
/// `limit` of them (an SQL expression).
fn lease_sql(ordered: bool, limit: &str) -> String {
    // The first pending delivery of its stream, by (`seq`, id): a correlated subquery, so that
    // every candidate costs one probe of the (endpoint, stream, seq) index whatever the
    // statistics say (as an anti-join on stale statistics, the planner probed by endpoint alone
    // and read every pending delivery per candidate).
    let first_of_stream = if ordered {
        "AND d.id = (SELECT e.id FROM deliveries AS e
             WHERE e.status = 'pending' AND e.endpoint = d.endpoint AND e.stream = d.stream
             ORDER BY e.seq, e.id LIMIT 1)"
    } else {
        ""
    };
    format!(
        "WITH due AS (
             SELECT d.id AS due_id FROM deliveries AS d
             WHERE d.status = 'pending' AND d.endpoint = $1 AND d.next_attempt_at <= $2
               AND (d.lease_until IS NULL OR d.lease_until <= $2)
               {first_of_stream}
             ORDER BY d.next_attempt_at, d.seq
             LIMIT {limit}
             FOR UPDATE SKIP LOCKED)
         UPDATE deliveries SET lease_owner = $4, lease_until = $5
         FROM due WHERE deliveries.id = due.due_id
         RETURNING {DELIVERY_COLUMNS}"
    )
}

/// Leased rows as deliveries, soonest first, then by `seq`.
fn leased_in_order(rows: &[Row]) -> Result<Vec<Delivery>, PgStoreError> {
    let mut leased = rows
        .iter()
        .map(delivery_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    leased.sort_by(|a, b| {
        (&a.next_attempt_at, a.seq, &a.id).cmp(&(&b.next_attempt_at, b.seq, &b.id))
    });
    Ok(leased)
}

/// The key of the advisory lock under which nodes lease deliveries of `endpoint`
/// ([`PgLog::lease_due_capped`]): FNV-1a of the endpoint's name, in the range of BIGINT.
fn endpoint_lock_key(endpoint: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "hookledger/lease/".bytes().chain(endpoint.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// An outbox row read as `id, seq, event, destination, stream, recorded_at, payload`.
pub(crate) fn outbox_from_row(row: &Row) -> Result<OutboxRow, PgStoreError> {
    Ok(OutboxRow {
        id: row.try_get(0)?,
        seq: to_u64(row.try_get(1)?, "seq")?,
        event: row.try_get(2)?,
        destination: row.try_get(3)?,
        stream: row.try_get(4)?,
        recorded_at: row.try_get(5)?,
        payload: row.try_get(6)?,
    })
}

fn delivery_from_row(row: &Row) -> Result<Delivery, PgStoreError> {
    Ok(Delivery {
        id: row.try_get(0)?,
        outbox_id: row.try_get(1)?,
        endpoint: row.try_get(2)?,
        destination: row.try_get(3)?,
        subscription_id: row.try_get(4)?,
        tenant: row.try_get(5)?,
        seq: to_u64(row.try_get(6)?, "seq")?,
        event: row.try_get(7)?,
        stream: row.try_get(8)?,
        status: row.try_get(9)?,
        attempts: to_u32(row.try_get(10)?, "attempts")?,
        round_attempts: to_u32(row.try_get(11)?, "round_attempts")?,
        next_attempt_at: row.try_get(12)?,
        last_error: row.try_get(13)?,
        last_status_code: row
            .try_get::<_, Option<i64>>(14)?
            .map(|code| to_u16(code, "last_status_code"))
            .transpose()?,
        body: row.try_get(15)?,
        created_at: row.try_get(16)?,
        updated_at: row.try_get(17)?,
        settled_at: row.try_get(18)?,
    })
}

fn to_u16(value: i64, what: &str) -> Result<u16, PgStoreError> {
    u16::try_from(value)
        .map_err(|_| PgStoreError::Corrupt(format!("{what} {value} is out of range")))
}
