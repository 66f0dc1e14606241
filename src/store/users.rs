//! Accounts, failed sign-ins and shared secrets.

use anyhow::Context;
use sqlx::Row;

use crate::domain::Role;

use super::{Store, unix_now as now};

/// An account as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredUser {
    pub username: String,
    pub role: Role,
    /// Stored as one comma-separated column.
    #[sqlx(try_from = "String")]
    pub teams: Teams,
    pub password_hash: String,
    /// When the role, teams or password last changed (unix seconds): sessions signed in
    /// before it are over.
    pub updated_at: i64,
}

/// What a sign-in counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleKind {
    /// Attempts from one address, whatever the account.
    Source,
    /// Attempts on one account from one address.
    Pair,
    /// Failures on one account from any address.
    Account,
}

impl ThrottleKind {
    fn as_str(self) -> &'static str {
        match self {
            ThrottleKind::Source => "source",
            ThrottleKind::Pair => "pair",
            ThrottleKind::Account => "account",
        }
    }
}

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("an account named {0} already exists")]
    Exists(String),
    #[error("there is no account named {0}")]
    Missing(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Store {
    pub async fn find_user(&self, username: &str) -> anyhow::Result<Option<StoredUser>> {
        let row = sqlx::query_as(
            "SELECT username, role, teams, password_hash, updated_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .context("reading an account")?;
        Ok(row)
    }

    pub async fn list_users(&self) -> anyhow::Result<Vec<StoredUser>> {
        sqlx::query_as(
            "SELECT username, role, teams, password_hash, updated_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing accounts")
    }

    pub async fn count_users(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .context("counting accounts")?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub async fn insert_user(&self, user: &StoredUser) -> Result<(), UserError> {
        self.auth_cache.forget_user(&user.username);
        let result = sqlx::query(
            "INSERT INTO users (username, role, teams, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.username)
        .bind(user.role.as_str())
        .bind(user.teams.join(","))
        .bind(&user.password_hash)
        .bind(now())
        .execute(&self.pool)
        .await
        .context("creating an account")?;
        if result.rows_affected() == 0 {
            return Err(UserError::Exists(user.username.clone()));
        }
        Ok(())
    }

    pub async fn set_role(
        &self,
        username: &str,
        role: Role,
        teams: &[String],
    ) -> Result<(), UserError> {
        self.auth_cache.forget_user(username);
        let result = sqlx::query(
            "UPDATE users SET role = $1, teams = $2, updated_at = $3 WHERE username = $4",
        )
        .bind(role.as_str())
        .bind(teams.join(","))
        .bind(now())
        .bind(username)
        .execute(&self.pool)
        .await
        .context("changing a role")?;
        if result.rows_affected() == 0 {
            return Err(UserError::Missing(username.to_owned()));
        }
        Ok(())
    }

    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<(), UserError> {
        self.auth_cache.forget_user(username);
        let result =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE username = $3")
                .bind(hash)
                .bind(now())
                .bind(username)
                .execute(&self.pool)
                .await
                .context("changing a password")?;
        if result.rows_affected() == 0 {
            return Err(UserError::Missing(username.to_owned()));
        }
        Ok(())
    }

    pub async fn remove_user(&self, username: &str) -> Result<(), UserError> {
        self.auth_cache.forget_user(username);
        let result = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .context("removing an account")?;
        if result.rows_affected() == 0 {
            return Err(UserError::Missing(username.to_owned()));
        }
        Ok(())
    }

    /// Adds one to a sign-in counter and returns its new value. A window that started
    /// at or before `expired_before` starts over. One statement: concurrent attempts on
    /// every replica get distinct values, so a limit can never be overrun by a race.
    pub async fn bump_sign_in_counter(
        &self,
        kind: ThrottleKind,
        username: &str,
        source_ip: &str,
        expired_before: i64,
    ) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "INSERT INTO sign_in_throttle (kind, username, source_ip, window_start, count) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (kind, username, source_ip) DO UPDATE SET \
             count = CASE WHEN sign_in_throttle.window_start <= $5 THEN 1 ELSE sign_in_throttle.count + 1 END, \
             window_start = CASE WHEN sign_in_throttle.window_start <= $5 THEN $4 ELSE sign_in_throttle.window_start END \
             RETURNING count, window_start",
        )
        .bind(kind.as_str())
        .bind(username)
        .bind(source_ip)
        .bind(now())
        .bind(expired_before)
        .fetch_one(&self.pool)
        .await
        .context("counting a sign-in attempt")?;
        Ok(row.try_get::<i64, _>("count")?)
    }

    /// A sign-in counter's value and the start of its window (0 when none or expired).
    pub async fn sign_in_counter(
        &self,
        kind: ThrottleKind,
        username: &str,
        source_ip: &str,
        expired_before: i64,
    ) -> anyhow::Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT count, window_start FROM sign_in_throttle \
             WHERE kind = $1 AND username = $2 AND source_ip = $3 AND window_start > $4",
        )
        .bind(kind.as_str())
        .bind(username)
        .bind(source_ip)
        .bind(expired_before)
        .fetch_optional(&self.pool)
        .await
        .context("reading sign-in counters")?;
        Ok(match row {
            Some(row) => (row.try_get("count")?, row.try_get("window_start")?),
            None => (0, 0),
        })
    }

    /// Takes back one reserved attempt (it turned out not to be a failure).
    pub async fn release_sign_in_counter(
        &self,
        kind: ThrottleKind,
        username: &str,
        source_ip: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE sign_in_throttle SET count = count - 1 \
             WHERE kind = $1 AND username = $2 AND source_ip = $3 AND count > 0",
        )
        .bind(kind.as_str())
        .bind(username)
        .bind(source_ip)
        .execute(&self.pool)
        .await
        .context("releasing a sign-in attempt")?;
        Ok(())
    }

    /// Forgets a counter (after a successful sign-in).
    pub async fn reset_sign_in_counter(
        &self,
        kind: ThrottleKind,
        username: &str,
        source_ip: &str,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "DELETE FROM sign_in_throttle WHERE kind = $1 AND username = $2 AND source_ip = $3",
        )
        .bind(kind.as_str())
        .bind(username)
        .bind(source_ip)
        .execute(&self.pool)
        .await
        .context("clearing a sign-in counter")?;
        Ok(())
    }

    /// Clears every counter of an account (`certdeck user unlock`); how many there were.
    pub async fn unlock_account(&self, username: &str) -> anyhow::Result<u64> {
        let result = sqlx::query("DELETE FROM sign_in_throttle WHERE username = $1 AND kind <> $2")
            .bind(username)
            .bind(ThrottleKind::Source.as_str())
            .execute(&self.pool)
            .await
            .context("clearing an account's sign-in counters")?;
        Ok(result.rows_affected())
    }

    /// Drops counters whose window ended (they count nothing any more).
    pub async fn prune_sign_in_counters(&self, expired_before: i64) -> anyhow::Result<u64> {
        let result = sqlx::query("DELETE FROM sign_in_throttle WHERE window_start <= $1")
            .bind(expired_before)
            .execute(&self.pool)
            .await
            .context("pruning sign-in counters")?;
        Ok(result.rows_affected())
    }

    /// A secret shared by every replica, made once (`make` runs only the first time).
    pub async fn shared_secret(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> anyhow::Result<String> {
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(make())
        .execute(&self.pool)
        .await
        .context("storing a secret")?;
        let row = sqlx::query("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .context("reading a secret")?;
        Ok(row.try_get::<String, _>("value")?)
    }
}

/// An account's teams, read from their comma-separated column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Teams(pub Vec<String>);

impl std::ops::Deref for Teams {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.0
    }
}

impl From<Vec<String>> for Teams {
    fn from(teams: Vec<String>) -> Self {
        Self(teams)
    }
}

impl From<String> for Teams {
    fn from(column: String) -> Self {
        Self(
            column
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}
