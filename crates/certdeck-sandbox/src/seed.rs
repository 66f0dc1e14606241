//! The demo data set: two accounts. `prod` (the base account) holds every eligibility
//! case of PRODUCT.md §1 across two regions; `staging` holds a few pools of its own.
//! Both accounts' roles are registered for AssumeRole.

use std::collections::BTreeMap;

use anyhow::Context;
use time::{Duration, OffsetDateTime};

use crate::model::{CertificateStatus, CertificateType, KeyAlgorithm, KeyPairOrigin, ManagedBy};

use super::acm::certificate_from_issued;
use super::cognito::{new_domain, new_pool};
use super::pki::{CertificateAuthority, LeafSpec};
use super::world::{ACCOUNT_ID, CustomDomain, World};
use crate::demo::{PROD_ROLE_ARN, STAGING_ACCOUNT_ID, STAGING_EXTERNAL_ID, STAGING_ROLE_ARN};

struct CertificateSeed {
    key: &'static str,
    region: &'static str,
    names: &'static [&'static str],
    algorithm: KeyAlgorithm,
    certificate_type: CertificateType,
    /// Days from now.
    not_before: i64,
    not_after: i64,
    status: CertificateStatus,
    label: &'static str,
    /// ACME-issued instead of requested (AMAZON_ISSUED types only).
    acme: bool,
    managed_by: Option<ManagedBy>,
}

const fn cert(
    key: &'static str,
    names: &'static [&'static str],
    algorithm: KeyAlgorithm,
    certificate_type: CertificateType,
    window: (i64, i64),
    status: CertificateStatus,
    label: &'static str,
) -> CertificateSeed {
    CertificateSeed {
        key,
        region: "us-east-1",
        names,
        algorithm,
        certificate_type,
        not_before: window.0,
        not_after: window.1,
        status,
        label,
        acme: false,
        managed_by: None,
    }
}

use CertificateStatus::{Expired, Issued, PendingValidation};
use CertificateType::{AmazonIssued, Imported, Private};
use KeyAlgorithm::*;

const CERTIFICATES: &[CertificateSeed] = &[
    cert(
        "auth-2025",
        &["auth.example.com"],
        Rsa2048,
        AmazonIssued,
        (-375, 20),
        Issued,
        "auth 2025 (expires soon)",
    ),
    cert(
        "auth-2026",
        &["auth.example.com", "login.example.com"],
        Rsa2048,
        AmazonIssued,
        (-2, 393),
        Issued,
        "auth + login 2026",
    ),
    cert(
        "wildcard",
        &["*.example.com"],
        Rsa2048,
        Imported,
        (-30, 300),
        Issued,
        "wildcard example.com",
    ),
    cert(
        "auth-expired",
        &["auth.example.com"],
        Rsa2048,
        AmazonIssued,
        (-400, -5),
        Expired,
        "auth 2024 (expired)",
    ),
    cert(
        "auth-pending",
        &["auth.example.com", "sso.eu.example.com"],
        Rsa2048,
        AmazonIssued,
        (0, 395),
        PendingValidation,
        "auth pending DNS validation",
    ),
    cert(
        "sso-eu-4096",
        &["sso.eu.example.com"],
        Rsa4096,
        Imported,
        (-100, 200),
        Issued,
        "EU SSO RSA-4096",
    ),
    cert(
        "login-p256",
        &["login.example.com"],
        EcPrime256v1,
        AmazonIssued,
        (-200, 150),
        Issued,
        "login ECDSA P-256",
    ),
    cert(
        "auth-p384",
        &["auth.example.com", "login.example.com"],
        EcSecp384r1,
        AmazonIssued,
        (-10, 380),
        Issued,
        "auth ECDSA P-384",
    ),
    cert(
        "auth-private",
        &["auth.example.com"],
        Rsa2048,
        Private,
        (-10, 380),
        Issued,
        "auth private CA",
    ),
    cert(
        "auth-1024",
        &["auth.example.com"],
        Rsa1024,
        Imported,
        (-10, 300),
        Issued,
        "auth RSA-1024 (weak)",
    ),
    cert(
        "shop-org",
        &["shop.example.org", "www.example.org"],
        Rsa2048,
        AmazonIssued,
        (-10, 380),
        Issued,
        "shop example.org",
    ),
    cert(
        "partners-3072",
        &["partners.example.net"],
        Rsa3072,
        Imported,
        (-60, 240),
        Issued,
        "partners RSA-3072",
    ),
    cert(
        "partners-future",
        &["partners.example.net"],
        Rsa2048,
        Imported,
        (10, 400),
        Issued,
        "partners (not yet valid)",
    ),
    cert(
        "wildcard-eu",
        &["*.eu.example.com"],
        Rsa2048,
        AmazonIssued,
        (-1, 394),
        Issued,
        "wildcard eu.example.com",
    ),
    CertificateSeed {
        key: "auth-eu-region",
        region: "eu-west-1",
        names: &["auth.example.com", "sso.eu.example.com"],
        algorithm: Rsa2048,
        certificate_type: AmazonIssued,
        not_before: -10,
        not_after: 380,
        status: Issued,
        label: "auth in eu-west-1 (wrong region)",
        acme: false,
        managed_by: None,
    },
    // 2026: issued through ACM's ACME endpoint — eligible, but ListCertificates leaves it
    // out unless CertificateKeyPairOrigins names ACME.
    CertificateSeed {
        acme: true,
        ..cert(
            "login-acme",
            &["login.example.com"],
            EcPrime256v1,
            AmazonIssued,
            (-5, 85),
            Issued,
            "login ACME-issued",
        )
    },
    // 2025: a certificate CloudFront manages for its own distributions.
    CertificateSeed {
        managed_by: Some(ManagedBy::CloudFront),
        ..cert(
            "auth-cloudfront",
            &["auth.example.com"],
            Rsa2048,
            AmazonIssued,
            (-20, 180),
            Issued,
            "auth managed by CloudFront",
        )
    },
];

struct PoolSeed {
    region: &'static str,
    name: &'static str,
    team: Option<&'static str>,
    prefix: Option<&'static str>,
    /// Custom domain, certificate key, security policy, managed login version.
    custom: Option<(&'static str, &'static str, &'static str, i32)>,
    /// Failover routing of the custom domain: secondary region, health check id.
    failover: Option<(&'static str, &'static str)>,
}

const POOLS: &[PoolSeed] = &[
    PoolSeed {
        region: "us-east-1",
        name: "Customer portal",
        team: Some("payments"),
        prefix: Some("customer-portal-demo"),
        custom: Some(("auth.example.com", "auth-2025", "TLS_V1_2_2021", 2)),
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Merchant dashboard",
        team: Some("payments"),
        prefix: None,
        custom: Some(("login.example.com", "login-p256", "TLS_V1_3_2025", 1)),
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Checkout",
        team: Some("payments"),
        prefix: Some("checkout-demo"),
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Partner portal",
        team: Some("identity"),
        prefix: None,
        // TLS_V1: the policy AWS strongly discourages.
        custom: Some(("partners.example.net", "partners-3072", "TLS_V1", 2)),
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Workforce SSO",
        team: Some("identity"),
        prefix: Some("workforce-demo"),
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Mobile app",
        team: Some("identity"),
        prefix: None,
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Internal tools",
        team: None,
        prefix: Some("internal-tools-demo"),
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Legacy admin",
        team: None,
        prefix: None,
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "eu-west-1",
        name: "EU customer portal",
        team: Some("payments"),
        prefix: Some("eu-customers-demo"),
        custom: Some(("sso.eu.example.com", "sso-eu-4096", "TLS_V1_2_2021", 2)),
        failover: Some(("eu-central-1", "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15")),
    },
    PoolSeed {
        region: "eu-west-1",
        name: "EU workforce",
        team: Some("identity"),
        prefix: Some("eu-workforce-demo"),
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "eu-west-1",
        name: "EU partners",
        team: Some("identity"),
        prefix: None,
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "eu-west-1",
        name: "EU reporting",
        team: None,
        prefix: None,
        custom: None,
        failover: None,
    },
    PoolSeed {
        region: "eu-west-1",
        name: "EU sandbox",
        team: None,
        prefix: Some("eu-sandbox-demo"),
        custom: None,
        failover: None,
    },
];

/// The staging account's certificates (all us-east-1): one eligible per custom domain,
/// and one that is not (expired).
const STAGING_CERTIFICATES: &[CertificateSeed] = &[
    cert(
        "staging-auth",
        &["auth.staging.example.com"],
        Rsa2048,
        AmazonIssued,
        (-30, 365),
        Issued,
        "staging auth",
    ),
    cert(
        "staging-login",
        &["login.staging.example.com"],
        EcPrime256v1,
        AmazonIssued,
        (-60, 300),
        Issued,
        "staging login ECDSA P-256",
    ),
    cert(
        "staging-auth-expired",
        &["auth.staging.example.com", "login.staging.example.com"],
        Rsa2048,
        AmazonIssued,
        (-400, -3),
        Expired,
        "staging auth + login (expired)",
    ),
];

const STAGING_POOLS: &[PoolSeed] = &[
    PoolSeed {
        region: "us-east-1",
        name: "Staging customer portal",
        team: Some("payments"),
        prefix: Some("staging-portal-demo"),
        custom: Some((
            "auth.staging.example.com",
            "staging-auth",
            "TLS_V1_2_2021",
            2,
        )),
        failover: None,
    },
    PoolSeed {
        region: "eu-west-1",
        name: "Staging login",
        team: None,
        prefix: None,
        custom: Some((
            "login.staging.example.com",
            "staging-login",
            "TLS_V1_2_2021",
            1,
        )),
        failover: None,
    },
    PoolSeed {
        region: "us-east-1",
        name: "Staging internal tools",
        team: None,
        prefix: Some("staging-internal-demo"),
        custom: None,
        failover: None,
    },
];

/// Fills `world` with the demo data set: both accounts and their roles.
pub fn seed_demo(
    world: &mut World,
    ca: &CertificateAuthority,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    seed_account(world, ca, now, ACCOUNT_ID, CERTIFICATES, POOLS)?;
    seed_account(
        world,
        ca,
        now,
        STAGING_ACCOUNT_ID,
        STAGING_CERTIFICATES,
        STAGING_POOLS,
    )?;
    world
        .identities
        .register(PROD_ROLE_ARN, None)
        .map_err(anyhow::Error::msg)?;
    world
        .identities
        .register(STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID))
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

fn seed_account(
    world: &mut World,
    ca: &CertificateAuthority,
    now: OffsetDateTime,
    account: &str,
    certificates: &[CertificateSeed],
    pools: &[PoolSeed],
) -> anyhow::Result<()> {
    let mut arns = BTreeMap::new();
    for seed in certificates {
        let names: Vec<String> = seed.names.iter().map(|s| (*s).to_owned()).collect();
        let spec = LeafSpec {
            names: &names,
            not_before: now + Duration::days(seed.not_before),
            not_after: now + Duration::days(seed.not_after),
        };
        let issued = ca
            .issue(&spec, seed.algorithm)
            .with_context(|| format!("issuing the demo certificate {}", seed.key))?;
        let mut certificate =
            certificate_from_issued(account, seed.region, &issued, seed.certificate_type, now)
                .map_err(anyhow::Error::msg)?;
        certificate.status = seed.status;
        certificate.created_at = spec.not_before.min(now);
        certificate.issued_at = (seed.status != PendingValidation
            && seed.certificate_type != Imported)
            .then_some(certificate.created_at);
        certificate.imported_at =
            (seed.certificate_type == Imported).then_some(certificate.created_at);
        certificate.origin = match (seed.certificate_type, seed.acme) {
            (Imported, _) => KeyPairOrigin::CustomerProvided,
            (_, true) => KeyPairOrigin::Acme,
            _ => KeyPairOrigin::AwsManaged,
        };
        certificate.managed_by = seed.managed_by;
        certificate
            .tags
            .insert("Name".to_owned(), seed.label.to_owned());
        arns.insert(seed.key, certificate.arn.clone());
        world
            .region(account, seed.region)
            .certificates
            .insert(certificate.arn.clone(), certificate);
    }
    for seed in pools {
        let tags = seed
            .team
            .map(|team| BTreeMap::from([("team".to_owned(), team.to_owned())]))
            .unwrap_or_default();
        let created = now - Duration::days(400);
        let pool = new_pool(world, account, seed.region, seed.name, tags, created);
        let pool_id = pool.id.clone();
        world
            .region(account, seed.region)
            .pools
            .insert(pool_id.clone(), pool);
        if let Some(prefix) = seed.prefix {
            let domain = new_domain(prefix, &pool_id, None, 1, created);
            world
                .region(account, seed.region)
                .domains
                .insert(prefix.to_owned(), domain);
        }
        if let Some((name, certificate, policy, managed_login_version)) = seed.custom {
            let arn = arns
                .get(certificate)
                .context("unknown demo certificate")?
                .clone();
            let custom = CustomDomain {
                certificate_arn: arn.clone(),
                security_policy: Some(policy.to_owned()),
                served_arn: Some(arn),
                pending: None,
            };
            let mut domain =
                new_domain(name, &pool_id, Some(custom), managed_login_version, created);
            domain.routing = seed.failover.map(|(secondary, health_check)| {
                serde_json::json!({
                    "Failover": {
                        "SecondaryRegion": secondary,
                        "PrimaryRoute53HealthCheckId": health_check,
                    }
                })
            });
            world
                .region(account, seed.region)
                .domains
                .insert(name.to_owned(), domain);
        }
    }
    Ok(())
}
