//! `GET /api/orders/{source}/{ref}` and `GET /api/work-orders/{id}`: read models with their
//! history, for auditors and operators.

use actix_web::{get, web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use store::log::EventFilter;

use crate::auth::require_reader;
use crate::error::ApiError;
use crate::routes::api::events::EventView;
use crate::state::AppState;

/// Sources whose orders have a read model.
const ORDER_SOURCES: [&str; 4] = ["accounting", "roms", "vendor", "stripe"];

/// An order's current state and its event history (ascending `seq`).
#[utoipa::path(get, path = "/api/orders/{source}/{ref}", tag = "read models", security(("bearer" = [])),
    params(("source" = String, Path, description = "accounting (seed 000), roms (001), vendor (003), stripe"),
           ("ref" = String, Path, description = "The upstream's own id (orderId, order_number)")),
    responses((status = 200, description = "The order with `events`"), (status = 404), (status = 401)))]
#[get("/api/orders/{source}/{ref}")]
pub async fn order(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let (source, reference) = path.into_inner();
    if !ORDER_SOURCES.contains(&source.as_str()) {
        return Err(ApiError::not_found(format!(
            "unknown source {source:?}; one of {}",
            ORDER_SOURCES.join(", ")
        )));
    }
    let store = state.store.clone();
    let (body, events) = web::block(move || {
        store.read(|conn| {
            let tx = store::ProjectionTx::new(conn);
            let corrupt =
                |e: projections::ProjectionError| store::StoreError::Corrupt(e.to_string());
            // A Stripe "order" is a payment intent, by its id.
            let (body, stream) = if source == "stripe" {
                let payment = projections::payment(tx, &reference).map_err(corrupt)?;
                (
                    payment.map(|p| p.to_value()),
                    format!("payment:stripe:{reference}"),
                )
            } else {
                let order = projections::order(tx, &source, &reference).map_err(corrupt)?;
                let body = order
                    .map(|o| serde_json::to_value(&o))
                    .transpose()
                    .map_err(|e| store::StoreError::Corrupt(e.to_string()))?;
                (body, format!("order:{source}:{reference}"))
            };
            let filter = EventFilter {
                stream: Some(stream),
                ..Default::default()
            };
            Ok((body, store::log::query_events(conn, &filter)?))
        })
    })
    .await??;
    let mut body = body.ok_or_else(|| ApiError::not_found("no such order"))?;
    let events: Vec<EventView> = events
        .into_iter()
        .map(|e| EventView::from_event(e, false))
        .collect::<Result<_, _>>()?;
    body["events"] = serde_json::to_value(events).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(body))
}

/// A work order: status, `materials_issued_status`, items with `position_in_batch`,
/// `serial_number` and `batch_number`, and its history.
#[utoipa::path(get, path = "/api/work-orders/{id}", tag = "read models", security(("bearer" = [])),
    params(("id" = String, Path, description = "seed 000's workOrderId = seed 002's work_order_id")),
    responses((status = 200, description = "The work order"), (status = 404), (status = 401)))]
#[get("/api/work-orders/{id}")]
pub async fn work_order(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_reader(&req, &state).await?;
    let id = id.into_inner();
    let store = state.store.clone();
    let found = web::block(move || {
        store.read(|conn| {
            projections::work_order(store::ProjectionTx::new(conn), &id)
                .map_err(|e| store::StoreError::Corrupt(e.to_string()))
        })
    })
    .await??;
    let work_order = found.ok_or_else(|| ApiError::not_found("no such work order"))?;
    let body: Value = serde_json::to_value(&work_order).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!(body)))
}
