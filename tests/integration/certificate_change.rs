//! Issue 6: the change form, the confirmation, one UpdateUserPoolDomain, errors, double
//! submits and crash recovery.

use std::sync::Arc;

use certdeck::store::{AuditFilter, PendingChange};
use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{
    Browser, TestApp, confirm_recommended, csrf_of, field, options, options_of, paths, spawn_app,
    spawn_sandbox,
};

async fn domain_of(app: &TestApp, region: &str, domain: &str) -> Value {
    let cognito = app.sandbox.cognito(region).await;
    let d = cognito
        .describe_user_pool_domain()
        .domain(domain)
        .send()
        .await
        .expect("describe");
    let d = d.domain_description().expect("description");
    json!({
        "arn": d.custom_domain_config().map(|c| c.certificate_arn()),
        "policy": d.custom_domain_config().and_then(|c| c.security_policy()).map(|p| p.as_str()),
        "managed_login": d.managed_login_version(),
        "status": d.status().map(|s| s.as_str()),
    })
}

#[tokio::test]
async fn each_demo_domain_offers_exactly_the_eligible_certificates() {
    let app = spawn_app(Seed::Demo).await;
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "Customer portal",
            // The CloudFront-managed certificate is selectable, after the others.
            &[
                "auth.example.com, login.example.com",
                "*.example.com",
                "auth.example.com",
            ],
            &[
                "expired on",
                "is PENDING_VALIDATION, not ISSUED",
                "from a private CA",
                "RSA_1024 is too weak",
                "does not support the key algorithm EC_secp384r1",
                "none of the certificate's names covers auth.example.com",
                "not valid before",
            ],
        ),
        (
            "Merchant dashboard",
            // The ACME-issued certificate is listed only because certdeck asks for it.
            &[
                "auth.example.com, login.example.com",
                "*.example.com",
                "login.example.com",
            ],
            &["does not support the key algorithm EC_secp384r1"],
        ),
        ("Partner portal", &[], &["not valid before"]),
        (
            "EU customer portal",
            &["*.eu.example.com"],
            &["none of the certificate's names covers sso.eu.example.com"],
        ),
    ];
    for (pool_name, eligible, reasons) in cases {
        let pool = app.pool_id(pool_name).await;
        let html = app.change_form(&pool).await;
        let options = options_of(&html);
        assert_eq!(
            options.len(),
            16,
            "{pool_name}: every us-east-1 certificate is listed, ACME-issued ones too"
        );
        assert!(
            options
                .iter()
                .any(|o| o.2.starts_with("login.example.com ·")
                    && o.2.contains("issued through ACME")),
            "{pool_name}: the ACME-issued certificate is listed with its origin"
        );
        assert!(
            options.iter().any(|o| o.2.starts_with("auth.example.com ·")
                && o.2.contains("caution: managed by CloudFront")),
            "{pool_name}: the CloudFront-managed certificate is listed with its caution"
        );
        let selectable: Vec<&str> = options
            .iter()
            .filter(|o| !o.1)
            .map(|o| o.2.split(" · ").next().unwrap_or_default())
            .collect();
        assert_eq!(
            selectable, eligible,
            "{pool_name}: the selectable options, best first"
        );
        if !eligible.is_empty() {
            let first = options.iter().find(|o| !o.1).expect("first");
            assert!(
                first.2.contains("recommended"),
                "{pool_name}: the best is recommended"
            );
        }
        let current: Vec<_> = options
            .iter()
            .filter(|o| o.2.contains("· current"))
            .collect();
        assert_eq!(
            current.len(),
            1,
            "{pool_name}: the current certificate is marked"
        );
        assert!(
            current[0].1,
            "{pool_name}: choosing the current one is no change"
        );
        for reason in reasons {
            assert!(
                options.iter().any(|o| o.1 && o.2.contains(reason)),
                "{pool_name}: a disabled option says {reason:?}"
            );
        }
        for (_, disabled, text) in &options {
            assert!(
                *disabled || !text.contains(" — "),
                "{pool_name}: {text} is selectable yet has a reason"
            );
            assert!(
                !*disabled || text.contains(" — ") || text.contains("· current"),
                "{pool_name}: {text} is disabled without a reason"
            );
        }
    }
}

#[tokio::test]
async fn a_confirmed_change_updates_only_the_certificate_and_is_audited() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let before = domain_of(&app, "us-east-1", "auth.example.com").await;

    let form = operator.change_form(&pool).await;
    let token = field(&form, "submission_token");
    let new_arn = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("recommended")
        .0;
    let confirm = operator
        .submit_change(
            &pool,
            &[("certificate_arn", &new_arn), ("submission_token", &token)],
        )
        .await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.expect("body");
    assert!(
        confirm.contains("Now")
            && confirm.contains("After")
            && confirm.contains("auth.example.com, login.example.com")
    );
    assert!(
        confirm.contains("Issuer") && confirm.contains("Days left") && confirm.contains("RSA_2048")
    );
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        0,
        "the confirmation page changes nothing"
    );

    let done = operator
        .submit_change(
            &pool,
            &[
                ("certificate_arn", &new_arn),
                ("submission_token", &token),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(done.status(), 303);
    let location = done
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.starts_with(&paths::propagation("")));
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 1);

    // What certdeck sent: the new certificate, with the settings it read carried over.
    let sent = app.sandbox.state().await["last_input"]["UpdateUserPoolDomain"].clone();
    assert_eq!(
        sent["CustomDomainConfig"]["CertificateArn"],
        new_arn.as_str()
    );
    assert_eq!(
        sent["CustomDomainConfig"]["SecurityPolicy"], "TLS_V1_2_2021",
        "{sent}"
    );
    assert_eq!(sent["ManagedLoginVersion"], 2, "{sent}");
    assert_eq!(sent["Domain"], "auth.example.com");
    let after = domain_of(&app, "us-east-1", "auth.example.com").await;
    assert_eq!(after["arn"], new_arn.as_str());
    assert_eq!(after["policy"], before["policy"]);
    assert_eq!(after["managed_login"], before["managed_login"]);
    assert_eq!(after["policy"], "TLS_V1_2_2021");
    assert_eq!(after["managed_login"], 2);

    let entries = app
        .state
        .store
        .audit_page(
            &AuditFilter {
                pool_id: Some(pool.clone()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.record.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "certificate.update.succeeded",
            "certificate.update.requested"
        ]
    );
    let succeeded = &entries[0];
    assert_eq!(succeeded.record.actor, "paula");
    assert_eq!(
        succeeded.record.new_certificate_arn.as_deref(),
        Some(new_arn.as_str())
    );
    assert_eq!(
        succeeded.record.old_certificate_arn,
        before["arn"].as_str().map(str::to_owned)
    );
    assert!(
        succeeded
            .record
            .aws_request_id
            .as_deref()
            .is_some_and(|id| id.len() == 36),
        "{:?}",
        succeeded.record.aws_request_id
    );

    let page = operator.get_text(&location).await;
    assert!(page.contains("auth.example.com") && page.contains(&new_arn));
    let api: Value = operator
        .propagation_json(&paths::propagation_id(&location))
        .await
        .json()
        .await
        .expect("json");
    for key in [
        "id",
        "pool_id",
        "domain",
        "old_certificate_arn",
        "new_certificate_arn",
        "submitted_at",
        "deadline",
        "phase",
        "cognito_status",
        "served_serial",
        "verified_at",
    ] {
        assert!(api.get(key).is_some(), "JSON has {key}: {api}");
    }
    // Just submitted; the watcher may already have seen Cognito say UPDATING (the phase
    // order itself is the propagation tests' subject).
    assert!(
        ["submitted", "updating"].contains(&api["phase"].as_str().unwrap_or_default()),
        "{api}"
    );
    // The pool page shows the history.
    let pool_page = operator.pool_page(&pool).await;
    assert!(
        pool_page.contains("certificate.update.succeeded")
            && pool_page.contains("certificate.update.requested")
    );
}

#[tokio::test]
async fn forged_posts_are_refused_and_nothing_is_sent() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let identity_pool = app.pool_id("Partner portal").await;
    let form = operator.change_form(&pool).await;
    let token = field(&form, "submission_token");
    let options = options_of(&form);
    let weak = options
        .iter()
        .find(|o| o.2.contains("too weak"))
        .expect("RSA-1024")
        .0
        .clone();
    let eu = app.sandbox.acm("eu-west-1").await;
    let eu_arn = eu
        .list_certificates()
        .send()
        .await
        .expect("eu")
        .certificate_summary_list()[0]
        .certificate_arn()
        .expect("arn")
        .to_owned();
    let not_offered =
        "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
            .to_owned();
    for (arn, status, says) in [
        (not_offered, 422, "not one of those offered"),
        (eu_arn, 422, "is in eu-west-1"),
        (weak, 422, "too weak"),
        (
            "not-an-arn\"><script>".to_owned(),
            422,
            "is not an ACM certificate ARN",
        ),
    ] {
        let response = operator
            .submit_change(
                &pool,
                &[
                    ("certificate_arn", &arn),
                    ("submission_token", &token),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert_eq!(response.status(), status, "{arn}");
        let body = response.text().await.expect("body");
        assert!(body.contains(says), "{arn}: says {says:?}");
        assert!(!options_of(&body).is_empty(), "{arn}: the form again");
        assert!(!body.contains("<script>"), "escaped");
    }
    let response = operator
        .submit_change(
            &identity_pool,
            &[
                ("certificate_arn", "x"),
                ("submission_token", &token),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        0,
        "no UpdateUserPoolDomain for any of them"
    );
}

#[tokio::test]
async fn aws_errors_are_shown_audited_and_leave_no_propagation() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Merchant dashboard").await;
    for (code, words) in [
        (
            "InvalidParameterException",
            "refused the request as invalid",
        ),
        ("NotAuthorizedException", "not allowed"),
        ("ResourceNotFoundException", "does not know this user pool"),
        ("TooManyRequestsException", "throttling"),
        ("InternalErrorException", "internal error"),
    ] {
        app.sandbox
            .arm_fault(json!({"operation": "UpdateUserPoolDomain", "error_code": code, "message": format!("injected {code}"), "probability": 1.0}))
            .await;
        let response = confirm_recommended(&app.admin, &pool).await;
        assert_eq!(response.status(), 502, "{code}");
        let body = response.text().await.expect("body");
        assert!(body.contains(words), "{code}: plain words {words:?}");
        assert!(
            body.contains(code) && body.contains(&format!("injected {code}")),
            "{code}: code and message"
        );
        let request_id = body
            .split("AWS request id: <code>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("request id");
        assert_eq!(request_id.len(), 36, "{code}: a real request id");
        let failed = app.audit_of("certificate.update.failed", 1).await;
        assert!(
            failed[0]
                .record
                .detail
                .as_deref()
                .is_some_and(|d| d.contains(code)),
            "{code}: audited"
        );
        assert_eq!(failed[0].record.aws_request_id.as_deref(), Some(request_id));
        app.sandbox
            .http
            .delete(format!(
                "{}/_sandbox/faults",
                app.sandbox.sandbox.endpoint_url()
            ))
            .send()
            .await
            .expect("clear");
    }
    assert!(
        app.state
            .store
            .recent_propagations(10)
            .await
            .expect("list")
            .is_empty(),
        "no propagation for a failed call"
    );
    // The domain was released: a change now goes through.
    let ok = confirm_recommended(&app.admin, &pool).await;
    assert_eq!(ok.status(), 303);
}

#[tokio::test]
async fn concurrent_confirms_make_one_update_call() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    // The same form submitted twice at once.
    let form = app.change_form(&pool).await;
    let token = field(&form, "submission_token");
    let arn = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("eligible")
        .0;
    let csrf = app.admin.csrf().await;
    let fields = [
        ("certificate_arn", arn.as_str()),
        ("submission_token", token.as_str()),
        ("confirm", "yes"),
        ("csrf_token", csrf.as_str()),
    ];
    let path = paths::change(&pool);
    let (a, b) = tokio::join!(
        app.admin.post_raw(&path, &fields),
        app.admin.post_raw(&path, &fields)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 409]);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 1);

    // Two operators at once, each with a form of their own.
    let pool = app.pool_id("Merchant dashboard").await;
    let first = app.browser_as("ana", "operator", &["payments"]).await;
    let second = app.browser_as("ben", "operator", &["payments"]).await;
    let path = paths::change(&pool);
    let (t1, arn1, c1) = prepare(&first, &path).await;
    let (t2, arn2, c2) = prepare(&second, &path).await;
    let fields1 = [
        ("certificate_arn", arn1.as_str()),
        ("submission_token", t1.as_str()),
        ("confirm", "yes"),
        ("csrf_token", c1.as_str()),
    ];
    let fields2 = [
        ("certificate_arn", arn2.as_str()),
        ("submission_token", t2.as_str()),
        ("confirm", "yes"),
        ("csrf_token", c2.as_str()),
    ];
    let (a, b) = tokio::join!(
        first.post_raw(&path, &fields1),
        second.post_raw(&path, &fields2)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [303, 409]);
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        2,
        "one call per domain"
    );
}

/// A browser's own form: its token, the recommended certificate, its CSRF token.
async fn prepare(browser: &Browser, path: &str) -> (String, String, String) {
    let form = browser.get_text(path).await;
    let arn = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("eligible")
        .0;
    (
        field(&form, "submission_token"),
        arn,
        csrf_of(&form).expect("csrf"),
    )
}

#[tokio::test]
async fn a_change_cut_off_by_a_crash_is_settled_at_the_next_start() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let database = sandbox.sqlite_url();
    let app = TestApp::start(&sandbox, &database).await;
    app.refresh().await;
    let applied_pool = app.pool_id("Customer portal").await;
    let lost_pool = app.pool_id("Merchant dashboard").await;
    let view = app.state.inventory.view();
    let arn_of = |name: &str| {
        view.snapshot
            .certificates
            .iter()
            .find(|c| c.domain_name.as_deref() == Some(name))
            .map(|c| c.arn.clone())
            .expect("certificate")
    };
    let wildcard = arn_of("*.example.com");
    app.stop().await;

    // As if the console stopped right after writing `requested` for two changes: AWS
    // applied the first, never saw the second.
    let store = certdeck::store::Store::connect(&secrecy::SecretString::from(database.clone()))
        .await
        .expect("store")
        .with_audit_key(crate::helpers::test_audit_key());
    for (pool, domain) in [
        (&applied_pool, "auth.example.com"),
        (&lost_pool, "login.example.com"),
    ] {
        let change = PendingChange {
            domain: domain.into(),
            pool_id: pool.clone(),
            region: "us-east-1".into(),
            old_certificate_arn: None,
            new_certificate_arn: wildcard.clone(),
            actor: "paula".into(),
            role: Some("operator".into()),
            account: None,
            account_id: None,
        };
        assert!(store.begin_change(&change).await.expect("claim"));
        store
            .append_audit(certdeck::domain::audit::AuditRecord {
                actor: "paula".into(),
                action: "certificate.update.requested".into(),
                outcome: "requested".into(),
                pool_id: Some(pool.clone()),
                domain: Some(domain.into()),
                new_certificate_arn: Some(wildcard.clone()),
                ..Default::default()
            })
            .await
            .expect("requested");
    }
    // The stop was a while ago: older than any submission still in flight.
    let raw = sqlx::AnyPool::connect(&database)
        .await
        .expect("raw connection");
    sqlx::query("UPDATE pending_changes SET started_at = started_at - 600")
        .execute(&raw)
        .await
        .expect("age");
    raw.close().await;
    let cognito = sandbox.cognito("us-east-1").await;
    cognito
        .update_user_pool_domain()
        .domain("auth.example.com")
        .user_pool_id(&applied_pool)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(&wildcard)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("AWS applies it");

    let restarted = TestApp::start(&sandbox, &database).await;
    let settled = |pool: &str| {
        let store = restarted.state.store.clone();
        let pool = pool.to_owned();
        async move {
            store
                .audit_page(
                    &AuditFilter {
                        pool_id: Some(pool),
                        ..Default::default()
                    },
                    None,
                    5,
                )
                .await
                .expect("audit")
        }
    };
    let applied = settled(&applied_pool).await;
    assert_eq!(applied[0].record.action, "certificate.update.succeeded");
    assert!(
        applied[0]
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("settled later"))
    );
    let lost = settled(&lost_pool).await;
    assert_eq!(lost[0].record.action, "certificate.update.failed");
    let propagations = restarted
        .state
        .store
        .recent_propagations(10)
        .await
        .expect("list");
    assert_eq!(propagations.len(), 1);
    assert_eq!(propagations[0].domain, "auth.example.com");
    assert!(
        restarted
            .state
            .store
            .pending_changes(i64::MAX)
            .await
            .expect("pending")
            .is_empty()
    );
}
