//! Delivering the outbox: subscriptions, signing, the delivery worker, retries and dead letters.
//!
//! Projectors write `proj_outbox` rows that name their destination symbolically (`customer`,
//! `zapier`, `subscribers`). This crate resolves them against the configuration and the
//! subscriptions at send time, and keeps all delivery state in its own operational tables
//! (`store::delivery`), outside the digest: outbox rows are never modified.
//!
//! # Layout
//! - [`worker`]: the delivery worker: a tokio task that turns new outbox rows into deliveries
//!   (past a durable cursor) and sends due deliveries with bounded concurrency per endpoint.
//! - [`on_postgres`]: the same worker for a `serve` node on PostgreSQL, one per node, on the
//!   delivery state the nodes share there: deliveries leased, an attempt counted only under its
//!   lease.
//! - [`subscriptions`]: creating, deleting and rotating subscriptions; re-queueing deliveries.
//! - [`send`]: one HTTP attempt, its headers and the classification of its outcome.
//! - [`signing`]: `X-Signature` and Standard Webhooks signatures; secret generation.
//! - [`policy`]: the retry schedule (seed 003's by default) and what is final.
//! - [`guard`]: the address guard for URLs that arrive through the API.
//! - [`body`]: the body each destination gets.
//!
//! # Guarantees
//! - A delivery's id is derived from its outbox row's id and its endpoint: replayed (re-inserted)
//!   outbox rows find their deliveries and send nothing again.
//! - A settled delivery (delivered or dead) is never sent again, except when an admin asks.
//! - Every attempt carries the same `webhook-id` and the same body bytes.
//! - Delivery is at least once: an attempt cut short by a crash is repeated after restart.

pub mod body;
pub mod guard;
pub mod on_postgres;
pub mod policy;
pub mod send;
pub mod signing;
pub mod subscriptions;
pub mod worker;

use std::time::Duration;

pub use guard::{AddressGuard, GuardError};
pub use policy::RetryPolicy;
pub use worker::start;

/// The one tenant of this version, the `tenant_id` label of the metrics.
pub fn default_tenant() -> String {
    domain::DEFAULT_TENANT.to_string()
}

/// The id of the delivery of outbox row `outbox_id` to `endpoint` (`customer`, `zapier`, or a
/// subscription id): UUIDv5, so that the same row and endpoint always name the same delivery.
pub fn delivery_id(outbox_id: &str, endpoint: &str) -> String {
    uuid::Uuid::new_v5(
        &domain::event::ID_NAMESPACE,
        format!("delivery/{outbox_id}/{endpoint}").as_bytes(),
    )
    .to_string()
}

/// What the worker needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    pub tenant: String,
    /// Seed 003's `CUSTOMER_WEBHOOK_URL` and `CUSTOMER_SERVER_SECRET`: both are needed to send
    /// `customer` rows (the secret is the seed's `x-vendor-server-secret`).
    pub customer_url: Option<String>,
    pub customer_secret: Option<String>,
    /// Seed 002's `ZAPIER_WEBHOOK_URL`, and the secret that signs those requests (if any).
    pub zapier_url: Option<String>,
    pub zapier_secret: Option<String>,
    pub guard: AddressGuard,
    pub policy: RetryPolicy,
    /// Timeout of one attempt, from connecting to the end of the response.
    pub timeout: Duration,
    /// Attempts in flight at most, over all endpoints.
    pub concurrency_max: usize,
    /// Attempts in flight at most per endpoint, so that one slow endpoint cannot take every slot.
    pub endpoint_concurrency_max: usize,
    /// A subscription whose every attempt failed for longer than this is disabled.
    pub failing_span_max: Duration,
    /// The worker looks for work at least this often, even without being woken.
    pub poll_interval: Duration,
    /// Pending deliveries per failing endpoint (one with a delivery awaiting a retry) at most:
    /// a new delivery beyond is recorded `dead` ("backlog full"), so a dead endpoint cannot
    /// grow the queue without bound; an admin redelivers once it is back. A healthy endpoint
    /// is never cut off (it drains a burst by itself).
    pub backlog_max: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tenant: default_tenant(),
            customer_url: None,
            customer_secret: None,
            zapier_url: None,
            zapier_secret: None,
            guard: AddressGuard::default(),
            policy: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            concurrency_max: 64,
            endpoint_concurrency_max: 4,
            failing_span_max: Duration::from_secs(5 * 24 * 3600),
            poll_interval: Duration::from_secs(1),
            backlog_max: 100_000,
        }
    }
}

/// Hooks for metrics. Every method has an empty default.
pub trait Observer: Send + Sync {
    /// One attempt ended (any outcome) after `duration`.
    fn attempted(&self, _event: &str, _duration: Duration) {}
    /// A delivery settled: `delivered`, `dead`, or `skipped` (no URL configured).
    fn settled(&self, _event: &str, _status: &str) {}
    /// A retry was scheduled; `reason` is `timeout`, `connection_error`, `http_5xx`, …
    fn retrying(&self, _event: &str, _reason: &str) {}
    /// The backlog (pending deliveries plus outbox rows not yet expanded) and its oldest age.
    fn backlog(&self, _pending: u64, _oldest_age: Duration) {}
}

/// An observer that observes nothing.
pub struct NoObserver;

impl Observer for NoObserver {}

/// Why an outbound operation failed. Handling: 500 unless a variant says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Handling: 503 when the writer is busy, else 500.
    #[error(transparent)]
    Write(#[from] store::WriteError),
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("a background task failed: {0}")]
    Task(String),
    /// PostgreSQL failed or cannot be reached (the worker on PostgreSQL retries).
    #[error(transparent)]
    Postgres(#[from] store_pg::PgStoreError),
}
