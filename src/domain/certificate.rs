use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

use super::domain_name::{DomainName, name_covers};

/// The only region whose ACM certificates CloudFront, and so Cognito, can use.
pub const CLOUDFRONT_CERTIFICATE_REGION: &str = "us-east-1";

/// ACM's key algorithms. ACM spells them `RSA_2048` in ListCertificates and `RSA-2048`
/// in DescribeCertificate; both parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    Rsa1024,
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcPrime256v1,
    EcSecp384r1,
    EcSecp521r1,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 7] = [
        KeyAlgorithm::Rsa1024,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::EcPrime256v1,
        KeyAlgorithm::EcSecp384r1,
        KeyAlgorithm::EcSecp521r1,
    ];

    /// The API's enum value (`RSA_2048`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa1024 => "RSA_1024",
            KeyAlgorithm::Rsa2048 => "RSA_2048",
            KeyAlgorithm::Rsa3072 => "RSA_3072",
            KeyAlgorithm::Rsa4096 => "RSA_4096",
            KeyAlgorithm::EcPrime256v1 => "EC_prime256v1",
            KeyAlgorithm::EcSecp384r1 => "EC_secp384r1",
            KeyAlgorithm::EcSecp521r1 => "EC_secp521r1",
        }
    }

    /// The spelling DescribeCertificate uses (`RSA-2048`).
    pub fn detail_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Rsa1024 => "RSA-1024",
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
            KeyAlgorithm::EcPrime256v1 => "EC-prime256v1",
            KeyAlgorithm::EcSecp384r1 => "EC-secp384r1",
            KeyAlgorithm::EcSecp521r1 => "EC-secp521r1",
        }
    }

    /// Whether CloudFront serves it and certdeck accepts its strength.
    pub fn usable_by_cloudfront(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048
                | KeyAlgorithm::Rsa3072
                | KeyAlgorithm::Rsa4096
                | KeyAlgorithm::EcPrime256v1
        )
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normalised = s.replace('-', "_");
        KeyAlgorithm::ALL
            .into_iter()
            .find(|k| k.as_str() == normalised)
            .ok_or_else(|| format!("unknown key algorithm {s:?}"))
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who issued a certificate, as ACM says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateType {
    AmazonIssued,
    Imported,
    Private,
}

impl CertificateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateType::AmazonIssued => "AMAZON_ISSUED",
            CertificateType::Imported => "IMPORTED",
            CertificateType::Private => "PRIVATE",
        }
    }
}

impl FromStr for CertificateType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "AMAZON_ISSUED" => Ok(CertificateType::AmazonIssued),
            "IMPORTED" => Ok(CertificateType::Imported),
            "PRIVATE" => Ok(CertificateType::Private),
            other => Err(format!("unknown certificate type {other:?}")),
        }
    }
}

/// ACM's certificate status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateStatus {
    PendingValidation,
    Issued,
    Inactive,
    Expired,
    ValidationTimedOut,
    Revoked,
    Failed,
}

impl CertificateStatus {
    pub const ALL: [CertificateStatus; 7] = [
        CertificateStatus::PendingValidation,
        CertificateStatus::Issued,
        CertificateStatus::Inactive,
        CertificateStatus::Expired,
        CertificateStatus::ValidationTimedOut,
        CertificateStatus::Revoked,
        CertificateStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateStatus::PendingValidation => "PENDING_VALIDATION",
            CertificateStatus::Issued => "ISSUED",
            CertificateStatus::Inactive => "INACTIVE",
            CertificateStatus::Expired => "EXPIRED",
            CertificateStatus::ValidationTimedOut => "VALIDATION_TIMED_OUT",
            CertificateStatus::Revoked => "REVOKED",
            CertificateStatus::Failed => "FAILED",
        }
    }
}

impl FromStr for CertificateStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CertificateStatus::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown certificate status {s:?}"))
    }
}

/// What eligibility needs to know of an ACM certificate.
#[derive(Debug, Clone)]
pub struct CertificateFacts<'a> {
    pub arn: &'a str,
    pub status: CertificateStatus,
    pub certificate_type: CertificateType,
    pub key_algorithm: KeyAlgorithm,
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    /// Every name of the certificate (its SANs, which include the domain name).
    pub names: &'a [String],
}

/// One reason a certificate cannot serve a Cognito custom domain, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ineligibility {
    WrongRegion(String),
    NotIssued(CertificateStatus),
    NotYetValid(OffsetDateTime),
    Expired(OffsetDateTime),
    PrivateCa,
    WeakKey(KeyAlgorithm),
    KeyNotSupportedByCloudFront(KeyAlgorithm),
    DoesNotCover(String),
}

impl fmt::Display for Ineligibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ineligibility::WrongRegion(region) => write!(
                f,
                "the certificate is in {region}; CloudFront only uses certificates in {CLOUDFRONT_CERTIFICATE_REGION}"
            ),
            Ineligibility::NotIssued(status) => {
                write!(f, "the certificate is {}, not ISSUED", status.as_str())
            }
            Ineligibility::NotYetValid(at) => {
                write!(f, "the certificate is not valid before {}", at.date())
            }
            Ineligibility::Expired(at) => write!(f, "the certificate expired on {}", at.date()),
            Ineligibility::PrivateCa => {
                f.write_str("the certificate is from a private CA; browsers do not trust it")
            }
            Ineligibility::WeakKey(key) => {
                write!(
                    f,
                    "the key algorithm {key} is too weak (at least RSA_2048 needed)"
                )
            }
            Ineligibility::KeyNotSupportedByCloudFront(key) => {
                write!(f, "CloudFront does not support the key algorithm {key}")
            }
            Ineligibility::DoesNotCover(domain) => {
                write!(f, "none of the certificate's names covers {domain}")
            }
        }
    }
}

/// The region part of an ACM certificate ARN, if it is one.
pub fn certificate_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_partition), Some("acm"), Some(region)) if !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

/// Every reason `facts` cannot serve `domain` at `now` (PRODUCT.md §1); empty when it can.
pub fn check_eligibility(
    facts: &CertificateFacts<'_>,
    domain: &DomainName,
    now: OffsetDateTime,
) -> Vec<Ineligibility> {
    let mut reasons = Vec::new();
    match certificate_region(facts.arn) {
        Some(CLOUDFRONT_CERTIFICATE_REGION) => {}
        Some(other) => reasons.push(Ineligibility::WrongRegion(other.to_owned())),
        None => reasons.push(Ineligibility::WrongRegion("an unknown region".to_owned())),
    }
    if facts.status != CertificateStatus::Issued {
        reasons.push(Ineligibility::NotIssued(facts.status));
    }
    if let Some(not_before) = facts.not_before
        && now < not_before
    {
        reasons.push(Ineligibility::NotYetValid(not_before));
    }
    if let Some(not_after) = facts.not_after
        && now >= not_after
        && facts.status != CertificateStatus::Expired
    {
        reasons.push(Ineligibility::Expired(not_after));
    } else if facts.status == CertificateStatus::Expired
        && let Some(not_after) = facts.not_after
    {
        // ACM marks it EXPIRED; name the date rather than only the status.
        reasons.retain(|r| *r != Ineligibility::NotIssued(CertificateStatus::Expired));
        reasons.push(Ineligibility::Expired(not_after));
    }
    if facts.certificate_type == CertificateType::Private {
        reasons.push(Ineligibility::PrivateCa);
    }
    match facts.key_algorithm {
        KeyAlgorithm::Rsa1024 => reasons.push(Ineligibility::WeakKey(facts.key_algorithm)),
        k if !k.usable_by_cloudfront() => {
            reasons.push(Ineligibility::KeyNotSupportedByCloudFront(k))
        }
        _ => {}
    }
    if !facts.names.iter().any(|name| name_covers(name, domain)) {
        reasons.push(Ineligibility::DoesNotCover(domain.to_string()));
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn facts<'a>(names: &'a [String]) -> CertificateFacts<'a> {
        let now = OffsetDateTime::now_utc();
        CertificateFacts {
            arn: "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            status: CertificateStatus::Issued,
            certificate_type: CertificateType::AmazonIssued,
            key_algorithm: KeyAlgorithm::Rsa2048,
            not_before: Some(now - Duration::days(1)),
            not_after: Some(now + Duration::days(90)),
            names,
        }
    }

    #[test]
    fn key_algorithms_parse_in_both_spellings() {
        for k in KeyAlgorithm::ALL {
            assert_eq!(k.as_str().parse::<KeyAlgorithm>(), Ok(k));
            assert_eq!(k.detail_str().parse::<KeyAlgorithm>(), Ok(k));
        }
    }

    #[test]
    fn each_rule_gives_its_reason() {
        let names = vec!["auth.example.com".to_owned()];
        let domain = DomainName::parse("auth.example.com").unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(check_eligibility(&facts(&names), &domain, now).is_empty());

        let mut f = facts(&names);
        f.arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc";
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::WrongRegion("eu-west-1".into())]
        );
        let mut f = facts(&names);
        f.status = CertificateStatus::PendingValidation;
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::NotIssued(
                CertificateStatus::PendingValidation
            )]
        );
        let mut f = facts(&names);
        f.not_after = Some(now - Duration::days(1));
        f.status = CertificateStatus::Expired;
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::Expired(now - Duration::days(1))]
        );
        let mut f = facts(&names);
        f.not_before = Some(now + Duration::days(1));
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::NotYetValid(now + Duration::days(1))]
        );
        let mut f = facts(&names);
        f.certificate_type = CertificateType::Private;
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::PrivateCa]
        );
        let mut f = facts(&names);
        f.key_algorithm = KeyAlgorithm::Rsa1024;
        assert_eq!(
            check_eligibility(&f, &domain, now),
            vec![Ineligibility::WeakKey(KeyAlgorithm::Rsa1024)]
        );
        for k in [KeyAlgorithm::EcSecp384r1, KeyAlgorithm::EcSecp521r1] {
            let mut f = facts(&names);
            f.key_algorithm = k;
            assert_eq!(
                check_eligibility(&f, &domain, now),
                vec![Ineligibility::KeyNotSupportedByCloudFront(k)]
            );
        }
        let other = DomainName::parse("login.example.com").unwrap();
        assert_eq!(
            check_eligibility(&facts(&names), &other, now),
            vec![Ineligibility::DoesNotCover("login.example.com".into())]
        );
    }

    #[test]
    fn region_comes_from_the_arn() {
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:123456789012:certificate/x"),
            Some("eu-west-1")
        );
        assert_eq!(certificate_region("arn:aws:s3:::bucket"), None);
        assert_eq!(certificate_region("not an arn"), None);
    }
}

/// ACM's spelling of a serial: lowercase hex bytes separated by colons.
pub fn format_serial(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An ACM certificate ARN: `arn:aws:acm:<region>:<account>:certificate/<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateArn(String);

impl CertificateArn {
    pub fn parse(input: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{input:?} is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"
            )
        };
        let parts: Vec<&str> = input.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(bad());
        };
        let id = resource.strip_prefix("certificate/").ok_or_else(bad)?;
        let ok = *arn == "arn"
            && partition.starts_with("aws")
            && *service == "acm"
            && !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn region(&self) -> &str {
        certificate_region(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for CertificateArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod arn_tests {
    use super::*;

    #[test]
    fn arns_parse_once() {
        let arn = CertificateArn::parse("arn:aws:acm:us-east-1:123456789012:certificate/0a1b-2c3d")
            .unwrap();
        assert_eq!(arn.region(), "us-east-1");
        for bad in [
            "",
            "arn:aws:acm:us-east-1:123456789012:certificate/",
            "arn:aws:s3:::bucket",
            "arn:aws:acm:us-east-1:12345:certificate/x",
            "arn:aws:acm:us-east-1:123456789012:certificate/x\"><script>",
            "arn:aws:acm::123456789012:certificate/x",
        ] {
            assert!(CertificateArn::parse(bad).is_err(), "{bad}");
        }
    }
}
