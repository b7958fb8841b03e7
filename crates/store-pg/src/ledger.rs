//! The accountant's queries over the journal projection here, as `store::ledger` runs them on
//! SQLite: the same filters with the same meaning (an account names it and its sub-accounts;
//! `since` inclusive, `until` exclusive, `until_seq` inclusive), the same order, and the same
//! Rust that totals, groups and runs balances (`TrialBalance::from_accounts`,
//! `store::ledger::entries_of`, `store::ledger::register_of`).

use postgres::types::ToSql;
use postgres::{Client, Row};
use store::ledger::{
    entries_of, register_of, AccountBalance, EntryLine, JournalEntry, JournalFilter, LineRecord,
    Register, TrialBalance,
};

use crate::append::to_u64;
use crate::PgStoreError;

/// SQL conditions on `proj_journal_lines` (aliased `l`) and their values.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    values: Vec<Value>,
}

enum Value {
    Int(i64),
    Text(String),
}

impl Conditions {
    fn add(&mut self, clause: impl Fn(usize) -> String, value: Value) {
        self.values.push(value);
        self.clauses.push(clause(self.values.len()));
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }

    fn until_seq(mut self, until_seq: Option<u64>) -> Conditions {
        if let Some(seq) = until_seq {
            let seq = i64::try_from(seq).unwrap_or(i64::MAX);
            self.add(|n| format!("l.seq <= ${n}"), Value::Int(seq));
        }
        self
    }

    fn times(mut self, since: Option<&str>, until: Option<&str>) -> Conditions {
        if let Some(since) = since {
            self.add(
                |n| format!("l.recorded_at >= ${n}"),
                Value::Text(since.to_owned()),
            );
        }
        if let Some(until) = until {
            self.add(
                |n| format!("l.recorded_at < ${n}"),
                Value::Text(until.to_owned()),
            );
        }
        self
    }

    /// Lines of `account` or of its sub-accounts (column `column`).
    fn account(mut self, column: &str, account: &str) -> Conditions {
        let clause = self.account_clause(column, account);
        self.clauses.push(clause);
        self
    }

    /// The condition on `column` that [`Conditions::account`] adds, with its values bound,
    /// for the caller to place.
    fn account_clause(&mut self, column: &str, account: &str) -> String {
        self.values.push(Value::Text(account.to_owned()));
        self.values.push(Value::Text(format!("{account}:")));
        let n = self.values.len();
        format!("({column} = ${} OR starts_with({column}, ${n}))", n - 1)
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| match value {
                Value::Int(n) => n as &(dyn ToSql + Sync),
                Value::Text(text) => text as &(dyn ToSql + Sync),
            })
            .collect()
    }
}

pub(crate) fn trial_balance(
    client: &mut Client,
    until_seq: Option<u64>,
) -> Result<TrialBalance, PgStoreError> {
    let conditions = Conditions::default().until_seq(until_seq);
    let sql = format!(
        "SELECT l.account, l.currency, SUM(l.debit_minor)::bigint, SUM(l.credit_minor)::bigint
         FROM proj_journal_lines l WHERE {} GROUP BY l.account, l.currency
         ORDER BY l.account, l.currency",
        conditions.sql()
    );
    let accounts = client
        .query(&sql, &conditions.params())?
        .iter()
        .map(|row| {
            let debit_minor: i64 = row.try_get(2)?;
            let credit_minor: i64 = row.try_get(3)?;
            Ok(AccountBalance {
                account: row.try_get(0)?,
                currency: row.try_get(1)?,
                debit_minor,
                credit_minor,
                balance_minor: debit_minor - credit_minor,
            })
        })
        .collect::<Result<Vec<_>, PgStoreError>>()?;
    Ok(TrialBalance::from_accounts(accounts))
}

/// The columns of a line joined with its entry's document (descriptions come from there).
const LINE_COLUMNS: &str = "l.entry_id, l.line_no, l.seq, l.recorded_at, l.account, l.currency,
     l.debit_minor, l.credit_minor, l.memo,
     coalesce(d.body::jsonb ->> 'description', ''),
     d.body::jsonb ->> 'source', d.body::jsonb ->> 'stream'";

const LINE_JOIN: &str = "proj_journal_lines l LEFT JOIN proj_docs d
     ON d.kind = 'journal_entry' AND d.key = l.entry_id";

fn line_record(row: &Row) -> Result<LineRecord, PgStoreError> {
    let line_no: i64 = row.try_get(1)?;
    Ok(LineRecord {
        entry_id: row.try_get(0)?,
        seq: to_u64(row.try_get(2)?, "seq")?,
        recorded_at: row.try_get(3)?,
        description: row.try_get(9)?,
        source: row.try_get(10)?,
        stream: row.try_get(11)?,
        line: EntryLine {
            line_no: u32::try_from(line_no)
                .map_err(|_| PgStoreError::Corrupt(format!("line_no {line_no}")))?,
            account: row.try_get(4)?,
            currency: row.try_get(5)?,
            debit_minor: row.try_get(6)?,
            credit_minor: row.try_get(7)?,
            memo: row.try_get(8)?,
        },
    })
}

fn lines(client: &mut Client, conditions: &Conditions) -> Result<Vec<LineRecord>, PgStoreError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM {LINE_JOIN} WHERE {} ORDER BY l.seq, l.entry_id, l.line_no",
        conditions.sql()
    );
    client
        .query(&sql, &conditions.params())?
        .iter()
        .map(line_record)
        .collect()
}

pub(crate) fn journal(
    client: &mut Client,
    filter: &JournalFilter,
) -> Result<Vec<JournalEntry>, PgStoreError> {
    let mut conditions = Conditions::default()
        .until_seq(filter.until_seq)
        .times(filter.since.as_deref(), filter.until.as_deref());
    if let Some(account) = filter.account.as_deref() {
        // Whole entries that touch the account, so that every entry shown still balances.
        let inner = conditions.account_clause("a.account", account);
        conditions.clauses.push(format!(
            "l.entry_id IN (SELECT a.entry_id FROM proj_journal_lines a WHERE {inner})"
        ));
    }
    Ok(entries_of(lines(client, &conditions)?))
}

pub(crate) fn register(
    client: &mut Client,
    account: &str,
    filter: &JournalFilter,
) -> Result<Register, PgStoreError> {
    let opening = match filter.since.as_deref() {
        Some(since) => {
            let mut conditions = Conditions::default()
                .until_seq(filter.until_seq)
                .account("l.account", account);
            conditions.add(
                |n| format!("l.recorded_at < ${n}"),
                Value::Text(since.to_owned()),
            );
            let sql = format!(
                "SELECT l.currency, (SUM(l.debit_minor) - SUM(l.credit_minor))::bigint
                 FROM proj_journal_lines l WHERE {} GROUP BY l.currency ORDER BY l.currency",
                conditions.sql()
            );
            client
                .query(&sql, &conditions.params())?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<Vec<(String, i64)>, PgStoreError>>()?
        }
        None => Vec::new(),
    };
    let conditions = Conditions::default()
        .until_seq(filter.until_seq)
        .times(filter.since.as_deref(), filter.until.as_deref())
        .account("l.account", account);
    Ok(register_of(opening, lines(client, &conditions)?))
}

/// The `seq` of the last event recorded at or before `as_of` (the log's fixed-width form), 0
/// if none, as `store::log::seq_as_of`.
pub(crate) fn seq_as_of(client: &mut Client, as_of: &str) -> Result<u64, PgStoreError> {
    let row = client.query_opt(
        "SELECT seq FROM events WHERE recorded_at <= $1 ORDER BY seq DESC LIMIT 1",
        &[&as_of],
    )?;
    match row {
        Some(row) => to_u64(row.try_get(0)?, "seq"),
        None => Ok(0),
    }
}
