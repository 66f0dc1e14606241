//! Issue 5: the audit log: an entry for each kind, tamper evidence, concurrent appends,
//! exports and filters.

use std::process::Command;

use certdeck::domain::audit::AuditRecord;
use certdeck::store::{AuditFilter, Store};
use certdeck_sandbox::Seed;
use secrecy::SecretString;
use serde_json::Value;

use crate::helpers::{Browser, TEST_PASSWORD, fresh_postgres_url, spawn_app, tempdir};

#[tokio::test]
async fn each_kind_of_event_is_an_entry_with_who_and_where() {
    let app = spawn_app(Seed::Demo).await;
    let base = format!("http://127.0.0.1:{}", app.port);
    app.create_account("dora", "operator", &["identity"]).await;
    let mut browser = Browser::new(&base);
    assert_eq!(browser.sign_in("dora", "nope").await.status(), 401);
    assert_eq!(browser.sign_in("dora", TEST_PASSWORD).await.status(), 303);
    let payments_pool = app.pool_id("Customer portal").await;
    assert_eq!(
        browser
            .get(&format!("/pools/{payments_pool}/certificate"))
            .await
            .status(),
        403
    );
    assert_eq!(
        browser
            .post_raw(
                &format!("/pools/{payments_pool}/refresh"),
                &[("csrf_token", "forged")]
            )
            .await
            .status(),
        403
    );
    assert_eq!(browser.post_form("/logout", &[]).await.status(), 303);
    for _ in 0..6 {
        Browser::new(&base).sign_in("eve", "guess").await;
    }
    certdeck::auth::accounts::set_role(
        &app.state.store,
        "test",
        "dora",
        "viewer".parse().expect("role"),
        &[],
    )
    .await
    .expect("role");

    let entries = app
        .state
        .store
        .audit_page(&AuditFilter::default(), None, 100)
        .await
        .expect("audit");
    let find = |action: &str, outcome: &str, actor: &str| {
        entries
            .iter()
            .find(|e| {
                e.record.action == action && e.record.outcome == outcome && e.record.actor == actor
            })
            .unwrap_or_else(|| panic!("an entry {action} {outcome} by {actor}"))
    };
    for (action, outcome, actor, role) in [
        ("auth.sign_in", "failure", "dora", None),
        ("auth.sign_in", "success", "dora", Some("operator")),
        ("access.denied", "denied", "dora", Some("operator")),
        ("csrf.rejected", "denied", "anonymous", None),
        ("auth.sign_out", "success", "dora", Some("operator")),
        ("auth.sign_in", "throttled", "eve", None),
    ] {
        let entry = find(action, outcome, actor);
        assert_eq!(
            entry.record.role.as_deref(),
            role,
            "{action} {outcome}: role"
        );
        assert_eq!(
            entry.record.source_ip.as_deref(),
            Some("127.0.0.1"),
            "{action} {outcome}: source address"
        );
        assert!(entry.record.user_agent.is_none() || entry.record.user_agent.is_some());
    }
    let denied = find("access.denied", "denied", "dora");
    assert_eq!(
        denied.record.pool_id.as_deref(),
        Some(payments_pool.as_str())
    );
    let created = find("account.created", "success", "test");
    assert!(
        created
            .record
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("dora"))
    );
    find("account.role_changed", "success", "test");

    // The user agent is recorded when a browser sends one.
    let agent = reqwest::Client::builder()
        .user_agent("certdeck-test-agent/1.0")
        .cookie_store(true)
        .build()
        .expect("client");
    let login = agent
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    let token = crate::helpers::csrf_of(&login).expect("token");
    agent
        .post(format!("{base}/login"))
        .form(&[
            ("username", "dora"),
            ("password", "x"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("post");
    let last = app
        .state
        .store
        .audit_page(&AuditFilter::default(), None, 1)
        .await
        .expect("audit");
    assert_eq!(
        last[0].record.user_agent.as_deref(),
        Some("certdeck-test-agent/1.0")
    );

    // The page shows them and says the chain is intact.
    let page = app.get_text("/audit?actor=dora").await;
    assert!(page.contains("Hash chain intact"));
    assert!(
        page.contains("auth.sign_in") && page.contains("access.denied") && !page.contains(">eve<")
    );
    assert!(
        page.contains(&format!("/pools/{payments_pool}")),
        "links to the pool page"
    );
}

fn verify_cli(database: &str) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args(["audit", "verify"])
        .env("CERTDECK_DATABASE_URL", database)
        .current_dir(tempdir())
        .output()
        .expect("certdeck audit verify runs");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

async fn log_of(url: &str, entries: usize) -> Store {
    let store = Store::connect(&SecretString::from(url.to_owned()))
        .await
        .expect("store");
    for i in 0..entries {
        store
            .append_audit(AuditRecord {
                actor: format!("user{i}"),
                action: "auth.sign_in".into(),
                outcome: "success".into(),
                ..Default::default()
            })
            .await
            .expect("append");
    }
    store
}

#[tokio::test]
async fn changing_deleting_or_reordering_a_row_breaks_the_chain() {
    type Tamper = (&'static str, &'static str, &'static str);
    let cases: [Tamper; 5] = [
        (
            "changed",
            "UPDATE audit_log SET actor = 'mallory' WHERE id = 3",
            "entry 3",
        ),
        ("deleted", "DELETE FROM audit_log WHERE id = 2", "entry 2"),
        (
            "last deleted",
            "DELETE FROM audit_log WHERE id = 5",
            "entry 5",
        ),
        (
            "reordered",
            "UPDATE audit_log SET id = 1000 WHERE id = 2; UPDATE audit_log SET id = 2 WHERE id = 4; UPDATE audit_log SET id = 4 WHERE id = 1000",
            "entry 2",
        ),
        (
            "outcome rewritten",
            "UPDATE audit_log SET outcome = 'failure' WHERE id = 5",
            "entry 5",
        ),
    ];
    for (what, sql, names) in cases {
        let url = format!("sqlite://{}/certdeck.db", tempdir().display());
        let store = log_of(&url, 5).await;
        let (ok, said) = verify_cli(&url);
        assert!(ok, "an intact log verifies: {said}");
        assert!(said.contains("5 entries"), "{said}");
        let pool = sqlx::AnyPool::connect(&url).await.expect("raw connection");
        for statement in sql.split("; ") {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&pool)
                .await
                .expect("tamper");
        }
        pool.close().await;
        drop(store);
        let (ok, said) = verify_cli(&url);
        assert!(!ok, "{what}: verify fails");
        assert!(said.contains(names), "{what}: names {names}: {said}");
    }
}

#[tokio::test]
async fn fifty_concurrent_appends_make_one_chain_on_both_databases() {
    for url in [
        format!("sqlite://{}/certdeck.db", tempdir().display()),
        fresh_postgres_url().await,
    ] {
        let store = log_of(&url, 0).await;
        let appends = (0..50).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .append_audit(AuditRecord {
                        actor: format!("writer{i}"),
                        action: "test.append".into(),
                        outcome: "success".into(),
                        ..Default::default()
                    })
                    .await
            })
        });
        for result in futures_util::future::join_all(appends).await {
            result.expect("task").expect("append");
        }
        assert_eq!(store.verify_audit().await.expect("verify"), Ok(50), "{url}");
        let all = store
            .audit_page(&AuditFilter::default(), None, 100)
            .await
            .expect("page");
        let mut actors: Vec<_> = all.iter().map(|e| e.record.actor.clone()).collect();
        actors.sort();
        actors.dedup();
        assert_eq!(actors.len(), 50, "every append is there once");
    }
}

#[tokio::test]
async fn exports_parse_and_follow_the_filters() {
    let app = spawn_app(Seed::Empty).await;
    let tricky = "comma, \"quotes\" and\na newline";
    for (actor, detail) in [("ann", tricky), ("bob", "plain"), ("ann", "second")] {
        app.state
            .store
            .append_audit(AuditRecord {
                actor: actor.into(),
                action: "test.export".into(),
                outcome: "success".into(),
                pool_id: Some("us-east-1_Export123".into()),
                detail: Some(detail.into()),
                ..Default::default()
            })
            .await
            .expect("append");
    }
    let csv_text = app.get_text("/audit.csv").await;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(&headers[0], "id");
    assert_eq!(headers.len(), 16);
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("CSV parses");
    let total = app
        .state
        .store
        .audit_page(&AuditFilter::default(), None, 1000)
        .await
        .expect("page")
        .len();
    assert_eq!(rows.len(), total);
    let detail_column = headers.iter().position(|h| h == "detail").expect("detail");
    assert!(
        rows.iter().any(|r| &r[detail_column] == tricky),
        "commas, quotes and newlines survive"
    );

    let lines: Vec<Value> = app
        .get_text("/audit.jsonl")
        .await
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), total);
    assert!(lines.iter().any(|l| l["detail"] == tricky));
    assert!(
        lines
            .iter()
            .all(|l| l["hash"].as_str().is_some_and(|h| h.len() == 64))
    );

    // Filters apply to both.
    let filtered_csv = app
        .get_text("/audit.csv?actor=ann&action=test.export")
        .await;
    assert_eq!(
        csv::Reader::from_reader(filtered_csv.as_bytes())
            .records()
            .count(),
        2
    );
    let filtered_jsonl = app.get_text("/audit.jsonl?actor=bob").await;
    assert_eq!(filtered_jsonl.lines().count(), 1);
    let by_pool = app
        .get_text("/audit.jsonl?pool_id=us-east-1_Export123&outcome=success")
        .await;
    assert_eq!(by_pool.lines().count(), 3);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        app.get_text(&format!(
            "/audit.jsonl?from={today}&to={today}&action=test.export"
        ))
        .await
        .lines()
        .count(),
        3
    );
    assert_eq!(
        app.get_text("/audit.jsonl?to=2000-01-01")
            .await
            .lines()
            .count(),
        0
    );
}

#[tokio::test]
async fn the_audit_page_pages_by_keyset() {
    let app = spawn_app(Seed::Empty).await;
    for i in 0..120 {
        app.state
            .store
            .append_audit(AuditRecord {
                actor: format!("pager{i:03}"),
                action: "test.page".into(),
                outcome: "success".into(),
                ..Default::default()
            })
            .await
            .expect("append");
    }
    let first = app.get_text("/audit?action=test.page").await;
    assert_eq!(first.matches("data-entry-id=").count(), 50);
    assert!(
        first.contains("pager119") && !first.contains("pager069"),
        "newest first"
    );
    let older = first
        .split("rel=\"next\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("older link")
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = app.get_text(&older).await;
    assert_eq!(second.matches("data-entry-id=").count(), 50);
    assert!(
        second.contains("pager069") && !second.contains("pager070<"),
        "{older}: {}",
        &second[second.find("<tbody>").unwrap_or(0)..][..600]
    );
}
