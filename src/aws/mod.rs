//! AWS SDK wrappers: Cognito per configured region and ACM in us-east-1, built once from
//! one configuration, paced under AWS's quotas, with AWS errors mapped to `AwsError`.

mod acm;
mod cognito;
mod limiter;
mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::operation::RequestId;

pub use acm::CertificateDetail;
pub use cognito::{DomainSettings, UpdateReceipt};
pub use limiter::{Category, RateLimiter};
pub use model::{CertificateSummary, DomainDescription, PoolDetail, PoolSummary};

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
}

impl AwsError {
    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Service { code, .. } => Some(code),
            AwsError::Transport(_) => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            AwsError::Service { request_id, .. } => request_id.as_deref(),
            AwsError::Transport(_) => None,
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

/// The SDK clients certdeck uses, built once.
#[derive(Clone)]
pub struct AwsClients {
    cognito: Arc<BTreeMap<String, aws_sdk_cognitoidentityprovider::Client>>,
    acm: aws_sdk_acm::Client,
    limiter: Arc<RateLimiter>,
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
        })
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
