//! `GET /metrics`: Prometheus text, public.

use actix_web::{get, web, HttpResponse};

use crate::state::AppState;

/// Prometheus metrics: ingest figures and seed 004's delivery metrics.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state
        .metrics
        .request_log_dropped
        .set(state.request_log.dropped() as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
