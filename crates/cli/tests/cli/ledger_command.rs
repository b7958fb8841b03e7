//! `hookledger ledger`: the trial balance as of a past point equals what the live service showed
//! then; the journal and register exports; hledger and bean-check read the exports (with
//! `HOOKLEDGER_TEST_ACCOUNTING_TOOLS=1`, where both are installed).
//!
//! The journal rows here are written directly in the writer job that appends their event (as
//! the journal projector does), so that these tests mean something before the projectors land.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use domain::Event;
use store::ledger::JOURNAL_ENTRY_KIND;
use store::projection::JournalLine;
use store::{Durability, Store, WriteCtx, Writer};

use crate::{hookledger, stdout};

/// A balanced entry for `event`: a sale, or (every third event) a payment with a commission;
/// every fifth in EUR, with a description that needs quoting in every format.
fn seed_entry(ctx: &WriteCtx<'_>, event: &Event) -> Result<(), store::StoreError> {
    let seq = event.seq;
    let amount = 1000 + (seq as i64 % 7) * 125;
    let currency = if seq.is_multiple_of(5) { "EUR" } else { "USD" };
    let lines: Vec<(&str, i64, i64)> = if seq.is_multiple_of(3) {
        vec![
            ("Assets:Cash:Stripe", amount - 50, 0),
            ("Expenses:Commission", 50, 0),
            ("Assets:Receivables:Roms", 0, amount),
        ]
    } else {
        vec![
            ("Assets:Receivables:Roms", amount, 0),
            ("Income:Sales", 0, amount),
        ]
    };
    let entry_id = format!("seeded-{seq:06}");
    let tx = ctx.projections();
    for (idx, (account, debit_minor, credit_minor)) in lines.iter().enumerate() {
        tx.insert_journal_line(&JournalLine {
            entry_id: entry_id.clone(),
            line_no: idx as u32 + 1,
            seq,
            recorded_at: event.recorded_at.clone(),
            account: (*account).into(),
            currency: currency.into(),
            debit_minor: *debit_minor,
            credit_minor: *credit_minor,
            memo: if idx == 0 {
                "=cmd|' /C calc'!A0".into()
            } else {
                String::new()
            },
        })?;
    }
    let body = serde_json::json!({
        "entry_id": entry_id, "seq": seq, "recorded_at": event.recorded_at,
        "description": format!("Order {seq}; \"quoted\", with comma"),
        "source": event.source, "stream": event.stream, "rules_version": 1,
    });
    tx.put_doc(JOURNAL_ENTRY_KIND, &entry_id, &body.to_string(), seq)
}

/// Appends the workload's requests `from..to`, each event with its seeded entry.
fn write_with_journal(path: &Path, from: u64, to: u64) {
    let store = Store::open(path, Durability::Normal).expect("open");
    let (writer, thread) = Writer::spawn(&store, Default::default(), None).expect("writer");
    for i in from..to {
        let events = replay::workload::events(i);
        writer
            .submit_blocking(move |ctx| {
                for event in &events {
                    let (appended, stored) = ctx.append(event)?;
                    if !appended.duplicate {
                        projections::apply(ctx.projections(), &stored)
                            .map_err(|e| store::StoreError::Invariant(e.to_string()))?;
                        seed_entry(ctx, &stored)?;
                    }
                }
                Ok::<_, store::StoreError>(())
            })
            .expect("answered")
            .expect("written");
    }
    drop(writer);
    thread.join().expect("writer thread");
}

/// Runs the binary; panics (with its stderr) unless it exits 0; its stdout.
pub fn run(args: &[&str]) -> String {
    let output = hookledger(args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run(args)).expect("json")
}

#[test]
fn the_trial_balance_as_of_a_midpoint_is_what_the_ledger_showed_then() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ledger.db");
    let db = path.to_str().expect("utf-8");
    write_with_journal(&path, 0, 20);
    let events = json(&["events", "--db", db]);
    let last = events["events"]
        .as_array()
        .expect("events")
        .last()
        .expect("one");
    let (mid_seq, mid_time) = (
        last["seq"].as_u64().expect("seq").to_string(),
        last["recorded_at"].as_str().expect("time").to_owned(),
    );
    let shown_then = json(&["ledger", "trial-balance", "--db", db, "--format", "json"]);
    std::thread::sleep(Duration::from_millis(5));
    write_with_journal(&path, 20, 45);
    let now = json(&["ledger", "trial-balance", "--db", db, "--format", "json"]);
    assert_ne!(now, shown_then, "the second half moved the balances");
    for as_of in [mid_seq.as_str(), mid_time.as_str()] {
        let past = json(&[
            "ledger",
            "trial-balance",
            "--db",
            db,
            "--format",
            "json",
            "--as-of",
            as_of,
        ]);
        assert_eq!(past, shown_then, "--as-of {as_of}");
    }
    for balance in [&shown_then, &now] {
        for total in balance["totals"].as_array().expect("totals") {
            assert_eq!(total["debit_minor"], total["credit_minor"], "{total}");
        }
        for account in balance["accounts"].as_array().expect("accounts") {
            assert_eq!(
                account["balance_minor"].as_i64(),
                Some(
                    account["debit_minor"].as_i64().expect("debit")
                        - account["credit_minor"].as_i64().expect("credit")
                )
            );
        }
    }
}

#[test]
fn the_journal_and_register_export_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ledger.db");
    let db = path.to_str().expect("utf-8");
    write_with_journal(&path, 0, 12);
    let journal = json(&["ledger", "journal", "--db", db, "--format", "json"]);
    // The projectors' own entries come with the seeded ones (one per event).
    let seeded = |journal: &serde_json::Value| -> Vec<serde_json::Value> {
        journal["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| {
                e["entry_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("seeded-"))
            })
            .cloned()
            .collect()
    };
    let entries = seeded(&journal);
    assert_eq!(entries.len(), 12);
    assert_eq!(entries[0]["seq"], 1);
    assert_eq!(entries[0]["description"], "Order 1; \"quoted\", with comma");
    let cash_only = json(&[
        "ledger",
        "journal",
        "--db",
        db,
        "--account",
        "Assets:Cash",
        "--format",
        "json",
    ]);
    assert_eq!(seeded(&cash_only).len(), 4);
    for entry in cash_only["entries"].as_array().expect("entries") {
        let lines = entry["lines"].as_array().expect("lines");
        assert!(lines.iter().any(|l| l["account"]
            .as_str()
            .is_some_and(|a| a.starts_with("Assets:Cash:"))));
    }
    let csv = run(&["ledger", "journal", "--db", db, "--format", "csv"]);
    assert!(
        csv.starts_with("seq,entry_id,recorded_at,description,"),
        "{csv}"
    );
    assert!(
        csv.contains(",'=cmd|' /C calc'!A0\r\n"),
        "formulas are neutralised: {csv}"
    );
    let ledger = run(&["ledger", "journal", "--db", db, "--format", "ledger"]);
    assert!(ledger.contains("    ; seq: 3\n"), "{ledger}");
    let beancount = run(&["ledger", "journal", "--db", db, "--format", "beancount"]);
    assert!(
        beancount.contains(" open Assets:Receivables:Roms\n"),
        "{beancount}"
    );
    assert!(beancount.contains("  seq: 3\n"), "{beancount}");
    let table = run(&["ledger", "journal", "--db", db]);
    assert!(table.contains("Income:Sales"), "{table}");
    let register = json(&[
        "ledger",
        "register",
        "--db",
        db,
        "--account",
        "Assets:Receivables:Roms",
        "--format",
        "json",
    ]);
    let rows = register["rows"].as_array().expect("rows");
    let mut running = 0;
    for row in rows.iter().filter(|r| r["currency"] == "USD") {
        running += row["debit_minor"].as_i64().expect("debit")
            - row["credit_minor"].as_i64().expect("credit");
        assert_eq!(row["balance_minor"].as_i64(), Some(running));
    }
    let tb = run(&["ledger", "trial-balance", "--db", db]);
    assert!(tb.contains("Total"), "{tb}");
    let bad = hookledger(&["ledger", "trial-balance", "--db", db, "--as-of", "soon"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Pipes `input` into `program args` and returns its exit status and output.
fn pipe(program: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn hledger_and_bean_check_read_the_exports() {
    // Needs hledger (apt) and beancount (pip): run with HOOKLEDGER_TEST_ACCOUNTING_TOOLS=1.
    if std::env::var_os("HOOKLEDGER_TEST_ACCOUNTING_TOOLS").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ledger.db");
    let db = path.to_str().expect("utf-8");
    write_with_journal(&path, 0, 30);
    let ledger = run(&["ledger", "journal", "--db", db, "--format", "ledger"]);
    let (ok, balance) = pipe(
        "hledger",
        &["-f", "-", "balance", "--flat", "-O", "csv"],
        &ledger,
    );
    assert!(ok, "hledger: {balance}");
    let tb = json(&["ledger", "trial-balance", "--db", db, "--format", "json"]);
    for account in tb["accounts"].as_array().expect("accounts") {
        let name = account["account"].as_str().expect("name");
        let currency = account["currency"].as_str().expect("currency");
        let minor = account["balance_minor"].as_i64().expect("balance");
        if minor == 0 {
            continue; // hledger leaves out accounts that balance to zero
        }
        let amount = reports::decimal(minor, currency);
        assert!(
            balance.contains(&format!("\"{name}\",\"{amount} {currency}"))
                || balance.contains(&format!("{amount} {currency}")),
            "{name} {amount} {currency} not in hledger's balance:\n{balance}"
        );
    }
    let beancount = run(&["ledger", "journal", "--db", db, "--format", "beancount"]);
    let file = dir.path().join("journal.beancount");
    std::fs::write(&file, &beancount).expect("write");
    let checked = Command::new("bean-check")
        .arg(&file)
        .output()
        .expect("bean-check");
    assert!(
        checked.status.success(),
        "bean-check: {}{}\n{beancount}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
