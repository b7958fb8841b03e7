//! The trial balance, the journal and an account's register, in every format the contract
//! names. JSON shapes are the API's (CONTRACT.md): integers in minor units.
//!
//! - `ledger`: the plain-text journal hledger and ledger read. Each entry is dated (UTC) and
//!   cleared, carries `seq`, `entry_id` and `source` as metadata comment lines (`; seq: 42`, a
//!   tag in hledger and metadata in ledger), and each posting an amount `120.00 USD`.
//! - `beancount`: `open` directives for every account on the date of its first use, then each
//!   entry as a transaction with `seq` and `entry_id` metadata; account and currency names are
//!   made valid for beancount if they are not already.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use store::ledger::{JournalEntry, Register, TrialBalance};

use crate::csv::{record, text};
use crate::decimal;

/// `{accounts, totals, total_debit_minor, total_credit_minor}` exactly as the API answers.
#[derive(Debug, Serialize)]
pub struct TrialBalanceView {
    pub accounts: Vec<AccountView>,
    pub totals: Vec<TotalView>,
    /// The sum over every currency (meaningful when there is one currency).
    pub total_debit_minor: i64,
    pub total_credit_minor: i64,
}

#[derive(Debug, Serialize)]
pub struct AccountView {
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub balance_minor: i64,
}

#[derive(Debug, Serialize)]
pub struct TotalView {
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

impl From<&TrialBalance> for TrialBalanceView {
    fn from(tb: &TrialBalance) -> Self {
        TrialBalanceView {
            accounts: tb
                .accounts
                .iter()
                .map(|a| AccountView {
                    account: a.account.clone(),
                    currency: a.currency.clone(),
                    debit_minor: a.debit_minor,
                    credit_minor: a.credit_minor,
                    balance_minor: a.balance_minor,
                })
                .collect(),
            totals: tb
                .totals
                .iter()
                .map(|t| TotalView {
                    currency: t.currency.clone(),
                    debit_minor: t.debit_minor,
                    credit_minor: t.credit_minor,
                })
                .collect(),
            total_debit_minor: tb.totals.iter().map(|t| t.debit_minor).sum(),
            total_credit_minor: tb.totals.iter().map(|t| t.credit_minor).sum(),
        }
    }
}

/// The trial balance as CSV: one record per account and currency, then one `Total` record per
/// currency; minor units and decimals side by side.
pub fn trial_balance_csv(tb: &TrialBalance) -> String {
    let mut out = record(
        &[
            "account",
            "currency",
            "debit_minor",
            "credit_minor",
            "balance_minor",
            "debit",
            "credit",
            "balance",
        ]
        .map(String::from),
    );
    let mut row = |account: &str, currency: &str, debit: i64, credit: i64| {
        out.push_str(&record(&[
            text(account),
            text(currency),
            debit.to_string(),
            credit.to_string(),
            (debit - credit).to_string(),
            decimal(debit, currency),
            decimal(credit, currency),
            decimal(debit - credit, currency),
        ]));
    };
    for a in &tb.accounts {
        row(&a.account, &a.currency, a.debit_minor, a.credit_minor);
    }
    for t in &tb.totals {
        row("Total", &t.currency, t.debit_minor, t.credit_minor);
    }
    out
}

/// The trial balance as an aligned table for a terminal.
pub fn trial_balance_table(tb: &TrialBalance) -> String {
    let mut rows: Vec<[String; 5]> = vec![[
        "account".into(),
        "currency".into(),
        "debit".into(),
        "credit".into(),
        "balance".into(),
    ]];
    for a in &tb.accounts {
        rows.push([
            a.account.clone(),
            a.currency.clone(),
            decimal(a.debit_minor, &a.currency),
            decimal(a.credit_minor, &a.currency),
            decimal(a.balance_minor, &a.currency),
        ]);
    }
    for t in &tb.totals {
        rows.push([
            "Total".into(),
            t.currency.clone(),
            decimal(t.debit_minor, &t.currency),
            decimal(t.credit_minor, &t.currency),
            decimal(t.debit_minor - t.credit_minor, &t.currency),
        ]);
    }
    table(&rows, &[false, false, true, true, true])
}

/// Lays out rows in columns (the first row is the header); `right[i]` right-aligns column i.
fn table<const N: usize>(rows: &[[String; N]], right: &[bool; N]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (idx, cell) in row.iter().enumerate() {
            widths[idx] = widths[idx].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(idx, cell)| {
                if right[idx] {
                    format!("{cell:>width$}", width = widths[idx])
                } else {
                    format!("{cell:<width$}", width = widths[idx])
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `{entries: [...]}`: each entry with its causing `seq` and its lines.
#[derive(Debug, Serialize)]
pub struct JournalView {
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub entry_id: String,
    pub seq: u64,
    pub recorded_at: String,
    pub description: String,
    pub source: Option<String>,
    pub stream: Option<String>,
    pub lines: Vec<LineView>,
}

#[derive(Debug, Serialize)]
pub struct LineView {
    pub line_no: u32,
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub memo: String,
}

impl JournalView {
    pub fn new(entries: &[JournalEntry]) -> JournalView {
        JournalView {
            entries: entries
                .iter()
                .map(|e| EntryView {
                    entry_id: e.entry_id.clone(),
                    seq: e.seq,
                    recorded_at: e.recorded_at.clone(),
                    description: e.description.clone(),
                    source: e.source.clone(),
                    stream: e.stream.clone(),
                    lines: e
                        .lines
                        .iter()
                        .map(|l| LineView {
                            line_no: l.line_no,
                            account: l.account.clone(),
                            currency: l.currency.clone(),
                            debit_minor: l.debit_minor,
                            credit_minor: l.credit_minor,
                            memo: l.memo.clone(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The journal as CSV: one record per line, with its entry's `seq`, id, time and description.
pub fn journal_csv(entries: &[JournalEntry]) -> String {
    let mut out = record(
        &[
            "seq",
            "entry_id",
            "recorded_at",
            "description",
            "line_no",
            "account",
            "currency",
            "debit_minor",
            "credit_minor",
            "debit",
            "credit",
            "memo",
        ]
        .map(String::from),
    );
    for e in entries {
        for l in &e.lines {
            out.push_str(&record(&[
                e.seq.to_string(),
                text(&e.entry_id),
                text(&e.recorded_at),
                text(&e.description),
                l.line_no.to_string(),
                text(&l.account),
                text(&l.currency),
                l.debit_minor.to_string(),
                l.credit_minor.to_string(),
                decimal(l.debit_minor, &l.currency),
                decimal(l.credit_minor, &l.currency),
                text(&l.memo),
            ]));
        }
    }
    out
}

/// The journal as a table: one row per line, the entry's `seq` and description on its first.
pub fn journal_table(entries: &[JournalEntry]) -> String {
    let mut rows: Vec<[String; 6]> = vec![[
        "seq".into(),
        "date".into(),
        "description / account".into(),
        "debit".into(),
        "credit".into(),
        "currency".into(),
    ]];
    for e in entries {
        rows.push([
            e.seq.to_string(),
            e.recorded_at.chars().take(10).collect(),
            one_line(&e.description),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for l in &e.lines {
            let amount = |minor: i64| {
                if minor == 0 {
                    String::new()
                } else {
                    decimal(minor, &l.currency)
                }
            };
            rows.push([
                String::new(),
                String::new(),
                format!("  {}", l.account),
                amount(l.debit_minor),
                amount(l.credit_minor),
                l.currency.clone(),
            ]);
        }
    }
    table(&rows, &[true, false, false, true, true, false])
}

/// Text on one line, with no `;` (which starts a comment in the plain-text formats).
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(';', ",")
}

/// The signed amount of a line: debits positive, credits negative (the plain-text convention).
fn signed(debit_minor: i64, credit_minor: i64) -> i64 {
    debit_minor - credit_minor
}

/// The journal in hledger/ledger's plain-text format.
pub fn journal_ledger(entries: &[JournalEntry]) -> String {
    let mut out =
        String::from("; hookledger journal: each entry's seq is the event that caused it\n");
    for e in entries {
        let date: String = e.recorded_at.chars().take(10).collect();
        let _ = writeln!(out, "\n{date} * {}", one_line(&e.description));
        let _ = writeln!(out, "    ; seq: {}", e.seq);
        let _ = writeln!(out, "    ; entry_id: {}", one_line(&e.entry_id));
        if let Some(source) = &e.source {
            let _ = writeln!(out, "    ; source: {}", one_line(source));
        }
        for l in &e.lines {
            let account = ledger_account(&l.account);
            let amount = decimal(signed(l.debit_minor, l.credit_minor), &l.currency);
            let _ = write!(out, "    {account:<40}  {amount:>14} {}", l.currency);
            if !l.memo.is_empty() {
                let _ = write!(out, "  ; {}", one_line(&l.memo));
            }
            out.push('\n');
        }
    }
    out
}

/// An account name ledger reads: no double spaces or tabs (they end the name), no `;`.
fn ledger_account(account: &str) -> String {
    one_line(account)
}

/// The journal as a beancount file that `bean-check` accepts.
pub fn journal_beancount(entries: &[JournalEntry]) -> String {
    let mut opened: BTreeMap<String, String> = BTreeMap::new();
    for e in entries {
        let date: String = e.recorded_at.chars().take(10).collect();
        for l in &e.lines {
            let account = beancount_account(&l.account);
            let first = opened.entry(account).or_insert_with(|| date.clone());
            if date < *first {
                first.clone_from(&date);
            }
        }
    }
    let mut opens: Vec<(&String, &String)> = opened.iter().map(|(a, d)| (d, a)).collect();
    opens.sort();
    let mut out = String::from(
        "; hookledger journal: each transaction's seq is the event that caused it\n\n",
    );
    for (date, account) in opens {
        let _ = writeln!(out, "{date} open {account}");
    }
    for e in entries {
        let date: String = e.recorded_at.chars().take(10).collect();
        let _ = writeln!(out, "\n{date} * {}", beancount_string(&e.description));
        let _ = writeln!(out, "  seq: {}", e.seq);
        let _ = writeln!(out, "  entry_id: {}", beancount_string(&e.entry_id));
        if let Some(source) = &e.source {
            let _ = writeln!(out, "  source: {}", beancount_string(source));
        }
        for l in &e.lines {
            let account = beancount_account(&l.account);
            let currency = beancount_currency(&l.currency);
            let amount = decimal(signed(l.debit_minor, l.credit_minor), &l.currency);
            let _ = write!(out, "  {account:<40}  {amount:>14} {currency}");
            if !l.memo.is_empty() {
                let _ = write!(out, " ; {}", one_line(&l.memo));
            }
            out.push('\n');
        }
    }
    out
}

/// A beancount string literal.
fn beancount_string(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("\"{}\"", flat.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Beancount's roots; an account under another root is filed under `Equity:Unmapped`.
const BEANCOUNT_ROOTS: [&str; 5] = ["Assets", "Liabilities", "Equity", "Income", "Expenses"];

/// An account name beancount accepts: a known root, then components that start with an
/// upper-case letter or digit and hold only letters, digits and `-`.
pub fn beancount_account(account: &str) -> String {
    let mut parts: Vec<String> = account
        .split(':')
        .filter(|p| !p.is_empty())
        .map(|part| {
            let mut cleaned: String = part
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            match cleaned.chars().next() {
                Some(c) if c.is_ascii_lowercase() => {
                    cleaned.replace_range(..1, &c.to_ascii_uppercase().to_string());
                }
                Some(c) if c.is_ascii_uppercase() || c.is_ascii_digit() => {}
                _ => cleaned.insert(0, 'X'),
            }
            cleaned
        })
        .collect();
    if !matches!(parts.first(), Some(root) if BEANCOUNT_ROOTS.contains(&root.as_str())) {
        parts.splice(0..0, ["Equity".to_owned(), "Unmapped".to_owned()]);
    }
    if parts.len() == 1 {
        parts.push("Other".to_owned());
    }
    parts.join(":")
}

/// A currency name beancount accepts (ISO codes already are).
fn beancount_currency(currency: &str) -> String {
    let upper: String = currency
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    match upper.chars().next() {
        Some(c) if c.is_ascii_uppercase() => upper,
        _ => format!("X{upper}"),
    }
}

/// `{account, opening: [{currency, balance_minor}], rows: [...]}`.
#[derive(Debug, Serialize)]
pub struct RegisterView {
    pub account: String,
    pub opening: Vec<OpeningView>,
    pub rows: Vec<RegisterRowView>,
}

#[derive(Debug, Serialize)]
pub struct OpeningView {
    pub currency: String,
    pub balance_minor: i64,
}

#[derive(Debug, Serialize)]
pub struct RegisterRowView {
    pub seq: u64,
    pub recorded_at: String,
    pub entry_id: String,
    pub description: String,
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub memo: String,
    pub balance_minor: i64,
}

impl RegisterView {
    pub fn new(account: &str, register: &Register) -> RegisterView {
        RegisterView {
            account: account.to_owned(),
            opening: register
                .opening
                .iter()
                .map(|(currency, balance_minor)| OpeningView {
                    currency: currency.clone(),
                    balance_minor: *balance_minor,
                })
                .collect(),
            rows: register
                .rows
                .iter()
                .map(|r| RegisterRowView {
                    seq: r.seq,
                    recorded_at: r.recorded_at.clone(),
                    entry_id: r.entry_id.clone(),
                    description: r.description.clone(),
                    account: r.account.clone(),
                    currency: r.currency.clone(),
                    debit_minor: r.debit_minor,
                    credit_minor: r.credit_minor,
                    memo: r.memo.clone(),
                    balance_minor: r.balance_minor,
                })
                .collect(),
        }
    }
}

/// The register as CSV, one record per line with the running balance.
pub fn register_csv(register: &Register) -> String {
    let mut out = record(
        &[
            "seq",
            "recorded_at",
            "entry_id",
            "description",
            "account",
            "currency",
            "debit_minor",
            "credit_minor",
            "balance_minor",
            "debit",
            "credit",
            "balance",
            "memo",
        ]
        .map(String::from),
    );
    for r in &register.rows {
        out.push_str(&record(&[
            r.seq.to_string(),
            text(&r.recorded_at),
            text(&r.entry_id),
            text(&r.description),
            text(&r.account),
            text(&r.currency),
            r.debit_minor.to_string(),
            r.credit_minor.to_string(),
            r.balance_minor.to_string(),
            decimal(r.debit_minor, &r.currency),
            decimal(r.credit_minor, &r.currency),
            decimal(r.balance_minor, &r.currency),
            text(&r.memo),
        ]));
    }
    out
}

/// The register as a table with the running balance.
pub fn register_table(register: &Register) -> String {
    let mut rows: Vec<[String; 7]> = vec![[
        "seq".into(),
        "date".into(),
        "description".into(),
        "debit".into(),
        "credit".into(),
        "balance".into(),
        "currency".into(),
    ]];
    for (currency, balance) in &register.opening {
        rows.push([
            String::new(),
            String::new(),
            "(opening balance)".into(),
            String::new(),
            String::new(),
            decimal(*balance, currency),
            currency.clone(),
        ]);
    }
    for r in &register.rows {
        rows.push([
            r.seq.to_string(),
            r.recorded_at.chars().take(10).collect(),
            one_line(&r.description),
            decimal(r.debit_minor, &r.currency),
            decimal(r.credit_minor, &r.currency),
            decimal(r.balance_minor, &r.currency),
            r.currency.clone(),
        ]);
    }
    table(&rows, &[true, false, false, true, true, true, false])
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::ledger::{AccountBalance, CurrencyTotal, EntryLine};

    fn entry(seq: u64, lines: &[(&str, i64, i64)]) -> JournalEntry {
        JournalEntry {
            entry_id: format!("entry-{seq}"),
            seq,
            recorded_at: format!("2024-01-1{seq}T10:00:00.000000Z"),
            description: format!("Order \"{seq}\"; paid"),
            source: Some("roms".into()),
            stream: Some(format!("order:roms:{seq}")),
            lines: lines
                .iter()
                .enumerate()
                .map(|(idx, (account, debit, credit))| EntryLine {
                    line_no: idx as u32 + 1,
                    account: (*account).into(),
                    currency: "USD".into(),
                    debit_minor: *debit,
                    credit_minor: *credit,
                    memo: String::new(),
                })
                .collect(),
        }
    }

    fn entries() -> Vec<JournalEntry> {
        vec![
            entry(
                1,
                &[
                    ("Assets:Receivables:Roms", 12000, 0),
                    ("Income:Sales", 0, 12000),
                ],
            ),
            entry(
                2,
                &[
                    ("Assets:Cash:Stripe", 11650, 0),
                    ("Expenses:Commission", 350, 0),
                    ("Assets:Receivables:Roms", 0, 12000),
                ],
            ),
        ]
    }

    #[test]
    fn the_trial_balance_view_has_the_contract_shape() {
        let tb = TrialBalance {
            accounts: vec![AccountBalance {
                account: "Income:Sales".into(),
                currency: "USD".into(),
                debit_minor: 0,
                credit_minor: 5,
                balance_minor: -5,
            }],
            totals: vec![CurrencyTotal {
                currency: "USD".into(),
                debit_minor: 5,
                credit_minor: 5,
            }],
        };
        let json = serde_json::to_value(TrialBalanceView::from(&tb)).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "accounts": [{"account": "Income:Sales", "currency": "USD", "debit_minor": 0,
                              "credit_minor": 5, "balance_minor": -5}],
                "totals": [{"currency": "USD", "debit_minor": 5, "credit_minor": 5}],
                "total_debit_minor": 5, "total_credit_minor": 5
            })
        );
        let csv = trial_balance_csv(&tb);
        assert!(csv.starts_with("account,currency,debit_minor,"), "{csv}");
        assert!(
            csv.contains("Income:Sales,USD,0,5,-5,0.00,0.05,-0.05\r\n"),
            "{csv}"
        );
        assert!(trial_balance_table(&tb).contains("Total"));
    }

    #[test]
    fn the_ledger_format_carries_seq_and_balanced_signed_postings() {
        let text = journal_ledger(&entries());
        assert!(
            text.contains("2024-01-11 * Order \"1\", paid\n    ; seq: 1\n"),
            "{text}"
        );
        assert!(text.contains("Income:Sales"));
        assert!(text.contains("-120.00 USD"), "{text}");
        assert!(text.contains("116.50 USD"), "{text}");
    }

    #[test]
    fn the_beancount_format_opens_every_account_before_its_first_use() {
        let text = journal_beancount(&entries());
        let open = text
            .find("2024-01-11 open Assets:Receivables:Roms")
            .expect("open");
        let first_use = text.find("2024-01-11 * ").expect("transaction");
        assert!(open < first_use, "{text}");
        assert!(text.contains("2024-01-12 open Expenses:Commission"));
        assert!(text.contains("  seq: 2\n"), "{text}");
        assert!(text.contains("\"Order \\\"1\\\"; paid\""), "{text}");
    }

    #[test]
    fn beancount_account_names_are_made_valid() {
        assert_eq!(
            beancount_account("Assets:Receivables:Roms"),
            "Assets:Receivables:Roms"
        );
        assert_eq!(
            beancount_account("Assets:cash:stripe eu"),
            "Assets:Cash:Stripe-eu"
        );
        assert_eq!(beancount_account("Suspense"), "Equity:Unmapped:Suspense");
        assert_eq!(beancount_account("Income"), "Income:Other");
        assert_eq!(beancount_account("Assets:_x"), "Assets:X-x");
    }

    #[test]
    fn journal_csv_has_one_record_per_line_with_the_causing_seq() {
        let csv = journal_csv(&entries());
        let records: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
        assert_eq!(records.len(), 1 + 5);
        assert!(records[1].starts_with("1,entry-1,"), "{}", records[1]);
        assert!(
            records[1].contains("\"Order \"\"1\"\"; paid\""),
            "{}",
            records[1]
        );
    }
}
