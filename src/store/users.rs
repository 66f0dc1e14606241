//! Accounts, failed sign-ins and shared secrets.

use anyhow::Context;
use sqlx::Row;

use super::{Store, unix_now as now};

/// An account as stored.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub username: String,
    pub role: String,
    pub teams: Vec<String>,
    pub password_hash: String,
    /// When the role, teams or password last changed (unix seconds): sessions signed in
    /// before it are over.
    pub updated_at: i64,
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
        let row = sqlx::query(
            "SELECT username, role, teams, password_hash, updated_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .context("reading an account")?;
        row.map(|r| user_of(&r)).transpose()
    }

    pub async fn list_users(&self) -> anyhow::Result<Vec<StoredUser>> {
        sqlx::query(
            "SELECT username, role, teams, password_hash, updated_at FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing accounts")?
        .iter()
        .map(user_of)
        .collect()
    }

    pub async fn count_users(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await
            .context("counting accounts")?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    pub async fn insert_user(&self, user: &StoredUser) -> Result<(), UserError> {
        let result = sqlx::query(
            "INSERT INTO users (username, role, teams, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&user.username)
        .bind(&user.role)
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
        role: &str,
        teams: &[String],
    ) -> Result<(), UserError> {
        let result = sqlx::query(
            "UPDATE users SET role = $1, teams = $2, updated_at = $3 WHERE username = $4",
        )
        .bind(role)
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

    /// Records a failed sign-in.
    pub async fn record_login_failure(
        &self,
        username: &str,
        source_ip: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO login_failures (username, source_ip, at) VALUES ($1, $2, $3)")
            .bind(username)
            .bind(source_ip)
            .bind(now())
            .execute(&self.pool)
            .await
            .context("recording a failed sign-in")?;
        Ok(())
    }

    /// Failed sign-ins since `since` (unix seconds) for the account and for the address.
    pub async fn login_failures_since(
        &self,
        username: &str,
        source_ip: &str,
        since: i64,
    ) -> anyhow::Result<(i64, i64)> {
        let by_user = sqlx::query(
            "SELECT COUNT(*) AS n FROM login_failures WHERE username = $1 AND at >= $2",
        )
        .bind(username)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .context("counting failed sign-ins")?
        .try_get::<i64, _>("n")?;
        let by_source = sqlx::query(
            "SELECT COUNT(*) AS n FROM login_failures WHERE source_ip = $1 AND at >= $2",
        )
        .bind(source_ip)
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .context("counting failed sign-ins")?
        .try_get::<i64, _>("n")?;
        Ok((by_user, by_source))
    }

    /// Forgets an account's failures after a successful sign-in; drops old rows.
    pub async fn clear_login_failures(
        &self,
        username: &str,
        older_than: i64,
    ) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM login_failures WHERE username = $1 OR at < $2")
            .bind(username)
            .bind(older_than)
            .execute(&self.pool)
            .await
            .context("clearing failed sign-ins")?;
        Ok(())
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

fn user_of(row: &sqlx::any::AnyRow) -> anyhow::Result<StoredUser> {
    let teams: String = row.try_get("teams")?;
    Ok(StoredUser {
        username: row.try_get("username")?,
        role: row.try_get("role")?,
        teams: teams
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        password_hash: row.try_get("password_hash")?,
        updated_at: row.try_get("updated_at")?,
    })
}
