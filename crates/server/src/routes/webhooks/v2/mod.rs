//! `/api/v2/webhooks/...`: seed 001 (ROMS V2). Errors are FastAPI's `{detail}`, as the seed's
//! stack answers them.
//!
//! - [`orders`]: `POST /api/v2/webhooks/orders`, the order webhook;
//! - [`test_endpoint`]: `GET /api/v2/webhooks/test`, public;
//! - [`signature_help`]: `GET /api/v2/webhooks/signature-help`, public;
//! - [`logs`]: `GET /api/v2/webhooks/logs?limit=N`, the request log (bearer token: unlike the
//!   seed, it shows customer data).

pub mod logs;
pub mod orders;
pub mod signature_help;
pub mod test_endpoint;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use ingest::Dialect;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(orders::configure)
        .configure(test_endpoint::configure)
        .configure(signature_help::configure)
        .configure(logs::configure);
}

/// A seed 001 error answer: `{"detail": message}`.
pub fn detail(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(super::error_body(Dialect::Roms, message, "").canonical())
}
