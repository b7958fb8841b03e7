//! A database as the target of a build (`replay --into postgres://…`): whether it holds
//! events, which database it is (so that the source is never taken for the target), and the
//! session lock that keeps two builds out of the same database.

use postgres::Client;

use crate::PgStoreError;

/// The session-level advisory lock a build holds on its target until it disconnects, so that
/// two builds never fill the same database.
pub const BUILD_LOCK_KEY: i64 = 0x686c_6275_696c_6464; // "hlbuildd"

/// Whether the database has a table `events` with at least one row (any table of that name:
/// a database holding another application's `events` is not an empty ledger either).
pub(crate) fn holds_events(client: &mut Client) -> Result<bool, PgStoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('events') IS NOT NULL", &[])?
        .try_get(0)?;
    if !exists {
        return Ok(false);
    }
    Ok(client
        .query_one("SELECT EXISTS (SELECT 1 FROM events)", &[])?
        .try_get(0)?)
}

/// The database's OID and the server's start time: two connections to the same database of
/// the same running server get the same text, connections to any other database another.
pub(crate) fn identity(client: &mut Client) -> Result<String, PgStoreError> {
    Ok(client
        .query_one(
            "SELECT d.oid::text || '@' || pg_postmaster_start_time()::text
             FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )?
        .try_get(0)?)
}

/// Takes [`BUILD_LOCK_KEY`] for this session if no other session holds it.
pub(crate) fn try_lock_build(client: &mut Client) -> Result<bool, PgStoreError> {
    Ok(client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&BUILD_LOCK_KEY])?
        .try_get(0)?)
}
