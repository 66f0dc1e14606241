//! AWS SDK wrappers: Cognito per configured region and ACM in us-east-1, built once from
//! one configuration, paced under AWS's quotas, with AWS errors mapped to `AwsError`.

mod accounts;
mod acm;
mod cognito;
mod limiter;
mod metered;
mod model;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::operation::RequestId;

pub use accounts::{Account, DEFAULT_ACCOUNT, source_identity};
pub use acm::CertificateDetail;
pub use cognito::{DomainSettings, UpdateReceipt, UpdateRequest};
pub use limiter::{Category, QuotaBusy, RateLimiter};
pub use model::{
    ApiEnum, AwsValue, CertificateSummary, DomainDescription, PoolDetail, PoolSummary,
};

use crate::configuration::{AccountSettings, Settings};
use crate::domain::CLOUDFRONT_CERTIFICATE_REGION;
use accounts::RoleCredentials;

/// An AWS call that failed, in the operator's terms.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AwsError {
    /// AWS answered with an error.
    #[error("{code}: {message} (request id {})", request_id.as_deref().unwrap_or("none"))]
    Service {
        code: String,
        message: String,
        request_id: Option<String>,
    },
    /// AWS could not be reached or answered something unreadable.
    #[error("AWS could not be reached: {0}")]
    Transport(String),
    /// Not sent: certdeck's own pacing under AWS's quota would have made a person wait
    /// too long.
    #[error("AWS's request quota is busy; try again in a few seconds")]
    QuotaBusy {
        /// About how long the wait would have been.
        wait: Duration,
    },
}

impl AwsError {
    /// Whether AWS refused the caller's identity or its permissions (rather than the
    /// request).
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "AccessDeniedException"
                    | "AccessDenied"
                    | "NotAuthorizedException"
                    | "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "ExpiredTokenException"
                    | "ExpiredToken"
            )
        )
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            AwsError::Transport(_) | AwsError::QuotaBusy { .. } => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            AwsError::Service { request_id, .. } => request_id.as_deref(),
            AwsError::Transport(_) | AwsError::QuotaBusy { .. } => None,
        }
    }

    /// What the error means, in plain words for the operator who met it.
    pub fn plain_words(&self) -> String {
        if let AwsError::QuotaBusy { .. } = self {
            return "AWS's request quota is busy; try again in a few seconds. Nothing was sent."
                .into();
        }
        match self.code() {
            Some("InvalidParameterException") => "AWS refused the request as invalid.".into(),
            Some("NotAuthorizedException") | Some("AccessDeniedException") => {
                "certdeck's AWS identity is not allowed to do this (check its IAM policy).".into()
            }
            Some("ResourceNotFoundException") => {
                "AWS does not know this user pool or domain any more.".into()
            }
            Some("TooManyRequestsException") | Some("ThrottlingException") => {
                "AWS is throttling requests; certdeck retried and gave up. Try again in a minute."
                    .into()
            }
            // Neither is retried, by certdeck or by the SDK: the SDK's standard retry
            // classifiers retry only throttling and transient codes, 5xx statuses and
            // errors modelled as retryable, and AWS sends these with 400, unmodelled as
            // retryable. Trying again helps only once the person has waited or moved.
            Some("ConcurrentModificationException") => {
                "AWS says the domain is being changed right now; wait until it is ACTIVE, then try again. Nothing was changed."
                    .into()
            }
            Some("OperationNotEnabledException") => {
                "AWS says this region holds a replica of the pool; change it in the primary region. Nothing was changed."
                    .into()
            }
            Some("InternalErrorException") | Some("InternalFailure") => {
                "AWS had an internal error; nothing was changed on certdeck's side. Try again."
                    .into()
            }
            Some(_) => "AWS refused the request.".into(),
            // `from_sdk` words transport failures for people ("certdeck found no AWS
            // credentials…", "AWS did not answer in time…"); other texts are named.
            None => match self {
                AwsError::Transport(words)
                    if words.starts_with("certdeck ") || words.starts_with("AWS ") =>
                {
                    words.clone()
                }
                AwsError::Transport(other) => format!("AWS could not be reached: {other}"),
                AwsError::Service { .. } | AwsError::QuotaBusy { .. } => {
                    "AWS could not be reached.".into()
                }
            },
        }
    }

    /// What a page says about the error: what is wrong and what to do, then AWS's
    /// code, message and request id when AWS answered. Never the SDK's debug text.
    pub fn for_people(&self) -> String {
        match self {
            AwsError::Service {
                code,
                message,
                request_id,
            } => {
                let id = request_id
                    .as_deref()
                    .map(|id| format!("; request id {id}"))
                    .unwrap_or_default();
                let message = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                format!("{} ({code}{message}{id})", self.plain_words())
            }
            AwsError::Transport(_) | AwsError::QuotaBusy { .. } => self.plain_words(),
        }
    }

    /// Whether the error leaves open that AWS applied a write anyway (an "unclear
    /// outcome"): AWS could not be reached, or failed on its side. A refusal, or a
    /// call certdeck never sent, is clear.
    pub fn is_unclear(&self) -> bool {
        match self {
            // Refused before anything was sent.
            AwsError::QuotaBusy { .. } => false,
            AwsError::Transport(_) => true,
            AwsError::Service { code, .. } => matches!(
                code.as_str(),
                "InternalErrorException" | "InternalFailure" | "ServiceUnavailable"
            ),
        }
    }

    /// The code and message a page shows: AWS's own, or certdeck's name for what
    /// happened when AWS did not answer.
    pub fn code_and_message(&self) -> (String, String) {
        match self {
            AwsError::Service { code, message, .. } => (code.clone(), message.clone()),
            AwsError::Transport(message) => ("Unreachable".to_owned(), message.clone()),
            AwsError::QuotaBusy { .. } => ("QuotaBusy".to_owned(), self.to_string()),
        }
    }

    fn from_sdk<E, R>(error: aws_sdk_cognitoidentityprovider::error::SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
        aws_sdk_cognitoidentityprovider::error::SdkError<E, R>: RequestId,
    {
        let request_id = error.request_id().map(str::to_owned);
        match error.as_service_error() {
            Some(service) => AwsError::Service {
                code: service.code().unwrap_or("Unknown").to_owned(),
                message: service.message().unwrap_or_default().to_owned(),
                request_id,
            },
            None => {
                let causes = cause_chain(&error);
                let words = transport_in_words(&error, &causes);
                // The page gets the words, the log the chain of causes: as a warning
                // under the request's id when a page asked, at debug level for
                // background reads (whose problems the inventory logs once, in words).
                let in_request = tracing::Span::current()
                    .metadata()
                    .is_some_and(|m| m.name() == "HTTP request");
                if in_request {
                    tracing::warn!(causes = %causes, "{words}");
                } else {
                    tracing::debug!(causes = %causes, "{words}");
                }
                AwsError::Transport(words)
            }
        }
    }
}

/// The error's chain of causes, each cause's message once, on one line.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut causes: Vec<String> = vec![error.to_string()];
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        next = cause.source();
    }
    causes.join(": ")
}

/// What went wrong when AWS gave no answer, and what to do about it.
fn transport_in_words<E, R>(
    error: &aws_sdk_cognitoidentityprovider::error::SdkError<E, R>,
    causes: &str,
) -> String {
    use aws_sdk_cognitoidentityprovider::error::SdkError;
    let lower = causes.to_lowercase();
    if lower.contains("no credentials found in chain")
        || lower.contains("credentials provider was not enabled")
        || lower.contains("no providers in chain")
    {
        return "certdeck found no AWS credentials (it tried the environment, the shared profile, SSO, web identity, the container and instance metadata): set a profile or keys, see README".into();
    }
    if lower.contains("imds") && lower.contains("credentials") {
        // The chain's last resort answered without credentials; say what it said.
        let last: String = causes
            .rsplit(": ")
            .next()
            .unwrap_or_default()
            .trim_end_matches('.')
            .chars()
            .take(120)
            .collect();
        return format!(
            "certdeck found no AWS credentials (none in the environment, the shared profile, SSO, web identity or the container, and the instance metadata service gave none: {last}): set a profile or keys, see README"
        );
    }
    if lower.contains("credential") || (lower.contains("sso") && lower.contains("token")) {
        return "certdeck could not load AWS credentials (the profile, SSO session or role it found did not give any; an SSO session may have expired): sign in again or check the profile, see README".into();
    }
    match error {
        SdkError::TimeoutError(_) => {
            "AWS did not answer in time: check the network or proxy between certdeck and AWS, then refresh".into()
        }
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            "AWS did not answer in time: check the network or proxy between certdeck and AWS, then refresh".into()
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            "certdeck could not connect to AWS (the connection failed or was refused): check the network, the proxy and CERTDECK_AWS_ENDPOINT_URL".into()
        }
        SdkError::ResponseError(_) => {
            "AWS answered something certdeck could not read: try again; if it persists, check CERTDECK_AWS_ENDPOINT_URL or a proxy in between".into()
        }
        _ => "AWS could not be reached: check the network and the region settings, then refresh".into(),
    }
}

impl From<QuotaBusy> for AwsError {
    fn from(busy: QuotaBusy) -> Self {
        AwsError::QuotaBusy { wait: busy.wait }
    }
}

/// The longest a call made for a person waiting on a page queues for its slot under
/// the quota; past it, the call fails at once with `AwsError::QuotaBusy`.
pub const INTERACTIVE_MAX_WAIT: Duration = Duration::from_secs(5);

/// The SDK clients of one AWS account, built once.
#[derive(Clone)]
pub struct AwsClients {
    account: Arc<Account>,
    cognito: Arc<BTreeMap<String, aws_sdk_cognitoidentityprovider::Client>>,
    acm: aws_sdk_acm::Client,
    /// Shared by every account: its lanes are per account, region and category.
    limiter: Arc<RateLimiter>,
    /// The longest wait for a pacing slot; `None`: as long as it takes (background work).
    max_wait: Option<Duration>,
    /// The role certdeck assumes in the account; `None`: the credential chain's identity.
    role: Option<Arc<RoleCredentials>>,
    /// What the clients were built from, for the session of one person.
    sdk_config: aws_config::SdkConfig,
}

/// Every configured account's clients (PRODUCT.md §9), in the configured order.
#[derive(Clone)]
pub struct AwsAccounts {
    accounts: Arc<Vec<AwsClients>>,
}

impl AwsAccounts {
    /// The clients of every `[[accounts]]` table, or of the credential chain's own
    /// account when there is none.
    pub async fn new(settings: &Settings) -> anyhow::Result<Self> {
        let limiter = Arc::new(RateLimiter::new(settings.aws_quota_scale));
        let mut accounts = Vec::new();
        if settings.accounts.is_empty() {
            let account = Account {
                name: DEFAULT_ACCOUNT.to_owned(),
                id: None,
                team: None,
                approval_required: false,
            };
            accounts.push(
                AwsClients::build(settings, account, &settings.regions, None, limiter).await?,
            );
        } else {
            let sts_config = base_loader(settings)
                .region(Region::new(CLOUDFRONT_CERTIFICATE_REGION))
                .load()
                .await;
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&sts_config)
                    .interceptor(metered::Metered)
                    .build(),
            );
            for configured in &settings.accounts {
                let AccountSettings {
                    name,
                    role_arn,
                    external_id,
                    regions,
                    team,
                    approval,
                } = configured;
                let role = Arc::new(RoleCredentials::new(
                    sts.clone(),
                    role_arn.clone(),
                    external_id.clone(),
                ));
                let account = Account {
                    name: name.clone(),
                    id: configured.account_id().map(str::to_owned),
                    team: team.clone(),
                    approval_required: approval
                        .as_deref()
                        .is_some_and(|a| a.trim().eq_ignore_ascii_case("required")),
                };
                let regions = if regions.is_empty() {
                    &settings.regions
                } else {
                    regions
                };
                accounts.push(
                    AwsClients::build(settings, account, regions, Some(role), limiter.clone())
                        .await?,
                );
            }
        }
        Ok(Self {
            accounts: Arc::new(accounts),
        })
    }

    pub fn all(&self) -> &[AwsClients] {
        &self.accounts
    }

    /// The clients of the account named `name`.
    pub fn get(&self, name: &str) -> Option<&AwsClients> {
        self.accounts.iter().find(|a| a.account.name == name)
    }

    /// The clients of `name`, or of the first account for records written before
    /// accounts were recorded (`None`).
    pub fn of(&self, name: Option<&str>) -> Option<&AwsClients> {
        match name {
            Some(name) => self.get(name),
            None => self.accounts.first(),
        }
    }

    /// Every region any account reads, each once.
    pub fn regions(&self) -> Vec<String> {
        let regions: std::collections::BTreeSet<&str> =
            self.accounts.iter().flat_map(|a| a.regions()).collect();
        regions.into_iter().map(str::to_owned).collect()
    }

    /// This replica's share of every account's quotas (see `RateLimiter::set_share`).
    pub fn set_quota_share(&self, share: f64) {
        if let Some(first) = self.accounts.first() {
            // One limiter serves every account.
            first.limiter.set_share(share);
        }
    }
}

impl AwsClients {
    /// The credential chain's own account, in every configured region (the SDK's own
    /// region when none is set).
    pub async fn new(settings: &Settings) -> anyhow::Result<Self> {
        let accounts = AwsAccounts::new(&Settings {
            accounts: Vec::new(),
            ..settings.clone()
        })
        .await?;
        accounts
            .accounts
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no account"))
    }

    async fn build(
        settings: &Settings,
        account: Account,
        regions: &[String],
        role: Option<Arc<RoleCredentials>>,
        limiter: Arc<RateLimiter>,
    ) -> anyhow::Result<Self> {
        let mut loader = base_loader(settings);
        if let Some(role) = &role {
            loader = loader
                .credentials_provider(RoleProvider(role.clone()))
                // `RoleCredentials` caches and renews them itself.
                .identity_cache(aws_config::identity::IdentityCache::no_cache());
        }
        let sdk_config = loader.load().await;
        let regions: Vec<String> =
            if regions.is_empty() {
                // Only then ask the SDK's region chain (which may probe instance metadata).
                vec![sdk_config.region().map(|r| r.to_string()).ok_or_else(|| {
                    anyhow::anyhow!("no region: set CERTDECK_REGIONS or AWS_REGION")
                })?]
            } else {
                regions.to_vec()
            };
        let cognito = regions
            .iter()
            .map(|region| (region.clone(), cognito_client(&sdk_config, region, None)))
            .collect();
        let acm_config = aws_sdk_acm::config::Builder::from(&sdk_config)
            .region(Region::new(CLOUDFRONT_CERTIFICATE_REGION))
            .interceptor(metered::Metered)
            .build();
        Ok(Self {
            account: Arc::new(account),
            cognito: Arc::new(cognito),
            acm: aws_sdk_acm::Client::from_conf(acm_config),
            limiter,
            max_wait: None,
            role,
            sdk_config,
        })
    }

    /// The account these clients read.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The same clients and pacing for calls a person waits on: a call whose slot is
    /// more than `INTERACTIVE_MAX_WAIT` away fails at once instead of queueing.
    pub fn interactive(&self) -> Self {
        Self {
            max_wait: Some(INTERACTIVE_MAX_WAIT),
            ..self.clone()
        }
    }

    /// Clients for calls one person asked for in `region`: through a new session of the
    /// account's role with `SourceIdentity` = `username` (CloudTrail names them), and
    /// the ARN of that assumed role. Without a role (the credential chain's own
    /// account) these clients, and no assumed role.
    pub async fn for_person(
        &self,
        region: &str,
        username: &str,
    ) -> Result<(Self, Option<String>), AwsError> {
        let Some(role) = &self.role else {
            return Ok((self.clone(), None));
        };
        self.cognito(region)?;
        let assumed = role.for_person(username).await?;
        let client = cognito_client(&self.sdk_config, region, Some(assumed.credentials));
        let person = Self {
            cognito: Arc::new(BTreeMap::from([(region.to_owned(), client)])),
            role: None,
            ..self.clone()
        };
        Ok((person, assumed.assumed_role_arn))
    }

    /// Drops the cached role session (AWS refused it), so the next call assumes the
    /// role again.
    pub async fn forget_credentials(&self) {
        if let Some(role) = &self.role {
            role.forget().await;
        }
    }

    /// Resolves the account's credentials now (assuming its role when they are not
    /// cached), so a broken role shows as one clear problem.
    pub async fn check_credentials(&self) -> Result<(), AwsError> {
        match &self.role {
            Some(role) => role.get().await.map(drop),
            None => Ok(()),
        }
    }

    /// Waits for a pacing slot of `category` in `region` (quotas are per account and
    /// region).
    async fn pace(&self, region: &str, category: Category) -> Result<(), AwsError> {
        let lane = format!("{}/{region}", self.account.name);
        match self.max_wait {
            Some(max_wait) => {
                let acquired = self.limiter.acquire_within(&lane, category, max_wait).await;
                if acquired.is_err() {
                    metrics::counter!(
                        crate::metrics::AWS_QUOTA_BUSY,
                        "category" => format!("{category:?}")
                    )
                    .increment(1);
                }
                Ok(acquired?)
            }
            None => {
                self.limiter.acquire(&lane, category).await;
                Ok(())
            }
        }
    }

    /// The configured Cognito regions.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.cognito.keys().map(String::as_str)
    }

    fn cognito(&self, region: &str) -> Result<&aws_sdk_cognitoidentityprovider::Client, AwsError> {
        self.cognito.get(region).ok_or_else(|| {
            AwsError::Transport(format!(
                "region {region} is not configured for account {}",
                self.account.name
            ))
        })
    }
}

/// The role's credentials as the SDK asks for them.
#[derive(Debug)]
struct RoleProvider(Arc<RoleCredentials>);

impl aws_credential_types::provider::ProvideCredentials for RoleProvider {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

fn cognito_client(
    sdk_config: &aws_config::SdkConfig,
    region: &str,
    credentials: Option<aws_credential_types::Credentials>,
) -> aws_sdk_cognitoidentityprovider::Client {
    let mut config = aws_sdk_cognitoidentityprovider::config::Builder::from(sdk_config)
        .region(Region::new(region.to_owned()))
        .interceptor(metered::Metered);
    if let Some(credentials) = credentials {
        config = config.credentials_provider(credentials);
    }
    aws_sdk_cognitoidentityprovider::Client::from_conf(config.build())
}

fn base_loader(settings: &Settings) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.aws_max_attempts));
    if let Some(url) = &settings.aws_endpoint_url {
        loader = loader.endpoint_url(url);
        // An emulator takes any credentials; do not make a user invent some.
        let has_credentials = [
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !has_credentials {
            loader = loader.credentials_provider(
                aws_sdk_cognitoidentityprovider::config::Credentials::new(
                    "certdeck",
                    "certdeck",
                    None,
                    None,
                    "certdeck-endpoint",
                ),
            );
        }
    }
    loader
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str) -> AwsError {
        AwsError::Service {
            code: code.into(),
            message: "m".into(),
            request_id: Some("r-1".into()),
        }
    }

    #[test]
    fn unclear_outcomes_are_transport_and_aws_side_failures() {
        assert!(AwsError::Transport("reset".into()).is_unclear());
        for code in [
            "InternalErrorException",
            "InternalFailure",
            "ServiceUnavailable",
        ] {
            assert!(service(code).is_unclear(), "{code}");
        }
        for code in [
            "InvalidParameterException",
            "NotAuthorizedException",
            "ResourceNotFoundException",
            "TooManyRequestsException",
            // AWS refused these outright: nothing was applied.
            "ConcurrentModificationException",
            "OperationNotEnabledException",
        ] {
            assert!(!service(code).is_unclear(), "{code}");
        }
        let busy = AwsError::QuotaBusy {
            wait: Duration::from_secs(9),
        };
        assert!(!busy.is_unclear(), "nothing was sent");
    }

    #[test]
    fn a_missing_credential_is_told_in_words_without_the_sdk_debug_text() {
        use aws_sdk_cognitoidentityprovider::error::SdkError;
        let missing = aws_credential_types::provider::error::CredentialsError::not_loaded(
            "no credentials found in chain",
        );
        let error: SdkError<std::io::Error, ()> = SdkError::dispatch_failure(
            aws_sdk_cognitoidentityprovider::error::ConnectorError::other(Box::new(missing), None),
        );
        let causes = cause_chain(&error);
        let words = transport_in_words(&error, &causes);
        assert!(
            words.starts_with("certdeck found no AWS credentials"),
            "{words}"
        );
        assert!(
            words.contains("set a profile or keys, see README"),
            "{words}"
        );
        let page = AwsError::Transport(words).for_people();
        assert!(
            !page.contains("DispatchFailure") && !page.contains("ConnectorError"),
            "{page}"
        );
    }

    #[test]
    fn instance_metadata_without_credentials_is_told_in_words() {
        use aws_sdk_cognitoidentityprovider::error::SdkError;
        let refused = aws_credential_types::provider::error::CredentialsError::provider_error(
            "failed to load IMDS session token: request forbidden",
        );
        let error: SdkError<std::io::Error, ()> = SdkError::dispatch_failure(
            aws_sdk_cognitoidentityprovider::error::ConnectorError::other(Box::new(refused), None),
        );
        let words = transport_in_words(&error, &cause_chain(&error));
        assert!(
            words.starts_with("certdeck found no AWS credentials"),
            "{words}"
        );
        assert!(words.contains("request forbidden"), "{words}");
    }

    #[test]
    fn each_error_has_plain_words() {
        let cases = [
            (
                service("InvalidParameterException"),
                "refused the request as invalid",
            ),
            (service("AccessDeniedException"), "not allowed to do this"),
            (service("NotAuthorizedException"), "not allowed to do this"),
            (
                service("ResourceNotFoundException"),
                "does not know this user pool",
            ),
            (service("ThrottlingException"), "throttling"),
            (service("TooManyRequestsException"), "throttling"),
            (service("InternalErrorException"), "internal error"),
            (
                service("ConcurrentModificationException"),
                "the domain is being changed right now; wait until it is ACTIVE",
            ),
            (
                service("OperationNotEnabledException"),
                "this region holds a replica of the pool; change it in the primary region",
            ),
            (service("SomethingNew"), "AWS refused the request."),
            (AwsError::Transport("reset".into()), "could not be reached"),
            (
                AwsError::QuotaBusy {
                    wait: Duration::from_secs(9),
                },
                "Nothing was sent",
            ),
        ];
        for (error, words) in cases {
            assert!(error.plain_words().contains(words), "{error}: {words}");
        }
    }

    #[test]
    fn code_and_message_name_what_happened() {
        assert_eq!(
            service("InvalidParameterException").code_and_message(),
            ("InvalidParameterException".into(), "m".into())
        );
        assert_eq!(
            AwsError::Transport("reset".into()).code_and_message().0,
            "Unreachable"
        );
        let busy = AwsError::QuotaBusy {
            wait: Duration::from_secs(9),
        };
        assert_eq!(busy.code_and_message().0, "QuotaBusy");
    }
}
