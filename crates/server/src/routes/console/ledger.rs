//! `/console/ledger`: the trial balance as of a `seq` or a date (a picker), one account's
//! register page by page with its running balance and a balance-over-time chart, and the CSV
//! of what each page shows (the same CSV as `hookledger ledger` and the ledger API write).

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use reports::AsOf;
use serde::Deserialize;
use std::sync::Mutex;

use store::console::{BalancePoint, JournalSums, RegisterPage};
use store::ledger::{Register, TrialBalance};

use super::events::{parse_seq, parse_time};
use super::layout::{account_page, encode_component, money, query_string};
use super::{ConsoleError, Ctx};
use crate::state::AppState;

/// Register rows one page shows.
pub const REGISTER_PAGE_ROWS: u64 = 100;

/// A CSV body offered as a download.
pub fn csv_download(filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename.to_owned())],
        })
        .insert_header(("Cache-Control", "no-store"))
        .body(body)
}

fn set(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The trial balance's picker: a `seq`, a date (its end, inclusive), or `as_of` as the API
/// takes it (a `seq` or an RFC 3339 time). The first one set wins; none is now.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct TrialBalanceQuery {
    pub seq: Option<String>,
    pub date: Option<String>,
    pub as_of: Option<String>,
}

impl TrialBalanceQuery {
    fn as_of(&self) -> Result<Option<AsOf>, ConsoleError> {
        if let Some(seq) = set(&self.seq) {
            return Ok(Some(AsOf::Seq(parse_seq("seq", &seq)?)));
        }
        if let Some(date) = set(&self.date) {
            let is_bare_date = date.len() == 10 && date.as_bytes().get(4) == Some(&b'-');
            let time = if is_bare_date {
                parse_time("date", &format!("{date}T23:59:59.999999Z"))?
            } else {
                parse_time("date", &date)?
            };
            return Ok(Some(AsOf::Time(time)));
        }
        set(&self.as_of)
            .map(|text| {
                AsOf::parse(&text).map_err(|e| ConsoleError::bad_request(format!("as_of: {e}")))
            })
            .transpose()
    }

    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("seq", set(&self.seq)),
            ("date", set(&self.date)),
            ("as_of", set(&self.as_of)),
        ]
    }
}

/// A trial balance and the point it was taken at.
struct Taken {
    tb: TrialBalance,
    /// The last `seq` covered, and when it was recorded.
    until_seq: u64,
    until_recorded_at: Option<String>,
    head_seq: u64,
}

/// The journal's sums at the furthest `seq` a trial balance was taken at, kept so that the next
/// one is brought forward (or back) by the lines in between instead of summing the whole
/// journal again: on a log of a million events a trial balance from scratch takes seconds.
/// Sound because journal lines are only added, each at its causing `seq`.
#[derive(Default)]
pub struct TrialBalanceCache {
    last: Mutex<Option<(u64, JournalSums)>>,
}

impl TrialBalanceCache {
    fn get(&self) -> Option<(u64, JournalSums)> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    /// Keeps `sums` at `seq` when it is further than what is kept.
    fn keep(&self, seq: u64, sums: &JournalSums) {
        if let Ok(mut last) = self.last.lock() {
            if last.as_ref().is_none_or(|(kept, _)| *kept < seq) {
                *last = Some((seq, sums.clone()));
            }
        }
    }
}

/// The sums up to `until_seq`: from the kept sums when they are nearer than seq 0.
fn sums_until(
    conn: &rusqlite::Connection,
    kept: Option<(u64, JournalSums)>,
    until_seq: u64,
) -> Result<JournalSums, store::StoreError> {
    Ok(match kept {
        Some((seq, mut sums)) if until_seq >= seq => {
            sums.add(&JournalSums::between(conn, seq, until_seq)?);
            sums
        }
        Some((seq, mut sums)) if seq - until_seq < until_seq => {
            sums.subtract(&JournalSums::between(conn, until_seq, seq)?);
            sums
        }
        _ => JournalSums::between(conn, 0, until_seq)?,
    })
}

async fn take(ctx: &Ctx, as_of: Option<AsOf>) -> Result<Taken, ConsoleError> {
    let kept = ctx.state.console.trial_balances.get();
    let (taken, sums) = ctx
        .read(move |conn| {
            let head_seq = store::console::head_seq(conn)?;
            let until_seq = match &as_of {
                Some(as_of) => as_of.until_seq(conn)?.min(head_seq),
                None => head_seq,
            };
            let until_recorded_at = store::log::read_event(conn, until_seq)?.map(|e| e.recorded_at);
            let sums = sums_until(conn, kept, until_seq)?;
            let taken = Taken {
                tb: sums.trial_balance(),
                until_seq,
                until_recorded_at,
                head_seq,
            };
            Ok((taken, sums))
        })
        .await?;
    ctx.state
        .console
        .trial_balances
        .keep(taken.until_seq, &sums);
    Ok(taken)
}

#[get("/console/ledger")]
pub async fn trial_balance(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TrialBalanceQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let result = async {
        let taken = take(&ctx, query.as_of()?).await?;
        Ok(ctx.page("Trial balance", trial_balance_body(&query, &taken)))
    }
    .await;
    ctx.finish(result)
}

fn trial_balance_body(query: &TrialBalanceQuery, taken: &Taken) -> Markup {
    let tb = &taken.tb;
    html! {
        h1 { "Trial balance" }
        form.filters #as-of method="get" action="/console/ledger" {
            label { "as of seq"
                input #seq-input type="number" name="seq" min="0" max=(taken.head_seq)
                    value=[set(&query.seq)] placeholder=(taken.head_seq);
            }
            label { "seq slider"
                input #seq-range type="range" min="0" max=(taken.head_seq)
                    value=(set(&query.seq).unwrap_or_else(|| taken.head_seq.to_string()));
            }
            label { "or as of the end of a date (UTC)"
                input #date-input type="date" name="date" value=[set(&query.date)];
            }
            button #show-as-of type="submit" { "Show" }
            a href="/console/ledger" { "Now" }
        }
        p #as-of-point data-until-seq=(taken.until_seq) {
            "As of seq " strong { (taken.until_seq) }
            @if let Some(at) = &taken.until_recorded_at { " (recorded " span.mono { (at) } ")" }
            " of " (taken.head_seq) ": every journal line caused by an event up to it. "
            a #trial-balance-csv href={ "/console/ledger/trial-balance.csv" (query_string(&query.pairs())) } { "Download CSV" }
        }
        table #trial-balance {
            thead {
                tr { th { "account" } th { "currency" } th.num { "debit" } th.num { "credit" } th.num { "balance" } }
            }
            tbody {
                @for a in &tb.accounts {
                    tr.account data-account=(a.account) data-currency=(a.currency)
                        data-debit-minor=(a.debit_minor) data-credit-minor=(a.credit_minor)
                        data-balance-minor=(a.balance_minor) {
                        td { a href=(account_page(&a.account)) { (a.account) } }
                        td { (a.currency) }
                        td.num { (money(a.debit_minor, &a.currency)) }
                        td.num { (money(a.credit_minor, &a.currency)) }
                        td.num { (money(a.balance_minor, &a.currency)) }
                    }
                }
                @for t in &tb.totals {
                    tr.total data-currency=(t.currency) {
                        td { "Total " @if t.debit_minor == t.credit_minor { span.status.ok { "balanced" } } @else { span.status.bad { "UNBALANCED" } } }
                        td { (t.currency) }
                        td.num { (money(t.debit_minor, &t.currency)) }
                        td.num { (money(t.credit_minor, &t.currency)) }
                        td.num { (money(t.debit_minor - t.credit_minor, &t.currency)) }
                    }
                }
                @if tb.accounts.is_empty() {
                    tr { td colspan="5" { "No journal line up to this point." } }
                }
            }
        }
    }
}

#[get("/console/ledger/trial-balance.csv")]
pub async fn trial_balance_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TrialBalanceQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let result = async {
        let taken = take(&ctx, query.as_of()?).await?;
        Ok(csv_download(
            &format!("trial-balance-seq-{}.csv", taken.until_seq),
            reports::ledger::trial_balance_csv(&taken.tb),
        ))
    }
    .await;
    ctx.finish(result)
}

/// The register's query: a time window and a page (0 is the newest).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RegisterQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    pub page: Option<String>,
}

impl RegisterQuery {
    fn window(&self) -> Result<(Option<String>, Option<String>, u64), ConsoleError> {
        let time = |name: &str, value: &Option<String>| {
            set(value).map(|t| parse_time(name, &t)).transpose()
        };
        let page = match set(&self.page) {
            Some(text) => parse_seq("page", &text)?,
            None => 0,
        };
        Ok((
            time("since", &self.since)?,
            time("until", &self.until)?,
            page,
        ))
    }

    fn with_page(&self, page: u64) -> String {
        query_string(&[
            ("since", set(&self.since)),
            ("until", set(&self.until)),
            ("page", (page > 0).then(|| page.to_string())),
        ])
    }
}

async fn read_register(
    ctx: &Ctx,
    account: String,
    query: &RegisterQuery,
) -> Result<RegisterPage, ConsoleError> {
    let (since, until, page) = query.window()?;
    ctx.read(move |conn| {
        store::console::register_page(
            conn,
            &account,
            since.as_deref(),
            until.as_deref(),
            page,
            REGISTER_PAGE_ROWS,
        )
    })
    .await
}

#[get("/console/ledger/accounts/{account}")]
pub async fn show_register(
    req: HttpRequest,
    state: web::Data<AppState>,
    account: web::Path<String>,
    query: web::Query<RegisterQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let account = account.into_inner();
    let result = async {
        let page = read_register(&ctx, account.clone(), &query).await?;
        Ok(ctx.page(&account, register_body(&account, &query, &page)))
    }
    .await;
    ctx.finish(result)
}

fn register_body(account: &str, query: &RegisterQuery, page: &RegisterPage) -> Markup {
    let page_idx = query.window().map(|w| w.2).unwrap_or(0);
    let n_pages = page.n_rows.div_ceil(REGISTER_PAGE_ROWS).max(1);
    let csv = format!(
        "{}/register.csv{}",
        account_page(account),
        query.with_page(page_idx)
    );
    html! {
        h1 { "Register: " (account) }
        p.muted { "Lines of " (account) " and its sub-accounts, oldest first, each with its currency's balance after it." }
        form.filters method="get" action=(account_page(account)) {
            label { "since (UTC, inclusive)" input type="text" name="since" value=[set(&query.since)] placeholder="2024-01-10"; }
            label { "until (UTC, exclusive)" input type="text" name="until" value=[set(&query.until)] placeholder="2024-02-01"; }
            button type="submit" { "Show" }
            a href=(account_page(account)) { "All" }
        }
        section.card {
            h2 { "Balance over time" }
            (chart(&page.chart))
        }
        @if !page.opening.is_empty() {
            p #opening { "Opening balance: "
                @for (currency, balance) in &page.opening { (money(*balance, currency)) " " (currency) " " }
            }
        }
        div.pager {
            span { "Page " (page_idx + 1) " of " (n_pages) " · " (page.n_rows) " lines" }
            @if page_idx + 1 < n_pages { a href={ (account_page(account)) (query.with_page(page_idx + 1)) } { "← Older" } }
            @if page_idx > 0 { a href={ (account_page(account)) (query.with_page(page_idx - 1)) } { "Newer →" } }
            a #register-csv href=(csv) { "Download CSV of this page" }
        }
        table #register {
            thead {
                tr {
                    th.num { "seq" } th { "recorded at" } th { "description" } th { "account" }
                    th.num { "debit" } th.num { "credit" } th.num { "balance" } th { "currency" }
                }
            }
            tbody {
                @for r in &page.rows {
                    tr data-seq=(r.seq) data-balance-minor=(r.balance_minor) {
                        td.num { a href={ "/console/events/" (r.seq) } { (r.seq) } }
                        td.mono { (r.recorded_at) }
                        td { (r.description) }
                        td { (r.account) }
                        td.num { @if r.debit_minor != 0 { (money(r.debit_minor, &r.currency)) } }
                        td.num { @if r.credit_minor != 0 { (money(r.credit_minor, &r.currency)) } }
                        td.num { (money(r.balance_minor, &r.currency)) }
                        td { (r.currency) }
                    }
                }
                @if page.rows.is_empty() {
                    tr { td colspan="8" { "No line in this window." } }
                }
            }
        }
    }
}

/// Colours of the chart's lines, one per currency in turn.
const CHART_COLOURS: [&str; 4] = ["#2451b7", "#b3261e", "#1f7a3f", "#8a5a00"];

/// The balance over time as an inline SVG: one line per currency, scaled to its own range
/// (including zero) across the chart's width in `seq` order.
fn chart(series: &[(String, Vec<BalancePoint>)]) -> Markup {
    const WIDTH: f64 = 760.0;
    const HEIGHT: f64 = 160.0;
    const PAD: f64 = 24.0;
    if series.iter().all(|(_, points)| points.is_empty()) {
        return html! { p.muted { "No line to chart." } };
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter());
    let seq_min = all().map(|p| p.seq).min().unwrap_or(0) as f64;
    let seq_max = all().map(|p| p.seq).max().unwrap_or(1) as f64;
    let x = |seq: u64| {
        PAD + (seq as f64 - seq_min) / (seq_max - seq_min).max(1.0) * (WIDTH - 2.0 * PAD)
    };
    html! {
        svg.chart #balance-chart xmlns="http://www.w3.org/2000/svg" width=(WIDTH) height=(HEIGHT)
            viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label="balance over time" {
            @for (idx, (currency, points)) in series.iter().enumerate() {
                @let low = points.iter().map(|p| p.balance_minor).min().unwrap_or(0).min(0) as f64;
                @let high = points.iter().map(|p| p.balance_minor).max().unwrap_or(0).max(0) as f64;
                @let y = |b: i64| HEIGHT - PAD - (b as f64 - low) / (high - low).max(1.0) * (HEIGHT - 2.0 * PAD);
                @let colour = CHART_COLOURS[idx % CHART_COLOURS.len()];
                @let path_points: Vec<String> = points.iter().map(|p| format!("{:.1},{:.1}", x(p.seq), y(p.balance_minor))).collect();
                line x1=(PAD) x2=(WIDTH - PAD) y1=(y(0)) y2=(y(0)) stroke="#d9dde5" stroke-width="1" {}
                polyline points=(path_points.join(" ")) fill="none" stroke=(colour) stroke-width="2" data-currency=(currency) {}
                @if let Some(last) = points.last() {
                    circle cx=(format!("{:.1}", x(last.seq))) cy=(format!("{:.1}", y(last.balance_minor))) r="3" fill=(colour) {}
                    text x=(WIDTH - PAD) y=(12.0 + 14.0 * idx as f64) text-anchor="end" font-size="12" fill=(colour) {
                        (currency) " " (money(last.balance_minor, currency)) " at seq " (last.seq)
                    }
                }
            }
            @if let Some(first) = all().min_by_key(|p| p.seq) {
                text x=(PAD) y=(HEIGHT - 6.0) font-size="11" fill="#5d6577" { (first.recorded_at.get(..10).unwrap_or_default()) " · seq " (first.seq) }
            }
            @if let Some(last) = all().max_by_key(|p| p.seq) {
                text x=(WIDTH - PAD) y=(HEIGHT - 6.0) text-anchor="end" font-size="11" fill="#5d6577" { (last.recorded_at.get(..10).unwrap_or_default()) " · seq " (last.seq) }
            }
        }
    }
}

#[get("/console/ledger/accounts/{account}/register.csv")]
pub async fn register_csv(
    req: HttpRequest,
    state: web::Data<AppState>,
    account: web::Path<String>,
    query: web::Query<RegisterQuery>,
) -> HttpResponse {
    let ctx = match Ctx::signed_in(&req, &state) {
        Ok(ctx) => ctx,
        Err(e) => return super::error_page(&state, None, e),
    };
    let account = account.into_inner();
    let result = async {
        let page = read_register(&ctx, account.clone(), &query).await?;
        let register = Register {
            opening: page.opening,
            rows: page.rows,
        };
        Ok(csv_download(
            &format!("register-{}.csv", encode_component(&account)),
            reports::ledger::register_csv(&register),
        ))
    }
    .await;
    ctx.finish(result)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(trial_balance)
        .service(trial_balance_csv)
        .service(register_csv)
        .service(show_register);
}
