//! Setting up the sandbox for a benchmark: pools with custom domains.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType;
use certdeck::aws::Category;
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed, Timings};
use futures_util::StreamExt;

/// A sandbox with no pools, no quotas and no latency. Its certificates are issued at
/// once (so that domains can be made on them) and a change is distributed in
/// `propagation`.
#[allow(dead_code)] // not every bench uses it
pub async fn empty_sandbox(propagation: std::time::Duration) -> anyhow::Result<Sandbox> {
    Sandbox::start(
        SandboxOptions {
            seed: Seed::Empty,
            timings: Timings {
                propagation,
                validation: std::time::Duration::ZERO,
            },
            latency: std::time::Duration::ZERO,
            quota_scale: 0.0,
        },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await
}

/// The SDK's configuration for the sandbox at `url` (us-east-1, retrying throttles).
pub async fn sdk_config(url: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("bench-setup", "x", None, None, "bench"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .load()
        .await
}

/// A new `*.bench.example` certificate; its ARN.
pub async fn wildcard_certificate(config: &aws_config::SdkConfig) -> anyhow::Result<String> {
    Ok(aws_sdk_acm::Client::new(config)
        .request_certificate()
        .domain_name("*.bench.example")
        .send()
        .await?
        .certificate_arn()
        .unwrap_or_default()
        .to_owned())
}

/// `pools` pools, each with a custom domain on one wildcard certificate (its ARN is
/// returned), paced under the sandbox's quotas × `quota_scale`.
#[allow(dead_code)] // not every bench uses both
pub async fn populate(url: &str, pools: usize, quota_scale: f64) -> anyhow::Result<String> {
    populate_range(url, 0..pools, quota_scale).await
}

/// Pools numbered `range` (named `bench NNNN`, domains `pNNNN.bench.example`), so that
/// a benchmark can add pools to those it made before.
pub async fn populate_range(
    url: &str,
    range: std::ops::Range<usize>,
    quota_scale: f64,
) -> anyhow::Result<String> {
    let config = sdk_config(url).await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let arn = wildcard_certificate(&config).await?;
    // Paced under the sandbox's quotas (CreateUserPoolDomain: 150 a second at x10).
    let pace = std::sync::Arc::new(certdeck::aws::RateLimiter::new(quota_scale * 0.9));
    let results = futures_util::stream::iter(range)
        .map(|i| {
            let cognito = cognito.clone();
            let arn = arn.clone();
            let pace = pace.clone();
            async move {
                pace.acquire("setup-pools", Category::UserPoolResourceUpdate)
                    .await;
                let created = cognito
                    .create_user_pool()
                    .pool_name(format!("bench {i:04}"))
                    .send()
                    .await?;
                let id = created
                    .user_pool()
                    .and_then(|p| p.id())
                    .unwrap_or_default()
                    .to_owned();
                pace.acquire("setup-domains", Category::UserPoolResourceUpdate)
                    .await;
                cognito
                    .create_user_pool_domain()
                    .domain(format!("p{i:04}.bench.example"))
                    .user_pool_id(id)
                    .custom_domain_config(
                        CustomDomainConfigType::builder()
                            .certificate_arn(arn)
                            .build()?,
                    )
                    .send()
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(arn)
}
