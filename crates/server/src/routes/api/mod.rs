//! `/api/...`: the read APIs (bearer token), the tenant administration, and the outbound
//! webhooks' subscriptions, deliveries and seed 003's test endpoint.

pub mod deliveries;
pub mod digest;
pub mod events;
pub mod ledger;
pub mod orders;
pub mod subscriptions;
pub mod tokens;
pub mod verify;
pub mod webhook_test;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};

use crate::error::ApiError;
use crate::state::AppState;

/// Reads a JSON API body: at most `body_limit_bytes` (413) within `body_read_timeout` (408),
/// so that a client trickling its body holds only its own connection, for a bounded time.
pub async fn read_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    let limit = state.settings.body_limit_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = state.settings.body_read_timeout;
    match tokio::time::timeout(timeout, payload.to_bytes_limited(limit)).await {
        Err(_elapsed) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "The request body did not arrive within {} ms",
                timeout.as_millis()
            ),
        )),
        Ok(Err(_over_the_limit)) => Err(too_large()),
        Ok(Ok(Err(error))) => Err(ApiError::bad_request(format!(
            "Could not read the request body: {error}"
        ))),
        Ok(Ok(Ok(bytes))) => Ok(bytes),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(events::list)
        .service(events::one)
        .service(verify::verify)
        .service(digest::digest)
        .service(tokens::create)
        .service(ledger::trial_balance)
        .service(ledger::journal)
        .service(ledger::register)
        .service(orders::order)
        .service(orders::work_order)
        .configure(subscriptions::configure)
        .configure(deliveries::configure)
        .configure(webhook_test::configure);
}
