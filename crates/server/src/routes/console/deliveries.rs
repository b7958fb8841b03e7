//! `/console/deliveries`: outbound deliveries with their status, attempts and errors, one
//! delivery with the body sent and every attempt, and the two changes an admin may make:
//! retry a dead delivery, and redeliver everything for a subscription since a `seq`. An
//! auditor sees both forms disabled, and the server refuses them anyway (403).

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use store::delivery::{delivery_status, Delivery, DeliveryFilter, Subscription};

use super::events::parse_seq;
use super::layout::{json_pretty, query_string, stream_link};
use super::parts::delivery_status as status_label;
use super::{ConsoleError, Ctx};
use crate::state::AppState;

/// Deliveries one page lists.
pub const PAGE_ROWS: u32 = 100;

fn set(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct DeliveriesQuery {
    pub status: Option<String>,
    pub event: Option<String>,
    pub before_seq: Option<String>,
    /// What the last change did (`retried`, `redelivered`), for the notice.
    pub done: Option<String>,
    pub requeued: Option<String>,
    pub created: Option<String>,
}

/// The admin's button, or the auditor's disabled one (the form is there either way, so the
/// server's refusal is what an auditor meets if the button is forced).
fn admin_button(ctx: &Ctx, id: &str, label: &str) -> Markup {
    html! {
        @if ctx.is_admin() {
            button.change-button #(id) type="submit" { (label) }
        } @else {
            button.change-button #(id) type="submit" disabled
                title="an auditor token reads everything and changes nothing" { (label) }
        }
    }
}

fn notice(query: &DeliveriesQuery) -> Markup {
    let number = |v: &Option<String>| set(v).and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
    html! {
        @match set(&query.done).as_deref() {
            Some("retried") => p.notice #notice { "The dead delivery is queued again; the worker sends it shortly." },
            Some("redelivered") => p.notice #notice {
                "Redelivery queued: " (number(&query.requeued)) " settled deliveries again, "
                (number(&query.created)) " new ones."
            },
            _ => {},
        }
    }
}

#[get("/console/deliveries")]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<DeliveriesQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    ctx.finish(list_page(&ctx, query.into_inner()).await)
}

async fn list_page(ctx: &Ctx, query: DeliveriesQuery) -> Result<HttpResponse, ConsoleError> {
    let status = set(&query.status);
    if let Some(s) = &status {
        let known = [
            delivery_status::PENDING,
            delivery_status::DELIVERED,
            delivery_status::DEAD,
            delivery_status::SKIPPED,
        ];
        if !known.contains(&s.as_str()) {
            return Err(ConsoleError::bad_request(format!(
                "status: {s:?} is not one of {}",
                known.join(", ")
            )));
        }
    }
    let filter = DeliveryFilter {
        status: status.clone(),
        event: set(&query.event),
        subscription_id: None,
        before_seq: set(&query.before_seq)
            .map(|t| parse_seq("before_seq", &t))
            .transpose()?,
        limit: PAGE_ROWS,
    };
    let deliveries = crate::delivery_state::deliveries(&ctx.state, filter).await?;
    let subscriptions = crate::delivery_state::subscriptions(&ctx.state).await?;
    let older = (deliveries.len() as u32 == PAGE_ROWS)
        .then(|| deliveries.last().map(|d| d.seq))
        .flatten();
    let body = html! {
        h1 { "Deliveries" }
        (notice(&query))
        form.filters method="get" action="/console/deliveries" {
            label { "status"
                select name="status" {
                    option value="" { "any" }
                    @for s in ["pending", "delivered", "dead"] {
                        option value=(s) selected[status.as_deref() == Some(s)] { (s) }
                    }
                }
            }
            label { "event" input type="text" name="event" value=[set(&query.event)] placeholder="order.status_changed"; }
            button type="submit" { "Filter" }
        }
        (deliveries_table(ctx, &deliveries))
        @if let Some(seq) = older {
            div.pager {
                a href={ "/console/deliveries" (query_string(&[("status", status.clone()), ("event", set(&query.event)), ("before_seq", Some(seq.to_string()))])) } { "Older →" }
            }
        }
        h2 { "Subscriptions" }
        (subscriptions_table(ctx, &subscriptions))
    };
    Ok(ctx.page("Deliveries", body))
}

/// The deliveries, each with the retry form when it is dead.
fn deliveries_table(ctx: &Ctx, deliveries: &[Delivery]) -> Markup {
    let csrf = &ctx.session.csrf;
    html! {
        table #deliveries {
            thead {
                tr {
                    th.num { "seq" } th { "event" } th { "endpoint" } th { "status" } th.num { "attempts" }
                    th { "last error" } th { "next attempt / settled" } th {}
                }
            }
            tbody {
                @for d in deliveries {
                    tr.delivery data-id=(d.id) data-status=(d.status) {
                        td.num { a href={ "/console/events/" (d.seq) } { (d.seq) } }
                        td { a href={ "/console/deliveries/" (d.id) } { (d.event) } br; (stream_link(&d.stream)) }
                        td { (d.endpoint) }
                        td { (status_label(&d.status)) }
                        td.num { (d.attempts) }
                        td.muted {
                            @match (&d.last_error, d.last_status_code) {
                                (Some(error), _) => { (error) },
                                (None, Some(code)) => { "HTTP " (code) },
                                (None, None) => {},
                            }
                        }
                        td.mono { (d.next_attempt_at.clone().or_else(|| d.settled_at.clone()).unwrap_or_default()) }
                        td {
                            @if d.status == delivery_status::DEAD {
                                form method="post" action={ "/console/deliveries/" (d.id) "/retry" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    (admin_button(ctx, &format!("retry-{}", d.id), "Retry"))
                                }
                            }
                        }
                    }
                }
                @if deliveries.is_empty() { tr { td colspan="8" { "No delivery matches." } } }
            }
        }
    }
}

/// The subscriptions, each with the redeliver-since form.
fn subscriptions_table(ctx: &Ctx, subscriptions: &[Subscription]) -> Markup {
    let csrf = &ctx.session.csrf;
    html! {
        table #subscriptions {
            thead { tr { th { "id" } th { "url" } th { "event" } th { "status" } th { "redeliver" } } }
            tbody {
                @for s in subscriptions {
                    tr data-id=(s.id) {
                        td.mono { (s.id) }
                        td.mono { (s.url) }
                        td { (s.event) }
                        td { (s.status) @if let Some(reason) = &s.status_reason { " · " span.muted { (reason) } } }
                        td {
                            form method="post" action={ "/console/subscriptions/" (s.id) "/redeliver" } {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="number" name="since_seq" min="1" value="1" aria-label="since seq" required;
                                (admin_button(ctx, &format!("redeliver-{}", s.id), "Redeliver since seq"))
                            }
                        }
                    }
                }
                @if subscriptions.is_empty() { tr { td colspan="5" { "No subscription." } } }
            }
        }
    }
}

#[get("/console/deliveries/{id}")]
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    ctx.finish(detail_page(&ctx, id.into_inner()).await)
}

async fn detail_page(ctx: &Ctx, id: String) -> Result<HttpResponse, ConsoleError> {
    let found = crate::delivery_state::delivery(&ctx.state, id.clone()).await?;
    let (d, attempts) =
        found.ok_or_else(|| ConsoleError::not_found(format!("no delivery {id:?}")))?;
    let body = html! {
        h1 { "Delivery of " (d.event) }
        section.card {
            dl.fields {
                dt { "id (webhook-id)" } dd.mono { (d.id) }
                dt { "status" } dd { (status_label(&d.status)) }
                dt { "endpoint" } dd { (d.endpoint) " (" (d.destination) ")" }
                dt { "caused by" } dd { a href={ "/console/events/" (d.seq) } { "seq " (d.seq) } " · " (stream_link(&d.stream)) }
                dt { "attempts" } dd { (d.attempts) }
                dt { "last error" } dd { (d.last_error.clone().unwrap_or_default()) }
                dt { "created / updated / settled" } dd.mono { (d.created_at) " / " (d.updated_at) " / " (d.settled_at.clone().unwrap_or_default()) }
            }
            @if d.status == delivery_status::DEAD {
                form method="post" action={ "/console/deliveries/" (d.id) "/retry" } {
                    input type="hidden" name="csrf" value=(ctx.session.csrf);
                    (admin_button(ctx, "retry", "Retry this dead delivery"))
                }
            }
        }
        section.card {
            h2 { "Attempts" }
            table #attempts {
                thead { tr { th.num { "#" } th { "started" } th.num { "ms" } th { "outcome" } th { "status" } th { "error / response" } } }
                tbody {
                    @for a in &attempts {
                        tr {
                            td.num { (a.attempt_no) }
                            td.mono { (a.started_at) }
                            td.num { (format!("{:.1}", a.duration_us as f64 / 1000.0)) }
                            td { (a.outcome) }
                            td { (a.status_code.map(|c| c.to_string()).unwrap_or_default()) }
                            td.muted { (a.error.clone().or_else(|| a.response_body.clone()).unwrap_or_default()) }
                        }
                    }
                }
            }
            h2 { "Body sent" }
            pre { (json_pretty(&d.body)) }
        }
    };
    Ok(ctx.page("Delivery", body))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Re-queues a dead delivery (admin): 303 back to the list with a notice.
#[post("/console/deliveries/{id}/retry")]
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let result = async {
        ctx.require_admin_form(&form.csrf)?;
        crate::delivery_state::retry(&ctx.state, id.into_inner()).await?;
        Ok(HttpResponse::SeeOther()
            .insert_header(("Location", "/console/deliveries?done=retried"))
            .finish())
    }
    .await;
    ctx.finish(result)
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    csrf: String,
    since_seq: String,
}

/// Sends everything for a subscription again from `since_seq` on (admin).
#[post("/console/subscriptions/{id}/redeliver")]
pub async fn redeliver(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<RedeliverForm>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let result = async {
        ctx.require_admin_form(&form.csrf)?;
        let since_seq = parse_seq("since_seq", &form.since_seq)?;
        let report =
            crate::delivery_state::redeliver(&ctx.state, id.into_inner(), since_seq).await?;
        Ok(HttpResponse::SeeOther()
            .insert_header((
                "Location",
                format!(
                    "/console/deliveries?done=redelivered&requeued={}&created={}",
                    report.requeued, report.created
                ),
            ))
            .finish())
    }
    .await;
    ctx.finish(result)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list)
        .service(detail)
        .service(retry)
        .service(redeliver);
}
