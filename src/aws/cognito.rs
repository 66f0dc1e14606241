//! Cognito reads.

use std::collections::BTreeMap;

use super::model::{DomainDescription, PoolDetail, PoolSummary};
use super::{AwsClients, AwsError, Category};
use crate::domain::DomainStatus;

/// ListUserPools' largest page.
const PAGE_SIZE: i32 = 60;

impl AwsClients {
    /// One page of ListUserPools (60 pools) and the token of the next.
    pub async fn list_user_pools_page(
        &self,
        region: &str,
        next_token: Option<String>,
    ) -> Result<(Vec<PoolSummary>, Option<String>), AwsError> {
        let client = self.cognito(region)?;
        self.pace(region, Category::UserPoolRead).await?;
        let page = client
            .list_user_pools()
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        let pools = page
            .user_pools()
            .iter()
            .filter_map(|p| {
                Some(PoolSummary {
                    id: p.id()?.to_owned(),
                    name: p.name().unwrap_or_default().to_owned(),
                })
            })
            .collect();
        Ok((pools, page.next_token().map(str::to_owned)))
    }

    pub async fn describe_user_pool(
        &self,
        region: &str,
        pool_id: &str,
    ) -> Result<PoolDetail, AwsError> {
        let client = self.cognito(region)?;
        self.pace(region, Category::UserPoolRead).await?;
        let out = client
            .describe_user_pool()
            .user_pool_id(pool_id)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        let pool = out
            .user_pool()
            .ok_or_else(|| AwsError::Transport("DescribeUserPool returned no pool".into()))?;
        let mut prefix_domain = pool.domain().map(str::to_owned);
        let mut custom_domain = pool.custom_domain().map(str::to_owned);
        // Some backends (moto) report a custom domain in `Domain`; a prefix never has a dot.
        if custom_domain.is_none() && prefix_domain.as_deref().is_some_and(|d| d.contains('.')) {
            custom_domain = prefix_domain.take();
        }
        Ok(PoolDetail {
            id: pool.id().unwrap_or(pool_id).to_owned(),
            name: pool.name().unwrap_or_default().to_owned(),
            arn: pool.arn().map(str::to_owned),
            prefix_domain,
            custom_domain,
            tags: pool
                .user_pool_tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_else(BTreeMap::new),
        })
    }

    /// A user pool's tags as AWS holds them now (ListTagsForResource), read fresh: who
    /// owns a pool is decided from them at the moment of a change.
    pub async fn pool_tags(
        &self,
        region: &str,
        pool_arn: &str,
    ) -> Result<BTreeMap<String, String>, AwsError> {
        let client = self.cognito(region)?;
        self.pace(region, Category::UserPoolResourceRead).await?;
        let out = client
            .list_tags_for_resource()
            .resource_arn(pool_arn)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        Ok(out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    /// DescribeUserPoolDomain, paced; `None` when the answer has no description.
    async fn describe_domain(
        &self,
        region: &str,
        domain: &str,
    ) -> Result<Option<aws_sdk_cognitoidentityprovider::types::DomainDescriptionType>, AwsError>
    {
        let client = self.cognito(region)?;
        self.pace(region, Category::UserPoolResourceRead).await?;
        let out = client
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        Ok(out.domain_description)
    }

    /// The description of `domain`; `None` for a domain AWS does not know.
    pub async fn describe_user_pool_domain(
        &self,
        region: &str,
        domain: &str,
    ) -> Result<Option<DomainDescription>, AwsError> {
        let Some(d) = self.describe_domain(region, domain).await? else {
            return Ok(None);
        };
        if d.domain().is_none() && d.status().is_none() && d.user_pool_id().is_none() {
            return Ok(None);
        }
        let config = d.custom_domain_config();
        Ok(Some(DomainDescription {
            domain: d.domain().unwrap_or(domain).to_owned(),
            user_pool_id: d.user_pool_id().map(str::to_owned),
            aws_account_id: d.aws_account_id().map(str::to_owned),
            s3_bucket: d.s3_bucket().map(str::to_owned),
            cloudfront_distribution: d.cloud_front_distribution().map(str::to_owned),
            version: d.version().map(str::to_owned),
            status: d.status().map(|s| DomainStatus::parse(s.as_str())),
            certificate_arn: config
                .map(|c| c.certificate_arn().to_owned())
                .filter(|a| !a.is_empty()),
            security_policy: config
                .and_then(|c| c.security_policy())
                .map(|p| p.as_str().to_owned()),
            managed_login_version: d.managed_login_version(),
            routing_configured: d.routing().is_some(),
            routing_secondary_region: d
                .routing()
                .and_then(|r| r.failover())
                .map(|f| f.secondary_region().to_owned()),
            routing_health_check_id: d
                .routing()
                .and_then(|r| r.failover())
                .map(|f| f.primary_route53_health_check_id().to_owned()),
        }))
    }
}

/// A custom domain's settings as AWS holds them now, kept in the SDK's own types so
/// that an update carries them over unchanged.
#[derive(Debug, Clone)]
pub struct DomainSettings {
    pub region: String,
    pub domain: String,
    pub user_pool_id: String,
    pub status: Option<DomainStatus>,
    pub certificate_arn: Option<String>,
    pub cloudfront_distribution: Option<String>,
    security_policy: Option<aws_sdk_cognitoidentityprovider::types::SecurityPolicyType>,
    managed_login_version: Option<i32>,
    routing: Option<aws_sdk_cognitoidentityprovider::types::RoutingType>,
}

/// What UpdateUserPoolDomain answered.
#[derive(Debug, Clone)]
pub struct UpdateReceipt {
    pub cloudfront_domain: Option<String>,
    pub request_id: Option<String>,
}

impl AwsClients {
    /// The current settings of a custom domain, read fresh (not from the inventory).
    pub async fn domain_settings(
        &self,
        region: &str,
        domain: &str,
    ) -> Result<Option<DomainSettings>, AwsError> {
        let Some(d) = self.describe_domain(region, domain).await? else {
            return Ok(None);
        };
        let Some(user_pool_id) = d.user_pool_id() else {
            return Ok(None);
        };
        let config = d.custom_domain_config();
        Ok(Some(DomainSettings {
            region: region.to_owned(),
            domain: domain.to_owned(),
            user_pool_id: user_pool_id.to_owned(),
            status: d.status().map(|s| DomainStatus::parse(s.as_str())),
            certificate_arn: config
                .map(|c| c.certificate_arn().to_owned())
                .filter(|a| !a.is_empty()),
            cloudfront_distribution: d.cloud_front_distribution().map(str::to_owned),
            security_policy: config.and_then(|c| c.security_policy()).cloned(),
            managed_login_version: d.managed_login_version(),
            routing: d.routing().cloned(),
        }))
    }

    /// Swaps the certificate of a custom domain and nothing else: the security policy,
    /// managed login version and routing read in `current` are sent back as they were.
    pub async fn update_certificate(
        &self,
        current: &DomainSettings,
        certificate_arn: &str,
    ) -> Result<UpdateReceipt, AwsError> {
        let client = self.cognito(&current.region)?;
        let request = current.update_request(certificate_arn)?;
        self.pace(&current.region, Category::UserPoolResourceUpdate)
            .await?;
        let out = client
            .update_user_pool_domain()
            .domain(request.domain)
            .user_pool_id(request.user_pool_id)
            .custom_domain_config(request.custom_domain_config)
            .set_managed_login_version(request.managed_login_version)
            .set_routing(request.routing)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        use aws_sdk_cognitoidentityprovider::operation::RequestId;
        Ok(UpdateReceipt {
            cloudfront_domain: out.cloud_front_domain().map(str::to_owned),
            request_id: out.request_id().map(str::to_owned),
        })
    }
}

/// The members of one `UpdateUserPoolDomain` request, built in one place for both the
/// call and the confirmation page's rendering of it, so that the two cannot drift.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    pub domain: String,
    pub user_pool_id: String,
    pub custom_domain_config: aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType,
    pub managed_login_version: Option<i32>,
    pub routing: Option<aws_sdk_cognitoidentityprovider::types::RoutingType>,
}

impl UpdateRequest {
    /// The request as it goes on the wire (AWS JSON member names); absent members are
    /// left out, as the SDK leaves them out.
    pub fn to_json(&self) -> serde_json::Value {
        let mut config = serde_json::Map::new();
        config.insert(
            "CertificateArn".into(),
            self.custom_domain_config.certificate_arn().into(),
        );
        if let Some(policy) = self.custom_domain_config.security_policy() {
            config.insert("SecurityPolicy".into(), policy.as_str().into());
        }
        let mut request = serde_json::Map::new();
        request.insert("Domain".into(), self.domain.clone().into());
        request.insert("UserPoolId".into(), self.user_pool_id.clone().into());
        request.insert("CustomDomainConfig".into(), config.into());
        if let Some(version) = self.managed_login_version {
            request.insert("ManagedLoginVersion".into(), version.into());
        }
        if let Some(routing) = &self.routing {
            let mut value = serde_json::Map::new();
            if let Some(failover) = routing.failover() {
                value.insert(
                    "Failover".into(),
                    serde_json::json!({
                        "PrimaryRoute53HealthCheckId": failover.primary_route53_health_check_id(),
                        "SecondaryRegion": failover.secondary_region(),
                    }),
                );
            }
            request.insert("Routing".into(), value.into());
        }
        request.into()
    }
}

impl DomainSettings {
    /// The request that swaps the certificate for `certificate_arn` and carries every
    /// other setting read here over unchanged.
    pub fn update_request(&self, certificate_arn: &str) -> Result<UpdateRequest, AwsError> {
        let config = aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
            .certificate_arn(certificate_arn)
            .set_security_policy(self.security_policy.clone())
            .build()
            .map_err(|e| AwsError::Transport(format!("building the request: {e}")))?;
        Ok(UpdateRequest {
            domain: self.domain.clone(),
            user_pool_id: self.user_pool_id.clone(),
            custom_domain_config: config,
            managed_login_version: self.managed_login_version,
            routing: self.routing.clone(),
        })
    }

    /// The security policy read, as AWS names it.
    pub fn security_policy(&self) -> Option<&str> {
        self.security_policy.as_ref().map(|p| p.as_str())
    }

    pub fn managed_login_version(&self) -> Option<i32> {
        self.managed_login_version
    }

    /// The failover routing read: its secondary region and health check.
    pub fn routing_failover(&self) -> Option<(&str, &str)> {
        self.routing
            .as_ref()
            .and_then(|r| r.failover())
            .map(|f| (f.secondary_region(), f.primary_route53_health_check_id()))
    }

    pub fn routing_configured(&self) -> bool {
        self.routing.is_some()
    }
}
