//! What every handler shares.

use std::sync::Arc;

use ingest::Secret;
use store::requestlog::RequestLog;
use store::{Store, Writer};

use crate::metrics::Metrics;
use crate::routes::console::ConsoleState;
use crate::settings::Settings;

/// What the outbound routes need: the address guard for API-supplied URLs, and an HTTP
/// sender for seed 003's test callback.
#[derive(Clone)]
pub struct OutboundState {
    pub guard: outbound::AddressGuard,
    pub sender: outbound::send::Sender,
    /// Timeout of one attempt (the test callback's too).
    pub timeout: std::time::Duration,
}

impl OutboundState {
    pub fn new(config: &outbound::Config) -> Result<OutboundState, outbound::OutboundError> {
        Ok(OutboundState {
            guard: config.guard.clone(),
            sender: outbound::send::Sender::new(config.guard.clone())?,
            timeout: config.timeout,
        })
    }
}

/// Shared by every handler (cheap to clone: everything inside is a handle).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// On SQLite, the database; on PostgreSQL, this node's working copy of the shared log,
    /// which every read is served from (decision 8).
    pub store: Store,
    pub writer: Writer,
    /// Connections to PostgreSQL when the log is shared with other nodes there.
    pub postgres: Option<Arc<crate::postgres::PgPool>>,
    pub request_log: RequestLog,
    pub metrics: Metrics,
    /// The default tenant's admin token.
    pub admin_token: Secret,
    pub outbound: OutboundState,
    /// Whether the disk is failing writes just now (for the log lines).
    pub storage: crate::storage::StorageHealth,
    /// Inbound requests per second per source.
    pub rates: Arc<crate::rate::SourceRates>,
    /// The web console's sessions and chain badge.
    pub console: ConsoleState,
}
