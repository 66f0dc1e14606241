//! Issue 2, point 1: the unmodified AWS SDK performs every operation against the sandbox.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateStatus, Filters, KeyAlgorithm};
use aws_sdk_cognitoidentityprovider::types::{
    CustomDomainConfigType, DomainStatusType, SecurityPolicyType,
};
use certdeck_sandbox::Seed;

use crate::helpers::{eventually, options, spawn_sandbox};

#[tokio::test]
async fn list_user_pools_pages_130_pools_at_60_a_page() {
    let app = spawn_sandbox(options(Seed::Empty)).await;
    let cognito = app.cognito("us-east-1").await;
    for i in 0..130 {
        cognito
            .create_user_pool()
            .pool_name(format!("pool-{i:03}"))
            .send()
            .await
            .expect("CreateUserPool");
    }
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .expect("ListUserPools");
        pages.push(page.user_pools().len());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, vec![60, 60, 10]);

    let ids: Vec<String> = cognito
        .list_user_pools()
        .max_results(60)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginator")
        .into_iter()
        .map(|p| p.id().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 130);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        130,
        "no pool twice"
    );
    for id in &ids {
        let (region, suffix) = id.split_once('_').expect("region_suffix");
        assert_eq!(region, "us-east-1");
        assert_eq!(suffix.len(), 9);
        assert!(suffix.chars().all(|c| c.is_ascii_alphanumeric()));
    }
    // Another region holds none of them.
    let eu = app.cognito("eu-west-1").await;
    let eu_pools = eu
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("ListUserPools");
    assert!(eu_pools.user_pools().is_empty());

    let error = cognito
        .list_user_pools()
        .max_results(61)
        .send()
        .await
        .expect_err("61 is refused");
    assert_eq!(
        error.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidParameterException")
    );
}

#[tokio::test]
async fn pools_domains_and_tags_round_trip() {
    let app = spawn_sandbox(options(Seed::Empty)).await;
    let cognito = app.cognito("us-east-1").await;
    let acm = app.acm("us-east-1").await;

    let created = cognito
        .create_user_pool()
        .pool_name("Orders")
        .user_pool_tags("team", "payments")
        .send()
        .await
        .expect("CreateUserPool");
    let pool = created.user_pool().expect("pool");
    let pool_id = pool.id().expect("id").to_owned();
    assert_eq!(pool.name(), Some("Orders"));
    assert_eq!(
        pool.arn(),
        Some(format!("arn:aws:cognito-idp:us-east-1:123456789012:userpool/{pool_id}").as_str())
    );

    // Tags.
    let arn = pool.arn().expect("arn").to_owned();
    cognito
        .tag_resource()
        .resource_arn(&arn)
        .tags("owner", "ana")
        .send()
        .await
        .expect("TagResource");
    cognito
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("owner")
        .send()
        .await
        .expect("UntagResource");
    let tags = cognito
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("ListTagsForResource");
    assert_eq!(tags.tags().map(|t| t.len()), Some(1));
    assert_eq!(
        tags.tags().and_then(|t| t.get("team")).map(String::as_str),
        Some("payments")
    );

    // A prefix domain and a custom domain.
    cognito
        .create_user_pool_domain()
        .domain("orders-test")
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect("prefix domain");
    let certificate_arn = acm
        .request_certificate()
        .domain_name("auth.orders.example")
        .subject_alternative_names("*.orders.example")
        .send()
        .await
        .expect("RequestCertificate")
        .certificate_arn()
        .expect("arn")
        .to_owned();
    let issued = eventually(Duration::from_secs(5), || async {
        acm.describe_certificate()
            .certificate_arn(&certificate_arn)
            .send()
            .await
            .ok()
            .and_then(|d| d.certificate().and_then(|c| c.status().cloned()))
            == Some(CertificateStatus::Issued)
    })
    .await;
    assert!(
        issued,
        "the requested certificate is issued after validation"
    );
    let created_domain = cognito
        .create_user_pool_domain()
        .domain("auth.orders.example")
        .user_pool_id(&pool_id)
        .custom_domain_config(
            CustomDomainConfigType::builder()
                .certificate_arn(&certificate_arn)
                .security_policy(SecurityPolicyType::TlsV132025)
                .build()
                .expect("config"),
        )
        .managed_login_version(2)
        .send()
        .await
        .expect("custom domain");
    let cloudfront = created_domain
        .cloud_front_domain()
        .expect("CloudFrontDomain")
        .to_owned();
    assert!(
        cloudfront.starts_with('d') && cloudfront.ends_with(".cloudfront.net"),
        "{cloudfront}"
    );

    let described = cognito
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect("DescribeUserPool");
    let described = described.user_pool().expect("pool");
    assert_eq!(described.domain(), Some("orders-test"));
    assert_eq!(described.custom_domain(), Some("auth.orders.example"));

    let domain = cognito
        .describe_user_pool_domain()
        .domain("auth.orders.example")
        .send()
        .await
        .expect("describe");
    let domain = domain.domain_description().expect("description");
    assert_eq!(domain.user_pool_id(), Some(pool_id.as_str()));
    assert_eq!(domain.aws_account_id(), Some("123456789012"));
    assert_eq!(domain.cloud_front_distribution(), Some(cloudfront.as_str()));
    assert_eq!(domain.status(), Some(&DomainStatusType::Creating));
    assert!(domain.version().is_some_and(|v| v.len() == 14));
    assert!(domain.s3_bucket().is_some());
    assert_eq!(domain.managed_login_version(), Some(2));
    let config = domain.custom_domain_config().expect("CustomDomainConfig");
    assert_eq!(config.certificate_arn(), certificate_arn);
    assert_eq!(
        config.security_policy(),
        Some(&SecurityPolicyType::TlsV132025)
    );

    // An update without CustomDomainConfig would turn the domain into a prefix one.
    let error = cognito
        .update_user_pool_domain()
        .domain("auth.orders.example")
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect_err("refused");
    let error = error.into_service_error();
    assert_eq!(error.meta().code(), Some("InvalidParameterException"));
    assert_eq!(
        error.meta().message(),
        Some("Cannot convert custom domain to prefix domain")
    );

    // An update that sends only the certificate keeps every other setting.
    let updated = cognito
        .update_user_pool_domain()
        .domain("auth.orders.example")
        .user_pool_id(&pool_id)
        .custom_domain_config(
            CustomDomainConfigType::builder()
                .certificate_arn(&certificate_arn)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("UpdateUserPoolDomain");
    assert_eq!(updated.cloud_front_domain(), Some(cloudfront.as_str()));
    let domain = cognito
        .describe_user_pool_domain()
        .domain("auth.orders.example")
        .send()
        .await
        .expect("describe");
    let domain = domain.domain_description().expect("description");
    assert_eq!(domain.managed_login_version(), Some(2));
    assert_eq!(
        domain
            .custom_domain_config()
            .and_then(|c| c.security_policy()),
        Some(&SecurityPolicyType::TlsV132025)
    );

    // An unknown domain is an empty description, not an error.
    let unknown = cognito
        .describe_user_pool_domain()
        .domain("nobody.example.org")
        .send()
        .await
        .expect("describe");
    assert!(
        unknown
            .domain_description()
            .is_some_and(|d| d.status().is_none() && d.domain().is_none())
    );

    // A pool with domains cannot be deleted; without them it can.
    let error = cognito
        .delete_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect_err("has domains");
    assert_eq!(
        error.into_service_error().meta().code(),
        Some("InvalidParameterException")
    );
    let error = acm
        .delete_certificate()
        .certificate_arn(&certificate_arn)
        .send()
        .await
        .expect_err("in use");
    assert_eq!(
        error.into_service_error().meta().code(),
        Some("ResourceInUseException")
    );
    for domain in ["orders-test", "auth.orders.example"] {
        cognito
            .delete_user_pool_domain()
            .domain(domain)
            .user_pool_id(&pool_id)
            .send()
            .await
            .expect("DeleteUserPoolDomain");
    }
    cognito
        .delete_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect("DeleteUserPool");
    acm.delete_certificate()
        .certificate_arn(&certificate_arn)
        .send()
        .await
        .expect("DeleteCertificate");
    let error = cognito
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .expect_err("gone");
    assert!(error.into_service_error().is_resource_not_found_exception());
    let error = acm
        .describe_certificate()
        .certificate_arn(&certificate_arn)
        .send()
        .await
        .expect_err("gone");
    assert!(error.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn acm_lists_page_and_filter_key_types_as_aws_does() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let acm = app.acm("us-east-1").await;

    // Without Includes.keyTypes only RSA_1024 and RSA_2048 certificates are listed.
    let default_listing = acm
        .list_certificates()
        .send()
        .await
        .expect("ListCertificates");
    let keys: HashSet<_> = default_listing
        .certificate_summary_list()
        .iter()
        .filter_map(|c| c.key_algorithm().cloned())
        .collect();
    assert_eq!(
        keys,
        HashSet::from([KeyAlgorithm::Rsa1024, KeyAlgorithm::Rsa2048])
    );

    let every_key = Filters::builder()
        .set_key_types(Some(vec![
            KeyAlgorithm::Rsa1024,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
            KeyAlgorithm::EcSecp521r1,
        ]))
        .build();
    let mut all = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = acm
            .list_certificates()
            .includes(every_key.clone())
            .max_items(4)
            .set_next_token(token)
            .send()
            .await
            .expect("ListCertificates page");
        pages += 1;
        assert!(page.certificate_summary_list().len() <= 4);
        all.extend(page.certificate_summary_list().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    // Every demo certificate of us-east-1 but the ACME-issued one, which is listed
    // only when CertificateKeyPairOrigins names ACME (sandbox_accounts.rs).
    assert_eq!(all.len(), 15, "every demo certificate of us-east-1");
    assert_eq!(pages, 4);
    assert_eq!(
        all.iter()
            .map(|c| c.certificate_arn())
            .collect::<HashSet<_>>()
            .len(),
        15
    );
    let keys: HashSet<_> = all
        .iter()
        .filter_map(|c| c.key_algorithm().cloned())
        .collect();
    assert_eq!(keys.len(), 6, "six key algorithms in the demo: {keys:?}");

    // A status filter.
    let issued_only = acm
        .list_certificates()
        .includes(every_key)
        .certificate_statuses(CertificateStatus::Issued)
        .send()
        .await
        .expect("ListCertificates");
    assert!(
        issued_only
            .certificate_summary_list()
            .iter()
            .all(|c| c.status() == Some(&CertificateStatus::Issued))
    );
    assert_eq!(issued_only.certificate_summary_list().len(), 13);

    // Summaries carry the fields of PRODUCT.md §1; in-use certificates say so.
    let in_use = all.iter().filter(|c| c.in_use() == Some(true)).count();
    assert_eq!(
        in_use, 4,
        "the four demo custom domains each use a us-east-1 certificate"
    );
    for summary in &all {
        assert!(summary.domain_name().is_some());
        assert!(!summary.subject_alternative_name_summaries().is_empty());
        assert_eq!(
            summary.has_additional_subject_alternative_names(),
            Some(false)
        );
        assert!(summary.r#type().is_some() && summary.renewal_eligibility().is_some());
        if summary.status() != Some(&CertificateStatus::PendingValidation) {
            assert!(summary.not_before().is_some() && summary.not_after().is_some());
        }
    }

    // The eu-west-1 certificate lives in its own region.
    let eu = app.acm("eu-west-1").await;
    let eu_list = eu
        .list_certificates()
        .send()
        .await
        .expect("eu ListCertificates");
    assert_eq!(eu_list.certificate_summary_list().len(), 1);
}

#[tokio::test]
async fn imported_certificates_are_parsed_and_checked() {
    let app = spawn_sandbox(options(Seed::Empty)).await;
    let acm = app.acm("us-east-1").await;
    let (certificate, key) = self_signed("import.example.com", 30, 2048);

    let arn = acm
        .import_certificate()
        .certificate(Blob::new(certificate.clone()))
        .private_key(Blob::new(key.clone()))
        .send()
        .await
        .expect("ImportCertificate")
        .certificate_arn()
        .expect("arn")
        .to_owned();
    assert!(arn.starts_with("arn:aws:acm:us-east-1:123456789012:certificate/"));
    let detail = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .expect("describe");
    let detail = detail.certificate().expect("certificate");
    let x509 = openssl::x509::X509::from_pem(&certificate).expect("pem");
    let serial =
        certdeck_sandbox::format_serial(&x509.serial_number().to_bn().expect("bn").to_vec());
    assert!(
        detail
            .serial()
            .is_some_and(|s| crate::sandbox_edge::same_serial(s, &serial)),
        "{:?} is {serial}",
        detail.serial()
    );
    assert_eq!(detail.domain_name(), Some("import.example.com"));
    assert_eq!(detail.subject_alternative_names(), ["import.example.com"]);
    assert_eq!(detail.status(), Some(&CertificateStatus::Issued));
    assert_eq!(
        detail.r#type(),
        Some(&aws_sdk_acm::types::CertificateType::Imported)
    );
    // AWS spells it RSA-2048 here; the SDK keeps it as an unknown variant.
    assert_eq!(detail.key_algorithm().map(|k| k.as_str()), Some("RSA-2048"));
    assert!(detail.in_use_by().is_empty());
    assert!(detail.imported_at().is_some());

    // Re-import keeps the ARN and takes the new serial.
    let (renewed, renewed_key) = self_signed("import.example.com", 60, 2048);
    let again = acm
        .import_certificate()
        .certificate_arn(&arn)
        .certificate(Blob::new(renewed.clone()))
        .private_key(Blob::new(renewed_key))
        .send()
        .await
        .expect("re-import");
    assert_eq!(again.certificate_arn(), Some(arn.as_str()));
    let detail = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .expect("describe");
    assert!(
        !detail
            .certificate()
            .and_then(|c| c.serial())
            .is_some_and(|s| crate::sandbox_edge::same_serial(s, &serial))
    );

    // A key that does not match, malformed PEM, an expired certificate: ValidationException.
    let (_, other_key) = self_signed("other.example.com", 30, 2048);
    let (expired, expired_key) = self_signed("old.example.com", -1, 2048);
    for (cert, key, what) in [
        (certificate.clone(), other_key, "mismatched key"),
        (
            b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n".to_vec(),
            key.clone(),
            "malformed",
        ),
        (expired, expired_key, "expired"),
    ] {
        let error = acm
            .import_certificate()
            .certificate(Blob::new(cert))
            .private_key(Blob::new(key))
            .send()
            .await
            .expect_err(what);
        assert_eq!(
            error.into_service_error().meta().code(),
            Some("ValidationException"),
            "{what}"
        );
    }
}

/// A self-signed certificate and its key (PEM) made with openssl, valid from yesterday
/// for `days` days (negative: already expired).
pub fn self_signed(name: &str, days: i64, bits: u32) -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(Rsa::generate(bits).expect("rsa")).expect("pkey");
    let mut subject = X509NameBuilder::new().expect("name");
    subject.append_entry_by_text("CN", name).expect("CN");
    let subject = subject.build();
    let mut builder = X509Builder::new().expect("builder");
    builder.set_version(2).expect("version");
    let mut serial = openssl::bn::BigNum::new().expect("bn");
    serial
        .rand(64, openssl::bn::MsbOption::MAYBE_ZERO, false)
        .expect("rand");
    builder
        .set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    builder.set_subject_name(&subject).expect("subject");
    builder.set_issuer_name(&subject).expect("issuer");
    builder.set_pubkey(&key).expect("pubkey");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let start = if days < 0 {
        now - 10 * 86_400
    } else {
        now - 86_400
    };
    builder
        .set_not_before(&Asn1Time::from_unix(start).expect("time"))
        .expect("nb");
    builder
        .set_not_after(&Asn1Time::from_unix(now + days * 86_400).expect("time"))
        .expect("na");
    let san = SubjectAlternativeName::new()
        .dns(name)
        .build(&builder.x509v3_context(None, None))
        .expect("san");
    builder.append_extension(san).expect("san");
    builder.sign(&key, MessageDigest::sha256()).expect("sign");
    (
        builder.build().to_pem().expect("pem"),
        key.private_key_to_pem_pkcs8().expect("key pem"),
    )
}
