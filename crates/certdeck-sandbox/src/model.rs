//! ACM's and Cognito's vocabulary as the sandbox speaks it: key algorithms, certificate
//! statuses and types, ARNs, domain names, serials. The sandbox keeps its own copy rather
//! than borrowing the console's, so that the emulator and the code it tests stay
//! independent (PRODUCT.md §7).

use std::fmt;
use std::str::FromStr;

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

/// Where a certificate's key pair comes from (`CertificateKeyPairOrigin`, 2026-06-30):
/// ACM made it (requested certificates), the customer brought it (imported), or an ACME
/// client made it (certificates issued through ACM's ACME endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPairOrigin {
    AwsManaged,
    CustomerProvided,
    Acme,
}

impl KeyPairOrigin {
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
}

impl FromStr for KeyPairOrigin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyPairOrigin::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown certificate key pair origin {s:?}"))
    }
}

/// The AWS service that manages a certificate ACM issued for it (`ManagedBy`).
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
}

impl FromStr for ManagedBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "CLOUDFRONT" => Ok(ManagedBy::CloudFront),
            _ => Err(format!("unknown ManagedBy {s:?}")),
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

/// The region part of an ACM certificate ARN (`arn:aws:acm:REGION:…`), if it is one.
pub fn certificate_region(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_partition), Some("acm"), Some(region)) if !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

/// The region and account of an ACM certificate ARN
/// (`arn:aws:acm:REGION:ACCOUNT:certificate/…`), if it is one.
pub fn certificate_scope(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.splitn(6, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("arn"), Some(_partition), Some("acm"), Some(region), Some(account))
            if !region.is_empty() && !account.is_empty() =>
        {
            Some((region, account))
        }
        _ => None,
    }
}

/// Checks a custom domain name as Cognito does (PRODUCT.md §1): lowercase letters, digits
/// and hyphens, no hyphen first or last in a label, at most 63 characters a label and
/// 253 in all, at least two labels. The error says what is wrong.
pub fn check_domain_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the domain name is empty".to_owned());
    }
    if name.len() > 253 {
        return Err("the domain name is longer than 253 characters".to_owned());
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err("a custom domain needs at least two labels, like auth.example.com".to_owned());
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "label {label:?} is empty or longer than 63 characters"
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "label {label:?} may hold only lowercase letters, digits and hyphens"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with a hyphen"));
        }
    }
    Ok(())
}

/// ACM's spelling of a serial: lowercase hex bytes separated by colons.
pub fn format_serial(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The text DescribeCertificate gives for a serial (`format_serial`'s canonical form in,
/// without a leading zero byte). ACM's text form is not documented precisely, and
/// clients must compare serials as numbers; to make sure they do, the sandbox varies it
/// deterministically, as real answers vary: a serial whose high bit is set is shown with
/// the leading `00:` byte of its DER encoding, and an odd serial (lowest bit set) is
/// shown in upper case. The certificate itself, and so the edge, carries the real serial.
pub fn acm_serial_text(canonical: &str) -> String {
    let high_bit = canonical
        .get(..2)
        .and_then(|b| u8::from_str_radix(b, 16).ok())
        .is_some_and(|b| b & 0x80 != 0);
    let odd = canonical
        .get(canonical.len().saturating_sub(2)..)
        .and_then(|b| u8::from_str_radix(b, 16).ok())
        .is_some_and(|b| b & 1 == 1);
    let text = if high_bit {
        format!("00:{canonical}")
    } else {
        canonical.to_owned()
    };
    if odd { text.to_uppercase() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_algorithms_parse_in_both_spellings() {
        for k in KeyAlgorithm::ALL {
            assert_eq!(k.as_str().parse::<KeyAlgorithm>(), Ok(k));
            assert_eq!(k.detail_str().parse::<KeyAlgorithm>(), Ok(k));
        }
    }

    #[test]
    fn region_comes_from_the_arn() {
        assert_eq!(
            certificate_region("arn:aws:acm:eu-west-1:123456789012:certificate/x"),
            Some("eu-west-1")
        );
        assert_eq!(certificate_region("arn:aws:s3:::bucket"), None);
        assert_eq!(
            certificate_scope("arn:aws:acm:eu-west-1:210987654321:certificate/x"),
            Some(("eu-west-1", "210987654321"))
        );
        assert_eq!(certificate_scope("arn:aws:acm:eu-west-1"), None);
        assert_eq!(certificate_region("not an arn"), None);
    }

    #[test]
    fn custom_domain_names_follow_cognito() {
        for ok in ["auth.example.com", "a.b", "x-1.example.co.uk"] {
            assert_eq!(check_domain_name(ok), Ok(()), "{ok}");
        }
        let label64 = format!("{}.example.com", "a".repeat(64));
        for bad in [
            "",
            "localhost",
            "Auth.example.com",
            "auth_1.example.com",
            "-auth.example.com",
            "auth..example.com",
            label64.as_str(),
        ] {
            assert!(check_domain_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn serials_are_colon_separated_hex() {
        assert_eq!(format_serial(&[0x0a, 0xff, 0x10]), "0a:ff:10");
    }

    #[test]
    fn acm_shows_a_leading_zero_byte_for_a_high_bit_and_odd_serials_in_upper_case() {
        assert_eq!(acm_serial_text("0a:ff:10"), "0a:ff:10");
        assert_eq!(acm_serial_text("0a:ff:11"), "0A:FF:11");
        assert_eq!(acm_serial_text("8a:ff:10"), "00:8a:ff:10");
        assert_eq!(acm_serial_text("ca:fe:0b"), "00:CA:FE:0B");
    }

    #[test]
    fn key_pair_origins_parse() {
        for o in KeyPairOrigin::ALL {
            assert_eq!(o.as_str().parse::<KeyPairOrigin>(), Ok(o));
        }
        assert!("aws_managed".parse::<KeyPairOrigin>().is_err());
    }
}
