//! Issue 10: refusals and limits — who may make certdeck call AWS and how often, live
//! streams that end with their session and are capped, caching headers and the
//! session cookie's name, team scope decided from AWS at the confirmed submit, and the
//! metrics token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;
use futures_util::StreamExt;
use reqwest::header::{CACHE_CONTROL, LOCATION, RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};

use crate::helpers::{
    Browser, TestApp, confirm_recommended, eventually, field, options, options_of, paths, settings,
    spawn_app, spawn_sandbox,
};

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn refreshing_a_pool_is_for_its_operators_and_admins_reused_for_30_s_and_audited() {
    let app = spawn_app(Seed::Demo).await;
    let payments_pool = app.pool_id("Customer portal").await;
    let identity_pool = app.pool_id("Partner portal").await;
    let viewer = app.browser_as("vera", "viewer", &[]).await;
    let operator = app.browser_as("otto", "operator", &["payments"]).await;
    let refresh = |pool: &str| paths::refresh(pool);
    let reads = || app.sandbox.calls("DescribeUserPool");
    let before = reads().await;

    // Viewers and operators of other teams may not make certdeck call AWS.
    assert_eq!(
        viewer
            .post_form(&refresh(&payments_pool), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        operator
            .post_form(&refresh(&identity_pool), &[])
            .await
            .status(),
        403
    );
    assert_eq!(reads().await, before, "no AWS call for a refused refresh");
    let denied = app.audit_of("access.denied", 10).await;
    assert!(
        denied.iter().any(|e| e.record.actor == "vera"
            && e.record.pool_id.as_deref() == Some(payments_pool.as_str()))
    );
    assert!(
        denied.iter().any(|e| e.record.actor == "otto"
            && e.record.pool_id.as_deref() == Some(identity_pool.as_str()))
    );
    // The pool page offers the button only to those who may use it.
    let pool_page = paths::pool(&payments_pool);
    assert!(
        !viewer
            .get_text(&pool_page)
            .await
            .contains("Refresh from AWS")
    );
    assert!(
        operator
            .get_text(&pool_page)
            .await
            .contains("Refresh from AWS")
    );

    // The pool's operator refreshes it: one read; again within 30 s: reused.
    let first = operator.post_form(&refresh(&payments_pool), &[]).await;
    assert_eq!(first.status(), 303);
    assert_eq!(
        header(&first, LOCATION),
        paths::pool(&payments_pool).as_str()
    );
    assert_eq!(reads().await, before + 1);
    assert_eq!(
        operator
            .post_form(&refresh(&payments_pool), &[])
            .await
            .status(),
        303
    );
    // An admin's refresh of the same pool reuses it too; another pool is read.
    assert_eq!(
        app.admin
            .post_form(&refresh(&payments_pool), &[])
            .await
            .status(),
        303
    );
    assert_eq!(reads().await, before + 1, "reused: no AWS call");
    assert_eq!(
        app.admin
            .post_form(&refresh(&identity_pool), &[])
            .await
            .status(),
        303
    );
    assert_eq!(reads().await, before + 2);

    // Every refresh is in the audit log, with what it did.
    let mut refreshes: Vec<(String, String, String)> = app
        .audit_of("pool.refresh", 10)
        .await
        .into_iter()
        .map(|e| {
            (
                e.record.actor,
                e.record.pool_id.unwrap_or_default(),
                e.record.outcome,
            )
        })
        .collect();
    refreshes.reverse();
    assert_eq!(
        refreshes,
        [
            ("otto".into(), payments_pool.clone(), "success".into()),
            ("otto".into(), payments_pool.clone(), "reused".into()),
            ("test-admin".into(), payments_pool.clone(), "reused".into()),
            ("test-admin".into(), identity_pool.clone(), "success".into()),
        ]
    );
}

#[tokio::test]
async fn a_refresh_that_would_queue_long_under_the_quota_fails_at_once_in_plain_words() {
    // One pool, and certdeck paced to a hundredth of AWS's quota: DescribeUserPool slots
    // are 6.7 s apart, so a refresh right after the inventory's read would wait > 5 s.
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    sandbox
        .cognito("us-east-1")
        .await
        .create_user_pool()
        .pool_name("Solo")
        .user_pool_tags("team", "payments")
        .send()
        .await
        .expect("a pool");
    let mut slow = settings(&sandbox, &sandbox.sqlite_url());
    slow.aws_quota_scale = 0.01;
    let app = TestApp::start_with(&sandbox, slow).await;
    // The first refresh (started with the console) reads the pool at its second slot.
    assert!(
        eventually(Duration::from_secs(20), || async {
            !app.state.inventory.view().rows.is_empty()
        })
        .await
    );
    let pool = app.pool_id("Solo").await;
    let reads = sandbox.calls("DescribeUserPool").await;
    let asked = Instant::now();
    let response = app.admin.refresh_pool(&pool).await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "refused without queueing: {:?}",
        asked.elapsed()
    );
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, RETRY_AFTER), "5");
    let body = crate::helpers::text_of(&response.text().await.expect("body"));
    assert!(
        body.contains("AWS's request quota is busy; try again in a few seconds"),
        "{body}"
    );
    assert_eq!(
        sandbox.calls("DescribeUserPool").await,
        reads,
        "nothing sent"
    );
    let audited = app.audit_of("pool.refresh", 10).await;
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].record.outcome, "throttled");
}

/// A console whose live streams check their session every 300 ms, and a change in
/// flight that stays `updating` for minutes.
async fn app_with_a_long_change() -> (TestApp, String) {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(600);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut quick = settings(&sandbox, &sandbox.sqlite_url());
    quick.stream_session_check = Duration::from_millis(300);
    let app = TestApp::start_with(&sandbox, quick).await;
    app.refresh().await;
    let pool = app.pool_id("Customer portal").await;
    let response = confirm_recommended(&app.admin, &pool).await;
    assert_eq!(response.status(), 303, "the change is accepted");
    let id = paths::propagation_id(header(&response, LOCATION));
    (app, id)
}

/// Opens the events stream of `id` and reads its first event.
async fn open_stream(
    browser: &Browser,
    id: &str,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + use<> {
    let response = browser.propagation_events(id).await;
    assert_eq!(
        response.status(),
        200,
        "{} opens a stream",
        browser.username
    );
    assert_eq!(header(&response, CACHE_CONTROL), "no-store");
    let mut stream = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a first event")
        .expect("a chunk")
        .expect("bytes");
    assert!(String::from_utf8_lossy(&first).contains("event: phase"));
    stream
}

/// How long until the stream ends (at most `limit`), or `None` if it did not.
async fn ends_within(
    mut stream: impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    tokio::time::timeout(limit, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await
    .ok()
    .map(|()| start.elapsed())
}

#[tokio::test]
async fn a_live_stream_ends_soon_after_its_session_or_account_does() {
    let (app, id) = app_with_a_long_change().await;

    // Sign-out.
    let mut vera = app.browser_as("vera", "viewer", &[]).await;
    let stream = open_stream(&vera, &id).await;
    let other_tab = open_stream(&vera, &id).await;
    assert_eq!(vera.sign_out().await.status(), 303);
    let ended = ends_within(Box::pin(stream), Duration::from_secs(30)).await;
    assert!(
        ended.is_some_and(|t| t < Duration::from_secs(5)),
        "the stream ended after sign-out: {ended:?}"
    );
    assert!(
        ends_within(Box::pin(other_tab), Duration::from_secs(5))
            .await
            .is_some()
    );

    // The account removed.
    let otto = app.browser_as("otto", "operator", &["payments"]).await;
    let stream = open_stream(&otto, &id).await;
    certdeck::auth::accounts::remove(&app.state.store, "test", "otto")
        .await
        .expect("removed");
    assert!(
        ends_within(Box::pin(stream), Duration::from_secs(5))
            .await
            .is_some(),
        "the stream ended with the account"
    );

    // A session that goes on keeps its stream (only keep-alives meanwhile).
    let admin_stream = open_stream(&app.admin, &id).await;
    assert_eq!(
        ends_within(Box::pin(admin_stream), Duration::from_secs(2)).await,
        None,
        "a live session's stream goes on"
    );
}

#[tokio::test]
async fn a_session_holds_at_most_8_live_streams_and_a_closed_one_frees_its_slot() {
    let (app, id) = app_with_a_long_change().await;
    let vera = app.browser_as("vera", "viewer", &[]).await;
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(Box::pin(open_stream(&vera, &id).await));
    }
    let ninth = vera.propagation_events(&id).await;
    assert_eq!(ninth.status(), 429);
    assert!(
        header(&ninth, RETRY_AFTER)
            .parse::<u64>()
            .is_ok_and(|s| s > 0)
    );
    // Another session is not held back by this one's streams.
    let _admin_stream = open_stream(&app.admin, &id).await;
    // A page closed: its slot comes back once the server notices the client is gone.
    streams.pop();
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.state.streams.count() == 8
        })
        .await,
        "the closed stream's slot was given back"
    );
    let _again = open_stream(&vera, &id).await;
    drop(streams);
}

#[tokio::test]
async fn no_response_but_static_files_may_be_stored_by_a_cache() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let anonymous = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let admin = &app.admin;
    // (who, method, path, expected status)
    let table: Vec<(&Browser, &str, String, u16)> = vec![
        (&anonymous, "GET", "/login".into(), 200),
        (&anonymous, "GET", "/".into(), 303),
        (&anonymous, "GET", "/healthz".into(), 200),
        (&anonymous, "GET", "/readyz".into(), 200),
        (&anonymous, "GET", "/metrics".into(), 200),
        (admin, "GET", "/no/such/page".into(), 404),
        (&anonymous, "POST", "/logout".into(), 403),
        (admin, "GET", "/".into(), 200),
        (admin, "GET", format!("/pools/{pool}"), 200),
        (admin, "GET", format!("/pools/{pool}/certificate"), 200),
        (admin, "GET", "/pools/us-east-1_Nope".into(), 404),
        (admin, "GET", "/pools/nope".into(), 400),
        (admin, "GET", "/audit".into(), 200),
        (admin, "GET", "/audit.csv".into(), 200),
        (admin, "GET", "/audit.jsonl".into(), 200),
        (admin, "GET", "/propagations".into(), 200),
        (admin, "GET", "/api/propagations/nope".into(), 404),
    ];
    for (who, method, path, expected) in table {
        let response = match method {
            "GET" => who.get(&path).await,
            _ => who.post_raw(&path, &[]).await,
        };
        assert_eq!(response.status().as_u16(), expected, "{method} {path}");
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "no-store",
            "{method} {path} ({expected})"
        );
    }
    for path in ["/static/certdeck.css", "/static/propagation.js"] {
        let response = anonymous.get(path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, CACHE_CONTROL), "public, max-age=300");
    }
}

#[tokio::test]
async fn with_secure_cookies_the_session_cookie_has_the_host_prefix() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let mut secure = settings(&sandbox, &sandbox.sqlite_url());
    secure.secure_cookies = true;
    let app = TestApp::start_with(&sandbox, secure).await;
    let browser = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let set_cookie = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.contains(name))
            .map(str::to_owned)
    };
    let has_host_attributes = |cookie: &str| {
        let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
        attributes.contains(&"Secure")
            && attributes.contains(&"Path=/")
            && !attributes.iter().any(|a| a.starts_with("Domain"))
    };
    // The sign-in form's cookie, then the session's, both `__Host-`. (A client sends
    // Secure cookies only over HTTPS, so this test sends them itself.)
    let form = browser.get(paths::LOGIN).await;
    let login_cookie = set_cookie(&form, "certdeck_login=").expect("the sign-in form's cookie");
    assert!(
        login_cookie.starts_with("__Host-certdeck_login="),
        "{login_cookie}"
    );
    assert!(has_host_attributes(&login_cookie), "{login_cookie}");
    let token = crate::helpers::csrf_of(&form.text().await.expect("body")).expect("token");
    let response = browser
        .client
        .post(format!("{}/login", browser.base))
        .header(
            "cookie",
            login_cookie
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned(),
        )
        .form(&[
            ("username", "test-admin"),
            ("password", crate::helpers::TEST_PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("sign-in");
    assert_eq!(response.status(), 303);
    let cookie = set_cookie(&response, "certdeck_session=").expect("a session cookie");
    assert!(cookie.starts_with("__Host-certdeck_session="), "{cookie}");
    assert!(has_host_attributes(&cookie), "{cookie}");
    assert!(browser.session_cookie(response.headers()).is_some());
}

#[tokio::test]
async fn the_confirmed_submit_decides_scope_from_the_pools_tags_in_aws_now() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let (region, arn) = {
        let view = app.state.inventory.view();
        let record = view.pool(&pool).expect("the pool");
        (
            record.region.clone(),
            record.pool.arn.clone().expect("an ARN"),
        )
    };
    let otto = app.browser_as("otto", "operator", &["payments"]).await;
    let path = paths::change(&pool);
    let form = otto.get_text(&path).await;
    let token = field(&form, "submission_token");
    let certificate = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("an eligible certificate")
        .0;
    // Re-tagged to another team directly in AWS: certdeck's inventory still says payments.
    app.sandbox
        .cognito(&region)
        .await
        .tag_resource()
        .resource_arn(&arn)
        .tags("team", "identity")
        .send()
        .await
        .expect("re-tagged");
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;
    let response = otto
        .post_form(
            &path,
            &[
                ("certificate_arn", &certificate),
                ("submission_token", &token),
                ("confirm", "yes"),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("body");
    assert!(body.contains("team identity"), "{body}");
    assert_eq!(
        app.sandbox.calls("UpdateUserPoolDomain").await,
        updates,
        "nothing was sent to AWS"
    );
    let denied = app.audit_of("access.denied", 10).await;
    assert!(
        denied.iter().any(|e| e.record.actor == "otto"
            && e.record.pool_id.as_deref() == Some(pool.as_str())),
        "{denied:?}"
    );
    assert!(
        app.audit_of("certificate.update.requested", 10)
            .await
            .is_empty()
    );
    // An operator of the team AWS names now may make the change.
    let ida = app.browser_as("ida", "operator", &["identity"]).await;
    let form = ida.get(&path).await;
    assert_eq!(form.status(), 403, "the form still follows the inventory");
    app.refresh().await;
    let accepted = confirm_recommended(&ida, &pool).await;
    assert_eq!(accepted.status(), 303);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
}

#[tokio::test]
async fn metrics_need_the_bearer_token_when_one_is_set() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let mut guarded = settings(&sandbox, &sandbox.sqlite_url());
    guarded.metrics_token = Some(secrecy::SecretString::from("metrics-token-1234"));
    let app = TestApp::start_with(&sandbox, guarded).await;
    let url = format!("http://127.0.0.1:{}/metrics", app.port);
    let client = reqwest::Client::new();
    for authorization in [
        None,
        Some("Bearer wrong-token"),
        Some("Bearer metrics-token-12345"),
        Some("Basic bWV0cmljcy10b2tlbi0xMjM0"),
    ] {
        let mut request = client.get(&url);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("metrics");
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert!(
            header(&response, WWW_AUTHENTICATE).starts_with("Bearer"),
            "{authorization:?}"
        );
        let body = response.text().await.expect("body");
        assert!(!body.contains("certdeck_pools"), "{body}");
    }
    let response = client
        .get(&url)
        .header("authorization", "Bearer metrics-token-1234")
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("certdeck_pools 0")
    );
}
