//! Reading the log back: its head and its events in `seq` order.

use domain::Event;
use postgres::{Client, Row, ToStatement};
use uuid::Uuid;

use crate::append::{to_u32, to_u64};
use crate::PgStoreError;

const EVENT_COLUMNS: &str = "seq, id, stream, stream_version, type, type_version, source, tenant, \
     recorded_at, idempotency_key, payload, raw_request, prev_hash, hash";

pub(crate) fn head(client: &mut Client) -> Result<Option<(u64, String)>, PgStoreError> {
    let row = client.query_opt(
        "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
        &[],
    )?;
    row.map(|row| Ok((to_u64(row.try_get(0)?, "seq")?, row.try_get(1)?)))
        .transpose()
}

pub(crate) fn read_events(
    client: &mut Client,
    after_seq: u64,
    limit: u64,
) -> Result<Vec<Event>, PgStoreError> {
    read_events_with(client, events_after_sql().as_str(), after_seq, limit)
}

/// The events after `$1`, at most `$2` of them, in `seq` order.
pub(crate) fn events_after_sql() -> String {
    format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
}

/// [`read_events`] with [`events_after_sql`] as the caller holds it (prepared once, say).
pub(crate) fn read_events_with<T: ToStatement + ?Sized>(
    client: &mut Client,
    statement: &T,
    after_seq: u64,
    limit: u64,
) -> Result<Vec<Event>, PgStoreError> {
    // Past i64::MAX there is no row anyway.
    let after_seq = i64::try_from(after_seq).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client.query(statement, &[&after_seq, &limit])?;
    rows.iter().map(event_from_row).collect()
}

fn event_from_row(row: &Row) -> Result<Event, PgStoreError> {
    let uuid = |idx: usize| -> Result<Uuid, PgStoreError> {
        let text: &str = row.try_get(idx)?;
        Uuid::parse_str(text).map_err(|_| PgStoreError::Corrupt(format!("{text:?} is not a UUID")))
    };
    let type_version = row.try_get::<_, i64>(5)?;
    Ok(Event {
        seq: to_u64(row.try_get(0)?, "seq")?,
        id: uuid(1)?,
        stream: row.try_get(2)?,
        stream_version: to_u64(row.try_get(3)?, "stream_version")?,
        event_type: row.try_get(4)?,
        type_version: to_u32(type_version, "type_version")?,
        source: row.try_get(6)?,
        tenant: uuid(7)?,
        recorded_at: row.try_get(8)?,
        idempotency_key: row.try_get(9)?,
        payload: row.try_get(10)?,
        raw_request: row.try_get(11)?,
        prev_hash: row.try_get(12)?,
        hash: row.try_get(13)?,
    })
}

/// Rows fetched from a portal per round trip.
const ROWS_PER_FETCH: i32 = 1_000;

/// Streams the events matching `filter` to `f`, ascending by `seq`, as
/// `store::log::for_each_event` does for SQLite (the same filters with the same meaning), from
/// one snapshot, a bounded number of rows in memory.
pub(crate) fn for_each_event<E: From<PgStoreError>>(
    client: &mut Client,
    filter: &store::log::EventFilter,
    mut f: impl FnMut(Event) -> Result<(), E>,
) -> Result<(), E> {
    let mut clauses = vec!["seq > $1".to_owned()];
    let after_seq = i64::try_from(filter.after_seq).unwrap_or(i64::MAX);
    let mut texts: Vec<&str> = Vec::new();
    for (column, op, value) in [
        ("stream", "=", &filter.stream),
        ("type", "=", &filter.event_type),
        ("source", "=", &filter.source),
        ("recorded_at", ">=", &filter.since),
        ("recorded_at", "<", &filter.until),
    ] {
        if let Some(value) = value {
            texts.push(value);
            clauses.push(format!("{column} {op} ${}", texts.len() + 1));
        }
    }
    if let Some(until_seq) = filter.until_seq {
        clauses.push(format!(
            "seq <= {}",
            i64::try_from(until_seq).unwrap_or(i64::MAX)
        ));
    }
    let limit = match filter.limit {
        Some(n) => format!(" LIMIT {}", i64::try_from(n).unwrap_or(i64::MAX)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY seq{limit}",
        clauses.join(" AND ")
    );
    let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&after_seq];
    params.extend(
        texts
            .iter()
            .map(|t| t as &(dyn postgres::types::ToSql + Sync)),
    );
    let mut tx = crate::snapshot(client).map_err(PgStoreError::from)?;
    let portal = tx.bind(&sql, &params).map_err(PgStoreError::from)?;
    loop {
        let rows = tx
            .query_portal(&portal, ROWS_PER_FETCH)
            .map_err(PgStoreError::from)?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            f(event_from_row(row)?)?;
        }
    }
    tx.commit().map_err(PgStoreError::from)?;
    Ok(())
}
