//! Accounts of single sign-on: found by the provider's issuer and subject, never by
//! name alone.

use anyhow::Context;
use sqlx::Row;

use super::{Store, StoredUser, unix_now as now};
use crate::domain::Role;

/// What a verified sign-in says an account must be now.
#[derive(Debug, Clone)]
pub struct OidcSignIn {
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub role: Role,
    pub teams: Vec<String>,
}

/// The password hash of single sign-on accounts: not a PHC string, so no password ever
/// matches it.
const NO_PASSWORD: &str = "!oidc";

impl Store {
    /// The account of `sign_in`'s subject, made on its first sign-in and given the role
    /// and teams of this sign-in (a change ends its older sessions). `None` when the name
    /// belongs to an account that is not this subject's (a local one, or another's).
    pub async fn upsert_oidc_user(
        &self,
        sign_in: &OidcSignIn,
    ) -> anyhow::Result<Option<StoredUser>> {
        let teams = sign_in.teams.join(",");
        for _ in 0..2 {
            let existing = sqlx::query(
                "SELECT username, role, teams FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2",
            )
            .bind(&sign_in.issuer)
            .bind(&sign_in.subject)
            .fetch_optional(&self.pool)
            .await
            .context("reading a single sign-on account")?;
            if let Some(row) = existing {
                let username: String = row.try_get("username")?;
                let role: String = row.try_get("role")?;
                let stored_teams: String = row.try_get("teams")?;
                if role != sign_in.role.as_str() || stored_teams != teams {
                    sqlx::query(
                        "UPDATE users SET role = $1, teams = $2, updated_at = $3 WHERE username = $4",
                    )
                    .bind(sign_in.role.as_str())
                    .bind(&teams)
                    .bind(now())
                    .bind(&username)
                    .execute(&self.pool)
                    .await
                    .context("updating a single sign-on account")?;
                    // Its sessions here see the new rights at once, not after the
                    // cache's second.
                    self.auth_cache.forget_user(&username);
                }
                return self.find_user(&username).await;
            }
            let inserted = sqlx::query(
                "INSERT INTO users (username, role, teams, password_hash, created_at, updated_at, \
                 oidc_issuer, oidc_subject) VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&sign_in.username)
            .bind(sign_in.role.as_str())
            .bind(&teams)
            .bind(NO_PASSWORD)
            .bind(now())
            .bind(&sign_in.issuer)
            .bind(&sign_in.subject)
            .execute(&self.pool)
            .await
            .context("creating a single sign-on account")?;
            if inserted.rows_affected() == 1 {
                // A name that was just removed may be cached as missing.
                self.auth_cache.forget_user(&sign_in.username);
                return self.find_user(&sign_in.username).await;
            }
            // The name is taken, or the same subject's first sign-in ran in parallel:
            // look again by subject once.
        }
        Ok(None)
    }

    /// Removes the account of a subject (it is no longer in any group certdeck knows);
    /// its name when there was one. Its sessions end with it.
    pub async fn remove_oidc_user(
        &self,
        issuer: &str,
        subject: &str,
    ) -> anyhow::Result<Option<String>> {
        let row =
            sqlx::query("SELECT username FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .context("reading a single sign-on account")?;
        let Some(row) = row else {
            return Ok(None);
        };
        let username: String = row.try_get("username")?;
        sqlx::query("DELETE FROM users WHERE oidc_issuer = $1 AND oidc_subject = $2")
            .bind(issuer)
            .bind(subject)
            .execute(&self.pool)
            .await
            .context("removing a single sign-on account")?;
        self.auth_cache.forget_user(&username);
        Ok(Some(username))
    }
}
