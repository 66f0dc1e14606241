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
    opts.timings.propagation = Duration::from_secs(3);
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
    assert_eq!(old_detail.in_use_by(), std::slice::from_ref(&distribution));
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
        std::slice::from_ref(&distribution)
    );
    assert_eq!(
        describe(new.clone()).await.in_use_by(),
        std::slice::from_ref(&distribution)
    );
    assert!(in_use(old.clone()).await && in_use(new.clone()).await);
    let new_detail = describe(new.clone()).await;
    assert_eq!(
        new_detail.renewal_eligibility(),
        Some(&RenewalEligibility::Eligible),
        "an ACME certificate in use renews"
    );

    // After the edge switched, only the new one is.
    let switched = eventually(Duration::from_secs(10), || async {
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

// ---------------------------------------------------------------------------------------
// Several accounts, STS AssumeRole.

use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_cognitoidentityprovider::config::ProvideCredentials;
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use certdeck_sandbox::demo::{
    PROD_ROLE_ARN, STAGING_ACCOUNT_ID, STAGING_EXTERNAL_ID, STAGING_ROLE_ARN,
};

impl TestSandbox {
    /// SDK configuration whose credentials come from assuming `role` through the
    /// sandbox's STS, as certdeck's accounts do.
    pub async fn assumed_config(
        &self,
        region: &str,
        role: &str,
        external_id: Option<&str>,
    ) -> aws_config::SdkConfig {
        let base = self.sdk_config(region, false).await;
        let mut provider = AssumeRoleProvider::builder(role)
            .configure(&base)
            .session_name("certdeck-tests");
        if let Some(id) = external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(self.sandbox.endpoint_url())
            .credentials_provider(provider)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }

    /// `/_sandbox/roles` with `method` and a JSON body: the status and the answer.
    pub async fn roles(&self, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(
            method,
            format!("{}/_sandbox/roles", self.sandbox.endpoint_url()),
        );
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("roles answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The names of the pools `cognito` lists.
async fn pool_names(cognito: &aws_sdk_cognitoidentityprovider::Client) -> Vec<String> {
    let mut names: Vec<String> = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("ListUserPools")
        .user_pools()
        .iter()
        .filter_map(|p| p.name().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn boto3_assumes_a_role_and_sees_only_that_accounts_resources() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    // tokio's process: the sandbox answers on this test's runtime meanwhile.
    let output = tokio::process::Command::new(crate::sandbox_cli::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/boto3_accounts.py"
        ))
        .arg(app.sandbox.endpoint_url())
        .arg(STAGING_ROLE_ARN)
        .arg(STAGING_EXTERNAL_ID)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "boto3 accounts failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("boto3 accounts passed"), "{stdout}");
    assert!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count() >= 40,
        "{stdout}"
    );

    // The sandbox saw it: AssumeRole calls counted, calls made with the temporary
    // credentials counted in the staging account, and the change recorded with the
    // SourceIdentity of the session and its role.
    let state = app.state().await;
    assert!(state["calls"]["AssumeRole"].as_u64() >= Some(7), "{state}");
    let staging = &state["accounts"][STAGING_ACCOUNT_ID];
    assert!(
        staging["calls"]["ListUserPools"].as_u64() >= Some(2),
        "{staging}"
    );
    assert_eq!(staging["regions"]["us-east-1"]["pools"], 2);
    assert_eq!(staging["regions"]["eu-west-1"]["pools"], 1);
    assert_eq!(staging["regions"]["us-east-1"]["certificates"], 3);
    assert_eq!(
        state["accounts"]["123456789012"]["regions"]["us-east-1"]["pools"],
        8
    );
    // `regions` stays the total of every account.
    assert_eq!(state["regions"]["us-east-1"]["pools"], 10);
    let updates = state["updates"].as_array().expect("updates");
    assert_eq!(updates.len(), 1, "{updates:?}");
    let update = &updates[0];
    assert_eq!(update["account_id"], STAGING_ACCOUNT_ID);
    assert_eq!(update["domain"], "auth.staging.example.com");
    assert_eq!(update["source_identity"], "alice");
    assert_eq!(update["role_arn"], STAGING_ROLE_ARN);
    assert_eq!(update["security_policy"], "TLS_V1_2_2021");
    assert_eq!(update["region"], "us-east-1");
    assert!(update["at"].is_string() && update["user_pool_id"].is_string());
    assert!(
        update["certificate_arn"]
            .as_str()
            .is_some_and(|a| a.contains(STAGING_ACCOUNT_ID))
    );
}

#[tokio::test]
async fn the_rust_sdk_assumes_roles_and_refreshes_expiring_credentials() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    app.sandbox.set_max_session(Duration::from_secs(12));
    let staging = app
        .assumed_config("us-east-1", STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID))
        .await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&staging);
    assert_eq!(
        pool_names(&cognito).await,
        ["Staging customer portal", "Staging internal tools"]
    );
    let eu = app
        .assumed_config("eu-west-1", STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID))
        .await;
    assert_eq!(
        pool_names(&aws_sdk_cognitoidentityprovider::Client::new(&eu)).await,
        ["Staging login"]
    );
    let prod = app.assumed_config("us-east-1", PROD_ROLE_ARN, None).await;
    let prod_names = pool_names(&aws_sdk_cognitoidentityprovider::Client::new(&prod)).await;
    assert_eq!(prod_names.len(), 8, "{prod_names:?}");
    assert!(prod_names.iter().all(|n| !n.starts_with("Staging")));

    // 12-second credentials: the SDK's cache refreshes them before they expire, so
    // calls keep working past the first credentials' end.
    let assumed_before = app.calls("AssumeRole").await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(16) {
        assert_eq!(pool_names(&cognito).await.len(), 2);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(
        app.calls("AssumeRole").await > assumed_before,
        "the credentials were refreshed"
    );

    // A wrong external id, or an unknown role: AccessDenied, and no call gets through.
    for (role, external_id) in [
        (STAGING_ROLE_ARN, Some("wrong")),
        (STAGING_ROLE_ARN, None),
        ("arn:aws:iam::210987654321:role/unknown", None),
    ] {
        let config = app.assumed_config("us-east-1", role, external_id).await;
        let error = aws_sdk_cognitoidentityprovider::Client::new(&config)
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .expect_err("no credentials");
        let text = format!("{:?}", DisplayErrorContext(&error));
        assert!(
            text.contains("AccessDenied"),
            "{role} {external_id:?}: {text}"
        );
    }
}

/// Temporary credentials for `role`, and a Cognito client using exactly them.
async fn assumed_static(
    app: &TestSandbox,
    role: &str,
    external_id: Option<&str>,
) -> (
    aws_sdk_cognitoidentityprovider::config::Credentials,
    aws_sdk_cognitoidentityprovider::Client,
) {
    let base = app.sdk_config("us-east-1", false).await;
    let mut provider = AssumeRoleProvider::builder(role)
        .configure(&base)
        .session_name("static");
    if let Some(id) = external_id {
        provider = provider.external_id(id);
    }
    let credentials = provider
        .build()
        .await
        .provide_credentials()
        .await
        .expect("assumed");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(app.sandbox.endpoint_url())
        .credentials_provider(credentials.clone())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    (
        credentials,
        aws_sdk_cognitoidentityprovider::Client::new(&config),
    )
}

#[tokio::test]
async fn expired_and_revoked_credentials_are_refused() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    app.sandbox.set_max_session(Duration::from_secs(3));
    let (credentials, cognito) =
        assumed_static(&app, STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID)).await;
    assert!(credentials.access_key_id().starts_with("ASIA"));
    let expiry = credentials.expiry().expect("an expiry");
    let left = expiry
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(left <= Duration::from_secs(3), "{left:?}");
    assert_eq!(pool_names(&cognito).await.len(), 2);
    tokio::time::sleep(left + Duration::from_millis(500)).await;
    let expired = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect_err("expired")
        .into_service_error();
    assert_eq!(expired.meta().code(), Some("ExpiredTokenException"));
    assert_eq!(
        expired.meta().message(),
        Some("The security token included in the request is expired")
    );

    // Revoked: removing the role refuses its live credentials and new AssumeRole calls.
    app.sandbox.set_max_session(Duration::from_secs(3600));
    let (_, cognito) = assumed_static(&app, STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID)).await;
    assert_eq!(pool_names(&cognito).await.len(), 2);
    let (status, _) = app
        .roles(
            reqwest::Method::DELETE,
            Some(json!({ "role_arn": STAGING_ROLE_ARN })),
        )
        .await;
    assert_eq!(status, 204);
    let revoked = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect_err("revoked")
        .into_service_error();
    assert_eq!(revoked.meta().code(), Some("AccessDeniedException"));
    let config = app
        .assumed_config("us-east-1", STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID))
        .await;
    let error = aws_sdk_cognitoidentityprovider::Client::new(&config)
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect_err("the role is gone");
    let text = format!("{:?}", DisplayErrorContext(&error));
    assert!(text.contains("AccessDenied"), "{text}");
    let (status, listed) = app.roles(reqwest::Method::GET, None).await;
    assert_eq!(status, 200);
    let arns: Vec<&str> = listed["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["role_arn"].as_str())
        .collect();
    assert_eq!(arns, [PROD_ROLE_ARN]);
    // Removing it again: 404. The base account's keys are unaffected.
    let (status, _) = app
        .roles(
            reqwest::Method::DELETE,
            Some(json!({ "role_arn": STAGING_ROLE_ARN })),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(pool_names(&app.cognito("us-east-1").await).await.len(), 8);
}

#[tokio::test]
async fn accounts_are_isolated_but_custom_domain_names_are_global() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(1);
    let app = spawn_sandbox(opts).await;
    let (_, staging) = assumed_static(&app, STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID)).await;
    let prod_cognito = app.cognito("us-east-1").await;
    let prod_acm = app.acm("us-east-1").await;
    let staging_domain = staging
        .describe_user_pool_domain()
        .domain("auth.staging.example.com")
        .send()
        .await
        .expect("describe")
        .domain_description()
        .cloned()
        .expect("description");
    assert_eq!(staging_domain.aws_account_id(), Some(STAGING_ACCOUNT_ID));
    let staging_pool = staging_domain.user_pool_id().expect("pool").to_owned();
    let staging_arn = staging_domain
        .custom_domain_config()
        .expect("config")
        .certificate_arn()
        .to_owned();
    assert!(staging_arn.starts_with("arn:aws:acm:us-east-1:210987654321:certificate/"));

    // The base account cannot see staging's pool, domain or certificate.
    let error = prod_cognito
        .describe_user_pool()
        .user_pool_id(&staging_pool)
        .send()
        .await
        .expect_err("another account's pool")
        .into_service_error();
    assert_eq!(error.meta().code(), Some("ResourceNotFoundException"));
    let described = prod_cognito
        .describe_user_pool_domain()
        .domain("auth.staging.example.com")
        .send()
        .await
        .expect("describe");
    assert!(
        described
            .domain_description()
            .is_some_and(|d| d.domain().is_none())
    );
    let error = prod_acm
        .describe_certificate()
        .certificate_arn(&staging_arn)
        .send()
        .await
        .expect_err("another account's certificate")
        .into_service_error();
    assert_eq!(error.meta().code(), Some("ResourceNotFoundException"));

    // A certificate of another account is refused as one Cognito cannot find, even
    // one that covers the domain.
    let prod_arn = app
        .issued_certificate(&["auth.staging.example.com"], "AWS_MANAGED")
        .await;
    assert!(prod_arn.contains(":123456789012:"));
    let error = staging
        .update_user_pool_domain()
        .domain("auth.staging.example.com")
        .user_pool_id(&staging_pool)
        .custom_domain_config(config(&prod_arn, None))
        .send()
        .await
        .expect_err("another account's certificate")
        .into_service_error();
    assert_eq!(error.meta().code(), Some("InvalidParameterException"));
    assert_eq!(
        error.meta().message(),
        Some(
            "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or doesn't include a valid certificate chain."
        )
    );

    // A custom domain taken in another account is refused, though the certificate is
    // staging's own and covers it.
    let (status, made) = app
        .make_certificate(json!({
            "region": "us-east-1",
            "account_id": STAGING_ACCOUNT_ID,
            "domain_name": "auth.example.com",
            "origin": "AWS_MANAGED",
        }))
        .await;
    assert_eq!(status, 200, "{made}");
    let own_arn = made["CertificateArn"].as_str().expect("arn").to_owned();
    assert!(own_arn.contains(":210987654321:"));
    let internal = staging
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("list")
        .user_pools()
        .iter()
        .find(|p| p.name() == Some("Staging internal tools"))
        .and_then(|p| p.id())
        .expect("internal tools")
        .to_owned();
    let error = staging
        .create_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&internal)
        .custom_domain_config(config(&own_arn, None))
        .send()
        .await
        .expect_err("taken in prod")
        .into_service_error();
    assert_eq!(error.meta().code(), Some("InvalidParameterException"));
    assert_eq!(error.meta().message(), Some("Domain already exists."));

    // Staging's own new domain: its distribution's ARN carries staging's account, and
    // the edge serves it (the edge serves every account).
    let (status, made) = app
        .make_certificate(json!({
            "region": "us-east-1",
            "account_id": STAGING_ACCOUNT_ID,
            "domain_name": "tools.staging.example.com",
            "origin": "ACME",
        }))
        .await;
    assert_eq!(status, 200, "{made}");
    let tools_arn = made["CertificateArn"].as_str().expect("arn").to_owned();
    staging
        .create_user_pool_domain()
        .domain("tools.staging.example.com")
        .user_pool_id(&internal)
        .custom_domain_config(config(&tools_arn, Some(SecurityPolicyType::TlsV122021)))
        .send()
        .await
        .expect("CreateUserPoolDomain in staging");
    let served = eventually(Duration::from_secs(5), || async {
        edge_leaf(
            app.sandbox.edge_addr(),
            app.sandbox.ca_pem(),
            "tools.staging.example.com",
        )
        .await
        .is_ok()
    })
    .await;
    assert!(served, "the edge serves staging's domain");
    assert!(
        edge_leaf(
            app.sandbox.edge_addr(),
            app.sandbox.ca_pem(),
            "auth.staging.example.com"
        )
        .await
        .is_ok()
    );
    let staging_config = app
        .assumed_config("us-east-1", STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID))
        .await;
    let staging_acm = aws_sdk_acm::Client::new(&staging_config);
    let in_use_by = staging_acm
        .describe_certificate()
        .certificate_arn(&tools_arn)
        .send()
        .await
        .expect("describe")
        .certificate()
        .map(|c| c.in_use_by().to_vec())
        .unwrap_or_default();
    assert_eq!(in_use_by.len(), 1);
    assert!(
        in_use_by[0].starts_with("arn:aws:cloudfront::210987654321:distribution/E"),
        "{in_use_by:?}"
    );
    // An update with base credentials is recorded without a role or source identity.
    let auth = prod_cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe")
        .domain_description()
        .cloned()
        .expect("description");
    prod_cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(auth.user_pool_id().expect("pool"))
        .custom_domain_config(auth.custom_domain_config().cloned().expect("config"))
        .send()
        .await
        .expect("update");
    let updates = app.state().await["updates"].clone();
    let last = updates
        .as_array()
        .and_then(|u| u.last())
        .cloned()
        .expect("an update");
    assert_eq!(last["account_id"], "123456789012");
    assert_eq!(last["role_arn"], Value::Null);
    assert_eq!(last["source_identity"], Value::Null);
}

#[tokio::test]
async fn roles_are_validated_and_reset_clears_every_account() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    for bad in [
        json!({ "role_arn": "arn:aws:iam::21098765432:role/short" }),
        json!({ "role_arn": "arn:aws:iam::210987654321:user/not-a-role" }),
        json!({ "role_arn": "arn:aws:iam::210987654321:role/x", "external_id": "x" }),
        json!({ "role": "missing member" }),
    ] {
        let (status, body) = app.roles(reqwest::Method::POST, Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    let (status, body) = app
        .roles(
            reqwest::Method::POST,
            Some(json!({ "role_arn": "arn:aws:iam::333333333333:role/team-c" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["account_id"], "333333333333");
    // A fresh account starts empty.
    let (_, fresh) = assumed_static(&app, "arn:aws:iam::333333333333:role/team-c", None).await;
    assert!(pool_names(&fresh).await.is_empty());

    let reset = app
        .http
        .post(format!("{}/_sandbox/reset", app.sandbox.endpoint_url()))
        .json(&json!({ "seed": "empty" }))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 204);
    let (_, listed) = app.roles(reqwest::Method::GET, None).await;
    assert_eq!(listed["roles"], json!([]));
    let state = app.state().await;
    assert_eq!(state["accounts"], json!({}), "{state}");
    assert_eq!(state["updates"], json!([]));
    // Credentials issued before the reset are gone: refused as expired, never taken
    // for the base account.
    let error = fresh
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect_err("cleared")
        .into_service_error();
    assert_eq!(error.meta().code(), Some("ExpiredTokenException"));
}

#[tokio::test]
async fn quotas_are_per_account_and_region() {
    let mut opts = options(Seed::Demo);
    opts.quota_scale = 1.0;
    let app = spawn_sandbox(opts).await;
    // Two sessions of the staging role spend one account's UserPoolRead quota (15 a
    // second in a region) …
    let (_, first) = assumed_static(&app, STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID)).await;
    let (_, second) = assumed_static(&app, STAGING_ROLE_ARN, Some(STAGING_EXTERNAL_ID)).await;
    // 40 at once, half with each session: one bucket cannot pass them all.
    let results = futures_util::future::join_all((0..40).map(|i| {
        let client = if i % 2 == 0 { &first } else { &second };
        client.list_user_pools().max_results(60).send()
    }))
    .await;
    let granted = results.iter().filter(|r| r.is_ok()).count();
    let codes: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| {
            e.as_service_error()
                .and_then(|s| s.meta().code())
                .unwrap_or("other")
                .to_owned()
        })
        .collect();
    assert!(
        !codes.is_empty() && granted < 30,
        "one bucket for both sessions: {granted} granted, {codes:?}"
    );
    assert!(
        codes.iter().all(|c| c == "TooManyRequestsException"),
        "{codes:?}"
    );
    // … while another account in the same region has its own.
    let (_, prod) = assumed_static(&app, PROD_ROLE_ARN, None).await;
    prod.list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("another account's quota is untouched");
    let state = app.state().await;
    assert!(state["throttled"]["ListUserPools"].as_u64() >= Some(1));
}
