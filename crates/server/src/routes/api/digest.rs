//! `GET /api/digest`: the state digest, as `hookledger digest` prints it.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::auth::require_reader;
use crate::error::ApiError;
use crate::state::AppState;

/// `{digest}`: 64 hex characters over every projection and outbox row.
#[utoipa::path(get, path = "/api/digest", tag = "audit", security(("bearer" = [])),
    responses((status = 200, description = "The state digest"), (status = 401)))]
#[get("/api/digest")]
pub async fn digest(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let store = state.store.clone();
    let digest = web::block(move || store.read(store::projection::digest)).await??;
    Ok(HttpResponse::Ok().json(json!({ "digest": digest })))
}
