//! `GET /api/v2/webhooks/test`: seed 001's "is the webhook endpoint up" check, public.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use ingest::Dialect;
use serde::Serialize;

use crate::state::AppState;

/// Seed 001's answer, field for field.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Operational {
    /// Always `ok`.
    status: &'static str,
    /// Always `Webhook endpoint is operational`.
    message: &'static str,
    /// Now, in the seeds' form (`2024-10-27T10:30:00.000Z`).
    timestamp: String,
    /// Whether `POST /api/v2/webhooks/orders` needs `X-Webhook-Signature` (`WEBHOOK_SECRET` set).
    signature_required: bool,
}

/// Whether the order webhook is operational, and whether it needs a signature.
#[utoipa::path(get, path = "/api/v2/webhooks/test", tag = "inbound",
    responses((status = 200, body = Operational)))]
pub async fn test(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(Operational {
        status: "ok",
        message: "Webhook endpoint is operational",
        timestamp: domain::time::format_millis(Utc::now()),
        signature_required: state.settings.ingest.webhook_secret.is_some(),
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(crate::routes::webhooks::resource(
        "/api/v2/webhooks/test",
        Dialect::Roms,
        "GET",
        web::get().to(test),
    ));
}
