//! Issue 11, item 1: the sandbox decides what AWS accepts with its own rules, so it can
//! disagree with the console's policy. AWS accepts RSA_1024 certificates for a Cognito
//! custom domain; certdeck refuses them as too weak. Both show here.

use aws_sdk_acm::types::{Filters, KeyAlgorithm};
use aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType;
use certdeck_sandbox::Seed;

use crate::helpers::{field, options, options_of, spawn_app, spawn_sandbox};
use crate::sandbox_operations::self_signed;

/// The ARNs of the us-east-1 certificates with `key`.
async fn certificates_with_key(acm: &aws_sdk_acm::Client, key: KeyAlgorithm) -> Vec<String> {
    let listed = acm
        .list_certificates()
        .includes(Filters::builder().key_types(key).build())
        .send()
        .await
        .expect("ListCertificates");
    listed
        .certificate_summary_list()
        .iter()
        .filter_map(|c| c.certificate_arn().map(str::to_owned))
        .collect()
}

fn custom_domain(arn: &str) -> CustomDomainConfigType {
    CustomDomainConfigType::builder()
        .certificate_arn(arn)
        .build()
        .expect("config")
}

#[tokio::test]
async fn the_sandbox_accepts_an_rsa_1024_certificate_that_the_console_refuses() {
    let app = spawn_app(Seed::Demo).await;
    let acm = app.sandbox.acm("us-east-1").await;
    let weak = certificates_with_key(&acm, KeyAlgorithm::Rsa1024).await;
    assert_eq!(weak.len(), 1, "the demo has one RSA_1024 certificate");
    let weak = weak[0].clone();
    let p384 = certificates_with_key(&acm, KeyAlgorithm::EcSecp384r1).await;
    let p384 = p384
        .first()
        .expect("the demo has a P-384 certificate")
        .clone();

    // The console: the RSA_1024 certificate is only a disabled option naming why, and a
    // forged post of it is refused without calling AWS.
    let pool = app.pool_id("Customer portal").await;
    let form = app.change_form(&pool).await;
    let option = options_of(&form)
        .into_iter()
        .find(|o| o.0 == weak)
        .expect("the RSA_1024 certificate is listed");
    assert!(option.1, "the RSA_1024 option is disabled: {option:?}");
    assert!(
        option.2.contains("RSA_1024 is too weak"),
        "the option says why: {option:?}"
    );
    let response = app
        .admin
        .submit_change(
            &pool,
            &[
                ("certificate_arn", weak.as_str()),
                ("submission_token", &field(&form, "submission_token")),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.expect("body").contains("too weak"));
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 0);

    // AWS, as the sandbox plays it: P-384 is refused (CloudFront does not take it) …
    let cognito = app.sandbox.cognito("us-east-1").await;
    let refused = cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(custom_domain(&p384))
        .send()
        .await
        .expect_err("CloudFront does not take P-384")
        .into_service_error();
    assert_eq!(refused.meta().code(), Some("InvalidParameterException"));
    assert!(
        refused
            .meta()
            .message()
            .unwrap_or_default()
            .contains("CloudFront does not support the key algorithm EC_secp384r1")
    );

    // … and RSA_1024 is accepted: the domain now uses it.
    let updated = cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(custom_domain(&weak))
        .send()
        .await
        .expect("AWS accepts an RSA_1024 certificate for CloudFront");
    assert!(updated.cloud_front_domain().is_some());
    let described = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe");
    let described = described.domain_description().expect("description");
    assert_eq!(
        described
            .custom_domain_config()
            .map(|c| c.certificate_arn()),
        Some(weak.as_str())
    );
    assert_eq!(described.status().map(|s| s.as_str()), Some("UPDATING"));
}

#[tokio::test]
async fn a_new_custom_domain_can_use_an_imported_rsa_1024_certificate() {
    let sandbox = spawn_sandbox(options(Seed::Empty)).await;
    let acm = sandbox.acm("us-east-1").await;
    let (certificate, key) = self_signed("weak.example.net", 30, 1024);
    let imported = acm
        .import_certificate()
        .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
        .private_key(aws_sdk_acm::primitives::Blob::new(key))
        .send()
        .await
        .expect("ACM imports RSA_1024 certificates");
    let arn = imported.certificate_arn().expect("arn").to_owned();
    assert_eq!(
        certificates_with_key(&acm, KeyAlgorithm::Rsa1024).await,
        std::slice::from_ref(&arn)
    );

    let cognito = sandbox.cognito("us-east-1").await;
    let pool = cognito
        .create_user_pool()
        .pool_name("weak keys")
        .send()
        .await
        .expect("CreateUserPool");
    let pool_id = pool
        .user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned();
    cognito
        .create_user_pool_domain()
        .domain("weak.example.net")
        .user_pool_id(&pool_id)
        .custom_domain_config(custom_domain(&arn))
        .send()
        .await
        .expect("AWS accepts an RSA_1024 certificate for a new custom domain");
    let described = cognito
        .describe_user_pool_domain()
        .domain("weak.example.net")
        .send()
        .await
        .expect("describe");
    let described = described.domain_description().expect("description");
    assert_eq!(described.user_pool_id(), Some(pool_id.as_str()));
    assert_eq!(
        described
            .custom_domain_config()
            .map(|c| c.certificate_arn()),
        Some(arn.as_str())
    );
    assert_eq!(described.status().map(|s| s.as_str()), Some("CREATING"));
}
