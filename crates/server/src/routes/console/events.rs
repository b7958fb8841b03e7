//! `/console/events`: the timeline (newest first, filters, cursor paging, a live tail), its
//! CSV, and one event with its raw request, hashes, chain status and what it caused.

use actix_web::http::StatusCode;
use actix_web::{get, web, HttpRequest, HttpResponse};
use domain::Event;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;
use store::console::{EventSummary, Page, TimelineFilter, TIMELINE_PAGE_MAX};

use super::chain::ChainStatus;
use super::layout::{badge, json_pretty, query_string, stream_link};
use super::parts::{entries_table, event_header, event_rows, outbox_table};
use super::{ConsoleError, Ctx};
use crate::state::AppState;

/// Events a timeline page shows by default.
pub const PAGE_DEFAULT: u64 = 50;
/// Events one poll of the live tail brings at most (the next poll brings the rest).
pub const TAIL_MAX: u64 = 200;

/// The timeline's query: filters, a cursor, and the page size. Every value is text so that a
/// bad one is answered with a page naming it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TimelineQuery {
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub stream: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub before_seq: Option<String>,
    pub after_seq: Option<String>,
    pub limit: Option<String>,
}

fn set(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A time from a form: RFC 3339, or a browser's `datetime-local` / a bare date, read as UTC.
pub fn parse_time(name: &str, text: &str) -> Result<String, ConsoleError> {
    let text = text.trim();
    let candidates = [
        text.to_owned(),
        format!("{text}Z"),
        format!("{text}:00Z"),
        format!("{text}T00:00:00Z"),
    ];
    candidates
        .iter()
        .find_map(|c| domain::time::normalize(c))
        .ok_or_else(|| {
            ConsoleError::bad_request(format!(
                "{name}: {text:?} is not a time (2024-01-10T14:30:00Z, or a date)"
            ))
        })
}

pub fn parse_seq(name: &str, text: &str) -> Result<u64, ConsoleError> {
    text.trim()
        .parse()
        .map_err(|_| ConsoleError::bad_request(format!("{name}: {text:?} is not a seq")))
}

impl TimelineQuery {
    fn filter(&self) -> Result<TimelineFilter, ConsoleError> {
        let time = |name: &str, value: &Option<String>| {
            set(value).map(|t| parse_time(name, &t)).transpose()
        };
        Ok(TimelineFilter {
            stream: set(&self.stream),
            event_type: set(&self.event_type),
            source: set(&self.source),
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
        })
    }

    fn page(&self) -> Result<Page, ConsoleError> {
        let seq = |name: &str, value: &Option<String>| {
            set(value).map(|t| parse_seq(name, &t)).transpose()
        };
        Ok(match seq("after_seq", &self.after_seq)? {
            Some(after_seq) => Page::Newer { after_seq },
            None => Page::Older {
                before_seq: seq("before_seq", &self.before_seq)?,
            },
        })
    }

    fn limit(&self, default: u64) -> Result<u64, ConsoleError> {
        match set(&self.limit) {
            None => Ok(default),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(n.min(TIMELINE_PAGE_MAX)),
                _ => Err(ConsoleError::bad_request(format!(
                    "limit: {text:?} is not a number from 1 to {TIMELINE_PAGE_MAX}"
                ))),
            },
        }
    }

    /// The filters (not the cursor) as query pairs, for links that keep them.
    fn filter_pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("source", set(&self.source)),
            ("type", set(&self.event_type)),
            ("stream", set(&self.stream)),
            ("since", set(&self.since)),
            ("until", set(&self.until)),
            ("limit", set(&self.limit)),
        ]
    }

    fn with(&self, cursor: (&'static str, u64)) -> String {
        let mut pairs = self.filter_pairs();
        pairs.push((cursor.0, Some(cursor.1.to_string())));
        query_string(&pairs)
    }
}

/// What a timeline page shows.
struct Timeline {
    events: Vec<EventSummary>,
    head_seq: u64,
    types: Vec<String>,
    sources: Vec<String>,
}

async fn read_timeline(
    ctx: &Ctx,
    filter: TimelineFilter,
    page: Page,
    limit: u64,
) -> Result<Timeline, ConsoleError> {
    ctx.read(move |conn| {
        Ok(Timeline {
            head_seq: store::console::head_seq(conn)?,
            events: store::console::timeline(conn, &filter, page, limit)?,
            types: store::console::event_types(conn)?,
            sources: store::console::sources(conn)?,
        })
    })
    .await
}

fn filter_form(query: &TimelineQuery, timeline: &Timeline) -> maud::Markup {
    let chosen = |value: &Option<String>, option: &str| set(value).as_deref() == Some(option);
    html! {
        form.filters #filters method="get" action="/console/events" {
            label { "source"
                select name="source" {
                    option value="" { "any" }
                    @for s in &timeline.sources {
                        option value=(s) selected[chosen(&query.source, s)] { (s) }
                    }
                }
            }
            label { "type"
                select name="type" {
                    option value="" { "any" }
                    @for t in &timeline.types {
                        option value=(t) selected[chosen(&query.event_type, t)] { (t) }
                    }
                }
            }
            label { "stream"
                input type="text" name="stream" value=[set(&query.stream)] placeholder="order:roms:12345";
            }
            label { "since (UTC, inclusive)"
                input type="text" name="since" value=[set(&query.since)] placeholder="2024-01-10T14:30:00Z";
            }
            label { "until (UTC, exclusive)"
                input type="text" name="until" value=[set(&query.until)] placeholder="2024-01-11";
            }
            button #apply-filters type="submit" { "Filter" }
            a href="/console/events" { "Clear" }
        }
    }
}

/// The timeline page.
#[get("/console/events")]
pub async fn show_timeline(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TimelineQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    ctx.finish(timeline_page(&ctx, query.into_inner()).await)
}

async fn timeline_page(ctx: &Ctx, query: TimelineQuery) -> Result<HttpResponse, ConsoleError> {
    let filter = query.filter()?;
    let page = query.page()?;
    let limit = query.limit(PAGE_DEFAULT)?;
    let timeline = read_timeline(ctx, filter, page, limit).await?;
    let first_page = matches!(page, Page::Older { before_seq: None });
    let newest = timeline.events.first().map(|e| e.seq);
    let oldest = timeline.events.last().map(|e| e.seq);
    let tail_url = format!(
        "/console/events/tail{}",
        query_string(&[query.filter_pairs(), vec![("live", Some("1".to_owned()))]].concat())
    );
    let body = html! {
        h1 { "Event timeline" }
        p.muted {
            "Newest first. The log holds " (timeline.head_seq) " events (seq 1 to " (timeline.head_seq) ")."
        }
        (filter_form(&query, &timeline))
        div.pager {
            @if !first_page {
                a #newest href={ "/console/events" (query_string(&query.filter_pairs())) } { "⇤ Newest" }
                @if let Some(seq) = newest { a #newer href={ "/console/events" (query.with(("after_seq", seq))) } { "← Newer" } }
            }
            @if let Some(seq) = oldest {
                @if seq > 1 { a #older href={ "/console/events" (query.with(("before_seq", seq))) } { "Older →" } }
            }
            @if first_page {
                label { input #live type="checkbox" checked; " live tail" }
                span #tail-status.muted {}
            }
            a href={ "/console/events.csv" (ctx.here.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default()) } { "Download CSV of this page" }
        }
        table #timeline data-tail-url=[first_page.then_some(&tail_url)] data-last-seq=(timeline.head_seq) {
            thead { (event_header()) }
            tbody {
                (event_rows(&timeline.events))
                @if timeline.events.is_empty() {
                    tr.empty { td colspan="6" { "No event matches." } }
                }
            }
        }
    };
    Ok(ctx.page("Timeline", body))
}

/// The live tail: the events after `after_seq` matching the filters, as rendered rows, with
/// the badge: `{html, count, last_seq, badge}`. 401 without a session (the script stops).
#[get("/console/events/tail")]
pub async fn tail(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TimelineQuery>,
) -> HttpResponse {
    let Ok(ctx) = Ctx::signed_in(&req, &state) else {
        return HttpResponse::Unauthorized().json(json!({ "error": "sign in again" }));
    };
    let answer = async {
        let filter = query.filter()?;
        let after_seq = match set(&query.after_seq) {
            Some(text) => parse_seq("after_seq", &text)?,
            None => 0,
        };
        let (head_seq, events) = ctx
            .read(move |conn| {
                let head_seq = store::console::head_seq(conn)?;
                let events =
                    store::console::timeline(conn, &filter, Page::Newer { after_seq }, TAIL_MAX)?;
                Ok((head_seq, events))
            })
            .await?;
        let newest = events.first().map_or(after_seq, |e| e.seq);
        // Everything up to the head read before the query was looked at; a full batch may
        // have more after it.
        let last_seq = if events.len() as u64 == TAIL_MAX {
            newest
        } else {
            newest.max(head_seq)
        };
        Ok::<_, ConsoleError>(json!({
            "html": event_rows(&events).into_string(),
            "count": events.len(),
            "last_seq": last_seq,
            "badge": badge(&ctx.state.console.chain.status()).into_string(),
        }))
    }
    .await;
    match answer {
        Ok(body) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(body),
        Err(e) => {
            HttpResponse::build(StatusCode::BAD_REQUEST).json(json!({ "error": e.to_string() }))
        }
    }
}

/// The CSV of the timeline page with the same query (what is on screen).
#[get("/console/events.csv")]
pub async fn csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TimelineQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let result = async {
        let filter = query.filter()?;
        let page = query.page()?;
        let limit = query.limit(PAGE_DEFAULT)?;
        let events = ctx
            .read(move |conn| {
                let mut events = Vec::new();
                for summary in store::console::timeline(conn, &filter, page, limit)? {
                    if let Some(event) = store::log::read_event(conn, summary.seq)? {
                        events.push(event);
                    }
                }
                Ok(events)
            })
            .await?;
        let mut body = reports::events::csv_header();
        for event in &events {
            body.push_str(&reports::events::csv_row(event));
        }
        Ok(super::ledger::csv_download("events.csv", body))
    }
    .await;
    ctx.finish(result)
}

/// One event: envelope, chain, payload, raw request, and what it caused.
#[get("/console/events/{seq}")]
pub async fn detail(
    req: HttpRequest,
    state: web::Data<AppState>,
    seq: web::Path<String>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    ctx.finish(detail_page(&ctx, &seq).await)
}

async fn detail_page(ctx: &Ctx, seq: &str) -> Result<HttpResponse, ConsoleError> {
    let seq = parse_seq("seq", seq)?;
    let (event, row_check, entries, outbox, deliveries, head_seq) = ctx
        .read(move |conn| {
            Ok((
                store::log::read_event(conn, seq)?,
                store::verify::check_row(conn, seq)?,
                store::console::entries_at(conn, &[seq])?,
                store::console::outbox_at(conn, &[seq])?,
                store::console::deliveries_at(conn, &[seq])?,
                store::console::head_seq(conn)?,
            ))
        })
        .await?;
    let event = event.ok_or_else(|| ConsoleError::not_found(format!("no event with seq {seq}")))?;
    let chain = ctx.state.console.chain.status();
    let body = html! {
        h1 { "Event seq " (event.seq) }
        div.pager {
            @if event.seq > 1 { a #previous href={ "/console/events/" (event.seq - 1) } { "← seq " (event.seq - 1) } }
            @if event.seq < head_seq { a #next href={ "/console/events/" (event.seq + 1) } { "seq " (event.seq + 1) " →" } }
            a href={ "/console/events?stream=" (super::layout::encode_component(&event.stream)) } { "This stream's events" }
        }
        div.split {
            section.card {
                h2 { "Envelope" }
                dl.fields {
                    dt { "type" } dd.type { (event.event_type) " (version " (event.type_version) ")" }
                    dt { "source" } dd { (event.source) }
                    dt { "stream" } dd { (stream_link(&event.stream)) " · version " (event.stream_version) }
                    dt { "recorded at" } dd.mono { (event.recorded_at) }
                    dt { "id" } dd.mono { (event.id) }
                    dt { "tenant" } dd.mono { (event.tenant) }
                    dt { "idempotency key" } dd.mono { (event.idempotency_key) }
                }
            }
            (chain_card(&event, &row_check, &chain))
        }
        section.card {
            h2 { "Payload" }
            pre #payload { (json_pretty(&event.payload)) }
        }
        (raw_request_card(&event))
        section.card {
            h2 { "Journal entries it caused" }
            @if entries.is_empty() { p.muted { "None." } } @else { (entries_table(&entries)) }
            h2 { "Outbound events it emitted" }
            @if outbox.is_empty() { p.muted { "None." } } @else { (outbox_table(&outbox, &deliveries)) }
        }
    };
    Ok(ctx.page(&format!("Event {}", event.seq), body))
}

/// The event's hashes, this row's own check, and what the badge's chain says about it.
fn chain_card(
    event: &Event,
    row_check: &Option<Result<(), String>>,
    chain: &ChainStatus,
) -> Markup {
    html! {
        section.card #chain {
            h2 { "Hashes and chain" }
            dl.fields {
                dt { "prev_hash" } dd.mono #prev-hash { (event.prev_hash) }
                dt { "hash" } dd.mono #hash { (event.hash) }
                dt { "this row" }
                dd #row-check {
                    @match row_check {
                        Some(Ok(())) => {
                            span.status.ok { "intact" }
                            " its hash recomputes from its stored bytes, and its prev_hash is seq " (event.seq - 1) "'s hash"
                        },
                        Some(Err(reason)) => { span.status.bad { "does not verify" } " " (reason) },
                        None => { span.muted { "not checked" } },
                    }
                }
                dt { "chain up to it" }
                dd #chain-status { (chain_up_to(chain, event.seq)) }
            }
        }
    }
}

/// The request the event came from, as stored (secrets were removed before it was stored).
fn raw_request_card(event: &Event) -> Markup {
    let raw: Option<domain::RawRequest> = serde_json::from_str(&event.raw_request).ok();
    html! {
        section.card #raw-request {
            h2 { "Raw request " span.muted { "(as received, secrets removed before it was stored)" } }
            @match &raw {
                Some(raw) => {
                    p.mono { (raw.method) " " (raw.path) }
                    table.headers {
                        thead { tr { th { "header" } th { "value" } } }
                        tbody {
                            @for (name, value) in &raw.headers {
                                tr { td.mono { (name) } td.mono { (value) } }
                            }
                        }
                    }
                    h2 { "Body" }
                    pre #raw-body { (json_pretty(&raw.body)) }
                },
                None => pre #raw-body { (event.raw_request) },
            }
        }
    }
}

/// What the badge's state says about the chain up to `seq`.
fn chain_up_to(status: &ChainStatus, seq: u64) -> maud::Markup {
    html! {
        @match status {
            ChainStatus::Intact { head_seq, checked_at, .. } if seq <= *head_seq => {
                span.status.ok { "verified" } " every event from seq 1 through seq " (head_seq) " chains (checked " (checked_at) ")"
            }
            ChainStatus::Intact { head_seq, .. } => {
                span.status.pending { "not yet" } " the verified head is seq " (head_seq) "; this event is newer"
            }
            ChainStatus::Verifying { through_seq } if status.covers(seq) => {
                span.status.ok { "verified" } " the first pass has verified through seq " (through_seq)
            }
            ChainStatus::Verifying { through_seq } => {
                span.status.pending { "verifying" } " the first pass has reached seq " (through_seq)
            }
            ChainStatus::Broken { first_bad_seq, .. } if seq < *first_bad_seq => {
                span.status.ok { "verified" } " the chain verifies through seq " (first_bad_seq - 1) span.status.bad { "but breaks at seq " (first_bad_seq) }
            }
            ChainStatus::Broken { first_bad_seq, reason, .. } => {
                span.status.bad { "broken" } " at seq " (first_bad_seq) ", at or before this event: " (reason)
            }
        }
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `tail` and the CSV before `{seq}`, which would otherwise take their paths.
    cfg.service(show_timeline)
        .service(tail)
        .service(csv)
        .service(detail);
}
