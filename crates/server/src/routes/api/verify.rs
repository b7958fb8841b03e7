//! `GET /api/verify`: recompute the hash chain.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;
use store::VerifyReport;

use crate::auth::require_reader;
use crate::error::ApiError;
use crate::state::AppState;

/// `{ok: true, head_seq, head_hash}` or `{ok: false, first_bad_seq, reason}`.
#[utoipa::path(get, path = "/api/verify", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The chain's state"), (status = 401)))]
#[get("/api/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let store = state.store.clone();
    let report =
        web::block(move || store.read(|conn| store::verify::verify(conn, None, |_| {}))).await??;
    Ok(HttpResponse::Ok().json(match report {
        VerifyReport::Intact { head } => json!({
            "ok": true,
            "head_seq": head.as_ref().map_or(0, |(seq, _)| *seq),
            "head_hash": head.map(|(_, hash)| hash),
        }),
        VerifyReport::Broken {
            first_bad_seq,
            reason,
        } => json!({ "ok": false, "first_bad_seq": first_bad_seq, "reason": reason }),
    }))
}
