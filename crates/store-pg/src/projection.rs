//! The projections here: the same tables as SQLite's (`store::projection`), their state digest
//! with the same framing (`store::projection::Digester`), and their replacement by the tables of
//! an SQLite database the projectors rebuilt (`migrate`).

use postgres::types::Type;
use postgres::Client;

use crate::copy::{read_value, Chunk, Kind, Table};
use crate::import::sqlite;
use crate::PgStoreError;

/// Rows fetched from a portal per round trip.
const ROWS_PER_FETCH: i32 = 2_000;

/// Every projection table, with the columns of SQLite's schema 5.
pub(crate) const TABLES: &[Table] = &[
    Table {
        name: "proj_docs",
        columns: &[
            ("kind", Kind::Text),
            ("key", Kind::Text),
            ("body", Kind::Text),
            ("seq", Kind::Int),
        ],
    },
    Table {
        name: "proj_journal_lines",
        columns: &[
            ("entry_id", Kind::Text),
            ("line_no", Kind::Int),
            ("seq", Kind::Int),
            ("recorded_at", Kind::Text),
            ("account", Kind::Text),
            ("currency", Kind::Text),
            ("debit_minor", Kind::Int),
            ("credit_minor", Kind::Int),
            ("memo", Kind::Text),
        ],
    },
    Table {
        name: "proj_outbox",
        columns: &[
            ("id", Kind::Text),
            ("seq", Kind::Int),
            ("event", Kind::Text),
            ("destination", Kind::Text),
            ("stream", Kind::Text),
            ("recorded_at", Kind::Text),
            ("payload", Kind::Text),
        ],
    },
    Table {
        name: "proj_meta",
        columns: &[("key", Kind::Text), ("value", Kind::Text)],
    },
];

/// The state digest of the projections here, as `store::projection::digest` computes it for
/// SQLite: the same tables, columns, row order and framing. One snapshot (a read-only
/// REPEATABLE READ transaction), a bounded number of rows in memory.
pub(crate) fn digest(client: &mut Client) -> Result<String, PgStoreError> {
    let mut tx = crate::snapshot(client)?;
    let mut digester = store::projection::Digester::new();
    for table in store::projection::DIGEST_TABLES {
        digester.table(table.name);
        let portal = tx.bind(&table.select(), &[])?;
        loop {
            let rows = tx.query_portal(&portal, ROWS_PER_FETCH)?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                for (idx, column) in row.columns().iter().enumerate() {
                    if *column.type_() == Type::INT8 {
                        digester.integer(row.try_get(idx)?);
                    } else {
                        digester.text(row.try_get::<_, &str>(idx)?.as_bytes());
                    }
                }
            }
        }
    }
    tx.commit()?;
    Ok(digester.finish())
}

/// Replaces every projection row here by the rows of `source`'s projection tables, in one
/// transaction: readers see the old state or the new one, never a mixture. Returns the rows
/// copied per table.
pub(crate) fn replace_from_sqlite(
    client: &mut Client,
    source: &rusqlite::Connection,
) -> Result<Vec<(&'static str, u64)>, PgStoreError> {
    let mut tx = client.transaction()?;
    tx.batch_execute("TRUNCATE proj_docs, proj_journal_lines, proj_outbox, proj_meta")?;
    let mut counts = Vec::new();
    for table in TABLES {
        let mut stmt = source
            .prepare(&format!(
                "SELECT {} FROM {}",
                table.column_list(),
                table.name
            ))
            .map_err(sqlite)?;
        let mut rows = stmt.query([]).map_err(sqlite)?;
        let mut chunk = Chunk::new(table);
        let mut n_rows = 0u64;
        while let Some(row) = rows.next().map_err(sqlite)? {
            n_rows += 1;
            let name = || format!("row {n_rows}");
            let values = (0..table.columns.len())
                .map(|idx| read_value(row, idx, table.columns[idx].1, table, &name))
                .collect::<Result<Vec<_>, _>>()?;
            chunk.push(values)?;
            if chunk.is_full() {
                chunk.flush(&mut tx)?;
            }
        }
        chunk.flush(&mut tx)?;
        counts.push((table.name, n_rows));
    }
    tx.commit()?;
    Ok(counts)
}
