//! Copying rows from an SQLite database into the same table here, value for value: the log
//! (`import`) and the projections (`projection`) use it.
//!
//! Rows are read from SQLite in the order the caller's query gives, gathered into one array per
//! column, and inserted with one `INSERT … SELECT * FROM unnest(…)` per chunk of
//! [`CHUNK_ROWS`] rows or [`CHUNK_BYTES`] bytes of text, whichever comes first.

use postgres::types::ToSql;
use postgres::Transaction;
use rusqlite::types::ValueRef;

use crate::PgStoreError;

/// Rows per INSERT at most.
pub(crate) const CHUNK_ROWS: usize = 5_000;
/// Bytes of text per INSERT at most (one row may exceed it alone).
pub(crate) const CHUNK_BYTES: usize = 32 << 20;

/// A column's type in both databases: SQLite's INTEGER and BIGINT, or TEXT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Text,
}

/// A table both databases have, with its columns in the order they are copied.
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
}

impl Table {
    pub(crate) fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn insert_sql(&self) -> String {
        let arrays = self
            .columns
            .iter()
            .enumerate()
            .map(|(idx, (_, kind))| match kind {
                Kind::Int => format!("${}::bigint[]", idx + 1),
                Kind::Text => format!("${}::text[]", idx + 1),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "INSERT INTO {} ({}) SELECT * FROM unnest({arrays})",
            self.name,
            self.column_list()
        )
    }
}

/// One value read from SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Text(_) => None,
        }
    }

    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            Value::Int(_) => None,
        }
    }
}

/// Reads column `idx` of an SQLite row as `kind`: an INTEGER for `Int`, UTF-8 TEXT without NUL
/// (which PostgreSQL's text cannot hold) for `Text`; anything else is refused, naming the row.
pub(crate) fn read_value(
    row: &rusqlite::Row<'_>,
    idx: usize,
    kind: Kind,
    table: &Table,
    row_name: &dyn Fn() -> String,
) -> Result<Value, PgStoreError> {
    let column = table.columns[idx].0;
    let refuse = |what: &str| {
        PgStoreError::Refused(format!(
            "{} {}: column {column} {what}",
            table.name,
            row_name()
        ))
    };
    let value = row.get_ref(idx).map_err(|e| refuse(&e.to_string()))?;
    match (kind, value) {
        (Kind::Int, ValueRef::Integer(n)) => Ok(Value::Int(n)),
        (Kind::Text, ValueRef::Text(bytes)) => {
            let text = std::str::from_utf8(bytes).map_err(|_| refuse("is not UTF-8"))?;
            if text.contains('\0') {
                return Err(refuse(
                    "holds a NUL character, which PostgreSQL's text cannot store",
                ));
            }
            Ok(Value::Text(text.to_owned()))
        }
        (_, other) => Err(refuse(&format!("holds {:?}", other.data_type()))),
    }
}

/// Rows gathered for one INSERT.
pub(crate) struct Chunk<'t> {
    table: &'t Table,
    columns: Vec<Column>,
    n_rows: usize,
    n_bytes: usize,
}

enum Column {
    Int(Vec<i64>),
    Text(Vec<String>),
}

impl<'t> Chunk<'t> {
    pub(crate) fn new(table: &'t Table) -> Chunk<'t> {
        let columns = table
            .columns
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Int => Column::Int(Vec::new()),
                Kind::Text => Column::Text(Vec::new()),
            })
            .collect();
        Chunk {
            table,
            columns,
            n_rows: 0,
            n_bytes: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.n_rows
    }

    pub(crate) fn is_full(&self) -> bool {
        self.n_rows >= CHUNK_ROWS || self.n_bytes >= CHUNK_BYTES
    }

    /// Adds one row: its values in the table's column order, each of its column's kind (as
    /// [`read_value`] reads them).
    pub(crate) fn push(&mut self, row: Vec<Value>) -> Result<(), PgStoreError> {
        if row.len() != self.columns.len() {
            return Err(PgStoreError::Invariant(format!(
                "{} values for the {} columns of {}",
                row.len(),
                self.columns.len(),
                self.table.name
            )));
        }
        for (column, value) in self.columns.iter_mut().zip(row) {
            match (column, value) {
                (Column::Int(values), Value::Int(n)) => values.push(n),
                (Column::Text(values), Value::Text(text)) => {
                    self.n_bytes += text.len();
                    values.push(text);
                }
                _ => {
                    return Err(PgStoreError::Invariant(format!(
                        "a value of another kind for a column of {}",
                        self.table.name
                    )))
                }
            }
        }
        self.n_rows += 1;
        Ok(())
    }

    /// Inserts the gathered rows and empties the chunk.
    pub(crate) fn flush(&mut self, tx: &mut Transaction<'_>) -> Result<(), PgStoreError> {
        if self.n_rows == 0 {
            return Ok(());
        }
        let params: Vec<&(dyn ToSql + Sync)> = self
            .columns
            .iter()
            .map(|column| match column {
                Column::Int(values) => values as &(dyn ToSql + Sync),
                Column::Text(values) => values as &(dyn ToSql + Sync),
            })
            .collect();
        tx.execute(&self.table.insert_sql(), &params)?;
        for column in &mut self.columns {
            match column {
                Column::Int(values) => values.clear(),
                Column::Text(values) => values.clear(),
            }
        }
        self.n_rows = 0;
        self.n_bytes = 0;
        Ok(())
    }
}
