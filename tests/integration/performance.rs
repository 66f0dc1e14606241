//! Issue 17: what the speed-ups must not weaken. Signed-in requests reuse the session's
//! state and the account for up to a second (`store::AUTH_CACHE_TTL`); a session ended,
//! an account demoted or removed by another replica (here: another store on the same
//! database, as another replica or the CLI would write it) is refused within that
//! second, and through this console at once. The dashboard's precomputed sort orders
//! give the pages the sorting by hand gives. (The figures themselves come from the
//! benchmarks: `cargo bench --bench dashboard`, `audit_million`, …)

use std::time::{Duration, Instant};

use certdeck::store::AUTH_CACHE_TTL;
use certdeck_sandbox::Seed;
use reqwest::header::LOCATION;

use crate::helpers::{Browser, spawn_app, table_rows};

/// Requests `/` until it is refused (303 to /login); how long that took after `since`,
/// or `None` when it still answered after `limit`.
async fn refused_after(browser: &Browser, since: Instant, limit: Duration) -> Option<Duration> {
    loop {
        let response = browser.get("/").await;
        if response.status() == 303 {
            assert_eq!(
                response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok()),
                Some("/login")
            );
            return Some(since.elapsed());
        }
        assert_eq!(response.status(), 200, "signed in until refused");
        if since.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Another replica's store on the console's database.
async fn other_replica(app: &crate::helpers::TestApp) -> certdeck::store::Store {
    let url = secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url).to_owned();
    certdeck::store::Store::connect(&secrecy::SecretString::from(url))
        .await
        .expect("another store")
        .with_audit_key(crate::helpers::test_audit_key())
}

#[tokio::test]
async fn a_session_ended_elsewhere_is_refused_within_a_second() {
    let app = spawn_app(Seed::Empty).await;
    let alice = app.browser_as("alice", "admin", &[]).await;
    let bob = app.browser_as("bob", "admin", &[]).await;
    // Read (and cached) by the console.
    assert_eq!(alice.get("/").await.status(), 200);
    assert_eq!(bob.get("/").await.status(), 200);

    // Another replica signs alice out: her session's row goes.
    let database = secrecy::ExposeSecret::expose_secret(&app.state.settings.database_url);
    let raw = sqlx::AnyPool::connect(database).await.expect("raw");
    let ended = Instant::now();
    let deleted = sqlx::query("DELETE FROM sessions WHERE state LIKE $1")
        .bind("%alice%")
        .execute(&raw)
        .await
        .expect("end the session")
        .rows_affected();
    assert_eq!(deleted, 1, "alice had one session");
    let took = refused_after(&alice, ended, Duration::from_secs(3)).await;
    assert!(
        took.is_some_and(|t| t <= AUTH_CACHE_TTL + Duration::from_millis(300)),
        "an ended session is refused within a second: {took:?}"
    );
    // Bob's session is untouched.
    assert_eq!(bob.get("/").await.status(), 200);
}

#[tokio::test]
async fn a_demotion_elsewhere_ends_the_session_within_a_second_and_here_at_once() {
    let app = spawn_app(Seed::Empty).await;
    let pat = app.browser_as("pat", "admin", &[]).await;
    let sam = app.browser_as("sam", "admin", &[]).await;
    assert_eq!(pat.get("/").await.status(), 200);
    assert_eq!(sam.get("/").await.status(), 200);
    // Times are kept in seconds: the change comes in a later second than the sign-in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Both still signed in (and their accounts freshly cached).
    assert_eq!(pat.get("/").await.status(), 200);
    assert_eq!(sam.get("/").await.status(), 200);

    // Another replica demotes pat: this console learns it within a second.
    let other = other_replica(&app).await;
    let demoted = Instant::now();
    certdeck::auth::accounts::set_role(&other, "test", "pat", "viewer".parse().expect("role"), &[])
        .await
        .expect("demote");
    let took = refused_after(&pat, demoted, Duration::from_secs(3)).await;
    assert!(
        took.is_some_and(|t| t <= AUTH_CACHE_TTL + Duration::from_millis(300)),
        "a demotion elsewhere ends the session within a second: {took:?}"
    );
    let mut again = Browser::new(&pat.base);
    assert_eq!(
        again
            .sign_in("pat", crate::helpers::TEST_PASSWORD)
            .await
            .status(),
        303
    );
    assert!(
        again.get_text("/").await.contains("pat · viewer"),
        "no longer admin"
    );

    // Through this console's own store, at once: the very next request is refused.
    certdeck::auth::accounts::set_role(
        &app.state.store,
        "test",
        "sam",
        "viewer".parse().expect("role"),
        &[],
    )
    .await
    .expect("demote");
    assert_eq!(sam.get("/").await.status(), 303, "refused at once");
}

#[tokio::test]
async fn a_removed_account_and_a_sign_out_are_refused_at_once_here() {
    let app = spawn_app(Seed::Empty).await;
    app.create_account("kim", "operator", &[]).await;
    let mut kim = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let signed_in = kim.sign_in("kim", crate::helpers::TEST_PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    // The session cookie before sign-out, replayed after it.
    let cookie = kim
        .session_cookie(signed_in.headers())
        .expect("a session cookie");
    let lee = app.browser_as("lee", "viewer", &[]).await;
    assert_eq!(kim.get("/").await.status(), 200);
    assert_eq!(lee.get("/").await.status(), 200);
    assert_eq!(kim.sign_out().await.status(), 303);
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/", kim.base))
        .header("cookie", cookie)
        .send()
        .await
        .expect("replay");
    assert_eq!(
        replay.status(),
        303,
        "a signed-out cookie is refused at once"
    );
    assert_eq!(kim.get("/").await.status(), 303);

    app.state.store.remove_user("lee").await.expect("remove");
    assert_eq!(lee.get("/").await.status(), 303, "removed: refused at once");
}

#[tokio::test]
async fn each_sort_order_precomputed_with_the_snapshot_is_the_one_asked_for() {
    let app = spawn_app(Seed::Demo).await;
    let view = app.state.inventory.view();
    assert!(view.rows.len() > 3, "the demo has pools");
    let names = |html: &str| -> Vec<String> {
        table_rows(html, "tr[data-pool-id]")
            .iter()
            .map(|r| {
                r.html
                    .split("data-pool-id=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    // Each order, checked against the rows sorted here by the same rule.
    type Rule = fn(&certdeck::inventory::DashboardRow) -> String;
    let rules: [(&str, Rule); 4] = [
        ("account", |r| r.account.to_string()),
        ("region", |r| r.region.to_string()),
        ("domain", |r| {
            r.custom_domain
                .clone()
                .map_or("~".to_owned(), |d| format!(" {d}"))
        }),
        ("expiry", |r| {
            format!(
                "{:020}",
                r.days_left.map_or(u64::MAX, |d| (d + (1 << 40)) as u64)
            )
        }),
    ];
    for (sort, rule) in rules {
        let page = app.get_text(&format!("/?view=all&sort={sort}")).await;
        let mut expected: Vec<&certdeck::inventory::DashboardRow> = view.rows.iter().collect();
        expected.sort_by_key(|r| rule(r));
        let expected: Vec<String> = expected
            .iter()
            .take(50)
            .map(|r| r.pool_id.clone())
            .collect();
        assert_eq!(names(&page), expected, "sorted by {sort}");
    }
    // The default view: the custom domains only, most urgent first.
    let page = app.get_text("/").await;
    let mut expected: Vec<&certdeck::inventory::DashboardRow> = view
        .rows
        .iter()
        .filter(|r| r.custom_domain.is_some())
        .collect();
    expected.sort_by_key(|r| r.urgency());
    let expected: Vec<String> = expected.iter().map(|r| r.pool_id.clone()).collect();
    assert!(expected.len() >= 3, "the demo has custom domains");
    assert_eq!(names(&page), expected, "custom domains, most urgent first");
}
