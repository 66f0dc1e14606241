//! AWS accounts (PRODUCT.md §9): each `[[accounts]]` table is read through a role that
//! certdeck assumes with STS. The role's credentials are cached and refreshed before
//! they expire; a change assumes the role afresh with `SourceIdentity` = the certdeck
//! user, so that CloudTrail names the person who asked.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};

use super::AwsError;

/// An AWS account as certdeck knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// certdeck's name for it (`prod`); `default` for the credential chain's own account.
    pub name: String,
    /// The 12-digit id when known (from the role's ARN; for the credential chain's own
    /// account, from the ARNs of what is read).
    pub id: Option<String>,
    /// The team owning its pools unless a pool's team tag names another.
    pub team: Option<String>,
    /// Every change of its pools needs a second person's approval.
    pub approval_required: bool,
}

/// The name of the one account when no `[[accounts]]` is configured.
pub const DEFAULT_ACCOUNT: &str = "default";

/// The session name of the inventory's and watcher's role sessions.
const SESSION_NAME: &str = "certdeck";

/// The longest session certdeck asks for; AWS's default.
const SESSION_LENGTH: Duration = Duration::from_secs(3600);

/// Credentials of a role session, cached; asked anew when a quarter of their life or
/// five minutes (whichever is less) is left, so a call never carries expiring ones.
#[derive(Debug)]
pub struct RoleCredentials {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    cached: tokio::sync::Mutex<Option<Session>>,
}

#[derive(Debug, Clone)]
struct Session {
    credentials: Credentials,
    issued: SystemTime,
}

impl Session {
    fn fresh(&self, now: SystemTime) -> bool {
        let Some(expiry) = self.credentials.expiry() else {
            return true;
        };
        let life = expiry.duration_since(self.issued).unwrap_or_default();
        let margin = (life / 4).min(Duration::from_secs(300));
        now + margin < expiry
    }
}

/// A role session that was assumed for one person.
#[derive(Debug, Clone)]
pub struct AssumedRole {
    pub credentials: Credentials,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: Option<String>,
}

impl RoleCredentials {
    pub fn new(sts: aws_sdk_sts::Client, role_arn: String, external_id: Option<String>) -> Self {
        Self {
            sts,
            role_arn,
            external_id,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The cached credentials, or new ones when they are close to expiry. Callers at
    /// the same moment share one AssumeRole.
    pub async fn get(&self) -> Result<Credentials, AwsError> {
        let mut cached = self.cached.lock().await;
        if let Some(session) = cached.as_ref()
            && session.fresh(SystemTime::now())
        {
            return Ok(session.credentials.clone());
        }
        let issued = SystemTime::now();
        let assumed = assume_role(
            &self.sts,
            &self.role_arn,
            self.external_id.as_deref(),
            SESSION_NAME,
            None,
        )
        .await?;
        *cached = Some(Session {
            credentials: assumed.credentials.clone(),
            issued,
        });
        Ok(assumed.credentials)
    }

    /// Drops the cached session.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// A new session for one person: `SourceIdentity` names them (it stays on the
    /// session and on every call made with it, in CloudTrail). Never cached.
    pub async fn for_person(&self, username: &str) -> Result<AssumedRole, AwsError> {
        let identity = source_identity(username);
        assume_role(
            &self.sts,
            &self.role_arn,
            self.external_id.as_deref(),
            &identity,
            Some(&identity),
        )
        .await
    }
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.get()
                .await
                .map_err(|e| CredentialsError::provider_error(AssumeRoleFailed(e.to_string())))
        })
    }
}

/// Why the role could not be assumed, as the SDK's credential error carries it.
#[derive(Debug, thiserror::Error)]
#[error("the account's role could not be assumed: {0}")]
struct AssumeRoleFailed(String);

/// A user name as STS takes it for `SourceIdentity` and `RoleSessionName`: 2 to 64 of
/// letters, digits and `+=,.@_-`. certdeck's user names are 1 to 64 of letters, digits
/// and `-_.@`, so only a one-letter name needs more (`a` → `a@certdeck`).
pub fn source_identity(username: &str) -> String {
    let clean: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(64)
        .collect();
    if clean.len() < 2 {
        format!("{clean}@certdeck")
    } else {
        clean
    }
}

async fn assume_role(
    sts: &aws_sdk_sts::Client,
    role_arn: &str,
    external_id: Option<&str>,
    session_name: &str,
    source_identity: Option<&str>,
) -> Result<AssumedRole, AwsError> {
    let out = sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .set_external_id(external_id.map(str::to_owned))
        .set_source_identity(source_identity.map(str::to_owned))
        .duration_seconds(SESSION_LENGTH.as_secs() as i32)
        .send()
        .await
        .map_err(AwsError::from_sdk)?;
    let credentials = out
        .credentials()
        .ok_or_else(|| AwsError::Transport("AssumeRole returned no credentials".into()))?;
    let expiry = SystemTime::try_from(*credentials.expiration()).ok();
    Ok(AssumedRole {
        credentials: Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            expiry,
            "certdeck-assume-role",
        ),
        assumed_role_arn: out.assumed_role_user().map(|u| u.arn().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_become_source_identities() {
        assert_eq!(source_identity("alice"), "alice");
        assert_eq!(source_identity("a.b-c_d@x"), "a.b-c_d@x");
        assert_eq!(source_identity("a"), "a@certdeck");
        assert_eq!(source_identity(&"x".repeat(80)).len(), 64);
    }

    #[test]
    fn sessions_are_renewed_before_they_expire() {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let session = |life: u64| Session {
            credentials: Credentials::new(
                "a",
                "b",
                None,
                Some(issued + Duration::from_secs(life)),
                "t",
            ),
            issued,
        };
        let hour = session(3600);
        assert!(hour.fresh(issued + Duration::from_secs(3290)));
        assert!(
            !hour.fresh(issued + Duration::from_secs(3310)),
            "5 minutes before"
        );
        let short = session(20);
        assert!(short.fresh(issued + Duration::from_secs(14)));
        assert!(
            !short.fresh(issued + Duration::from_secs(16)),
            "a quarter of 20 s"
        );
    }
}
