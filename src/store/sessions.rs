//! actix-session's state, kept server-side in the database so that sign-out and role
//! changes take effect at once and replicas share sessions.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use anyhow::Context;
use sqlx::Row;

use super::{Store, unix_now as now};

fn new_key() -> anyhow::Result<SessionKey> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).context("random session key")?;
    SessionKey::try_from(hex::encode(bytes)).map_err(|e| anyhow::anyhow!("{e}"))
}

impl SessionStore for Store {
    async fn load(&self, key: &SessionKey) -> Result<Option<HashMap<String, String>>, LoadError> {
        let row =
            sqlx::query("SELECT state FROM sessions WHERE session_key = $1 AND expires_at > $2")
                .bind(key.as_ref())
                .bind(now())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| LoadError::Other(e.into()))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let state: String = row
                    .try_get("state")
                    .map_err(|e| LoadError::Other(e.into()))?;
                serde_json::from_str(&state)
                    .map(Some)
                    .map_err(|e| LoadError::Deserialization(e.into()))
            }
        }
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let body = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let key = new_key().map_err(SaveError::Other)?;
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        sqlx::query("INSERT INTO sessions (session_key, state, expires_at) VALUES ($1, $2, $3)")
            .bind(key.as_ref())
            .bind(body)
            .bind(now() + ttl.whole_seconds())
            .execute(&self.pool)
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let body =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let result = sqlx::query("UPDATE sessions SET state = $1, expires_at = $2 WHERE session_key = $3 AND expires_at > $4")
            .bind(&body)
            .bind(now() + ttl.whole_seconds())
            .bind(key.as_ref())
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if result.rows_affected() == 0 {
            // Gone meanwhile (signed out, expired): a request still in flight must not
            // bring the sign-in back, so what it writes is an anonymous session.
            let mut state = state;
            state.remove(crate::auth::SESSION_USER);
            return self
                .save(state, ttl)
                .await
                .map_err(|e| UpdateError::Other(e.into()));
        }
        Ok(key)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE session_key = $2")
            .bind(now() + ttl.whole_seconds())
            .bind(key.as_ref())
            .execute(&self.pool)
            .await
            .context("extending a session")?;
        Ok(())
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        sqlx::query("DELETE FROM sessions WHERE session_key = $1")
            .bind(key.as_ref())
            .execute(&self.pool)
            .await
            .context("deleting a session")?;
        Ok(())
    }
}

impl Store {
    /// How many sessions are stored (for tests and metrics).
    pub async fn session_count(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM sessions")
            .fetch_one(&self.pool)
            .await
            .context("counting sessions")?;
        Ok(row.try_get::<i64, _>("n")?)
    }
}
