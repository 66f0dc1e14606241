//! Issue 16, point 5: `/expiry`, every custom domain's certificate on a 180-day
//! timeline, grouped by team, coloured by urgency and told in words; the effective
//! expiry is the served certificate's when the edge serves one that expires earlier.

use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;
use scraper::{ElementRef, Html};
use serde_json::json;
use time::OffsetDateTime;

use crate::helpers::{
    Browser, TestApp, attributes, eventually, options, selector, settings, spawn_app, spawn_sandbox,
};

/// One domain of the timeline as the page shows it.
#[derive(Debug)]
struct Shown {
    group: String,
    domain: String,
    urgency: String,
    days: Option<i64>,
    served_earlier: bool,
    beyond: bool,
    status: String,
    fill: String,
    bar_width: Option<f64>,
}

fn timeline(html: &str) -> Vec<Shown> {
    let document = Html::parse_document(html);
    let mut shown = Vec::new();
    for section in document.select(&selector("section.expiry-group")) {
        let group: String = section
            .select(&selector("h2"))
            .next()
            .map(|h| h.text().collect())
            .unwrap_or_default();
        for g in section.select(&selector("g.domain")) {
            let attr = |name: &str| g.value().attr(name).map(str::to_owned);
            let text_of = |css: &str| -> String {
                g.select(&selector(css))
                    .next()
                    .map(|e: ElementRef| e.text().collect())
                    .unwrap_or_default()
            };
            let bar = g.select(&selector("rect.bar, rect.mark")).next();
            shown.push(Shown {
                group: group.trim().to_owned(),
                domain: attr("data-domain").unwrap_or_default(),
                urgency: attr("data-urgency").unwrap_or_default(),
                days: attr("data-days").and_then(|d| d.parse().ok()),
                served_earlier: attr("data-served-earlier").is_some(),
                beyond: attr("data-beyond").is_some(),
                status: text_of("text.status"),
                fill: bar
                    .and_then(|b| b.value().attr("fill"))
                    .unwrap_or_default()
                    .to_owned(),
                bar_width: g
                    .select(&selector("rect.bar"))
                    .next()
                    .and_then(|b| b.value().attr("width"))
                    .and_then(|w| w.parse().ok()),
            });
        }
    }
    shown
}

/// Whole days from now to the expiry of `arn`, as ACM (the sandbox) tells it.
async fn days_left(app: &TestApp, arn: &str) -> i64 {
    let not_after = app
        .sandbox
        .acm("us-east-1")
        .await
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .expect("describe certificate")
        .certificate()
        .and_then(|c| c.not_after())
        .map(|t| t.secs())
        .expect("not after");
    (not_after - OffsetDateTime::now_utc().unix_timestamp()).div_euclid(86_400)
}

/// The configured certificate of each custom domain, from Cognito through the SDK.
async fn configured_arn(app: &TestApp, region: &str, domain: &str) -> String {
    app.sandbox
        .cognito(region)
        .await
        .describe_user_pool_domain()
        .domain(domain)
        .send()
        .await
        .expect("describe domain")
        .domain_description()
        .and_then(|d| d.custom_domain_config())
        .map(|c| c.certificate_arn().to_owned())
        .expect("a certificate")
}

fn near(shown: Option<i64>, expected: i64) -> bool {
    // The page and the test read the clock a moment apart.
    shown.is_some_and(|d| (d - expected).abs() <= 1)
}

#[tokio::test]
async fn the_timeline_shows_every_custom_domain_by_team_in_colour_and_words() {
    let app = spawn_app(Seed::Demo).await;
    let page = app.get_text("/expiry").await;
    // The timeline needs no JavaScript: nothing after the heading is a script (the
    // layout's progressive-enhancement script, in the head, only adds copy buttons).
    let content = page
        .split("Certificate expiry</h1>")
        .nth(1)
        .expect("the heading");
    assert!(
        !content.contains("<script"),
        "no JavaScript in the timeline"
    );
    let shown = timeline(&page);
    // The four custom domains of the demo, and no pool without one.
    let mut domains: Vec<&str> = shown.iter().map(|s| s.domain.as_str()).collect();
    domains.sort_unstable();
    assert_eq!(
        domains,
        [
            "auth.example.com",
            "login.example.com",
            "partners.example.net",
            "sso.eu.example.com"
        ]
    );
    // Grouped by the pools' team tags, one account: team names alone.
    let groups: Vec<String> = {
        let document = Html::parse_document(&page);
        document
            .select(&selector("section.expiry-group h2"))
            .map(|h| h.text().collect::<String>().trim().to_owned())
            .collect()
    };
    assert_eq!(groups, ["identity", "payments"]);
    let of = |domain: &str| {
        shown
            .iter()
            .find(|s| s.domain == domain)
            .unwrap_or_else(|| panic!("{domain} on the timeline"))
    };
    assert_eq!(of("partners.example.net").group, "identity");
    for domain in [
        "auth.example.com",
        "login.example.com",
        "sso.eu.example.com",
    ] {
        assert_eq!(of(domain).group, "payments", "{domain}");
    }
    // Soonest first within a team.
    let payments: Vec<&str> = shown
        .iter()
        .filter(|s| s.group == "payments")
        .map(|s| s.domain.as_str())
        .collect();
    assert_eq!(
        payments,
        [
            "auth.example.com",
            "login.example.com",
            "sso.eu.example.com"
        ]
    );

    // Days left are ACM's, urgency by colour and in words.
    let mut colours = std::collections::HashSet::new();
    for (domain, region) in [
        ("auth.example.com", "us-east-1"),
        ("login.example.com", "us-east-1"),
        ("partners.example.net", "us-east-1"),
        ("sso.eu.example.com", "eu-west-1"),
    ] {
        let arn = configured_arn(&app, region, domain).await;
        let expected = days_left(&app, &arn).await;
        let s = of(domain);
        assert!(near(s.days, expected), "{domain}: {s:?} vs {expected}");
        assert!(
            !s.served_earlier,
            "{domain}: the edge serves it as configured"
        );
        assert!(
            s.status
                .contains(&format!("{} days left", s.days.unwrap_or_default())),
            "{s:?}"
        );
        let (urgency, words) = match expected {
            ..=30 => ("soon", "days left · soon"),
            _ => ("ok", "days left · fine"),
        };
        assert_eq!(s.urgency, urgency, "{s:?}");
        if expected > 180 {
            assert!(s.beyond, "{s:?}");
            assert!(s.status.contains("beyond 180 days"), "{s:?}");
        } else {
            assert!(!s.beyond && s.status.contains(words), "{s:?}");
        }
        colours.insert((s.urgency.clone(), s.fill.clone()));
    }
    // One colour per urgency, and they differ.
    assert_eq!(colours.len(), 2, "{colours:?}");
    assert_ne!(of("auth.example.com").fill, of("login.example.com").fill);
    // A bar is as long as the time left, and certificates past the horizon stop at its end.
    let width = |d: &str| of(d).bar_width.expect("a bar");
    assert!(width("auth.example.com") < width("login.example.com"));
    assert!(width("login.example.com") < width("sso.eu.example.com"));
    assert_eq!(width("sso.eu.example.com"), width("partners.example.net"));
    // The legend tells every colour in words.
    let legend = crate::helpers::texts(&page, ".expiry-legend li");
    assert!(
        legend
            .iter()
            .any(|l| l.contains("critical: 7 days or fewer")),
        "{legend:?}"
    );

    // The dashboard links to it; signed-out visitors are sent to sign in.
    let dashboard = app.dashboard("").await;
    assert!(attributes(&dashboard, "a", "href").contains(&"/expiry".to_owned()));
    let anonymous = Browser::new(&format!("http://127.0.0.1:{}", app.port));
    let response = anonymous.get("/expiry").await;
    assert_eq!(response.status(), 303);
    // A viewer reads it too, like the dashboard.
    let viewer = app.browser_as("vera", "viewer", &[]).await;
    assert_eq!(timeline(&viewer.get_text("/expiry").await).len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn the_effective_expiry_is_the_served_certificate_when_it_expires_earlier() {
    let mut opts = options(Seed::Demo);
    opts.timings.propagation = Duration::from_secs(1);
    let sandbox = Arc::new(spawn_sandbox(opts).await);
    let mut s = settings(&sandbox, &sandbox.sqlite_url());
    s.inventory_refresh = Duration::from_secs(2);
    let app = TestApp::start_with(&sandbox, s).await;
    app.refresh().await;
    let served_arn = configured_arn(&app, "us-east-1", "login.example.com").await;
    // The latest-expiring certificate for login.example.com, configured outside certdeck
    // while its distribution never reaches the edge: the edge keeps the old one.
    let view = app.state.inventory.view();
    let later = view
        .snapshot
        .certificates
        .iter()
        .filter(|c| c.names.iter().any(|n| n == "login.example.com"))
        .max_by_key(|c| c.not_after)
        .expect("a certificate for login.example.com")
        .arn
        .clone();
    drop(view);
    let configured_days = days_left(&app, &later).await;
    let served_days = days_left(&app, &served_arn).await;
    assert!(configured_days > 180 && served_days < configured_days);
    sandbox
        .arm_fault(json!({"operation": "Edge.Distribute", "count": 1}))
        .await;
    let pool = app.pool_id("Merchant dashboard").await;
    sandbox
        .cognito("us-east-1")
        .await
        .update_user_pool_domain()
        .domain("login.example.com")
        .user_pool_id(&pool)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(&later)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("update");
    let seen = eventually(Duration::from_secs(40), || async {
        app.refresh().await;
        let page = app.get_text("/expiry").await;
        timeline(&page)
            .iter()
            .any(|s| s.domain == "login.example.com" && s.served_earlier)
    })
    .await;
    assert!(seen, "the sweep saw the edge serving the old certificate");
    assert_eq!(
        configured_arn(&app, "us-east-1", "login.example.com").await,
        later
    );
    let page = app.get_text("/expiry").await;
    let shown = timeline(&page);
    let login = shown
        .iter()
        .find(|s| s.domain == "login.example.com")
        .expect("login.example.com");
    assert!(near(login.days, served_days), "{login:?} vs {served_days}");
    assert!(!login.beyond, "{login:?}");
    assert!(login.status.contains("(served certificate)"), "{login:?}");
    // The metric says the same.
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("certdeck_served_certificate_matches{domain=\"login.example.com\"} 0\n"),
        "{metrics}"
    );
    app.stop().await;
}
