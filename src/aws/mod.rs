//! AWS SDK wrappers: Cognito per configured region and ACM in us-east-1, built once from
//! one configuration, paced under AWS's quotas, with AWS errors mapped to `AwsError`.

mod acm;
mod cognito;
mod limiter;
mod model;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::operation::RequestId;

pub use acm::CertificateDetail;
pub use cognito::{DomainSettings, UpdateReceipt};
pub use limiter::{Category, QuotaBusy, RateLimiter};
pub use model::{
    ApiEnum, AwsValue, CertificateSummary, DomainDescription, PoolDetail, PoolSummary,
};

use crate::configuration::Settings;
use crate::domain::CLOUDFRONT_CERTIFICATE_REGION;

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
            None => "AWS could not be reached.".into(),
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
            None => AwsError::Transport(format!(
                "{}",
                aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(&error)
            )),
        }
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

/// The SDK clients certdeck uses, built once.
#[derive(Clone)]
pub struct AwsClients {
    cognito: Arc<BTreeMap<String, aws_sdk_cognitoidentityprovider::Client>>,
    acm: aws_sdk_acm::Client,
    limiter: Arc<RateLimiter>,
    /// The longest wait for a pacing slot; `None`: as long as it takes (background work).
    max_wait: Option<Duration>,
}

impl AwsClients {
    /// Clients for every configured region (the SDK's own region when none is set).
    pub async fn new(settings: &Settings) -> anyhow::Result<Self> {
        let regions: Vec<String> =
            if settings.regions.is_empty() {
                // Only then ask the SDK's region chain (which may probe instance metadata).
                let base = base_loader(settings).load().await;
                vec![base.region().map(|r| r.to_string()).ok_or_else(|| {
                    anyhow::anyhow!("no region: set CERTDECK_REGIONS or AWS_REGION")
                })?]
            } else {
                settings.regions.clone()
            };
        let mut cognito = BTreeMap::new();
        for region in &regions {
            let config = base_loader(settings)
                .region(Region::new(region.clone()))
                .load()
                .await;
            cognito.insert(
                region.clone(),
                aws_sdk_cognitoidentityprovider::Client::new(&config),
            );
        }
        let acm_config = base_loader(settings)
            .region(Region::new(CLOUDFRONT_CERTIFICATE_REGION))
            .load()
            .await;
        Ok(Self {
            cognito: Arc::new(cognito),
            acm: aws_sdk_acm::Client::new(&acm_config),
            limiter: Arc::new(RateLimiter::new(settings.aws_quota_scale)),
            max_wait: None,
        })
    }

    /// The same clients and pacing for calls a person waits on: a call whose slot is
    /// more than `INTERACTIVE_MAX_WAIT` away fails at once instead of queueing.
    pub fn interactive(&self) -> Self {
        Self {
            max_wait: Some(INTERACTIVE_MAX_WAIT),
            ..self.clone()
        }
    }

    /// Waits for a pacing slot of `category` in `region`.
    async fn pace(&self, region: &str, category: Category) -> Result<(), AwsError> {
        match self.max_wait {
            Some(max_wait) => Ok(self
                .limiter
                .acquire_within(region, category, max_wait)
                .await?),
            None => {
                self.limiter.acquire(region, category).await;
                Ok(())
            }
        }
    }

    /// The configured Cognito regions.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.cognito.keys().map(String::as_str)
    }

    fn cognito(&self, region: &str) -> Result<&aws_sdk_cognitoidentityprovider::Client, AwsError> {
        self.cognito
            .get(region)
            .ok_or_else(|| AwsError::Transport(format!("region {region} is not configured")))
    }
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
