//! Numbered schema migrations, applied in order and recorded in the `schema_version` table
//! (one row per applied migration).
//!
//! A migration is never edited once released: a change is a new migration. The log's columns
//! are SQLite's (`store::schema`, as of its migration 5) with the same meaning, because the
//! hash covers their bytes; integers are BIGINT (SQLite's integers are 64-bit) and text is TEXT.
//!
//! Text that is ordered or compared by range (`recorded_at`, the projections' keys) is
//! `COLLATE "C"`: byte order, as SQLite's `BINARY`, whatever the database's locale, so that
//! `--since`, the digest's row order and every page cursor agree with SQLite.
//!
//! Differences from SQLite's log, on purpose:
//! - TRUNCATE is refused too (SQLite has no TRUNCATE).
//! - The triggers are statement-level: an UPDATE or DELETE is refused even if it matches no row.
//!
//! Migration 1 (the first slice) made `idempotency_key` UNIQUE over every row; migration 2
//! makes it SQLite's partial index over request keys, so that every SQLite log can be copied
//! here (`migrate`) and both logs accept the same appends.

use postgres::Client;

use crate::PgStoreError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: the event log, append-only by trigger.
    r#"
    CREATE TABLE events (
        seq             BIGINT PRIMARY KEY,
        id              TEXT   NOT NULL,
        stream          TEXT   NOT NULL,
        stream_version  BIGINT NOT NULL,
        type            TEXT   NOT NULL,
        type_version    BIGINT NOT NULL,
        source          TEXT   NOT NULL,
        tenant          TEXT   NOT NULL,
        recorded_at     TEXT   NOT NULL,
        idempotency_key TEXT   NOT NULL,
        payload         TEXT   NOT NULL,
        raw_request     TEXT   NOT NULL,
        hash_layout     BIGINT NOT NULL,
        prev_hash       TEXT   NOT NULL,
        hash            TEXT   NOT NULL,
        CONSTRAINT events_by_stream UNIQUE (stream, stream_version),
        CONSTRAINT events_by_key UNIQUE (idempotency_key)
    );
    CREATE INDEX events_by_type ON events (type, seq);
    CREATE INDEX events_by_source ON events (source, seq);
    CREATE INDEX events_by_time ON events (recorded_at, seq);
    CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the event log is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$;
    CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
    CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
    CREATE TRIGGER events_refuse_truncate BEFORE TRUNCATE ON events
        FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
    "#,
    // 2: SQLite's key rules and byte order, and the projections (derived state, rebuilt from
    // the log; the same tables and columns as SQLite's schema 5, covered by the same digest).
    r#"
    ALTER TABLE events DROP CONSTRAINT events_by_key;
    CREATE UNIQUE INDEX events_by_request_key ON events (idempotency_key)
        WHERE substr(idempotency_key, 1, length(stream) + 1) <> stream || '#';
    ALTER TABLE events ALTER COLUMN recorded_at TYPE TEXT COLLATE "C";
    CREATE TABLE proj_docs (
        kind TEXT   COLLATE "C" NOT NULL,
        key  TEXT   COLLATE "C" NOT NULL,
        body TEXT   NOT NULL,
        seq  BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
    );
    CREATE TABLE proj_journal_lines (
        entry_id     TEXT   COLLATE "C" NOT NULL,
        line_no      BIGINT NOT NULL,
        seq          BIGINT NOT NULL,
        recorded_at  TEXT   COLLATE "C" NOT NULL,
        account      TEXT   COLLATE "C" NOT NULL,
        currency     TEXT   COLLATE "C" NOT NULL,
        debit_minor  BIGINT NOT NULL,
        credit_minor BIGINT NOT NULL,
        memo         TEXT   NOT NULL,
        PRIMARY KEY (seq, entry_id, line_no)
    );
    CREATE INDEX proj_journal_lines_by_account ON proj_journal_lines (account, seq);
    CREATE TABLE proj_outbox (
        id          TEXT   COLLATE "C" NOT NULL,
        seq         BIGINT NOT NULL,
        event       TEXT   COLLATE "C" NOT NULL,
        destination TEXT   COLLATE "C" NOT NULL,
        stream      TEXT   COLLATE "C" NOT NULL,
        recorded_at TEXT   COLLATE "C" NOT NULL,
        payload     TEXT   NOT NULL,
        PRIMARY KEY (seq, id)
    );
    CREATE TABLE proj_meta (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 3: outbound delivery state (operational, outside the digest), SQLite's tables as of its
    // migration 6, for delivery workers on several nodes: each delivery carries a lease (the
    // node holding it and when the lease lapses), taken with FOR UPDATE SKIP LOCKED
    // (`delivery.rs`).
    r#"
    CREATE TABLE subscriptions (
        id                         TEXT    COLLATE "C" PRIMARY KEY,
        tenant                     TEXT    NOT NULL,
        url                        TEXT    NOT NULL,
        event                      TEXT    NOT NULL,
        secret                     TEXT    NOT NULL,
        previous_secret            TEXT,
        previous_secret_expires_at TEXT    COLLATE "C",
        ordered                    BOOLEAN NOT NULL,
        created_at                 TEXT    COLLATE "C" NOT NULL,
        created_after_seq          BIGINT  NOT NULL,
        status                     TEXT    NOT NULL,
        status_reason              TEXT,
        status_changed_at          TEXT    COLLATE "C",
        failing_since              TEXT    COLLATE "C"
    );
    CREATE TABLE deliveries (
        id               TEXT   COLLATE "C" PRIMARY KEY,
        outbox_id        TEXT   COLLATE "C" NOT NULL,
        endpoint         TEXT   COLLATE "C" NOT NULL,
        destination      TEXT   NOT NULL,
        subscription_id  TEXT,
        tenant           TEXT   NOT NULL,
        seq              BIGINT NOT NULL,
        event            TEXT   NOT NULL,
        stream           TEXT   COLLATE "C" NOT NULL,
        status           TEXT   NOT NULL,
        attempts         BIGINT NOT NULL,
        round_attempts   BIGINT NOT NULL,
        next_attempt_at  TEXT   COLLATE "C",
        last_error       TEXT,
        last_status_code BIGINT,
        body             TEXT   NOT NULL,
        created_at       TEXT   COLLATE "C" NOT NULL,
        updated_at       TEXT   COLLATE "C" NOT NULL,
        settled_at       TEXT   COLLATE "C",
        lease_owner      TEXT,
        lease_until      TEXT   COLLATE "C",
        UNIQUE (outbox_id, endpoint)
    );
    CREATE INDEX deliveries_by_seq ON deliveries (seq);
    CREATE INDEX deliveries_by_endpoint_seq ON deliveries (endpoint, seq);
    CREATE INDEX deliveries_pending_by_endpoint ON deliveries (endpoint, next_attempt_at, seq)
        WHERE status = 'pending';
    CREATE INDEX deliveries_pending_by_stream ON deliveries (endpoint, stream, seq)
        WHERE status = 'pending';
    CREATE INDEX deliveries_pending_by_time ON deliveries (next_attempt_at)
        WHERE status = 'pending';
    CREATE INDEX deliveries_retrying_by_endpoint ON deliveries (endpoint)
        WHERE status = 'pending' AND attempts > 0;
    CREATE TABLE delivery_attempts (
        delivery_id   TEXT   COLLATE "C" NOT NULL,
        attempt_no    BIGINT NOT NULL,
        started_at    TEXT   COLLATE "C" NOT NULL,
        duration_us   BIGINT NOT NULL,
        outcome       TEXT   NOT NULL,
        status_code   BIGINT,
        response_body TEXT,
        error         TEXT,
        PRIMARY KEY (delivery_id, attempt_no)
    );
    CREATE TABLE outbound_cursor (
        name TEXT   COLLATE "C" PRIMARY KEY,
        seq  BIGINT NOT NULL
    );
    "#,
    // 4: bearer tokens minted by an admin (operational, outside the digest), SQLite's table:
    // every `serve` node on this database accepts them.
    r#"
    CREATE TABLE tokens (
        token_sha256 TEXT PRIMARY KEY,
        role         TEXT NOT NULL,
        tenant       TEXT NOT NULL,
        created_at   TEXT NOT NULL
    );
    "#,
    // 5: the live leases of each endpoint, so that counting them (the cluster-wide limit per
    // endpoint) and finding when the next one lapses read those leases alone, not every
    // pending delivery: a dispatch round's cost does not grow with the backlog.
    r#"
    CREATE INDEX deliveries_leased ON deliveries (endpoint, lease_until)
        WHERE status = 'pending' AND lease_until IS NOT NULL;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The advisory lock that migrations take, so that nodes starting together migrate once.
const MIGRATE_LOCK_KEY: i64 = 0x686c_6d69_6772_6174; // "hlmigrat"

/// Applies every migration the database has not seen, each in its own transaction.
pub fn migrate(client: &mut Client) -> Result<(), PgStoreError> {
    loop {
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK_KEY])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version    BIGINT PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .try_get(0)?;
        if current > SCHEMA_VERSION {
            return Err(PgStoreError::SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            });
        }
        let applied = usize::try_from(current)
            .map_err(|_| PgStoreError::Corrupt(format!("schema_version {current}")))?;
        let Some(sql) = MIGRATIONS.get(applied) else {
            return Ok(tx.commit()?);
        };
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&(current + 1)],
        )?;
        tx.commit()?;
    }
}
