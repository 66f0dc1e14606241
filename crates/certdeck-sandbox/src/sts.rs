//! Several AWS accounts: assumable roles, the temporary credentials STS `AssumeRole`
//! hands out for them, and who a request's access key id stands for.
//!
//! Any access key id the sandbox did not issue acts in the base account
//! ([`ACCOUNT_ID`]), as before. Keys the sandbox issues (`ASIA…`) carry a tag derived
//! from a per-process secret, so that one of them is recognised as the sandbox's even
//! after it has been pruned: a pruned or expired key is answered as expired, never
//! silently taken for the base account.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use time::{Duration, OffsetDateTime};

use super::error::AwsError;
use super::input::random_chars;
use super::world::ACCOUNT_ID;

/// At most this many registered roles (`POST /_sandbox/roles`).
pub const MAX_ROLES: usize = 1_000;
/// At most this many live credentials; past it the ones expiring first are dropped
/// (and then read as expired).
pub const MAX_SESSIONS: usize = 10_000;
/// The session length when AssumeRole gives no DurationSeconds.
const DEFAULT_SESSION: i64 = 3_600;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A role that AssumeRole accepts.
#[derive(Debug, Clone)]
pub struct Role {
    pub arn: String,
    pub account_id: String,
    /// The last path segment of the role's ARN.
    pub name: String,
    /// When set, AssumeRole must give exactly this ExternalId.
    pub external_id: Option<String>,
    /// IAM's unique role id (`AROA…`).
    pub role_id: String,
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug, Clone)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub account_id: String,
    pub role_arn: String,
    pub role_name: String,
    pub role_id: String,
    pub session_name: String,
    pub source_identity: Option<String>,
    pub expires_at: OffsetDateTime,
    /// The role was removed: the credentials no longer work.
    pub revoked: bool,
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    /// The access key id of the request.
    pub access_key_id: String,
    /// The assumed role, for credentials AssumeRole issued.
    pub role_arn: Option<String>,
    pub role_name: Option<String>,
    pub role_id: Option<String>,
    pub session_name: Option<String>,
    pub source_identity: Option<String>,
}

impl Caller {
    /// The caller as GetCallerIdentity names it.
    pub fn arn(&self) -> String {
        match (&self.role_name, &self.session_name) {
            (Some(role), Some(session)) => {
                format!(
                    "arn:aws:sts::{}:assumed-role/{role}/{session}",
                    self.account_id
                )
            }
            _ => format!("arn:aws:iam::{}:user/sandbox", self.account_id),
        }
    }

    /// GetCallerIdentity's UserId.
    pub fn user_id(&self) -> String {
        match (&self.role_id, &self.session_name) {
            (Some(id), Some(session)) => format!("{id}:{session}"),
            _ => self.access_key_id.clone(),
        }
    }
}

/// Why credentials are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Past their expiration (or pruned).
    Expired,
    /// Their role was removed, or the session token does not match.
    Revoked,
}

/// The roles and the credentials issued for them.
#[derive(Default)]
pub struct Identities {
    pub roles: BTreeMap<String, Role>,
    sessions: HashMap<String, Session>,
}

/// What AssumeRole was asked.
pub struct AssumeRoleRequest<'a> {
    pub role_arn: Option<&'a str>,
    pub session_name: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub source_identity: Option<&'a str>,
    pub duration_seconds: Option<&'a str>,
}

impl Identities {
    /// Registers (or replaces) an assumable role.
    pub fn register(&mut self, arn: &str, external_id: Option<&str>) -> Result<Role, String> {
        let (account_id, name) = parse_role_arn(arn)?;
        if let Some(id) = external_id {
            check_external_id(id).map_err(|e| e.message)?;
        }
        if !self.roles.contains_key(arn) && self.roles.len() >= MAX_ROLES {
            return Err(format!("at most {MAX_ROLES} roles can be registered"));
        }
        let role = Role {
            arn: arn.to_owned(),
            account_id,
            name,
            external_id: external_id.map(str::to_owned),
            role_id: format!("AROA{}", random_chars(KEY_ALPHABET, 17)),
        };
        self.roles.insert(arn.to_owned(), role.clone());
        Ok(role)
    }

    /// Removes a role and revokes every credential issued for it; false when unknown.
    pub fn remove(&mut self, arn: &str) -> bool {
        let known = self.roles.remove(arn).is_some();
        for session in self.sessions.values_mut() {
            if session.role_arn == arn {
                session.revoked = true;
            }
        }
        known
    }

    /// Who `access_key_id` (with the request's session token, if any) acts as at `now`.
    pub fn caller(
        &self,
        secret: &[u8],
        access_key_id: &str,
        session_token: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Caller, Refusal> {
        let Some(session) = self.sessions.get(access_key_id) else {
            if is_issued_key(secret, access_key_id) {
                return Err(Refusal::Expired);
            }
            return Ok(Caller {
                account_id: ACCOUNT_ID.to_owned(),
                access_key_id: access_key_id.to_owned(),
                role_arn: None,
                role_name: None,
                role_id: None,
                session_name: None,
                source_identity: None,
            });
        };
        if session.expires_at <= now {
            return Err(Refusal::Expired);
        }
        if session.revoked || session_token.is_some_and(|t| t != session.session_token) {
            return Err(Refusal::Revoked);
        }
        Ok(Caller {
            account_id: session.account_id.clone(),
            access_key_id: access_key_id.to_owned(),
            role_arn: Some(session.role_arn.clone()),
            role_name: Some(session.role_name.clone()),
            role_id: Some(session.role_id.clone()),
            session_name: Some(session.session_name.clone()),
            source_identity: session.source_identity.clone(),
        })
    }

    /// AssumeRole for `caller`: validates as AWS does (ValidationError), then checks the
    /// role and its external id (AccessDenied), then issues credentials for
    /// `min(DurationSeconds or 3600, max_session)`.
    pub fn assume_role(
        &mut self,
        secret: &[u8],
        caller: &Caller,
        request: &AssumeRoleRequest<'_>,
        max_session: std::time::Duration,
        now: OffsetDateTime,
    ) -> Result<Session, AwsError> {
        let role_arn = required(request.role_arn, "roleArn")?;
        if !(20..=2048).contains(&role_arn.len()) {
            return Err(validation(format!(
                "1 validation error detected: Value '{role_arn}' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048"
            )));
        }
        let session_name = required(request.session_name, "roleSessionName")?;
        check_name(session_name, "roleSessionName")?;
        if let Some(source_identity) = request.source_identity {
            check_name(source_identity, "sourceIdentity")?;
        }
        if let Some(external_id) = request.external_id {
            check_external_id(external_id)?;
        }
        let duration = match request.duration_seconds {
            None => DEFAULT_SESSION,
            Some(text) => match text.parse::<i64>() {
                Ok(seconds) if (900..=43_200).contains(&seconds) => seconds,
                _ => {
                    return Err(validation(format!(
                        "1 validation error detected: Value '{text}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200"
                    )));
                }
            },
        };
        let denied = || {
            AwsError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                    caller.arn()
                ),
            )
        };
        let role = self.roles.get(role_arn).ok_or_else(denied)?;
        if let Some(expected) = &role.external_id
            && request.external_id != Some(expected.as_str())
        {
            return Err(denied());
        }
        // SourceIdentity is sticky: a session that has one passes it on, and a role chain
        // cannot change it.
        let source_identity = match (&caller.source_identity, request.source_identity) {
            (Some(held), Some(asked)) if held != asked => {
                return Err(AwsError::new(
                    StatusCode::FORBIDDEN,
                    "AccessDenied",
                    format!(
                        "SourceIdentity {held} of the session cannot be changed to {asked} in a role chain"
                    ),
                ));
            }
            (Some(held), _) => Some(held.clone()),
            (None, asked) => asked.map(str::to_owned),
        };
        let seconds = duration.min(i64::try_from(max_session.as_secs()).unwrap_or(i64::MAX));
        let session = Session {
            access_key_id: issue_key(secret),
            secret_access_key: random_chars(SECRET_ALPHABET, 40),
            session_token: format!("IQoJb3JpZ2luX2VjE{}", random_chars(SECRET_ALPHABET, 300)),
            account_id: role.account_id.clone(),
            role_arn: role.arn.clone(),
            role_name: role.name.clone(),
            role_id: role.role_id.clone(),
            session_name: session_name.to_owned(),
            source_identity,
            // Whole seconds: the XML Expiration carries no fraction.
            expires_at: now.replace_nanosecond(0).unwrap_or(now) + Duration::seconds(seconds),
            revoked: false,
        };
        self.prune(now);
        self.sessions
            .insert(session.access_key_id.clone(), session.clone());
        Ok(session)
    }

    /// Makes room for one more credential when `MAX_SESSIONS` are kept: drops the
    /// expired ones, then, if still full, the ones expiring first. (Expired credentials
    /// are refused as expired whether kept or not.)
    fn prune(&mut self, now: OffsetDateTime) {
        if self.sessions.len() < MAX_SESSIONS {
            return;
        }
        self.sessions.retain(|_, s| s.expires_at > now);
        if self.sessions.len() >= MAX_SESSIONS {
            let mut by_expiry: Vec<(OffsetDateTime, String)> = self
                .sessions
                .values()
                .map(|s| (s.expires_at, s.access_key_id.clone()))
                .collect();
            by_expiry.sort();
            let excess = self.sessions.len() + 1 - MAX_SESSIONS;
            for (_, key) in by_expiry.into_iter().take(excess) {
                self.sessions.remove(&key);
            }
        }
    }

    /// How many credentials are kept.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

/// `arn:aws:iam::<12 digits>:role/[path/]name` → (account id, name).
pub fn parse_role_arn(arn: &str) -> Result<(String, String), String> {
    let bad = || format!("{arn:?} is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME)");
    let rest = arn.strip_prefix("arn:aws:iam::").ok_or_else(bad)?;
    let (account, resource) = rest.split_once(':').ok_or_else(bad)?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{arn:?}: the account id must be 12 digits, not {account:?}"
        ));
    }
    let path = resource.strip_prefix("role/").ok_or_else(bad)?;
    let name = path.rsplit('/').next().unwrap_or_default();
    let valid_name = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if !valid_name || arn.len() > 2048 {
        return Err(bad());
    }
    Ok((account.to_owned(), name.to_owned()))
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, AwsError> {
    value.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

/// RoleSessionName and SourceIdentity: 2–64 characters of `[\w+=,.@-]`.
fn check_name(value: &str, member: &str) -> Result<(), AwsError> {
    if !(2..=64).contains(&value.chars().count()) {
        return Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must have length between 2 and 64"
        )));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(())
}

/// ExternalId: 2–1224 characters of `[\w+=,.@:\/-]`.
fn check_external_id(value: &str) -> Result<(), AwsError> {
    let ok = (2..=1224).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(validation(
            "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224 and satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
        ))
    }
}

fn validation(message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

/// The tag that marks a key body as issued by this sandbox.
fn key_tag(secret: &[u8], body: &str) -> String {
    let mut input = secret.to_vec();
    input.extend_from_slice(body.as_bytes());
    openssl::sha::sha256(&input)
        .iter()
        .take(6)
        .map(|b| KEY_ALPHABET[usize::from(*b) % KEY_ALPHABET.len()] as char)
        .collect()
}

/// A new access key id: `ASIA`, 10 random characters and their 6-character tag.
fn issue_key(secret: &[u8]) -> String {
    let body = random_chars(KEY_ALPHABET, 10);
    let tag = key_tag(secret, &body);
    format!("ASIA{body}{tag}")
}

/// Whether `key` is one this sandbox issued (live or not).
fn is_issued_key(secret: &[u8], key: &str) -> bool {
    match key.strip_prefix("ASIA") {
        Some(rest) if rest.len() == 16 && rest.is_ascii() => {
            let (body, tag) = rest.split_at(10);
            key_tag(secret, body) == tag
        }
        _ => false,
    }
}

/// Escapes text for an XML element.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test secret";

    fn base() -> Caller {
        Identities::default()
            .caller(SECRET, "AKIDEXAMPLE", None, OffsetDateTime::now_utc())
            .expect("base")
    }

    fn request<'a>(arn: &'a str, external_id: Option<&'a str>) -> AssumeRoleRequest<'a> {
        AssumeRoleRequest {
            role_arn: Some(arn),
            session_name: Some("certdeck"),
            external_id,
            source_identity: None,
            duration_seconds: None,
        }
    }

    const STAGING: &str = "arn:aws:iam::210987654321:role/certdeck-staging";
    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    #[test]
    fn role_arns_name_a_twelve_digit_account() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::210987654321:role/path/certdeck"),
            Ok(("210987654321".to_owned(), "certdeck".to_owned()))
        );
        for bad in [
            "arn:aws:iam::21098765432:role/x",
            "arn:aws:iam::2109876543210:role/x",
            "arn:aws:iam::21098765432a:role/x",
            "arn:aws:iam::210987654321:user/x",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::210987654321:role/",
        ] {
            assert!(parse_role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_act_in_the_base_account_and_issued_ones_in_the_roles() {
        let mut ids = Identities::default();
        let now = OffsetDateTime::now_utc();
        ids.register(STAGING, Some("certdeck-demo")).expect("role");
        let denied = ids
            .assume_role(SECRET, &base(), &request(STAGING, None), HOUR, now)
            .expect_err("the external id is required");
        assert_eq!(denied.code, "AccessDenied");
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        let wrong = ids
            .assume_role(SECRET, &base(), &request(STAGING, Some("nope")), HOUR, now)
            .expect_err("a wrong external id");
        assert_eq!(wrong.code, "AccessDenied");
        let session = ids
            .assume_role(
                SECRET,
                &base(),
                &request(STAGING, Some("certdeck-demo")),
                HOUR,
                now,
            )
            .expect("assumed");
        assert!(session.access_key_id.starts_with("ASIA"));
        assert_eq!(session.access_key_id.len(), 20);
        let caller = ids
            .caller(
                SECRET,
                &session.access_key_id,
                Some(&session.session_token),
                now,
            )
            .expect("live");
        assert_eq!(caller.account_id, "210987654321");
        assert_eq!(
            caller.arn(),
            "arn:aws:sts::210987654321:assumed-role/certdeck-staging/certdeck"
        );
        // Another sandbox's (or a made-up) ASIA key is just an unknown key.
        assert_eq!(
            ids.caller(SECRET, "ASIAAAAAAAAAAAAAAAAA", None, now)
                .map(|c| c.account_id),
            Ok(ACCOUNT_ID.to_owned())
        );
        // A wrong session token is refused.
        assert_eq!(
            ids.caller(SECRET, &session.access_key_id, Some("forged"), now),
            Err(Refusal::Revoked)
        );
        // Expired, then pruned: still refused as expired.
        let later = now + Duration::hours(2);
        assert_eq!(
            ids.caller(SECRET, &session.access_key_id, None, later),
            Err(Refusal::Expired)
        );
        ids.sessions.clear();
        assert_eq!(
            ids.caller(SECRET, &session.access_key_id, None, later),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn removing_a_role_revokes_its_credentials() {
        let mut ids = Identities::default();
        let now = OffsetDateTime::now_utc();
        ids.register(STAGING, None).expect("role");
        let session = ids
            .assume_role(SECRET, &base(), &request(STAGING, None), HOUR, now)
            .expect("assumed");
        assert!(ids.remove(STAGING));
        assert_eq!(
            ids.caller(SECRET, &session.access_key_id, None, now),
            Err(Refusal::Revoked)
        );
        assert_eq!(
            ids.assume_role(SECRET, &base(), &request(STAGING, None), HOUR, now)
                .map(|s| s.access_key_id)
                .map_err(|e| e.code),
            Err("AccessDenied".to_owned())
        );
    }

    #[test]
    fn inputs_are_validated_as_sts_does() {
        let mut ids = Identities::default();
        let now = OffsetDateTime::now_utc();
        ids.register(STAGING, None).expect("role");
        let cases: [(Option<&str>, Option<&str>, Option<&str>); 7] = [
            (Some("x"), None, None),
            (Some(&"s".repeat(65)), None, None),
            (Some("has space"), None, None),
            (Some("ok"), Some("y"), None),
            (Some("ok"), Some("bad/slash"), None),
            (Some("ok"), None, Some("899")),
            (Some("ok"), None, Some("43201")),
        ];
        for (session_name, source_identity, duration) in cases {
            let error = ids
                .assume_role(
                    SECRET,
                    &base(),
                    &AssumeRoleRequest {
                        role_arn: Some(STAGING),
                        session_name,
                        external_id: None,
                        source_identity,
                        duration_seconds: duration,
                    },
                    HOUR,
                    now,
                )
                .expect_err("refused");
            assert_eq!(error.code, "ValidationError", "{session_name:?}");
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn sessions_last_at_most_max_session_and_keep_their_source_identity() {
        let mut ids = Identities::default();
        let now = OffsetDateTime::now_utc();
        ids.register(STAGING, None).expect("role");
        let mut asked = request(STAGING, None);
        asked.source_identity = Some("alice");
        asked.duration_seconds = Some("7200");
        let first = ids
            .assume_role(
                SECRET,
                &base(),
                &asked,
                std::time::Duration::from_secs(20),
                now,
            )
            .expect("assumed");
        assert!(first.expires_at <= now + Duration::seconds(20));
        assert!(first.expires_at > now + Duration::seconds(18));
        let caller = ids
            .caller(SECRET, &first.access_key_id, None, now)
            .expect("live");
        // A chained session keeps it, and cannot change it.
        let chained = ids
            .assume_role(SECRET, &caller, &request(STAGING, None), HOUR, now)
            .expect("chained");
        assert_eq!(chained.source_identity.as_deref(), Some("alice"));
        let mut changed = request(STAGING, None);
        changed.source_identity = Some("mallory");
        assert!(
            ids.assume_role(SECRET, &caller, &changed, HOUR, now)
                .is_err()
        );
    }

    #[test]
    fn credentials_are_bounded() {
        let mut ids = Identities::default();
        let now = OffsetDateTime::now_utc();
        ids.register(STAGING, None).expect("role");
        for _ in 0..MAX_SESSIONS + 5 {
            ids.assume_role(SECRET, &base(), &request(STAGING, None), HOUR, now)
                .expect("assumed");
        }
        assert!(ids.session_count() <= MAX_SESSIONS);
        for i in 0..MAX_ROLES + 1 {
            let result = ids.register(&format!("arn:aws:iam::111111111111:role/r{i}"), None);
            assert_eq!(result.is_ok(), i + 1 < MAX_ROLES, "{i}");
        }
    }
}
