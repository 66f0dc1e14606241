//! Issue 2, point 5: quotas throttle a burst; injected faults fire the chosen number of
//! times, then calls succeed again.

use certdeck_sandbox::Seed;
use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{options, spawn_sandbox};

#[tokio::test]
async fn a_burst_above_a_quota_is_throttled() {
    let mut opts = options(Seed::Demo);
    opts.quota_scale = 1.0;
    let app = spawn_sandbox(opts).await;
    let cognito =
        aws_sdk_cognitoidentityprovider::Client::new(&app.sdk_config("us-east-1", false).await);
    let acm = aws_sdk_acm::Client::new(&app.sdk_config("us-east-1", false).await);

    // UserPoolRead allows 15 a second: 40 at once cannot all pass.
    let results = join_all((0..40).map(|_| cognito.list_user_pools().max_results(10).send())).await;
    let throttled: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| {
            e.as_service_error()
                .and_then(|s| s.meta().code())
                .unwrap_or("other")
                .to_owned()
        })
        .collect();
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert!(passed >= 15, "the bucket's burst passes: {passed}");
    assert!(!throttled.is_empty(), "some of the burst is throttled");
    assert!(
        throttled.iter().all(|c| c == "TooManyRequestsException"),
        "{throttled:?}"
    );

    // ACM ListCertificates allows about one a second.
    let results = join_all((0..4).map(|_| acm.list_certificates().send())).await;
    let codes: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter_map(|e| {
            e.as_service_error()
                .and_then(|s| s.meta().code())
                .map(str::to_owned)
        })
        .collect();
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == "ThrottlingException"),
        "{codes:?}"
    );
}

#[tokio::test]
async fn an_injected_fault_fires_the_chosen_number_of_times() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let cognito =
        aws_sdk_cognitoidentityprovider::Client::new(&app.sdk_config("us-east-1", false).await);
    app.arm_fault(json!({
        "operation": "ListUserPools",
        "error_code": "InternalErrorException",
        "count": 2,
    }))
    .await;
    for _ in 0..2 {
        let error = cognito
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .expect_err("injected");
        let error = error.into_service_error();
        assert!(error.is_internal_error_exception(), "{error:?}");
    }
    let pools = cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("the fault is spent");
    assert_eq!(pools.user_pools().len(), 8, "the demo's us-east-1 pools");
    assert_eq!(app.calls("ListUserPools").await, 3);

    // A chosen client error with probability 1 fires until cleared.
    app.arm_fault(json!({
        "operation": "DescribeUserPoolDomain",
        "error_code": "NotAuthorizedException",
        "message": "not today",
        "probability": 1.0,
    }))
    .await;
    for _ in 0..3 {
        let error = cognito
            .describe_user_pool_domain()
            .domain("auth.example.com")
            .send()
            .await
            .expect_err("injected");
        let error = error.into_service_error();
        assert!(error.is_not_authorized_exception());
        assert_eq!(error.meta().message(), Some("not today"));
    }
    app.http
        .delete(format!("{}/_sandbox/faults", app.sandbox.endpoint_url()))
        .send()
        .await
        .expect("clear");
    cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("cleared");

    // The SDK's standard retries ride over a transient fault.
    app.arm_fault(json!({"operation": "ListUserPools", "count": 1}))
        .await;
    let retrying = app.cognito("us-east-1").await;
    retrying
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .expect("retried");
}
