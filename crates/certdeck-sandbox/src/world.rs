//! The sandbox's state: user pools, their domains and the ACM certificates, per account
//! and region, and the identities that act in the accounts. Time-driven changes (a
//! domain's propagation, a certificate's validation) are applied lazily by `settle`,
//! whenever the state is read.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use time::OffsetDateTime;

use crate::model::{CertificateStatus, CertificateType, KeyAlgorithm, KeyPairOrigin, ManagedBy};

use super::faults::Faults;
use super::sts::Identities;

/// The base account: every access key id the sandbox did not issue acts in it.
pub const ACCOUNT_ID: &str = "123456789012";

/// At most this many accepted UpdateUserPoolDomain calls are kept in `updates`.
pub const MAX_UPDATES: usize = 1_000;

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
    /// Every account's resources, by account id.
    pub accounts: BTreeMap<String, Account>,
    /// Calls received per operation, whatever their outcome, all accounts together.
    pub calls: BTreeMap<String, u64>,
    /// Calls refused for a quota, per operation.
    pub throttled: BTreeMap<String, u64>,
    /// The last request body per operation (not ImportCertificate's: it holds a key),
    /// so that tests can see what a client sent.
    pub last_inputs: BTreeMap<String, serde_json::Value>,
    pub faults: Faults,
    /// Assumable roles and the credentials issued for them.
    pub identities: Identities,
    /// Accepted UpdateUserPoolDomain calls, oldest first, at most `MAX_UPDATES`.
    pub updates: VecDeque<serde_json::Value>,
}

/// One AWS account: its regions and the calls made in it.
#[derive(Default)]
pub struct Account {
    pub regions: BTreeMap<String, Region>,
    /// Calls made with this account's credentials, per operation.
    pub calls: BTreeMap<String, u64>,
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
    /// A region of an account to change, made on first use.
    pub fn region(&mut self, account: &str, name: &str) -> &mut Region {
        self.accounts
            .entry(account.to_owned())
            .or_default()
            .regions
            .entry(name.to_owned())
            .or_default()
    }

    /// A region of an account to read; an unknown one reads as empty.
    pub fn region_ref(&self, account: &str, name: &str) -> &Region {
        static EMPTY: Region = Region {
            pools: BTreeMap::new(),
            domains: BTreeMap::new(),
            certificates: BTreeMap::new(),
        };
        self.accounts
            .get(account)
            .and_then(|a| a.regions.get(name))
            .unwrap_or(&EMPTY)
    }

    /// Counts a call of `operation`, in total and in `account` when the caller is known.
    pub fn count_call(&mut self, operation: &str, account: Option<&str>) {
        *self.calls.entry(operation.to_owned()).or_default() += 1;
        if let Some(account) = account {
            *self
                .accounts
                .entry(account.to_owned())
                .or_default()
                .calls
                .entry(operation.to_owned())
                .or_default() += 1;
        }
    }

    /// Records an accepted UpdateUserPoolDomain, keeping the last `MAX_UPDATES`.
    pub fn record_update(&mut self, update: serde_json::Value) {
        if self.updates.len() >= MAX_UPDATES {
            self.updates.pop_front();
        }
        self.updates.push_back(update);
    }

    /// Applies every time-driven change due at `now`.
    pub fn settle(&mut self, now: OffsetDateTime) {
        let faults = &mut self.faults;
        for region in self
            .accounts
            .values_mut()
            .flat_map(|a| a.regions.values_mut())
        {
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

    /// The custom domain named `name` in any account and region (CloudFront aliases are
    /// global), with its account.
    pub fn find_custom_domain(&self, name: &str) -> Option<(&str, &PoolDomain)> {
        self.accounts.iter().find_map(|(id, account)| {
            account
                .regions
                .values()
                .find_map(|r| r.domains.get(name))
                .filter(|d| d.custom.is_some())
                .map(|d| (id.as_str(), d))
        })
    }

    /// Whether a domain named `name` exists anywhere: custom domain names are unique
    /// across every account, prefixes within a region across every account.
    pub fn domain_taken(&self, name: &str, region: &str) -> bool {
        self.find_custom_domain(name).is_some()
            || self.accounts.values().any(|a| {
                a.regions
                    .get(region)
                    .is_some_and(|r| r.domains.contains_key(name))
            })
    }

    /// The pool domain named `name` in `account`, in any of its regions.
    pub fn find_domain(&self, account: &str, name: &str) -> Option<&PoolDomain> {
        self.accounts
            .get(account)?
            .regions
            .values()
            .find_map(|r| r.domains.get(name))
    }

    /// A certificate by ARN, in whichever account and region the ARN names.
    pub fn certificate(&self, arn: &str) -> Option<&Certificate> {
        let (region, account) = crate::model::certificate_scope(arn)?;
        self.accounts
            .get(account)?
            .regions
            .get(region)?
            .certificates
            .get(arn)
    }

    /// The CloudFront distributions that use `arn`: those of the certificate's account
    /// whose domain is configured with it or still served with it.
    pub fn distributions_using(&self, arn: &str) -> Vec<String> {
        let Some((_, account)) = crate::model::certificate_scope(arn) else {
            return Vec::new();
        };
        let Some(regions) = self.accounts.get(account).map(|a| &a.regions) else {
            return Vec::new();
        };
        regions
            .values()
            .flat_map(|r| r.domains.values())
            .filter(|d| {
                d.custom.as_ref().is_some_and(|c| {
                    c.certificate_arn == arn
                        || c.served_arn.as_deref() == Some(arn)
                        || c.pending.as_ref().is_some_and(|(p, _)| p == arn)
                })
            })
            .map(|d| distribution_arn(account, &d.cloudfront_domain))
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

/// The ARN of `account`'s CloudFront distribution behind `cloudfront_domain`.
pub fn distribution_arn(account: &str, cloudfront_domain: &str) -> String {
    let id = cloudfront_domain
        .split('.')
        .next()
        .unwrap_or_default()
        .to_uppercase();
    format!(
        "arn:aws:cloudfront::{account}:distribution/E{}",
        id.get(1..).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_keep_the_last_thousand() {
        let mut world = World::default();
        for i in 0..MAX_UPDATES + 10 {
            world.record_update(serde_json::json!({ "n": i }));
        }
        assert_eq!(world.updates.len(), MAX_UPDATES);
        assert_eq!(world.updates.front(), Some(&serde_json::json!({ "n": 10 })));
    }

    #[test]
    fn calls_count_in_total_and_in_the_callers_account() {
        let mut world = World::default();
        world.count_call("ListUserPools", Some("210987654321"));
        world.count_call("ListUserPools", None);
        assert_eq!(world.calls["ListUserPools"], 2);
        assert_eq!(world.accounts["210987654321"].calls["ListUserPools"], 1);
        assert_eq!(world.accounts.len(), 1);
    }

    #[test]
    fn distribution_arns_carry_the_account() {
        assert_eq!(
            distribution_arn("210987654321", "d1abc2def3ghi4.cloudfront.net"),
            "arn:aws:cloudfront::210987654321:distribution/E1ABC2DEF3GHI4"
        );
        assert_eq!(
            distribution_arn("210987654321", ""),
            "arn:aws:cloudfront::210987654321:distribution/E"
        );
    }

    #[test]
    fn reading_an_unknown_account_makes_nothing() {
        let world = World::default();
        assert!(
            world
                .region_ref("999999999999", "us-east-1")
                .pools
                .is_empty()
        );
        assert!(world.accounts.is_empty());
        assert!(
            world
                .find_domain("999999999999", "auth.example.com")
                .is_none()
        );
        assert!(!world.domain_taken("auth.example.com", "us-east-1"));
    }
}
