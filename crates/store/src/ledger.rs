//! The accountant's queries over the journal projection: the trial balance, the journal's
//! entries, one account's register, and the balance check replay asserts.
//!
//! Journal entries are only ever added (a correction is a reversing entry, never an edit), and
//! every line carries the `seq` of the event that caused it. So the journal "as of `seq` N" is
//! exactly the lines with `seq <= N`, and a past trial balance needs no replay. Times compare as
//! the log's fixed-width UTC text (`since` inclusive, `until` exclusive).
//!
//! An account filter names an account or a parent of accounts: `Assets:Receivables` matches
//! `Assets:Receivables` and `Assets:Receivables:Roms`, never `Assets:ReceivablesOther`.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, Row};

use crate::StoreError;

/// One account's sums in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    /// `debit_minor - credit_minor`.
    pub balance_minor: i64,
}

/// The sums of one currency over every account; a balanced journal has them equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotal {
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
}

/// Every account's sums, ordered by account then currency, and the totals per currency.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrialBalance {
    pub accounts: Vec<AccountBalance>,
    pub totals: Vec<CurrencyTotal>,
}

/// Which journal lines a query covers. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    /// An account or a parent of accounts.
    pub account: Option<String>,
    /// Recorded at or after (the log's fixed-width form).
    pub since: Option<String>,
    /// Recorded before (the log's fixed-width form).
    pub until: Option<String>,
    /// Caused by an event with `seq` up to this one (inclusive).
    pub until_seq: Option<u64>,
}

/// One line of a journal entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    pub line_no: u32,
    pub account: String,
    pub currency: String,
    pub debit_minor: i64,
    pub credit_minor: i64,
    pub memo: String,
}

/// One journal entry with its lines and the event that caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub entry_id: String,
    /// The causing event's `seq`: `GET /api/events/{seq}` shows the request behind it.
    pub seq: u64,
    pub recorded_at: String,
    /// From the entry's document (`proj_docs` kind `journal_entry`); empty when it has none.
    pub description: String,
    pub source: Option<String>,
    pub stream: Option<String>,
    pub lines: Vec<EntryLine>,
}

/// One line of an account's register, with the running balance of its currency after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRow {
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

/// An account's register: the balance per currency before the first row (lines before
/// `since`), then every matching line in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Register {
    pub opening: Vec<(String, i64)>,
    pub rows: Vec<RegisterRow>,
}

/// The document kind of a journal entry in `proj_docs`.
pub const JOURNAL_ENTRY_KIND: &str = "journal_entry";

/// SQL conditions on `proj_journal_lines` (aliased `l`) and their values.
struct Conditions {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    fn new() -> Conditions {
        Conditions {
            clauses: vec!["1".to_owned()],
            values: Vec::new(),
        }
    }

    fn add(&mut self, clause: &str, value: Value) {
        self.clauses.push(clause.to_owned());
        self.values.push(value);
    }

    fn sql(&self) -> String {
        self.clauses.join(" AND ")
    }

    fn until_seq(mut self, until_seq: Option<u64>) -> Conditions {
        if let Some(seq) = until_seq {
            self.add("l.seq <= ?", Value::Integer(seq as i64));
        }
        self
    }

    fn times(mut self, since: Option<&str>, until: Option<&str>) -> Conditions {
        if let Some(since) = since {
            self.add("l.recorded_at >= ?", Value::Text(since.to_owned()));
        }
        if let Some(until) = until {
            self.add("l.recorded_at < ?", Value::Text(until.to_owned()));
        }
        self
    }

    /// Lines of `account` or of its sub-accounts (column `column`).
    fn account(mut self, column: &str, account: Option<&str>) -> Conditions {
        if let Some(account) = account {
            self.clauses.push(format!(
                "({column} = ? OR substr({column}, 1, ?) = ?)",
                column = column
            ));
            self.values.push(Value::Text(account.to_owned()));
            self.values.push(Value::Integer(account.len() as i64 + 1));
            self.values.push(Value::Text(format!("{account}:")));
        }
        self
    }
}

/// The trial balance over the journal lines caused by events up to `until_seq` (all if `None`).
pub fn trial_balance(
    conn: &Connection,
    until_seq: Option<u64>,
) -> Result<TrialBalance, StoreError> {
    let conditions = Conditions::new().until_seq(until_seq);
    let sql = format!(
        "SELECT l.account, l.currency, SUM(l.debit_minor), SUM(l.credit_minor)
         FROM proj_journal_lines l WHERE {} GROUP BY l.account, l.currency
         ORDER BY l.account, l.currency",
        conditions.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(conditions.values), |row| {
        let debit_minor: i64 = row.get(2)?;
        let credit_minor: i64 = row.get(3)?;
        Ok(AccountBalance {
            account: row.get(0)?,
            currency: row.get(1)?,
            debit_minor,
            credit_minor,
            balance_minor: debit_minor - credit_minor,
        })
    })?;
    let accounts: Vec<AccountBalance> = rows.collect::<Result<_, _>>()?;
    Ok(TrialBalance::from_accounts(accounts))
}

impl TrialBalance {
    /// The trial balance of these account sums (ordered by account then currency): the totals
    /// per currency added up. Every backend's query ends here.
    pub fn from_accounts(accounts: Vec<AccountBalance>) -> TrialBalance {
        let mut totals: Vec<CurrencyTotal> = Vec::new();
        let mut by_currency: Vec<&AccountBalance> = accounts.iter().collect();
        by_currency.sort_by(|a, b| a.currency.cmp(&b.currency));
        for balance in by_currency {
            match totals.last_mut() {
                Some(total) if total.currency == balance.currency => {
                    total.debit_minor += balance.debit_minor;
                    total.credit_minor += balance.credit_minor;
                }
                _ => totals.push(CurrencyTotal {
                    currency: balance.currency.clone(),
                    debit_minor: balance.debit_minor,
                    credit_minor: balance.credit_minor,
                }),
            }
        }
        TrialBalance { accounts, totals }
    }
}

/// One journal line with what its entry's document says, as the journal and register queries
/// read them (in `seq`, entry, line order). Every backend's rows become these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRecord {
    pub entry_id: String,
    pub seq: u64,
    pub recorded_at: String,
    pub description: String,
    pub source: Option<String>,
    pub stream: Option<String>,
    pub line: EntryLine,
}

/// Lines (in `seq`, entry, line order) grouped into their entries.
pub fn entries_of(lines: impl IntoIterator<Item = LineRecord>) -> Vec<JournalEntry> {
    let mut entries: Vec<JournalEntry> = Vec::new();
    for record in lines {
        match entries.last_mut() {
            Some(entry) if entry.entry_id == record.entry_id => entry.lines.push(record.line),
            _ => entries.push(JournalEntry {
                entry_id: record.entry_id,
                seq: record.seq,
                recorded_at: record.recorded_at,
                description: record.description,
                source: record.source,
                stream: record.stream,
                lines: vec![record.line],
            }),
        }
    }
    entries
}

/// Adds `line` to the running balance of its currency in `balances`; returns the balance
/// after it.
pub(crate) fn add_to_balance(balances: &mut Vec<(String, i64)>, line: &EntryLine) -> i64 {
    let delta = line.debit_minor - line.credit_minor;
    match balances.iter_mut().find(|(c, _)| *c == line.currency) {
        Some((_, balance)) => {
            *balance += delta;
            *balance
        }
        None => {
            balances.push((line.currency.clone(), delta));
            delta
        }
    }
}

/// An account's register: `lines` (in order) with the running balance per currency, starting
/// from `opening`.
pub fn register_of(
    opening: Vec<(String, i64)>,
    lines: impl IntoIterator<Item = LineRecord>,
) -> Register {
    let mut balances: Vec<(String, i64)> = opening.clone();
    let mut rows = Vec::new();
    for record in lines {
        let line = record.line;
        let balance_minor = add_to_balance(&mut balances, &line);
        rows.push(RegisterRow {
            seq: record.seq,
            recorded_at: record.recorded_at,
            entry_id: record.entry_id,
            description: record.description,
            account: line.account,
            currency: line.currency,
            debit_minor: line.debit_minor,
            credit_minor: line.credit_minor,
            memo: line.memo,
            balance_minor,
        });
    }
    Register { opening, rows }
}

/// A row of `SELECT LINE_COLUMNS FROM LINE_JOIN`.
fn line_record(row: &Row<'_>) -> rusqlite::Result<LineRecord> {
    Ok(LineRecord {
        entry_id: row.get(0)?,
        seq: row.get(2)?,
        recorded_at: row.get(3)?,
        description: row.get(9)?,
        source: row.get(10)?,
        stream: row.get(11)?,
        line: EntryLine {
            line_no: row.get(1)?,
            account: row.get(4)?,
            currency: row.get(5)?,
            debit_minor: row.get(6)?,
            credit_minor: row.get(7)?,
            memo: row.get(8)?,
        },
    })
}

/// The columns of a line joined with its entry's document (descriptions come from there).
const LINE_COLUMNS: &str = "l.entry_id, l.line_no, l.seq, l.recorded_at, l.account, l.currency,
     l.debit_minor, l.credit_minor, l.memo,
     coalesce(json_extract(d.body, '$.description'), ''),
     json_extract(d.body, '$.source'), json_extract(d.body, '$.stream')";

const LINE_JOIN: &str = "proj_journal_lines l LEFT JOIN proj_docs d
     ON d.kind = 'journal_entry' AND d.key = l.entry_id";

/// The journal entries matching `filter`, ordered by causing `seq` then entry id, each with all
/// its lines (an account filter selects the entries that touch the account, so that every entry
/// shown still balances).
pub fn journal(conn: &Connection, filter: &JournalFilter) -> Result<Vec<JournalEntry>, StoreError> {
    let mut conditions = Conditions::new()
        .until_seq(filter.until_seq)
        .times(filter.since.as_deref(), filter.until.as_deref());
    if let Some(account) = filter.account.as_deref() {
        let inner = Conditions::new().account("account", Some(account));
        conditions.clauses.push(format!(
            "l.entry_id IN (SELECT entry_id FROM proj_journal_lines WHERE {})",
            inner.sql()
        ));
        conditions.values.extend(inner.values);
    }
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM {LINE_JOIN} WHERE {} ORDER BY l.seq, l.entry_id, l.line_no",
        conditions.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let lines = stmt
        .query_map(params_from_iter(conditions.values), line_record)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries_of(lines))
}

/// The register of `account` (and its sub-accounts): its lines in order with the running
/// balance per currency, starting from the balance before `filter.since`.
pub fn register(
    conn: &Connection,
    account: &str,
    filter: &JournalFilter,
) -> Result<Register, StoreError> {
    let opening = match filter.since.as_deref() {
        Some(since) => opening_balances(conn, account, since, filter.until_seq)?,
        None => Vec::new(),
    };
    let conditions = Conditions::new()
        .until_seq(filter.until_seq)
        .times(filter.since.as_deref(), filter.until.as_deref())
        .account("l.account", Some(account));
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM {LINE_JOIN} WHERE {} ORDER BY l.seq, l.entry_id, l.line_no",
        conditions.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let lines = stmt
        .query_map(params_from_iter(conditions.values), line_record)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(register_of(opening, lines))
}

fn opening_balances(
    conn: &Connection,
    account: &str,
    since: &str,
    until_seq: Option<u64>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut conditions = Conditions::new()
        .until_seq(until_seq)
        .account("l.account", Some(account));
    conditions.add("l.recorded_at < ?", Value::Text(since.to_owned()));
    let sql = format!(
        "SELECT l.currency, SUM(l.debit_minor) - SUM(l.credit_minor) FROM proj_journal_lines l
         WHERE {} GROUP BY l.currency ORDER BY l.currency",
        conditions.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(conditions.values), |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Entries whose debits and credits differ in some currency: `(entry_id, currency, debits -
/// credits)`, at most `limit` of them. Empty for a sound journal.
pub fn unbalanced_entries(
    conn: &Connection,
    limit: u32,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    // One pass in the table's own key order (an entry's lines share their event's `seq`), summing
    // one entry at a time: a GROUP BY over `entry_id` would sort every line of the ledger in
    // memory first (about 100 MiB at a million events).
    let mut stmt = conn.prepare(
        "SELECT seq, entry_id, currency, debit_minor, credit_minor FROM proj_journal_lines
         ORDER BY seq, entry_id, line_no",
    )?;
    let mut rows = stmt.query([])?;
    let mut found = Vec::new();
    let mut current: Option<(i64, String)> = None;
    let mut sums: Vec<(String, i64)> = Vec::new();
    let flush = |sums: &mut Vec<(String, i64)>, entry: &str, found: &mut Vec<_>| {
        sums.sort();
        for (currency, balance) in sums.drain(..) {
            if balance != 0 {
                found.push((entry.to_owned(), currency, balance));
            }
        }
    };
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let entry: String = row.get(1)?;
        let currency: String = row.get(2)?;
        let balance = row.get::<_, i64>(3)?.saturating_sub(row.get::<_, i64>(4)?);
        if current
            .as_ref()
            .is_none_or(|(s, e)| *s != seq || *e != entry)
        {
            if let Some((_, previous)) = current.take() {
                flush(&mut sums, &previous, &mut found);
                if found.len() >= limit as usize {
                    break;
                }
            }
            current = Some((seq, entry));
        }
        match sums.iter_mut().find(|(c, _)| *c == currency) {
            Some((_, sum)) => *sum = sum.saturating_add(balance),
            None => sums.push((currency, balance)),
        }
    }
    if let Some((_, previous)) = current.take() {
        flush(&mut sums, &previous, &mut found);
    }
    found.truncate(limit as usize);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::{JournalLine, ProjectionTx};

    fn line(entry: &str, no: u32, seq: u64, account: &str, debit: i64, credit: i64) -> JournalLine {
        JournalLine {
            entry_id: entry.into(),
            line_no: no,
            seq,
            recorded_at: format!("2024-01-0{seq}T00:00:00.000000Z"),
            account: account.into(),
            currency: if entry.starts_with('e') { "EUR" } else { "USD" }.into(),
            debit_minor: debit,
            credit_minor: credit,
            memo: String::new(),
        }
    }

    fn journal_db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::schema::migrate(&mut conn).expect("migrate");
        let tx = ProjectionTx::new(&conn);
        for l in [
            line("a", 1, 1, "Assets:Receivables:Roms", 12000, 0),
            line("a", 2, 1, "Income:Sales", 0, 12000),
            line("b", 1, 2, "Assets:Cash:Stripe", 12000, 0),
            line("b", 2, 2, "Assets:Receivables:Roms", 0, 12000),
            line("e", 1, 3, "Assets:Receivables:Vendor", 500, 0),
            line("e", 2, 3, "Income:Sales", 0, 500),
            line("c", 1, 4, "Assets:ReceivablesOther", 7, 0),
            line("c", 2, 4, "Income:Sales", 0, 7),
        ] {
            tx.insert_journal_line(&l).expect("line");
        }
        tx.put_doc(
            JOURNAL_ENTRY_KIND,
            "a",
            r#"{"description":"Order ORD-1","source":"roms","stream":"order:roms:ORD-1"}"#,
            1,
        )
        .expect("doc");
        conn
    }

    #[test]
    fn the_trial_balance_sums_per_account_and_currency_and_totals_balance() {
        let conn = journal_db();
        let tb = trial_balance(&conn, None).expect("tb");
        let roms = tb
            .accounts
            .iter()
            .find(|a| a.account == "Assets:Receivables:Roms")
            .expect("roms");
        assert_eq!(
            (roms.debit_minor, roms.credit_minor, roms.balance_minor),
            (12000, 12000, 0)
        );
        assert_eq!(tb.totals.len(), 2);
        for total in &tb.totals {
            assert_eq!(total.debit_minor, total.credit_minor);
        }
        let early = trial_balance(&conn, Some(1)).expect("tb");
        assert_eq!(early.accounts.len(), 2);
        assert_eq!(early.totals[0].debit_minor, 12000);
    }

    #[test]
    fn the_journal_selects_whole_entries_touching_an_account_or_its_children() {
        let conn = journal_db();
        let all = journal(&conn, &JournalFilter::default()).expect("journal");
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].description, "Order ORD-1");
        assert_eq!(all[0].source.as_deref(), Some("roms"));
        assert_eq!(all[1].description, "");
        let receivables = journal(
            &conn,
            &JournalFilter {
                account: Some("Assets:Receivables".into()),
                ..Default::default()
            },
        )
        .expect("journal");
        let ids: Vec<&str> = receivables.iter().map(|e| e.entry_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "e"]);
        assert!(receivables.iter().all(|e| e.lines.len() == 2));
        let window = journal(
            &conn,
            &JournalFilter {
                since: Some("2024-01-02T00:00:00.000000Z".into()),
                until: Some("2024-01-03T00:00:00.000000Z".into()),
                ..Default::default()
            },
        )
        .expect("journal");
        assert_eq!(window.len(), 1);
        assert_eq!(window[0].seq, 2);
    }

    #[test]
    fn a_register_runs_a_balance_per_currency_from_the_opening_balance() {
        let conn = journal_db();
        let register_all =
            register(&conn, "Assets:Receivables:Roms", &Default::default()).expect("register");
        let balances: Vec<i64> = register_all.rows.iter().map(|r| r.balance_minor).collect();
        assert_eq!(balances, [12000, 0]);
        let later = register(
            &conn,
            "Income",
            &JournalFilter {
                since: Some("2024-01-02T00:00:00.000000Z".into()),
                ..Default::default()
            },
        )
        .expect("register");
        assert_eq!(later.opening, [("USD".to_owned(), -12000)]);
        let balances: Vec<(&str, i64)> = later
            .rows
            .iter()
            .map(|r| (r.currency.as_str(), r.balance_minor))
            .collect();
        assert_eq!(balances, [("EUR", -500), ("USD", -12007)]);
    }

    #[test]
    fn unbalanced_entries_are_named() {
        let conn = journal_db();
        assert!(unbalanced_entries(&conn, 10).expect("check").is_empty());
        ProjectionTx::new(&conn)
            .insert_journal_line(&line("z", 1, 5, "Expenses:Oops", 1, 0))
            .expect("line");
        assert_eq!(
            unbalanced_entries(&conn, 10).expect("check"),
            [("z".to_owned(), "USD".to_owned(), 1)]
        );
    }
}
