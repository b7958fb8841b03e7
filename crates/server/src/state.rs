//! What every handler shares.

use std::sync::Arc;

use ingest::Secret;
use store::requestlog::RequestLog;
use store::{Store, Writer};

use crate::metrics::Metrics;
use crate::settings::Settings;

/// Shared by every handler (cheap to clone: everything inside is a handle).
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub writer: Writer,
    pub request_log: RequestLog,
    pub metrics: Metrics,
    /// The default tenant's admin token.
    pub admin_token: Secret,
}
