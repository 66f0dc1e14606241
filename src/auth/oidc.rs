//! Single sign-on with OpenID Connect (PRODUCT.md §10): the authorization code flow with
//! PKCE, `state` and `nonce`, on the `openidconnect` crate, with the provider found by
//! discovery from its issuer. Every call to the provider goes through the console's
//! reqwest (no second TLS stack), with timeouts, no redirects and bounded bodies.
//!
//! Nothing is stored server-side for a sign-in in progress: `state`, `nonce` and the
//! PKCE verifier travel in an encrypted, authenticated, HttpOnly, SameSite=Lax cookie
//! that expires after ten minutes. Groups map to a role and teams by `[[oidc.rules]]`,
//! recomputed at every sign-in.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use anyhow::Context;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, AsyncHttpClient, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, HttpRequest, HttpResponse, IdToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Role, parse_team, parse_username};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::store::{OidcSignIn, Store, StoredUser};

/// How long a sign-in may take at the provider (its login form included).
pub const PENDING_TTL_SECS: i64 = 10 * 60;
/// The longest any exchange with the provider may take, all its calls together.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from the provider (discovery, keys, tokens).
const MAX_PROVIDER_BODY: usize = 256 * 1024;
/// The cookie of a sign-in in progress.
pub const PENDING_COOKIE: &str = "certdeck_oidc";
/// Where the pending cookie is sent.
pub const PENDING_COOKIE_PATH: &str = "/auth/oidc";

/// `[oidc]` as written in the TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcFile {
    issuer: String,
    client_id: String,
    client_secret: Option<SecretString>,
    client_secret_file: Option<std::path::PathBuf>,
    scopes: Option<Vec<String>>,
    groups_claim: Option<String>,
    name: Option<String>,
    redirect_url: String,
    local_login: Option<bool>,
    #[serde(default)]
    rules: Vec<OidcRuleFile>,
}

/// One `[[oidc.rules]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OidcRuleFile {
    group: String,
    role: String,
    #[serde(default)]
    teams: Vec<String>,
}

/// `[oidc]`, checked.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: IssuerUrl,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    pub groups_claim: String,
    /// Shown as "Sign in with <name>".
    pub name: String,
    /// The console's callback as registered at the provider.
    pub redirect_url: RedirectUrl,
    /// Whether the password form is offered (break-glass accounts).
    pub local_login: bool,
    pub rules: Vec<OidcRule>,
}

/// A group and the role and teams its members get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRule {
    pub group: String,
    pub role: Role,
    pub teams: Vec<String>,
}

impl OidcSettings {
    /// Checks `[oidc]` (reads `client_secret_file`).
    pub fn parse(file: OidcFile) -> anyhow::Result<Self> {
        let issuer = IssuerUrl::new(file.issuer.clone())
            .with_context(|| format!("issuer {:?} is not a URL", file.issuer))?;
        let redirect_url = RedirectUrl::new(file.redirect_url.clone())
            .with_context(|| format!("redirect_url {:?} is not a URL", file.redirect_url))?;
        anyhow::ensure!(
            redirect_url.url().path() == "/auth/oidc/callback",
            "redirect_url must end in /auth/oidc/callback (the console's callback), not {:?}",
            file.redirect_url
        );
        anyhow::ensure!(
            !file.client_id.is_empty() && file.client_id.len() <= 255,
            "client_id must be 1 to 255 characters"
        );
        let client_secret = match (file.client_secret, file.client_secret_file) {
            (Some(_), Some(_)) => {
                anyhow::bail!("set client_secret or client_secret_file, not both")
            }
            (Some(secret), None) => secret,
            (None, Some(path)) => SecretString::from(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading client_secret_file {}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => anyhow::bail!("client_secret or client_secret_file is required"),
        };
        anyhow::ensure!(
            !client_secret.expose_secret().is_empty(),
            "the client secret is empty"
        );
        let scopes = file
            .scopes
            .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
        anyhow::ensure!(
            scopes.iter().any(|s| s == "openid"),
            "scopes must include \"openid\""
        );
        anyhow::ensure!(
            scopes
                .iter()
                .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"')),
            "scopes must be non-empty words without spaces"
        );
        let groups_claim = file.groups_claim.unwrap_or_else(|| "groups".into());
        anyhow::ensure!(!groups_claim.is_empty(), "groups_claim must not be empty");
        let name = file.name.unwrap_or_else(|| "single sign-on".into());
        anyhow::ensure!(
            (1..=64).contains(&name.chars().count()),
            "name must be 1 to 64 characters"
        );
        let mut rules = Vec::new();
        for rule in file.rules {
            let role: Role = rule
                .role
                .parse()
                .map_err(|e| anyhow::anyhow!("[[oidc.rules]] group {:?}: {e}", rule.group))?;
            anyhow::ensure!(
                !rule.group.is_empty(),
                "[[oidc.rules]]: group must not be empty"
            );
            let teams = rule
                .teams
                .iter()
                .map(|t| parse_team(t))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("[[oidc.rules]] group {:?}: {e}", rule.group))?;
            rules.push(OidcRule {
                group: rule.group,
                role,
                teams,
            });
        }
        Ok(Self {
            issuer,
            client_id: file.client_id,
            client_secret,
            scopes,
            groups_claim,
            name,
            redirect_url,
            local_login: file.local_login.unwrap_or(true),
            rules,
        })
    }
}

/// The role and teams of someone in `groups`: the highest role of every matching rule,
/// the union of their teams; `None` when no rule matches.
pub fn map_groups(rules: &[OidcRule], groups: &[String]) -> Option<(Role, Vec<String>)> {
    let matching: Vec<&OidcRule> = rules.iter().filter(|r| groups.contains(&r.group)).collect();
    let role = matching.iter().map(|r| r.role).max()?;
    let mut teams: Vec<String> = matching.iter().flat_map(|r| r.teams.clone()).collect();
    teams.sort();
    teams.dedup();
    Some((role, teams))
}

/// Every claim of the ID token beyond the standard ones (the groups claim among them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims(pub serde_json::Map<String, serde_json::Value>);

impl AdditionalClaims for OtherClaims {}

type CoreIdToken = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// A token response whose ID token carries [`OtherClaims`].
type Tokens = openidconnect::StandardTokenResponse<
    openidconnect::IdTokenFields<
        OtherClaims,
        openidconnect::EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    openidconnect::core::CoreTokenType,
>;

type Client = openidconnect::Client<
    OtherClaims,
    openidconnect::core::CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    Tokens,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Why a single sign-on did not end signed in. The text of each is the audit detail.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the identity provider answered with an error: {0}")]
    ProviderError(String),
    #[error("no sign-in in progress (the sign-in cookie is missing, expired or altered)")]
    NoPendingSignIn,
    #[error("the state does not match the sign-in in progress")]
    WrongState,
    #[error("the token request failed: {0}")]
    Token(String),
    #[error("the provider sent no ID token")]
    NoIdToken,
    #[error("the ID token's nonce is wrong")]
    WrongNonce,
    #[error("the ID token's issuer is wrong: {0}")]
    WrongIssuer(String),
    #[error("the ID token's audience is wrong: {0}")]
    WrongAudience(String),
    #[error("the ID token has expired: {0}")]
    Expired(String),
    #[error("the ID token's signature does not verify: {0}")]
    BadSignature(String),
    #[error("the ID token was refused: {0}")]
    BadIdToken(String),
    #[error("no usable user name in the ID token: {0}")]
    BadUsername(String),
    #[error("user {0} is not in a group certdeck knows")]
    NoKnownGroup(String),
    #[error("the user name {0} belongs to an account that did not sign in with this provider")]
    NameTaken(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl OidcError {
    /// What the person is told (the audit entry says more).
    pub fn message(&self) -> String {
        match self {
            OidcError::Unreachable(_) => {
                "The identity provider did not answer. Try again later, or ask an administrator."
                    .into()
            }
            OidcError::NoKnownGroup(_) => {
                "Your account is not in a group certdeck knows. Ask an administrator for access."
                    .into()
            }
            OidcError::NameTaken(name) => format!(
                "The user name {name} belongs to a local certdeck account, so single sign-on cannot use it. Ask an administrator."
            ),
            OidcError::NoPendingSignIn | OidcError::WrongState => {
                "This sign-in was not started here or took too long. Start again from the sign-in page."
                    .into()
            }
            OidcError::Unexpected(_) => "The sign-in could not be completed.".into(),
            other => format!("Single sign-on failed: {other}. Start again from the sign-in page."),
        }
    }
}

/// What a sign-in in progress keeps (in its cookie).
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingSignIn {
    state: String,
    nonce: String,
    pkce_verifier: String,
    /// Unix seconds after which the cookie is refused, whatever its max-age.
    expires: i64,
}

/// Who signed in, as the verified ID token says.
#[derive(Debug, Clone)]
pub struct OidcIdentity {
    pub issuer: String,
    pub subject: String,
    pub username: String,
    pub groups: Vec<String>,
}

/// The provider's HTTP client: the console's reqwest, no redirects, timeouts, bounded
/// answers.
#[derive(Clone)]
struct Http(reqwest::Client);

/// A failed call to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(error_chain(&e)))?;
            let mut answer = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HttpError(error_chain(&e)))?
            {
                if body.len() + chunk.len() > MAX_PROVIDER_BODY {
                    return Err(HttpError(format!(
                        "the answer is larger than {MAX_PROVIDER_BODY} bytes"
                    )));
                }
                body.extend_from_slice(&chunk);
            }
            answer.body(body).map_err(|e| HttpError(e.to_string()))
        })
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The console's side of single sign-on.
pub struct OidcClient {
    pub settings: OidcSettings,
    http: Http,
    /// The provider's metadata and keys as last discovered: a flood of sign-in starts
    /// does not become a flood of requests to the provider.
    discovered: tokio::sync::Mutex<Option<(std::time::Instant, CoreProviderMetadata)>>,
}

/// How long discovered metadata and keys are used before they are fetched again (an
/// ID token whose key is unknown makes them fetched at once).
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

impl OidcClient {
    pub fn new(settings: OidcSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // A redirect could point the console at anything (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .context("building the identity provider's HTTP client")?;
        Ok(Self {
            settings,
            http: Http(http),
            discovered: tokio::sync::Mutex::new(None),
        })
    }

    /// Discovery: the provider's metadata and keys, from its issuer (from the cache when
    /// younger than [`DISCOVERY_TTL`] and `fresh` is false). Whether it came from the cache.
    async fn client(&self, fresh: bool) -> Result<(Client, bool), OidcError> {
        let cached = {
            let discovered = self.discovered.lock().await;
            discovered
                .as_ref()
                .filter(|(at, _)| !fresh && at.elapsed() < DISCOVERY_TTL)
                .map(|(_, metadata)| metadata.clone())
        };
        let from_cache = cached.is_some();
        let metadata = match cached {
            Some(metadata) => metadata,
            None => {
                let metadata =
                    CoreProviderMetadata::discover_async(self.settings.issuer.clone(), &self.http)
                        .await
                        .map_err(|e| OidcError::Unreachable(error_chain(&e)))?;
                *self.discovered.lock().await = Some((std::time::Instant::now(), metadata.clone()));
                metadata
            }
        };
        // The same metadata shape with our claims type (discovery does not depend on it).
        let client = openidconnect::Client::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(self.settings.redirect_url.clone());
        Ok((client, from_cache))
    }

    /// Starts a sign-in: the provider's authorization URL and what the callback needs.
    pub async fn start(&self) -> Result<(String, PendingSignIn), OidcError> {
        let (client, _) = tokio::time::timeout(PROVIDER_TIMEOUT, self.client(false))
            .await
            .map_err(|_| OidcError::Unreachable("no answer within 10 s".into()))??;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            PendingSignIn {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                expires: time::OffsetDateTime::now_utc().unix_timestamp() + PENDING_TTL_SECS,
            },
        ))
    }

    /// Ends a sign-in: checks `state`, exchanges the code (with the PKCE verifier) and
    /// verifies the ID token (signature, issuer, audience, expiry, nonce).
    pub async fn finish(
        &self,
        pending: PendingSignIn,
        code: &str,
        state: &str,
    ) -> Result<OidcIdentity, OidcError> {
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            pending.state.as_bytes(),
            state.as_bytes(),
        )) {
            return Err(OidcError::WrongState);
        }
        tokio::time::timeout(PROVIDER_TIMEOUT, self.exchange(pending, code))
            .await
            .map_err(|_| OidcError::Unreachable("no answer within 10 s".into()))?
    }

    async fn exchange(
        &self,
        pending: PendingSignIn,
        code: &str,
    ) -> Result<OidcIdentity, OidcError> {
        let (client, from_cache) = self.client(false).await?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Token(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    OidcError::ProviderError(answer.to_string())
                }
                openidconnect::RequestTokenError::Request(e) => {
                    OidcError::Unreachable(error_chain(&e))
                }
                other => OidcError::Token(error_chain(&other)),
            })?;
        let id_token: &CoreIdToken = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce);
        let mut verified = id_token
            .claims(&client.id_token_verifier(), &nonce)
            .cloned();
        if from_cache
            && matches!(
                verified,
                Err(ClaimsVerificationError::SignatureVerification(_))
            )
        {
            // The provider may have rotated its keys since they were cached.
            let (fresh, _) = self.client(true).await?;
            verified = id_token.claims(&fresh.id_token_verifier(), &nonce).cloned();
        }
        let claims = verified.map_err(|e| match e {
            ClaimsVerificationError::InvalidNonce(_) => OidcError::WrongNonce,
            ClaimsVerificationError::InvalidIssuer(m) => OidcError::WrongIssuer(m),
            ClaimsVerificationError::InvalidAudience(m) => OidcError::WrongAudience(m),
            ClaimsVerificationError::Expired(m) => OidcError::Expired(m),
            ClaimsVerificationError::SignatureVerification(e) => {
                OidcError::BadSignature(e.to_string())
            }
            other => OidcError::BadIdToken(other.to_string()),
        })?;
        let subject = claims.subject().as_str().to_owned();
        let candidate = claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .or_else(|| claims.email().map(|e| e.as_str().to_owned()))
            .unwrap_or_else(|| subject.clone());
        let username = parse_username(&candidate).map_err(OidcError::BadUsername)?;
        let groups = match claims
            .additional_claims()
            .0
            .get(&self.settings.groups_claim)
        {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .take(1000)
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(OidcIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject,
            username,
            groups,
        })
    }
}

/// The cookie carrying `pending` (encrypted and authenticated with `key`).
pub fn pending_cookie(
    pending: &PendingSignIn,
    key: &Key,
    secure: bool,
) -> anyhow::Result<Cookie<'static>> {
    let value = serde_json::to_string(pending).context("encoding the sign-in cookie")?;
    let mut jar = CookieJar::new();
    jar.private_mut(key).add(
        Cookie::build(PENDING_COOKIE, value)
            .path(PENDING_COOKIE_PATH)
            .http_only(true)
            .secure(secure)
            // Lax: the provider's redirect back is a cross-site top-level GET.
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::seconds(PENDING_TTL_SECS))
            .finish(),
    );
    jar.delta()
        .next()
        .cloned()
        .context("the sign-in cookie was not made")
}

/// The cookie that removes the pending one.
pub fn pending_cookie_removal(secure: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(PENDING_COOKIE, "")
        .path(PENDING_COOKIE_PATH)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .finish();
    cookie.make_removal();
    cookie
}

/// The sign-in in progress of a cookie that decrypts and has not expired.
pub fn read_pending(cookie: Option<Cookie<'static>>, key: &Key) -> Option<PendingSignIn> {
    let cookie = cookie?;
    let mut jar = CookieJar::new();
    jar.add_original(cookie);
    let value = jar.private(key).get(PENDING_COOKIE)?.value().to_owned();
    let pending: PendingSignIn = serde_json::from_str(&value).ok()?;
    (pending.expires > time::OffsetDateTime::now_utc().unix_timestamp()).then_some(pending)
}

/// Signs `identity` in: creates or updates its account with the role and teams its
/// groups map to. Refused when no rule matches, or when the name is a local account's
/// (or another subject's): single sign-on never takes an existing account over.
pub async fn sign_in_user(
    store: &Store,
    settings: &OidcSettings,
    identity: &OidcIdentity,
) -> Result<StoredUser, OidcError> {
    let Some((role, teams)) = map_groups(&settings.rules, &identity.groups) else {
        // Out of every known group: an account made earlier goes, and its sessions
        // with it (the rights it had are no longer the provider's word).
        if let Some(username) = store
            .remove_oidc_user(&identity.issuer, &identity.subject)
            .await?
        {
            store
                .append_audit(AuditRecord {
                    actor: username.clone(),
                    action: AuditAction::AccountRemoved,
                    outcome: "success".to_owned(),
                    detail: Some(format!(
                        "account {username}: removed at sign-in, no longer in a group certdeck knows (single sign-on)"
                    )),
                    ..AuditRecord::default()
                })
                .await?;
        }
        return Err(OidcError::NoKnownGroup(identity.username.clone()));
    };
    let sign_in = OidcSignIn {
        issuer: identity.issuer.clone(),
        subject: identity.subject.clone(),
        username: identity.username.clone(),
        role,
        teams,
    };
    store
        .upsert_oidc_user(&sign_in)
        .await?
        .ok_or_else(|| OidcError::NameTaken(identity.username.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: &str, role: Role, teams: &[&str]) -> OidcRule {
        OidcRule {
            group: group.into(),
            role,
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn groups_combine_to_the_highest_role_and_every_team() {
        let rules = [
            rule("viewers", Role::Viewer, &[]),
            rule("payments", Role::Operator, &["payments"]),
            rule("identity", Role::Operator, &["identity", "payments"]),
            rule("admins", Role::Admin, &[]),
        ];
        let groups = |g: &[&str]| g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(map_groups(&rules, &groups(&["unknown"])), None);
        assert_eq!(map_groups(&rules, &[]), None);
        assert_eq!(
            map_groups(&rules, &groups(&["viewers", "payments", "identity", "x"])),
            Some((Role::Operator, vec!["identity".into(), "payments".into()]))
        );
        assert_eq!(
            map_groups(&rules, &groups(&["admins", "viewers"])),
            Some((Role::Admin, vec![]))
        );
    }

    #[test]
    fn settings_are_checked() {
        let parse = |text: &str| OidcSettings::parse(toml::from_str::<OidcFile>(text).unwrap());
        let base = "issuer = \"https://idp.example.com\"\nclient_id = \"certdeck\"\nredirect_url = \"https://certdeck.example.com/auth/oidc/callback\"\n";
        let ok = parse(&format!("{base}client_secret = \"s3cret\"\n")).unwrap();
        assert_eq!(ok.scopes, ["openid", "profile", "email"]);
        assert_eq!(ok.groups_claim, "groups");
        assert_eq!(ok.name, "single sign-on");
        assert!(ok.local_login);
        assert!(
            !format!("{ok:?}").contains("s3cret"),
            "the secret is not shown"
        );
        assert!(parse(base).is_err(), "a secret is required");
        let file = tempfile_path();
        std::fs::write(&file, "from-file\n").unwrap();
        let both = format!(
            "{base}client_secret = \"a\"\nclient_secret_file = {:?}\n",
            file.display().to_string()
        );
        assert!(parse(&both).is_err(), "never both");
        let from_file = parse(&format!(
            "{base}client_secret_file = {:?}\n",
            file.display().to_string()
        ))
        .unwrap();
        assert_eq!(from_file.client_secret.expose_secret(), "from-file");
        let _ = std::fs::remove_file(&file);
        let bad_role =
            format!("{base}client_secret = \"a\"\n[[rules]]\ngroup = \"g\"\nrole = \"root\"\n");
        assert!(parse(&bad_role).is_err());
        assert!(toml::from_str::<OidcFile>(&format!("{base}unknown = 1\n")).is_err());
    }

    fn tempfile_path() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("certdeck-oidc-secret-{}", uuid::Uuid::new_v4()))
    }
}
