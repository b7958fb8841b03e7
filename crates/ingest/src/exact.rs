//! Seed 002: Exact Online through Zapier, `POST /functions/v1/webhook-receiver`.
//!
//! Authenticated by the `X-Webhook-Secret` header; the body's `action` picks one of four shapes.
//! A request is valid as a whole or rejected as a whole, with seed 002's codes:
//! `INVALID_ACTION` (unknown or non-string action), `MISSING_REQUIRED_FIELD`, `INVALID_STATUS` (a
//! value outside `product_type` or `materials_issued_status`), `INVALID_PAYLOAD` (malformed JSON, a
//! wrong type, an out-of-range number). `WORK_ORDER_NOT_FOUND` and `PRODUCT_NOT_FOUND` need state:
//! the writer decides them, not this module.

use std::collections::BTreeSet;

use domain::payloads::{
    BatchAssignment, EventPayload, ExactBatchNumbersAssigned, ExactCustomer, ExactCustomerRef,
    ExactCustomersSynced, ExactProduct, ExactProductRef, ExactProductsSynced, ExactShopOrderSynced,
    MaterialsIssuedStatus, ProductType,
};
use domain::{Dedupe, Json, NewEvent, RawRequest, Source};

use crate::fields::{integer, missing, objects, wrong, Fields};
use crate::support::{body_text, configured, content_digest, event, parse_body, raw_request};
use crate::{ErrorCode, Ingested, Rejection, Request, Settings};

/// The endpoint.
pub const PATH: &str = "/functions/v1/webhook-receiver";

/// The header that carries `EXACT_WEBHOOK_SECRET`.
pub const SECRET_HEADER: &str = "x-webhook-secret";

/// The four inbound actions.
pub const ACTIONS: [&str; 4] = [
    "sync_products",
    "sync_exact_work_order",
    "assign_batch_numbers",
    "sync_customers",
];

/// The most items one array of a request may hold (products, customers, batch assignments);
/// beyond it: 400 `INVALID_PAYLOAD`.
pub const ITEMS_MAX: usize = 10_000;

/// The largest `batch_size` and `position_in_batch`; beyond it: 400 `INVALID_PAYLOAD`.
pub const BATCH_SIZE_MAX: i64 = 1_000_000;

/// Authenticates and normalises one request: 503 when `EXACT_WEBHOOK_SECRET` is not set, 401
/// (`UNAUTHORIZED`) on a wrong or missing header, then 400 with seed 002's codes.
pub fn parse(req: &Request<'_>, settings: &Settings) -> Result<Ingested, Rejection> {
    let secret = configured(&settings.exact_webhook_secret, "EXACT_WEBHOOK_SECRET")?;
    if !req.header(SECRET_HEADER).is_some_and(|s| secret.matches(s)) {
        return Err(Rejection::Unauthorized(
            "Invalid or missing X-Webhook-Secret".into(),
        ));
    }
    let mut fields = Fields::of(parse_body(req.body)?, "")?;
    let action = match fields.take("action") {
        None => return Err(missing("action")),
        Some(Json::String(action)) => action,
        Some(other) => {
            return Err(Rejection::coded(
                ErrorCode::InvalidAction,
                format!("Invalid action: expected a string, got {}", other.kind()),
            ))
        }
    };
    let raw = raw_request(req, body_text(req));
    let event = match action.as_str() {
        "sync_products" => products(fields, raw)?,
        "sync_exact_work_order" => shop_order(fields, raw)?,
        "assign_batch_numbers" => batch_numbers(fields, raw)?,
        "sync_customers" => customers(fields, raw)?,
        _ => {
            return Err(Rejection::coded(
                ErrorCode::InvalidAction,
                format!(
                    "Unknown action {action:?}: must be one of {}",
                    ACTIONS.join(", ")
                ),
            ))
        }
    };
    Ok(Ingested {
        events: vec![event],
    })
}

/// The same action with the same content is a duplicate, however much later it comes.
fn exact_event<P: EventPayload>(
    stream: String,
    payload: &P,
    raw: RawRequest,
) -> Result<NewEvent, Rejection> {
    event(
        Source::Exact,
        stream,
        payload,
        |json| Dedupe::Key(format!("exact:{}:{}", P::TYPE, content_digest(json))),
        raw,
    )
}

/// A required array of objects, at most [`ITEMS_MAX`] long.
fn items(fields: &mut Fields, key: &str) -> Result<Vec<Fields>, Rejection> {
    let items = fields.required_array(key)?;
    if items.len() > ITEMS_MAX {
        return Err(Rejection::invalid(format!(
            "Field {key} holds {} items; at most {ITEMS_MAX} are accepted",
            items.len()
        )));
    }
    objects(key, items)
}

fn products(mut fields: Fields, raw: RawRequest) -> Result<NewEvent, Rejection> {
    let products = items(&mut fields, "products")?
        .into_iter()
        .map(product)
        .collect::<Result<_, _>>()?;
    let payload = ExactProductsSynced {
        products,
        extra: fields.rest(),
    };
    exact_event("catalog:exact".into(), &payload, raw)
}

fn product(mut f: Fields) -> Result<ExactProduct, Rejection> {
    Ok(ExactProduct {
        exact_item_id: f.required_str("exact_item_id")?,
        item_code: f.required_str("item_code")?,
        name: f.required_str("name")?,
        name_nl: f.optional_str("name_nl")?,
        description: f.optional_str("description")?,
        product_type: f.required_enum(
            "product_type",
            ProductType::parse,
            &ProductType::expected(),
        )?,
        is_active: f.bool_or("is_active", true)?,
        extra: f.rest(),
    })
}

fn customers(mut fields: Fields, raw: RawRequest) -> Result<NewEvent, Rejection> {
    let customers = items(&mut fields, "customers")?
        .into_iter()
        .map(|mut f| {
            Ok(ExactCustomer {
                exact_customer_id: f.required_str("exact_customer_id")?,
                name: f.required_str("name")?,
                name_nl: f.optional_str("name_nl")?,
                email: f.optional_str("email")?,
                phone: f.optional_str("phone")?,
                address: f.optional_object("address")?,
                is_active: f.bool_or("is_active", true)?,
                extra: f.rest(),
            })
        })
        .collect::<Result<_, Rejection>>()?;
    let payload = ExactCustomersSynced {
        customers,
        extra: fields.rest(),
    };
    exact_event("customers:exact".into(), &payload, raw)
}

fn shop_order(mut f: Fields, raw: RawRequest) -> Result<NewEvent, Rejection> {
    let exact_shop_order_number = f.required_str("exact_shop_order_number")?;
    let exact_shop_order_link = f.required_str("exact_shop_order_link")?;
    let wo_number = f.optional_str("wo_number")?;
    let mut product = Fields::of(f.required("product")?, "product")?;
    let product = ExactProductRef {
        exact_item_id: product.required_str("exact_item_id")?,
        item_code: product.required_str("item_code")?,
        extra: product.rest(),
    };
    let batch_size = integer("batch_size", &f.required("batch_size")?, 1, BATCH_SIZE_MAX)?;
    let customer = match f.take("customer") {
        None => None,
        Some(value) => {
            let mut c = Fields::of(value, "customer")?;
            Some(ExactCustomerRef {
                exact_customer_id: c.optional_str("exact_customer_id")?,
                name: c.optional_str("name")?,
                extra: c.rest(),
            })
        }
    };
    let payload = ExactShopOrderSynced {
        exact_shop_order_number,
        exact_shop_order_link,
        wo_number,
        product,
        batch_size,
        customer,
        planned_start_date: date(&mut f, "planned_start_date")?,
        planned_end_date: date(&mut f, "planned_end_date")?,
        materials_summary: f.optional_object("materials_summary")?,
        materials_issued_status: f.optional_enum(
            "materials_issued_status",
            MaterialsIssuedStatus::parse,
            &MaterialsIssuedStatus::expected(),
        )?,
        notes: f.optional_str("notes")?,
        extra: f.rest(),
    };
    let stream = format!("shop_order:exact:{}", payload.exact_shop_order_number);
    exact_event(stream, &payload, raw)
}

/// An optional ISO date, `YYYY-MM-DD`.
fn date(f: &mut Fields, key: &str) -> Result<Option<String>, Rejection> {
    let Some(text) = f.optional_str(key)? else {
        return Ok(None);
    };
    match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        Ok(_) if text.len() == 10 => Ok(Some(text)),
        _ => Err(Rejection::invalid(format!(
            "Field {key} must be a date YYYY-MM-DD, got {text:?}"
        ))),
    }
}

fn batch_numbers(mut f: Fields, raw: RawRequest) -> Result<NewEvent, Rejection> {
    let work_order_id = f
        .optional_str("work_order_id")?
        .filter(|s| !s.trim().is_empty());
    let shop_order_number = f
        .optional_str("exact_shop_order_number")?
        .filter(|s| !s.trim().is_empty());
    let stream = match (&shop_order_number, &work_order_id) {
        (Some(number), _) => format!("shop_order:exact:{number}"),
        (None, Some(id)) => format!("work_order:{id}"),
        (None, None) => return Err(missing("work_order_id or exact_shop_order_number")),
    };
    let materials_issued_status = f.required_enum(
        "materials_issued_status",
        MaterialsIssuedStatus::parse,
        &MaterialsIssuedStatus::expected(),
    )?;
    let mut positions = BTreeSet::new();
    let mut batch_assignments = Vec::new();
    for (idx, mut item) in items(&mut f, "batch_assignments")?.into_iter().enumerate() {
        let path = format!("batch_assignments[{idx}].position_in_batch");
        let position = integer(
            &path,
            &item.required("position_in_batch")?,
            1,
            BATCH_SIZE_MAX,
        )?;
        if !positions.insert(position) {
            return Err(Rejection::invalid(format!(
                "Field {path}: position {position} is assigned twice"
            )));
        }
        let serial_number = item.optional_str("serial_number")?;
        let batch_number = item.required_str("batch_number")?;
        let materials = match item.take("materials") {
            None => None,
            Some(value @ Json::Array(_)) => Some(value),
            Some(other) => return Err(wrong(&item.path("materials"), "an array", &other)),
        };
        batch_assignments.push(BatchAssignment {
            position_in_batch: position,
            serial_number,
            batch_number,
            materials,
            extra: item.rest(),
        });
    }
    let payload = ExactBatchNumbersAssigned {
        work_order_id,
        exact_shop_order_number: shop_order_number,
        materials_issued_status,
        batch_assignments,
        extra: f.rest(),
    };
    exact_event(stream, &payload, raw)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{arb_object, check_all, run_authenticated};
    use crate::Dialect;

    #[test]
    fn every_fixture_gives_its_expected_answer() {
        assert!(check_all(Dialect::Exact) >= 50);
    }

    #[test]
    fn the_same_action_with_the_same_content_has_the_same_key() {
        let key = |body: &[u8]| {
            run_authenticated(Dialect::Exact, body).map(|i| i.events[0].dedupe.clone())
        };
        let a = key(
            br#"{"action":"sync_customers","customers":[{"exact_customer_id":"c","name":"n"}]}"#,
        );
        let b = key(
            br#"{ "customers":[{"name":"n","exact_customer_id":"c"}], "action":"sync_customers" }"#,
        );
        let c = key(
            br#"{"action":"sync_customers","customers":[{"exact_customer_id":"c","name":"m"}]}"#,
        );
        assert!(matches!(&a, Ok(Dedupe::Key(k)) if k.starts_with("exact:exact.customers_synced:")));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    const KEYS: &[&str] = &[
        "action",
        "products",
        "customers",
        "exact_shop_order_number",
        "exact_shop_order_link",
        "product",
        "batch_size",
        "customer",
        "planned_start_date",
        "materials_summary",
        "materials_issued_status",
        "work_order_id",
        "batch_assignments",
        "notes",
    ];

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = run_authenticated(Dialect::Exact, &body);
        }

        #[test]
        fn parse_never_panics_on_arbitrary_objects(body in arb_object(KEYS, &[])) {
            let _ = run_authenticated(Dialect::Exact, &body);
        }

        #[test]
        fn parse_never_panics_for_each_action(
            action in proptest::sample::select(ACTIONS.as_slice()),
            body in arb_object(KEYS, &[]),
        ) {
            let mut json = Json::parse(&body).expect("arb_object is valid JSON");
            if let Json::Object(map) = &mut json {
                map.insert("action".into(), Json::str(action));
            }
            let _ = run_authenticated(Dialect::Exact, json.canonical().as_bytes());
        }
    }
}
