//! The certificates offered for a custom domain: every us-east-1 certificate, the ones
//! that can serve it first (latest expiry first), the others with their reasons.

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

    /// What the option says: names, expiry, key.
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
    certificates: &'a [CertificateSummary],
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
        (!a.selectable(), !a.eligible())
            .cmp(&(!b.selectable(), !b.eligible()))
            .then_with(|| b.certificate.not_after.cmp(&a.certificate.not_after))
            .then_with(|| a.certificate.arn.cmp(&b.certificate.arn))
    });
    if let Some(first) = choices.first_mut().filter(|c| c.selectable()) {
        first.recommended = true;
    }
    choices
}
