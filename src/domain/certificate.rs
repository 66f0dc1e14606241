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

/// Where a certificate's key pair comes from (ACM's `CertificateKeyPairOrigin`, 2026-06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPairOrigin {
    /// ACM made the key (a certificate ACM issued).
    AwsManaged,
    /// The customer brought the key (an imported certificate).
    CustomerProvided,
    /// Issued through ACM's ACME endpoint to an ACME client.
    Acme,
}

impl KeyPairOrigin {
    /// Every origin: ListCertificates leaves ACME certificates out unless it is asked
    /// for them, so certdeck always asks for all of these.
    pub const ALL: [KeyPairOrigin; 3] = [
        KeyPairOrigin::AwsManaged,
        KeyPairOrigin::CustomerProvided,
        KeyPairOrigin::Acme,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyPairOrigin::AwsManaged => "AWS_MANAGED",
            KeyPairOrigin::CustomerProvided => "CUSTOMER_PROVIDED",
            KeyPairOrigin::Acme => "ACME",
        }
    }

    /// The origin in the operator's words.
    pub fn label(self) -> &'static str {
        match self {
            KeyPairOrigin::AwsManaged => "issued by ACM",
            KeyPairOrigin::CustomerProvided => "imported",
            KeyPairOrigin::Acme => "issued through ACME",
        }
    }
}

impl FromStr for KeyPairOrigin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyPairOrigin::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown key pair origin {s:?}"))
    }
}

/// The service that manages a certificate on its own (ACM's `ManagedBy`, 2025-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManagedBy {
    CloudFront,
}

impl ManagedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagedBy::CloudFront => "CLOUDFRONT",
        }
    }

    /// What an operator should know before using such a certificate for a Cognito
    /// domain. AWS does not refuse it, so certdeck offers it too, with this caution.
    pub fn caution(self) -> &'static str {
        match self {
            ManagedBy::CloudFront => {
                "caution: managed by CloudFront for its own distributions, which may renew, replace or delete it without regard to this domain"
            }
        }
    }
}

impl FromStr for ManagedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CLOUDFRONT" => Ok(ManagedBy::CloudFront),
            other => Err(format!("unknown manager {other:?}")),
        }
    }
}

/// Whether ACM can renew a certificate by itself (`RenewalEligibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenewalEligibility {
    Eligible,
    Ineligible,
}

impl RenewalEligibility {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewalEligibility::Eligible => "ELIGIBLE",
            RenewalEligibility::Ineligible => "INELIGIBLE",
        }
    }
}

impl FromStr for RenewalEligibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ELIGIBLE" => Ok(RenewalEligibility::Eligible),
            "INELIGIBLE" => Ok(RenewalEligibility::Ineligible),
            other => Err(format!("unknown renewal eligibility {other:?}")),
        }
    }
}

/// How ACM's managed renewal of a certificate goes (`RenewalSummary.RenewalStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenewalStatus {
    PendingAutoRenewal,
    PendingValidation,
    Success,
    Failed,
}

impl RenewalStatus {
    pub const ALL: [RenewalStatus; 4] = [
        RenewalStatus::PendingAutoRenewal,
        RenewalStatus::PendingValidation,
        RenewalStatus::Success,
        RenewalStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RenewalStatus::PendingAutoRenewal => "PENDING_AUTO_RENEWAL",
            RenewalStatus::PendingValidation => "PENDING_VALIDATION",
            RenewalStatus::Success => "SUCCESS",
            RenewalStatus::Failed => "FAILED",
        }
    }
}

impl FromStr for RenewalStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RenewalStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown renewal status {s:?}"))
    }
}

/// Whether a certificate renews by itself, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewalOutlook {
    /// ACM renews it; the ARN stays, so no swap is needed.
    ByItself,
    /// Someone has to renew it (the why).
    ByHand(&'static str),
    /// ACM would renew it, but its renewal needs help (the why).
    Stuck(&'static str),
    /// ACM did not say.
    Unknown,
}

impl RenewalOutlook {
    /// From what ACM reports: imported certificates never renew, whatever else is said.
    pub fn of(
        certificate_type: Option<CertificateType>,
        eligibility: Option<RenewalEligibility>,
        status: Option<RenewalStatus>,
    ) -> Self {
        if certificate_type == Some(CertificateType::Imported) {
            return RenewalOutlook::ByHand("imported: ACM never renews it; renew by hand");
        }
        match (eligibility, status) {
            (_, Some(RenewalStatus::Failed)) => {
                RenewalOutlook::Stuck("ACM's last renewal attempt FAILED")
            }
            (_, Some(RenewalStatus::PendingValidation)) => {
                RenewalOutlook::Stuck("ACM's renewal waits for domain validation")
            }
            (Some(RenewalEligibility::Eligible), _) => RenewalOutlook::ByItself,
            (Some(RenewalEligibility::Ineligible), _) => RenewalOutlook::ByHand(
                "ACM says it is not eligible for managed renewal; renew or replace it by hand",
            ),
            (None, _) => RenewalOutlook::Unknown,
        }
    }

    /// Whether the certificate renews without anyone doing anything.
    pub fn renews_by_itself(&self) -> bool {
        *self == RenewalOutlook::ByItself
    }
}

impl fmt::Display for RenewalOutlook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenewalOutlook::ByItself => f.write_str("yes: ACM renews it and the ARN stays"),
            RenewalOutlook::ByHand(why) => write!(f, "no: {why}"),
            RenewalOutlook::Stuck(why) => write!(f, "not now: {why}"),
            RenewalOutlook::Unknown => f.write_str("unknown: ACM did not say"),
        }
    }
}

/// A Cognito custom domain's TLS policy (`CustomDomainConfig.SecurityPolicy`, 2026-06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityPolicy {
    TlsV1,
    TlsV1_2_2021,
    TlsV1_3_2025,
}

impl SecurityPolicy {
    pub const ALL: [SecurityPolicy; 3] = [
        SecurityPolicy::TlsV1,
        SecurityPolicy::TlsV1_2_2021,
        SecurityPolicy::TlsV1_3_2025,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityPolicy::TlsV1 => "TLS_V1",
            SecurityPolicy::TlsV1_2_2021 => "TLS_V1_2_2021",
            SecurityPolicy::TlsV1_3_2025 => "TLS_V1_3_2025",
        }
    }

    /// Whether AWS discourages it (TLS 1.0 and 1.1 are still accepted under TLS_V1).
    pub fn discouraged(self) -> bool {
        self == SecurityPolicy::TlsV1
    }
}

impl FromStr for SecurityPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecurityPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown security policy {s:?}"))
    }
}

/// A certificate serial number, as a number: ACM's `Serial` and a served certificate's
/// serial are compared with it. ACM's text form is not precisely documented (colons,
/// case, a leading `00` byte for serials whose high bit is set), so none of that counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialNumber(
    /// Lowercase hex digits without leading zeros ("0" for zero).
    String,
);

/// Longest serial text read (RFC 5280 allows 20 octets; some CAs exceed it a little).
const SERIAL_MAX_TEXT: usize = 512;

impl SerialNumber {
    /// Reads hex digits, ignoring `:`, `-` and white space between them, case, and
    /// leading zeros. Anything else, or no digit at all, is not a serial.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > SERIAL_MAX_TEXT {
            return Err(format!("a serial of {} characters is too long", text.len()));
        }
        let mut digits = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                ':' | '-' => {}
                c if c.is_ascii_whitespace() => {}
                c if c.is_ascii_hexdigit() => digits.push(c.to_ascii_lowercase()),
                other => return Err(format!("{other:?} is not part of a serial number")),
            }
        }
        if digits.is_empty() {
            return Err("a serial number needs at least one hex digit".into());
        }
        let significant = digits.trim_start_matches('0');
        Ok(Self(if significant.is_empty() {
            "0".to_owned()
        } else {
            significant.to_owned()
        }))
    }

    /// The number from its big-endian bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::parse(&format_serial(bytes)).unwrap_or_else(|_| Self("0".to_owned()))
    }
}

/// Whether two serials, in whatever text form, are the same number. A text that is not
/// a serial equals nothing.
pub fn same_serial(a: &str, b: &str) -> bool {
    match (SerialNumber::parse(a), SerialNumber::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod api2026_tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn new_enums_read_as_aws_spells_them() {
        for o in KeyPairOrigin::ALL {
            assert_eq!(o.as_str().parse::<KeyPairOrigin>(), Ok(o));
        }
        for r in RenewalStatus::ALL {
            assert_eq!(r.as_str().parse::<RenewalStatus>(), Ok(r));
        }
        for p in SecurityPolicy::ALL {
            assert_eq!(p.as_str().parse::<SecurityPolicy>(), Ok(p));
        }
        assert_eq!("CLOUDFRONT".parse::<ManagedBy>(), Ok(ManagedBy::CloudFront));
        assert_eq!(
            "INELIGIBLE".parse::<RenewalEligibility>(),
            Ok(RenewalEligibility::Ineligible)
        );
        assert!("acme".parse::<KeyPairOrigin>().is_err());
        assert!(SecurityPolicy::TlsV1.discouraged());
        assert!(!SecurityPolicy::TlsV1_2_2021.discouraged());
        assert!(!SecurityPolicy::TlsV1_3_2025.discouraged());
    }

    #[test]
    fn imported_certificates_never_renew_by_themselves() {
        use RenewalEligibility::*;
        let imported = RenewalOutlook::of(
            Some(CertificateType::Imported),
            Some(Eligible),
            Some(RenewalStatus::Success),
        );
        assert!(!imported.renews_by_itself());
        assert!(
            imported
                .to_string()
                .contains("imported: ACM never renews it; renew by hand")
        );
        let amazon = Some(CertificateType::AmazonIssued);
        assert!(RenewalOutlook::of(amazon, Some(Eligible), None).renews_by_itself());
        assert!(
            RenewalOutlook::of(
                amazon,
                Some(Eligible),
                Some(RenewalStatus::PendingAutoRenewal)
            )
            .renews_by_itself()
        );
        assert!(matches!(
            RenewalOutlook::of(amazon, Some(Eligible), Some(RenewalStatus::Failed)),
            RenewalOutlook::Stuck(_)
        ));
        assert!(matches!(
            RenewalOutlook::of(amazon, Some(Ineligible), None),
            RenewalOutlook::ByHand(_)
        ));
        assert_eq!(
            RenewalOutlook::of(amazon, None, None),
            RenewalOutlook::Unknown
        );
    }

    #[test]
    fn serials_compare_as_numbers() {
        let same = [
            ("0a:01", "0a:01"),
            ("0a:01", "0A:01"),
            ("0a:01", "a01"),
            ("00:8f:3c", "8f:3c"),
            ("00:8F:3C", "8f3c"),
            ("00", "0"),
            ("00:00:01", "01"),
            ("8f 3c", "8F-3C"),
        ];
        for (a, b) in same {
            assert!(same_serial(a, b), "{a} = {b}");
            assert!(same_serial(b, a), "{b} = {a}");
        }
        let different = [
            ("0a:01", "0a:02"),
            ("01:00", "01"),
            ("8f:3c", "8f:3c:00"),
            ("", ""),
            ("zz", "zz"),
            ("0a:01", ""),
        ];
        for (a, b) in different {
            assert!(!same_serial(a, b), "{a} ≠ {b}");
        }
        assert!(SerialNumber::parse(&"a".repeat(SERIAL_MAX_TEXT + 1)).is_err());
    }

    proptest! {
        /// Any text form of a number's bytes is that number: with or without a leading
        /// zero byte, colons or not, upper or lower case.
        #[test]
        fn every_text_form_of_a_serial_is_the_same_number(
            bytes in proptest::collection::vec(any::<u8>(), 1..24),
            leading_zeros in 0usize..3,
            upper in any::<bool>(),
            colons in any::<bool>(),
        ) {
            let mut padded = vec![0u8; leading_zeros];
            padded.extend_from_slice(&bytes);
            let mut text = if colons {
                format_serial(&padded)
            } else {
                padded.iter().map(|b| format!("{b:02x}")).collect()
            };
            if upper {
                text = text.to_uppercase();
            }
            prop_assert!(same_serial(&text, &format_serial(&bytes)));
            prop_assert_eq!(SerialNumber::parse(&text).unwrap(), SerialNumber::from_bytes(&bytes));
        }

        /// Different numbers never compare equal, whatever their text forms.
        #[test]
        fn different_numbers_differ(a in any::<u128>(), b in any::<u128>()) {
            prop_assume!(a != b);
            let text = |n: u128| format_serial(&n.to_be_bytes());
            let (b_upper, a_upper) = (format!("{b:X}"), format!("{a:X}"));
            prop_assert!(!same_serial(&text(a), &b_upper));
            prop_assert!(same_serial(&text(a), &a_upper));
        }
    }
}
