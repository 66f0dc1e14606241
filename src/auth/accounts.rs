//! Account changes (from the CLI, the bootstrap and the demo), each one audited.

use secrecy::SecretString;

use super::{Role, parse_team, parse_username, password};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::store::{Store, StoredUser};

fn record(actor: &str, action: AuditAction, username: &str, detail: String) -> AuditRecord {
    AuditRecord {
        actor: actor.to_owned(),
        action,
        outcome: "success".to_owned(),
        detail: Some(format!("account {username}: {detail}")),
        ..AuditRecord::default()
    }
}

fn teams_of(teams: &[String]) -> anyhow::Result<Vec<String>> {
    teams
        .iter()
        .map(|t| parse_team(t).map_err(anyhow::Error::msg))
        .collect()
}

fn describe(role: Role, teams: &[String]) -> String {
    if teams.is_empty() {
        format!("role {role}")
    } else {
        format!("role {role}, teams {}", teams.join(", "))
    }
}

/// Creates an account.
pub async fn add(
    store: &Store,
    actor: &str,
    username: &str,
    role: Role,
    teams: &[String],
    password: &SecretString,
) -> anyhow::Result<()> {
    let username = parse_username(username).map_err(anyhow::Error::msg)?;
    let teams = teams_of(teams)?;
    let user = StoredUser {
        username: username.clone(),
        role,
        teams: teams.clone().into(),
        password_hash: password::hash(password)?,
        updated_at: 0,
    };
    store.insert_user(&user).await?;
    store
        .append_audit(record(
            actor,
            AuditAction::AccountCreated,
            &username,
            describe(role, &teams),
        ))
        .await?;
    Ok(())
}

pub async fn set_role(
    store: &Store,
    actor: &str,
    username: &str,
    role: Role,
    teams: &[String],
) -> anyhow::Result<()> {
    let teams = teams_of(teams)?;
    store.set_role(username, role, &teams).await?;
    store
        .append_audit(record(
            actor,
            AuditAction::AccountRoleChanged,
            username,
            describe(role, &teams),
        ))
        .await?;
    Ok(())
}

pub async fn set_password(
    store: &Store,
    actor: &str,
    username: &str,
    password: &SecretString,
) -> anyhow::Result<()> {
    store
        .set_password_hash(username, &password::hash(password)?)
        .await?;
    store
        .append_audit(record(
            actor,
            AuditAction::AccountPasswordChanged,
            username,
            "new password".into(),
        ))
        .await?;
    Ok(())
}

pub async fn remove(store: &Store, actor: &str, username: &str) -> anyhow::Result<()> {
    store.remove_user(username).await?;
    store
        .append_audit(record(
            actor,
            AuditAction::AccountRemoved,
            username,
            "removed".into(),
        ))
        .await?;
    Ok(())
}

/// Clears the sign-in counters of an existing account (its lockout, from every
/// address); how many there were.
pub async fn unlock(store: &Store, actor: &str, username: &str) -> anyhow::Result<u64> {
    if store.find_user(username).await?.is_none() {
        return Err(crate::store::UserError::Missing(username.to_owned()).into());
    }
    let cleared = store.unlock_account(username).await?;
    store
        .append_audit(record(
            actor,
            AuditAction::AccountUnlocked,
            username,
            format!("sign-in lockout cleared ({cleared} counters)"),
        ))
        .await?;
    Ok(cleared)
}
