//! Bearer tokens and roles. The admin token comes from the settings (or was generated on first
//! start); further tokens are minted by an admin and stored as their SHA-256.

use actix_web::http::StatusCode;
use actix_web::HttpRequest;

use crate::error::ApiError;
use crate::state::AppState;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything, changes nothing.
    Auditor,
    /// Reads and changes everything of its tenant.
    Admin,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "auditor" => Some(Role::Auditor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// The role of the request's bearer token: 401 when missing or unknown.
pub async fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Role, ApiError> {
    let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("a bearer token is required (Authorization: Bearer …)"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?
        .to_owned();
    role_of_token(state, token)
        .await?
        .ok_or_else(|| unauthorized("unknown token"))
}

/// The role of a bearer token (the admin token compared in constant time, minted ones by
/// their SHA-256); `None` when it is unknown. The console's sign-in uses it too.
pub async fn role_of_token(state: &AppState, token: String) -> Result<Option<Role>, ApiError> {
    if state.admin_token.matches(&token) {
        return Ok(Some(Role::Admin));
    }
    let identity = match &state.postgres {
        // Minted tokens are shared by every node: in PostgreSQL.
        Some(pool) => pool.run(move |log| log.token_identity(&token)).await?,
        None => {
            let store = state.store.clone();
            actix_web::web::block(move || {
                store.read(|conn| store::ops::token_identity(conn, &token))
            })
            .await??
        }
    };
    let Some((role, tenant)) = identity else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&role) else {
        return Ok(None);
    };
    // This service holds one tenant's data (the default tenant's). A token of another tenant
    // reads and changes none of it: 403 on every endpoint, whatever its role.
    let served = domain::DEFAULT_TENANT.to_string();
    if tenant != served {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("this token belongs to tenant {tenant}; this service holds tenant {served}'s data only"),
        ));
    }
    Ok(Some(role))
}

/// Requires a token of any role (reads).
pub async fn require_reader(req: &HttpRequest, state: &AppState) -> Result<Role, ApiError> {
    authenticate(req, state).await
}

/// Requires an admin token (writes): 403 for an auditor.
pub async fn require_admin(req: &HttpRequest, state: &AppState) -> Result<Role, ApiError> {
    match authenticate(req, state).await? {
        Role::Admin => Ok(Role::Admin),
        Role::Auditor => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "an auditor token reads and changes nothing; this needs an admin token",
        )),
    }
}

/// A new random token (256 bits, hex).
pub fn generate_token() -> String {
    format!(
        "hl_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
