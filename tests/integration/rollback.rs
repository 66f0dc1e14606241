//! Issue 15: rolling a finished change back to the previous certificate, through every
//! guard of the change protocol, linked to the original in the audit log.

use std::time::Duration;

use certdeck::domain::propagation::Phase;
use certdeck::store::AuditFilter;
use certdeck_sandbox::Seed;

use crate::helpers::{Browser, TestApp, eventually, field, options_of, paths, spawn_app};
use crate::sandbox_operations::self_signed;

async fn domain_certificate(app: &TestApp) -> String {
    app.sandbox
        .cognito("us-east-1")
        .await
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe")
        .domain_description()
        .and_then(|d| d.custom_domain_config())
        .map(|c| c.certificate_arn().to_owned())
        .expect("a certificate")
}

/// Changes `pool` to `arn` through the form and waits until the edge serves it.
async fn change_and_verify(app: &TestApp, browser: &Browser, pool: &str, arn: &str) -> String {
    let form = browser.change_form(pool).await;
    let token = field(&form, "submission_token");
    let done = browser.confirm_change(pool, arn, &token).await;
    assert_eq!(
        done.status(),
        303,
        "{}",
        done.text().await.unwrap_or_default()
    );
    let id = paths::propagation_id(
        done.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
    );
    let verified = eventually(Duration::from_secs(40), || async {
        app.state
            .store
            .propagation(&id)
            .await
            .ok()
            .flatten()
            .is_some_and(|p| p.phase == Phase::Verified)
    })
    .await;
    assert!(verified, "propagation {id} is verified");
    id
}

fn rollback_path(id: &str) -> String {
    format!("/propagations/{id}/rollback")
}

/// The demo's imported wildcard certificate (issued by the sandbox's CA, unused).
fn wildcard(app: &TestApp) -> String {
    app.state
        .inventory
        .view()
        .snapshot
        .certificates
        .iter()
        .find(|c| c.domain_name.as_deref() == Some("*.example.com"))
        .expect("wildcard")
        .arn
        .clone()
}

/// Re-imports `arn` as a self-signed certificate for `name`.
async fn reimport(app: &TestApp, name: &str, arn: &str) -> String {
    let (certificate, key) = self_signed(name, 30, 2048);
    app.sandbox
        .acm("us-east-1")
        .await
        .import_certificate()
        .certificate_arn(arn)
        .certificate(aws_sdk_acm::primitives::Blob::new(certificate))
        .private_key(aws_sdk_acm::primitives::Blob::new(key))
        .send()
        .await
        .expect("import")
        .certificate_arn()
        .expect("arn")
        .to_owned()
}

#[tokio::test]
async fn a_verified_change_rolled_back_reaches_the_old_certificate_and_is_linked() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let before = domain_certificate(&app).await;
    let imported = wildcard(&app);
    let original = change_and_verify(&app, &operator, &pool, &imported).await;
    assert_eq!(domain_certificate(&app).await, imported);

    // Viewers and other teams' operators see no button and cannot post.
    let viewer = app.browser_as("vera", "viewer", &[]).await;
    let outsider = app.browser_as("otto", "operator", &["other-team"]).await;
    for browser in [&viewer, &outsider] {
        let page = browser.propagation_page(&original).await;
        assert!(!page.contains("id=\"rollback\""), "no Roll back button");
        let refused = browser.post_form(&rollback_path(&original), &[]).await;
        assert_eq!(refused.status(), 403);
        let refused = browser
            .post_form(&rollback_path(&original), &[("confirm", "yes")])
            .await;
        assert_eq!(refused.status(), 403);
    }
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 1);

    let page = operator.propagation_page(&original).await;
    assert!(
        page.contains("id=\"rollback\""),
        "the operator sees Roll back"
    );
    let confirm = operator.post_form(&rollback_path(&original), &[]).await;
    assert_eq!(confirm.status(), 200);
    let confirm = confirm.text().await.expect("body");
    assert!(confirm.contains("Roll back the certificate of auth.example.com"));
    assert!(confirm.contains(&format!("propagation {original}")));
    assert!(
        confirm.contains(&before),
        "the previous certificate is the target"
    );
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        1,
        "the confirmation sends nothing"
    );
    let token = field(&confirm, "submission_token");
    let done = operator
        .post_form(
            &rollback_path(&original),
            &[("submission_token", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(
        done.status(),
        303,
        "{}",
        done.text().await.unwrap_or_default()
    );
    let rollback = paths::propagation_id(
        done.headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .expect("location"),
    );
    assert_ne!(rollback, original);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 2);
    let sent = app.sandbox.state().await["last_input"]["UpdateUserPoolDomain"].clone();
    assert_eq!(
        sent["CustomDomainConfig"]["CertificateArn"],
        before.as_str()
    );
    assert_eq!(
        domain_certificate(&app).await,
        before,
        "AWS has the old one"
    );

    // The same confirmation again sends nothing (the token is spent).
    let again = operator
        .post_form(
            &rollback_path(&original),
            &[("submission_token", &token), ("confirm", "yes")],
        )
        .await;
    assert_eq!(again.status(), 409);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, 2);

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
    let link = format!("rollback of propagation {original}");
    let linked: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| {
            e.record
                .detail
                .as_deref()
                .is_some_and(|d| d.contains(&link))
        })
        .map(|e| (e.record.action.as_str(), e.record.actor.as_str()))
        .collect();
    assert_eq!(
        linked,
        [
            ("certificate.update.succeeded", "paula"),
            ("certificate.update.requested", "paula")
        ]
    );
    let succeeded = entries
        .iter()
        .find(|e| e.record.action == "certificate.update.succeeded")
        .expect("succeeded");
    assert_eq!(
        succeeded.record.new_certificate_arn.as_deref(),
        Some(before.as_str())
    );
    // Findable from the original: its page links the pool's audit entries.
    assert!(page.contains(&format!("/audit?pool_id={pool}")));
    let audit = app.audit_page(&format!("?pool_id={pool}")).await;
    assert!(audit.contains(&link), "the audit page shows the link");
}

#[tokio::test]
async fn a_rollback_to_a_certificate_that_no_longer_serves_or_was_deleted_is_refused() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("paula", "operator", &["payments"]).await;
    let pool = app.pool_id("Customer portal").await;
    let imported = wildcard(&app);
    change_and_verify(&app, &operator, &pool, &imported).await;
    let form = operator.change_form(&pool).await;
    let recommended = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("recommended")
        .0;
    assert_ne!(recommended, imported);
    let second = change_and_verify(&app, &operator, &pool, &recommended).await;
    let calls = app.sandbox.calls("UpdateUserPoolDomain").await;
    assert_eq!(calls, 2);

    // The previous certificate is re-imported for another name: it no longer covers.
    reimport(&app, "other.example.net", &imported).await;
    app.refresh().await;
    for fields in [&[][..], &[("confirm", "yes")][..]] {
        let refused = operator.post_form(&rollback_path(&second), fields).await;
        assert_eq!(refused.status(), 422);
        let refused = refused.text().await.expect("body");
        assert!(
            refused.contains(&format!(
                "The previous certificate {imported} can no longer serve auth.example.com"
            )) && refused.contains("names covers auth.example.com"),
            "{refused}"
        );
    }

    // Deleted from ACM (through the SDK): the refusal says so.
    app.sandbox
        .acm("us-east-1")
        .await
        .delete_certificate()
        .certificate_arn(&imported)
        .send()
        .await
        .expect("delete");
    for fields in [&[][..], &[("confirm", "yes")][..]] {
        let refused = operator.post_form(&rollback_path(&second), fields).await;
        assert_eq!(refused.status(), 422);
        let refused = refused.text().await.expect("body");
        assert!(
            refused.contains(&format!(
                "The previous certificate {imported} no longer exists in ACM: it was deleted."
            )),
            "{refused}"
        );
    }
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        calls,
        "nothing sent"
    );
}
