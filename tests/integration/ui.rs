//! Issue 18 without a browser: the dashboard's domain view and summary strip, and
//! errors in people's words (a console started without AWS credentials).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certdeck_sandbox::Seed;

use crate::helpers::{Browser, TEST_PASSWORD, attributes, cli_env, spawn_app, tempdir, texts};

/// The pool ids of the dashboard's rows, in order.
fn rows(html: &str) -> Vec<String> {
    attributes(html, "tr[data-pool-id]", "data-pool-id")
}

/// The number a summary item shows.
fn summary(html: &str, id: &str) -> usize {
    texts(html, &format!("#summary-{id} .count"))
        .first()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a count in #summary-{id}"))
}

#[tokio::test]
async fn the_dashboard_leads_with_the_custom_domains_most_urgent_first() {
    let app = spawn_app(Seed::Demo).await;
    let html = app.dashboard("").await;
    let domains = rows(&html);
    assert_eq!(domains.len(), 4, "only the pools with a custom domain");
    assert_eq!(
        domains[0],
        app.pool_id("Customer portal").await,
        "the domain expiring soonest first"
    );
    let days: Vec<i64> = texts(&html, "tr[data-pool-id] .days-left")
        .iter()
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    assert!(
        days.windows(2).all(|w| w[0] <= w[1]),
        "fewest days left first: {days:?}"
    );
    // The summary strip counts, each a link to its list.
    assert_eq!(summary(&html, "domains"), 4);
    assert_eq!(summary(&html, "expiring"), 1);
    assert_eq!(summary(&html, "week"), 0);
    assert_eq!(summary(&html, "differs"), 0);
    assert_eq!(summary(&html, "inflight"), 0);
    for (id, href) in [
        ("expiring", "/?status=expiring"),
        ("week", "/?status=week"),
        ("differs", "/?status=differs"),
        ("inflight", "/?status=inflight"),
    ] {
        assert_eq!(
            attributes(&html, &format!("a#summary-{id}"), "href"),
            vec![href.to_owned()]
        );
        let list = app.dashboard(&href[1..]).await;
        assert_eq!(
            rows(&list).len(),
            summary(&html, id),
            "{href} lists what the strip counts"
        );
    }
    // "All pools" one click away, with every pool.
    assert_eq!(
        attributes(&html, "a#all-pools", "href"),
        vec!["/?view=all".to_owned()]
    );
    assert_eq!(rows(&app.dashboard("?view=all").await).len(), 13);
    // Times are relative, with the absolute UTC time on hover.
    let refreshed = attributes(&html, "time[datetime]", "title");
    assert!(
        refreshed.first().is_some_and(|t| t.ends_with(" UTC")),
        "{refreshed:?}"
    );
    assert!(
        texts(&html, "td.certificate .expires")
            .iter()
            .any(|t| t.contains("in 19 days") || t.contains("in 20 days"))
    );
}

#[tokio::test]
async fn no_aws_credentials_are_told_in_peoples_words_on_the_page_and_in_one_log_line() {
    let dir = tempdir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("CERTDECK_LOG_FORMAT", "json")
        .env("CERTDECK_LISTEN", format!("127.0.0.1:{port}"))
        .env("CERTDECK_SECURE_COOKIES", "false")
        .env("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD", TEST_PASSWORD)
        .env(
            "CERTDECK_DATABASE_URL",
            format!("sqlite://{}/certdeck.db", dir.path().display()),
        )
        .envs(cli_env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("certdeck serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let collected = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut lines) = collected.lock() {
                lines.push(line);
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut admin = Browser::new(&base);
    loop {
        let up = reqwest::get(format!("{base}/healthz")).await.is_ok();
        if up {
            break;
        }
        assert!(Instant::now() < deadline, "the console never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    admin.sign_in("admin", TEST_PASSWORD).await;
    // The first refresh runs at start-up; wait for its problems.
    let mut problems = Vec::new();
    while problems.is_empty() {
        assert!(Instant::now() < deadline, "no problem shown");
        let page = admin.get_text("/").await;
        assert!(
            !page.contains("DispatchFailure") && !page.contains("ConnectorError"),
            "no SDK debug text on the page: {page}"
        );
        problems = texts(&page, "p.notice");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    for problem in &problems {
        assert!(
            problem.contains("certdeck found no AWS credentials")
                && problem.contains("set a profile or keys, see README"),
            "what is wrong and what to do: {problem}"
        );
        assert!(problem.len() < 400, "short: {problem}");
    }
    let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
    let warnings: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("\"WARN\"") || l.contains("\"ERROR\""))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("DispatchFailure") && !l.contains("ConnectorError")),
        "no SDK debug text in the log: {lines:#?}"
    );
    let about_credentials: Vec<&&String> = warnings
        .iter()
        .filter(|l| l.contains("no AWS credentials"))
        .collect();
    assert_eq!(
        about_credentials.len(),
        problems.len(),
        "one log line per problem: {warnings:#?}"
    );
    for line in &warnings {
        assert!(line.len() < 600, "a readable line: {line}");
    }
}
