//! Numbered schema migrations, applied in order and recorded in `PRAGMA user_version`.
//!
//! A migration is never edited once released: a change is a new migration. The event log's
//! columns are part of the hash layout (see `hash.rs`), so they never change meaning.

use rusqlite::Connection;

use crate::StoreError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: the event log, append-only by trigger.
    r#"
    CREATE TABLE events (
        seq             INTEGER PRIMARY KEY,
        id              TEXT    NOT NULL UNIQUE,
        stream          TEXT    NOT NULL,
        stream_version  INTEGER NOT NULL,
        type            TEXT    NOT NULL,
        type_version    INTEGER NOT NULL,
        source          TEXT    NOT NULL,
        tenant          TEXT    NOT NULL,
        recorded_at     TEXT    NOT NULL,
        idempotency_key TEXT    NOT NULL UNIQUE,
        payload         TEXT    NOT NULL,
        raw_request     TEXT    NOT NULL,
        hash_layout     INTEGER NOT NULL,
        prev_hash       TEXT    NOT NULL,
        hash            TEXT    NOT NULL,
        UNIQUE (stream, stream_version)
    );
    CREATE INDEX events_by_type ON events (type, seq);
    CREATE INDEX events_by_source ON events (source, seq);
    CREATE INDEX events_by_time ON events (recorded_at, seq);
    CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
    CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;
    "#,
    // 2: projections (derived state, rebuilt by replay) and their bookkeeping.
    r#"
    CREATE TABLE proj_docs (
        kind TEXT NOT NULL,
        key  TEXT NOT NULL,
        body TEXT NOT NULL,
        seq  INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    CREATE TABLE proj_journal_lines (
        entry_id    TEXT    NOT NULL,
        line_no     INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        recorded_at TEXT    NOT NULL,
        account     TEXT    NOT NULL,
        currency    TEXT    NOT NULL,
        debit_minor  INTEGER NOT NULL,
        credit_minor INTEGER NOT NULL,
        memo        TEXT    NOT NULL,
        PRIMARY KEY (entry_id, line_no)
    ) WITHOUT ROWID;
    CREATE INDEX proj_journal_lines_by_account ON proj_journal_lines (account, seq);
    CREATE INDEX proj_journal_lines_by_seq ON proj_journal_lines (seq);
    CREATE TABLE proj_outbox (
        id          TEXT    PRIMARY KEY,
        seq         INTEGER NOT NULL,
        event       TEXT    NOT NULL,
        destination TEXT    NOT NULL,
        stream      TEXT    NOT NULL,
        recorded_at TEXT    NOT NULL,
        payload     TEXT    NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX proj_outbox_by_seq ON proj_outbox (seq);
    CREATE TABLE proj_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 3: operational state outside the digest: bearer tokens (stored as SHA-256).
    r#"
    CREATE TABLE tokens (
        token_sha256 TEXT PRIMARY KEY,
        role         TEXT NOT NULL,
        tenant       TEXT NOT NULL,
        created_at   TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 4: outbound delivery state (operational, outside the digest): webhook subscriptions, one
    // delivery per (outbox row, endpoint), every attempt, and the delivery worker's cursor.
    r#"
    CREATE TABLE subscriptions (
        id                         TEXT    PRIMARY KEY,
        tenant                     TEXT    NOT NULL,
        url                        TEXT    NOT NULL,
        event                      TEXT    NOT NULL,
        secret                     TEXT    NOT NULL,
        previous_secret            TEXT,
        previous_secret_expires_at TEXT,
        ordered                    INTEGER NOT NULL,
        created_at                 TEXT    NOT NULL,
        created_after_seq          INTEGER NOT NULL,
        status                     TEXT    NOT NULL,
        status_reason              TEXT,
        status_changed_at          TEXT,
        failing_since              TEXT
    ) WITHOUT ROWID;
    CREATE TABLE deliveries (
        id               TEXT    PRIMARY KEY,
        outbox_id        TEXT    NOT NULL,
        endpoint         TEXT    NOT NULL,
        destination      TEXT    NOT NULL,
        subscription_id  TEXT,
        tenant           TEXT    NOT NULL,
        seq              INTEGER NOT NULL,
        event            TEXT    NOT NULL,
        stream           TEXT    NOT NULL,
        status           TEXT    NOT NULL,
        attempts         INTEGER NOT NULL,
        round_attempts   INTEGER NOT NULL,
        next_attempt_at  TEXT,
        last_error       TEXT,
        last_status_code INTEGER,
        body             TEXT    NOT NULL,
        created_at       TEXT    NOT NULL,
        updated_at       TEXT    NOT NULL,
        settled_at       TEXT,
        UNIQUE (outbox_id, endpoint)
    );
    CREATE INDEX deliveries_by_seq ON deliveries (seq);
    CREATE INDEX deliveries_by_endpoint_seq ON deliveries (endpoint, seq);
    CREATE INDEX deliveries_pending_by_endpoint ON deliveries (endpoint, next_attempt_at)
        WHERE status = 'pending';
    CREATE INDEX deliveries_pending_by_stream ON deliveries (endpoint, stream, seq)
        WHERE status = 'pending';
    CREATE INDEX deliveries_pending_by_time ON deliveries (next_attempt_at)
        WHERE status = 'pending';
    CREATE TABLE delivery_attempts (
        delivery_id   TEXT    NOT NULL,
        attempt_no    INTEGER NOT NULL,
        started_at    TEXT    NOT NULL,
        duration_us   INTEGER NOT NULL,
        outcome       TEXT    NOT NULL,
        status_code   INTEGER,
        response_body TEXT,
        error         TEXT,
        PRIMARY KEY (delivery_id, attempt_no)
    ) WITHOUT ROWID;
    CREATE TABLE outbound_cursor (
        name TEXT    PRIMARY KEY,
        seq  INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 5: the write path at SQLite's own pace (docs/decisions/0007-staged-write-path.md).
    // - Documents and outbox rows (hundreds of bytes to kilobytes each) move to rowid tables
    //   with a UNIQUE index on their key: a WITHOUT ROWID B-tree keeps whole rows in its interior
    //   pages too, so large rows cost a low fan-out, deep trees and constant rebalancing.
    // - Outbox rows and journal lines are keyed by the causing `seq` first, so a batch appends
    //   at the right-hand end of each B-tree instead of dirtying one random page per row.
    // - The log loses `UNIQUE (id)`: an event's id is the UUIDv5 of its idempotency key, which
    //   is unique already, so the index only cost a random page per append. The idempotency
    //   key's unique index covers request keys only (Stripe's event id, seed 002's content):
    //   a content key is `{stream}#{stream_version}:{digest}`, unique by `(stream,
    //   stream_version)` already, and looked up through that index.
    // Every table is rebuilt with every stored value unchanged (the hash chain covers values,
    // not pages); the log's triggers come back with it.
    r#"
    CREATE TABLE events_v5 (
        seq             INTEGER PRIMARY KEY,
        id              TEXT    NOT NULL,
        stream          TEXT    NOT NULL,
        stream_version  INTEGER NOT NULL,
        type            TEXT    NOT NULL,
        type_version    INTEGER NOT NULL,
        source          TEXT    NOT NULL,
        tenant          TEXT    NOT NULL,
        recorded_at     TEXT    NOT NULL,
        idempotency_key TEXT    NOT NULL,
        payload         TEXT    NOT NULL,
        raw_request     TEXT    NOT NULL,
        hash_layout     INTEGER NOT NULL,
        prev_hash       TEXT    NOT NULL,
        hash            TEXT    NOT NULL,
        UNIQUE (stream, stream_version)
    );
    INSERT INTO events_v5 (seq, id, stream, stream_version, type, type_version, source, tenant,
        recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash)
        SELECT seq, id, stream, stream_version, type, type_version, source, tenant,
        recorded_at, idempotency_key, payload, raw_request, hash_layout, prev_hash, hash
        FROM events ORDER BY seq;
    DROP TABLE events;
    ALTER TABLE events_v5 RENAME TO events;
    CREATE UNIQUE INDEX events_by_request_key ON events (idempotency_key)
        WHERE substr(idempotency_key, 1, length(stream) + 1) <> stream || '#';
    CREATE INDEX events_by_type ON events (type, seq);
    CREATE INDEX events_by_source ON events (source, seq);
    CREATE INDEX events_by_time ON events (recorded_at, seq);
    CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
    CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;

    CREATE TABLE proj_docs_v5 (
        kind TEXT    NOT NULL,
        key  TEXT    NOT NULL,
        body TEXT    NOT NULL,
        seq  INTEGER NOT NULL,
        UNIQUE (kind, key)
    );
    INSERT INTO proj_docs_v5 (kind, key, body, seq)
        SELECT kind, key, body, seq FROM proj_docs ORDER BY seq, kind, key;
    DROP TABLE proj_docs;
    ALTER TABLE proj_docs_v5 RENAME TO proj_docs;

    CREATE TABLE proj_journal_lines_v5 (
        entry_id     TEXT    NOT NULL,
        line_no      INTEGER NOT NULL,
        seq          INTEGER NOT NULL,
        recorded_at  TEXT    NOT NULL,
        account      TEXT    NOT NULL,
        currency     TEXT    NOT NULL,
        debit_minor  INTEGER NOT NULL,
        credit_minor INTEGER NOT NULL,
        memo         TEXT    NOT NULL,
        PRIMARY KEY (seq, entry_id, line_no)
    ) WITHOUT ROWID;
    INSERT INTO proj_journal_lines_v5 SELECT entry_id, line_no, seq, recorded_at, account,
        currency, debit_minor, credit_minor, memo FROM proj_journal_lines
        ORDER BY seq, entry_id, line_no;
    DROP TABLE proj_journal_lines;
    ALTER TABLE proj_journal_lines_v5 RENAME TO proj_journal_lines;
    CREATE INDEX proj_journal_lines_by_account ON proj_journal_lines (account, seq);

    CREATE TABLE proj_outbox_v5 (
        id          TEXT    NOT NULL,
        seq         INTEGER NOT NULL,
        event       TEXT    NOT NULL,
        destination TEXT    NOT NULL,
        stream      TEXT    NOT NULL,
        recorded_at TEXT    NOT NULL,
        payload     TEXT    NOT NULL,
        UNIQUE (seq, id)
    );
    INSERT INTO proj_outbox_v5 (id, seq, event, destination, stream, recorded_at, payload)
        SELECT id, seq, event, destination, stream, recorded_at, payload
        FROM proj_outbox ORDER BY seq, id;
    DROP TABLE proj_outbox;
    ALTER TABLE proj_outbox_v5 RENAME TO proj_outbox;
    "#,
    // 6: the delivery worker's reads independent of the backlog's size (issue 13). A round
    // asks each endpoint for its first due deliveries `ORDER BY next_attempt_at, seq LIMIT n`:
    // with `seq` in the pending index the index's order is the query's, and the read stops
    // after n rows instead of sorting every delivery due at the same instant (an expansion
    // gives hundreds the same time). The backlog limit concerns failing endpoints only (a
    // pending delivery that has failed an attempt): a partial index of those finds them
    // without reading every pending row.
    r#"
    DROP INDEX deliveries_pending_by_endpoint;
    CREATE INDEX deliveries_pending_by_endpoint ON deliveries (endpoint, next_attempt_at, seq)
        WHERE status = 'pending';
    CREATE INDEX deliveries_retrying_by_endpoint ON deliveries (endpoint)
        WHERE status = 'pending' AND attempts > 0;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies every migration the database has not seen, each in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (idx, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = idx + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        tx.commit()?;
    }
    Ok(())
}
