//! The payloads of the canonical event types: the contract between `ingest`, which writes them, and
//! the projectors, which read them back with `serde_json::from_str`.
//!
//! Each payload type names its event `type` and `type_version` through [`EventPayload`]. Rules
//! every payload follows (see `docs/events.md` for the catalogue):
//! - money is integer minor units in fields ending `_minor`, with a `currency`; never `f64`;
//! - upstream sub-documents (seed 003's `orderData`, seed 002's `materials_summary`, Stripe's
//!   `data.object`) are kept as exact [`Json`], so that number text survives;
//! - upstream fields that no typed field maps are kept in `extra`, nothing is dropped;
//! - optional fields that upstream did not send are left out of the JSON (`None` on reading);
//! - no `#[serde(flatten)]` and no internally tagged enums: serde_json's `arbitrary_precision`,
//!   unified across a workspace, breaks both (DESIGN.md, "Known traps").

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::json::Json;
use crate::money::Currency;

/// Upstream fields that no typed field maps, by their upstream name.
pub type Extra = BTreeMap<String, Json>;

/// A payload of one canonical event type.
pub trait EventPayload: Serialize + DeserializeOwned {
    /// The event's `type` column, e.g. `roms.order_received`.
    const TYPE: &'static str;
    /// The event's `type_version` column. Readers of an older version upgrade it on the way in.
    const VERSION: u32;
}

/// Declares a string enum whose wire names are given explicitly, with `ALL`, `as_str` and `parse`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as upstream spells it.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The value from upstream's spelling (exact, case-sensitive).
            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// The accepted spellings, comma-separated, for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Seed 000: the web shop's order status.

wire_enum! {
    /// Seed 000's website statuses.
    WebsiteStatus {
        Pending = "pending",
        Processing = "processing",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

wire_enum! {
    /// The accounting status a website status maps to (seed 000's "Status Mapping" table).
    AccountingStatus {
        Pending = "pending",
        Producing = "producing",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

impl WebsiteStatus {
    /// Seed 000's mapping: `processing` becomes `producing`, the others keep their name.
    pub fn accounting_status(&self) -> AccountingStatus {
        match self {
            WebsiteStatus::Pending => AccountingStatus::Pending,
            WebsiteStatus::Processing => AccountingStatus::Producing,
            WebsiteStatus::Completed => AccountingStatus::Completed,
            WebsiteStatus::Cancelled => AccountingStatus::Cancelled,
        }
    }
}

/// `accounting.order_status_reported`, stream `order:accounting:{order_id}`: the web shop reported
/// an order's status (seed 000). `webhookSecret` is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountingOrderStatusReported {
    /// `orderId`.
    pub order_id: String,
    /// `status`, as the website sent it.
    pub status: WebsiteStatus,
    /// The mapped accounting status.
    pub accounting_status: AccountingStatus,
    /// Optional `amount`, in minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_minor: Option<i64>,
    /// The body's `currency`, or the default currency when only `amount` was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for AccountingOrderStatusReported {
    const TYPE: &'static str = "accounting.order_status_reported";
    const VERSION: u32 = 1;
}

// ---------------------------------------------------------------------------------------------
// Seed 001: ROMS V2 orders.

/// `roms.order_received`, stream `order:roms:{order_number}`: ROMS created or updated an order
/// (seed 001). Only the fields that were sent are present, under seed 001's database column names
/// (amounts as `<column>_minor`), so that a projector upserts exactly those.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RomsOrderReceived {
    /// `order_number`, always as text (an integer is taken as its decimal text).
    pub order_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_minor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_minor: Option<i64>,
    /// Present when the body named a `currency` or sent an amount (then the default currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// Free text (`pending`, `verified`, `shipped`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// As sent (seed 001 shows RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_date: Option<String>,
    /// Unmapped fields, including aliases that lost to an earlier alias of the same column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for RomsOrderReceived {
    const TYPE: &'static str = "roms.order_received";
    const VERSION: u32 = 1;
}

// ---------------------------------------------------------------------------------------------
// Seed 002: Exact Online through Zapier.

wire_enum! {
    /// Seed 002's `product_type`.
    ProductType {
        SdmEco = "SDM_ECO",
        Sensor = "SENSOR",
        Mla = "MLA",
        Hmi = "HMI",
        Transmitter = "TRANSMITTER",
    }
}

wire_enum! {
    /// Seed 002's `materials_issued_status`.
    MaterialsIssuedStatus {
        Pending = "pending",
        Partial = "partial",
        Complete = "complete",
    }
}

/// One product of `sync_products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactProduct {
    pub exact_item_id: String,
    pub item_code: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_nl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub product_type: ProductType,
    /// Defaults to `true` when not sent.
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// `exact.products_synced`, stream `catalog:exact`: Exact sent its product catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactProductsSynced {
    pub products: Vec<ExactProduct>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for ExactProductsSynced {
    const TYPE: &'static str = "exact.products_synced";
    const VERSION: u32 = 1;
}

/// One customer of `sync_customers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactCustomer {
    pub exact_customer_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_nl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The `address` object as sent (`street`, `city`, `postal_code`, `country`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Json>,
    /// Defaults to `true` when not sent.
    pub is_active: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// `exact.customers_synced`, stream `customers:exact`: Exact sent customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactCustomersSynced {
    pub customers: Vec<ExactCustomer>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for ExactCustomersSynced {
    const TYPE: &'static str = "exact.customers_synced";
    const VERSION: u32 = 1;
}

/// `product` of `sync_exact_work_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactProductRef {
    pub exact_item_id: String,
    pub item_code: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// `customer` of `sync_exact_work_order`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactCustomerRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// `exact.shop_order_synced`, stream `shop_order:exact:{exact_shop_order_number}`: Exact created or
/// updated a shop order (`sync_exact_work_order`). `wo_number` matches a pending work order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactShopOrderSynced {
    pub exact_shop_order_number: String,
    pub exact_shop_order_link: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wo_number: Option<String>,
    pub product: ExactProductRef,
    /// Quantity to produce, at least 1.
    pub batch_size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<ExactCustomerRef>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_start_date: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_end_date: Option<String>,
    /// The summary object as sent, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materials_summary: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materials_issued_status: Option<MaterialsIssuedStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for ExactShopOrderSynced {
    const TYPE: &'static str = "exact.shop_order_synced";
    const VERSION: u32 = 1;
}

/// One item of `batch_assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAssignment {
    /// 1-based, unique within the request.
    pub position_in_batch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    pub batch_number: String,
    /// The `materials` array as sent (`[{material_code, batch_number}]`), exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materials: Option<Json>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

/// `exact.batch_numbers_assigned`: Exact issued materials and assigned batch numbers. Stream
/// `shop_order:exact:{exact_shop_order_number}` when that number is sent, else
/// `work_order:{work_order_id}`. At least one of the two identifiers is present; whether the work
/// order exists is decided by the writer (`WORK_ORDER_NOT_FOUND`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactBatchNumbersAssigned {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_shop_order_number: Option<String>,
    pub materials_issued_status: MaterialsIssuedStatus,
    pub batch_assignments: Vec<BatchAssignment>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for ExactBatchNumbersAssigned {
    const TYPE: &'static str = "exact.batch_numbers_assigned";
    const VERSION: u32 = 1;
}

// ---------------------------------------------------------------------------------------------
// Seed 003: the vendor server's status callbacks.

wire_enum! {
    /// Seed 003's nine order statuses.
    VendorStatus {
        Pending = "pending",
        Assigned = "assigned",
        Accepted = "accepted",
        InProgress = "in_progress",
        PaymentRequested = "payment_requested",
        PaymentConfirmed = "payment_confirmed",
        ArrivalConfirmed = "arrival_confirmed",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

/// `vendor.order_status_reported`, stream `order:vendor:{order_id}`: the vendor server reported
/// an order's status change (seed 003).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorOrderStatusReported {
    /// `orderId`.
    pub order_id: String,
    /// `customerId` at the top level, else `orderData.customerId`; `None` when neither is sent.
    pub customer_id: Option<String>,
    pub status: VendorStatus,
    /// `previousStatus`; `None` for an order's first status.
    pub previous_status: Option<VendorStatus>,
    /// `updatedAt`, as sent (not part of the duplicate test).
    pub updated_at: Option<String>,
    /// `orderData`, exact, in full.
    pub order_data: Option<Json>,
    /// `vendorDetails`, exact, in full.
    pub vendor_details: Option<Json>,
    /// `orderData.fare` in minor units of `currency`.
    pub fare_minor: Option<i64>,
    /// `orderData.currency`, else the default currency; `None` when there is no fare.
    pub currency: Option<Currency>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: Extra,
}

impl EventPayload for VendorOrderStatusReported {
    const TYPE: &'static str = "vendor.order_status_reported";
    const VERSION: u32 = 1;
}

// ---------------------------------------------------------------------------------------------
// The payment provider (Stripe).

/// `stripe.payment_intent_succeeded` (`payment_intent.succeeded`) and
/// `stripe.payment_intent_failed` (`payment_intent.payment_failed`), stream
/// `payment:stripe:{payment_intent_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripePaymentIntent {
    /// The Stripe event's `id` (`evt_…`).
    pub event_id: String,
    /// The Stripe event's `created` (Unix seconds), when sent.
    pub created: Option<i64>,
    pub livemode: Option<bool>,
    /// `data.object.id` (`pi_…`).
    pub payment_intent_id: String,
    /// `data.object.amount`, minor units as Stripe sends them.
    pub amount_minor: i64,
    /// `data.object.currency`, upper-cased.
    pub currency: Currency,
    /// `metadata.order_number`: the order this payment settles, when known.
    pub order_number: Option<String>,
    /// `metadata.source`, default `roms`: which upstream's order `order_number` names.
    pub order_source: String,
    /// `last_payment_error.message` (failed payments).
    pub failure_message: Option<String>,
    /// `last_payment_error.code` (failed payments).
    pub failure_code: Option<String>,
    /// `data.object` in full, exact.
    pub object: Json,
}

/// A succeeded payment intent (see [`StripePaymentIntent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripePaymentIntentSucceeded(pub StripePaymentIntent);

/// A failed payment intent (see [`StripePaymentIntent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripePaymentIntentFailed(pub StripePaymentIntent);

impl EventPayload for StripePaymentIntentSucceeded {
    const TYPE: &'static str = "stripe.payment_intent_succeeded";
    const VERSION: u32 = 1;
}

impl EventPayload for StripePaymentIntentFailed {
    const TYPE: &'static str = "stripe.payment_intent_failed";
    const VERSION: u32 = 1;
}

/// `stripe.event_received`: any other Stripe event, recorded as received. Stream
/// `payment:stripe:{object_id}` when `data.object.id` is sent, else `stripe:event:{event_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StripeEventReceived {
    pub event_id: String,
    /// Stripe's `type`, e.g. `charge.refunded`.
    pub stripe_type: String,
    pub created: Option<i64>,
    pub livemode: Option<bool>,
    pub object_id: Option<String>,
    /// `data.object` in full, exact (`null` when absent).
    pub object: Json,
}

impl EventPayload for StripeEventReceived {
    const TYPE: &'static str = "stripe.event_received";
    const VERSION: u32 = 1;
}

/// Every event type this module defines, for catalogues and tests.
pub const EVENT_TYPES: [&str; 10] = [
    AccountingOrderStatusReported::TYPE,
    RomsOrderReceived::TYPE,
    ExactProductsSynced::TYPE,
    ExactCustomersSynced::TYPE,
    ExactShopOrderSynced::TYPE,
    ExactBatchNumbersAssigned::TYPE,
    VendorOrderStatusReported::TYPE,
    StripePaymentIntentSucceeded::TYPE,
    StripePaymentIntentFailed::TYPE,
    StripeEventReceived::TYPE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_use_the_seeds_spelling() {
        assert_eq!(ProductType::parse("SDM_ECO"), Some(ProductType::SdmEco));
        assert_eq!(ProductType::parse("sdm_eco"), None);
        assert_eq!(
            serde_json::to_string(&VendorStatus::PaymentConfirmed).expect("serializable"),
            "\"payment_confirmed\""
        );
        assert_eq!(
            WebsiteStatus::Processing.accounting_status(),
            AccountingStatus::Producing
        );
        assert_eq!(
            MaterialsIssuedStatus::expected(),
            "pending, partial, complete"
        );
    }

    #[test]
    fn payloads_round_trip_with_exact_numbers() {
        let text =
            r#"{"order_number":"ORD-1","price_minor":9999,"currency":"USD","extra":{"x":1.10}}"#;
        let order: RomsOrderReceived = serde_json::from_str(text).expect("valid");
        assert_eq!(order.price_minor, Some(9999));
        assert_eq!(serde_json::to_string(&order).expect("serializable"), text);
    }

    #[test]
    fn a_newtype_payload_serializes_as_its_inner_struct() {
        let inner = StripePaymentIntent {
            event_id: "evt_1".into(),
            created: None,
            livemode: None,
            payment_intent_id: "pi_1".into(),
            amount_minor: 100,
            currency: Currency::USD,
            order_number: None,
            order_source: "roms".into(),
            failure_message: None,
            failure_code: None,
            object: Json::Null,
        };
        let text = serde_json::to_string(&StripePaymentIntentSucceeded(inner.clone())).expect("ok");
        assert!(text.starts_with("{\"event_id\":\"evt_1\""), "{text}");
        let back: StripePaymentIntentSucceeded = serde_json::from_str(&text).expect("valid");
        assert_eq!(back.0, inner);
    }

    #[test]
    fn event_types_are_unique() {
        let mut types = EVENT_TYPES.to_vec();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), EVENT_TYPES.len());
    }
}
