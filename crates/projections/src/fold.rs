//! The context of one event's fold: typed document access, outbox emission and journal posting,
//! each with ids derived from the causing event so that replay recreates them exactly.

use domain::money::format_minor;
use domain::{derive_id, Currency, Event, Json};
use serde::de::DeserializeOwned;
use serde::Serialize;
use store::projection::{JournalLine, OutboxRow};
use store::ProjectionTx;
use uuid::Uuid;

use crate::{ProjectionError, RULES_VERSION};

/// Where an outbox row goes; resolved against configuration only at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `CUSTOMER_WEBHOOK_URL` (seed 003's callbacks).
    Customer,
    /// `ZAPIER_WEBHOOK_URL` (seed 002's outbound events).
    Zapier,
    /// Every matching subscription (seed 004).
    Subscribers,
}

impl Destination {
    pub fn as_str(&self) -> &'static str {
        match self {
            Destination::Customer => "customer",
            Destination::Zapier => "zapier",
            Destination::Subscribers => "subscribers",
        }
    }
}

/// One journal line before it is stored: debit or credit, never both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub account: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub memo: String,
}

impl Posting {
    pub fn debit(account: impl Into<String>, amount_minor: i64, memo: &str) -> Posting {
        Posting {
            account: account.into(),
            debit_minor: amount_minor,
            credit_minor: 0,
            memo: memo.to_owned(),
        }
    }

    pub fn credit(account: impl Into<String>, amount_minor: i64, memo: &str) -> Posting {
        Posting {
            account: account.into(),
            debit_minor: 0,
            credit_minor: amount_minor,
            memo: memo.to_owned(),
        }
    }
}

/// The stable id of a stream (an order, a shop order), from which its derived ids hang.
pub fn stream_id(stream: &str) -> Uuid {
    domain::event::v5(&[stream.as_bytes()])
}

/// A major-unit amount as an exact JSON number (`9999` USD → `99.99`).
pub fn major(amount_minor: i64, currency: Currency) -> Json {
    Json::Number(format_minor(amount_minor, currency.exponent()))
}

/// The fold of one event.
pub struct Fold<'a> {
    pub tx: ProjectionTx<'a>,
    pub event: &'a Event,
    n_outbox: u32,
    n_entries: u32,
}

impl<'a> Fold<'a> {
    pub fn new(tx: ProjectionTx<'a>, event: &'a Event) -> Fold<'a> {
        Fold {
            tx,
            event,
            n_outbox: 0,
            n_entries: 0,
        }
    }

    /// The event's payload as `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, ProjectionError> {
        self.event
            .payload_as()
            .map_err(|e| ProjectionError::Payload {
                seq: self.event.seq,
                event_type: self.event.event_type.clone(),
                message: e.to_string(),
            })
    }

    /// The event's time in the seeds' millisecond form.
    pub fn timestamp(&self) -> String {
        domain::time::micros_to_millis(&self.event.recorded_at)
    }

    pub fn get<T: Doc>(&self, kind: &str, key: &str) -> Result<Option<T>, ProjectionError> {
        get(self.tx, kind, key)
    }

    /// Writes a document (serialised by serde when the batch is written).
    pub fn put<T: Doc>(&self, kind: &str, key: &str, doc: T) -> Result<(), ProjectionError> {
        self.tx
            .put_typed(kind, key, doc, self.event.seq)
            .map_err(ProjectionError::from)
    }

    /// Writes an outbox row per destination for the outbound event `name`.
    pub fn emit(
        &mut self,
        name: &str,
        destinations: &[Destination],
        payload: &Json,
    ) -> Result<(), ProjectionError> {
        let body = payload.canonical();
        for destination in destinations {
            self.n_outbox += 1;
            let role = format!("outbox:{}:{name}:{}", self.n_outbox, destination.as_str());
            self.tx.add_outbox(OutboxRow {
                id: derive_id(&self.event.id, &role).to_string(),
                seq: self.event.seq,
                event: name.to_owned(),
                destination: destination.as_str().to_owned(),
                stream: self.event.stream.clone(),
                recorded_at: self.event.recorded_at.clone(),
                payload: body.clone(),
            })?;
        }
        Ok(())
    }

    /// Posts one balanced journal entry in one currency, emits `journal_entry.posted`, and
    /// returns its id. Lines with a zero amount are dropped; an entry left empty is not posted.
    pub fn post(
        &mut self,
        description: &str,
        currency: Currency,
        postings: Vec<Posting>,
    ) -> Result<Option<Uuid>, ProjectionError> {
        let postings: Vec<Posting> = postings
            .into_iter()
            .filter(|p| p.debit_minor != 0 || p.credit_minor != 0)
            .map(normalise)
            .collect();
        if postings.is_empty() {
            return Ok(None);
        }
        self.n_entries += 1;
        let entry_id = derive_id(&self.event.id, &format!("journal:{}", self.n_entries));
        let debits: i128 = postings.iter().map(|p| i128::from(p.debit_minor)).sum();
        let credits: i128 = postings.iter().map(|p| i128::from(p.credit_minor)).sum();
        if debits != credits {
            return Err(ProjectionError::Unbalanced {
                seq: self.event.seq,
                entry: entry_id.to_string(),
            });
        }
        let mut lines = Vec::with_capacity(postings.len());
        for (idx, posting) in postings.iter().enumerate() {
            let line_no = idx as u32 + 1;
            self.tx.add_journal_line(JournalLine {
                entry_id: entry_id.to_string(),
                line_no,
                seq: self.event.seq,
                recorded_at: self.event.recorded_at.clone(),
                account: posting.account.clone(),
                currency: currency.code().to_owned(),
                debit_minor: posting.debit_minor,
                credit_minor: posting.credit_minor,
                memo: posting.memo.clone(),
            })?;
            lines.push(Json::object([
                ("line_no", Json::int(i64::from(line_no))),
                ("account", Json::str(posting.account.clone())),
                ("currency", Json::str(currency.code())),
                ("debit_minor", Json::int(posting.debit_minor)),
                ("credit_minor", Json::int(posting.credit_minor)),
                ("memo", Json::str(posting.memo.clone())),
            ]));
        }
        let entry = Json::object([
            ("entry_id", Json::str(entry_id.to_string())),
            ("seq", Json::int(self.event.seq as i64)),
            ("recorded_at", Json::str(self.event.recorded_at.clone())),
            ("description", Json::str(description)),
            ("rules_version", Json::int(i64::from(RULES_VERSION))),
            ("source", Json::str(self.event.source.clone())),
            ("stream", Json::str(self.event.stream.clone())),
            ("currency", Json::str(currency.code())),
            ("lines", Json::Array(lines)),
        ]);
        self.tx.put_doc(
            "journal_entry",
            &entry_id.to_string(),
            &entry.canonical(),
            self.event.seq,
        )?;
        self.emit("journal_entry.posted", &[Destination::Subscribers], &entry)?;
        Ok(Some(entry_id))
    }
}

/// A line with a negative amount moves to the other side, so that every stored amount is
/// non-negative.
fn normalise(mut posting: Posting) -> Posting {
    if posting.debit_minor < 0 {
        posting.credit_minor -= posting.debit_minor;
        posting.debit_minor = 0;
    }
    if posting.credit_minor < 0 {
        posting.debit_minor -= posting.credit_minor;
        posting.credit_minor = 0;
    }
    posting
}

/// What a document type needs: JSON both ways, and a clone for the in-memory copy.
pub trait Doc: DeserializeOwned + Serialize + Clone + Send + 'static {}

impl<T: DeserializeOwned + Serialize + Clone + Send + 'static> Doc for T {}

/// Reads a typed document.
pub fn get<T: Doc>(
    tx: ProjectionTx<'_>,
    kind: &str,
    key: &str,
) -> Result<Option<T>, ProjectionError> {
    Ok(tx.get_typed(kind, key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_amounts_move_to_the_other_side() {
        let p = normalise(Posting::debit("A", -5, ""));
        assert_eq!((p.debit_minor, p.credit_minor), (0, 5));
        let p = normalise(Posting::credit("A", -7, ""));
        assert_eq!((p.debit_minor, p.credit_minor), (7, 0));
    }
}
