//! One complete error page (issue 11, point 5): the house's page for bad query strings,
//! forms and paths, the navigation bar kept for a signed-in user, a request id shared
//! by the page and the logs, and JSON log lines on request.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use certdeck_sandbox::Seed;

use crate::helpers::{captured_logs, cli_env, paths, spawn_app, tempdir};

/// The request id an error page shows.
fn request_id_of(html: &str) -> Option<String> {
    let document = scraper::Html::parse_document(html);
    let code = scraper::Selector::parse("p.muted code").ok()?;
    document
        .select(&code)
        .next()
        .map(|c| c.text().collect::<String>())
}

fn has_navigation(html: &str) -> bool {
    let document = scraper::Html::parse_document(html);
    let nav = scraper::Selector::parse("header nav a[href='/audit']").expect("selector");
    let sign_out = scraper::Selector::parse("form[action='/logout'] button").expect("selector");
    document.select(&nav).next().is_some() && document.select(&sign_out).next().is_some()
}

#[tokio::test]
async fn bad_query_strings_forms_and_paths_get_the_house_page_with_the_navigation() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let bad_query = app.admin.get("/?sort=x").await;
    assert_eq!(bad_query.status(), 400);
    assert!(
        bad_query
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html")),
        "an HTML page, not actix's plain text"
    );
    let body = bad_query.text().await.expect("body");
    assert!(has_navigation(&body), "{body}");
    assert!(body.contains("Bad request"));
    assert!(request_id_of(&body).is_some(), "a request id on the page");

    // A form that is not a form (the token goes in its header).
    let token = app.admin.csrf().await;
    let bad_form = app
        .admin
        .client
        .post(format!("{}/pools/{pool}/certificate", app.admin.base))
        .header("x-csrf-token", token)
        .header("content-type", "application/json")
        .body("{\"certificate_arn\": 1}")
        .send()
        .await
        .expect("post");
    assert_eq!(bad_form.status(), 400);
    let body = bad_form.text().await.expect("body");
    assert!(has_navigation(&body));
    assert!(
        body.contains("The form was incomplete or malformed"),
        "{body}"
    );

    let nowhere = app.admin.get("/no/such/page").await;
    assert_eq!(nowhere.status(), 404);
    let body = nowhere.text().await.expect("body");
    assert!(has_navigation(&body));
    assert!(body.contains("There is no page at this address."));

    let missing_pool = app.admin.get(&paths::pool("us-east-1_Nope")).await;
    assert_eq!(missing_pool.status(), 404);
    assert!(has_navigation(&missing_pool.text().await.expect("body")));
}

#[tokio::test]
async fn a_path_that_is_no_pool_id_gets_the_house_400_page() {
    let app = spawn_app(Seed::Demo).await;
    let token = app.admin.csrf().await;
    for (method, path) in [
        ("GET", "/pools/not-a-pool-id"),
        ("GET", "/pools/not-a-pool-id/certificate"),
        ("POST", "/pools/not-a-pool-id/certificate"),
        ("POST", "/pools/not-a-pool-id/refresh"),
        ("GET", "/pools/us-east-1_Ab-C"),
    ] {
        let url = format!("{}{path}", app.admin.base);
        let response = match method {
            "GET" => app.admin.client.get(url),
            _ => app
                .admin
                .client
                .post(url)
                .header("x-csrf-token", &token)
                .form(&[("certificate_arn", "x"), ("submission_token", "x")]),
        }
        .send()
        .await
        .expect("request");
        assert_eq!(response.status(), 400, "{method} {path}");
        let body = response.text().await.expect("body");
        assert!(has_navigation(&body), "{method} {path}: {body}");
        assert!(body.contains("Bad request"), "{method} {path}");
        assert!(
            body.contains("The address is not one certdeck knows")
                && body.contains("is not a user pool id"),
            "{method} {path}: {body}"
        );
        assert!(request_id_of(&body).is_some(), "{method} {path}");
    }
    // Refused before any handler ran: no pool looked up, no refusal audited as a
    // pool out of scope.
    let denied = app.audit_of("access.denied", 10).await;
    assert!(denied.is_empty(), "{denied:?}");
}

#[tokio::test]
async fn an_unexpected_error_shows_a_request_id_that_the_logs_carry_with_the_cause() {
    let app = spawn_app(Seed::Empty).await;
    // Break the database under the console: reading propagations now fails.
    let database = secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url)
        .trim_start_matches("sqlite://")
        .to_owned();
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{database}"))
            .await
            .expect("the database");
        sqlx::query("ALTER TABLE propagations RENAME TO propagations_gone")
            .execute(&mut conn)
            .await
            .expect("rename");
    }
    let response = app.admin.propagations().await;
    assert_eq!(response.status(), 500);
    let body = response.text().await.expect("body");
    assert!(has_navigation(&body), "{body}");
    let id = request_id_of(&body).expect("a request id on the page");
    assert!(
        !body.contains("no such table"),
        "the cause stays in the log"
    );
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("request failed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no log line with request id {id}"));
    assert!(line.contains("propagations"), "{line}");
}

#[tokio::test]
async fn json_log_lines_on_request() {
    let sandbox = crate::helpers::spawn_sandbox(crate::helpers::options(Seed::Empty)).await;
    let dir = tempdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("serve")
        .current_dir(dir.path())
        .env("CERTDECK_LOG_FORMAT", "json")
        .env("CERTDECK_LISTEN", "127.0.0.1:0")
        .env(
            "CERTDECK_DATABASE_URL",
            format!("sqlite://{}/certdeck.db", dir.path().display()),
        )
        .env("CERTDECK_AWS_ENDPOINT_URL", sandbox.sandbox.endpoint_url())
        .env("CERTDECK_REGIONS", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .envs(cli_env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("certdeck serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("certdeck console listening"))
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = reader
        .join()
        .expect("reader")
        .expect("a log line saying the console listens");
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(parsed["level"], "INFO");
    assert!(parsed["port"].as_u64().is_some_and(|p| p > 0), "{parsed}");
    assert!(parsed["timestamp"].is_string());

    // Anything else is refused with the variable named.
    let wrong = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["user", "list"])
        .env("CERTDECK_LOG_FORMAT", "yaml")
        .current_dir(dir.path())
        .output()
        .expect("certdeck runs");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("CERTDECK_LOG_FORMAT"));
}
