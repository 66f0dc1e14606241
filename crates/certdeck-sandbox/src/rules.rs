//! What AWS accepts, written from AWS's documented behaviour (PRODUCT.md §1, §7) and
//! never from the console's eligibility code: the sandbox is the tests' oracle, so it
//! must be able to disagree with the console. Where certdeck is stricter by policy
//! (it refuses RSA_1024 as too weak), AWS — and so the sandbox — accepts.

use time::OffsetDateTime;

use crate::model::{CertificateStatus, CertificateType, KeyAlgorithm};
use crate::world::Certificate;

/// The only region whose ACM certificates CloudFront, and so a Cognito custom domain,
/// can use.
pub const CLOUDFRONT_CERTIFICATE_REGION: &str = "us-east-1";

/// Whether CloudFront can serve a certificate with this key. CloudFront takes RSA keys
/// of 1024 to 4096 bits and ECDSA P-256; it does not take P-384 or P-521.
pub fn cloudfront_supports(key: KeyAlgorithm) -> bool {
    match key {
        KeyAlgorithm::Rsa1024
        | KeyAlgorithm::Rsa2048
        | KeyAlgorithm::Rsa3072
        | KeyAlgorithm::Rsa4096
        | KeyAlgorithm::EcPrime256v1 => true,
        KeyAlgorithm::EcSecp384r1 | KeyAlgorithm::EcSecp521r1 => false,
    }
}

/// Whether one certificate name (a SAN, possibly `*.`-wildcarded) covers `domain`: an
/// exact name, or a wildcard standing for exactly one leftmost label (`*.example.com`
/// covers `auth.example.com`, not `example.com` nor `a.b.example.com`). DNS names
/// compare case-insensitively.
pub fn name_covers(certificate_name: &str, domain: &str) -> bool {
    let name = certificate_name.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.to_ascii_lowercase();
    match name.strip_prefix("*.") {
        Some(parent) => match domain.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == parent,
            None => false,
        },
        None => name == domain,
    }
}

/// Why CloudFront would refuse `certificate` (already known to be in us-east-1) for the
/// custom domain `domain` at `now`, or `None` when AWS accepts it.
pub fn cloudfront_refusal(
    certificate: &Certificate,
    domain: &str,
    now: OffsetDateTime,
) -> Option<String> {
    if certificate.status == CertificateStatus::Expired || now >= certificate.not_after {
        return Some(format!(
            "the certificate expired on {}",
            certificate.not_after.date()
        ));
    }
    if certificate.status != CertificateStatus::Issued {
        return Some(format!(
            "the certificate is {}, not ISSUED",
            certificate.status.as_str()
        ));
    }
    if now < certificate.not_before {
        return Some(format!(
            "the certificate is not valid before {}",
            certificate.not_before.date()
        ));
    }
    if certificate.certificate_type == CertificateType::Private {
        return Some("the certificate is from a private CA; browsers do not trust it".to_owned());
    }
    if !cloudfront_supports(certificate.key_algorithm) {
        return Some(format!(
            "CloudFront does not support the key algorithm {}",
            certificate.key_algorithm
        ));
    }
    if !certificate.names.iter().any(|n| name_covers(n, domain)) {
        return Some(format!("none of the certificate's names covers {domain}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_takes_every_rsa_size_and_p256_only() {
        let accepted: Vec<_> = KeyAlgorithm::ALL
            .into_iter()
            .filter(|k| cloudfront_supports(*k))
            .collect();
        assert_eq!(
            accepted,
            [
                KeyAlgorithm::Rsa1024,
                KeyAlgorithm::Rsa2048,
                KeyAlgorithm::Rsa3072,
                KeyAlgorithm::Rsa4096,
                KeyAlgorithm::EcPrime256v1
            ]
        );
    }

    #[test]
    fn wildcards_cover_one_level() {
        assert!(name_covers("auth.example.com", "auth.example.com"));
        assert!(name_covers("AUTH.example.com.", "auth.example.com"));
        assert!(name_covers("*.example.com", "auth.example.com"));
        assert!(!name_covers("*.example.com", "example.com"));
        assert!(!name_covers("*.example.com", "a.b.example.com"));
        assert!(!name_covers("login.example.com", "auth.example.com"));
    }
}
