//! What certdeck reads from AWS, in its own types (stored in the inventory snapshot).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::DomainStatus;

/// A pool as ListUserPools gives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolSummary {
    pub id: String,
    pub name: String,
}

/// A pool as DescribeUserPool gives it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolDetail {
    pub id: String,
    pub name: String,
    pub arn: Option<String>,
    pub prefix_domain: Option<String>,
    pub custom_domain: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// DescribeUserPoolDomain's DomainDescription; fields a backend omits stay `None`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DomainDescription {
    pub domain: String,
    pub user_pool_id: Option<String>,
    pub aws_account_id: Option<String>,
    pub s3_bucket: Option<String>,
    pub cloudfront_distribution: Option<String>,
    pub version: Option<String>,
    pub status: Option<DomainStatus>,
    pub certificate_arn: Option<String>,
    pub security_policy: Option<String>,
    pub managed_login_version: Option<i32>,
    /// Whether the domain has a Routing (failover) configuration.
    pub routing_configured: bool,
}

/// An ACM certificate as ListCertificates summarises it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateSummary {
    pub arn: String,
    pub domain_name: Option<String>,
    /// Its names; complete unless `more_names` (then only the first 100).
    pub names: Vec<String>,
    pub more_names: bool,
    pub status: Option<String>,
    pub certificate_type: Option<String>,
    pub key_algorithm: Option<String>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_after: Option<OffsetDateTime>,
    pub in_use: Option<bool>,
}
