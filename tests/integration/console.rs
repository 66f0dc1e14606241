//! Issue 3: the dashboard and pool page, served from the inventory snapshot, against the
//! sandbox through the real SDK.

use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;

use crate::helpers::{
    TableRow, TestApp, attributes, options, paths, spawn_app, spawn_app_on, spawn_sandbox,
    table_rows,
};

/// The pool ids of the dashboard's rows, in order.
fn rows(html: &str) -> Vec<String> {
    attributes(html, "tr[data-pool-id]", "data-pool-id")
}

/// The row of the pool named `name`.
fn row_of(html: &str, name: &str) -> TableRow {
    table_rows(html, "tr[data-pool-id]")
        .into_iter()
        .find(|row| row.texts("a").iter().any(|link| link == name))
        .unwrap_or_else(|| panic!("no row for {name}"))
}

#[tokio::test]
async fn the_dashboard_lists_every_demo_pool_with_its_flags() {
    let app = spawn_app(Seed::Demo).await;
    let html = app.dashboard("?view=all").await;
    assert_eq!(rows(&html).len(), 13, "every demo pool in both regions");
    assert!(html.contains("Inventory refreshed"));
    assert!(html.contains("3 need attention"));

    let customer = row_of(&html, "Customer portal");
    assert!(customer.contains("auth.example.com") && customer.contains("customer-portal-demo"));
    assert!(
        customer.contains("us-east-1")
            && customer.contains("ACTIVE")
            && customer.contains("RSA_2048")
    );
    assert!(customer.contains("expires within 30 days"), "{customer}");
    assert!(customer.contains("newer eligible certificate"));
    let days: i64 = customer
        .texts(".days-left")
        .first()
        .and_then(|s| s.trim().parse().ok())
        .expect("days left");
    assert!((19..=20).contains(&days), "{days}");

    let eu = row_of(&html, "EU customer portal");
    assert!(
        eu.contains("eu-west-1") && eu.contains("sso.eu.example.com") && eu.contains("RSA_4096")
    );
    assert!(eu.contains("newer eligible certificate") && !eu.contains("expires within 30 days"));

    let partners = row_of(&html, "Partner portal");
    assert!(partners.contains("RSA_3072"));
    assert!(
        !partners.has("span.flag-newer"),
        "a not-yet-valid certificate is not a newer eligible one: {partners}"
    );
    assert!(
        partners.contains("imported: renew by hand"),
        "its certificate is imported: {partners}"
    );

    let checkout = row_of(&html, "Checkout");
    assert!(checkout.contains("checkout-demo") && !checkout.has("span.flag"));
}

#[tokio::test]
async fn search_filters_sorting_and_the_pool_page() {
    let app = spawn_app(Seed::Demo).await;
    assert_eq!(
        rows(&app.dashboard("?view=all&q=EXAMPLE.com").await).len(),
        3,
        "auth, login, sso.eu"
    );
    assert_eq!(rows(&app.dashboard("?view=all&q=workforce").await).len(), 2);
    assert_eq!(
        rows(&app.dashboard("?view=all&region=eu-west-1").await).len(),
        5
    );
    assert_eq!(
        rows(&app.dashboard("?view=all&status=attention").await).len(),
        3
    );
    assert_eq!(
        rows(&app.dashboard("?view=all&status=expiring").await).len(),
        1
    );
    assert_eq!(
        rows(&app.dashboard("?view=all&status=custom").await).len(),
        4
    );
    assert_eq!(
        rows(
            &app.dashboard("?view=all&status=none&region=us-east-1")
                .await
        )
        .len(),
        5
    );
    assert_eq!(
        rows(&app.dashboard("?view=all&q=nothing-like-this").await).len(),
        0
    );

    let by_expiry = app.dashboard("?view=all&sort=expiry").await;
    let first = rows(&by_expiry)[0].clone();
    let customer = app.pool_id("Customer portal").await;
    assert_eq!(first, customer, "the soonest expiry first");

    // The pool page: domains, the full description, the certificate.
    let page = app.pool_page(&customer).await;
    for expected in [
        "auth.example.com",
        "customer-portal-demo",
        "TLS_V1_2_2021",
        "cloudfront.net",
        "123456789012",
        "RSA_2048",
        "team payments",
    ] {
        assert!(page.contains(expected), "pool page shows {expected}");
    }
    let missing = app.admin.get(&paths::pool("us-east-1_nothere")).await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn paging_130_pools_at_50_a_page() {
    let app = spawn_app(Seed::Empty).await;
    let cognito = app.sandbox.cognito("us-east-1").await;
    for i in 0..130 {
        cognito
            .create_user_pool()
            .pool_name(format!("pool {i:03}"))
            .send()
            .await
            .expect("create");
    }
    app.refresh().await;
    let first = app.dashboard("?view=all").await;
    assert_eq!(rows(&first).len(), 50);
    assert!(first.contains("page 1 of 3 · 130 matching"));
    assert!(first.contains(">pool 000</a>") && first.contains(">pool 049</a>"));
    let third = app.dashboard("?view=all&page=3").await;
    assert_eq!(rows(&third).len(), 30);
    assert!(third.contains(">pool 129</a>") && third.contains("rel=\"prev\""));
    let filtered = app.dashboard("?view=all&q=pool+12&page=1").await;
    assert_eq!(rows(&filtered).len(), 10, "pool 120 to pool 129");
    // Out-of-range pages clamp.
    assert_eq!(rows(&app.dashboard("?view=all&page=99").await).len(), 30);
}

#[tokio::test]
async fn names_and_tags_from_aws_are_escaped() {
    let app = spawn_app(Seed::Empty).await;
    let cognito = app.sandbox.cognito("us-east-1").await;
    let created = cognito
        .create_user_pool()
        .pool_name("<script>alert(1)</script>")
        .user_pool_tags("team", "pay\"ments' <b>")
        .send()
        .await
        .expect("create");
    let id = created
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    app.refresh().await;
    for path in ["/?view=all".to_owned(), paths::pool(&id)] {
        let html = app.get_text(&path).await;
        assert!(
            !html.contains("<script>alert(1)</script>"),
            "{path} escapes the name"
        );
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
        assert!(!html.contains("pay\"ments' <b>"), "{path} escapes the tag");
    }
}

#[tokio::test]
async fn a_restart_serves_the_stored_snapshot_before_aws_answers() {
    let sandbox = std::sync::Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let database = sandbox.sqlite_url();
    let first = spawn_app_on(&sandbox, &database).await;
    assert_eq!(rows(&first.dashboard("?view=all").await).len(), 13);
    first.stop().await;

    // AWS now takes 5 s a call; the restarted console answers from the stored snapshot.
    sandbox.set_latency(Duration::from_secs(5)).await;
    let calls_before = sandbox.calls("ListUserPools").await;
    let started = Instant::now();
    let second = TestApp::start(&sandbox, &database).await;
    let html = second.dashboard("?view=all").await;
    let elapsed = started.elapsed();
    assert_eq!(rows(&html).len(), 13);
    assert!(
        html.contains("stored snapshot"),
        "the page says where its data comes from"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "served in {elapsed:?}, before any AWS call returned"
    );
    // The refresh had begun: a ListUserPools call was received and is still pending.
    let pending = crate::helpers::eventually(Duration::from_secs(3), || async {
        sandbox.calls("ListUserPools").await > calls_before
    })
    .await;
    assert!(pending, "the background refresh started");
    sandbox.set_latency(Duration::ZERO).await;
}
