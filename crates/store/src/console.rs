//! Read-only queries of the web console (`server::routes::console`): the timeline newest first,
//! what one event caused (journal entries, outbox rows, deliveries), and an account's register
//! one page at a time. Nothing here writes.
//!
//! The timeline must answer its first page fast on a log of millions of events, so every query
//! walks an index in `seq` order and stops after its page: a time filter becomes a `seq` range
//! first (`recorded_at` never decreases along `seq`, an invariant the writer keeps), and the
//! type and source filters run on their `(column, seq)` indexes.

use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};

use std::collections::BTreeMap;

use crate::delivery::Delivery;
use crate::ledger::{
    AccountBalance, CurrencyTotal, EntryLine, JournalEntry, RegisterRow, TrialBalance,
};
use crate::projection::OutboxRow;
use crate::StoreError;

/// Events one timeline page holds at most.
pub const TIMELINE_PAGE_MAX: u64 = 500;
/// Seqs one "what did these events cause" query takes at most (an order has a few dozen).
pub const SEQS_MAX: usize = 10_000;
/// Distinct values (types, sources) listed for the timeline's filters at most.
pub const DISTINCT_MAX: u32 = 200;
/// Register rows one page holds at most.
pub const REGISTER_PAGE_MAX: u64 = 1000;
/// Points of the balance-over-time chart at most (per currency).
pub const CHART_POINTS_MAX: u64 = 240;

/// One event as the timeline lists it: the envelope without payload and raw request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub seq: u64,
    pub id: String,
    pub stream: String,
    pub event_type: String,
    pub source: String,
    pub recorded_at: String,
    pub hash: String,
}

/// Which way a timeline page goes from its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest events (`None`), or those before this `seq`.
    Older { before_seq: Option<u64> },
    /// The events right after this `seq` (the newer page, and the live tail).
    Newer { after_seq: u64 },
}

/// The timeline's filters; every one is optional. Times are the log's fixed-width form,
/// `since` inclusive and `until` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimelineFilter {
    pub stream: Option<String>,
    pub event_type: Option<String>,
    pub source: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

/// The log's last `seq` (0 when empty); `seq` is gapless, so it is also the number of events.
pub fn head_seq(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
        .query_row([], |row| row.get(0))?)
}

/// The `seq` range `[first, last]` of the events recorded in `[since, until)`; `None` when no
/// event is. One index probe per bound (`events_by_time`).
fn seq_range(
    conn: &Connection,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Option<(u64, u64)>, StoreError> {
    let first = match since {
        None => Some(1),
        Some(since) => conn
            .prepare_cached(
                "SELECT seq FROM events WHERE recorded_at >= ?1 ORDER BY recorded_at, seq LIMIT 1",
            )?
            .query_row([since], |row| row.get(0))
            .optional()?,
    };
    let last = match until {
        None => Some(i64::MAX as u64),
        Some(until) => conn
            .prepare_cached(
                "SELECT seq FROM events WHERE recorded_at < ?1
                 ORDER BY recorded_at DESC, seq DESC LIMIT 1",
            )?
            .query_row([until], |row| row.get(0))
            .optional()?,
    };
    Ok(match (first, last) {
        (Some(first), Some(last)) if first <= last => Some((first, last)),
        _ => None,
    })
}

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<EventSummary> {
    Ok(EventSummary {
        seq: row.get(0)?,
        id: row.get(1)?,
        stream: row.get(2)?,
        event_type: row.get(3)?,
        source: row.get(4)?,
        recorded_at: row.get(5)?,
        hash: row.get(6)?,
    })
}

/// One page of the timeline, newest first: at most `limit` events (capped at
/// [`TIMELINE_PAGE_MAX`]) matching `filter`, on the side of the cursor that `page` names.
pub fn timeline(
    conn: &Connection,
    filter: &TimelineFilter,
    page: Page,
    limit: u64,
) -> Result<Vec<EventSummary>, StoreError> {
    let Some((first, last)) = seq_range(conn, filter.since.as_deref(), filter.until.as_deref())?
    else {
        return Ok(Vec::new());
    };
    // One lower and one upper bound on `seq`, the cursor folded in: SQLite's planner walks
    // the rowid (or a `(column, seq)` index) between one pair of bounds, and given two upper
    // bounds it may pick the looser one and filter half the log.
    let (low, high, order) = match page {
        Page::Older { before_seq } => {
            let high = before_seq.map_or(last, |b| last.min(b.saturating_sub(1)));
            (first, high, "DESC")
        }
        Page::Newer { after_seq } => (first.max(after_seq.saturating_add(1)), last, "ASC"),
    };
    if low > high {
        return Ok(Vec::new());
    }
    let mut clauses = vec!["seq >= ?".to_owned(), "seq <= ?".to_owned()];
    let mut values: Vec<Value> = vec![
        Value::Integer(low as i64),
        Value::Integer(high.min(i64::MAX as u64) as i64),
    ];
    let mut add = |clause: &str, value: &Option<String>| {
        if let Some(value) = value {
            clauses.push(clause.to_owned());
            values.push(Value::Text(value.clone()));
        }
    };
    add("stream = ?", &filter.stream);
    add("type = ?", &filter.event_type);
    add("source = ?", &filter.source);
    let limit = limit.clamp(1, TIMELINE_PAGE_MAX);
    let sql = format!(
        "SELECT seq, id, stream, type, source, recorded_at, hash FROM events
         WHERE {} ORDER BY seq {order} LIMIT {limit}",
        clauses.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(values), summary_from_row)?;
    let mut events: Vec<EventSummary> = rows.collect::<Result<_, _>>()?;
    if matches!(page, Page::Newer { .. }) {
        events.reverse();
    }
    Ok(events)
}

/// The distinct event types in the log (a skip-scan over `events_by_type`: one probe per
/// value), at most [`DISTINCT_MAX`].
pub fn event_types(conn: &Connection) -> Result<Vec<String>, StoreError> {
    distinct(conn, "type")
}

/// The distinct sources in the log (a skip-scan over `events_by_source`).
pub fn sources(conn: &Connection) -> Result<Vec<String>, StoreError> {
    distinct(conn, "source")
}

fn distinct(conn: &Connection, column: &str) -> Result<Vec<String>, StoreError> {
    let sql = format!(
        "WITH RECURSIVE v(value) AS (
             SELECT MIN({column}) FROM events
             UNION ALL
             SELECT (SELECT MIN({column}) FROM events WHERE {column} > v.value)
             FROM v WHERE v.value IS NOT NULL)
         SELECT value FROM v WHERE value IS NOT NULL LIMIT ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([DISTINCT_MAX], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `seqs` as one JSON array parameter (for `IN (SELECT value FROM json_each(?))`).
fn seq_list(seqs: &[u64]) -> Result<String, StoreError> {
    if seqs.len() > SEQS_MAX {
        return Err(StoreError::Invariant(format!(
            "{} seqs asked for at once; at most {SEQS_MAX}",
            seqs.len()
        )));
    }
    let items: Vec<String> = seqs.iter().map(u64::to_string).collect();
    Ok(format!("[{}]", items.join(",")))
}

/// The columns of a journal line joined with its entry's document (as `ledger` reads them).
const LINE_COLUMNS: &str = "l.entry_id, l.line_no, l.seq, l.recorded_at, l.account, l.currency,
     l.debit_minor, l.credit_minor, l.memo,
     coalesce(json_extract(d.body, '$.description'), ''),
     json_extract(d.body, '$.source'), json_extract(d.body, '$.stream')";

const LINE_JOIN: &str = "proj_journal_lines l LEFT JOIN proj_docs d
     ON d.kind = 'journal_entry' AND d.key = l.entry_id";

fn entry_line(row: &Row<'_>) -> rusqlite::Result<EntryLine> {
    Ok(EntryLine {
        line_no: row.get(1)?,
        account: row.get(4)?,
        currency: row.get(5)?,
        debit_minor: row.get(6)?,
        credit_minor: row.get(7)?,
        memo: row.get(8)?,
    })
}

/// The journal entries caused by the events `seqs`, in `seq` then entry order, each whole.
pub fn entries_at(conn: &Connection, seqs: &[u64]) -> Result<Vec<JournalEntry>, StoreError> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM {LINE_JOIN}
         WHERE l.seq IN (SELECT value FROM json_each(?1))
         ORDER BY l.seq, l.entry_id, l.line_no"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([seq_list(seqs)?])?;
    let mut entries: Vec<JournalEntry> = Vec::new();
    while let Some(row) = rows.next()? {
        let entry_id: String = row.get(0)?;
        let line = entry_line(row)?;
        match entries.last_mut() {
            Some(entry) if entry.entry_id == entry_id => entry.lines.push(line),
            _ => entries.push(JournalEntry {
                entry_id,
                seq: row.get(2)?,
                recorded_at: row.get(3)?,
                description: row.get(9)?,
                source: row.get(10)?,
                stream: row.get(11)?,
                lines: vec![line],
            }),
        }
    }
    Ok(entries)
}

/// The outbox rows emitted by the events `seqs`, in `seq` then id order.
pub fn outbox_at(conn: &Connection, seqs: &[u64]) -> Result<Vec<OutboxRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, seq, event, destination, stream, recorded_at, payload FROM proj_outbox
         WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq, id",
    )?;
    let rows = stmt.query_map([seq_list(seqs)?], crate::projection::outbox_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The deliveries of the outbox rows of the events `seqs` (skipped ones included), in `seq`
/// then id order.
pub fn deliveries_at(conn: &Connection, seqs: &[u64]) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {} FROM deliveries WHERE seq IN (SELECT value FROM json_each(?1))
         ORDER BY seq, id",
        crate::delivery::DELIVERY_COLUMNS
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([seq_list(seqs)?], crate::delivery::delivery_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The journal's sums per account and currency over a range of `seq`s: a trial balance that can
/// be brought forward (or back) by the lines of another range instead of summing the whole
/// journal again. Lines are only ever added, each at its causing `seq`, so the sums up to a
/// `seq` never change once that `seq` is committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalSums {
    /// `(account, currency)` → (debits, credits, lines).
    sums: BTreeMap<(String, String), (i64, i64, u64)>,
}

impl JournalSums {
    /// The sums of the lines caused by events with `seq` in `(after_seq, until_seq]` (one walk
    /// of the journal's `seq`-first key over that range).
    pub fn between(
        conn: &Connection,
        after_seq: u64,
        until_seq: u64,
    ) -> Result<JournalSums, StoreError> {
        let mut stmt = conn.prepare_cached(
            "SELECT account, currency, SUM(debit_minor), SUM(credit_minor), COUNT(*)
             FROM proj_journal_lines WHERE seq > ?1 AND seq <= ?2 GROUP BY account, currency",
        )?;
        let until = until_seq.min(i64::MAX as u64) as i64;
        let rows = stmt.query_map(rusqlite::params![after_seq as i64, until], |row| {
            Ok((
                (row.get::<_, String>(0)?, row.get::<_, String>(1)?),
                (row.get(2)?, row.get(3)?, row.get(4)?),
            ))
        })?;
        Ok(JournalSums {
            sums: rows.collect::<Result<_, _>>()?,
        })
    }

    /// Adds `other`'s lines (the sums over an adjacent later range).
    pub fn add(&mut self, other: &JournalSums) {
        for (key, (debit, credit, n)) in &other.sums {
            let slot = self.sums.entry(key.clone()).or_insert((0, 0, 0));
            slot.0 += debit;
            slot.1 += credit;
            slot.2 += n;
        }
    }

    /// Takes away `other`'s lines (the sums over the latest part of this range); an account
    /// left with no line is no longer listed, as if it had been summed from scratch.
    pub fn subtract(&mut self, other: &JournalSums) {
        for (key, (debit, credit, n)) in &other.sums {
            if let Some(slot) = self.sums.get_mut(key) {
                slot.0 -= debit;
                slot.1 -= credit;
                slot.2 = slot.2.saturating_sub(*n);
                if slot.2 == 0 {
                    self.sums.remove(key);
                }
            }
        }
    }

    /// The trial balance these sums make, in `ledger::trial_balance`'s order and shape.
    pub fn trial_balance(&self) -> TrialBalance {
        let accounts: Vec<AccountBalance> = self
            .sums
            .iter()
            .map(|((account, currency), (debit, credit, _))| AccountBalance {
                account: account.clone(),
                currency: currency.clone(),
                debit_minor: *debit,
                credit_minor: *credit,
                balance_minor: debit - credit,
            })
            .collect();
        let mut by_currency: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for a in &accounts {
            let total = by_currency.entry(&a.currency).or_insert((0, 0));
            total.0 += a.debit_minor;
            total.1 += a.credit_minor;
        }
        let totals = by_currency
            .into_iter()
            .map(|(currency, (debit_minor, credit_minor))| CurrencyTotal {
                currency: currency.to_owned(),
                debit_minor,
                credit_minor,
            })
            .collect();
        TrialBalance { accounts, totals }
    }
}

/// One point of an account's balance over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePoint {
    pub seq: u64,
    pub recorded_at: String,
    pub balance_minor: i64,
}

/// One page of an account's register, and its balance over time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterPage {
    /// The balance per currency before the register's first row (lines before `since`).
    pub opening: Vec<(String, i64)>,
    /// The page's rows, oldest first, each with its currency's running balance after it.
    pub rows: Vec<RegisterRow>,
    /// Rows of the whole register (every page).
    pub n_rows: u64,
    /// Rows before the page's first one.
    pub n_rows_before: u64,
    /// Per currency, the balance after every k-th row of the whole register (and after its
    /// last row), at most [`CHART_POINTS_MAX`] points.
    pub chart: Vec<(String, Vec<BalancePoint>)>,
}

/// Conditions on `proj_journal_lines l` for `account` (and its sub-accounts) in a time window.
fn register_conditions(
    account: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> (String, Vec<Value>) {
    // The sub-accounts of `A` are the names in [`A:`, `A;`) (`;` follows `:`): two index
    // ranges, where a `substr` test would scan every line of the journal.
    let mut clauses = vec!["(l.account = ? OR (l.account >= ? AND l.account < ?))".to_owned()];
    let mut values = vec![
        Value::Text(account.to_owned()),
        Value::Text(format!("{account}:")),
        Value::Text(format!("{account};")),
    ];
    if let Some(since) = since {
        clauses.push("l.recorded_at >= ?".to_owned());
        values.push(Value::Text(since.to_owned()));
    }
    if let Some(until) = until {
        clauses.push("l.recorded_at < ?".to_owned());
        values.push(Value::Text(until.to_owned()));
    }
    (clauses.join(" AND "), values)
}

/// The balance per currency of `account` (and its sub-accounts) from the lines before `since`.
fn opening_balances(
    conn: &Connection,
    account: &str,
    since: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let (clauses, values) = register_conditions(account, None, Some(since));
    let mut stmt = conn.prepare(&format!(
        "SELECT l.currency, SUM(l.debit_minor) - SUM(l.credit_minor)
         FROM proj_journal_lines l WHERE {clauses} GROUP BY l.currency ORDER BY l.currency"
    ))?;
    let rows = stmt.query_map(params_from_iter(values), |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Page `page_idx` (0 is the newest) of `page_rows` rows of the register of `account` and its
/// sub-accounts in `[since, until)`, with the running balance per currency from the opening
/// balance, and the chart over the whole register. One pass over the lines; memory is one
/// page plus the chart.
pub fn register_page(
    conn: &Connection,
    account: &str,
    since: Option<&str>,
    until: Option<&str>,
    page_idx: u64,
    page_rows: u64,
) -> Result<RegisterPage, StoreError> {
    let page_rows = page_rows.clamp(1, REGISTER_PAGE_MAX);
    let opening = match since {
        Some(since) => opening_balances(conn, account, since)?,
        None => Vec::new(),
    };
    let (clauses, values) = register_conditions(account, since, until);
    let n_rows: u64 = conn
        .prepare(&format!(
            "SELECT COUNT(*) FROM proj_journal_lines l WHERE {clauses}"
        ))?
        .query_row(params_from_iter(values.clone()), |row| row.get(0))?;
    let page_end = n_rows.saturating_sub(page_idx.saturating_mul(page_rows));
    let page_start = page_end.saturating_sub(page_rows);
    let stride = n_rows.div_ceil(CHART_POINTS_MAX).max(1);
    // The lines alone: an entry's description is looked up for the page's rows only (joining
    // every line to its entry's document cost a random read per line).
    let mut stmt = conn.prepare(&format!(
        "SELECT l.entry_id, l.line_no, l.seq, l.recorded_at, l.account, l.currency,
         l.debit_minor, l.credit_minor, l.memo FROM proj_journal_lines l WHERE {clauses}
         ORDER BY l.seq, l.entry_id, l.line_no"
    ))?;
    let mut rows = stmt.query(params_from_iter(values))?;
    let mut balances: Vec<(String, i64)> = opening.clone();
    let mut chart: Vec<(String, Vec<BalancePoint>)> = Vec::new();
    let mut page = Vec::new();
    let mut row_idx = 0u64;
    while let Some(row) = rows.next()? {
        let line = entry_line(row)?;
        let balance_minor = crate::ledger::add_to_balance(&mut balances, &line);
        let seq: u64 = row.get(2)?;
        let recorded_at: String = row.get(3)?;
        if row_idx.is_multiple_of(stride) || row_idx + 1 == n_rows {
            let point = BalancePoint {
                seq,
                recorded_at: recorded_at.clone(),
                balance_minor,
            };
            match chart.iter_mut().find(|(c, _)| *c == line.currency) {
                Some((_, points)) => points.push(point),
                None => chart.push((line.currency.clone(), vec![point])),
            }
        }
        if (page_start..page_end).contains(&row_idx) {
            page.push(RegisterRow {
                seq,
                recorded_at,
                entry_id: row.get(0)?,
                description: String::new(),
                account: line.account,
                currency: line.currency,
                debit_minor: line.debit_minor,
                credit_minor: line.credit_minor,
                memo: line.memo,
                balance_minor,
            });
        }
        row_idx += 1;
    }
    let mut describe = conn.prepare_cached(
        "SELECT coalesce(json_extract(body, '$.description'), '') FROM proj_docs
         WHERE kind = 'journal_entry' AND key = ?1",
    )?;
    for row in &mut page {
        row.description = describe
            .query_row([&row.entry_id], |r| r.get(0))
            .optional()?
            .unwrap_or_default();
    }
    Ok(RegisterPage {
        opening,
        rows: page,
        n_rows,
        n_rows_before: page_start,
        chart,
    })
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
            recorded_at: format!("2024-01-{seq:02}T00:00:00.000000Z"),
            account: account.into(),
            currency: "USD".into(),
            debit_minor: debit,
            credit_minor: credit,
            memo: String::new(),
        }
    }

    fn ledger_db(n_entries: u64) -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::schema::migrate(&mut conn).expect("migrate");
        let tx = ProjectionTx::new(&conn);
        for seq in 1..=n_entries {
            let entry = format!("e{seq:03}");
            tx.insert_journal_line(&line(&entry, 1, seq, "Assets:Receivables:Roms", 100, 0))
                .expect("line");
            tx.insert_journal_line(&line(&entry, 2, seq, "Income:Sales", 0, 100))
                .expect("line");
        }
        conn
    }

    #[test]
    fn a_register_page_carries_the_running_balance_of_the_whole_register() {
        let conn = ledger_db(25);
        let tx = ProjectionTx::new(&conn);
        for (no, sibling) in ["Assets:Receivables2", "Assets:ReceivablesX"]
            .iter()
            .enumerate()
        {
            tx.insert_journal_line(&line("s", no as u32 + 1, 26, sibling, 1, 0))
                .expect("line");
        }
        tx.put_doc(
            crate::ledger::JOURNAL_ENTRY_KIND,
            "e025",
            r#"{"description":"Order 25"}"#,
            25,
        )
        .expect("doc");
        let newest = register_page(&conn, "Assets:Receivables", None, None, 0, 10).expect("page");
        assert_eq!(
            newest.n_rows, 25,
            "sub-accounts only, never a sibling with a longer name"
        );
        assert_eq!(
            newest.rows.last().map(|r| r.description.as_str()),
            Some("Order 25")
        );
        assert_eq!(newest.n_rows_before, 15);
        let balances: Vec<i64> = newest.rows.iter().map(|r| r.balance_minor).collect();
        assert_eq!(balances, (16..=25).map(|n| n * 100).collect::<Vec<_>>());
        let oldest = register_page(&conn, "Assets:Receivables", None, None, 2, 10).expect("page");
        assert_eq!(oldest.n_rows_before, 0);
        assert_eq!(oldest.rows.len(), 5);
        assert_eq!(oldest.rows[0].balance_minor, 100);
        let (currency, points) = &newest.chart[0];
        assert_eq!(currency, "USD");
        assert_eq!(points.last().map(|p| p.balance_minor), Some(2500));
        let beyond = register_page(&conn, "Assets:Receivables", None, None, 9, 10).expect("page");
        assert!(beyond.rows.is_empty());
    }

    #[test]
    fn a_register_since_a_time_opens_with_the_balance_before_it() {
        let conn = ledger_db(5);
        let page = register_page(
            &conn,
            "Income",
            Some("2024-01-03T00:00:00.000000Z"),
            Some("2024-01-05T00:00:00.000000Z"),
            0,
            10,
        )
        .expect("page");
        assert_eq!(page.opening, [("USD".to_owned(), -200)]);
        let balances: Vec<i64> = page.rows.iter().map(|r| r.balance_minor).collect();
        assert_eq!(balances, [-300, -400]);
    }

    #[test]
    fn the_chart_keeps_at_most_its_points_and_always_the_last_balance() {
        let conn = ledger_db(700);
        let page = register_page(&conn, "Income:Sales", None, None, 0, 10).expect("page");
        let points = &page.chart[0].1;
        assert!(
            points.len() as u64 <= CHART_POINTS_MAX + 1,
            "{}",
            points.len()
        );
        assert_eq!(points.last().map(|p| p.balance_minor), Some(-70_000));
    }

    #[test]
    fn journal_sums_brought_forward_or_back_equal_the_trial_balance_summed_from_scratch() {
        let conn = ledger_db(9);
        let tx = ProjectionTx::new(&conn);
        tx.insert_journal_line(&line("x", 1, 10, "Expenses:Once", 5, 0))
            .expect("line");
        tx.insert_journal_line(&line("x", 2, 10, "Income:Sales", 0, 5))
            .expect("line");
        let mut head = JournalSums::between(&conn, 0, 10).expect("sums");
        assert_eq!(
            head.trial_balance(),
            crate::ledger::trial_balance(&conn, Some(10)).expect("tb")
        );
        for until in [0u64, 3, 9] {
            let mut back = head.clone();
            back.subtract(&JournalSums::between(&conn, until, 10).expect("sums"));
            let scratch = crate::ledger::trial_balance(&conn, Some(until)).expect("tb");
            assert_eq!(back.trial_balance(), scratch, "back to seq {until}");
            let mut forward = JournalSums::between(&conn, 0, until).expect("sums");
            forward.add(&JournalSums::between(&conn, until, 10).expect("sums"));
            assert_eq!(forward, head, "forward from seq {until}");
        }
        head.subtract(&JournalSums::between(&conn, 9, 10).expect("sums"));
        assert!(
            !head
                .trial_balance()
                .accounts
                .iter()
                .any(|a| a.account == "Expenses:Once"),
            "an account without lines is not listed"
        );
    }

    #[test]
    fn entries_at_returns_whole_entries_of_the_seqs_asked_for() {
        let conn = ledger_db(5);
        let entries = entries_at(&conn, &[2, 4, 9]).expect("entries");
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [2, 4]);
        assert!(entries.iter().all(|e| e.lines.len() == 2));
        assert!(entries_at(&conn, &[]).expect("entries").is_empty());
        let too_many: Vec<u64> = (0..=SEQS_MAX as u64).collect();
        assert!(entries_at(&conn, &too_many).is_err());
    }
}
