//! Given these requests, when this one arrives, expect this state, these journal entries and
//! these outbox rows: the projectors driven end to end through the real dialects, the real
//! writer and a temporary database.

mod flows;
mod properties;

use std::collections::BTreeMap;

use chrono::Utc;
use domain::{Json, NewEvent};
use hmac::{Hmac, Mac};
use ingest::{Dialect, Request, Secret, Settings};
use projections::{RecordError, Recorded};
use store::projection::{JournalLine, OutboxRow};
use store::{Durability, Store, Writer};

pub const ACCOUNTING_SECRET: &str = "acc-secret";
pub const EXACT_SECRET: &str = "exact-secret";
pub const VENDOR_SECRET: &str = "vendor-secret";
pub const STRIPE_SECRET: &str = "whsec_stripe";

pub struct Ledger {
    pub _dir: tempfile::TempDir,
    pub store: Store,
    pub writer: Writer,
    pub settings: Settings,
}

/// What a request came to.
#[derive(Debug)]
pub enum Answer {
    Recorded(Recorded),
    Rejected(String),
}

impl Answer {
    pub fn body(&self) -> &Json {
        match self {
            Answer::Recorded(r) => &r.body,
            Answer::Rejected(why) => panic!("rejected: {why}"),
        }
    }

    pub fn recorded(&self) -> &Recorded {
        match self {
            Answer::Recorded(r) => r,
            Answer::Rejected(why) => panic!("rejected: {why}"),
        }
    }
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    pub fn new() -> Ledger {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("ledger.db"), Durability::Normal).expect("open");
        let (writer, _thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
        let settings = Settings {
            accounting_webhook_secret: Some(Secret::new(ACCOUNTING_SECRET)),
            exact_webhook_secret: Some(Secret::new(EXACT_SECRET)),
            customer_server_secret: Some(Secret::new(VENDOR_SECRET)),
            stripe_webhook_secret: Some(Secret::new(STRIPE_SECRET)),
            ..Settings::default()
        };
        Ledger {
            _dir: dir,
            store,
            writer,
            settings,
        }
    }

    /// Parses a request as the server's dialect handler does: its events, or the rejection.
    fn ingest(
        &self,
        dialect: Dialect,
        headers: Vec<(&str, String)>,
        body: &serde_json::Value,
    ) -> Result<Vec<NewEvent>, String> {
        let body = body.to_string();
        let mut headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        headers.push(("content-type".into(), "application/json".into()));
        let request = Request {
            method: "POST",
            path: dialect.path(),
            headers: &headers,
            body: body.as_bytes(),
            received_at: Utc::now(),
        };
        dialect
            .parse(&request, &self.settings)
            .map(|ingested| ingested.events)
            .map_err(|rejection| rejection.to_string())
    }

    /// Sends a request through the dialect and records it as the server's writer step does.
    pub fn send(
        &self,
        dialect: Dialect,
        headers: Vec<(&str, String)>,
        body: &serde_json::Value,
    ) -> Answer {
        let events = match self.ingest(dialect, headers, body) {
            Ok(events) => events,
            Err(rejection) => return Answer::Rejected(rejection),
        };
        let outcome = self
            .writer
            .submit_blocking(move |ctx| projections::record(ctx, &events))
            .expect("writer answered");
        match outcome {
            Ok(recorded) => Answer::Recorded(recorded),
            Err(RecordError::Rejected(r)) => {
                Answer::Rejected(format!("{:?}: {}", r.code, r.message))
            }
            Err(RecordError::Failed(e)) => panic!("projection failed: {e}"),
        }
    }

    pub fn accounting(&self, order_id: &str, status: &str, extra: serde_json::Value) -> Answer {
        self.send(
            Dialect::Accounting,
            vec![],
            &accounting_body(order_id, status, extra),
        )
    }

    /// Seed 000 `processing` for each order, all recorded in one writer job (one batch, so the
    /// events share a millisecond or a few).
    pub fn accounting_burst(&self, order_ids: &[String]) {
        let mut events = Vec::new();
        for order_id in order_ids {
            let body = accounting_body(order_id, "processing", serde_json::json!({"amount": 10}));
            events.extend(
                self.ingest(Dialect::Accounting, vec![], &body)
                    .expect("a valid request"),
            );
        }
        self.writer
            .submit_blocking(move |ctx| {
                for event in &events {
                    projections::record(ctx, std::slice::from_ref(event))?;
                }
                Ok::<(), RecordError>(())
            })
            .expect("writer answered")
            .expect("recorded");
    }

    pub fn roms(&self, body: serde_json::Value) -> Answer {
        self.send(Dialect::Roms, vec![], &body)
    }

    pub fn exact(&self, body: serde_json::Value) -> Answer {
        self.send(
            Dialect::Exact,
            vec![("x-webhook-secret", EXACT_SECRET.into())],
            &body,
        )
    }

    pub fn vendor(&self, body: serde_json::Value) -> Answer {
        let now = domain::time::format_millis(Utc::now());
        self.send(
            Dialect::Vendor,
            vec![
                ("x-vendor-server-secret", VENDOR_SECRET.into()),
                ("x-webhook-timestamp", now),
            ],
            &body,
        )
    }

    pub fn stripe(&self, body: serde_json::Value) -> Answer {
        let text = body.to_string();
        let t = Utc::now().timestamp();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(STRIPE_SECRET.as_bytes()).expect("key");
        mac.update(format!("{t}.{text}").as_bytes());
        let signature = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        self.send(
            Dialect::Stripe,
            vec![("stripe-signature", signature)],
            &body,
        )
    }

    pub fn doc(&self, kind: &str, key: &str) -> serde_json::Value {
        let body = self
            .store
            .read(|conn| store::projection::get_doc(conn, kind, key))
            .expect("read")
            .unwrap_or_else(|| panic!("no {kind} {key}"));
        serde_json::from_str(&body).expect("json")
    }

    pub fn outbox(&self) -> Vec<OutboxRow> {
        self.store
            .read(|conn| store::projection::outbox_after(conn, 0))
            .expect("outbox")
    }

    /// Outbound event names to `destination`, in order.
    pub fn outbox_events(&self, destination: &str) -> Vec<String> {
        self.outbox()
            .into_iter()
            .filter(|r| r.destination == destination)
            .map(|r| r.event)
            .collect()
    }

    pub fn journal(&self) -> Vec<JournalLine> {
        self.store
            .read(|conn| store::projection::journal_lines(conn, None))
            .expect("journal")
    }

    /// Balance (debit − credit) per (account, currency).
    pub fn balances(&self) -> BTreeMap<(String, String), i64> {
        let mut balances = BTreeMap::new();
        for line in self.journal() {
            *balances.entry((line.account, line.currency)).or_insert(0) +=
                line.debit_minor - line.credit_minor;
        }
        balances.retain(|_, v| *v != 0);
        balances
    }

    pub fn balance(&self, account: &str, currency: &str) -> i64 {
        self.balances()
            .get(&(account.to_owned(), currency.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    pub fn digest(&self) -> String {
        self.store.read(store::projection::digest).expect("digest")
    }

    pub fn events(&self) -> u64 {
        self.store.read(store::log::head).expect("head").0
    }
}

/// A seed 000 webhook body: the order, its status and the shared secret, plus `extra` fields.
fn accounting_body(order_id: &str, status: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({ "orderId": order_id, "status": status, "webhookSecret": ACCOUNTING_SECRET });
    merge(&mut body, extra);
    body
}

fn merge(body: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(target), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        target.extend(extra);
    }
}
