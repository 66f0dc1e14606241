//! What certdeck reads from AWS, in its own types (stored in the inventory snapshot).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{
    CertificateStatus, CertificateType, DomainStatus, KeyAlgorithm, KeyPairOrigin, ManagedBy,
    RenewalEligibility, RenewalOutlook, RenewalStatus, SecurityPolicy,
};

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
    /// The failover's secondary region (`Routing.Failover.SecondaryRegion`).
    #[serde(default)]
    pub routing_secondary_region: Option<String>,
    /// The failover's Route 53 health check of the primary region
    /// (`Routing.Failover.PrimaryRoute53HealthCheckId`).
    #[serde(default)]
    pub routing_health_check_id: Option<String>,
}

impl DomainDescription {
    /// The security policy, when AWS reported one.
    pub fn security_policy_value(&self) -> Option<AwsValue<SecurityPolicy>> {
        self.security_policy.as_deref().map(AwsValue::parse)
    }

    /// Whether the domain allows a TLS policy AWS discourages (TLS_V1).
    pub fn security_policy_discouraged(&self) -> bool {
        self.security_policy_value()
            .and_then(|p| p.known())
            .is_some_and(SecurityPolicy::discouraged)
    }
}

/// An ACM certificate as ListCertificates summarises it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateSummary {
    pub arn: String,
    pub domain_name: Option<String>,
    /// Its names; complete unless `more_names` (then only the first 100).
    pub names: Vec<String>,
    pub more_names: bool,
    pub status: Option<AwsValue<CertificateStatus>>,
    pub certificate_type: Option<AwsValue<CertificateType>>,
    pub key_algorithm: Option<AwsValue<KeyAlgorithm>>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_after: Option<OffsetDateTime>,
    pub in_use: Option<bool>,
    /// Where its key pair comes from (AWS_MANAGED, CUSTOMER_PROVIDED, ACME).
    #[serde(default)]
    pub origin: Option<AwsValue<KeyPairOrigin>>,
    /// The service that manages it on its own (CLOUDFRONT), if any.
    #[serde(default)]
    pub managed_by: Option<AwsValue<ManagedBy>>,
    #[serde(default)]
    pub renewal_eligibility: Option<AwsValue<RenewalEligibility>>,
    /// From DescribeCertificate (`RenewalSummary.RenewalStatus`); read for certificates
    /// in use only, `None` otherwise or when ACM has no renewal under way.
    #[serde(default)]
    pub renewal_status: Option<AwsValue<RenewalStatus>>,
    /// The resources that use it (DescribeCertificate's `InUseBy`): `None` when not
    /// read, empty when ACM says nothing uses it.
    #[serde(default)]
    pub in_use_by: Option<Vec<String>>,
}

impl CertificateSummary {
    /// The origin in the operator's words (`None`: ACM did not say).
    pub fn origin_label(&self) -> Option<String> {
        self.origin.as_ref().map(|o| match o.known() {
            Some(origin) => origin.label().to_owned(),
            None => o.to_string(),
        })
    }

    /// The caution to show when another service manages the certificate.
    pub fn caution(&self) -> Option<String> {
        self.managed_by.as_ref().map(|m| match m.known() {
            Some(by) => by.caution().to_owned(),
            None => format!("caution: managed by {m}"),
        })
    }

    /// Whether the certificate was imported (ACM never renews those).
    pub fn imported(&self) -> bool {
        self.certificate_type.as_ref().and_then(AwsValue::known) == Some(CertificateType::Imported)
    }

    /// Whether it renews by itself, from what ACM reported.
    pub fn renewal(&self) -> RenewalOutlook {
        RenewalOutlook::of(
            self.certificate_type.as_ref().and_then(AwsValue::known),
            self.renewal_eligibility.as_ref().and_then(AwsValue::known),
            self.renewal_status.as_ref().and_then(AwsValue::known),
        )
    }
}

/// One of the domain's enums as AWS reported it, with an arm for values AWS adds later
/// (parsed here, at the SDK's edge, and nowhere else). Stored as AWS's own spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsValue<T> {
    Known(T),
    /// A value certdeck does not know yet, as AWS spelled it.
    Other(String),
}

/// An enum of the domain with the API's spelling of each value.
pub trait ApiEnum: Copy + std::str::FromStr {
    fn api_str(self) -> &'static str;
}

impl ApiEnum for CertificateStatus {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for CertificateType {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for KeyAlgorithm {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for KeyPairOrigin {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for ManagedBy {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for RenewalEligibility {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for RenewalStatus {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl ApiEnum for SecurityPolicy {
    fn api_str(self) -> &'static str {
        self.as_str()
    }
}

impl<T: ApiEnum> AwsValue<T> {
    pub fn parse(s: &str) -> Self {
        s.parse()
            .map_or_else(|_| AwsValue::Other(s.to_owned()), AwsValue::Known)
    }

    /// The value, when certdeck knows it.
    pub fn known(&self) -> Option<T> {
        match self {
            AwsValue::Known(value) => Some(*value),
            AwsValue::Other(_) => None,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AwsValue::Known(value) => value.api_str(),
            AwsValue::Other(s) => s,
        }
    }
}

impl<T: ApiEnum> std::fmt::Display for AwsValue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<T: ApiEnum> Serialize for AwsValue<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de, T: ApiEnum> Deserialize<'de> for AwsValue<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(AwsValue::parse(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_parse_and_new_ones_are_kept_as_spelled() {
        assert_eq!(
            AwsValue::<CertificateStatus>::parse("ISSUED"),
            AwsValue::Known(CertificateStatus::Issued)
        );
        assert_eq!(
            AwsValue::<CertificateType>::parse("IMPORTED").known(),
            Some(CertificateType::Imported)
        );
        // DescribeCertificate's spelling reads as ListCertificates' one.
        let key = AwsValue::<KeyAlgorithm>::parse("RSA-2048");
        assert_eq!(key.known(), Some(KeyAlgorithm::Rsa2048));
        assert_eq!(key.to_string(), "RSA_2048");
        let new = AwsValue::<KeyAlgorithm>::parse("ML_DSA_65");
        assert_eq!(new, AwsValue::Other("ML_DSA_65".into()));
        assert_eq!(new.known(), None);
        assert_eq!(new.to_string(), "ML_DSA_65");
    }

    #[test]
    fn snapshots_stored_before_the_2026_fields_still_load() {
        let stored = r#"{"arn":"arn:aws:acm:us-east-1:123456789012:certificate/a","domain_name":"auth.example.com","names":["auth.example.com"],"more_names":false,"status":"ISSUED","certificate_type":"IMPORTED","key_algorithm":"RSA_2048","not_before":null,"not_after":null,"in_use":true}"#;
        let certificate: CertificateSummary = serde_json::from_str(stored).unwrap();
        assert_eq!(certificate.origin, None);
        assert_eq!(certificate.in_use_by, None);
        assert!(certificate.imported());
        assert!(!certificate.renewal().renews_by_itself());
        let stored = r#"{"domain":"auth.example.com","user_pool_id":null,"aws_account_id":null,"s3_bucket":null,"cloudfront_distribution":null,"version":null,"status":"ACTIVE","certificate_arn":null,"security_policy":"TLS_V1","managed_login_version":null,"routing_configured":false}"#;
        let domain: DomainDescription = serde_json::from_str(stored).unwrap();
        assert_eq!(domain.routing_secondary_region, None);
        assert!(domain.security_policy_discouraged());
    }

    #[test]
    fn they_are_stored_as_aws_spells_them() {
        let values = vec![
            AwsValue::Known(CertificateStatus::PendingValidation),
            AwsValue::Other("SOMETHING_NEW".into()),
        ];
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(json, r#"["PENDING_VALIDATION","SOMETHING_NEW"]"#);
        let back: Vec<AwsValue<CertificateStatus>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, values);
    }
}
