//! Issue 15: the pre-flight checks on the confirmation page (domain ACTIVE, nothing
//! else in flight, expiry margin, settings carried over) and the exact request shown.

use std::sync::Arc;
use std::time::Duration;

use certdeck::store::PendingChange;
use certdeck_sandbox::{SandboxOptions, Seed, Timings};
use serde_json::Value;

use crate::helpers::{
    Browser, field, options, options_of, spawn_app, spawn_app_on, spawn_sandbox, texts,
};
use crate::sandbox_operations::self_signed;

/// The checks a confirmation page shows: (name, verdict, detail).
fn checks_of(html: &str) -> Vec<(String, String, String)> {
    let document = scraper::Html::parse_document(html);
    let rows = scraper::Selector::parse("#preflight tbody tr").expect("selector");
    let cells = scraper::Selector::parse("td").expect("selector");
    document
        .select(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .select(&cells)
                .map(|c| c.text().collect::<String>().trim().to_owned())
                .collect();
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

fn verdict<'a>(checks: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    let check = checks
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("a check named {name}: {checks:?}"));
    (check.1.as_str(), check.2.as_str())
}

/// Opens the form of `pool`, asks for the confirmation of `arn` (the recommended
/// certificate when `None`): the page, the ARN and the form's token.
async fn confirmation(
    browser: &Browser,
    pool: &str,
    arn: Option<&str>,
) -> (u16, String, String, String) {
    let form = browser.change_form(pool).await;
    let token = field(&form, "submission_token");
    let arn = match arn {
        Some(arn) => arn.to_owned(),
        None => {
            options_of(&form)
                .into_iter()
                .find(|o| !o.1)
                .expect("an eligible certificate")
                .0
        }
    };
    let page = browser
        .submit_change(
            pool,
            &[("certificate_arn", &arn), ("submission_token", &token)],
        )
        .await;
    let status = page.status().as_u16();
    (status, page.text().await.expect("body"), arn, token)
}

fn has_confirm_button(html: &str) -> bool {
    !texts(html, "form.actions button").is_empty()
}

#[tokio::test]
async fn every_check_passes_and_the_request_shown_is_the_request_sent() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let (status, page, arn, token) = confirmation(&operator, &pool, None).await;
    assert_eq!(status, 200);
    let checks = checks_of(&page);
    assert_eq!(
        checks.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        [
            "Domain is ACTIVE",
            "Nothing else in flight",
            "Expiry margin",
            "Settings carried over"
        ]
    );
    for (name, verdict, detail) in &checks {
        assert_eq!(verdict, "pass", "{name}: {detail}");
    }
    assert!(
        verdict(&checks, "Settings carried over")
            .1
            .contains("TLS_V1_2_2021")
    );
    assert!(
        has_confirm_button(&page),
        "all pass: the change may be confirmed"
    );
    let shown: Value = serde_json::from_str(&texts(&page, "#update-request")[0])
        .expect("the request is shown as JSON");
    assert_eq!(shown["CustomDomainConfig"]["CertificateArn"], arn.as_str());
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 0);

    let done = operator.confirm_change(&pool, &arn, &token).await;
    assert_eq!(done.status(), 303);
    let sent = app.sandbox.state().await["last_input"]["UpdateUserPoolDomain"].clone();
    assert_eq!(
        shown, sent,
        "the page showed exactly what the sandbox received"
    );
}

#[tokio::test]
async fn a_domain_still_updating_after_another_change_fails_two_checks_and_blocks() {
    // Cognito keeps the domain UPDATING long enough to look at it.
    let sandbox = Arc::new(
        spawn_sandbox(SandboxOptions {
            timings: Timings {
                propagation: Duration::from_secs(60),
                validation: Duration::from_secs(1),
            },
            ..options(Seed::Demo)
        })
        .await,
    );
    let database = sandbox.sqlite_url();
    let app = spawn_app_on(&sandbox, &database).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let (_, _, first, token) = confirmation(&operator, &pool, None).await;
    assert_eq!(
        operator
            .confirm_change(&pool, &first, &token)
            .await
            .status(),
        303
    );
    app.refresh().await;

    let form = operator.change_form(&pool).await;
    let other = options_of(&form)
        .into_iter()
        .find(|o| !o.1 && o.0 != first)
        .expect("another eligible certificate")
        .0;
    let (status, page, arn, token) = confirmation(&operator, &pool, Some(&other)).await;
    assert_eq!(status, 200, "{page}");
    let checks = checks_of(&page);
    let (active, why) = verdict(&checks, "Domain is ACTIVE");
    assert_eq!(active, "fail");
    assert!(
        why.contains("UPDATING") && why.contains("ConcurrentModificationException"),
        "{why}"
    );
    let (idle, why) = verdict(&checks, "Nothing else in flight");
    assert_eq!(idle, "fail");
    assert!(why.contains("propagation") && why.contains(&first), "{why}");
    assert_eq!(verdict(&checks, "Expiry margin").0, "pass");
    assert!(
        !has_confirm_button(&page),
        "a failing check hides the button"
    );
    assert!(page.contains("A pre-flight check failed"));

    let refused = operator.confirm_change(&pool, &arn, &token).await;
    assert_eq!(refused.status(), 409);
    let refused = refused.text().await.expect("body");
    assert!(refused.contains("UPDATING"), "{refused}");
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        1,
        "nothing sent"
    );
}

#[tokio::test]
async fn a_change_being_submitted_fails_the_in_flight_check_and_blocks() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    // Another person's submission holds the claim on the domain.
    assert!(
        app.state
            .store
            .begin_change(&PendingChange {
                domain: "auth.example.com".into(),
                pool_id: pool.clone(),
                region: "us-east-1".into(),
                old_certificate_arn: None,
                new_certificate_arn: "arn:aws:acm:us-east-1:123456789012:certificate/x".into(),
                actor: "olga".into(),
                role: Some("operator".into()),
                account: None,
                account_id: None,
            })
            .await
            .expect("claim")
    );
    let (status, page, arn, token) = confirmation(&operator, &pool, None).await;
    assert_eq!(status, 200);
    let checks = checks_of(&page);
    assert_eq!(verdict(&checks, "Domain is ACTIVE").0, "pass");
    let (idle, why) = verdict(&checks, "Nothing else in flight");
    assert_eq!(idle, "fail");
    assert!(why.contains("a change by olga is being submitted"), "{why}");
    assert!(!has_confirm_button(&page));
    let refused = operator.confirm_change(&pool, &arn, &token).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 0);

    // Released, the same change passes every check.
    app.state
        .store
        .end_change("auth.example.com")
        .await
        .expect("release");
    let (_, page, _, _) = confirmation(&operator, &pool, Some(&arn)).await;
    assert!(checks_of(&page).iter().all(|c| c.1 == "pass"), "{page}");
    assert!(has_confirm_button(&page));
}

#[tokio::test]
async fn a_certificate_expiring_within_seven_days_fails_the_margin_and_is_refused() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let acm = app.sandbox.acm("us-east-1").await;
    let mut arns = Vec::new();
    for days in [3, 30] {
        let (certificate, key) = self_signed("auth.example.com", days, 2048);
        let imported = acm
            .import_certificate()
            .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
            .private_key(aws_sdk_acm::primitives::Blob::new(key))
            .send()
            .await
            .expect("import");
        arns.push(imported.certificate_arn().expect("arn").to_owned());
    }
    app.refresh().await;

    let (status, page, arn, token) = confirmation(&operator, &pool, Some(&arns[0])).await;
    assert_eq!(status, 200, "{page}");
    let checks = checks_of(&page);
    let (margin, why) = verdict(&checks, "Expiry margin");
    assert_eq!(margin, "fail");
    assert!(
        why.contains("in 2 days") || why.contains("in 3 days"),
        "{why}"
    );
    assert!(why.contains("at least 7 days"), "{why}");
    assert_eq!(verdict(&checks, "Domain is ACTIVE").0, "pass");
    assert!(!has_confirm_button(&page));
    let refused = operator.confirm_change(&pool, &arn, &token).await;
    assert_eq!(refused.status(), 409);
    let refused = refused.text().await.expect("body");
    assert!(refused.contains("Expiry margin"), "{refused}");
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 0);

    let (_, page, arn, token) = confirmation(&operator, &pool, Some(&arns[1])).await;
    let checks = checks_of(&page);
    let (margin, why) = verdict(&checks, "Expiry margin");
    assert_eq!(margin, "pass", "{why}");
    assert_eq!(
        operator.confirm_change(&pool, &arn, &token).await.status(),
        303
    );
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 1);
}

#[tokio::test]
async fn settings_changed_in_aws_since_the_inventory_fail_the_carried_over_check() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let cognito = app.sandbox.cognito("us-east-1").await;
    let described = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe");
    let current = described
        .domain_description()
        .and_then(|d| d.custom_domain_config())
        .map(|c| c.certificate_arn().to_owned())
        .expect("current certificate");
    // Someone moves the domain to managed login version 1 outside certdeck.
    cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(&current)
                .security_policy(
                    aws_sdk_cognitoidentityprovider::types::SecurityPolicyType::TlsV122021,
                )
                .build()
                .expect("config"),
        )
        .managed_login_version(1)
        .send()
        .await
        .expect("update");
    let active = crate::helpers::eventually(Duration::from_secs(20), || async {
        cognito
            .describe_user_pool_domain()
            .domain("auth.example.com")
            .send()
            .await
            .ok()
            .and_then(|d| d.domain_description)
            .and_then(|d| d.status)
            .is_some_and(|s| s.as_str() == "ACTIVE")
    })
    .await;
    assert!(active);
    let (_, page, _, _) = confirmation(&operator, &pool, None).await;
    let checks = checks_of(&page);
    let (carried, why) = verdict(&checks, "Settings carried over");
    assert_eq!(carried, "fail");
    assert!(
        why.contains("managed login version 1") && why.contains("managed login version 2"),
        "{why}"
    );
    assert!(!has_confirm_button(&page));
    let shown: Value =
        serde_json::from_str(&texts(&page, "#update-request")[0]).expect("request JSON");
    assert_eq!(
        shown["ManagedLoginVersion"], 1,
        "the request carries what AWS has now"
    );

    // Read again, the page shows the settings as they are and the check passes.
    app.refresh().await;
    let (_, page, _, _) = confirmation(&operator, &pool, None).await;
    assert_eq!(
        verdict(&checks_of(&page), "Settings carried over").0,
        "pass"
    );
}
