//! The product catalog from seed 002's `sync_products`: upsert by Exact's item id; a
//! deactivation (or any change) is kept as history, never an overwrite without trace.

use domain::payloads::{ExactProductsSynced, ExactShopOrderSynced};
use domain::Json;
use serde::{Deserialize, Serialize};
use store::ProjectionTx;

use crate::fold::{get, Fold};
use crate::{ProjectionError, StateCode, StateRejection};

pub const PRODUCT_KIND: &str = "product";

/// A product as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub exact_item_id: String,
    pub item_code: String,
    pub name: String,
    pub name_nl: Option<String>,
    pub description: Option<String>,
    pub product_type: String,
    pub is_active: bool,
    pub created_seq: u64,
    pub updated_seq: u64,
    /// Each sync that changed the product: `{seq, recorded_at, is_active, changes}`.
    pub history: Vec<Json>,
}

pub fn products_synced(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: ExactProductsSynced = fold.payload()?;
    for product in &p.products {
        let existing = fold.get::<Product>(PRODUCT_KIND, &product.exact_item_id)?;
        let mut next = Product {
            exact_item_id: product.exact_item_id.clone(),
            item_code: product.item_code.clone(),
            name: product.name.clone(),
            name_nl: product.name_nl.clone(),
            description: product.description.clone(),
            product_type: product.product_type.as_str().to_owned(),
            is_active: product.is_active,
            created_seq: fold.event.seq,
            updated_seq: fold.event.seq,
            history: Vec::new(),
        };
        let changes = match &existing {
            None => vec!["created".to_owned()],
            Some(old) => {
                next.created_seq = old.created_seq;
                next.history = old.history.clone();
                let mut changes = Vec::new();
                let pairs = [
                    ("item_code", old.item_code != next.item_code),
                    ("name", old.name != next.name),
                    ("name_nl", old.name_nl != next.name_nl),
                    ("description", old.description != next.description),
                    ("product_type", old.product_type != next.product_type),
                    ("is_active", old.is_active != next.is_active),
                ];
                for (name, changed) in pairs {
                    if changed {
                        changes.push(name.to_owned());
                    }
                }
                changes
            }
        };
        if changes.is_empty() {
            continue;
        }
        next.history.push(Json::object([
            ("seq", Json::int(fold.event.seq as i64)),
            ("recorded_at", Json::str(fold.event.recorded_at.clone())),
            ("is_active", Json::Bool(next.is_active)),
            (
                "changes",
                Json::Array(changes.into_iter().map(Json::str).collect()),
            ),
        ]));
        fold.put(PRODUCT_KIND, &next.exact_item_id.clone(), next)?;
    }
    Ok(())
}

/// Refuses a shop order whose product is not in the catalog (`PRODUCT_NOT_FOUND`).
pub fn check_shop_order(
    tx: ProjectionTx<'_>,
    p: &ExactShopOrderSynced,
) -> Result<(), StateRejection> {
    let found =
        get::<Product>(tx, PRODUCT_KIND, &p.product.exact_item_id).map_err(|e| StateRejection {
            code: StateCode::ProductNotFound,
            message: format!("cannot read the catalog: {e}"),
        })?;
    match found {
        Some(_) => Ok(()),
        None => Err(StateRejection {
            code: StateCode::ProductNotFound,
            message: format!(
                "Product not found: exact_item_id {} (sync it with sync_products first)",
                p.product.exact_item_id
            ),
        }),
    }
}
