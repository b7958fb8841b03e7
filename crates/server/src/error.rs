//! The error body of hookledger's own endpoints: `{"error": "..."}` with a fitting status.
//! (Inbound dialect endpoints answer in their seed's shape instead; see `routes::webhooks`.)

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// An error answered as JSON `{error}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// `Retry-After` of a 503.
    pub retry_after_seconds: u32,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after_seconds: 1,
        }
    }

    /// A store error: 503 with `Retry-After` when the disk refuses (full, read-only, failing),
    /// else 500.
    pub fn store_failed(error: &store::StoreError) -> ApiError {
        match crate::storage::classify(error) {
            Some(fault) => ApiError::storage(fault, error),
            None => ApiError::internal(error),
        }
    }

    /// A writer's refusal: 503 with `Retry-After` when its queue is full, it stopped, or the
    /// disk refused the commit; else 500.
    pub fn write_failed(error: &store::WriteError) -> ApiError {
        use store::WriteError;
        match error {
            WriteError::Busy | WriteError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the writer is busy; retry shortly",
            ),
            WriteError::Commit(e) => ApiError::store_failed(e),
            WriteError::Panicked => ApiError::internal(error),
        }
    }

    fn storage(fault: crate::storage::StorageFault, error: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(fault = fault.as_str(), %error, "storage fault; answered 503");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: fault.message().to_owned(),
            retry_after_seconds: crate::storage::RETRY_AFTER_SECONDS,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %message, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; see the server log",
        )
    }
}

impl From<store::StoreError> for ApiError {
    fn from(e: store::StoreError) -> Self {
        ApiError::store_failed(&e)
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header(("Retry-After", self.retry_after_seconds.to_string()));
        }
        response.json(json!({ "error": self.message }))
    }
}

/// Turns every error answer the framework makes itself (an unknown path, a query string or path
/// segment that does not parse, a body over the limit on the JSON APIs) into `{"error": "..."}`,
/// so that no answer of the service is plain text. Answers that are JSON already (every handler's
/// own errors, in their dialect's shape) and the console's HTML error pages pass unchanged.
pub fn json_errors<B: 'static>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::http::header;
    use actix_web::middleware::ErrorHandlerResponse;

    // The console's own error pages are HTML for a browser, and stay so.
    let is_json_or_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json_or_html {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let limit = res
        .request()
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.settings.body_limit_bytes);
    let message = match (res.response().error(), limit) {
        (_, Some(limit)) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            format!("Request body is larger than the limit of {limit} bytes")
        }
        (Some(error), _) => error.to_string(),
        (None, _) if status == StatusCode::NOT_FOUND => format!(
            "no such endpoint: {} {} (GET /openapi.json lists them all)",
            res.request().method(),
            res.request().path()
        ),
        (None, _) => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let (req, old) = res.into_parts();
    let mut new = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    let new = new.json(json!({ "error": message }));
    Ok(ErrorHandlerResponse::Response(
        actix_web::dev::ServiceResponse::new(req, new).map_into_right_body(),
    ))
}
