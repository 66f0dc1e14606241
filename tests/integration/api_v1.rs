//! Issue 14, JSON API: `/api/v1`'s routes, problem answers, the guarded change with
//! `Idempotency-Key`, the OpenAPI document (checked by an outside validator against
//! the app's route table), and a pipeline rotating a certificate end to end.

use std::process::Command;

use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::api_tokens::{base, get, make_token, pipeline, post_change, problem};
use crate::helpers::{TestApp, options_of, spawn_app};
use crate::sandbox_cli::python;

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"))
    );
    response.json().await.expect("json")
}

/// The first selectable certificate of `pool`, as the API lists it.
async fn eligible(app: &TestApp, token: &str, pool: &str) -> String {
    let list = json_of(get(app, token, &format!("/api/v1/pools/{pool}/certificates")).await).await;
    list["certificates"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["selectable"] == true)
        .expect("an eligible certificate")["arn"]
        .as_str()
        .expect("arn")
        .to_owned()
}

#[tokio::test]
async fn the_read_routes_answer_what_the_pages_show() {
    let app = spawn_app(Seed::Demo).await;
    let token = make_token(&app.admin, "reader", "read", "5").await;
    let pool = app.pool_id("Customer portal").await;

    let all = json_of(get(&app, &token, "/api/v1/pools").await).await;
    let view = app.state.inventory.view();
    assert_eq!(all["total"], view.rows.len());
    let found = json_of(get(&app, &token, "/api/v1/pools?q=Customer%20portal").await).await;
    let names: Vec<&str> = found["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .filter_map(|p| p["pool_name"].as_str())
        .collect();
    assert_eq!(found["total"], names.len());
    assert!(names.contains(&"Customer portal"), "{found}");
    assert!(
        names.len() < view.rows.len()
            && names
                .iter()
                .all(|n| n.to_lowercase().contains("customer portal")),
        "{names:?}"
    );
    let by_region =
        json_of(get(&app, &token, "/api/v1/pools?region=eu-west-1&sort=name").await).await;
    let regions: Vec<&str> = by_region["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .filter_map(|p| p["region"].as_str())
        .collect();
    assert!(!regions.is_empty() && regions.iter().all(|r| *r == "eu-west-1"));

    let one = json_of(get(&app, &token, &format!("/api/v1/pools/{pool}")).await).await;
    assert_eq!(one["pool_name"], "Customer portal");
    assert_eq!(one["custom_domain"], "auth.example.com");
    assert_eq!(one["team"], "payments");

    // The certificates: exactly the change form's options, with the same eligibility.
    let list =
        json_of(get(&app, &token, &format!("/api/v1/pools/{pool}/certificates")).await).await;
    let form = options_of(&app.change_form(&pool).await);
    let api: Vec<(String, bool)> = list["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| {
            (
                c["arn"].as_str().expect("arn").to_owned(),
                c["selectable"] == false,
            )
        })
        .collect();
    let form: Vec<(String, bool)> = form
        .into_iter()
        .filter(|(value, ..)| !value.is_empty())
        .map(|(value, disabled, _)| (value, disabled))
        .collect();
    let mut api_sorted = api.clone();
    let mut form_sorted = form.clone();
    api_sorted.sort();
    form_sorted.sort();
    assert_eq!(api_sorted, form_sorted);
    let ineligible: Vec<&Value> = list["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .filter(|c| c["eligible"] == false)
        .collect();
    assert!(!ineligible.is_empty());
    assert!(
        ineligible
            .iter()
            .all(|c| c["reasons"].as_array().is_some_and(|r| !r.is_empty()))
    );
    let reasons: String = ineligible
        .iter()
        .flat_map(|c| c["reasons"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(reasons.contains("expired on"), "{reasons}");

    // Problems.
    let body = problem(
        get(&app, &token, "/api/v1/pools/us-east-1_Nothing").await,
        404,
    )
    .await;
    assert_eq!(body["type"], "urn:certdeck:problem:not-found");
    problem(get(&app, &token, "/api/v1/no-such-route").await, 404).await;
    problem(get(&app, &token, "/api/v1/pools?page=abc").await, 400).await;
    problem(get(&app, &token, "/api/v1/audit?limit=100000").await, 400).await;
    problem(get(&app, &token, "/api/v1/propagations/nope").await, 404).await;
}

#[tokio::test]
async fn the_audit_log_pages_by_key_with_filters() {
    let app = spawn_app(Seed::Empty).await;
    let token = make_token(&app.admin, "auditor", "read", "5").await;
    for i in 0..5 {
        app.create_account(&format!("user{i}"), "viewer", &[]).await;
    }
    let first =
        json_of(get(&app, &token, "/api/v1/audit?action=account.created&limit=2").await).await;
    let entries = first["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2);
    let next = first["next"].as_str().expect("a next page").to_owned();
    assert!(next.contains("action=account.created") && next.contains("before="));
    let second = json_of(get(&app, &token, &next).await).await;
    let older = second["entries"].as_array().expect("entries");
    assert_eq!(older.len(), 2);
    let ids: Vec<i64> = entries
        .iter()
        .chain(older)
        .map(|e| e["id"].as_i64().expect("id"))
        .collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no overlap: {ids:?}"
    );
    assert!(
        entries
            .iter()
            .chain(older)
            .all(|e| e["action"] == "account.created")
    );
}

#[tokio::test]
async fn a_change_goes_through_the_guarded_protocol_once_per_idempotency_key() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app.browser_as("gina", "operator", &["payments"]).await;
    let token = make_token(&operator, "ci", "change", "5").await;
    let pool = app.pool_id("Customer portal").await;
    let arn = eligible(&app, &token, &pool).await;
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;

    // An ineligible certificate: 422 with reasons, nothing sent.
    let list =
        json_of(get(&app, &token, &format!("/api/v1/pools/{pool}/certificates")).await).await;
    let bad = list["certificates"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["eligible"] == false)
        .expect("an ineligible one")["arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let body = problem(post_change(&app, &token, &pool, &bad, None).await, 422).await;
    assert!(
        body["reasons"].as_array().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    let malformed = pipeline()
        .post(format!("{}/api/v1/pools/{pool}/certificate", base(&app)))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    problem(malformed, 400).await;
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates);

    // The change, then its retry: one update, the same answer.
    let first = post_change(&app, &token, &pool, &arn, Some("rotate-1")).await;
    assert_eq!(first.status(), 202);
    let location = first
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    let first: Value = first.json().await.expect("json");
    let id = first["propagation_id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/v1/propagations/{id}"));
    let retry = post_change(&app, &token, &pool, &arn, Some("rotate-1")).await;
    assert_eq!(retry.status(), 202);
    assert_eq!(
        retry
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(retry.json::<Value>().await.expect("json"), first);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);

    // The same key with another body: 422, nothing sent.
    let body = problem(
        post_change(&app, &token, &pool, &bad, Some("rotate-1")).await,
        422,
    )
    .await;
    assert_eq!(body["type"], "urn:certdeck:problem:idempotency-key-reused");
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);

    // The protocol's audit: requested before, succeeded after, as the pages' changes.
    let requested = app.audit_of("certificate.update.requested", 5).await;
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0].record.actor, "gina");
    assert_eq!(
        requested[0].record.new_certificate_arn.as_deref(),
        Some(arn.as_str())
    );
    assert_eq!(
        app.audit_of("certificate.update.succeeded", 5).await.len(),
        1
    );
    let propagation = json_of(get(&app, &token, &location).await).await;
    assert_eq!(propagation["id"], id);
    assert_eq!(propagation["new_certificate_arn"], arn);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_change() {
    let app = spawn_app(Seed::Demo).await;
    let token = make_token(&app.admin, "ci", "change", "5").await;
    let pool = app.pool_id("Customer portal").await;
    let arn = eligible(&app, &token, &pool).await;
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;
    let answers = futures_util::future::join_all(
        (0..6).map(|_| post_change(&app, &token, &pool, &arn, Some("burst-1"))),
    )
    .await;
    let mut accepted = Vec::new();
    for answer in answers {
        match answer.status().as_u16() {
            202 => accepted.push(answer.json::<Value>().await.expect("json")),
            // Still running when it arrived: a retry shortly gets the answer.
            409 => {
                let body = problem(answer, 409).await;
                assert!(
                    body["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("still running"))
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(!accepted.is_empty());
    assert!(accepted.windows(2).all(|w| w[0] == w[1]), "{accepted:?}");
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
    let replay = post_change(&app, &token, &pool, &arn, Some("burst-1")).await;
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.json::<Value>().await.expect("json"), accepted[0]);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
}

#[tokio::test]
async fn the_openapi_document_is_valid_3_1_and_covers_every_api_route() {
    let app = spawn_app(Seed::Empty).await;
    // Public: a pipeline's tooling reads it before it has a token.
    let response = pipeline()
        .get(format!("{}/api/v1/openapi.json", base(&app)))
        .send()
        .await
        .expect("request");
    let document = json_of(response).await;
    assert_eq!(document["openapi"], "3.1.0");

    // An outside validator (openapi-spec-validator, pinned in tests/clients).
    let dir = crate::helpers::tempdir();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write");
    let output = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/validate_openapi.py"
        ))
        .arg(&file)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("valid OpenAPI 3.1"), "{stdout}");

    // Every route actix serves under /api/v1 (the table its scope is built from) is in
    // the document, and nothing else is.
    let paths = document["paths"].as_object().expect("paths");
    let mut documented = 0;
    for (_, operations) in paths {
        documented += operations.as_object().expect("operations").len();
    }
    assert_eq!(documented, certdeck::routes::api::ROUTES.len());
    for route in certdeck::routes::api::ROUTES {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][route.full_path()][&method];
        assert_eq!(
            operation["operationId"],
            route.operation_id,
            "{method} {}",
            route.full_path()
        );
    }
    // And each documented operation reaches a handler (the scope's fallback answers
    // "There is no route" to anything else).
    let client = pipeline();
    for (path, operations) in paths {
        for method in operations.as_object().expect("operations").keys() {
            let url = format!(
                "{}{}",
                base(&app),
                path.replace("{pool_id}", "us-east-1_Nothing")
                    .replace("{id}", "nothing")
            );
            let request = match method.as_str() {
                "get" => client.get(&url),
                "post" => client.post(&url).json(&json!({})),
                other => panic!("an unexpected method {other}"),
            };
            let response = request.send().await.expect("request");
            let text = response.text().await.expect("body");
            assert!(
                !text.contains("There is no route"),
                "{method} {path}: {text}"
            );
        }
    }
    let fallback = client
        .delete(format!("{}/api/v1/pools", base(&app)))
        .send()
        .await
        .expect("request");
    assert_eq!(fallback.status(), 401, "unauthenticated first");
}

#[tokio::test]
async fn a_pipeline_rotates_a_certificate_end_to_end() {
    let app = spawn_app(Seed::Demo).await;
    let operator = app
        .browser_as("pipeline-owner", "operator", &["payments"])
        .await;
    let token = make_token(&operator, "release pipeline", "change", "30").await;
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;
    let output = tokio::process::Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/pipeline.py"
        ))
        .arg(base(&app))
        .arg(app.sandbox.sandbox.endpoint_url())
        .arg("Customer portal")
        .env("CERTDECK_TOKEN", &token)
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the pipeline failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("pipeline rotated"), "{stdout}");
    // What the sandbox holds: one update, and the domain on the chosen certificate.
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
    let chosen = stdout
        .lines()
        .find_map(|l| l.strip_prefix("chosen "))
        .expect("the chosen certificate")
        .trim()
        .to_owned();
    let cognito = app.sandbox.cognito("us-east-1").await;
    let described = cognito
        .describe_user_pool_domain()
        .domain("auth.example.com")
        .send()
        .await
        .expect("describe");
    let configured = described
        .domain_description()
        .and_then(|d| d.custom_domain_config())
        .map(|c| c.certificate_arn().to_owned());
    assert_eq!(configured.as_deref(), Some(chosen.as_str()));
    assert_eq!(app.audit_of("propagation.verified", 5).await.len(), 1);
}
