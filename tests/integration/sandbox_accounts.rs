//! Issue 12, sandbox side (PRODUCT.md §7): the 2026 additions to ACM and Cognito —
//! ACME-issued and CloudFront-managed certificates, renewal and use, varied serial text,
//! SecurityPolicy and Routing — and several AWS accounts behind STS AssumeRole.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_acm::types::{CertificateKeyPairOrigin, Filters, KeyAlgorithm, RenewalEligibility};
use aws_sdk_cognitoidentityprovider::types::{
    CustomDomainConfigType, FailoverType, RoutingType, SecurityPolicyType,
};
use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{TestSandbox, edge_leaf, eventually, options, serial_of, spawn_sandbox};
use crate::sandbox_edge::same_serial;

/// Every key type, as certdeck asks.
fn every_key_type() -> Filters {
    Filters::builder()
        .set_key_types(Some(vec![
            KeyAlgorithm::Rsa1024,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
            KeyAlgorithm::EcSecp521r1,
        ]))
        .build()
}

/// The certificates ListCertificates gives with every key type and `origins`.
async fn listed(
    acm: &aws_sdk_acm::Client,
    origins: Option<Vec<CertificateKeyPairOrigin>>,
) -> Vec<aws_sdk_acm::types::CertificateSummary> {
    acm.list_certificates()
        .includes(every_key_type())
        .set_certificate_key_pair_origins(origins)
        .send()
        .await
        .expect("ListCertificates")
        .certificate_summary_list()
        .to_vec()
}

fn all_origins() -> Vec<CertificateKeyPairOrigin> {
    vec![
        CertificateKeyPairOrigin::AwsManaged,
        CertificateKeyPairOrigin::CustomerProvided,
        CertificateKeyPairOrigin::Acme,
    ]
}

impl TestSandbox {
    /// `POST /_sandbox/certificates`: the status and the answer.
    pub async fn make_certificate(&self, request: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!(
                "{}/_sandbox/certificates",
                self.sandbox.endpoint_url()
            ))
            .json(&request)
            .send()
            .await
            .expect("certificates answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON"))
    }

    /// An ISSUED us-east-1 certificate for `names` made through the control route.
    pub async fn issued_certificate(&self, names: &[&str], origin: &str) -> String {
        let (status, body) = self
            .make_certificate(json!({
                "region": "us-east-1",
                "domain_name": names[0],
                "names": names,
                "origin": origin,
            }))
            .await;
        assert_eq!(status, 200, "{body}");
        body["CertificateArn"].as_str().expect("arn").to_owned()
    }
}

#[tokio::test]
async fn acme_certificates_are_listed_only_when_asked_for() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let acm = app.acm("us-east-1").await;

    let default = listed(&acm, None).await;
    let acme_only = listed(&acm, Some(vec![CertificateKeyPairOrigin::Acme])).await;
    let every = listed(&acm, Some(all_origins())).await;
    assert!(
        default
            .iter()
            .all(|c| c.certificate_key_pair_origin() != Some(&CertificateKeyPairOrigin::Acme)),
        "ACME certificates are left out by default"
    );
    assert_eq!(acme_only.len(), 1, "the demo has one ACME certificate");
    let acme = &acme_only[0];
    assert_eq!(
        acme.certificate_key_pair_origin(),
        Some(&CertificateKeyPairOrigin::Acme)
    );
    assert_eq!(
        acme.subject_alternative_name_summaries(),
        ["login.example.com"]
    );
    assert_eq!(acme.key_algorithm(), Some(&KeyAlgorithm::EcPrime256v1));
    assert_eq!(every.len(), default.len() + 1);
    // Every summary names its origin: requested ones AWS_MANAGED, imported ones
    // CUSTOMER_PROVIDED.
    for summary in &every {
        let expected = match summary.r#type().map(|t| t.as_str()) {
            Some("IMPORTED") => CertificateKeyPairOrigin::CustomerProvided,
            _ if summary.certificate_arn() == acme.certificate_arn() => {
                CertificateKeyPairOrigin::Acme
            }
            _ => CertificateKeyPairOrigin::AwsManaged,
        };
        assert_eq!(summary.certificate_key_pair_origin(), Some(&expected));
    }
    let cloudfront: Vec<_> = every
        .iter()
        .filter(|c| c.managed_by().map(|m| m.as_str()) == Some("CLOUDFRONT"))
        .collect();
    assert_eq!(cloudfront.len(), 1, "the demo has one CloudFront-managed");
    assert_eq!(
        cloudfront[0].subject_alternative_name_summaries(),
        ["auth.example.com"]
    );

    // A new ACME certificate through the control route: ISSUED at once, listed only
    // when asked for, real X.509 of the sandbox CA.
    let (status, made) = app
        .make_certificate(json!({
            "region": "us-east-1",
            "domain_name": "acme.example.com",
            "names": ["acme.example.com", "www.acme.example.com"],
            "key_algorithm": "EC_prime256v1",
            "origin": "ACME",
            "days": 90,
        }))
        .await;
    assert_eq!(status, 200, "{made}");
    let arn = made["CertificateArn"].as_str().expect("arn").to_owned();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:123456789012:certificate/"));
    assert_eq!(listed(&acm, None).await.len(), default.len());
    assert_eq!(
        listed(&acm, Some(vec![CertificateKeyPairOrigin::Acme]))
            .await
            .len(),
        2
    );
    let detail = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .expect("describe");
    let detail = detail.certificate().expect("certificate");
    assert_eq!(detail.status().map(|s| s.as_str()), Some("ISSUED"));
    assert_eq!(detail.r#type().map(|t| t.as_str()), Some("AMAZON_ISSUED"));
    assert_eq!(
        detail.certificate_key_pair_origin(),
        Some(&CertificateKeyPairOrigin::Acme)
    );
    assert_eq!(
        detail.subject_alternative_names(),
        ["acme.example.com", "www.acme.example.com"]
    );
    assert!(
        detail
            .issuer()
            .unwrap_or_default()
            .contains("certdeck sandbox CA")
    );
    let days = (detail.not_after().expect("not after").secs()
        - detail.not_before().expect("not before").secs())
        / 86_400;
    assert_eq!(days, 90);
    // Not in use yet: not eligible for managed renewal.
    assert_eq!(
        detail.renewal_eligibility(),
        Some(&RenewalEligibility::Ineligible)
    );
    assert!(detail.renewal_summary().is_none());

    // CloudFront-managed, in another region.
    let (status, made) = app
        .make_certificate(json!({
            "region": "eu-west-1",
            "domain_name": "cdn.example.com",
            "origin": "AWS_MANAGED",
            "managed_by": "CLOUDFRONT",
        }))
        .await;
    assert_eq!(status, 200, "{made}");
    let eu = app.acm("eu-west-1").await;
    let managed = listed(&eu, None)
        .await
        .into_iter()
        .find(|c| c.certificate_arn() == made["CertificateArn"].as_str())
        .expect("listed in eu-west-1");
    assert_eq!(managed.managed_by().map(|m| m.as_str()), Some("CLOUDFRONT"));
    assert_eq!(
        managed.certificate_key_pair_origin(),
        Some(&CertificateKeyPairOrigin::AwsManaged)
    );

    // Bad filters: ValidationException, as AWS.
    for bad in [
        vec![CertificateKeyPairOrigin::from("SELF_SIGNED")],
        vec![],
        vec![CertificateKeyPairOrigin::Acme; 4],
    ] {
        let error = acm
            .list_certificates()
            .set_certificate_key_pair_origins(Some(bad.clone()))
            .send()
            .await
            .expect_err("refused")
            .into_service_error();
        assert_eq!(
            error.meta().code(),
            Some("ValidationException"),
            "{bad:?}: {error:?}"
        );
    }

    // Bad control input: 400 with a JSON error that says what is wrong.
    for (bad, says) in [
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "CUSTOMER_PROVIDED"}),
            "ImportCertificate",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "MAGIC"}),
            "origin",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "Not A Domain", "origin": "ACME"}),
            "Not A Domain",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "ACME", "days": 0}),
            "days",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "ACME", "managed_by": "S3"}),
            "managed_by",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "ACME", "key_algorithm": "DSA"}),
            "DSA",
        ),
        (
            json!({"region": "us-east-1", "domain_name": "a.example.com", "origin": "ACME", "account_id": "12345"}),
            "12345",
        ),
        (
            json!({"domain_name": "a.example.com", "origin": "ACME"}),
            "region",
        ),
        (json!("not an object"), "invalid type"),
    ] {
        let (status, body) = app.make_certificate(bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

#[tokio::test]
async fn in_use_by_holds_both_certificates_during_a_propagation_and_the_new_one_after() {
    let mut opts = options(Seed::Empty);
    opts.timings.propagation = Duration::from_secs(2);
    let app = spawn_sandbox(opts).await;
    let cognito = app.cognito("us-east-1").await;
    let acm = app.acm("us-east-1").await;
    let old = app
        .issued_certificate(&["use.example.com"], "AWS_MANAGED")
        .await;
    let new = app.issued_certificate(&["use.example.com"], "ACME").await;
    let pool = cognito
        .create_user_pool()
        .pool_name("in use")
        .send()
        .await
        .expect("CreateUserPool")
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    let created = cognito
        .create_user_pool_domain()
        .domain("use.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&old, None))
        .send()
        .await
        .expect("CreateUserPoolDomain");
    let cloudfront = created.cloud_front_domain().expect("cloudfront").to_owned();
    let distribution = format!(
        "arn:aws:cloudfront::123456789012:distribution/E{}",
        cloudfront
            .strip_prefix('d')
            .and_then(|c| c.strip_suffix(".cloudfront.net"))
            .expect("dXXXX.cloudfront.net")
            .to_uppercase()
    );
    let describe = |arn: String| {
        let acm = acm.clone();
        async move {
            acm.describe_certificate()
                .certificate_arn(arn)
                .send()
                .await
                .expect("describe")
                .certificate()
                .cloned()
                .expect("certificate")
        }
    };
    let in_use = |arn: String| {
        let acm = acm.clone();
        async move {
            listed(&acm, Some(all_origins()))
                .await
                .into_iter()
                .find(|c| c.certificate_arn() == Some(arn.as_str()))
                .and_then(|c| c.in_use())
                .expect("listed")
        }
    };
    let old_detail = describe(old.clone()).await;
    assert_eq!(old_detail.in_use_by(), [distribution.clone()]);
    assert_eq!(
        old_detail.renewal_eligibility(),
        Some(&RenewalEligibility::Eligible)
    );
    let renewal = old_detail
        .renewal_summary()
        .expect("an eligible one has it");
    assert_eq!(renewal.renewal_status().as_str(), "SUCCESS");
    assert!(describe(new.clone()).await.in_use_by().is_empty());
    assert!(!in_use(new.clone()).await);

    // Let the creation land, then swap.
    assert!(
        eventually(Duration::from_secs(5), || async {
            edge_leaf(
                app.sandbox.edge_addr(),
                app.sandbox.ca_pem(),
                "use.example.com",
            )
            .await
            .is_ok()
        })
        .await
    );
    cognito
        .update_user_pool_domain()
        .domain("use.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&new, None))
        .send()
        .await
        .expect("UpdateUserPoolDomain");
    // During the propagation both are in use: the new one is configured, the old one
    // still served.
    assert_eq!(
        describe(old.clone()).await.in_use_by(),
        [distribution.clone()]
    );
    assert_eq!(
        describe(new.clone()).await.in_use_by(),
        [distribution.clone()]
    );
    assert!(in_use(old.clone()).await && in_use(new.clone()).await);
    let new_detail = describe(new.clone()).await;
    assert_eq!(
        new_detail.renewal_eligibility(),
        Some(&RenewalEligibility::Eligible),
        "an ACME certificate in use renews"
    );

    // After the edge switched, only the new one is.
    let switched = eventually(Duration::from_secs(5), || async {
        describe(old.clone()).await.in_use_by().is_empty()
    })
    .await;
    assert!(switched, "the old certificate leaves InUseBy");
    assert!(!in_use(old.clone()).await);
    assert_eq!(describe(new.clone()).await.in_use_by(), [distribution]);
    let old_detail = describe(old.clone()).await;
    assert_eq!(
        old_detail.renewal_eligibility(),
        Some(&RenewalEligibility::Ineligible)
    );
    assert!(old_detail.renewal_summary().is_none());
    let served = edge_leaf(
        app.sandbox.edge_addr(),
        app.sandbox.ca_pem(),
        "use.example.com",
    )
    .await
    .expect("handshake");
    assert!(same_serial(
        &serial_of(&served),
        describe(new).await.serial().expect("serial")
    ));
}

#[tokio::test]
async fn serial_text_varies_in_the_demo_and_equals_the_served_serial_as_a_number() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let mut texts = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let acm = app.acm(region).await;
        for summary in listed(&acm, Some(all_origins())).await {
            let detail = acm
                .describe_certificate()
                .certificate_arn(summary.certificate_arn().expect("arn"))
                .send()
                .await
                .expect("describe");
            texts.push(
                detail
                    .certificate()
                    .and_then(|c| c.serial())
                    .expect("serial")
                    .to_owned(),
            );
        }
    }
    let leading_zero = texts.iter().filter(|t| t.starts_with("00:")).count();
    let upper = texts
        .iter()
        .filter(|t| t.chars().any(|c| c.is_ascii_uppercase()))
        .count();
    let plain = texts
        .iter()
        .filter(|t| !t.starts_with("00:") && !t.chars().any(|c| c.is_ascii_uppercase()))
        .count();
    assert!(
        leading_zero > 0 && upper > 0 && plain > 0,
        "{texts:?}: every text form occurs"
    );
    assert!(
        texts.iter().all(|t| t
            .split(':')
            .all(|b| b.len() == 2 && u8::from_str_radix(b, 16).is_ok())),
        "{texts:?}: colon-separated hex bytes"
    );

    // The edge serves the real serial, equal to ACM's as a number — not always as text.
    let mut differs_as_text = 0;
    for (region, domain) in [
        ("us-east-1", "auth.example.com"),
        ("us-east-1", "login.example.com"),
        ("us-east-1", "partners.example.net"),
        ("eu-west-1", "sso.eu.example.com"),
    ] {
        let cognito = app.cognito(region).await;
        let arn = cognito
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .expect("describe domain")
            .domain_description()
            .and_then(|d| d.custom_domain_config())
            .map(|c| c.certificate_arn().to_owned())
            .expect("a custom domain");
        let acm_text = app
            .acm("us-east-1")
            .await
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .expect("describe certificate")
            .certificate()
            .and_then(|c| c.serial())
            .expect("serial")
            .to_owned();
        let served = edge_leaf(app.sandbox.edge_addr(), app.sandbox.ca_pem(), domain)
            .await
            .expect("handshake");
        let der = openssl::x509::X509::from_der(&served).expect("DER");
        let served_bytes = der.serial_number().to_bn().expect("bn").to_vec();
        assert_ne!(served_bytes[0], 0, "the served serial has no leading zero");
        let served_text = serial_of(&served);
        assert!(
            same_serial(&served_text, &acm_text),
            "{domain}: {served_text} is {acm_text}"
        );
        if served_text != acm_text {
            differs_as_text += 1;
        }
    }
    assert!(
        differs_as_text > 0,
        "comparing serials as text fails on the demo"
    );
}

fn config(arn: &str, policy: Option<SecurityPolicyType>) -> CustomDomainConfigType {
    CustomDomainConfigType::builder()
        .certificate_arn(arn)
        .set_security_policy(policy)
        .build()
        .expect("config")
}

fn failover(secondary: &str, health_check: &str) -> RoutingType {
    RoutingType::builder()
        .failover(
            FailoverType::builder()
                .secondary_region(secondary)
                .primary_route53_health_check_id(health_check)
                .build()
                .expect("failover"),
        )
        .build()
}

#[tokio::test]
async fn security_policy_and_routing_are_validated_returned_and_kept() {
    let app = spawn_sandbox(options(Seed::Empty)).await;
    let cognito = app.cognito("us-east-1").await;
    let arn = app
        .issued_certificate(&["policy.example.com"], "AWS_MANAGED")
        .await;
    let pool = cognito
        .create_user_pool()
        .pool_name("policies")
        .send()
        .await
        .expect("CreateUserPool")
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    let code = |e: &aws_sdk_cognitoidentityprovider::error::ErrorMetadata| {
        e.code().unwrap_or_default().to_owned()
    };

    // Refused at creation: an unknown policy, a routing on a prefix domain, a secondary
    // region that is the pool's own.
    let refused = cognito
        .create_user_pool_domain()
        .domain("policy.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(
            &arn,
            Some(SecurityPolicyType::from("TLS_V1_1_2016")),
        ))
        .send()
        .await
        .expect_err("unknown policy")
        .into_service_error();
    assert_eq!(code(refused.meta()), "InvalidParameterException");
    assert!(
        refused
            .meta()
            .message()
            .unwrap_or_default()
            .contains("TLS_V1_3_2025")
    );
    let refused = cognito
        .create_user_pool_domain()
        .domain("policy-prefix")
        .user_pool_id(&pool)
        .routing(failover(
            "eu-west-1",
            "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15",
        ))
        .send()
        .await
        .expect_err("routing on a prefix")
        .into_service_error();
    assert_eq!(code(refused.meta()), "InvalidParameterException");
    let refused = cognito
        .create_user_pool_domain()
        .domain("policy.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&arn, Some(SecurityPolicyType::TlsV1)))
        .routing(failover(
            "us-east-1",
            "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15",
        ))
        .send()
        .await
        .expect_err("the pool's own region")
        .into_service_error();
    assert_eq!(code(refused.meta()), "InvalidParameterException");

    cognito
        .create_user_pool_domain()
        .domain("policy.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&arn, Some(SecurityPolicyType::TlsV1)))
        .routing(failover(
            "eu-west-1",
            "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15",
        ))
        .send()
        .await
        .expect("CreateUserPoolDomain");
    let describe = || async {
        cognito
            .describe_user_pool_domain()
            .domain("policy.example.com")
            .send()
            .await
            .expect("describe")
            .domain_description()
            .cloned()
            .expect("description")
    };
    let described = describe().await;
    assert_eq!(
        described
            .custom_domain_config()
            .and_then(|c| c.security_policy()),
        Some(&SecurityPolicyType::TlsV1)
    );
    let routed = described
        .routing()
        .and_then(|r| r.failover())
        .expect("failover");
    assert_eq!(routed.secondary_region(), "eu-west-1");
    assert_eq!(
        routed.primary_route53_health_check_id(),
        "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15"
    );

    // Refused at update: bad policy, bad routing; nothing changes.
    for (policy, routing) in [
        (Some(SecurityPolicyType::from("SSLv3")), None),
        (None, Some(failover("x", "3f2a8c1e"))),
        (None, Some(failover("eu-west-1", &"h".repeat(65)))),
        (None, Some(failover("eu-west-1", "not a health check"))),
    ] {
        let refused = cognito
            .update_user_pool_domain()
            .domain("policy.example.com")
            .user_pool_id(&pool)
            .custom_domain_config(config(&arn, policy.clone()))
            .set_routing(routing.clone())
            .send()
            .await
            .expect_err("refused")
            .into_service_error();
        assert_eq!(
            code(refused.meta()),
            "InvalidParameterException",
            "{policy:?} {routing:?}"
        );
    }
    assert_eq!(describe().await, described);

    // An update without SecurityPolicy or Routing keeps both; one with them replaces.
    cognito
        .update_user_pool_domain()
        .domain("policy.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&arn, None))
        .send()
        .await
        .expect("update");
    let kept = describe().await;
    assert_eq!(
        kept.custom_domain_config(),
        described.custom_domain_config()
    );
    assert_eq!(kept.routing(), described.routing());
    cognito
        .update_user_pool_domain()
        .domain("policy.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&arn, Some(SecurityPolicyType::TlsV132025)))
        .routing(failover("eu-central-1", "9d1e"))
        .send()
        .await
        .expect("update");
    let replaced = describe().await;
    assert_eq!(
        replaced
            .custom_domain_config()
            .and_then(|c| c.security_policy()),
        Some(&SecurityPolicyType::TlsV132025)
    );
    assert_eq!(
        replaced
            .routing()
            .and_then(|r| r.failover())
            .map(|f| f.secondary_region()),
        Some("eu-central-1")
    );
}

#[tokio::test]
async fn the_demo_has_each_security_policy_and_a_failover_routing() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let mut policies = HashSet::new();
    let mut routed = Vec::new();
    for (region, domain) in [
        ("us-east-1", "auth.example.com"),
        ("us-east-1", "login.example.com"),
        ("us-east-1", "partners.example.net"),
        ("eu-west-1", "sso.eu.example.com"),
    ] {
        let description = app
            .cognito(region)
            .await
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .expect("describe")
            .domain_description()
            .cloned()
            .expect("description");
        if let Some(policy) = description
            .custom_domain_config()
            .and_then(|c| c.security_policy())
        {
            policies.insert(policy.as_str().to_owned());
        }
        if let Some(failover) = description.routing().and_then(|r| r.failover()) {
            routed.push((domain, failover.secondary_region().to_owned()));
        }
    }
    for policy in ["TLS_V1", "TLS_V1_2_2021", "TLS_V1_3_2025"] {
        assert!(policies.contains(policy), "{policy} in {policies:?}");
    }
    assert_eq!(routed, [("sso.eu.example.com", "eu-central-1".to_owned())]);
}

#[tokio::test]
async fn injected_concurrent_modification_and_operation_not_enabled_reach_the_sdk() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let cognito = app.cognito("us-east-1").await;
    let description = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe")
        .domain_description()
        .cloned()
        .expect("description");
    let pool = description.user_pool_id().expect("pool").to_owned();
    let arn = description
        .custom_domain_config()
        .expect("config")
        .certificate_arn()
        .to_owned();
    for code in [
        "ConcurrentModificationException",
        "OperationNotEnabledException",
    ] {
        app.arm_fault(json!({
            "operation": "UpdateUserPoolDomain",
            "error_code": code,
            "message": format!("{code} injected"),
            "count": 1,
        }))
        .await;
        let error = cognito
            .update_user_pool_domain()
            .domain("auth.example.com")
            .user_pool_id(&pool)
            .custom_domain_config(config(&arn, None))
            .send()
            .await
            .expect_err("the fault fires")
            .into_service_error();
        assert_eq!(error.meta().code(), Some(code));
        let typed = match code {
            "ConcurrentModificationException" => error.is_concurrent_modification_exception(),
            _ => error.is_operation_not_enabled_exception(),
        };
        assert!(typed, "the SDK parses {code} as its own error: {error:?}");
    }
    // Spent: the next call goes through.
    cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(config(&arn, None))
        .send()
        .await
        .expect("no fault left");
}
