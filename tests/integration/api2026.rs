//! Issue 12, items 8–14: the 2026 additions to the Cognito and ACM APIs, through the
//! console's pages, with the real SDK against the sandbox: ACME-issued and
//! CloudFront-managed certificates, SecurityPolicy and Routing, the new errors in plain
//! words, renewal and use, and serials compared as numbers.

use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{
    Browser, TestApp, TestSandbox, confirm_recommended, eventually, field, options, options_of,
    paths, settings, spawn_app, spawn_sandbox, table_rows, text_of, texts,
};

/// Makes an ISSUED certificate the JSON API cannot (ACME-issued, CloudFront-managed)
/// through the sandbox's control route; its ARN.
async fn sandbox_certificate(sandbox: &TestSandbox, spec: Value) -> String {
    let response = sandbox
        .http
        .post(format!(
            "{}/_sandbox/certificates",
            sandbox.sandbox.endpoint_url()
        ))
        .json(&spec)
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "{status}: {body}");
    body["CertificateArn"]
        .as_str()
        .expect("a certificate ARN")
        .to_owned()
}

/// A console on a demo sandbox whose edge switches `propagation_secs` after an update.
async fn app_with_propagation(propagation_secs: u64) -> TestApp {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(propagation_secs);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let app = TestApp::start_with(&sandbox, settings(&sandbox, &sandbox.sqlite_url())).await;
    app.refresh().await;
    app
}

/// The custom domain of `pool_id` as the inventory holds it.
fn custom_domain(app: &TestApp, pool_id: &str) -> String {
    app.state
        .inventory
        .view()
        .pool(pool_id)
        .and_then(|p| p.pool.custom_domain.clone())
        .expect("a pool with a custom domain")
}

/// The certificate `pool_id`'s domain is configured with, as the inventory holds it.
fn configured_certificate(app: &TestApp, pool_id: &str) -> String {
    app.state
        .inventory
        .view()
        .row(pool_id)
        .and_then(|r| r.certificate_arn.as_deref().map(str::to_owned))
        .expect("a configured certificate")
}

/// The dashboard row of `pool_id`, as the browser shows it.
async fn dashboard_row(browser: &Browser, pool_id: &str) -> String {
    let page = browser.dashboard("?view=all").await;
    table_rows(&page, &format!("tr[data-pool-id=\"{pool_id}\"]"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a dashboard row for {pool_id}"))
        .text
}

/// The text of the element `css` of `html`, which must be there.
fn text_at(html: &str, css: &str) -> String {
    texts(html, css)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {css} on the page"))
}

/// Confirms replacing `pool_id`'s certificate by `arn` through the form; the propagation id.
async fn change_to(browser: &Browser, pool_id: &str, arn: &str) -> String {
    let form = browser.change_form(pool_id).await;
    let token = field(&form, "submission_token");
    let response = browser.confirm_change(pool_id, arn, &token).await;
    assert_eq!(response.status(), 303, "the change to {arn} is accepted");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    paths::propagation_id(location)
}

#[tokio::test]
async fn an_acme_issued_certificate_is_offered_with_its_origin() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let domain = custom_domain(&app, &pool);
    let acme = sandbox_certificate(
        &app.sandbox,
        json!({"region": "us-east-1", "domain_name": domain, "names": [domain],
               "key_algorithm": "RSA_2048", "origin": "ACME", "days": 90}),
    )
    .await;
    // As AWS does since 2026-06-30: asked without the origins, ACM leaves it out.
    let acm = app.sandbox.acm("us-east-1").await;
    let every_key_type = aws_sdk_acm::types::Filters::builder()
        .set_key_types(Some(
            aws_sdk_acm::types::KeyAlgorithm::values()
                .iter()
                .map(|k| aws_sdk_acm::types::KeyAlgorithm::from(*k))
                .collect(),
        ))
        .build();
    let listed = acm
        .list_certificates()
        .includes(every_key_type)
        .send()
        .await
        .expect("ListCertificates");
    assert!(
        !listed
            .certificate_summary_list()
            .iter()
            .any(|c| c.certificate_arn() == Some(acme.as_str())),
        "the sandbox hides ACME certificates from a caller who does not ask for them"
    );

    app.refresh().await;
    let form = app.change_form(&pool).await;
    let option = options_of(&form)
        .into_iter()
        .find(|(value, ..)| *value == acme)
        .expect("the ACME certificate is in the dropdown");
    assert!(!option.1, "it can serve the domain: {}", option.2);
    assert!(option.2.contains("issued through ACME"), "{}", option.2);

    // The confirmation page names the origin too.
    let token = field(&form, "submission_token");
    let response = app
        .admin
        .submit_change(
            &pool,
            &[("certificate_arn", &acme), ("submission_token", &token)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let confirm = text_of(&response.text().await.expect("body"));
    assert!(confirm.contains("issued through ACME"), "{confirm}");
}

#[tokio::test]
async fn a_cloudfront_managed_certificate_is_offered_with_a_caution() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let domain = custom_domain(&app, &pool);
    let managed = sandbox_certificate(
        &app.sandbox,
        json!({"region": "us-east-1", "domain_name": domain, "names": [domain],
               "key_algorithm": "RSA_2048", "origin": "AWS_MANAGED",
               "managed_by": "CLOUDFRONT", "days": 395}),
    )
    .await;
    app.refresh().await;
    let form = app.change_form(&pool).await;
    let choices = options_of(&form);
    let option = choices
        .iter()
        .find(|(value, ..)| *value == managed)
        .expect("the CloudFront-managed certificate is in the dropdown");
    assert!(!option.1, "AWS accepts it, so it stays selectable");
    assert!(
        option.2.contains("caution: managed by CloudFront"),
        "{}",
        option.2
    );
    // It lasts longest, yet a certificate nobody else manages comes first.
    let first = choices.iter().find(|c| !c.1).expect("a selectable option");
    assert_ne!(
        first.0, managed,
        "the cautioned certificate is not recommended"
    );

    let token = field(&form, "submission_token");
    let response = app
        .admin
        .submit_change(
            &pool,
            &[("certificate_arn", &managed), ("submission_token", &token)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let confirm = response.text().await.expect("body");
    assert!(
        text_at(&confirm, "#new-caution")
            .contains("managed by CloudFront for its own distributions"),
        "the confirmation page shows the caution"
    );
}

#[tokio::test]
async fn security_policy_and_routing_are_shown_flagged_and_carried_over() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let other = app.pool_id("Merchant dashboard").await;
    let domain = custom_domain(&app, &pool);
    let current = configured_certificate(&app, &pool);
    // The demo's own: the partner portal on TLS_V1, the EU portal with a failover.
    let partners = app.pool_id("Partner portal").await;
    let row = dashboard_row(&app.admin, &partners).await;
    assert!(row.contains("TLS_V1: discouraged by AWS"), "{row}");
    let eu = app.pool_id("EU customer portal").await;
    let routing = text_at(&app.pool_page(&eu).await, "#routing");
    assert!(
        routing.contains("failover to secondary region eu-central-1"),
        "{routing}"
    );
    // An outside client gives the domain a discouraged policy and a failover.
    let cognito = app.sandbox.cognito("us-east-1").await;
    let config = aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
        .certificate_arn(&current)
        .security_policy(aws_sdk_cognitoidentityprovider::types::SecurityPolicyType::TlsV1)
        .build()
        .expect("config");
    let failover = aws_sdk_cognitoidentityprovider::types::FailoverType::builder()
        .secondary_region("eu-west-1")
        .primary_route53_health_check_id("abcdef11-2222-3333-4444-555555fedcba")
        .build()
        .expect("failover");
    cognito
        .update_user_pool_domain()
        .domain(&domain)
        .user_pool_id(&pool)
        .custom_domain_config(config)
        .managed_login_version(2)
        .routing(
            aws_sdk_cognitoidentityprovider::types::RoutingType::builder()
                .failover(failover)
                .build(),
        )
        .send()
        .await
        .expect("the sandbox takes SecurityPolicy and Routing");
    let active = eventually(Duration::from_secs(20), || async {
        cognito
            .describe_user_pool_domain()
            .domain(&domain)
            .send()
            .await
            .ok()
            .and_then(|d| d.domain_description)
            .and_then(|d| d.status)
            .is_some_and(|s| s.as_str() == "ACTIVE")
    })
    .await;
    assert!(active, "the domain is ACTIVE again");
    app.refresh().await;

    // Shown and flagged on the dashboard, in words.
    let row = dashboard_row(&app.admin, &pool).await;
    assert!(row.contains("TLS policy TLS_V1"), "{row}");
    assert!(row.contains("TLS_V1: discouraged by AWS"), "{row}");
    let calm = dashboard_row(&app.admin, &other).await;
    assert!(calm.contains("TLS policy TLS_V1_"), "{calm}");
    assert!(!calm.contains("discouraged"), "{calm}");

    // Shown on the pool page.
    let page = app.pool_page(&pool).await;
    let policy = text_at(&page, "#security-policy");
    assert!(
        policy.contains("TLS_V1") && policy.contains("discouraged by AWS"),
        "{policy}"
    );
    let routing = text_at(&page, "#routing");
    assert!(
        routing.contains("eu-west-1") && routing.contains("abcdef11-2222-3333-4444-555555fedcba"),
        "{routing}"
    );

    // The confirmation page lists what is kept; the call carries it over.
    let form = app.change_form(&pool).await;
    let token = field(&form, "submission_token");
    let new = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("an eligible certificate")
        .0;
    let response = app
        .admin
        .submit_change(
            &pool,
            &[("certificate_arn", &new), ("submission_token", &token)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let kept = text_at(&response.text().await.expect("body"), "#carried-over");
    assert!(
        kept.contains("TLS_V1") && kept.contains("eu-west-1"),
        "{kept}"
    );
    let response = app.admin.confirm_change(&pool, &new, &token).await;
    assert_eq!(response.status(), 303);
    let sent = &app.sandbox.state().await["last_input"]["UpdateUserPoolDomain"];
    assert_eq!(sent["CustomDomainConfig"]["CertificateArn"], json!(new));
    assert_eq!(sent["CustomDomainConfig"]["SecurityPolicy"], "TLS_V1");
    assert_eq!(sent["Routing"]["Failover"]["SecondaryRegion"], "eu-west-1");
    assert_eq!(
        sent["Routing"]["Failover"]["PrimaryRoute53HealthCheckId"],
        "abcdef11-2222-3333-4444-555555fedcba"
    );
    assert_eq!(sent["ManagedLoginVersion"], 2);
}

#[tokio::test]
async fn concurrent_modification_and_replica_regions_are_told_in_plain_words_and_not_retried() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Merchant dashboard").await;
    for (code, words) in [
        (
            "ConcurrentModificationException",
            "the domain is being changed right now; wait until it is ACTIVE",
        ),
        (
            "OperationNotEnabledException",
            "this region holds a replica of the pool; change it in the primary region",
        ),
    ] {
        // One failure only: a retry, by certdeck or by the SDK, would succeed.
        app.sandbox
            .arm_fault(
                json!({"operation": "UpdateUserPoolDomain", "error_code": code,
                              "message": format!("injected {code}"), "count": 1}),
            )
            .await;
        let before = app.sandbox.calls("UpdateUserPoolDomain").await;
        let response = confirm_recommended(&app.admin, &pool).await;
        assert_eq!(response.status(), 502, "{code}");
        let body = response.text().await.expect("body");
        let shown = text_of(&body);
        assert!(
            shown.contains(words),
            "{code}: plain words {words:?} in {shown}"
        );
        assert!(shown.contains(code), "{code}: AWS's code is shown too");
        assert!(
            !shown.contains("did not answer clearly"),
            "{code} is a refusal, not an unclear outcome"
        );
        assert!(
            !options_of(&body).is_empty(),
            "{code}: the change form is shown again"
        );
        assert_eq!(
            app.sandbox.calls("UpdateUserPoolDomain").await,
            before + 1,
            "{code} is not retried"
        );
        let failed = app.audit_of("certificate.update.failed", 1).await;
        assert!(
            failed[0]
                .record
                .detail
                .as_deref()
                .is_some_and(|d| d.contains(code)),
            "{code} is audited"
        );
    }
    assert!(
        app.state
            .store
            .active_propagations()
            .await
            .expect("store")
            .is_empty(),
        "nothing is followed"
    );
}

#[tokio::test]
async fn imported_certificates_are_flagged_and_renewal_is_shown() {
    let app = spawn_app(Seed::Demo).await;
    // The demo's partner portal is served with an imported certificate, the customer
    // portal with one ACM issued.
    let imported = app.pool_id("Partner portal").await;
    let issued = app.pool_id("Customer portal").await;
    let row = dashboard_row(&app.admin, &imported).await;
    assert!(row.contains("imported: renew by hand"), "{row}");
    let row = dashboard_row(&app.admin, &issued).await;
    assert!(!row.contains("imported: renew by hand"), "{row}");

    let page = app.pool_page(&imported).await;
    let renewal = text_at(&page, "#certificate-renewal");
    assert!(renewal.starts_with("no: imported"), "{renewal}");
    let page = app.pool_page(&issued).await;
    let renewal = text_at(&page, "#certificate-renewal");
    assert!(renewal.starts_with("yes"), "{renewal}");
    assert!(renewal.contains("ELIGIBLE"), "{renewal}");
}

#[tokio::test]
async fn after_a_swap_the_pool_page_shows_what_still_uses_the_old_certificate() {
    let app = app_with_propagation(8).await;
    let pool = app.pool_id("Customer portal").await;
    let old = configured_certificate(&app, &pool);
    let response = confirm_recommended(&app.admin, &pool).await;
    assert_eq!(response.status(), 303);
    let id = paths::propagation_id(
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
    );
    // The edge still serves the old certificate: its distribution still uses it.
    app.refresh().await;
    let page = app.pool_page(&pool).await;
    assert!(
        text_at(&page, "#previous-certificate").contains(&old),
        "the previous certificate is named"
    );
    let users = text_at(&page, "#previous-in-use-by");
    assert!(users.contains("arn:aws:cloudfront::"), "{users}");

    crate::propagation::wait_for_phase(&app.admin, &id, "verified", Duration::from_secs(40)).await;
    app.refresh().await;
    let page = app.pool_page(&pool).await;
    let users = text_at(&page, "#previous-in-use-by");
    assert!(users.contains("nothing uses it now"), "{users}");
    assert!(!users.contains("arn:aws:cloudfront::"), "{users}");
}

/// Whether ACM's text of a serial differs from the probe's (lowercase bytes, colons,
/// no leading zero byte).
fn unlike_the_probe(serial: &str) -> bool {
    serial.starts_with("00") || serial.chars().any(|c| c.is_ascii_uppercase())
}

#[tokio::test]
async fn a_change_is_verified_when_acm_writes_the_serial_in_another_form() {
    let app = app_with_propagation(2).await;
    let pool = app.pool_id("Customer portal").await;
    let domain = custom_domain(&app, &pool);
    // Certificates for the domain until ACM spells one's serial unlike the probe.
    let acm = app.sandbox.acm("us-east-1").await;
    let mut chosen = None;
    for _ in 0..12 {
        let arn = sandbox_certificate(
            &app.sandbox,
            json!({"region": "us-east-1", "domain_name": domain, "names": [domain],
                   "key_algorithm": "RSA_2048", "origin": "AWS_MANAGED", "days": 200}),
        )
        .await;
        let serial = acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
            .expect("DescribeCertificate")
            .certificate()
            .and_then(|c| c.serial())
            .expect("a serial")
            .to_owned();
        if unlike_the_probe(&serial) {
            chosen = Some((arn, serial));
            break;
        }
    }
    let (arn, acm_serial) =
        chosen.expect("the sandbox spells some serials with 00: or in upper case");
    app.refresh().await;
    let id = change_to(&app.admin, &pool, &arn).await;
    let done =
        crate::propagation::wait_for_phase(&app.admin, &id, "verified", Duration::from_secs(40))
            .await;
    let served = done["served_serial"].as_str().expect("a served serial");
    assert_ne!(served, acm_serial, "the texts differ");
    assert!(certdeck::domain::same_serial(served, &acm_serial));
    let row = dashboard_row(&app.admin, &pool).await;
    assert!(
        !row.contains("served certificate differs"),
        "the edge serves the configured certificate: {row}"
    );
}
