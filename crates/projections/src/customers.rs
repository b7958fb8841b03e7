//! Customers: from seed 002's `sync_customers` (by Exact id) and from e-mail addresses seen on
//! orders (seed 001). New ones emit `customer.created`; changed ones `customer.updated` with
//! the changes; deactivation is kept as history.

use std::collections::BTreeMap;

use domain::payloads::ExactCustomersSynced;
use domain::{derive_id, Json};
use serde::{Deserialize, Serialize};

use crate::fold::{stream_id, Destination, Fold};
use crate::ProjectionError;

pub const KIND: &str = "customer";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub customer_id: String,
    /// `exact` or `order_email`.
    pub customer_type: String,
    pub exact_customer_id: Option<String>,
    pub name: Option<String>,
    pub name_nl: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<Json>,
    pub is_active: bool,
    pub created_seq: u64,
    pub updated_seq: u64,
    pub history: Vec<Json>,
}

/// Saves a customer and emits `customer.created` or, when something changed, `customer.updated`.
fn upsert(fold: &mut Fold<'_>, key: &str, mut next: Customer) -> Result<(), ProjectionError> {
    let existing = fold.get::<Customer>(KIND, key)?;
    let mut changes: BTreeMap<String, Json> = BTreeMap::new();
    if let Some(old) = &existing {
        next.customer_id = old.customer_id.clone();
        next.created_seq = old.created_seq;
        next.history = old.history.clone();
        let pairs: [(&str, Json, Json); 6] = [
            (
                "name",
                old.name.clone().map(Json::str).into(),
                next.name.clone().map(Json::str).into(),
            ),
            (
                "name_nl",
                old.name_nl.clone().map(Json::str).into(),
                next.name_nl.clone().map(Json::str).into(),
            ),
            (
                "email",
                old.email.clone().map(Json::str).into(),
                next.email.clone().map(Json::str).into(),
            ),
            (
                "phone",
                old.phone.clone().map(Json::str).into(),
                next.phone.clone().map(Json::str).into(),
            ),
            (
                "address",
                old.address.clone().into(),
                next.address.clone().into(),
            ),
            (
                "is_active",
                Json::Bool(old.is_active),
                Json::Bool(next.is_active),
            ),
        ];
        for (name, before, after) in pairs {
            if before != after {
                changes.insert(name.to_owned(), after);
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
    }
    next.updated_seq = fold.event.seq;
    next.history.push(Json::object([
        ("seq", Json::int(fold.event.seq as i64)),
        ("is_active", Json::Bool(next.is_active)),
        ("changes", Json::Object(changes.clone())),
    ]));
    let mut payload = vec![
        ("customer_id", Json::str(next.customer_id.clone())),
        ("customer_name", next.name.clone().map(Json::str).into()),
        ("customer_email", next.email.clone().map(Json::str).into()),
        ("customer_phone", next.phone.clone().map(Json::str).into()),
        ("customer_type", Json::str(next.customer_type.clone())),
        (
            "exact_customer_id",
            next.exact_customer_id.clone().map(Json::str).into(),
        ),
        ("is_active", Json::Bool(next.is_active)),
    ];
    let name = if existing.is_some() {
        payload.push(("changes", Json::Object(changes)));
        "customer.updated"
    } else {
        "customer.created"
    };
    fold.emit(name, &[Destination::Subscribers], &Json::object(payload))?;
    fold.put(KIND, key, next)
}

pub fn customers_synced(fold: &mut Fold<'_>) -> Result<(), ProjectionError> {
    let p: ExactCustomersSynced = fold.payload()?;
    for customer in &p.customers {
        let key = format!("exact:{}", customer.exact_customer_id);
        let next = Customer {
            customer_id: derive_id(&stream_id(&key), "customer").to_string(),
            customer_type: "exact".into(),
            exact_customer_id: Some(customer.exact_customer_id.clone()),
            name: Some(customer.name.clone()),
            name_nl: customer.name_nl.clone(),
            email: customer.email.clone(),
            phone: customer.phone.clone(),
            address: customer.address.clone(),
            is_active: customer.is_active,
            created_seq: fold.event.seq,
            updated_seq: fold.event.seq,
            history: Vec::new(),
        };
        upsert(fold, &key, next)?;
    }
    Ok(())
}

/// A customer e-mail seen on an order; returns the customer's id.
pub fn seen_on_order(
    fold: &mut Fold<'_>,
    email: &str,
    name: Option<&str>,
) -> Result<String, ProjectionError> {
    let key = format!("email:{}", email.trim().to_lowercase());
    let existing = fold.get::<Customer>(KIND, &key)?;
    let next = Customer {
        customer_id: derive_id(&stream_id(&key), "customer").to_string(),
        customer_type: "order_email".into(),
        exact_customer_id: None,
        name: name
            .map(str::to_owned)
            .or_else(|| existing.as_ref().and_then(|c| c.name.clone())),
        name_nl: None,
        email: Some(email.to_owned()),
        phone: None,
        address: None,
        is_active: true,
        created_seq: fold.event.seq,
        updated_seq: fold.event.seq,
        history: Vec::new(),
    };
    let id = next.customer_id.clone();
    upsert(fold, &key, next)?;
    Ok(id)
}
