//! Issue 15: the two-person rule. A pool tagged `certdeck:approval=required` turns a
//! confirmed change into a request; another operator in scope (or an admin) approves it
//! within 24 h, bound to the exact plan.

use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;

use crate::helpers::{
    Browser, TestApp, confirm_recommended, eventually, options, spawn_app_on, spawn_sandbox,
};

struct Setup {
    app: TestApp,
    database: String,
    pool: String,
    paula: Browser,
    peter: Browser,
}

/// The demo with "Customer portal" tagged for approval, and two payments operators.
async fn setup() -> Setup {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let database = sandbox.sqlite_url();
    let app = spawn_app_on(&sandbox, &database).await;
    let pool = app.pool_id("Customer portal").await;
    let arn = {
        let view = app.state.inventory.view();
        view.pool(&pool)
            .expect("pool")
            .pool
            .arn
            .clone()
            .expect("arn")
    };
    app.sandbox
        .cognito("us-east-1")
        .await
        .tag_resource()
        .resource_arn(&arn)
        .tags("certdeck:approval", "required")
        .send()
        .await
        .expect("tagged");
    app.refresh().await;
    let paula = app.browser_as("paula", "operator", &["payments"]).await;
    let peter = app.browser_as("peter", "operator", &["payments"]).await;
    Setup {
        app,
        database,
        pool,
        paula,
        peter,
    }
}

/// Paula confirms the recommended certificate: the request's id (from the redirect).
async fn request_change(s: &Setup) -> String {
    let response = confirm_recommended(&s.paula, &s.pool).await;
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    location
        .strip_prefix("/requests#request-")
        .unwrap_or_else(|| panic!("{location} is a request"))
        .to_owned()
}

fn approve(id: &str) -> String {
    format!("/requests/{id}/approve")
}

fn reject(id: &str) -> String {
    format!("/requests/{id}/reject")
}

async fn status_of(app: &TestApp, id: &str) -> String {
    app.state
        .store
        .change_request(id)
        .await
        .expect("read")
        .expect("the request")
        .status
}

#[tokio::test]
async fn a_request_is_made_instead_of_a_call_and_another_operator_approves_it() {
    let s = setup().await;
    let id = request_change(&s).await;
    assert_eq!(
        s.app.sandbox.calls("UpdateUserPoolDomain").await,
        0,
        "a request, not a call"
    );
    let request = s
        .app
        .state
        .store
        .change_request(&id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(request.status, "pending");
    assert_eq!(request.requester, "paula");
    assert!(
        request.settings.contains("TLS_V1_2_2021"),
        "{}",
        request.settings
    );

    // The requester sees it, without an Approve button, and cannot approve it.
    let page = s.paula.get_text("/requests").await;
    assert!(page.contains(&format!("request-{id}")));
    assert!(!page.contains(&approve(&id)), "no Approve for one's own");
    let refused = s.paula.post_form(&approve(&id), &[]).await;
    assert_eq!(refused.status(), 403);
    // Nor can a viewer or an operator of another team.
    let viewer = s.app.browser_as("vera", "viewer", &[]).await;
    let outsider = s.app.browser_as("otto", "operator", &["other-team"]).await;
    for browser in [&viewer, &outsider] {
        assert!(!browser.get_text("/requests").await.contains(&approve(&id)));
        assert_eq!(browser.post_form(&approve(&id), &[]).await.status(), 403);
    }
    assert_eq!(s.app.sandbox.calls("UpdateUserPoolDomain").await, 0);
    assert_eq!(status_of(&s.app, &id).await, "pending");

    let page = s.peter.get_text("/requests").await;
    assert!(page.contains(&approve(&id)), "Peter may approve it");
    let approved = s.peter.post_form(&approve(&id), &[]).await;
    assert_eq!(approved.status(), 303);
    let location = approved
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/propagations/"), "{location}");
    assert_eq!(s.app.sandbox.calls("UpdateUserPoolDomain").await, 1);
    let sent = s.app.sandbox.state().await["last_input"]["UpdateUserPoolDomain"].clone();
    assert_eq!(
        sent["CustomDomainConfig"]["CertificateArn"],
        request.new_certificate_arn.as_str()
    );
    assert_eq!(sent["ManagedLoginVersion"], 2, "settings carried over");
    assert_eq!(status_of(&s.app, &id).await, "approved");

    // Requesting, the change and the approval are audited, with both names.
    let requested = s.app.audit_of("certificate.approval.requested", 5).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].record.actor, "paula");
    let update = s.app.audit_of("certificate.update.requested", 5).await;
    assert_eq!(update.len(), 1);
    assert_eq!(update[0].record.actor, "peter");
    assert!(
        update[0]
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.contains(&format!("approved request {id} of paula"))),
        "{:?}",
        update[0].record.detail
    );
    let approval = s.app.audit_of("certificate.approval.approved", 5).await;
    assert_eq!(approval.len(), 1);
    assert_eq!(approval[0].record.actor, "peter");
    assert!(
        approval[0]
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("of paula approved by peter"))
    );

    // Decided once.
    let again = s.app.admin.post_form(&approve(&id), &[]).await;
    assert_eq!(again.status(), 409);
    assert!(again.text().await.expect("body").contains("is approved"));
    assert_eq!(s.app.sandbox.calls("UpdateUserPoolDomain").await, 1);
}

#[tokio::test]
async fn a_rejected_request_is_audited_and_cannot_be_approved() {
    let s = setup().await;
    let id = request_change(&s).await;
    let rejected = s.peter.post_form(&reject(&id), &[]).await;
    assert_eq!(rejected.status(), 303);
    assert_eq!(status_of(&s.app, &id).await, "rejected");
    let entries = s.app.audit_of("certificate.approval.rejected", 5).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].record.actor, "peter");
    let late = s.app.admin.post_form(&approve(&id), &[]).await;
    assert_eq!(late.status(), 409);
    assert_eq!(s.app.sandbox.calls("UpdateUserPoolDomain").await, 0);
}

#[tokio::test]
async fn an_approval_of_a_plan_made_stale_in_aws_is_refused() {
    let s = setup().await;
    let id = request_change(&s).await;
    let request = s
        .app
        .state
        .store
        .change_request(&id)
        .await
        .expect("read")
        .expect("stored");
    // Meanwhile someone changes the managed login version in AWS directly.
    let cognito = s.app.sandbox.cognito("us-east-1").await;
    cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&s.pool)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(request.old_certificate_arn.as_deref().expect("old"))
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
    let active = eventually(Duration::from_secs(20), || async {
        cognito
            .describe_user_pool_domain()
            .domain("auth.example.com")
            .send()
            .await
            .ok()
            .and_then(|d| d.domain_description)
            .and_then(|d| d.status)
            .is_some_and(|st| st.as_str() == "ACTIVE")
    })
    .await;
    assert!(active);
    let calls = s.app.sandbox.calls("UpdateUserPoolDomain").await;
    let refused = s.peter.post_form(&approve(&id), &[]).await;
    assert_eq!(refused.status(), 409);
    let refused = refused.text().await.expect("body");
    assert!(
        refused.contains("The domain changed since the request")
            && refused.contains("managed login version 1"),
        "{refused}"
    );
    assert_eq!(
        s.app.sandbox.calls("UpdateUserPoolDomain").await,
        calls,
        "nothing sent"
    );
    assert_eq!(status_of(&s.app, &id).await, "pending");
}

#[tokio::test]
async fn an_expired_request_is_marked_audited_and_cannot_be_approved() {
    let s = setup().await;
    let id = request_change(&s).await;
    // A day and a bit later.
    let raw = sqlx::AnyPool::connect(&s.database)
        .await
        .expect("raw connection");
    sqlx::query(
        "UPDATE change_requests SET created_at = created_at - 90000, expires_at = expires_at - 90000",
    )
    .execute(&raw)
    .await
    .expect("age");
    raw.close().await;
    let refused = s.peter.post_form(&approve(&id), &[]).await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("is expired: it can no longer be approved")
    );
    assert_eq!(status_of(&s.app, &id).await, "expired");
    let expired = s.app.audit_of("certificate.approval.expired", 5).await;
    assert_eq!(expired.len(), 1, "audited once");
    assert!(
        s.paula
            .get_text("/requests")
            .await
            .contains("data-status=\"expired\"")
    );
    assert_eq!(
        s.app
            .audit_of("certificate.approval.expired", 5)
            .await
            .len(),
        1
    );
    assert_eq!(s.app.sandbox.calls("UpdateUserPoolDomain").await, 0);
}

#[tokio::test]
async fn an_account_setting_requires_approval_for_its_pools() {
    use certdeck::configuration::AccountSettings;
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let mut console = crate::helpers::settings(&sandbox, &sandbox.sqlite_url());
    console.accounts = vec![
        AccountSettings {
            name: "prod".into(),
            role_arn: certdeck_sandbox::demo::PROD_ROLE_ARN.into(),
            external_id: None,
            regions: Vec::new(),
            team: None,
            approval: Some("required".into()),
        },
        AccountSettings {
            name: "staging".into(),
            role_arn: certdeck_sandbox::demo::STAGING_ROLE_ARN.into(),
            external_id: Some(certdeck_sandbox::demo::STAGING_EXTERNAL_ID.into()),
            regions: Vec::new(),
            team: None,
            approval: None,
        },
    ];
    let app = TestApp::start_with(&sandbox, console).await;
    app.refresh().await;
    let paula = app.browser_as("paula", "operator", &["payments"]).await;

    let prod = app.pool_id("Customer portal").await;
    let response = confirm_recommended(&paula, &prod).await;
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/requests#request-"), "{location}");
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 0);

    // The pool itself carries no approval tag: the account's setting decided.
    assert!(
        !app.state
            .inventory
            .view()
            .pool(&prod)
            .expect("pool")
            .pool
            .tags
            .contains_key("certdeck:approval")
    );
    let requested = app.audit_of("certificate.approval.requested", 5).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].record.account.as_deref(), Some("prod"));
}
