//! Issue 2, point 3: UpdateUserPoolDomain refuses each certificate rule of PRODUCT.md §1
//! with a message naming the problem, and accepts the valid case. Issue 11: these are
//! AWS's rules, not certdeck's policy — RSA_1024, which AWS accepts, is in
//! `sandbox_oracle.rs`.

use aws_sdk_acm::types::{
    CertificateDetail, CertificateStatus, CertificateType, Filters, KeyAlgorithm,
};
use aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType;
use certdeck_sandbox::Seed;

use crate::helpers::{options, spawn_sandbox};

async fn demo_certificates(acm: &aws_sdk_acm::Client) -> Vec<CertificateDetail> {
    let every_key = Filters::builder()
        .set_key_types(Some(
            KeyAlgorithm::values()
                .iter()
                .map(|k| KeyAlgorithm::from(*k))
                .collect(),
        ))
        .build();
    let list = acm
        .list_certificates()
        .includes(every_key)
        .send()
        .await
        .expect("ListCertificates");
    let mut details = Vec::new();
    for summary in list.certificate_summary_list() {
        let detail = acm
            .describe_certificate()
            .certificate_arn(summary.certificate_arn().expect("arn"))
            .send()
            .await
            .expect("DescribeCertificate");
        details.push(detail.certificate().expect("detail").clone());
    }
    details
}

#[tokio::test]
async fn every_certificate_rule_is_enforced() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let acm = app.acm("us-east-1").await;
    let certificates = demo_certificates(&acm).await;
    let find = |what: &str, pick: &dyn Fn(&CertificateDetail) -> bool| -> String {
        let matching: Vec<_> = certificates.iter().filter(|c| pick(c)).collect();
        assert_eq!(matching.len(), 1, "exactly one demo certificate is {what}");
        matching[0].certificate_arn().expect("arn").to_owned()
    };
    let names = |c: &CertificateDetail| c.subject_alternative_names().to_vec();
    let key = |c: &CertificateDetail| {
        c.key_algorithm()
            .map(|k| k.as_str().to_owned())
            .unwrap_or_default()
    };
    let now = aws_sdk_acm::primitives::DateTime::from(std::time::SystemTime::now());

    let pending = find("pending", &|c| {
        c.status() == Some(&CertificateStatus::PendingValidation)
    });
    let expired = find("expired", &|c| {
        c.status() == Some(&CertificateStatus::Expired)
    });
    let private = find("private", &|c| {
        c.r#type() == Some(&CertificateType::Private)
    });
    let p384 = find("EC P-384", &|c| key(c) == "EC-secp384r1");
    let uncovered = find("for example.org", &|c| {
        c.domain_name() == Some("shop.example.org")
    });
    let not_yet = find("not yet valid", &|c| {
        c.not_before().is_some_and(|nb| nb.secs() > now.secs())
    });
    let wildcard = find("*.example.com", &|c| names(c) == ["*.example.com"]);
    let eu_wildcard = find("*.eu.example.com", &|c| names(c) == ["*.eu.example.com"]);
    let newest_auth = find("the newer auth", &|c| {
        names(c) == ["auth.example.com", "login.example.com"] && key(c) == "RSA-2048"
    });
    let eu_acm = app.acm("eu-west-1").await;
    let eu_list = eu_acm.list_certificates().send().await.expect("eu list");
    let wrong_region = eu_list.certificate_summary_list()[0]
        .certificate_arn()
        .expect("arn")
        .to_owned();

    // The pools with the custom domains under test.
    let cognito = app.cognito("us-east-1").await;
    let eu_cognito = app.cognito("eu-west-1").await;
    let pool_of = |client: aws_sdk_cognitoidentityprovider::Client, domain: &'static str| async move {
        let described = client
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .expect("describe");
        described
            .domain_description()
            .and_then(|d| d.user_pool_id())
            .expect("pool id")
            .to_owned()
    };
    let auth_pool = pool_of(cognito.clone(), "auth.example.com").await;
    let sso_pool = pool_of(eu_cognito.clone(), "sso.eu.example.com").await;

    let update = |client: aws_sdk_cognitoidentityprovider::Client,
                  pool: String,
                  domain: &'static str,
                  arn: String| async move {
        client
            .update_user_pool_domain()
            .domain(domain)
            .user_pool_id(pool)
            .custom_domain_config(
                CustomDomainConfigType::builder()
                    .certificate_arn(arn)
                    .build()
                    .expect("config"),
            )
            .send()
            .await
    };
    let cases = [
        (
            wrong_region,
            "is in eu-west-1; CloudFront only uses certificates in us-east-1",
        ),
        (pending, "is PENDING_VALIDATION, not ISSUED"),
        (expired, "expired on"),
        (not_yet, "is not valid before"),
        (private, "from a private CA"),
        (
            p384,
            "CloudFront does not support the key algorithm EC_secp384r1",
        ),
        (
            uncovered,
            "none of the certificate's names covers auth.example.com",
        ),
    ];
    for (arn, reason) in cases {
        let error = update(
            cognito.clone(),
            auth_pool.clone(),
            "auth.example.com",
            arn.clone(),
        )
        .await
        .expect_err(reason)
        .into_service_error();
        assert_eq!(
            error.meta().code(),
            Some("InvalidParameterException"),
            "{reason}"
        );
        let message = error.meta().message().unwrap_or_default();
        assert!(
            message.contains(reason),
            "{message:?} should say {reason:?}"
        );
        assert!(message.contains(&arn), "{message:?} names the certificate");
    }
    // A wildcard covers one label only: *.example.com does not cover sso.eu.example.com.
    let error = update(
        eu_cognito.clone(),
        sso_pool.clone(),
        "sso.eu.example.com",
        wildcard.clone(),
    )
    .await
    .expect_err("two levels down")
    .into_service_error();
    assert!(
        error
            .meta()
            .message()
            .unwrap_or_default()
            .contains("covers sso.eu.example.com")
    );
    // A malformed ARN.
    let error = update(
        cognito.clone(),
        auth_pool.clone(),
        "auth.example.com",
        "arn:aws:s3:::bucket".into(),
    )
    .await
    .expect_err("not ACM")
    .into_service_error();
    assert!(
        error
            .meta()
            .message()
            .unwrap_or_default()
            .contains("not an ACM certificate ARN")
    );

    // Nothing above changed the domain.
    assert_eq!(app.calls("UpdateUserPoolDomain").await, 9);
    let still = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe");
    let still = still.domain_description().expect("description");
    assert_eq!(still.status().map(|s| s.as_str()), Some("ACTIVE"));

    // The valid cases are accepted: an exact name, and a wildcard at the right level.
    update(
        cognito.clone(),
        auth_pool.clone(),
        "auth.example.com",
        newest_auth.clone(),
    )
    .await
    .expect("exact SAN");
    update(eu_cognito, sso_pool, "sso.eu.example.com", eu_wildcard)
        .await
        .expect("wildcard");
    let after = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe");
    let after = after.domain_description().expect("description");
    assert_eq!(
        after.custom_domain_config().map(|c| c.certificate_arn()),
        Some(newest_auth.as_str())
    );
    assert_eq!(after.status().map(|s| s.as_str()), Some("UPDATING"));
}
