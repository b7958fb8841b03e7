//! The success bodies each dialect's clients read, built from the projections after the event
//! was applied (or, for a duplicate, from the state the original left).

use domain::payloads::{
    AccountingOrderStatusReported, EventPayload, ExactBatchNumbersAssigned, ExactCustomersSynced,
    ExactProductsSynced, ExactShopOrderSynced, RomsOrderReceived, VendorOrderStatusReported,
};
use domain::{Event, Json};
use store::ProjectionTx;

use crate::fold::get;
use crate::orders::{self, Order};
use crate::work_orders;
use crate::ProjectionError;

fn payload<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, ProjectionError> {
    event.payload_as().map_err(|e| ProjectionError::Payload {
        seq: event.seq,
        event_type: event.event_type.clone(),
        message: e.to_string(),
    })
}

fn ok_with(pairs: Vec<(&'static str, Json)>) -> Json {
    let mut all = vec![("success", Json::Bool(true))];
    all.extend(pairs);
    Json::object(all)
}

pub fn respond(tx: ProjectionTx<'_>, event: &Event) -> Result<Json, ProjectionError> {
    match event.event_type.as_str() {
        AccountingOrderStatusReported::TYPE => {
            let p: AccountingOrderStatusReported = payload(event)?;
            let order: Option<Order> =
                get(tx, orders::KIND, &orders::key("accounting", &p.order_id))?;
            let work_order = order
                .and_then(|o| o.work_order_id)
                .map(|id| Json::str(id.to_string()));
            Ok(ok_with(vec![
                ("orderId", Json::str(p.order_id)),
                ("status", Json::str(p.status.as_str())),
                ("accountingStatus", Json::str(p.accounting_status.as_str())),
                ("workOrderId", work_order.into()),
            ]))
        }
        RomsOrderReceived::TYPE => {
            let p: RomsOrderReceived = payload(event)?;
            let order: Option<Order> =
                get(tx, orders::KIND, &orders::key("roms", &p.order_number))?;
            let order_id = order.and_then(|o| o.order_id).map(|n| Json::int(n as i64));
            Ok(ok_with(vec![
                (
                    "message",
                    Json::str("Order received and processed successfully"),
                ),
                ("order_id", order_id.into()),
                ("order_number", Json::str(p.order_number)),
            ]))
        }
        ExactProductsSynced::TYPE => {
            let p: ExactProductsSynced = payload(event)?;
            let n = p.products.len() as i64;
            Ok(ok_with(vec![
                ("message", Json::str(format!("Synced {n} products"))),
                ("synced_count", Json::int(n)),
            ]))
        }
        ExactCustomersSynced::TYPE => {
            let p: ExactCustomersSynced = payload(event)?;
            let n = p.customers.len() as i64;
            Ok(ok_with(vec![
                ("message", Json::str(format!("Synced {n} customers"))),
                ("synced_count", Json::int(n)),
            ]))
        }
        ExactShopOrderSynced::TYPE => {
            let p: ExactShopOrderSynced = payload(event)?;
            let id = work_orders::id_for_shop_order(tx, &p.exact_shop_order_number)?;
            Ok(ok_with(vec![
                ("message", Json::str("Shop order synced")),
                ("work_order_id", id.map(Json::str).into()),
                (
                    "exact_shop_order_number",
                    Json::str(p.exact_shop_order_number),
                ),
            ]))
        }
        ExactBatchNumbersAssigned::TYPE => {
            let p: ExactBatchNumbersAssigned = payload(event)?;
            let n = p.batch_assignments.len() as i64;
            Ok(ok_with(vec![
                (
                    "message",
                    Json::str(format!("Assigned batch numbers to {n} items")),
                ),
                ("updated_items", Json::int(n)),
                (
                    "materials_issued_status",
                    Json::str(p.materials_issued_status.as_str()),
                ),
            ]))
        }
        VendorOrderStatusReported::TYPE => Ok(ok_with(vec![(
            "message",
            Json::str("Webhook received successfully"),
        )])),
        _ if event.source == "stripe" => Ok(Json::object([("received", Json::Bool(true))])),
        _ => Ok(ok_with(vec![("seq", Json::int(event.seq as i64))])),
    }
}
