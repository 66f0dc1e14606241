//! The sandbox's state: user pools, their domains and the ACM certificates, per region.
//! Time-driven changes (a domain's propagation, a certificate's validation) are applied
//! lazily by `settle`, whenever the state is read.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{CertificateStatus, CertificateType, KeyAlgorithm, KeyPairOrigin, ManagedBy};

use super::faults::Faults;

/// The one AWS account the sandbox plays.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long time-driven changes take.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From UpdateUserPoolDomain (or Create) to the edge serving the new certificate.
    pub propagation: Duration,
    /// From RequestCertificate to ISSUED.
    pub validation: Duration,
}

#[derive(Default)]
pub struct World {
    pub regions: BTreeMap<String, Region>,
    /// Calls received per operation, whatever their outcome.
    pub calls: BTreeMap<String, u64>,
    /// Calls refused for a quota, per operation.
    pub throttled: BTreeMap<String, u64>,
    /// The last request body per operation (not ImportCertificate's: it holds a key),
    /// so that tests can see what a client sent.
    pub last_inputs: BTreeMap<String, serde_json::Value>,
    pub faults: Faults,
}

#[derive(Default)]
pub struct Region {
    pub pools: BTreeMap<String, UserPool>,
    /// Domains by name (prefix or custom).
    pub domains: BTreeMap<String, PoolDomain>,
    pub certificates: BTreeMap<String, Certificate>,
}

pub struct UserPool {
    pub id: String,
    pub name: String,
    pub arn: String,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
    pub tags: BTreeMap<String, String>,
}

pub struct PoolDomain {
    pub domain: String,
    pub pool_id: String,
    pub cloudfront_domain: String,
    pub s3_bucket: String,
    pub version: String,
    pub managed_login_version: Option<i32>,
    pub routing: Option<serde_json::Value>,
    pub custom: Option<CustomDomain>,
}

pub struct CustomDomain {
    /// What Cognito reports as configured.
    pub certificate_arn: String,
    pub security_policy: Option<String>,
    /// What the edge serves; `None` until a new domain is first distributed.
    pub served_arn: Option<String>,
    /// A distribution in progress: the certificate and when the edge switches to it.
    pub pending: Option<(String, OffsetDateTime)>,
}

pub struct Certificate {
    pub arn: String,
    pub domain_name: String,
    pub names: Vec<String>,
    pub status: CertificateStatus,
    pub certificate_type: CertificateType,
    /// Who made the key pair: ACM, the customer (imported) or an ACME client.
    pub origin: KeyPairOrigin,
    /// `CLOUDFRONT` for a certificate CloudFront manages for its own distributions.
    pub managed_by: Option<ManagedBy>,
    pub key_algorithm: KeyAlgorithm,
    pub signature_algorithm: String,
    pub subject: String,
    pub issuer: String,
    /// The serial in `format_serial`'s canonical form (lowercase, no leading zero byte);
    /// DescribeCertificate shows it as `model::acm_serial_text` does.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub issued_at: Option<OffsetDateTime>,
    pub imported_at: Option<OffsetDateTime>,
    /// A requested certificate turns ISSUED at this time.
    pub validated_at: Option<OffsetDateTime>,
    pub certificate_pem: String,
    pub chain_pem: Option<String>,
    pub private_key_pem: String,
    pub tags: BTreeMap<String, String>,
}

impl World {
    pub fn region(&mut self, name: &str) -> &mut Region {
        self.regions.entry(name.to_owned()).or_default()
    }

    /// A region to read; an unknown one reads as empty.
    pub fn region_ref(&self, name: &str) -> &Region {
        static EMPTY: Region = Region {
            pools: BTreeMap::new(),
            domains: BTreeMap::new(),
            certificates: BTreeMap::new(),
        };
        self.regions.get(name).unwrap_or(&EMPTY)
    }

    /// Applies every time-driven change due at `now`.
    pub fn settle(&mut self, now: OffsetDateTime) {
        let faults = &mut self.faults;
        for region in self.regions.values_mut() {
            for domain in region.domains.values_mut() {
                let Some(custom) = domain.custom.as_mut() else {
                    continue;
                };
                if let Some((arn, at)) = custom.pending.take() {
                    if at <= now {
                        // A `Edge.Distribute` fault keeps the old certificate at the edge
                        // while Cognito reports ACTIVE: a distribution that never lands.
                        if faults.take("Edge.Distribute").is_none() {
                            custom.served_arn = Some(arn);
                        }
                    } else {
                        custom.pending = Some((arn, at));
                    }
                }
            }
            for certificate in region.certificates.values_mut() {
                if certificate.status == CertificateStatus::PendingValidation
                    && let Some(at) = certificate.validated_at
                    && at <= now
                {
                    certificate.status = CertificateStatus::Issued;
                    certificate.issued_at = Some(at);
                }
                if certificate.status == CertificateStatus::Issued && certificate.not_after <= now {
                    certificate.status = CertificateStatus::Expired;
                }
            }
        }
    }

    /// The pool domain named `name` in any region (custom domains are global).
    pub fn find_domain(&self, name: &str) -> Option<&PoolDomain> {
        self.regions.values().find_map(|r| r.domains.get(name))
    }

    /// A certificate by ARN, in whichever region the ARN names.
    pub fn certificate(&self, arn: &str) -> Option<&Certificate> {
        let region = crate::model::certificate_region(arn)?;
        self.regions.get(region)?.certificates.get(arn)
    }

    /// The CloudFront distributions that use `arn` (configured or still served).
    pub fn distributions_using(&self, arn: &str) -> Vec<String> {
        self.regions
            .values()
            .flat_map(|r| r.domains.values())
            .filter(|d| {
                d.custom.as_ref().is_some_and(|c| {
                    c.certificate_arn == arn
                        || c.served_arn.as_deref() == Some(arn)
                        || c.pending.as_ref().is_some_and(|(p, _)| p == arn)
                })
            })
            .map(|d| distribution_arn(&d.cloudfront_domain))
            .collect()
    }
}

impl PoolDomain {
    /// Cognito's Status for the domain.
    pub fn status(&self) -> &'static str {
        match &self.custom {
            Some(c) if c.pending.is_some() && c.served_arn.is_none() => "CREATING",
            Some(c) if c.pending.is_some() => "UPDATING",
            _ => "ACTIVE",
        }
    }
}

/// The ARN of the CloudFront distribution behind `cloudfront_domain`.
pub fn distribution_arn(cloudfront_domain: &str) -> String {
    let id = cloudfront_domain
        .split('.')
        .next()
        .unwrap_or_default()
        .to_uppercase();
    format!(
        "arn:aws:cloudfront::{ACCOUNT_ID}:distribution/E{}",
        &id[1..]
    )
}
