//! The checks a campaign runs on a database once its server is gone: every acknowledged
//! request in the log exactly once, no delivery settled twice, `hookledger verify` passes, and
//! `replay --into` reproduces the live digest.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use store::log::EventFilter;
use store::{Durability, Store};

use crate::serve::run_cli;
use crate::traffic::Expect;

/// Why a check could not run (not a failed check: those are in the reports).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("cannot run hookledger: {0}")]
    Cli(#[from] std::io::Error),
    #[error("{0}")]
    Output(String),
}

/// How the acknowledged requests are represented in the log.
#[derive(Debug, Default, Clone)]
pub struct LogCheck {
    pub events: u64,
    pub acknowledged: u64,
    pub lost: Vec<Expect>,
    pub duplicated: Vec<Expect>,
}

/// Counts, for every acknowledged request, the events that match it.
pub fn acknowledged_in_log(db: &Path, acknowledged: &[Expect]) -> Result<LogCheck, CheckError> {
    let store = Store::open(db, Durability::Full)?;
    let mut by_stream: HashMap<String, Vec<Value>> = HashMap::new();
    let mut events = 0u64;
    store.read(|conn| {
        store::log::for_each_event(conn, &EventFilter::default(), |event| {
            events += 1;
            let payload = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
            by_stream.entry(event.stream).or_default().push(payload);
            Ok(())
        })
    })?;
    let mut check = LogCheck {
        events,
        acknowledged: acknowledged.len() as u64,
        ..LogCheck::default()
    };
    for expect in acknowledged {
        let found = by_stream.get(&expect.stream).map_or(0, |payloads| {
            payloads
                .iter()
                .filter(|p| p.pointer(&expect.pointer) == Some(&expect.value))
                .count()
        });
        match found {
            1 => {}
            0 => check.lost.push(expect.clone()),
            _ => check.duplicated.push(expect.clone()),
        }
    }
    Ok(check)
}

/// Delivery figures: settled twice (must be empty) and counts by status.
#[derive(Debug, Default, Clone)]
pub struct DeliveryCheck {
    pub settled_twice: Vec<(String, u64)>,
    pub by_status: Vec<(String, u64)>,
}

impl DeliveryCheck {
    pub fn count(&self, status: &str) -> u64 {
        self.by_status
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }
}

pub fn deliveries(db: &Path) -> Result<DeliveryCheck, CheckError> {
    let store = Store::open(db, Durability::Full)?;
    Ok(store.read(|conn| {
        Ok(DeliveryCheck {
            settled_twice: store::delivery::settled_more_than_once(conn)?,
            by_status: store::delivery::count_by_status(conn)?,
        })
    })?)
}

/// `hookledger verify`: Ok(head line) when it exits 0, Err(its output) otherwise.
pub fn verify(bin: &Path, db: &Path) -> Result<Result<String, String>, CheckError> {
    let db = db.display().to_string();
    let (code, stdout, stderr) = run_cli(bin, &["verify", "--db", &db])?;
    Ok(if code == 0 {
        Ok(stdout.trim().to_owned())
    } else {
        Err(format!("exit {code}: {stdout}{stderr}"))
    })
}

/// `hookledger digest` of the live database and the digest `replay --into` a fresh file
/// prints.
pub fn digests(bin: &Path, db: &Path, into: &Path) -> Result<(String, String), CheckError> {
    let db_text = db.display().to_string();
    let (code, live, stderr) = run_cli(bin, &["digest", "--db", &db_text])?;
    if code != 0 {
        return Err(CheckError::Output(format!("digest: exit {code}: {stderr}")));
    }
    let _ = std::fs::remove_file(into);
    let into_text = into.display().to_string();
    let (code, replayed, stderr) =
        run_cli(bin, &["replay", "--db", &db_text, "--into", &into_text])?;
    if code != 0 {
        return Err(CheckError::Output(format!("replay: exit {code}: {stderr}")));
    }
    let replayed = replayed
        .rsplit("digest ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    for suffix in ["", "-wal", "-shm", ".requests.db"] {
        let _ = std::fs::remove_file(format!("{into_text}{suffix}"));
    }
    Ok((live.trim().to_owned(), replayed))
}

/// The deliveries recorded as delivered that never reached `arrivals` with a 2xx.
pub fn delivered_not_received(
    db: &Path,
    arrivals: &crate::receiver::Arrivals,
) -> Result<Vec<String>, CheckError> {
    let store = Store::open(db, Durability::Full)?;
    let delivered = store.read(|conn| {
        store::delivery::deliveries(
            conn,
            &store::delivery::DeliveryFilter {
                status: Some("delivered".into()),
                event: None,
                subscription_id: None,
                before_seq: None,
                limit: u32::MAX,
            },
        )
    })?;
    Ok(delivered
        .into_iter()
        .filter(|d| !arrivals.answered_ok.contains_key(&d.id))
        .map(|d| d.id)
        .collect())
}
