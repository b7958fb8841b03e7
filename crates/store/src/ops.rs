//! Operational state outside the chain and the digest: bearer tokens (and, later, subscriptions
//! and deliveries). Tokens are stored as their SHA-256, never in clear.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// What a token is stored as: its SHA-256, hex (the same on every backend).
pub fn token_digest(token: &str) -> String {
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

/// A stored token: its SHA-256 (hex), role, tenant and creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub token_sha256: String,
    pub role: String,
    pub tenant: String,
    pub created_at: String,
}

/// Every stored token, oldest first (for a copy into another store).
pub fn all_tokens(conn: &Connection) -> Result<Vec<StoredToken>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT token_sha256, role, tenant, created_at FROM tokens ORDER BY created_at, token_sha256",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok(StoredToken {
            token_sha256: row.get(0)?,
            role: row.get(1)?,
            tenant: row.get(2)?,
            created_at: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
