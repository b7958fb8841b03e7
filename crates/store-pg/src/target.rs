//! A database as the target of a build (`replay --into postgres://…`): whether it holds
//! events, which database it is (so that the source is never taken for the target), and the
//! session lock that keeps two builds out of the same database.

use std::time::{Duration, Instant};

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

/// How long [`try_lock_build`] waits for the lock's holder to let go. A build that has just
/// ended (its process exited) still holds the lock until the server has ended its session,
/// which it does a moment after the client has gone: a build started right after another one
/// was refused as "being built" now and then. A build in progress holds it for much longer.
pub const BUILD_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes [`BUILD_LOCK_KEY`] for this session if no other session holds it, or lets it go
/// within [`BUILD_LOCK_WAIT`].
pub(crate) fn try_lock_build(client: &mut Client) -> Result<bool, PgStoreError> {
    let started = Instant::now();
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&BUILD_LOCK_KEY])?
            .try_get(0)?;
        if taken || started.elapsed() >= BUILD_LOCK_WAIT {
            return Ok(taken);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
