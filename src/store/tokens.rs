//! API tokens (stored by the SHA-256 of the token, never the token) and the answers of
//! idempotent API writes.

use anyhow::Context;
use sqlx::Row;

use super::{Store, unix_now as now};

/// How long an `Idempotency-Key`'s first answer is kept.
pub const IDEMPOTENCY_KEEP_SECS: i64 = 24 * 3600;
/// The most idempotency records one user may hold (within `IDEMPOTENCY_KEEP_SECS`).
pub const MAX_IDEMPOTENCY_RECORDS_PER_USER: i64 = 1000;

/// Revoked or expired tokens kept per user (for the list); older ones are dropped.
pub const KEPT_INACTIVE_TOKENS: i64 = 100;

/// A token as stored (without the token).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredToken {
    pub id: String,
    pub username: String,
    pub name: String,
    /// `read` or `change`.
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

impl StoredToken {
    /// Neither revoked nor expired at `at`.
    pub fn active_at(&self, at: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > at
    }
}

/// A new token's row.
pub struct NewToken<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub name: &'a str,
    pub scope: &'a str,
    pub token_hash: &'a str,
    pub expires_at: i64,
}

/// What an `Idempotency-Key` claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new: this request runs, and stores its answer.
    Claimed,
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
    /// The first answer: status, body, `Location`.
    Answered {
        status: u16,
        body: String,
        location: Option<String>,
    },
    /// The user holds too many keys.
    TooMany,
}

const TOKEN_COLUMNS: &str =
    "id, username, name, scope, created_at, expires_at, revoked_at, last_used_at";

impl Store {
    /// Stores a new token, unless the user already has `max_active` active ones;
    /// whether it was stored.
    pub async fn insert_api_token(
        &self,
        token: &NewToken<'_>,
        max_active: i64,
    ) -> anyhow::Result<bool> {
        let at = now();
        // What a user can make the server keep stays bounded: their oldest revoked or
        // expired tokens go (a token without its row is refused all the same).
        sqlx::query(
            "DELETE FROM api_tokens WHERE username = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2) \
             AND id NOT IN (SELECT id FROM api_tokens WHERE username = $1 \
             AND (revoked_at IS NOT NULL OR expires_at <= $2) ORDER BY created_at DESC, id LIMIT $3)",
        )
        .bind(token.username)
        .bind(at)
        .bind(KEPT_INACTIVE_TOKENS)
        .execute(&self.pool)
        .await
        .context("dropping old API tokens")?;
        // The count and the insert in one statement: exact on SQLite (one writer); on
        // PostgreSQL, creations racing each other for one user may each pass the count,
        // so the cap may be passed by the few requests one user has in flight at once.
        let result = sqlx::query(
            "INSERT INTO api_tokens (id, username, name, scope, token_hash, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM api_tokens WHERE username = $2 AND revoked_at IS NULL AND expires_at > $6) < $8",
        )
        .bind(token.id)
        .bind(token.username)
        .bind(token.name)
        .bind(token.scope)
        .bind(token.token_hash)
        .bind(at)
        .bind(token.expires_at)
        .bind(max_active)
        .execute(&self.pool)
        .await
        .context("storing an API token")?;
        Ok(result.rows_affected() == 1)
    }

    /// A user's tokens, newest first (at most `limit`).
    pub async fn api_tokens_of(
        &self,
        username: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<StoredToken>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE username = $1 \
             ORDER BY created_at DESC, id LIMIT $2"
        )))
        .bind(username)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing API tokens")
    }

    /// The token whose SHA-256 is `token_hash` (hex), active or not.
    pub async fn api_token_by_hash(&self, token_hash: &str) -> anyhow::Result<Option<StoredToken>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await
        .context("reading an API token")
    }

    /// Revokes a user's own token; the token when it was active until now.
    pub async fn revoke_api_token(
        &self,
        username: &str,
        id: &str,
    ) -> anyhow::Result<Option<StoredToken>> {
        let result = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND username = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .bind(username)
        .execute(&self.pool)
        .await
        .context("revoking an API token")?;
        if result.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a revoked API token")
    }

    /// Notes a use of a token in `minute` (unix minutes): true for the first use of the
    /// minute only (one write per token and minute, whatever the number of requests).
    pub async fn note_api_token_use(&self, id: &str, minute: i64) -> anyhow::Result<bool> {
        let result = sqlx::query(
            "UPDATE api_tokens SET used_minute = $1, last_used_at = $2 \
             WHERE id = $3 AND (used_minute IS NULL OR used_minute < $1)",
        )
        .bind(minute)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await
        .context("noting an API token's use")?;
        Ok(result.rows_affected() == 1)
    }

    /// Claims `key` for a user's request whose digest is `request_hash`: insert first,
    /// so that of concurrent requests with one key exactly one runs.
    pub async fn claim_idempotency_key(
        &self,
        username: &str,
        key: &str,
        request_hash: &str,
    ) -> anyhow::Result<IdempotencyClaim> {
        let at = now();
        sqlx::query("DELETE FROM idempotency_records WHERE created_at < $1")
            .bind(at - IDEMPOTENCY_KEEP_SECS)
            .execute(&self.pool)
            .await
            .context("dropping old idempotency records")?;
        let result = sqlx::query(
            "INSERT INTO idempotency_records (username, idempotency_key, request_hash, created_at) \
             SELECT $1, $2, $3, $4 \
             WHERE (SELECT COUNT(*) FROM idempotency_records WHERE username = $1) < $5 \
             ON CONFLICT (username, idempotency_key) DO NOTHING",
        )
        .bind(username)
        .bind(key)
        .bind(request_hash)
        .bind(at)
        .bind(MAX_IDEMPOTENCY_RECORDS_PER_USER)
        .execute(&self.pool)
        .await
        .context("claiming an idempotency key")?;
        if result.rows_affected() == 1 {
            return Ok(IdempotencyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT request_hash, status, body, location FROM idempotency_records \
             WHERE username = $1 AND idempotency_key = $2",
        )
        .bind(username)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .context("reading an idempotency record")?;
        let Some(row) = row else {
            return Ok(IdempotencyClaim::TooMany);
        };
        let stored_hash: String = row.try_get("request_hash")?;
        if stored_hash != request_hash {
            return Ok(IdempotencyClaim::Mismatch);
        }
        let status: Option<i64> = row.try_get("status")?;
        match status {
            None => Ok(IdempotencyClaim::InFlight),
            Some(status) => Ok(IdempotencyClaim::Answered {
                status: u16::try_from(status).context("a stored status")?,
                body: row
                    .try_get::<Option<String>, _>("body")?
                    .unwrap_or_default(),
                location: row.try_get("location")?,
            }),
        }
    }

    /// Stores the answer of a claimed key.
    pub async fn answer_idempotency_key(
        &self,
        username: &str,
        key: &str,
        status: u16,
        body: &str,
        location: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE idempotency_records SET status = $1, body = $2, location = $3 \
             WHERE username = $4 AND idempotency_key = $5",
        )
        .bind(i64::from(status))
        .bind(body)
        .bind(location)
        .bind(username)
        .bind(key)
        .execute(&self.pool)
        .await
        .context("storing an idempotent answer")?;
        Ok(())
    }

    /// Lets a claimed key go (nothing was done: a retry may run).
    pub async fn release_idempotency_key(&self, username: &str, key: &str) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_records WHERE username = $1 AND idempotency_key = $2 AND status IS NULL",
        )
        .bind(username)
        .bind(key)
        .execute(&self.pool)
        .await
        .context("releasing an idempotency key")?;
        Ok(())
    }
}
