//! `/console/orders/{source}/{ref}` and `/console/work-orders/{id}`: a read model's current
//! state, then its history one change at a time: each event with its `seq`, the journal
//! entries it caused and the outbound events (and deliveries) it triggered. `/console/find`
//! is the header's lookup form.

use std::collections::BTreeSet;

use actix_web::{get, web, HttpRequest, HttpResponse};
use domain::Event;
use maud::{html, Markup};
use projections::orders::Order;
use serde::Deserialize;
use store::delivery::Delivery;
use store::ledger::JournalEntry;
use store::log::EventFilter;
use store::projection::OutboxRow;
use store::StoreError;

use super::layout::{json_pretty, money, order_page, work_order_page, ORDER_SOURCES};
use super::parts::{entries_table, outbox_table};
use super::{ConsoleError, Ctx};
use crate::state::AppState;

/// Events of one aggregate's streams shown at most.
const HISTORY_MAX: u64 = 2_000;

/// An aggregate's history: its events and what each caused.
struct History {
    events: Vec<Event>,
    entries: Vec<JournalEntry>,
    outbox: Vec<OutboxRow>,
    deliveries: Vec<Delivery>,
}

/// The events of `streams` plus the events `extra_seqs` (changes recorded on other streams,
/// such as a Stripe payment of an order), and what each of them caused.
fn history(
    conn: &rusqlite::Connection,
    streams: &[String],
    extra_seqs: &[u64],
) -> Result<History, StoreError> {
    let mut events: Vec<Event> = Vec::new();
    for stream in streams {
        let filter = EventFilter {
            stream: Some(stream.clone()),
            limit: Some(HISTORY_MAX),
            ..Default::default()
        };
        events.extend(store::log::query_events(conn, &filter)?);
    }
    let known: BTreeSet<u64> = events.iter().map(|e| e.seq).collect();
    for seq in extra_seqs.iter().filter(|s| !known.contains(s)) {
        if let Some(event) = store::log::read_event(conn, *seq)? {
            events.push(event);
        }
    }
    events.sort_by_key(|e| e.seq);
    events.dedup_by_key(|e| e.seq);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    Ok(History {
        entries: store::console::entries_at(conn, &seqs)?,
        outbox: store::console::outbox_at(conn, &seqs)?,
        deliveries: store::console::deliveries_at(conn, &seqs)?,
        events,
    })
}

/// `history` with its deliveries read where they live: on PostgreSQL, from there.
async fn with_shared_deliveries(ctx: &Ctx, mut history: History) -> Result<History, ConsoleError> {
    let seqs = history.events.iter().map(|e| e.seq).collect();
    if let Some(shared) = crate::delivery_state::shared_deliveries_at(&ctx.state, seqs).await? {
        history.deliveries = shared;
    }
    Ok(history)
}

/// Each change: the event, then what it caused.
fn history_section(history: &History, status_at: impl Fn(u64) -> Option<String>) -> Markup {
    html! {
        section.card #history {
            h2 { "History (" (history.events.len()) " events)" }
            @for event in &history.events {
                @let entries: Vec<JournalEntry> = history.entries.iter().filter(|e| e.seq == event.seq).cloned().collect();
                @let outbox: Vec<OutboxRow> = history.outbox.iter().filter(|o| o.seq == event.seq).cloned().collect();
                div.change data-seq=(event.seq) {
                    p {
                        a.seq href={ "/console/events/" (event.seq) } { "seq " (event.seq) }
                        " · " span.mono { (event.recorded_at) }
                        " · " strong { (event.event_type) }
                        @if let Some(status) = status_at(event.seq) { " · status " span.status { (status) } }
                    }
                    @if !entries.is_empty() {
                        div.caused { (entries_table(&entries)) }
                    }
                    @if !outbox.is_empty() {
                        div.caused { (outbox_table(&outbox, &history.deliveries)) }
                    }
                }
            }
        }
    }
}

/// An order (or a Stripe payment) with its history.
#[get("/console/orders/{source}/{ref}")]
pub async fn show_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let (source, reference) = path.into_inner();
    ctx.finish(order_page_body(&ctx, source, reference).await)
}

fn corrupt(e: projections::ProjectionError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

async fn order_page_body(
    ctx: &Ctx,
    source: String,
    reference: String,
) -> Result<HttpResponse, ConsoleError> {
    if !ORDER_SOURCES.contains(&source.as_str()) {
        return Err(ConsoleError::not_found(format!(
            "unknown source {source:?}; one of {}",
            ORDER_SOURCES.join(", ")
        )));
    }
    if source == "stripe" {
        return payment_page(ctx, reference).await;
    }
    let (src, refer) = (source.clone(), reference.clone());
    let (order, history) = ctx
        .read(move |conn| {
            let tx = store::ProjectionTx::new(conn);
            let Some(order) = projections::order(tx, &src, &refer).map_err(corrupt)? else {
                return Ok((None, None));
            };
            let extra: Vec<u64> = order
                .history
                .iter()
                .map(|h| h.seq)
                .chain(order.payments.iter().map(|p| p.seq))
                .collect();
            let history = history(conn, &[format!("order:{src}:{refer}")], &extra)?;
            Ok((Some(order), Some(history)))
        })
        .await?;
    let (Some(order), Some(history)) = (order, history) else {
        return Err(ConsoleError::not_found(format!(
            "no {source} order {reference:?}"
        )));
    };
    let history = with_shared_deliveries(ctx, history).await?;
    let body = html! {
        h1 { "Order " (order.reference) " " span.muted { "(" (order.source) ")" } }
        (order_state(&order))
        (history_section(&history, |seq| {
            order.history.iter().find(|h| h.seq == seq).map(|h| {
                let backward = if h.backward { " (backward)" } else { "" };
                format!("{}{backward}", h.status)
            })
        }))
    };
    Ok(ctx.page(&format!("Order {}", order.reference), body))
}

/// An order's current state, its fields as upstream sent them, and its payments.
fn order_state(order: &Order) -> Markup {
    let currency = order.currency.map(|c| c.to_string()).unwrap_or_default();
    let amount = |minor: Option<i64>| minor.map(|m| format!("{} {currency}", money(m, &currency)));
    html! {
        div.split {
            section.card #state {
                h2 { "Current state" }
                dl.fields {
                    dt { "status" } dd #order-status { (order.status.clone().unwrap_or_default()) }
                    dt { "previous status" } dd { (order.previous_status.clone().unwrap_or_default()) }
                    @if let Some(s) = &order.accounting_status { dt { "accounting status" } dd { (s) } }
                    dt { "sales order" } dd { (order.sales_order_status) " · " span.mono { (order.sales_order_id) } }
                    dt { "amount" } dd { (amount(order.amount_minor).unwrap_or_else(|| "not known".into())) }
                    @if let Some(c) = amount(order.commission_minor) { dt { "commission" } dd { (c) } }
                    dt { "revenue recognised" } dd { (money(order.recognised.revenue_minor, &currency)) " " (currency) }
                    dt { "customer" } dd { (order.customer_name.clone().unwrap_or_default()) " " (order.customer_email.clone().unwrap_or_default()) }
                    @if let Some(id) = order.work_order_id {
                        dt { "work order" } dd { a #work-order-link href=(work_order_page(&id.to_string())) { (id) } }
                    }
                    dt { "created / updated" } dd { "seq " (order.created_seq) " · seq " (order.updated_seq) }
                }
            }
            section.card {
                h2 { "Fields as upstream sent them" }
                table {
                    tbody {
                        @for (name, value) in &order.fields {
                            tr { td.mono { (name) } td.mono { (value.canonical()) } }
                        }
                    }
                }
                @if !order.payments.is_empty() {
                    h2 { "Payments" }
                    table {
                        thead { tr { th.num { "seq" } th { "payment" } th.num { "amount" } th { "method" } } }
                        tbody {
                            @for p in &order.payments {
                                tr {
                                    td.num { a href={ "/console/events/" (p.seq) } { (p.seq) } }
                                    td.mono { (p.payment_id) }
                                    td.num { (money(p.amount_minor, p.currency.code())) " " (p.currency) }
                                    td { (p.method) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A Stripe payment intent, the "order" of source `stripe`.
async fn payment_page(ctx: &Ctx, reference: String) -> Result<HttpResponse, ConsoleError> {
    let id = reference.clone();
    let (payment, history) = ctx
        .read(move |conn| {
            let tx = store::ProjectionTx::new(conn);
            let payment = projections::payment(tx, &id).map_err(corrupt)?;
            let history = history(conn, &[format!("payment:stripe:{id}")], &[])?;
            Ok((payment, history))
        })
        .await?;
    let payment = payment
        .ok_or_else(|| ConsoleError::not_found(format!("no Stripe payment {reference:?}")))?;
    let history = with_shared_deliveries(ctx, history).await?;
    let body = html! {
        h1 { "Stripe payment " (reference) }
        section.card #state {
            h2 { "Current state" }
            pre { (json_pretty(&payment.canonical())) }
        }
        (history_section(&history, |_| None))
    };
    Ok(ctx.page(&format!("Payment {reference}"), body))
}

/// A work order with its items and history.
#[get("/console/work-orders/{id}")]
pub async fn show_work_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    ctx.finish(work_order_body(&ctx, id.into_inner()).await)
}

async fn work_order_body(ctx: &Ctx, id: String) -> Result<HttpResponse, ConsoleError> {
    let key = id.clone();
    let (work_order, history) = ctx
        .read(move |conn| {
            let tx = store::ProjectionTx::new(conn);
            let Some(wo) = projections::work_order(tx, &key).map_err(corrupt)? else {
                return Ok((None, None));
            };
            let mut streams = vec![format!("work_order:{key}")];
            if let Some(number) = &wo.exact_shop_order_number {
                streams.push(format!("shop_order:exact:{number}"));
            }
            let extra: Vec<u64> = wo
                .history
                .iter()
                .filter_map(|h| h.get("seq").and_then(|s| s.canonical().parse().ok()))
                .chain(wo.items.iter().map(|i| i.assigned_seq))
                .chain([wo.created_seq, wo.updated_seq])
                .collect();
            let history = history(conn, &streams, &extra)?;
            Ok((Some(wo), Some(history)))
        })
        .await?;
    let (Some(wo), Some(history)) = (work_order, history) else {
        return Err(ConsoleError::not_found(format!("no work order {id:?}")));
    };
    let history = with_shared_deliveries(ctx, history).await?;
    let text = |j: &Option<domain::Json>| j.as_ref().map(|j| j.canonical()).unwrap_or_default();
    let body = html! {
        h1 { "Work order " (wo.wo_number.clone().unwrap_or_else(|| wo.id.to_string())) }
        div.split {
            section.card #state {
                h2 { "Current state" }
                dl.fields {
                    dt { "id" } dd.mono { (wo.id) }
                    dt { "status" } dd #work-order-status { (wo.status) }
                    dt { "materials issued" } dd { (wo.materials_issued_status.clone().unwrap_or_default()) }
                    dt { "Exact shop order" } dd { (wo.exact_shop_order_number.clone().unwrap_or_default()) }
                    dt { "product" } dd.mono { (text(&wo.product)) }
                    dt { "batch size" } dd { (wo.batch_size) }
                    dt { "customer" } dd.mono { (text(&wo.customer)) }
                    dt { "planned" } dd { (wo.planned_start_date.clone().unwrap_or_default()) " – " (wo.planned_end_date.clone().unwrap_or_default()) }
                    @if let Some(order) = &wo.order {
                        @let source = order.get("source").and_then(|s| s.as_str()).unwrap_or_default();
                        @let reference = order.get("ref").and_then(|s| s.as_str()).unwrap_or_default();
                        dt { "order" } dd { a href=(order_page(source, reference)) { (reference) " (" (source) ")" } }
                    }
                    dt { "created / updated" } dd { "seq " (wo.created_seq) " · seq " (wo.updated_seq) }
                }
            }
            section.card {
                h2 { "Items" }
                table {
                    thead { tr { th.num { "position" } th { "serial number" } th { "batch number" } th.num { "assigned at seq" } } }
                    tbody {
                        @for item in &wo.items {
                            tr {
                                td.num { (item.position_in_batch) }
                                td.mono { (item.serial_number.clone().unwrap_or_default()) }
                                td.mono { (item.batch_number) }
                                td.num { a href={ "/console/events/" (item.assigned_seq) } { (item.assigned_seq) } }
                            }
                        }
                    }
                }
            }
        }
        (history_section(&history, |seq| {
            wo.history
                .iter()
                .find(|h| h.get("seq").map(|s| s.canonical()) == Some(seq.to_string()))
                .and_then(|h| h.get("status").and_then(|s| s.as_str()).map(str::to_owned))
        }))
    };
    Ok(ctx.page("Work order", body))
}

#[derive(Debug, Deserialize)]
pub struct FindQuery {
    source: String,
    #[serde(rename = "ref")]
    reference: String,
}

/// The header's lookup form: to the order or work order named.
#[get("/console/find")]
pub async fn find(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<FindQuery>,
) -> HttpResponse {
    if let Err(e) = Ctx::signed_in(&req, &state) {
        return super::error_page(&state, None, e);
    }
    let reference = query.reference.trim();
    let location = if query.source == "work-order" {
        work_order_page(reference)
    } else {
        order_page(&query.source, reference)
    };
    HttpResponse::SeeOther()
        .insert_header(("Location", location))
        .finish()
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(show_order)
        .service(show_work_order)
        .service(find);
}
