//! Hostile clients (issue 10): sign-in cost and races, the lockout that cannot be
//! turned into a weapon, anonymous flooding of the audit log and the sessions table,
//! oversized forms, weak bootstrap passwords, passwords typed as user names.

use std::process::Command;
use std::sync::Arc;

use certdeck_sandbox::Seed;
use futures_util::future::join_all;

use crate::helpers::{
    Browser, TEST_PASSWORD, TestApp, csrf_of, fresh_postgres_url, options, paths, settings,
    spawn_app, spawn_app_on, spawn_sandbox, tempdir,
};

/// `count` sign-in attempts at once on `username`, each from its own browser (its own
/// sign-in cookie) at `source`; the statuses.
async fn parallel_sign_ins(
    app: &TestApp,
    source: &str,
    username: &str,
    passwords: &[&str],
) -> Vec<u16> {
    let base = format!("http://127.0.0.1:{}", app.port);
    let mut browsers = Vec::new();
    for _ in passwords {
        let browser = Browser::from_address(&base, source);
        let token = csrf_of(&browser.login_page().await).expect("a token");
        browsers.push((browser, token));
    }
    let attempts = browsers
        .iter()
        .zip(passwords)
        .map(|((browser, token), password)| async move {
            browser
                .post_raw(
                    paths::LOGIN,
                    &[
                        ("username", username),
                        ("password", password),
                        ("csrf_token", token),
                    ],
                )
                .await
                .status()
                .as_u16()
        });
    join_all(attempts).await
}

#[tokio::test]
async fn password_checks_are_capped_and_beyond_the_cap_answered_at_once() {
    let app = spawn_app(Seed::Empty).await;
    let checker = app.state.password_checker.clone();
    // Every slot taken (as by a flood in progress): a sign-in is answered at once.
    let held: Vec<_> = (0..checker.slots())
        .map(|_| checker.try_reserve().expect("a free slot"))
        .collect();
    let before = checker.checks();
    let browser = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let token = csrf_of(&browser.login_page().await).expect("token");
    let started = std::time::Instant::now();
    let busy = browser
        .post_raw(
            paths::LOGIN,
            &[
                ("username", "test-admin"),
                ("password", TEST_PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(busy.status(), 503);
    assert_eq!(
        busy.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(checker.checks(), before, "no password was checked");
    drop(held);
    let mut browser = browser;
    assert_eq!(
        browser.sign_in("test-admin", TEST_PASSWORD).await.status(),
        303,
        "a busy answer counts as no failure"
    );

    // A burst of wrong sign-ins never runs more checks at once than there are slots.
    let passwords = vec!["wrong password"; 30];
    let statuses = parallel_sign_ins(&app, "127.0.0.5", "test-admin", &passwords).await;
    assert!(
        statuses.iter().all(|s| [401, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        checker.peak_concurrency() <= checker.slots(),
        "{} checks ran at once with {} slots",
        checker.peak_concurrency(),
        checker.slots()
    );
}

async fn lockout_race(app: &TestApp) {
    app.create_account("alice", "viewer", &[]).await;
    let checks_before = app.state.password_checker.checks();
    let mut passwords = vec!["wrong password"; 29];
    passwords.insert(17, TEST_PASSWORD);
    let statuses = parallel_sign_ins(app, "127.0.0.7", "alice", &passwords).await;
    let checks = app.state.password_checker.checks() - checks_before;
    assert!(
        checks <= 5,
        "{checks} password checks for 30 parallel attempts: {statuses:?}"
    );
    assert!(statuses.iter().filter(|s| **s == 401).count() <= 5);
}

#[tokio::test]
async fn thirty_parallel_attempts_run_at_most_five_password_checks_on_sqlite() {
    let app = spawn_app(Seed::Empty).await;
    lockout_race(&app).await;
}

#[tokio::test]
async fn thirty_parallel_attempts_run_at_most_five_password_checks_on_postgres() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let app = spawn_app_on(&sandbox, &fresh_postgres_url().await).await;
    lockout_race(&app).await;
}

#[tokio::test]
async fn five_failures_from_one_address_do_not_lock_the_account_out_elsewhere() {
    let app = spawn_app(Seed::Empty).await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let mut attacker = Browser::from_address(&base, "127.0.0.2");
    for attempt in 1..=5 {
        let response = attacker.sign_in("test-admin", "wrong password").await;
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    let locked = attacker.sign_in("test-admin", TEST_PASSWORD).await;
    assert_eq!(locked.status(), 429, "the failing address is locked out");
    assert!(locked.headers().contains_key("retry-after"));

    // The owner, elsewhere, is slowed down but signs in.
    let mut owner = Browser::from_address(&base, "127.0.0.3");
    let started = std::time::Instant::now();
    assert_eq!(
        owner.sign_in("test-admin", TEST_PASSWORD).await.status(),
        303
    );
    assert!(
        started.elapsed() >= app.state.sign_in_policy.slow_down,
        "attempts on an attacked account are slowed down"
    );

    // `certdeck user unlock` lifts the failing address's lockout, and is audited.
    let database =
        secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url).to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["user", "unlock", "test-admin"])
        .env("CERTDECK_DATABASE_URL", &database)
        .envs(crate::helpers::cli_env())
        .current_dir(tempdir().path())
        .output()
        .expect("certdeck user unlock runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut attacker = Browser::from_address(&base, "127.0.0.2");
    assert_eq!(
        attacker.sign_in("test-admin", TEST_PASSWORD).await.status(),
        303
    );
    let unlocked = app.audit_of("account.unlocked", 5).await;
    assert_eq!(unlocked.len(), 1);
    assert!(unlocked[0].record.actor.starts_with("cli:"));
    // Unlocking an account that does not exist says so.
    let missing = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["user", "unlock", "nobody"])
        .env("CERTDECK_DATABASE_URL", &database)
        .envs(crate::helpers::cli_env())
        .current_dir(tempdir().path())
        .output()
        .expect("certdeck user unlock runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nobody"));
}

#[tokio::test]
async fn anonymous_refusals_are_counted_per_address_and_minute_with_bounded_text() {
    let app = spawn_app(Seed::Empty).await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let before = app.audit_of("csrf.rejected", 100).await.len();
    let long_path = format!("/{}", "a".repeat(60_000));
    let agent = format!("flood/{}", "x".repeat(5_000));
    let flood = reqwest::Client::new();
    let minute = || time::OffsetDateTime::now_utc().unix_timestamp() / 60;
    let first_minute = minute();
    for _ in 0..50 {
        let response = flood
            .post(format!("{base}{long_path}"))
            .header("user-agent", &agent)
            .form(&[("csrf_token", "forged")])
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 403);
    }
    let minutes = usize::try_from(minute() - first_minute + 1).expect("time goes forward");
    app.state.refusals.flush(true).await.expect("flush");
    let entries = app.audit_of("csrf.rejected", 100).await;
    // The flood may straddle a minute's end: one entry per address and minute.
    assert_eq!(
        entries.len() - before,
        minutes,
        "one entry for the address and each minute the flood lasted"
    );
    let mut counted = 0;
    for entry in &entries[..minutes] {
        assert_eq!(entry.record.actor, "anonymous");
        assert_eq!(entry.record.source_ip.as_deref(), Some("127.0.0.1"));
        let detail = entry.record.detail.as_deref().unwrap_or_default();
        let count = detail
            .strip_prefix("count=")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("a count in {detail}"));
        counted += count;
        assert!(detail.len() < 700, "{} bytes of detail", detail.len());
        assert!(entry.record.user_agent.as_deref().unwrap_or_default().len() <= 512);
    }
    assert_eq!(counted, 50, "every refusal counted once");

    // The sign-in page stores nothing server-side, and still protects its form.
    let sessions = app.state.store.session_count().await.expect("sessions");
    for _ in 0..20 {
        let page = Browser::new(&base).get(paths::LOGIN).await;
        assert_eq!(page.status(), 200);
        assert!(
            !page
                .headers()
                .get_all("set-cookie")
                .iter()
                .any(|c| c.to_str().unwrap_or_default().contains("certdeck_session")),
            "no session cookie before sign-in"
        );
    }
    assert_eq!(
        app.state.store.session_count().await.expect("sessions"),
        sessions
    );
    let victim = Browser::new(&base);
    let attacker = Browser::new(&base);
    let attackers_token = csrf_of(&attacker.login_page().await).expect("token");
    victim.login_page().await;
    let crossed = victim
        .post_raw(
            paths::LOGIN,
            &[
                ("username", "test-admin"),
                ("password", TEST_PASSWORD),
                ("csrf_token", &attackers_token),
            ],
        )
        .await;
    assert_eq!(
        crossed.status(),
        403,
        "a token from another browser's cookie"
    );
    let mut browser = Browser::new(&base);
    assert_eq!(
        browser.sign_in("test-admin", TEST_PASSWORD).await.status(),
        303
    );
    assert_eq!(
        app.state.store.session_count().await.expect("sessions"),
        sessions + 1,
        "a session is stored at sign-in"
    );
}

#[tokio::test]
async fn a_form_too_large_is_refused_with_the_security_headers() {
    let app = spawn_app(Seed::Empty).await;
    let response = app
        .admin
        .client
        .post(format!("{}/logout", app.admin.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![b'a'; 200 * 1024])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    let headers = response.headers();
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(headers.contains_key(name), "413 without {name}");
    }
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_weak_bootstrap_password_is_refused_at_start() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let database = sandbox.sqlite_url();
    let mut weak = settings(&sandbox, &database);
    weak.bootstrap_admin_password = Some(secrecy::SecretString::from("a"));
    let error = match certdeck::startup::Application::build(weak).await {
        Ok(_) => panic!("a one-character bootstrap password was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD") && error.contains("12 characters"),
        "{error}"
    );
}

#[tokio::test]
async fn a_password_typed_as_a_user_name_never_reaches_the_audit_log() {
    let app = spawn_app(Seed::Empty).await;
    let base = format!("http://127.0.0.1:{}", app.port);
    let mut browser = Browser::new(&base);
    let typed = "Hunter2-my-secret-password";
    assert_eq!(browser.sign_in(typed, "whatever").await.status(), 401);
    assert_eq!(
        browser
            .sign_in("test-admin", "wrong password")
            .await
            .status(),
        401
    );
    let failures = app.audit_of("auth.sign_in", 10).await;
    let unknown = failures
        .iter()
        .find(|e| e.record.actor.starts_with("unknown account ("))
        .expect("an entry for the unknown account");
    let export = app.audit_jsonl("").await;
    assert!(!export.contains(typed), "the typed name is in the log");
    assert!(!app.audit_page("").await.contains(typed));
    // The same typed name gives the same short hash (failures can be correlated).
    assert_eq!(browser.sign_in(typed, "again").await.status(), 401);
    let again = app.audit_of("auth.sign_in", 1).await;
    assert_eq!(again[0].record.actor, unknown.record.actor);
    // A known account is named.
    assert!(
        failures
            .iter()
            .any(|e| e.record.actor == "test-admin" && e.record.outcome == "failure")
    );
}
