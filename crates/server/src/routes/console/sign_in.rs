//! `GET /` (the public sign-in page, or the timeline for a signed-in browser),
//! `POST /console/sign-in` and `POST /console/sign-out`.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::{error_page, html_response, layout, session, ConsoleError, Ctx};
use crate::auth::role_of_token;
use crate::state::AppState;

/// Where a signed-in browser lands by default.
const HOME: &str = "/console/events";

/// `next` when it is a console page of this server, else the timeline (no open redirect).
fn landing(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with("/console/") && !next.contains("//") => next.to_owned(),
        _ => HOME.to_owned(),
    }
}

fn sign_in_page(state: &AppState, next: &str, problem: Option<&str>) -> maud::Markup {
    let body = html! {
        section.sign-in.card {
            h1 { "Sign in to the console" }
            p.muted {
                "Use a bearer token: the admin token (" code { "data/hookledger.admin-token" }
                ") or one minted with " code { "hookledger token create --role auditor" }
                ". An auditor token reads everything and changes nothing."
            }
            @if let Some(problem) = problem {
                p.status.bad #sign-in-problem { (problem) }
            }
            form method="post" action="/console/sign-in" {
                label for="token" { "Bearer token" }
                input #token type="password" name="token" autocomplete="current-password" required autofocus;
                input type="hidden" name="next" value=(next);
                button #sign-in type="submit" { "Sign in" }
            }
        }
    };
    layout::shell(state, None, "Sign in", body)
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    next: Option<String>,
}

/// The console's front door: public; a browser with a live session goes on to the timeline.
#[utoipa::path(get, path = "/", tag = "console",
    params(("next" = Option<String>, Query, description = "A console page to land on after sign-in")),
    responses((status = 200, description = "The console's sign-in page (HTML); its pages under /console/ are described in docs/console.md", content_type = "text/html"),
        (status = 303, description = "Signed in already: on to the timeline")))]
#[get("/")]
pub async fn index(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<IndexQuery>,
) -> HttpResponse {
    let next = landing(query.next.as_deref());
    if Ctx::signed_in(&req, &state).is_ok() {
        return HttpResponse::SeeOther()
            .insert_header(("Location", next))
            .finish();
    }
    html_response(StatusCode::OK, sign_in_page(&state, &next, None))
}

#[derive(Deserialize)]
pub struct SignInForm {
    /// Missing is as empty: the sign-in page again, asking for one.
    #[serde(default)]
    token: String,
    next: Option<String>,
}

/// Checks the token as the JSON APIs do and starts a session: 303 to `next` with the session
/// cookie, or the sign-in page again: 401 for a missing or unknown token, 400 for a body that
/// is not a URL-encoded form.
#[utoipa::path(post, path = "/console/sign-in", tag = "console",
    request_body(content_type = "application/x-www-form-urlencoded", description = "`token` (a bearer token, admin or auditor) and an optional `next`"),
    responses((status = 303, description = "Signed in: the session cookie, and on to `next`"),
        (status = 400, description = "A body that is not a URL-encoded form: the sign-in page again (HTML)", content_type = "text/html"),
        (status = 401, description = "A missing or unknown token: the sign-in page again (HTML)", content_type = "text/html")))]
#[post("/console/sign-in")]
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Result<web::Form<SignInForm>, actix_web::Error>,
) -> HttpResponse {
    let form = match form {
        Ok(form) => form.into_inner(),
        Err(_) => {
            return html_response(
                StatusCode::BAD_REQUEST,
                sign_in_page(
                    &state,
                    &landing(None),
                    Some("The sign-in form could not be read: send it from this page."),
                ),
            )
        }
    };
    let SignInForm { token, next } = form;
    let next = landing(next.as_deref());
    let token = token.trim().to_owned();
    if token.is_empty() {
        return html_response(
            StatusCode::UNAUTHORIZED,
            sign_in_page(&state, &next, Some("Paste a token to sign in.")),
        );
    }
    let role = match role_of_token(&state, token).await {
        Ok(role) => role,
        Err(e) => return error_page(&state, None, ConsoleError::from(e)),
    };
    let Some(role) = role else {
        return html_response(
            StatusCode::UNAUTHORIZED,
            sign_in_page(&state, &next, Some("That token is not known here.")),
        );
    };
    let (id, _) = state.console.sessions.start(role);
    let cookie = Cookie::build(session::COOKIE_NAME, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .finish();
    HttpResponse::SeeOther()
        .insert_header(("Location", next))
        .cookie(cookie)
        .finish()
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
}

/// Ends the session and clears the cookie.
#[post("/console/sign-out")]
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return error_page(&state, None, e),
    };
    if !session::csrf_matches(&ctx.session, &form.csrf) {
        return ctx.finish(Err(ConsoleError::Forbidden(
            "the form's CSRF token is not this session's".into(),
        )));
    }
    if let Some(cookie) = req.cookie(session::COOKIE_NAME) {
        state.console.sessions.end(cookie.value());
    }
    let mut gone = Cookie::build(session::COOKIE_NAME, "").path("/").finish();
    gone.make_removal();
    HttpResponse::SeeOther()
        .insert_header(("Location", "/"))
        .cookie(gone)
        .finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_console_pages_are_landed_on_after_sign_in() {
        use super::landing;
        assert_eq!(
            landing(Some("/console/ledger?as_of=3")),
            "/console/ledger?as_of=3"
        );
        assert_eq!(landing(Some("https://evil.example/")), "/console/events");
        assert_eq!(landing(Some("/console//evil.example")), "/console/events");
        assert_eq!(landing(None), "/console/events");
    }
}
