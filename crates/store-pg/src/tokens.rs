//! Bearer tokens minted by an admin, as SQLite's `store::ops` keeps them: the SHA-256 of the
//! token (never the token), its role and tenant, so that every node accepts them.

use domain::DEFAULT_TENANT;
use store::ops::{token_digest, StoredToken};

use crate::{PgLog, PgStoreError};

impl PgLog {
    /// Stores a token (as its SHA-256) with its role, for the default tenant, created now (as
    /// `store::WriteCtx::insert_token` does on SQLite).
    pub fn insert_token(&mut self, token: &str, role: &str) -> Result<(), PgStoreError> {
        let tenant = DEFAULT_TENANT.to_string();
        let now = domain::time::format_micros(chrono::Utc::now());
        self.client.execute(
            "INSERT INTO tokens (token_sha256, role, tenant, created_at) VALUES ($1, $2, $3, $4)",
            &[&token_digest(token), &role, &tenant, &now],
        )?;
        Ok(())
    }

    /// The role and tenant of a token, if it is known.
    pub fn token_identity(
        &mut self,
        token: &str,
    ) -> Result<Option<(String, String)>, PgStoreError> {
        let row = self.client.query_opt(
            "SELECT role, tenant FROM tokens WHERE token_sha256 = $1",
            &[&token_digest(token)],
        )?;
        row.map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .transpose()
    }

    /// Copies stored tokens (as their SHA-256) from another store; a token already here is left
    /// as it is. Returns how many were added.
    pub fn import_tokens(&mut self, tokens: &[StoredToken]) -> Result<u64, PgStoreError> {
        let mut tx = self.client.transaction()?;
        let mut added = 0;
        for token in tokens {
            added += tx.execute(
                "INSERT INTO tokens (token_sha256, role, tenant, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (token_sha256) DO NOTHING",
                &[
                    &token.token_sha256,
                    &token.role,
                    &token.tenant,
                    &token.created_at,
                ],
            )?;
        }
        tx.commit()?;
        Ok(added)
    }
}
