//! `GET /api/ledger/trial-balance`, `GET /api/ledger/journal`, `GET /api/ledger/register`: the
//! accountant's reports (bearer token, any role). The shapes and the formats are the same as
//! `hookledger ledger` prints (crate `reports`).

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{get, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use store::ledger::JournalFilter;

use crate::auth::require_reader;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of `GET /api/ledger/trial-balance`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TrialBalanceQuery {
    /// A `seq`, or an RFC 3339 time (inclusive: events recorded at or before it); default now.
    pub as_of: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// `{accounts:[{account, currency, debit_minor, credit_minor, balance_minor}], totals:[{currency,
/// debit_minor, credit_minor}], total_debit_minor, total_credit_minor}`, integers in minor units.
#[utoipa::path(get, path = "/api/ledger/trial-balance", tag = "ledger", params(TrialBalanceQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The trial balance"), (status = 400), (status = 401)))]
#[get("/api/ledger/trial-balance")]
pub async fn trial_balance(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<TrialBalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let as_of = query
        .as_of
        .as_deref()
        .map(|text| {
            reports::AsOf::parse(text).map_err(|e| ApiError::bad_request(format!("as_of: {e}")))
        })
        .transpose()?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: {other:?} is not json or csv"
            )))
        }
    };
    let store = state.store.clone();
    let tb = web::block(move || {
        store.read(|conn| {
            let until_seq = as_of.as_ref().map(|a| a.until_seq(conn)).transpose()?;
            store::ledger::trial_balance(conn, until_seq)
        })
    })
    .await??;
    if csv {
        return Ok(download(
            "text/csv; charset=utf-8",
            "trial-balance.csv",
            reports::ledger::trial_balance_csv(&tb),
        ));
    }
    Ok(HttpResponse::Ok().json(reports::ledger::TrialBalanceView::from(&tb)))
}

/// The query of `GET /api/ledger/journal` and `GET /api/ledger/register`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct JournalQuery {
    /// An account or a parent of accounts (`Assets:Receivables`).
    pub account: Option<String>,
    /// RFC 3339, inclusive.
    pub since: Option<String>,
    /// RFC 3339, exclusive.
    pub until: Option<String>,
    /// Journal: `json` (default), `csv`, `ledger` (hledger/ledger), `beancount`. Register:
    /// `json` or `csv`.
    pub format: Option<String>,
}

fn filter(query: &JournalQuery) -> Result<JournalFilter, ApiError> {
    let time = |name: &str, value: &Option<String>| -> Result<Option<String>, ApiError> {
        value
            .as_deref()
            .map(|text| {
                domain::time::normalize(text).ok_or_else(|| {
                    ApiError::bad_request(format!("{name}: {text:?} is not an RFC 3339 time"))
                })
            })
            .transpose()
    };
    Ok(JournalFilter {
        account: query.account.clone().filter(|a| !a.is_empty()),
        since: time("since", &query.since)?,
        until: time("until", &query.until)?,
        until_seq: None,
    })
}

/// A text body offered as a file (a browser saves it; curl prints it).
fn download(content_type: &str, filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Inline,
            parameters: vec![DispositionParam::Filename(filename.to_owned())],
        })
        .body(body)
}

/// Journal entries with their lines and the `seq` of the event that caused each, as JSON
/// (`{entries}`), CSV, hledger/ledger's plain text, or a beancount file.
#[utoipa::path(get, path = "/api/ledger/journal", tag = "ledger", params(JournalQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The journal"), (status = 400), (status = 401)))]
#[get("/api/ledger/journal")]
pub async fn journal(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<JournalQuery>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let filter = filter(&query)?;
    let format = query.format.clone().unwrap_or_else(|| "json".to_owned());
    if !["json", "csv", "ledger", "beancount"].contains(&format.as_str()) {
        return Err(ApiError::bad_request(format!(
            "format: {format:?} is not json, csv, ledger or beancount"
        )));
    }
    let store = state.store.clone();
    let entries =
        web::block(move || store.read(|conn| store::ledger::journal(conn, &filter))).await??;
    Ok(match format.as_str() {
        "csv" => download(
            "text/csv; charset=utf-8",
            "journal.csv",
            reports::ledger::journal_csv(&entries),
        ),
        "ledger" => download(
            "text/plain; charset=utf-8",
            "journal.ledger",
            reports::ledger::journal_ledger(&entries),
        ),
        "beancount" => download(
            "text/plain; charset=utf-8",
            "journal.beancount",
            reports::ledger::journal_beancount(&entries),
        ),
        _ => HttpResponse::Ok().json(reports::ledger::JournalView::new(&entries)),
    })
}

/// One account's (and its sub-accounts') lines with the running balance per currency:
/// `{account, opening:[{currency, balance_minor}], rows:[{seq, ..., balance_minor}]}`.
#[utoipa::path(get, path = "/api/ledger/register", tag = "ledger", params(JournalQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "The register"), (status = 400), (status = 401)))]
#[get("/api/ledger/register")]
pub async fn register(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<JournalQuery>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let filter = filter(&query)?;
    let account = filter
        .account
        .clone()
        .ok_or_else(|| ApiError::bad_request("account: required"))?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format: {other:?} is not json or csv"
            )))
        }
    };
    let store = state.store.clone();
    let name = account.clone();
    let register =
        web::block(move || store.read(|conn| store::ledger::register(conn, &name, &filter)))
            .await??;
    if csv {
        return Ok(download(
            "text/csv; charset=utf-8",
            "register.csv",
            reports::ledger::register_csv(&register),
        ));
    }
    Ok(HttpResponse::Ok().json(reports::ledger::RegisterView::new(&account, &register)))
}
