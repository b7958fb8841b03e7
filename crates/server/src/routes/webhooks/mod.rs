//! The inbound webhook endpoints, one module per dialect path, all writing through [`edge`]:
//!
//! | module | endpoint | dialect |
//! | --- | --- | --- |
//! | [`order_status`] | `POST /api/webhooks/order-status` | seed 000 (`accounting`) |
//! | [`v2`] | `POST /api/v2/webhooks/orders`, `GET /api/v2/webhooks/{test,logs,signature-help}` | seed 001 (`roms`) |
//! | [`webhook_receiver`] | `POST /functions/v1/webhook-receiver` | seed 002 (`exact`) |
//! | [`order_updates`] | `POST /api/vendor/order-updates` | seed 003 (`vendor`) |
//! | [`stripe`] | `POST /api/webhooks/stripe` | Stripe |
//!
//! Every answer of these endpoints, errors included (a wrong method, a bad query string, a body
//! over the limit), is JSON in the dialect's error shape, never actix's plain text.

pub mod edge;
pub mod order_status;
pub mod order_updates;
pub mod stripe;
pub mod v2;
pub mod webhook_receiver;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, Resource, Route};
use ingest::Dialect;

pub use edge::{error_body, receive, Answer, Outcome};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(order_status::configure)
        .configure(v2::configure)
        .configure(webhook_receiver::configure)
        .configure(order_updates::configure)
        .configure(stripe::configure);
}

/// A resource whose only method is `allow` (served by `route`); any other method gets 405 in
/// the dialect's error shape.
pub fn resource(path: &str, dialect: Dialect, allow: &'static str, route: Route) -> Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(move |req: HttpRequest| async move {
            let message = format!("Method {} not allowed; use {allow}", req.method());
            HttpResponse::build(StatusCode::METHOD_NOT_ALLOWED)
                .insert_header((header::ALLOW, allow))
                .content_type("application/json")
                .body(error_body(dialect, &message, "METHOD_NOT_ALLOWED").canonical())
        }))
}
