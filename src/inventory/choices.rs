//! The certificates offered for a custom domain: every us-east-1 certificate, the ones
//! that can serve it first (latest expiry first), the others with their reasons.

use std::sync::Arc;

use time::OffsetDateTime;

use super::dashboard::facts;
use crate::aws::{AwsValue, CertificateSummary};
use crate::domain::{DomainName, check_eligibility};

/// One option of the change form.
#[derive(Debug, Clone)]
pub struct CertificateChoice<'a> {
    pub certificate: &'a CertificateSummary,
    /// Why it cannot serve the domain; empty when it can.
    pub reasons: Vec<String>,
    pub current: bool,
    pub recommended: bool,
}

impl CertificateChoice<'_> {
    pub fn eligible(&self) -> bool {
        self.reasons.is_empty()
    }

    /// Selectable: eligible and not the one already in place.
    pub fn selectable(&self) -> bool {
        self.eligible() && !self.current
    }

    /// Why to think twice before choosing it, when another service manages it.
    ///
    /// A certificate CloudFront manages (`ManagedBy = CLOUDFRONT`) stays selectable:
    /// AWS accepts it for a Cognito domain, and an operator may have good reason to use
    /// it. But CloudFront renews, replaces or deletes it for its own distributions, so
    /// the option, the confirmation page and the pool page say so, it sorts after the
    /// certificates nobody else manages, and it is never the recommended one.
    pub fn caution(&self) -> Option<String> {
        self.certificate.caution()
    }

    /// What the option says: names, expiry, key, origin, and any caution.
    pub fn label(&self) -> String {
        let c = self.certificate;
        let names = if c.names.is_empty() {
            c.domain_name.clone().unwrap_or_default()
        } else {
            c.names.join(", ")
        };
        let expiry = c.not_after.map_or_else(
            || "no expiry reported".to_owned(),
            |t| format!("expires {}", t.date()),
        );
        let key = c
            .key_algorithm
            .as_ref()
            .map_or("key unknown", AwsValue::as_str);
        let mut label = format!("{names} · {expiry} · {key}");
        if let Some(origin) = c.origin_label() {
            label.push_str(" · ");
            label.push_str(&origin);
        }
        if let Some(caution) = self.caution() {
            label.push_str(" · ");
            label.push_str(&caution);
        }
        if self.current {
            label.push_str(" · current");
        }
        if self.recommended {
            label.push_str(" · recommended");
        }
        if !self.reasons.is_empty() {
            label.push_str(" — ");
            label.push_str(&self.reasons.join("; "));
        }
        label
    }
}

/// Reasons a summary cannot serve `domain`, in the operator's words.
pub fn reasons(
    certificate: &CertificateSummary,
    domain: &DomainName,
    now: OffsetDateTime,
) -> Vec<String> {
    match facts(certificate) {
        Some(f) => check_eligibility(&f, domain, now)
            .iter()
            .map(ToString::to_string)
            .collect(),
        None => vec!["ACM did not report its status, type or key algorithm".to_owned()],
    }
}

pub fn certificate_choices<'a>(
    certificates: &'a [Arc<CertificateSummary>],
    domain: &DomainName,
    current: Option<&str>,
    now: OffsetDateTime,
) -> Vec<CertificateChoice<'a>> {
    let mut choices: Vec<CertificateChoice<'a>> = certificates
        .iter()
        .map(|c| CertificateChoice {
            certificate: c,
            reasons: reasons(c, domain, now),
            current: current == Some(c.arn.as_str()),
            recommended: false,
        })
        .collect();
    choices.sort_by(|a, b| {
        (!a.selectable(), !a.eligible(), a.caution().is_some())
            .cmp(&(!b.selectable(), !b.eligible(), b.caution().is_some()))
            .then_with(|| b.certificate.not_after.cmp(&a.certificate.not_after))
            .then_with(|| a.certificate.arn.cmp(&b.certificate.arn))
    });
    if let Some(first) = choices
        .first_mut()
        .filter(|c| c.selectable() && c.caution().is_none())
    {
        first.recommended = true;
    }
    choices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        CertificateStatus, CertificateType, KeyAlgorithm, KeyPairOrigin, ManagedBy,
    };

    fn certificate(id: &str, days: i64) -> CertificateSummary {
        let now = OffsetDateTime::now_utc();
        CertificateSummary {
            arn: format!("arn:aws:acm:us-east-1:123456789012:certificate/{id}"),
            domain_name: Some("auth.example.com".into()),
            names: vec!["auth.example.com".into()],
            more_names: false,
            status: Some(AwsValue::Known(CertificateStatus::Issued)),
            certificate_type: Some(AwsValue::Known(CertificateType::AmazonIssued)),
            key_algorithm: Some(AwsValue::Known(KeyAlgorithm::Rsa2048)),
            not_before: Some(now - time::Duration::days(1)),
            not_after: Some(now + time::Duration::days(days)),
            in_use: Some(false),
            origin: Some(AwsValue::Known(KeyPairOrigin::AwsManaged)),
            managed_by: None,
            renewal_eligibility: None,
            renewal_status: None,
            in_use_by: None,
        }
    }

    #[test]
    fn acme_certificates_are_offered_with_their_origin() {
        let mut acme = certificate("acme", 90);
        acme.origin = Some(AwsValue::Known(KeyPairOrigin::Acme));
        let certificates = vec![Arc::new(certificate("acm", 30)), Arc::new(acme)];
        let domain = DomainName::parse("auth.example.com").unwrap();
        let choices = certificate_choices(&certificates, &domain, None, OffsetDateTime::now_utc());
        assert!(choices[0].certificate.arn.ends_with("/acme"));
        assert!(choices[0].selectable() && choices[0].recommended);
        assert!(
            choices[0].label().contains("issued through ACME"),
            "{}",
            choices[0].label()
        );
        assert!(choices[1].label().contains("issued by ACM"));
    }

    #[test]
    fn cloudfront_managed_certificates_are_selectable_with_a_caution_never_recommended() {
        let mut managed = certificate("managed", 300);
        managed.managed_by = Some(AwsValue::Known(ManagedBy::CloudFront));
        let certificates = vec![
            Arc::new(managed.clone()),
            Arc::new(certificate("plain", 30)),
        ];
        let domain = DomainName::parse("auth.example.com").unwrap();
        let now = OffsetDateTime::now_utc();
        let choices = certificate_choices(&certificates, &domain, None, now);
        assert!(choices[0].certificate.arn.ends_with("/plain") && choices[0].recommended);
        let cautioned = &choices[1];
        assert!(cautioned.selectable() && !cautioned.recommended);
        assert!(
            cautioned.label().contains("caution: managed by CloudFront"),
            "{}",
            cautioned.label()
        );
        // Alone, it is offered but not pre-selected.
        let only = vec![Arc::new(managed)];
        let choices = certificate_choices(&only, &domain, None, now);
        assert!(choices[0].selectable() && !choices[0].recommended);
    }
}
