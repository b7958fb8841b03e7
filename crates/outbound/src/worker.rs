//! The delivery worker: one tokio task (the dispatcher) plus one short task per attempt.
//!
//! Each round the dispatcher
//! 1. expands outbox rows past its durable cursor into deliveries, in writer jobs of whole `seq`s
//!    (the cursor moves in the same transaction, so a crash neither loses nor doubles a row);
//! 2. launches due deliveries, endpoint by endpoint, keeping at most
//!    `endpoint_concurrency_max` attempts in flight per endpoint and `concurrency_max` in all,
//!    so that a slow or dead endpoint holds a few slots and never the whole worker;
//! 3. sleeps until the next delivery is due, a writer batch commits (the writer's observer pings
//!    the [`Notify`]), an attempt ends, or `poll_interval` passes.
//!
//! Each attempt records its outcome (and the next attempt's time) in a writer job before its
//! task ends, so the database always says what to do next: a restarted worker resumes every
//! pending delivery on its schedule.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use store::delivery::{
    self, delivery_status, subscription_status, Attempt, AttemptOutcome, Delivery, Subscription,
};
use store::projection::OutboxRow;
use store::{Store, StoreError, WriteCtx, WriteError, Writer};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::body::{self, destination};
use crate::policy::Verdict;
use crate::send::{AttemptResult, Outgoing, Sender};
use crate::subscriptions::event_matches;
use crate::{delivery_id, Config, Observer, OutboundError};

/// Outbox rows expanded per writer job (whole `seq`s, so a little more at times).
pub(crate) const EXPAND_ROWS_MAX: u32 = 500;
/// How often the backlog gauges are refreshed.
pub(crate) const GAUGE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a busy writer is retried before an attempt's record is given up (the delivery then
/// stays pending and is attempted again: at least once).
const WRITE_BUSY_RETRY_MAX: Duration = Duration::from_secs(30);
/// How long an attempt's outcome is retried while the writer fails (a disk fault) before it
/// is given up (the delivery then stays pending and is attempted again: at least once).
pub(crate) const RECORD_RETRY_MAX: Duration = Duration::from_secs(600);

pub(crate) fn now_text() -> String {
    domain::time::format_micros(Utc::now())
}

/// Runs `f` on a read-only connection without blocking the runtime.
pub(crate) async fn read<T, F>(store: &Store, f: F) -> Result<T, OutboundError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.read(f))
        .await
        .map_err(|e| OutboundError::Task(e.to_string()))?
        .map_err(OutboundError::from)
}

/// Runs `f` in a writer job; a full writer queue is retried for a while.
pub(crate) async fn write<T, F>(writer: &Writer, f: F) -> Result<T, OutboundError>
where
    T: Send + 'static,
    F: Fn(&mut WriteCtx<'_>) -> Result<T, StoreError> + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let job = f.clone();
        match writer.submit(move |ctx| job(ctx)).await {
            Ok(result) => return result.map_err(OutboundError::from),
            Err(WriteError::Busy) if started.elapsed() < WRITE_BUSY_RETRY_MAX => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Everything the dispatcher and its attempt tasks share.
struct Shared {
    store: Store,
    writer: Writer,
    config: Config,
    sender: Sender,
    observer: Arc<dyn Observer>,
    wake: Arc<Notify>,
}

/// Starts the worker: sets the cursor on a first start (rows already in the outbox then are
/// never sent), then runs the dispatcher until the returned task is aborted. Aborting it also
/// aborts the attempts in flight; they are repeated after a restart.
pub async fn start(
    store: Store,
    writer: Writer,
    config: Config,
    observer: Arc<dyn Observer>,
    wake: Arc<Notify>,
) -> Result<JoinHandle<()>, OutboundError> {
    let sender = Sender::new(config.guard.clone())?;
    write(&writer, |ctx| ctx.deliveries().init_cursor()).await?;
    let shared = Arc::new(Shared {
        store,
        writer,
        config,
        sender,
        observer,
        wake,
    });
    Ok(tokio::spawn(run(shared)))
}

/// The attempts in flight, by task and by endpoint.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<()>,
    by_task: HashMap<tokio::task::Id, (String, String)>,
    by_endpoint: HashMap<String, HashSet<String>>,
}

impl InFlight {
    fn launch(&mut self, shared: &Arc<Shared>, job: Job) {
        let endpoint = job.delivery.endpoint.clone();
        let id = job.delivery.id.clone();
        let handle = self.tasks.spawn(attempt(shared.clone(), job));
        self.by_endpoint
            .entry(endpoint.clone())
            .or_default()
            .insert(id.clone());
        self.by_task.insert(handle.id(), (endpoint, id));
    }

    fn finished(&mut self, task: tokio::task::Id) {
        if let Some((endpoint, id)) = self.by_task.remove(&task) {
            if let Some(ids) = self.by_endpoint.get_mut(&endpoint) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_endpoint.remove(&endpoint);
                }
            }
        }
    }

    /// Forgets every attempt task that has ended.
    fn reap(&mut self) {
        while let Some(done) = self.tasks.try_join_next_with_id() {
            self.finished(task_id(done));
        }
    }
}

/// The id of an ended task, whether it returned or panicked.
fn task_id(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(e) => e.id(),
    }
}

/// Aborts a task when dropped: the gauge task ends with the dispatcher that started it.
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(shared: Arc<Shared>) {
    let mut in_flight = InFlight::default();
    // The backlog gauges count every pending delivery: a task of their own, so that a long
    // backlog does not delay the rounds that launch fresh deliveries.
    let _gauges = AbortOnDrop(tokio::spawn(gauges(shared.clone())));
    let mut round: usize = 0;
    loop {
        round = round.wrapping_add(1);
        if let Err(e) = expand(&shared).await {
            tracing::warn!(error = %e, "outbox expansion failed; retrying on the next round");
        }
        let next_due = match dispatch(&shared, &mut in_flight, round).await {
            Ok(next_due) => next_due,
            Err(e) => {
                tracing::warn!(error = %e, "delivery dispatch failed; retrying on the next round");
                None
            }
        };
        let sleep = next_due
            .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(shared.config.poll_interval)
            .min(shared.config.poll_interval);
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            Some(done) = in_flight.tasks.join_next_with_id(), if !in_flight.tasks.is_empty() => {
                in_flight.finished(task_id(done));
            }
        }
        in_flight.reap();
    }
}

/// Refreshes the backlog gauges every [`GAUGE_INTERVAL`].
async fn gauges(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(GAUGE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        refresh_gauges(&shared).await;
    }
}

async fn refresh_gauges(shared: &Shared) {
    match read(&shared.store, delivery::backlog).await {
        Ok((pending, oldest)) => report_backlog(shared.observer.as_ref(), pending, oldest),
        Err(e) => tracing::warn!(error = %e, "cannot read the outbound backlog"),
    }
}

/// Reports a backlog read (pending deliveries and unexpanded rows, and when the oldest of them
/// was created, as the log writes times) to the gauges, on either backend.
pub(crate) fn report_backlog(observer: &dyn Observer, pending: u64, oldest: Option<String>) {
    let age = oldest
        .as_deref()
        .and_then(domain::time::parse_rfc3339)
        .and_then(|t| (Utc::now() - t).to_std().ok())
        .unwrap_or(Duration::ZERO);
    observer.backlog(pending, age);
}

/// Turns outbox rows past the cursor into deliveries until none is left.
///
/// The rows are read and the deliveries planned on a read-only connection, beside the writer;
/// the writer's job only inserts the planned deliveries and moves the cursor, in one
/// transaction, after checking that the cursor is still where the plan started (else it plans
/// again). The writer thread is the ledger's bottleneck: reading hundreds of outbox rows back
/// inside it cost about as much as appending them.
async fn expand(shared: &Arc<Shared>) -> Result<(), OutboundError> {
    loop {
        let config = shared.config.clone();
        let Some(plan) = read(&shared.store, move |conn| plan_expansion(conn, &config)).await?
        else {
            return Ok(());
        };
        let plan = Arc::new(plan);
        let job_plan = plan.clone();
        let applied = write(&shared.writer, move |ctx| {
            let tx = ctx.deliveries();
            if delivery::cursor(tx.conn())? != job_plan.cursor {
                return Ok(false);
            }
            for new in &job_plan.planned.deliveries {
                tx.insert_delivery(new)?;
            }
            tx.set_cursor(job_plan.last_seq)?;
            Ok(true)
        })
        .await?;
        if applied {
            plan.planned.report_settled(shared.observer.as_ref());
        }
    }
}

/// Deliveries to create for the outbox rows past the cursor, at most [`EXPAND_ROWS_MAX`]
/// (whole `seq`s).
struct Expansion {
    /// The cursor the plan starts from.
    cursor: u64,
    /// The cursor after it.
    last_seq: u64,
    planned: Planned,
}

fn plan_expansion(conn: &Connection, config: &Config) -> Result<Option<Expansion>, StoreError> {
    let cursor = delivery::cursor(conn)?;
    let rows = delivery::outbox_after(conn, cursor, EXPAND_ROWS_MAX)?;
    let Some(last) = rows.last() else {
        return Ok(None);
    };
    let subscriptions = delivery::active_subscriptions(conn)?;
    let failing = delivery::failing_backlogs(conn, config.backlog_max)?;
    let planned = plan_rows(&rows, &subscriptions, failing, config, &now_text());
    Ok(Some(Expansion {
        cursor,
        last_seq: last.seq,
        planned,
    }))
}

/// The deliveries outbox rows make, as [`plan_rows`] plans them.
#[derive(Debug, Default)]
pub(crate) struct Planned {
    pub(crate) deliveries: Vec<Delivery>,
    /// Events of rows whose destination has no URL: counted, not stored.
    pub(crate) skipped: Vec<String>,
    /// Events of deliveries recorded dead because their endpoint's backlog is full.
    pub(crate) dead: Vec<String>,
}

impl Planned {
    /// Counts the skipped and dead events of an expansion that was applied.
    pub(crate) fn report_settled(&self, observer: &dyn Observer) {
        for event in &self.skipped {
            observer.settled(event, delivery_status::SKIPPED);
        }
        for event in &self.dead {
            observer.settled(event, delivery_status::DEAD);
        }
    }
}

/// Plans the deliveries of `rows` (on either backend): `failing` holds the pending deliveries
/// of each failing endpoint (one with a pending delivery that failed an attempt), capped at
/// `backlog_max`.
pub(crate) fn plan_rows(
    rows: &[OutboxRow],
    subscriptions: &[Subscription],
    mut failing: HashMap<String, u64>,
    config: &Config,
    now: &str,
) -> Planned {
    let mut plan = Planned::default();
    for row in rows {
        for mut new in deliveries_for(row, subscriptions, config, now) {
            // A destination without a URL is counted (`webhook_deliveries_total{status=
            // "skipped"}`) and not stored: a row per event that nobody will send cost the
            // writer as much as the event itself. `redeliver` sends such rows once a URL is set.
            if new.status == delivery_status::SKIPPED {
                plan.skipped.push(new.event);
                continue;
            }
            // The backlog limit: only a failing endpoint is cut off; a healthy one drains a
            // burst by itself.
            if let Some(queued) = failing.get_mut(&new.endpoint) {
                if *queued >= config.backlog_max {
                    new = backlog_full(new, config.backlog_max);
                    plan.dead.push(new.event.clone());
                } else {
                    *queued += 1;
                }
            }
            plan.deliveries.push(new);
        }
    }
    plan
}

/// A delivery refused because its endpoint is failing (a pending delivery awaits a retry) and
/// already has `backlog_max` pending: recorded dead with the reason, so that an admin can
/// redeliver it once the endpoint is back.
fn backlog_full(mut delivery: Delivery, backlog_max: u64) -> Delivery {
    delivery.status = delivery_status::DEAD.to_owned();
    delivery.next_attempt_at = None;
    delivery.last_error = Some(format!(
        "backlog full: the endpoint already had {backlog_max} pending deliveries \
         (HOOKLEDGER_OUTBOX_BACKLOG_MAX); redeliver once it is back"
    ));
    delivery.settled_at = Some(delivery.created_at.clone());
    delivery
}

/// A new pending delivery of `row` to `endpoint`.
pub(crate) fn new_delivery(
    row: &OutboxRow,
    endpoint: &str,
    subscription_id: Option<&str>,
    tenant: &str,
    body: String,
    now: &str,
) -> Delivery {
    Delivery {
        id: delivery_id(&row.id, endpoint),
        outbox_id: row.id.clone(),
        endpoint: endpoint.to_owned(),
        destination: row.destination.clone(),
        subscription_id: subscription_id.map(str::to_owned),
        tenant: tenant.to_owned(),
        seq: row.seq,
        event: row.event.clone(),
        stream: row.stream.clone(),
        status: delivery_status::PENDING.to_owned(),
        attempts: 0,
        round_attempts: 0,
        next_attempt_at: Some(now.to_owned()),
        last_error: None,
        last_status_code: None,
        body,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        settled_at: None,
    }
}

fn skipped(mut delivery: Delivery, reason: &str) -> Delivery {
    delivery.status = delivery_status::SKIPPED.to_owned();
    delivery.next_attempt_at = None;
    delivery.last_error = Some(reason.to_owned());
    delivery.settled_at = Some(delivery.created_at.clone());
    delivery
}

/// The deliveries one outbox row makes.
pub(crate) fn deliveries_for(
    row: &OutboxRow,
    subscriptions: &[Subscription],
    config: &Config,
    now: &str,
) -> Vec<Delivery> {
    let tenant = &config.tenant;
    match row.destination.as_str() {
        destination::CUSTOMER => {
            let new = new_delivery(
                row,
                destination::CUSTOMER,
                None,
                tenant,
                body::customer(row),
                now,
            );
            vec![match customer_unset(config) {
                Some(reason) => skipped(new, reason),
                None => new,
            }]
        }
        destination::ZAPIER => {
            let new = new_delivery(
                row,
                destination::ZAPIER,
                None,
                tenant,
                body::zapier(row),
                now,
            );
            vec![match config.zapier_url {
                Some(_) => new,
                None => skipped(new, "ZAPIER_WEBHOOK_URL is not set"),
            }]
        }
        destination::SUBSCRIBERS => subscriptions
            .iter()
            .filter(|s| s.created_after_seq < row.seq && event_matches(&s.event, &row.event))
            .map(|s| new_delivery(row, &s.id, Some(&s.id), tenant, body::subscriber(row), now))
            .collect(),
        other => {
            tracing::warn!(
                destination = other,
                id = row.id,
                "outbox row with an unknown destination"
            );
            let new = new_delivery(row, other, None, tenant, row.payload.clone(), now);
            vec![skipped(new, "unknown destination")]
        }
    }
}

fn customer_unset(config: &Config) -> Option<&'static str> {
    if config.customer_url.is_none() {
        Some("CUSTOMER_WEBHOOK_URL is not set")
    } else if config.customer_secret.is_none() {
        Some("CUSTOMER_SERVER_SECRET is not set (seed 003 callbacks carry it)")
    } else {
        None
    }
}

/// One attempt to make: the delivery and where and how to send it.
struct Job {
    delivery: Delivery,
    target: Target,
}

/// Where and how a delivery is sent.
pub(crate) struct Target {
    url: String,
    /// The URL came through the API: the address guard applies.
    guarded: bool,
    secrets: Vec<String>,
    vendor_secret: Option<String>,
}

impl Target {
    /// The request that sends `delivery` here.
    pub(crate) fn outgoing<'a>(
        &'a self,
        delivery: &'a Delivery,
        timeout: Duration,
    ) -> Outgoing<'a> {
        Outgoing {
            url: &self.url,
            guarded: self.guarded,
            webhook_id: &delivery.id,
            event: &delivery.event,
            body: &delivery.body,
            signing_secrets: self.secrets.iter().map(String::as_str).collect(),
            vendor_secret: self.vendor_secret.as_deref(),
            timeout,
        }
    }
}

/// Where a pending delivery goes now, or why it cannot go anywhere any more.
pub(crate) fn resolve(
    config: &Config,
    endpoint: &str,
    subscription: Option<&Subscription>,
    now: &str,
) -> Result<Target, String> {
    let trusted = |url: &str, secrets: Vec<String>, vendor_secret| Target {
        url: url.to_owned(),
        guarded: false,
        secrets,
        vendor_secret,
    };
    match endpoint {
        destination::CUSTOMER => match (&config.customer_url, &config.customer_secret) {
            (Some(url), Some(secret)) => {
                Ok(trusted(url, vec![secret.clone()], Some(secret.clone())))
            }
            _ => Err(customer_unset(config).unwrap_or_default().to_owned()),
        },
        destination::ZAPIER => match &config.zapier_url {
            Some(url) => Ok(trusted(
                url,
                config.zapier_secret.iter().cloned().collect(),
                None,
            )),
            None => Err("ZAPIER_WEBHOOK_URL is not set".to_owned()),
        },
        _ => match subscription {
            Some(s) if s.status == subscription_status::ACTIVE => {
                let mut secrets = vec![s.secret.clone()];
                if let (Some(previous), Some(until)) =
                    (&s.previous_secret, &s.previous_secret_expires_at)
                {
                    if until.as_str() > now {
                        secrets.push(previous.clone());
                    }
                }
                Ok(Target {
                    url: s.url.clone(),
                    guarded: true,
                    secrets,
                    vendor_secret: None,
                })
            }
            Some(s) => Err(format!(
                "subscription {}: {}",
                s.status,
                s.status_reason.as_deref().unwrap_or("no reason given")
            )),
            None => Err("the subscription does not exist".to_owned()),
        },
    }
}

/// What one dispatch round found to do.
struct Plan {
    launch: Vec<(Delivery, Option<Subscription>)>,
    next_due: Option<String>,
}

/// Launches the due deliveries that fit in the free slots; returns when the next one is due.
async fn dispatch(
    shared: &Arc<Shared>,
    in_flight: &mut InFlight,
    round: usize,
) -> Result<Option<DateTime<Utc>>, OutboundError> {
    let global_free = shared
        .config
        .concurrency_max
        .saturating_sub(in_flight.tasks.len());
    let per_endpoint = shared.config.endpoint_concurrency_max.max(1);
    let busy: HashMap<String, HashSet<String>> = in_flight.by_endpoint.clone();
    let now = now_text();
    let plan = read(&shared.store, move |conn| {
        plan(conn, &busy, global_free, per_endpoint, round, &now)
    })
    .await?;
    let now = now_text();
    let mut abandoned = Vec::new();
    for (delivery, subscription) in plan.launch {
        match resolve(
            &shared.config,
            &delivery.endpoint,
            subscription.as_ref(),
            &now,
        ) {
            Ok(target) => in_flight.launch(shared, Job { delivery, target }),
            Err(reason) => abandoned.push((delivery, reason)),
        }
    }
    for (delivery, reason) in abandoned {
        let id = delivery.id.clone();
        let now = now.clone();
        if write(&shared.writer, move |ctx| {
            ctx.deliveries().abandon(&id, &reason, &now)
        })
        .await?
        {
            shared
                .observer
                .settled(&delivery.event, delivery_status::DEAD);
        }
    }
    Ok(plan
        .next_due
        .as_deref()
        .and_then(domain::time::parse_rfc3339))
}

fn plan(
    conn: &Connection,
    busy: &HashMap<String, HashSet<String>>,
    global_free: usize,
    per_endpoint: usize,
    round: usize,
    now: &str,
) -> Result<Plan, StoreError> {
    let mut launch = Vec::new();
    let mut endpoints = delivery::pending_endpoints(conn)?;
    if !endpoints.is_empty() {
        // Start with a different endpoint each round, so that global slots are shared fairly.
        let start = round % endpoints.len();
        endpoints.rotate_left(start);
    }
    let empty = HashSet::new();
    for endpoint in endpoints {
        let free_global = global_free.saturating_sub(launch.len());
        if free_global == 0 {
            break;
        }
        let in_flight = busy.get(&endpoint).unwrap_or(&empty);
        let free = per_endpoint
            .saturating_sub(in_flight.len())
            .min(free_global);
        if free == 0 {
            continue;
        }
        let subscription = match endpoint.as_str() {
            destination::CUSTOMER | destination::ZAPIER => None,
            id => delivery::subscription(conn, id)?,
        };
        // Seed 003's and seed 002's callbacks are always ordered per stream: the customer's
        // server keeps the last status it received, so `completed` overtaken by a retried
        // `processing` would leave it on the wrong one. Subscribers choose.
        let ordered = match endpoint.as_str() {
            destination::CUSTOMER | destination::ZAPIER => true,
            _ => subscription.as_ref().is_some_and(|s| s.ordered),
        };
        let limit = (free + in_flight.len()) as u32;
        let due = delivery::due_for_endpoint(conn, &endpoint, now, ordered, limit)?;
        launch.extend(
            due.into_iter()
                .filter(|d| !in_flight.contains(&d.id))
                .take(free)
                .map(|d| (d, subscription.clone())),
        );
    }
    let next_due = delivery::next_due_after(conn, now)?;
    Ok(Plan { launch, next_due })
}

/// One attempt: send, then record the outcome (and its effect on the subscription).
async fn attempt(shared: Arc<Shared>, job: Job) {
    let Job { delivery, target } = job;
    let result = shared
        .sender
        .send(&target.outgoing(&delivery, shared.config.timeout))
        .await;
    shared.observer.attempted(&delivery.event, result.duration);
    let (outcome, retry_reason) = outcome_of(&shared.config, &delivery, &result);
    let status = outcome.status.clone();
    let gone = result.status_code == Some(410);
    let subscription_id = delivery.subscription_id.clone();
    let span = shared.config.failing_span_max;
    let job = Arc::new(move |ctx: &mut WriteCtx<'_>| {
        let tx = ctx.deliveries();
        if !tx.record_attempt(&outcome)? {
            return Ok(false);
        }
        if let Some(id) = &subscription_id {
            follow_subscription(ctx, id, &outcome, gone, span)?;
        }
        Ok(true)
    });
    let recorded = record_with_retries(&shared.writer, job, &delivery.id).await;
    match recorded {
        Ok(true) if status == delivery_status::PENDING => {
            shared
                .observer
                .retrying(&delivery.event, retry_reason.unwrap_or("unknown"));
        }
        Ok(true) => shared.observer.settled(&delivery.event, &status),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, delivery = delivery.id, "cannot record a delivery attempt; it will be repeated");
        }
    }
    shared.wake.notify_one();
}

/// Records an attempt's outcome, trying again while the disk refuses (full, read-only,
/// failing) for up to [`RECORD_RETRY_MAX`]: the attempt keeps its slot meanwhile, so a delivery
/// that reached its receiver is not sent again in a tight loop, and once the disk is back the
/// outcome it had is the one recorded.
async fn record_with_retries<F>(
    writer: &Writer,
    job: Arc<F>,
    delivery_id: &str,
) -> Result<bool, OutboundError>
where
    F: Fn(&mut WriteCtx<'_>) -> Result<bool, StoreError> + Send + Sync + 'static,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let attempt_job = job.clone();
        match write(writer, move |ctx| attempt_job(ctx)).await {
            Ok(recorded) => return Ok(recorded),
            Err(e) if started.elapsed() < RECORD_RETRY_MAX => {
                tracing::warn!(error = %e, delivery = delivery_id,
                    "cannot record a delivery attempt yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The delivery's next state after `result`, and the retry reason when one is scheduled.
pub(crate) fn outcome_of(
    config: &Config,
    delivery: &Delivery,
    result: &AttemptResult,
) -> (AttemptOutcome, Option<&'static str>) {
    let finished = Utc::now();
    let round_attempts = delivery.round_attempts + 1;
    let (status, next, reason) = match result.verdict {
        Verdict::Delivered => (delivery_status::DELIVERED, None, None),
        Verdict::Final => (delivery_status::DEAD, None, None),
        Verdict::Retry(reason) => {
            match config
                .policy
                .delay_after(round_attempts, &delivery.id, result.retry_after)
            {
                Some(delay) => {
                    let at = finished + chrono::Duration::from_std(delay).unwrap_or_default();
                    (delivery_status::PENDING, Some(at), Some(reason))
                }
                None => (delivery_status::DEAD, None, None),
            }
        }
    };
    let outcome = match status {
        delivery_status::PENDING => "retry",
        other => other,
    };
    let attempt = Attempt {
        delivery_id: delivery.id.clone(),
        attempt_no: delivery.attempts + 1,
        started_at: domain::time::format_micros(result.started_at),
        duration_us: result.duration.as_micros() as u64,
        outcome: outcome.to_owned(),
        status_code: result.status_code,
        response_body: result.response_body.clone(),
        error: result.error.clone(),
    };
    (
        AttemptOutcome {
            attempt,
            status: status.to_owned(),
            next_attempt_at: next.map(domain::time::format_micros),
            now: domain::time::format_micros(finished),
        },
        reason,
    )
}

/// What an attempt's outcome does to its subscription's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Health {
    /// Delivered: its failure run (if any) ends.
    Recovered,
    /// Failed, the first failure of a run: the run starts now.
    StartsFailing,
    /// A 410, or a run longer than the limit: disabled, with this reason.
    Disable(String),
    /// Failed within a run, or no such subscription: nothing changes.
    Unchanged,
}

/// A subscription's health after an attempt: a success clears its failure run; a 410 disables
/// it; a failure run longer than `span` disables it. `failing_since` reads the subscription's
/// current run (`None`: no such subscription), only when it matters.
pub(crate) fn health_after<E>(
    outcome: &AttemptOutcome,
    gone: bool,
    span: Duration,
    failing_since: impl FnOnce() -> Result<Option<Option<String>>, E>,
) -> Result<Health, E> {
    if outcome.status == delivery_status::DELIVERED {
        return Ok(Health::Recovered);
    }
    if gone {
        return Ok(Health::Disable("the endpoint answered 410 Gone".to_owned()));
    }
    let Some(run) = failing_since()? else {
        return Ok(Health::Unchanged);
    };
    let Some(since) = run else {
        return Ok(Health::StartsFailing);
    };
    let failing_for = domain::time::parse_rfc3339(&since)
        .zip(domain::time::parse_rfc3339(&outcome.now))
        .and_then(|(since, now)| (now - since).to_std().ok())
        .unwrap_or(Duration::ZERO);
    Ok(if failing_for > span {
        Health::Disable(format!(
            "every attempt failed since {since} (longer than {} s)",
            span.as_secs()
        ))
    } else {
        Health::Unchanged
    })
}

/// Applies [`health_after`] to subscription `id` in the writer's transaction.
fn follow_subscription(
    ctx: &WriteCtx<'_>,
    id: &str,
    outcome: &AttemptOutcome,
    gone: bool,
    span: Duration,
) -> Result<(), StoreError> {
    let tx = ctx.deliveries();
    let now = &outcome.now;
    let health = health_after(outcome, gone, span, || {
        Ok::<_, StoreError>(delivery::subscription(tx.conn(), id)?.map(|s| s.failing_since))
    })?;
    match health {
        Health::Recovered => tx.set_failing_since(id, None),
        Health::StartsFailing => tx.set_failing_since(id, Some(now)),
        Health::Disable(reason) => tx
            .end_subscription(id, subscription_status::DISABLED, &reason, now)
            .map(drop),
        Health::Unchanged => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: &str, now: &str) -> AttemptOutcome {
        AttemptOutcome {
            attempt: Attempt {
                delivery_id: "d".into(),
                attempt_no: 1,
                started_at: now.into(),
                duration_us: 1,
                outcome: status.into(),
                status_code: None,
                response_body: None,
                error: None,
            },
            status: status.into(),
            next_attempt_at: None,
            now: now.into(),
        }
    }

    const SPAN: Duration = Duration::from_secs(3600);
    const NOW: &str = "2026-12-06T12:00:00.000000Z";

    fn health(status: &str, gone: bool, run: Option<Option<&str>>) -> Health {
        health_after(&outcome(status, NOW), gone, SPAN, || {
            Ok::<_, ()>(run.map(|since| since.map(str::to_owned)))
        })
        .expect("health")
    }

    #[test]
    fn a_subscriptions_health_follows_its_attempts() {
        assert_eq!(health("delivered", false, None), Health::Recovered);
        assert!(
            matches!(health("pending", true, Some(None)), Health::Disable(r) if r.contains("410"))
        );
        assert_eq!(
            health("pending", false, None),
            Health::Unchanged,
            "no such subscription"
        );
        assert_eq!(health("pending", false, Some(None)), Health::StartsFailing);
        assert_eq!(
            health("dead", false, Some(Some("2026-12-06T11:30:00.000000Z"))),
            Health::Unchanged,
            "a run shorter than the span"
        );
        assert!(matches!(
            health("dead", false, Some(Some("2026-12-06T10:59:59.000000Z"))),
            Health::Disable(r) if r.contains("since 2026-12-06T10:59:59")
        ));
    }
}
