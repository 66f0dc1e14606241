//! actix-session's state, kept server-side in the database so that sign-out and role
//! changes take effect at once and replicas share sessions.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use anyhow::Context;
use sqlx::Row;

use super::{Store, unix_now as now};

/// The key of a session's state that names its signed-in user (the store drops it when
/// a request writes to a session that ended meanwhile).
pub const SESSION_USER: &str = "user";
/// The key of a session's stable id (its indexed column, for live streams' checks).
pub const SESSION_ID: &str = "sid";

fn new_key() -> anyhow::Result<SessionKey> {
    SessionKey::try_from(crate::tokens::new_token()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The session id (`SESSION_ID`) of a session's state; values are stored as JSON.
fn session_id_of(state: &HashMap<String, String>) -> Option<String> {
    state
        .get(SESSION_ID)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
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
        let session_id = session_id_of(&state);
        sqlx::query(
            "INSERT INTO sessions (session_key, state, expires_at, session_id) VALUES ($1, $2, $3, $4)",
        )
        .bind(key.as_ref())
        .bind(body)
        .bind(now() + ttl.whole_seconds())
        .bind(session_id)
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
        let result = sqlx::query("UPDATE sessions SET state = $1, expires_at = $2, session_id = $3 WHERE session_key = $4 AND expires_at > $5")
            .bind(&body)
            .bind(now() + ttl.whole_seconds())
            .bind(session_id_of(&state))
            .bind(key.as_ref())
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        if result.rows_affected() == 0 {
            // Gone meanwhile (signed out, expired): a request still in flight must not
            // bring the sign-in back, so what it writes is an anonymous session.
            let mut state = state;
            state.remove(SESSION_USER);
            state.remove(SESSION_ID);
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
    /// The state of the unexpired session whose id (`auth::SESSION_ID`) is `session_id`;
    /// `None` once it was signed out, ended or expired.
    pub async fn session_by_id(
        &self,
        session_id: &str,
    ) -> anyhow::Result<Option<HashMap<String, String>>> {
        let row =
            sqlx::query("SELECT state FROM sessions WHERE session_id = $1 AND expires_at > $2")
                .bind(session_id)
                .bind(now())
                .fetch_optional(&self.pool)
                .await
                .context("reading a session by its id")?;
        row.map(|row| {
            let state: String = row.try_get("state")?;
            serde_json::from_str(&state).context("reading a session's state")
        })
        .transpose()
    }

    /// How many sessions are stored (for tests and metrics).
    pub async fn session_count(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM sessions")
            .fetch_one(&self.pool)
            .await
            .context("counting sessions")?;
        Ok(row.try_get::<i64, _>("n")?)
    }
}
