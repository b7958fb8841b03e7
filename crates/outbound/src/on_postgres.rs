//! The delivery worker of a `serve` node on PostgreSQL (decision 0008, slice 4): every node
//! runs one, and they share the delivery state in PostgreSQL (`store_pg::delivery`).
//!
//! Each round the dispatcher
//! 1. expands outbox rows past the workers' shared cursor into deliveries: it plans them as the
//!    SQLite worker does ([`crate::worker`]'s `deliveries_for`), then inserts them and moves
//!    the cursor in one transaction, only if no other node moved the cursor meanwhile (else it
//!    plans again from the new cursor);
//! 2. leases due deliveries endpoint by endpoint (`FOR UPDATE SKIP LOCKED`, so two nodes never
//!    take the same one; in stream order, so a stream's deliveries go one at a time over all
//!    nodes), keeping at most `endpoint_concurrency_max` leases live per endpoint over the whole
//!    cluster and `concurrency_max` attempts in flight on this node;
//! 3. sleeps until the next delivery is due, a batch of this node commits, an attempt ends, or
//!    `poll_interval` passes.
//!
//! A lease lasts the send timeout plus [`LEASE_MARGIN`]; an attempt's outcome counts only
//! under the lease it was sent under. The worker's commits do not wait for PostgreSQL's disk
//! flush (`synchronous_commit = off` on its connection): one lost in a crash of the server
//! means a delivery sent again, which at-least-once allows, and a commit per attempt would
//! otherwise cost a flush. A node that dies mid-delivery leaves its leases to lapse,
//! and then any node sends those deliveries again (at least once, as on SQLite after a crash).
//!
//! Deliveries go to seed 003's customer endpoint, seed 002's Zapier endpoint and the
//! subscriptions, all shared in PostgreSQL (a subscription's failure run is followed there as on
//! SQLite: a 410 or a run longer than `failing_span_max` disables it). The expansion is planned
//! by the same code as SQLite's (`worker::plan_rows`: skipped destinations, the backlog limit
//! of a failing endpoint), and the backlog gauges count the whole cluster's backlog.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use store::delivery::{delivery_status, subscription_status, AttemptOutcome, Delivery};
use store_pg::{Lease, PgLog, PgStoreError};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::body::destination;
use crate::send::Sender;
use crate::worker::{
    health_after, now_text, outcome_of, plan_rows, report_backlog, resolve, AbortOnDrop, Health,
    Target, EXPAND_ROWS_MAX, GAUGE_INTERVAL, RECORD_RETRY_MAX,
};
use crate::{Config, Observer, OutboundError};

/// How long a lease outlasts the send timeout, so that a live node's attempt is never taken
/// over while it is on the wire.
pub const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The configured endpoints, besides the subscriptions.
const CONFIGURED: [&str; 2] = [destination::CUSTOMER, destination::ZAPIER];

/// One connection to PostgreSQL, made again after a failure.
struct Connection {
    url: String,
    log: Mutex<Option<PgLog>>,
}

impl Connection {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut PgLog) -> Result<T, PgStoreError>,
    ) -> Result<T, PgStoreError> {
        let mut slot = self
            .log
            .lock()
            .map_err(|_| PgStoreError::Invariant("the connection's lock is poisoned".into()))?;
        let mut log = match slot.take() {
            Some(log) => log,
            None => {
                let mut log = PgLog::connect(&self.url)?;
                // Delivery bookkeeping: a commit lost in a crash means a delivery sent again.
                log.relax_commit_durability()?;
                log
            }
        };
        let result = f(&mut log);
        // A failed statement may have left the connection unusable: a new one next time.
        if result.is_ok() {
            *slot = Some(log);
        }
        result
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A client's drop blocks on its own runtime: never on the async runtime's threads
        // (the worker's task is dropped there when the server stops).
        if let Some(log) = self.log.get_mut().ok().and_then(Option::take) {
            let _ = std::thread::Builder::new()
                .name("hookledger-pg-close".into())
                .spawn(move || drop(log));
        }
    }
}

/// Everything the dispatcher and its attempt tasks share.
struct Shared {
    /// The dispatcher's connection (expansion, leases).
    pg: Arc<Connection>,
    /// The attempts' connection (their outcomes), so that they do not wait for a dispatch.
    records: Arc<Connection>,
    config: Config,
    sender: Sender,
    observer: Arc<dyn Observer>,
    wake: Arc<Notify>,
    /// This node's name in the leases it takes.
    node: String,
}

/// Runs `f` on the dispatcher's connection without blocking the runtime.
async fn pg<T, F>(shared: &Shared, f: F) -> Result<T, OutboundError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgLog) -> Result<T, PgStoreError> + Send + 'static,
{
    on(&shared.pg, f).await
}

/// Runs `f` on `connection` without blocking the runtime.
async fn on<T, F>(connection: &Arc<Connection>, f: F) -> Result<T, OutboundError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgLog) -> Result<T, PgStoreError> + Send + 'static,
{
    let pg = connection.clone();
    tokio::task::spawn_blocking(move || pg.with(f))
        .await
        .map_err(|e| OutboundError::Task(e.to_string()))?
        .map_err(OutboundError::from)
}

/// Starts this node's worker on the PostgreSQL database at `url` (migrated): sets the shared
/// cursor on the cluster's first start (rows already in the outbox then are never sent), then
/// runs the dispatcher until the returned task is aborted.
pub async fn start(
    url: &str,
    config: Config,
    observer: Arc<dyn Observer>,
    wake: Arc<Notify>,
) -> Result<JoinHandle<()>, OutboundError> {
    let shared = Arc::new(Shared {
        pg: Arc::new(Connection {
            url: url.to_owned(),
            log: Mutex::new(None),
        }),
        records: Arc::new(Connection {
            url: url.to_owned(),
            log: Mutex::new(None),
        }),
        sender: Sender::new(config.guard.clone())?,
        config,
        observer,
        wake,
        node: format!(
            "node-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ),
    });
    pg(&shared, |log| log.init_outbox_cursor()).await?;
    Ok(tokio::spawn(run(shared)))
}

async fn run(shared: Arc<Shared>) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    // The backlog gauges, in a task of their own (their counts read every pending delivery).
    let _gauges = AbortOnDrop(tokio::spawn(gauges(shared.clone())));
    // Expansion runs when this node committed a batch (the writer's wake) or after a sleep
    // (other nodes' batches); an attempt that ended only frees a slot for the next lease.
    let mut expand_now = true;
    // While PostgreSQL fails, a round fails every `poll_interval`: logged when it starts and
    // when it ends, not every round.
    let mut failing = false;
    loop {
        let expanded = if expand_now {
            expand(&shared).await
        } else {
            Ok(())
        };
        let dispatched = dispatch(&shared, &mut in_flight).await;
        let next_due = match (expanded, dispatched) {
            (Ok(()), Ok(next_due)) => {
                if std::mem::take(&mut failing) {
                    tracing::warn!("the delivery worker reaches PostgreSQL again");
                }
                next_due
            }
            (Err(e), _) | (_, Err(e)) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "the delivery worker cannot reach PostgreSQL; retrying every round");
                }
                None
            }
        };
        let sleep = next_due
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(shared.config.poll_interval)
            .min(shared.config.poll_interval);
        expand_now = tokio::select! {
            _ = shared.wake.notified() => true,
            _ = tokio::time::sleep(sleep) => true,
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => false,
        };
        while in_flight.try_join_next().is_some() {}
    }
}

/// Refreshes the backlog gauges every [`GAUGE_INTERVAL`] (the whole cluster's backlog, as
/// every node sees it), on a connection of their own.
async fn gauges(shared: Arc<Shared>) {
    let connection = Arc::new(Connection {
        url: shared.pg.url.clone(),
        log: Mutex::new(None),
    });
    let mut interval = tokio::time::interval(GAUGE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match on(&connection, |log| log.backlog()).await {
            Ok((pending, oldest)) => report_backlog(shared.observer.as_ref(), pending, oldest),
            Err(e) => tracing::debug!(error = %e, "cannot read the outbound backlog"),
        }
    }
}

/// Turns outbox rows past the shared cursor into deliveries until none is left as of the last
/// step's read (rows committed after it wait for the next wake or `poll_interval`).
async fn expand(shared: &Arc<Shared>) -> Result<(), OutboundError> {
    loop {
        let config = shared.config.clone();
        let step = pg(shared, move |log| {
            let cursor = log.outbox_cursor()?;
            let rows = log.outbox_after(cursor, EXPAND_ROWS_MAX)?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            // Fewer rows than asked for: these were all the rows past the cursor.
            let all = rows.len() < EXPAND_ROWS_MAX as usize;
            let subscriptions = log.active_subscriptions()?;
            let failing = log.failing_backlogs(config.backlog_max)?;
            let planned = plan_rows(&rows, &subscriptions, failing, &config, &now_text());
            let applied = log.apply_expansion(cursor, last.seq, &planned.deliveries)?;
            Ok(Some((applied, all, planned)))
        })
        .await?;
        match step {
            None => return Ok(()),
            Some((true, all, planned)) => {
                planned.report_settled(shared.observer.as_ref());
                // Rows appended since then wake the worker again (this node's batches) or
                // are found by the next round (other nodes').
                if all {
                    return Ok(());
                }
            }
            // Another node expanded these rows first: plan again from its cursor.
            Some((false, ..)) => {}
        }
    }
}

/// Leases the due deliveries that fit in the free slots and starts their attempts; returns when
/// the next one is due.
async fn dispatch(
    shared: &Arc<Shared>,
    in_flight: &mut JoinSet<()>,
) -> Result<Option<DateTime<Utc>>, OutboundError> {
    let now = now_text();
    // Where deliveries may go now: the configured endpoints whose URL (and secret) is set, and
    // the active subscriptions (a disabled or deleted one has no pending delivery left).
    let subscriptions = pg(shared, |log| log.active_subscriptions()).await?;
    let mut endpoints: Vec<(String, bool, Arc<Target>)> = Vec::new();
    for endpoint in CONFIGURED {
        if let Ok(target) = resolve(&shared.config, endpoint, None, &now) {
            // Seed 003's and seed 002's callbacks are always ordered per stream.
            endpoints.push((endpoint.to_owned(), true, Arc::new(target)));
        }
    }
    for subscription in &subscriptions {
        if let Ok(target) = resolve(&shared.config, &subscription.id, Some(subscription), &now) {
            endpoints.push((
                subscription.id.clone(),
                subscription.ordered,
                Arc::new(target),
            ));
        }
    }
    let names: Vec<String> = endpoints.iter().map(|(name, ..)| name.clone()).collect();
    for (endpoint, ordered, target) in endpoints {
        let free_here = shared
            .config
            .concurrency_max
            .saturating_sub(in_flight.len());
        if free_here == 0 {
            break;
        }
        let lease_for = shared.config.timeout + LEASE_MARGIN;
        let until = domain::time::format_micros(
            Utc::now() + chrono::Duration::from_std(lease_for).unwrap_or_default(),
        );
        let per_endpoint =
            u32::try_from(shared.config.endpoint_concurrency_max.max(1)).unwrap_or(u32::MAX);
        let free_here = u32::try_from(free_here).unwrap_or(u32::MAX);
        let (node, now_owned, until_owned) = (shared.node.clone(), now.clone(), until.clone());
        let leased = pg(shared, move |log| {
            let lease = Lease {
                owner: &node,
                now: &now_owned,
                until: &until_owned,
            };
            // The per-endpoint limit holds over every node: leases any node holds count.
            log.lease_due_capped(lease, &endpoint, ordered, free_here, per_endpoint)
        })
        .await?;
        for delivery in leased {
            in_flight.spawn(attempt(
                shared.clone(),
                delivery,
                target.clone(),
                until.clone(),
            ));
        }
    }
    let next = pg(shared, move |log| {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        log.next_due_after(&names, &now)
    })
    .await?;
    Ok(next.as_deref().and_then(domain::time::parse_rfc3339))
}

/// One attempt under a lease lasting until `until`: send, then record the outcome under that
/// lease.
async fn attempt(shared: Arc<Shared>, delivery: Delivery, target: Arc<Target>, until: String) {
    let result = shared
        .sender
        .send(&target.outgoing(&delivery, shared.config.timeout))
        .await;
    shared.observer.attempted(&delivery.event, result.duration);
    let (outcome, retry_reason) = outcome_of(&shared.config, &delivery, &result);
    let outcome = Arc::new(outcome);
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let recorded = loop {
        let (outcome, node, until) = (outcome.clone(), shared.node.clone(), until.clone());
        let step = on(&shared.records, move |log| {
            let lease = Lease {
                owner: &node,
                now: &outcome.now,
                until: &until,
            };
            log.record_attempt(lease, &outcome)
        })
        .await;
        match step {
            Ok(recorded) => break Ok(recorded),
            Err(e) if started.elapsed() < RECORD_RETRY_MAX => {
                tracing::warn!(error = %e, delivery = delivery.id,
                    "cannot record a delivery attempt yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => break Err(e),
        }
    };
    if let (Ok(true), Some(id)) = (&recorded, delivery.subscription_id.clone()) {
        let gone = result.status_code == Some(410);
        let (outcome, span) = (outcome.clone(), shared.config.failing_span_max);
        if let Err(e) = on(&shared.records, move |log| {
            follow_subscription(log, &id, &outcome, gone, span)
        })
        .await
        {
            tracing::warn!(error = %e, "cannot update a subscription's failure run");
        }
    }
    match recorded {
        Ok(true) if outcome.status == delivery_status::PENDING => {
            shared
                .observer
                .retrying(&delivery.event, retry_reason.unwrap_or("unknown"));
        }
        Ok(true) => shared.observer.settled(&delivery.event, &outcome.status),
        // The lease had lapsed: the attempt under the newer lease is the one that counts.
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, delivery = delivery.id,
                "cannot record a delivery attempt; it will be repeated once its lease lapses");
        }
    }
}

/// A subscription's health after an attempt, as on SQLite ([`crate::worker`]'s
/// `health_after`), applied in PostgreSQL.
fn follow_subscription(
    log: &mut PgLog,
    id: &str,
    outcome: &AttemptOutcome,
    gone: bool,
    span: Duration,
) -> Result<(), PgStoreError> {
    let now = &outcome.now;
    let health = health_after(outcome, gone, span, || {
        Ok::<_, PgStoreError>(log.subscription(id)?.map(|s| s.failing_since))
    })?;
    match health {
        Health::Recovered => log.set_failing_since(id, None),
        Health::StartsFailing => log.set_failing_since(id, Some(now)),
        Health::Disable(reason) => log
            .end_subscription(id, subscription_status::DISABLED, &reason, now)
            .map(drop),
        Health::Unchanged => Ok(()),
    }
}
