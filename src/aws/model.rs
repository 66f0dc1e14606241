//! What certdeck reads from AWS, in its own types (stored in the inventory snapshot).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{CertificateStatus, CertificateType, DomainStatus, KeyAlgorithm};

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
    pub status: Option<AwsValue<CertificateStatus>>,
    pub certificate_type: Option<AwsValue<CertificateType>>,
    pub key_algorithm: Option<AwsValue<KeyAlgorithm>>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::timestamp::option")]
    pub not_after: Option<OffsetDateTime>,
    pub in_use: Option<bool>,
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
