//! `/` and `/console/...`: the auditor's and accountant's web console, server-rendered HTML
//! (maud templates) with every asset embedded in the binary (docs/console.md).
//!
//! A browser signs in with a bearer token at `/` and gets a session cookie ([`session`]);
//! every page then reads through the same store functions as the JSON APIs, and shows the
//! chain badge that [`chain`] keeps current in the background. An auditor's session reads
//! everything and changes nothing: the two forms that change something (retry a dead delivery,
//! redeliver a subscription since a `seq`) answer it 403, whatever the page showed.
//!
//! # Layout
//! - [`session`]: sessions and their CSRF tokens; [`chain`]: the badge's verified head.
//! - [`layout`]: the page shell (navigation, badge) and formatting helpers; [`parts`]: tables
//!   several pages share; [`assets`]: the embedded stylesheet and script.
//! - One module per page family, mirroring the paths: [`sign_in`] (`/`), [`events`],
//!   [`orders`] (orders and work orders), [`ledger`], [`deliveries`].

pub mod assets;
pub mod chain;
pub mod deliveries;
pub mod events;
pub mod layout;
pub mod ledger;
pub mod orders;
pub mod parts;
pub mod session;
pub mod sign_in;

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::Markup;

use crate::auth::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// What the console shares between requests: the sessions, the chain badge, and the last
/// trial balance's sums.
#[derive(Clone, Default)]
pub struct ConsoleState {
    pub sessions: Arc<session::Sessions>,
    pub chain: Arc<chain::ChainWatch>,
    pub trial_balances: Arc<ledger::TrialBalanceCache>,
}

/// Why a console page could not be shown. Handling: each variant is an HTML page with its
/// status, except [`ConsoleError::SignIn`], a redirect to the sign-in page.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No live session: 303 to `/`, which comes back to `next` after sign-in.
    #[error("sign in first")]
    SignIn { next: String },
    /// A parameter that does not parse (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such event, order, account… (404).
    #[error("{0}")]
    NotFound(String),
    /// An auditor asked to change something, or a form without its CSRF token (403).
    #[error("{0}")]
    Forbidden(String),
    /// The change does not apply to the thing's current state (retrying a delivery that is
    /// not dead) (409).
    #[error("{0}")]
    Conflict(String),
    /// The writer is busy (503); the page says to try again.
    #[error("{0}")]
    Busy(String),
    /// A server-side failure, logged where it happened (500).
    #[error("internal error; see the server log")]
    Internal,
}

impl ConsoleError {
    pub fn bad_request(message: impl Into<String>) -> ConsoleError {
        ConsoleError::BadRequest(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ConsoleError {
        ConsoleError::NotFound(message.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<store::StoreError> for ConsoleError {
    fn from(e: store::StoreError) -> Self {
        tracing::error!(error = %e, "console: store error");
        ConsoleError::Internal
    }
}

impl From<actix_web::error::BlockingError> for ConsoleError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        tracing::error!(error = %e, "console: blocking task failed");
        ConsoleError::Internal
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e.status {
            StatusCode::BAD_REQUEST => ConsoleError::BadRequest(e.message),
            StatusCode::NOT_FOUND => ConsoleError::NotFound(e.message),
            StatusCode::FORBIDDEN => ConsoleError::Forbidden(e.message),
            StatusCode::CONFLICT => ConsoleError::Conflict(e.message),
            StatusCode::SERVICE_UNAVAILABLE => ConsoleError::Busy(e.message),
            _ => ConsoleError::Internal,
        }
    }
}

/// A signed-in request: the service's state, the session, and the path asked for.
pub struct Ctx {
    pub state: web::Data<AppState>,
    pub session: session::Session,
    /// The request's path and query (the sign-in page comes back here).
    pub here: String,
}

/// The session id in the request's cookie, if any.
fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(session::COOKIE_NAME)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

impl Ctx {
    /// The request's session, or [`ConsoleError::SignIn`].
    pub fn signed_in(req: &HttpRequest, state: &web::Data<AppState>) -> Result<Ctx, ConsoleError> {
        let here = match req.uri().path_and_query() {
            Some(pq) => pq.as_str().to_owned(),
            None => req.path().to_owned(),
        };
        let session = session_id(req)
            .and_then(|id| state.console.sessions.find(&id))
            .ok_or_else(|| ConsoleError::SignIn { next: here.clone() })?;
        Ok(Ctx {
            state: state.clone(),
            session,
            here,
        })
    }

    pub fn role(&self) -> Role {
        self.session.role
    }

    pub fn is_admin(&self) -> bool {
        self.session.role == Role::Admin
    }

    /// A 200 page with the console's shell around `body`.
    pub fn page(&self, title: &str, body: Markup) -> HttpResponse {
        html_response(
            StatusCode::OK,
            layout::shell(&self.state, Some(&self.session), title, body),
        )
    }

    /// Runs `f` on a pooled read-only connection on a blocking thread.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, ConsoleError> {
        let store = self.state.store.clone();
        Ok(web::block(move || store.read(f)).await??)
    }

    /// The page of a handler's result: the page itself, or its error as a page.
    pub fn finish(&self, result: Result<HttpResponse, ConsoleError>) -> HttpResponse {
        result.unwrap_or_else(|e| error_page(&self.state, Some(&self.session), e))
    }

    /// Refuses an auditor (403) and a form whose CSRF token is not the session's.
    pub fn require_admin_form(&self, csrf: &str) -> Result<(), ConsoleError> {
        if !session::csrf_matches(&self.session, csrf) {
            return Err(ConsoleError::Forbidden(
                "the form's CSRF token is not this session's; reload the page and try again".into(),
            ));
        }
        if !self.is_admin() {
            return Err(ConsoleError::Forbidden(
                "refused: an auditor token reads everything and changes nothing; this needs an \
                 admin token"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// An HTML answer with the console's security headers: scripts, styles and forms only from
/// this origin, no framing, no caching of data pages.
pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("Cache-Control", "no-store"))
        .body(markup.into_string())
}

/// The page of an error (a redirect for [`ConsoleError::SignIn`]).
pub fn error_page(
    state: &AppState,
    session: Option<&session::Session>,
    error: ConsoleError,
) -> HttpResponse {
    if let ConsoleError::SignIn { next } = &error {
        return HttpResponse::SeeOther()
            .insert_header((
                "Location",
                format!("/?next={}", layout::encode_component(next)),
            ))
            .finish();
    }
    let status = error.status();
    let title = status.canonical_reason().unwrap_or("Error");
    let body = maud::html! {
        section.error {
            h1 { (status.as_u16()) " " (title) }
            p.message { (error.to_string()) }
            p { a href="/console/events" { "Back to the timeline" } }
        }
    };
    html_response(status, layout::shell(state, session, title, body))
}

/// Registers every console route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(sign_in::index)
        .service(sign_in::sign_in)
        .service(sign_in::sign_out)
        .service(assets::stylesheet)
        .service(assets::script)
        .configure(events::configure)
        .configure(orders::configure)
        .configure(ledger::configure)
        .configure(deliveries::configure);
}
