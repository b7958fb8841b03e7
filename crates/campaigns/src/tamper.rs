//! The tamper campaign: a source database filled through the real server, then, N times, a
//! fresh copy of it in which one byte of one column of a random `events` row is changed (with
//! the UPDATE/DELETE triggers dropped first, as an attacker with the file would), and
//! `hookledger verify` on the copy must exit 1. Every column is fair game: the payload, the
//! raw request, the hashes, `seq`, the times, the layout version.
//!
//! This module writes SQL on purpose: it is the attacker. Nothing else outside `store` does.

use std::path::{Path, PathBuf};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{params, Connection};

use crate::rng::Rng;
use crate::serve::run_cli;

#[derive(Debug, Clone)]
pub struct TamperConfig {
    pub bin: PathBuf,
    /// The database to copy (left untouched).
    pub source: PathBuf,
    pub dir: PathBuf,
    pub flips: u32,
    pub seed: u64,
}

/// What the campaign found.
#[derive(Debug, Default, Clone)]
pub struct TamperReport {
    pub seed: u64,
    pub events: u64,
    pub flips: u64,
    pub caught: u64,
    /// `verify` named exactly the changed row (or, for a changed `seq`, a neighbour).
    pub caught_at_row: u64,
    pub missed: Vec<String>,
    /// Flips by column.
    pub by_column: Vec<(String, u64)>,
}

impl TamperReport {
    pub fn summary(&self) -> String {
        format!(
            "flips {} caught {} missed {} caught_at_the_changed_row {} events {} seed {}",
            self.flips,
            self.caught,
            self.missed.len(),
            self.caught_at_row,
            self.events,
            self.seed
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TamperError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// One change: which row, which column, what it was.
#[derive(Debug, Clone)]
struct Flip {
    seq: i64,
    column: String,
    what: String,
}

/// Folds the source's WAL into the main file, so that a plain file copy is the whole database.
fn checkpoint(source: &Path) -> Result<(), TamperError> {
    let conn = Connection::open(source)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn columns(conn: &Connection) -> Result<Vec<String>, TamperError> {
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('events')")?;
    let names = stmt.query_map([], |row| row.get(0))?;
    Ok(names.collect::<Result<_, _>>()?)
}

fn drop_triggers(conn: &Connection) -> Result<(), TamperError> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for name in names {
        conn.execute_batch(&format!("DROP TRIGGER \"{name}\""))?;
    }
    Ok(())
}

/// A value with one byte changed: a different byte at a random offset of a text or blob, or
/// one byte of an integer's 8-byte form.
fn changed(value: ValueRef<'_>, rng: &mut Rng) -> Option<(Value, String)> {
    let delta = rng.range(1, 256) as u8;
    match value {
        ValueRef::Integer(n) => {
            let shift = 8 * rng.range(0, 8);
            let flipped = n ^ (i64::from(delta) << shift);
            Some((Value::Integer(flipped), format!("integer {n} -> {flipped}")))
        }
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) if !bytes.is_empty() => {
            let mut bytes = bytes.to_vec();
            let at = rng.range(0, bytes.len() as u64) as usize;
            let before = bytes[at];
            bytes[at] ^= delta;
            let what = format!("byte {at} {before:#04x} -> {:#04x}", bytes[at]);
            Some((Value::Blob(bytes), what))
        }
        _ => None,
    }
}

/// Changes one byte of a random row in the copy at `db`; None when the pick could not be
/// changed (a NULL or empty column, a `seq` that would collide), so the caller picks again.
fn flip_one(
    db: &Path,
    names: &[String],
    max_seq: i64,
    rng: &mut Rng,
) -> Result<Option<Flip>, TamperError> {
    let conn = Connection::open(db)?;
    drop_triggers(&conn)?;
    let seq = rng.range(1, max_seq as u64 + 1) as i64;
    let column = names[rng.range(0, names.len() as u64) as usize].clone();
    let sql = format!("SELECT \"{column}\", typeof(\"{column}\") FROM events WHERE seq = ?1");
    let (value, kind): (Value, String) =
        conn.query_row(&sql, [seq], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let Some((new, what)) = changed(ValueRef::from(&value), rng) else {
        return Ok(None);
    };
    // Text stays text (its bytes as changed), so only the content differs.
    let update = if kind == "text" {
        format!("UPDATE events SET \"{column}\" = CAST(?1 AS TEXT) WHERE seq = ?2")
    } else {
        format!("UPDATE events SET \"{column}\" = ?1 WHERE seq = ?2")
    };
    match conn.execute(&update, params![new, seq]) {
        Ok(1) => Ok(Some(Flip { seq, column, what })),
        Ok(_) | Err(rusqlite::Error::SqliteFailure(_, _)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs the campaign; `progress` gets a line every 100 flips.
pub fn run(
    config: &TamperConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<TamperReport, TamperError> {
    checkpoint(&config.source)?;
    let (names, max_seq) = {
        let conn = Connection::open(&config.source)?;
        let max: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        (columns(&conn)?, max)
    };
    if max_seq == 0 || names.is_empty() {
        return Err(TamperError::Setup(
            "the source database has no events".into(),
        ));
    }
    let mut rng = Rng::new(config.seed);
    let mut report = TamperReport {
        seed: config.seed,
        events: max_seq as u64,
        ..TamperReport::default()
    };
    let copy = config.dir.join("tampered.db");
    let copy_text = copy.display().to_string();
    while report.flips < u64::from(config.flips) {
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{copy_text}{suffix}"));
        }
        std::fs::copy(&config.source, &copy)?;
        let Some(flip) = flip_one(&copy, &names, max_seq, &mut rng)? else {
            continue;
        };
        report.flips += 1;
        match report.by_column.iter_mut().find(|(c, _)| *c == flip.column) {
            Some((_, n)) => *n += 1,
            None => report.by_column.push((flip.column.clone(), 1)),
        }
        let (code, stdout, stderr) = run_cli(&config.bin, &["verify", "--db", &copy_text])?;
        if code == 1 && stdout.starts_with("broken: first bad seq ") {
            report.caught += 1;
            let named: i64 = stdout
                .trim_start_matches("broken: first bad seq ")
                .split(':')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            if named == flip.seq || (flip.column == "seq" && (named - flip.seq).abs() <= 1) {
                report.caught_at_row += 1;
            }
        } else {
            report.missed.push(format!(
                "seq {} column {} ({}): verify exit {code}: {stdout}{stderr}",
                flip.seq, flip.column, flip.what
            ));
        }
        if report.flips.is_multiple_of(100) {
            progress(&report.summary());
        }
    }
    Ok(report)
}
