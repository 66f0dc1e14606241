//! Issue 4: sign-in, roles and team scopes, server-side sessions, CSRF, throttling and
//! security headers.

use std::sync::Arc;

use certdeck_sandbox::Seed;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};

use crate::helpers::{
    Browser, TEST_PASSWORD, TestApp, captured_logs, options, settings, spawn_app, spawn_sandbox,
};

#[tokio::test]
async fn signed_out_every_route_redirects_or_answers_401() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let anonymous = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    for path in [
        "/",
        &format!("/pools/{pool}"),
        "/audit",
        "/audit.csv",
        "/audit.jsonl",
        &format!("/pools/{pool}/certificate"),
    ] {
        let response = anonymous.get(path).await;
        assert_eq!(response.status(), 303, "GET {path}");
        assert_eq!(
            response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/login"),
            "GET {path}"
        );
        let json = anonymous
            .client
            .get(format!("{}{path}", anonymous.base))
            .header("accept", "application/json")
            .send()
            .await
            .expect("get");
        assert_eq!(json.status(), 401, "GET {path} as JSON");
    }
    // Without a session there is no CSRF token but the sign-in form's: every other
    // POST is refused before anything happens.
    for path in [
        format!("/pools/{pool}/refresh"),
        format!("/pools/{pool}/certificate"),
        "/logout".to_owned(),
    ] {
        let response = anonymous.post_form(&path, &[]).await;
        assert_eq!(response.status(), 403, "POST {path}");
    }
    // The public routes answer.
    for path in [
        "/login",
        "/healthz",
        "/readyz",
        "/metrics",
        "/static/certdeck.css",
        "/static/propagation.js",
    ] {
        assert_eq!(anonymous.get(path).await.status(), 200, "GET {path}");
    }
    assert!(
        !anonymous.get_text("/login").await.contains("Demo accounts"),
        "only certdeck demo shows accounts"
    );
    let metrics = anonymous.get_text("/metrics").await;
    assert!(
        metrics.contains("certdeck_pools 13") && metrics.contains("certdeck_propagations_active 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn roles_and_routes() {
    let app = spawn_app(Seed::Demo).await;
    let payments_pool = app.pool_id("Customer portal").await;
    let identity_pool = app.pool_id("Partner portal").await;
    let viewer = app.browser_as("vera", "viewer", &[]).await;
    let operator = app.browser_as("otto", "operator", &["payments"]).await;
    let admin = &app.admin;
    // (who, method, path, expected status)
    let table: Vec<(&Browser, &str, String, u16)> = vec![
        (&viewer, "GET", "/".into(), 200),
        (&operator, "GET", "/".into(), 200),
        (admin, "GET", "/".into(), 200),
        (&viewer, "GET", format!("/pools/{identity_pool}"), 200),
        (&operator, "GET", format!("/pools/{identity_pool}"), 200),
        (&viewer, "GET", "/audit".into(), 200),
        (&operator, "GET", "/audit.csv".into(), 200),
        (admin, "GET", "/audit.jsonl".into(), 200),
        (
            &viewer,
            "POST",
            format!("/pools/{payments_pool}/refresh"),
            403,
        ),
        (
            &viewer,
            "GET",
            format!("/pools/{payments_pool}/certificate"),
            403,
        ),
        (
            &viewer,
            "POST",
            format!("/pools/{payments_pool}/certificate"),
            403,
        ),
        (
            &operator,
            "GET",
            format!("/pools/{payments_pool}/certificate"),
            200,
        ),
        (
            &operator,
            "GET",
            format!("/pools/{identity_pool}/certificate"),
            403,
        ),
        (
            &operator,
            "POST",
            format!("/pools/{identity_pool}/certificate"),
            403,
        ),
        (
            admin,
            "GET",
            format!("/pools/{identity_pool}/certificate"),
            200,
        ),
        (
            admin,
            "GET",
            format!("/pools/{payments_pool}/certificate"),
            200,
        ),
    ];
    for (who, method, path, expected) in table {
        let status = match method {
            "GET" => who.get(&path).await.status(),
            _ => who.post_form(&path, &[]).await.status(),
        };
        assert_eq!(
            status.as_u16(),
            expected,
            "{} {method} {path}",
            who.username
        );
    }
    // Pages hide what a user may not do.
    let as_viewer = viewer.get_text(&format!("/pools/{payments_pool}")).await;
    assert!(!as_viewer.contains("Change certificate"));
    let as_operator = operator.get_text(&format!("/pools/{payments_pool}")).await;
    assert!(as_operator.contains("Change certificate"));
    let other = operator.get_text(&format!("/pools/{identity_pool}")).await;
    assert!(!other.contains("Change certificate"));
    // Every 403 is in the audit log.
    let denied = app.audit_of("access.denied", 100).await;
    assert_eq!(denied.len(), 5);
    assert!(
        denied.iter().any(|e| e.record.actor == "otto"
            && e.record.pool_id.as_deref() == Some(identity_pool.as_str()))
    );
}

#[tokio::test]
async fn a_post_without_the_right_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let before = app.sandbox.calls("DescribeUserPool").await;
    let missing = app
        .admin
        .post_raw(&format!("/pools/{pool}/refresh"), &[])
        .await;
    assert_eq!(missing.status(), 403);
    let wrong = app
        .admin
        .post_raw(
            &format!("/pools/{pool}/refresh"),
            &[("csrf_token", "0123456789abcdef")],
        )
        .await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        app.sandbox.calls("DescribeUserPool").await,
        before,
        "no AWS call was made"
    );
    // Another session's token does not work either.
    let other = app.browser_as("olga", "admin", &[]).await;
    let foreign = other.csrf().await;
    let crossed = app
        .admin
        .post_raw(
            &format!("/pools/{pool}/refresh"),
            &[("csrf_token", &foreign)],
        )
        .await;
    assert_eq!(crossed.status(), 403);
    assert_eq!(app.sandbox.calls("DescribeUserPool").await, before);
    // The right one works.
    let ok = app
        .admin
        .post_form(&format!("/pools/{pool}/refresh"), &[])
        .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(app.sandbox.calls("DescribeUserPool").await, before + 1);
    // Sign-in has a token too.
    let anonymous = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let response = anonymous
        .post_raw(
            "/login",
            &[("username", "test-admin"), ("password", TEST_PASSWORD)],
        )
        .await;
    assert_eq!(response.status(), 403);
    // The signed-in refusals name the session's user; the anonymous one is counted
    // with others of its address and minute.
    let rejected = app.audit_of("csrf.rejected", 10).await;
    assert_eq!(rejected.len(), 3);
    assert!(
        rejected.iter().all(|e| e.record.actor == "test-admin"),
        "{:?}",
        rejected.iter().map(|e| &e.record.actor).collect::<Vec<_>>()
    );
    app.state.refusals.flush(true).await.expect("flush");
    let rejected = app.audit_of("csrf.rejected", 10).await;
    assert_eq!(rejected.len(), 4);
    assert_eq!(rejected[0].record.actor, "anonymous");
    assert!(
        rejected[0]
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("count=1")),
        "{:?}",
        rejected[0].record.detail
    );
}

#[tokio::test]
async fn the_session_id_changes_at_sign_in_and_dies_at_sign_out() {
    let app = spawn_app(Seed::Empty).await;
    let browser = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let login_page = browser.get("/login").await;
    assert_eq!(
        browser.session_cookie(login_page.headers()),
        None,
        "no session for the sign-in form"
    );
    let login_cookie = login_page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("certdeck_login="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .expect("the sign-in form's CSRF cookie");
    let token = crate::helpers::csrf_of(&login_page.text().await.expect("body")).expect("token");
    // A session id planted before sign-in (fixation) is not the one signed in.
    let anonymous_cookie = "certdeck_session=planted-by-an-attacker".to_owned();
    let signed_in = browser
        .client
        .post(format!("{}/login", browser.base))
        .header("cookie", format!("{anonymous_cookie}; {login_cookie}"))
        .form(&[
            ("username", "test-admin"),
            ("password", TEST_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(signed_in.status(), 303);
    let session_cookie = browser
        .session_cookie(signed_in.headers())
        .expect("a new session cookie");
    assert_ne!(
        session_cookie, anonymous_cookie,
        "a new session id at sign-in"
    );
    let set_cookie = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join("; ");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "not Secure when CERTDECK_SECURE_COOKIES=false"
    );

    // The old anonymous cookie is not signed in.
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let with = |cookie: &str| {
        raw.get(format!("http://127.0.0.1:{}/", app.port))
            .header("cookie", cookie.to_owned())
            .send()
    };
    assert_eq!(with(&anonymous_cookie).await.expect("get").status(), 303);
    assert_eq!(with(&session_cookie).await.expect("get").status(), 200);

    let mut signed = Browser::new(&browser.base);
    signed.client = browser.client.clone();
    signed.username = "test-admin".into();
    let out = signed.post_form("/logout", &[]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(
        out.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    // The old cookie, replayed, leads to /login: the state is gone server-side.
    let replay = with(&session_cookie).await.expect("get");
    assert_eq!(replay.status(), 303);
    assert_eq!(
        replay.headers().get(LOCATION).and_then(|v| v.to_str().ok()),
        Some("/login")
    );
}

#[tokio::test]
async fn the_sixth_failed_sign_in_is_refused_and_other_accounts_are_not() {
    let app = spawn_app(Seed::Empty).await;
    app.create_account("alice", "viewer", &[]).await;
    app.create_account("bob", "viewer", &[]).await;
    let mut browser = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    for attempt in 1..=5 {
        let response = browser.sign_in("alice", "wrong password").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
        let body = response.text().await.expect("body");
        assert!(body.contains("the user name or the password is wrong"));
    }
    let sixth = browser.sign_in("alice", "wrong password").await;
    assert_eq!(sixth.status(), 429);
    let right = browser.sign_in("alice", TEST_PASSWORD).await;
    assert_eq!(
        right.status(),
        429,
        "the right password too during the lockout"
    );
    // An unknown account answers exactly like a known one.
    for _ in 1..=5 {
        assert_eq!(
            browser.sign_in("nobody", "wrong password").await.status(),
            401
        );
    }
    assert_eq!(
        browser.sign_in("nobody", "wrong password").await.status(),
        429
    );
    // Another account is unaffected.
    assert_eq!(browser.sign_in("bob", TEST_PASSWORD).await.status(), 303);
    // Refusals without a password check are counted per address and minute.
    app.state.refusals.flush(true).await.expect("flush");
    let throttled = app
        .state
        .store
        .audit_page(
            &certdeck::store::AuditFilter {
                outcome: Some("throttled".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("audit");
    assert_eq!(throttled.len(), 1);
    assert!(
        throttled[0]
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("count=3")),
        "{:?}",
        throttled[0].record.detail
    );
}

#[tokio::test]
async fn security_headers_are_on_every_html_response() {
    let app = spawn_app(Seed::Demo).await;
    let anonymous = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    for response in [
        anonymous.get("/login").await,
        app.admin.get("/").await,
        app.admin.get("/audit").await,
        app.admin.get("/pools/nope").await,
    ] {
        let headers = response.headers();
        let csp = headers
            .get(CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .expect("CSP");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(
            headers
                .get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff")
        );
        assert_eq!(
            headers.get("referrer-policy").and_then(|v| v.to_str().ok()),
            Some("no-referrer")
        );
        assert!(
            headers.get("strict-transport-security").is_none(),
            "no HSTS without Secure cookies"
        );
    }
    // With Secure cookies (behind HTTPS): HSTS, and the cookie is Secure.
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let mut secure = settings(&sandbox, &sandbox.sqlite_url());
    secure.secure_cookies = true;
    let app = TestApp::start_with(&sandbox, secure).await;
    let response = Browser::new(&format!("http://127.0.0.1:{}", app.port))
        .get("/login")
        .await;
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_some()
    );
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn passwords_are_argon2id_and_never_logged() {
    let app = spawn_app(Seed::Empty).await;
    let secret = format!("very-secret-{}", uuid::Uuid::new_v4().simple());
    certdeck::auth::accounts::add(
        &app.state.store,
        "test",
        "carol",
        "viewer".parse().expect("role"),
        &[],
        &secrecy::SecretString::from(secret.clone()),
    )
    .await
    .expect("account");
    let stored = app
        .state
        .store
        .find_user("carol")
        .await
        .expect("store")
        .expect("carol");
    assert!(
        stored.password_hash.starts_with("$argon2id$v=19$m="),
        "{}",
        stored.password_hash
    );
    assert!(!stored.password_hash.contains(&secret));

    let logs_before = captured_logs().len();
    let mut browser = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    assert_eq!(browser.sign_in("carol", &secret).await.status(), 303);
    assert_eq!(
        Browser::new(&browser.base)
            .sign_in("carol", &format!("{secret}-wrong"))
            .await
            .status(),
        401
    );
    let logs = captured_logs()[logs_before..].to_owned();
    assert!(
        logs.contains("POST /login"),
        "the sign-ins were logged at all"
    );
    assert!(!logs.contains(&secret), "a password appears in the logs");
}

#[tokio::test]
async fn idle_and_absolute_session_timeouts_end_sessions() {
    let app = spawn_app(Seed::Empty).await;
    let database = app.state.settings.database_url.clone();
    let raw = sqlx::AnyPool::connect(secrecy::ExposeSecret::expose_secret(&database))
        .await
        .expect("raw");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (what, key, age) in [
        ("idle", "seen", 31 * 60),
        ("absolute", "issued", 12 * 3600 + 60),
    ] {
        let browser = app.browser_as(&format!("user-{what}"), "viewer", &[]).await;
        assert_eq!(browser.get("/").await.status(), 200);
        // Age the session server-side, as if time had passed.
        let rows = sqlx::query("SELECT session_key, state FROM sessions")
            .fetch_all(&raw)
            .await
            .expect("sessions");
        for row in rows {
            use sqlx::Row;
            let mut state: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&row.get::<String, _>("state")).expect("state");
            if state.get("user").and_then(|u| u.as_str()) != Some(&format!("\"user-{what}\"")) {
                continue;
            }
            state.insert(
                key.to_owned(),
                serde_json::Value::String((now - age).to_string()),
            );
            sqlx::query("UPDATE sessions SET state = $1 WHERE session_key = $2")
                .bind(serde_json::to_string(&state).expect("json"))
                .bind(row.get::<String, _>("session_key"))
                .execute(&raw)
                .await
                .expect("age");
        }
        // Written behind the console's back: it reads the session again within a second.
        tokio::time::sleep(certdeck::store::AUTH_CACHE_TTL + std::time::Duration::from_millis(100))
            .await;
        let response = browser.get("/").await;
        assert_eq!(response.status(), 303, "{what} timeout ends the session");
        assert_eq!(
            response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/login")
        );
    }
}

#[tokio::test]
async fn a_password_or_role_change_ends_the_sessions_before_it() {
    let app = spawn_app(Seed::Empty).await;
    let browser = app.browser_as("pat", "operator", &["payments"]).await;
    assert_eq!(browser.get("/").await.status(), 200);
    // Times are kept in seconds: the change comes in a later second than the sign-in.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    certdeck::auth::accounts::set_role(
        &app.state.store,
        "test",
        "pat",
        "viewer".parse().expect("role"),
        &[],
    )
    .await
    .expect("role change");
    assert_eq!(
        browser.get("/").await.status(),
        303,
        "signed out by the role change"
    );
    let mut again = Browser::new(&browser.base);
    assert_eq!(again.sign_in("pat", TEST_PASSWORD).await.status(), 303);
    assert!(
        again.get_text("/").await.contains("pat · viewer"),
        "the new role applies"
    );
}
