//! `POST /api/v1/tenant/tokens`: an admin mints a token (returned once).

use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{generate_token, require_admin, Role};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `auditor` or `admin`.
    role: String,
}

/// Mints a bearer token with a role; the token is shown only in this response.
#[utoipa::path(post, path = "/api/v1/tenant/tokens", tag = "tenant", security(("bearer" = [])),
    request_body = TokenRequest,
    responses((status = 201, description = "`{token, role}`"), (status = 400), (status = 401), (status = 403)))]
#[post("/api/v1/tenant/tokens")]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state).await?;
    let body = super::read_body(&state, &req, payload).await?;
    let request: TokenRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("expected {{\"role\": \"auditor\"|\"admin\"}}: {e}"))
    })?;
    let role = Role::parse(&request.role)
        .ok_or_else(|| ApiError::bad_request("role: must be \"auditor\" or \"admin\""))?;
    let token = generate_token();
    let stored = token.clone();
    match &state.postgres {
        // Every node accepts it: stored in PostgreSQL, not in this node's working copy.
        Some(pool) => {
            pool.run(move |log| log.insert_token(&stored, role.as_str()))
                .await?
        }
        None => state
            .writer
            .submit(move |ctx| ctx.insert_token(&stored, role.as_str()))
            .await
            .map_err(|e| ApiError::write_failed(&e))?
            .map_err(|e| ApiError::store_failed(&e))?,
    }
    Ok(HttpResponse::Created().json(json!({ "token": token, "role": role.as_str() })))
}
