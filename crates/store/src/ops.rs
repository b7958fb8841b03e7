//! Operational state outside the chain and the digest: bearer tokens (and, later, subscriptions
//! and deliveries). Tokens are stored as their SHA-256, never in clear.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::StoreError;

fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a token with its role.
pub fn insert_token(
    conn: &Connection,
    token: &str,
    role: &str,
    tenant: &str,
    created_at: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (token_sha256, role, tenant, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_digest(token), role, tenant, created_at],
    )?;
    Ok(())
}

/// The role and tenant of a token, if it is known.
pub fn token_identity(
    conn: &Connection,
    token: &str,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT role, tenant FROM tokens WHERE token_sha256 = ?1")?
        .query_row([token_digest(token)], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// The role of a token, if it is known.
pub fn token_role(conn: &Connection, token: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT role FROM tokens WHERE token_sha256 = ?1")?
        .query_row([token_digest(token)], |row| row.get(0))
        .optional()?)
}
