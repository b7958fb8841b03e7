//! `GET /health`: liveness plus the log's size, public.

use actix_web::{get, web, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the service answers.
    status: &'static str,
    /// Events in the log.
    events: u64,
    /// The last event's seq (0 for an empty log).
    head_seq: u64,
}

/// Liveness and the log's size.
#[utoipa::path(get, path = "/health", tag = "service", responses((status = 200, body = Health)))]
#[get("/health")]
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    let (events, head) = web::block(move || store.read(store::log::head)).await??;
    Ok(HttpResponse::Ok().json(Health {
        status: "ok",
        events,
        head_seq: head.map_or(0, |(seq, _)| seq),
    }))
}
