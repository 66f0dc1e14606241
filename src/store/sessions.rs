//! actix-session's state, kept server-side in the database so that replicas share
//! sessions and sign-out and role changes take effect within a second everywhere (at
//! once on the replica that made them): reads are reused for at most `AUTH_CACHE_TTL`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use anyhow::Context;
use sqlx::Row;

use super::{Store, StoredUser, unix_now as now};

/// How long a session's state, or an account, read from the database is reused by this
/// process: a signed-in page view then reads neither. A sign-out, an ended session, a
/// role or password change or a removed account made elsewhere (another replica, the
/// CLI, the database) takes effect within this; made through this process's store, at
/// once (its writes update the cache).
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The most entries each cache holds: past it, stale entries go, and if that is not
/// enough the cache starts over (it is only a cache; nothing grows without bound).
const AUTH_CACHE_CAP: usize = 10_000;

/// Values read from the database, each reused for at most `AUTH_CACHE_TTL`.
struct ShortCache<V> {
    entries: Mutex<HashMap<String, (Instant, V)>>,
}

impl<V> Default for ShortCache<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> ShortCache<V> {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        match self.entries.lock() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        self.entries()
            .get(key)
            .filter(|(at, _)| at.elapsed() < AUTH_CACHE_TTL)
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value`, read from the database at `read_at` (a read that started before a
    /// write must not outlive it: its age counts from when it started).
    fn put(&self, key: &str, value: V, read_at: Instant) {
        let mut entries = self.entries();
        if entries.len() >= AUTH_CACHE_CAP && !entries.contains_key(key) {
            entries.retain(|_, (at, _)| at.elapsed() < AUTH_CACHE_TTL);
            if entries.len() >= AUTH_CACHE_CAP {
                entries.clear();
            }
        }
        entries.insert(key.to_owned(), (read_at, value));
    }

    fn forget(&self, key: &str) {
        self.entries().remove(key);
    }
}

/// What signed-in requests read on every page view: session states by session key,
/// accounts by user name.
#[derive(Default)]
pub(crate) struct AuthCache {
    sessions: ShortCache<Option<HashMap<String, String>>>,
    users: ShortCache<Option<StoredUser>>,
    /// Bumped by every write: a read that started before a write is not kept.
    writes: std::sync::atomic::AtomicU64,
}

impl AuthCache {
    fn generation(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn written(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn forget_session(&self, key: &str) {
        self.written();
        self.sessions.forget(key);
    }

    /// After an account was created, changed or removed through this store.
    pub(crate) fn forget_user(&self, username: &str) {
        self.written();
        self.users.forget(username);
    }
}

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
        if let Some(state) = self.auth_cache.sessions.get(key.as_ref()) {
            return Ok(state);
        }
        let (read_at, generation) = (Instant::now(), self.auth_cache.generation());
        let state = self.load_session(key).await?;
        if self.auth_cache.generation() == generation {
            self.auth_cache
                .sessions
                .put(key.as_ref(), state.clone(), read_at);
        }
        Ok(state)
    }

    async fn save(
        &self,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        let key = self.save_session(state, ttl).await?;
        // A new key: nothing cached under it (and a later load reads it once).
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        state: HashMap<String, String>,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.auth_cache.forget_session(key.as_ref());
        let result = self.update_session(key, state, ttl).await;
        if let Ok(key) = &result {
            self.auth_cache.forget_session(key.as_ref());
        }
        result
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        self.update_session_ttl(key, ttl).await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        self.auth_cache.forget_session(key.as_ref());
        let result = self.delete_session(key).await;
        self.auth_cache.forget_session(key.as_ref());
        result
    }
}

/// The database side of the session store (`SessionStore` above adds the cache).
impl Store {
    async fn load_session(
        &self,
        key: &SessionKey,
    ) -> Result<Option<HashMap<String, String>>, LoadError> {
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

    async fn save_session(
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

    async fn update_session(
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
                .save_session(state, ttl)
                .await
                .map_err(|e| UpdateError::Other(e.into()));
        }
        Ok(key)
    }

    async fn update_session_ttl(
        &self,
        key: &SessionKey,
        ttl: &Duration,
    ) -> Result<(), anyhow::Error> {
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE session_key = $2")
            .bind(now() + ttl.whole_seconds())
            .bind(key.as_ref())
            .execute(&self.pool)
            .await
            .context("extending a session")?;
        Ok(())
    }

    async fn delete_session(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        sqlx::query("DELETE FROM sessions WHERE session_key = $1")
            .bind(key.as_ref())
            .execute(&self.pool)
            .await
            .context("deleting a session")?;
        Ok(())
    }
}

impl Store {
    /// [`Store::find_user`], reused for at most [`AUTH_CACHE_TTL`] (the account of every
    /// signed-in request).
    pub async fn find_user_cached(&self, username: &str) -> anyhow::Result<Option<StoredUser>> {
        if let Some(user) = self.auth_cache.users.get(username) {
            return Ok(user);
        }
        let (read_at, generation) = (Instant::now(), self.auth_cache.generation());
        let user = self.find_user(username).await?;
        if self.auth_cache.generation() == generation {
            self.auth_cache.users.put(username, user.clone(), read_at);
        }
        Ok(user)
    }

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
