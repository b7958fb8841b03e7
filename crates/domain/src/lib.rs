//! The vocabulary every other crate shares: the event envelope, exact JSON, money and time.
//!
//! # Layout
//! - [`json`]: [`Json`], a JSON value whose numbers keep their text, and its canonical form.
//! - [`money`]: [`Money`] in integer minor units, parsed exactly from decimal text.
//! - [`event`]: [`NewEvent`] and [`Event`], sources, dedupe rules and derived ids.
//! - [`time`]: the timestamp forms of the log and of the seeds.
//! - [`payloads`]: the typed payloads of the canonical event types ([`payloads::EventPayload`]).
//!
//! Nothing here does I/O.

pub mod event;
pub mod json;
pub mod money;
pub mod payloads;
pub mod time;

pub use event::{
    derive_id, event_id_for_key, Dedupe, Event, NewEvent, RawRequest, Source, DEFAULT_TENANT,
};
pub use json::{Json, JsonError};
pub use money::{Currency, Money, MoneyError};
