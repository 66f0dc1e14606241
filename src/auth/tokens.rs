//! API tokens (PRODUCT.md §10): made by a user for themself, shown once, stored as their
//! SHA-256 (a token carries 256 random bits, so a fast hash is enough: nothing can be
//! guessed from it), revocable. A token never has more rights than its user has now:
//! every request reads the account again, and a `read` token never writes.

use base64::Engine;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::{CurrentUser, Role};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::store::{NewToken, Store, StoredToken};

/// What every certdeck token starts with (so that secret scanners can find leaked ones).
pub const TOKEN_PREFIX: &str = "cdk_";
/// The longest expiry a token may have.
pub const MAX_EXPIRY_DAYS: i64 = 365;
/// The expiry the form proposes.
pub const DEFAULT_EXPIRY_DAYS: i64 = 90;
/// Active tokens a user may hold at once.
pub const MAX_ACTIVE_TOKENS: i64 = 20;
/// The longest token name.
pub const MAX_NAME_CHARS: usize = 64;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// `GET` only.
    Read,
    /// Also certificate changes, within the user's role and teams.
    Change,
}

impl TokenScope {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "read" => Ok(TokenScope::Read),
            "change" => Ok(TokenScope::Change),
            other => Err(format!("{other:?} is not a scope (read or change)")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Change => "change",
        }
    }
}

/// Who calls `/api/v1`, and with what: a bearer token's scope, or a cookie session
/// (whose writes the guard checked for the session's CSRF token).
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub user: CurrentUser,
    pub scope: TokenScope,
    /// The token's id; `None` for a cookie session.
    pub token_id: Option<String>,
}

impl ApiCaller {
    /// Whether this caller may write at all (a `read` token never does; a viewer never
    /// does, whatever their token says).
    pub fn may_write(&self) -> bool {
        self.scope == TokenScope::Change && self.user.role != Role::Viewer
    }
}

/// A made token: the secret, shown once, and its stored row.
pub struct IssuedToken {
    pub secret: String,
    pub token: StoredToken,
}

/// Why a token was not made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    #[error("You already have {MAX_ACTIVE_TOKENS} active tokens. Revoke one first.")]
    TooMany,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a bearer token was refused (all answered 401 alike, so nothing is learnt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerRefusal {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    /// Its user was removed.
    NoUser,
}

impl BearerRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            BearerRefusal::Malformed => "malformed",
            BearerRefusal::Unknown => "unknown",
            BearerRefusal::Revoked => "revoked",
            BearerRefusal::Expired => "expired",
            BearerRefusal::NoUser => "user removed",
        }
    }
}

/// SHA-256 of a token, hex.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new secret: the prefix and 32 random bytes, base64url.
fn new_secret() -> String {
    let bytes = crate::tokens::random_bytes::<32>();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Validates a token's name: 1 to 64 characters, no control characters.
pub fn parse_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Give the token a name (what uses it).".into());
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "A token's name has at most {MAX_NAME_CHARS} characters, none of them control characters."
        ));
    }
    Ok(name.to_owned())
}

/// Makes a token for `user` and audits it.
pub async fn create(
    store: &Store,
    user: &CurrentUser,
    name: &str,
    scope: TokenScope,
    expiry_days: i64,
    audit: AuditRecord,
) -> Result<IssuedToken, TokenError> {
    let name = parse_name(name).map_err(TokenError::Invalid)?;
    if !(1..=MAX_EXPIRY_DAYS).contains(&expiry_days) {
        return Err(TokenError::Invalid(format!(
            "A token expires in 1 to {MAX_EXPIRY_DAYS} days."
        )));
    }
    let secret = new_secret();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let expires_at = OffsetDateTime::now_utc().unix_timestamp() + expiry_days * 86_400;
    let hash = token_hash(&secret);
    let stored = store
        .insert_api_token(
            &NewToken {
                id: &id,
                username: &user.username,
                name: &name,
                scope: scope.as_str(),
                token_hash: &hash,
                expires_at,
            },
            MAX_ACTIVE_TOKENS,
        )
        .await?;
    if !stored {
        return Err(TokenError::TooMany);
    }
    let token = store
        .api_token_by_hash(&hash)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the new token {id} was not stored"))?;
    store
        .append_audit(AuditRecord {
            action: AuditAction::TokenCreated,
            outcome: "success".into(),
            detail: Some(describe(&token)),
            ..audit
        })
        .await?;
    Ok(IssuedToken { secret, token })
}

/// Revokes the user's token `id` and audits it; false when there was no such active
/// token of theirs.
pub async fn revoke(
    store: &Store,
    user: &CurrentUser,
    id: &str,
    audit: AuditRecord,
) -> anyhow::Result<bool> {
    let Some(token) = store.revoke_api_token(&user.username, id).await? else {
        return Ok(false);
    };
    store
        .append_audit(AuditRecord {
            action: AuditAction::TokenRevoked,
            outcome: "success".into(),
            detail: Some(describe(&token)),
            ..audit
        })
        .await?;
    Ok(true)
}

/// "token 3f… "ci" (change, expires 2027-02-27)".
fn describe(token: &StoredToken) -> String {
    let expires = OffsetDateTime::from_unix_timestamp(token.expires_at)
        .map(|t| t.date().to_string())
        .unwrap_or_default();
    format!(
        "token {} {:?} ({}, expires {expires})",
        token.id, token.name, token.scope
    )
}

/// The caller of an `Authorization` header's bearer token, with the rights its user has
/// now. The first use of each minute is audited (`use_record` names the request).
pub async fn authenticate(
    store: &Store,
    header: &str,
    use_record: AuditRecord,
) -> anyhow::Result<Result<ApiCaller, BearerRefusal>> {
    let Some((scheme, secret)) = header.trim().split_once(' ') else {
        return Ok(Err(BearerRefusal::Malformed));
    };
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || !secret.starts_with(TOKEN_PREFIX)
        || secret.len() > 128
    {
        return Ok(Err(BearerRefusal::Malformed));
    }
    // Looked up by its hash: how long the index takes tells about the hash, and a
    // SHA-256 of 256 random bits tells nothing about the token (no secret is compared
    // byte by byte).
    let Some(token) = store.api_token_by_hash(&token_hash(secret)).await? else {
        return Ok(Err(BearerRefusal::Unknown));
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if token.revoked_at.is_some() {
        return Ok(Err(BearerRefusal::Revoked));
    }
    if token.expires_at <= now {
        return Ok(Err(BearerRefusal::Expired));
    }
    let Some(stored) = store.find_user(&token.username).await? else {
        return Ok(Err(BearerRefusal::NoUser));
    };
    let scope = TokenScope::parse(&token.scope).map_err(|e| anyhow::anyhow!(e))?;
    let user = CurrentUser {
        username: stored.username,
        role: stored.role,
        teams: stored.teams.0,
        csrf_token: String::new(),
    };
    let minute = now.div_euclid(60);
    if store.note_api_token_use(&token.id, minute).await? {
        let from = OffsetDateTime::from_unix_timestamp(minute * 60)
            .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
            .unwrap_or_default();
        let request = use_record.detail.clone().unwrap_or_default();
        store
            .append_audit(AuditRecord {
                actor: user.username.clone(),
                role: Some(user.role.as_str().to_owned()),
                action: AuditAction::TokenUsed,
                outcome: "success".into(),
                detail: Some(format!(
                    "{}: used in the minute from {from} UTC (one entry a minute); first: {request}",
                    describe(&token)
                )),
                ..use_record
            })
            .await?;
    }
    Ok(Ok(ApiCaller {
        user,
        scope,
        token_id: Some(token.id),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_long_and_distinct() {
        let (a, b) = (new_secret(), new_secret());
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn names_are_bounded() {
        assert!(parse_name("ci pipeline").is_ok());
        assert!(parse_name("  ").is_err());
        assert!(parse_name(&"x".repeat(65)).is_err());
        assert!(parse_name("a\nb").is_err());
    }
}
