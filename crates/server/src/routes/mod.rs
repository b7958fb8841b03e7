//! Routes, one module per URL prefix (a path in a log line leads straight to its file):
//! `api` (the JSON APIs), `console` (`/` and `/console/...`, the web console), `webhooks`
//! (the inbound dialects), `health` and `metrics`.

pub mod api;
pub mod console;
pub mod health;
pub mod metrics;
pub mod webhooks;

use actix_web::web;

/// Registers every route. The inbound webhooks come first: actix tries resources in order and
/// runs each parameterised one's regex on the way, so the hot paths match before any of them.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(webhooks::configure)
        .service(health::health)
        .service(metrics::metrics)
        .configure(crate::openapi::configure)
        .configure(api::configure)
        .configure(console::configure);
}
