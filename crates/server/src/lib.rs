//! The HTTP service: routes, authentication, the write path into the one writer, metrics and
//! the OpenAPI document.
//!
//! # Layout
//! - [`settings`]: layered settings (defaults < TOML < environment < flags).
//! - [`app`]: [`Application::build`] binds the listener (port 0 in tests) and starts the writer;
//!   [`Application::run_until_stopped`] serves.
//! - [`state`]: what every handler shares ([`AppState`]).
//! - [`auth`]: bearer tokens and roles (`admin`, `auditor`).
//! - [`metrics`]: the Prometheus registry.
//! - [`error`]: [`ApiError`], the JSON error body of the project's own endpoints.
//! - [`routes`]: one module per URL prefix, mirroring the paths; `routes::webhooks` holds the
//!   inbound dialects and their one write path.
//! - [`delivery_state`]: deliveries and subscriptions for the API and the console, in SQLite or
//!   in PostgreSQL.
//! - [`rate`]: the per-source request rate (429 with `Retry-After`).
//! - [`redact`]: secrets out of what the request log stores.
//! - [`storage`]: disk faults (full, read-only, failing writes) as 503 with `Retry-After`.
//! - [`openapi`]: the OpenAPI document and the offline Swagger UI.
//! - [`params`]: numbers from clients checked against what the store can hold ([`params::Seq`]).

pub mod app;
pub mod auth;
pub mod delivery_state;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod postgres;
pub mod rate;
pub mod redact;
pub mod routes;
pub mod settings;
pub mod state;
pub mod storage;

pub use app::{Application, StartError};
pub use error::ApiError;
pub use settings::{ConfigError, Overrides, Settings};
pub use state::AppState;
