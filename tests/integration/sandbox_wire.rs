//! Issue 2, point 6: bad input gets an AWS-shaped error and the sandbox keeps serving.

use certdeck_sandbox::Seed;
use serde_json::Value;

use crate::helpers::{options, spawn_sandbox};

/// What is sent, and the status and error code expected back.
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/cognito-idp/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000";

#[tokio::test]
async fn bad_input_gets_aws_shaped_errors() {
    let app = spawn_sandbox(options(Seed::Demo)).await;
    let url = app.sandbox.endpoint_url().to_owned();
    let post = |target: &'static str, auth: Option<&'static str>, body: Vec<u8>| {
        let mut request = app
            .http
            .post(&url)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let big = vec![b' '; 10 * 1024 * 1024];
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            "AWSCognitoIdentityProviderService.ListUserPools",
            Some(AUTH),
            b"{\"MaxResults\": ".to_vec(),
            400,
            "SerializationException",
        ),
        (
            "not an object",
            "AWSCognitoIdentityProviderService.ListUserPools",
            Some(AUTH),
            b"[1, 2]".to_vec(),
            400,
            "SerializationException",
        ),
        (
            "wrong member type",
            "AWSCognitoIdentityProviderService.ListUserPools",
            Some(AUTH),
            b"{\"MaxResults\": \"ten\"}".to_vec(),
            400,
            "SerializationException",
        ),
        (
            "unknown target",
            "AWSCognitoIdentityProviderService.LaunchRocket",
            Some(AUTH),
            b"{}".to_vec(),
            400,
            "UnknownOperationException",
        ),
        (
            "unknown service",
            "DynamoDB_20120810.ListTables",
            Some(AUTH),
            b"{}".to_vec(),
            400,
            "UnknownOperationException",
        ),
        (
            "missing auth",
            "AWSCognitoIdentityProviderService.ListUserPools",
            None,
            b"{\"MaxResults\": 10}".to_vec(),
            400,
            "MissingAuthenticationTokenException",
        ),
        (
            "auth without a credential",
            "AWSCognitoIdentityProviderService.ListUserPools",
            Some("AWS4-HMAC-SHA256 Signature=0"),
            b"{\"MaxResults\": 10}".to_vec(),
            400,
            "IncompleteSignatureException",
        ),
        (
            "a 10 MB body",
            "AWSCognitoIdentityProviderService.ListUserPools",
            Some(AUTH),
            big,
            413,
            "RequestEntityTooLargeException",
        ),
    ];
    for (what, target, auth, body, status, code) in cases {
        let response = post(target, auth, body)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert!(
            response.headers().contains_key("x-amzn-requestid"),
            "{what}: request id"
        );
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: JSON body: {e}"));
        assert_eq!(body["__type"], code, "{what}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: message"
        );
        // Still serving, through the SDK.
        let cognito = app.cognito("us-east-1").await;
        let pools = cognito
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .unwrap_or_else(|e| panic!("after {what}: {e}"));
        assert_eq!(pools.user_pools().len(), 8);
    }

    // A good call by hand has the AWS shape too.
    let response = post(
        "AWSCognitoIdentityProviderService.ListUserPools",
        Some(AUTH),
        b"{\"MaxResults\": 2}".to_vec(),
    )
    .await
    .expect("call");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-amz-json-1.1")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["UserPools"].as_array().map(Vec::len), Some(2));
    assert!(body["NextToken"].is_string());
}
