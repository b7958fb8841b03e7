//! Routes, one module per URL prefix (a path in a log line leads straight to its file).

pub mod api;
pub mod health;
pub mod metrics;
pub mod webhooks;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(health::health)
        .service(metrics::metrics)
        .configure(crate::openapi::configure)
        .configure(api::configure)
        .configure(webhooks::configure);
}
