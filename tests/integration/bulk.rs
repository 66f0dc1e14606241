//! Issue 15: bulk rotation in waves and scheduled changes, through HTTP against the
//! sandbox (each domain through the guarded change protocol).

use std::sync::Arc;
use std::time::Duration;

use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestSandbox, eventually, options, spawn_sandbox, table_rows};

/// A fleet in the sandbox's own account: `count` pools (team `platform` unless listed
/// in `other_team`) with custom domains `dN.bulk.test` on one wildcard certificate
/// that also covers `legacy.elsewhere.test` (its pool has that domain), and a second
/// wildcard certificate for `*.bulk.test` only. Returns (old ARN, new ARN, domains).
struct Fleet {
    old: String,
    new: String,
    domains: Vec<String>,
}

async fn issue(sandbox: &TestSandbox, names: &[&str]) -> String {
    let response = sandbox
        .http
        .post(format!(
            "{}/_sandbox/certificates",
            sandbox.sandbox.endpoint_url()
        ))
        .json(&json!({
            "region": "us-east-1",
            "domain_name": names[0],
            "names": names,
            "origin": "AWS_MANAGED",
        }))
        .send()
        .await
        .expect("the sandbox answers");
    assert!(response.status().is_success(), "{}", response.status());
    let body: Value = response.json().await.expect("JSON");
    body["CertificateArn"].as_str().expect("arn").to_owned()
}

async fn fleet(sandbox: &TestSandbox, count: usize, other_team: &[usize]) -> Fleet {
    let old = issue(sandbox, &["*.bulk.test", "legacy.elsewhere.test"]).await;
    let new = issue(sandbox, &["*.bulk.test"]).await;
    let mut domains: Vec<String> = (1..=count).map(|n| format!("d{n}.bulk.test")).collect();
    domains.push("legacy.elsewhere.test".into());
    for (index, domain) in domains.iter().enumerate() {
        let team = if other_team.contains(&(index + 1)) {
            "other"
        } else {
            "platform"
        };
        crate::helpers::pool_with_domain(sandbox, &format!("bulk-{index}"), team, domain, &old)
            .await;
    }
    Fleet { old, new, domains }
}

/// Waits until the console's inventory has every custom domain ACTIVE.
async fn all_active(app: &TestApp, count: usize) {
    let active = eventually(Duration::from_secs(30), || async {
        app.refresh().await;
        let view = app.state.inventory.view();
        view.rows
            .iter()
            .filter(|r| r.custom_domain.is_some())
            .count()
            == count
            && view
                .rows
                .iter()
                .filter(|r| r.custom_domain.is_some())
                .all(|r| r.domain_status.as_deref() == Some("ACTIVE"))
    })
    .await;
    assert!(active, "every custom domain becomes ACTIVE");
}

fn encode(arn: &str) -> String {
    arn.replace(':', "%3A").replace('/', "%2F")
}

/// Confirms the plan replacing `old` by `new`; returns the run's page path.
async fn start_run(
    browser: &crate::helpers::Browser,
    old: &str,
    new: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form = vec![("new", new)];
    form.extend_from_slice(fields);
    let response = browser
        .post_form(&format!("/certificates/{}/replace", encode(old)), &form)
        .await;
    assert_eq!(response.status(), 303, "the run is stored");
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.starts_with("/bulk/"), "{location}");
    location
}

/// The phase of each domain on the run's page, and the run's state.
async fn phases(app: &TestApp, run: &str) -> (String, Vec<(String, String)>) {
    let page = app.admin.get_text(run).await;
    let state = crate::helpers::texts(&page, "#run-state").join("");
    let rows = table_rows(&page, "table.bulk-items tr[data-domain]")
        .into_iter()
        .map(|row| {
            let domain = row.texts("td").get(1).cloned().unwrap_or_default();
            let phase = row.texts("td.phase").join("").trim().to_owned();
            (domain, phase)
        })
        .collect();
    (state, rows)
}

async fn wait_state(app: &TestApp, run: &str, wanted: &[&str], limit: Duration) -> bool {
    eventually(limit, || async {
        wanted.contains(&phases(app, run).await.0.as_str())
    })
    .await
}

fn phase_of<'a>(rows: &'a [(String, String)], domain: &str) -> &'a str {
    rows.iter()
        .find(|(d, _)| d == domain)
        .map_or("", |(_, p)| p.as_str())
}

#[tokio::test]
async fn the_plan_shows_eligibility_scope_and_status_and_skips_what_cannot_change() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 3, &[3]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 4).await;
    let operator = app.browser_as("ops", "operator", &["platform"]).await;
    let page = operator
        .get_text(&format!(
            "/certificates/{}/replace?new={}",
            encode(&fleet.old),
            encode(&fleet.new)
        ))
        .await;
    let rows = table_rows(&page, "table.plan tr[data-domain]");
    assert_eq!(rows.len(), 4, "every domain using the old certificate");
    let row = |d: &str| rows.iter().find(|r| r.contains(d)).expect(d);
    assert!(
        row("d1.bulk.test")
            .texts("td.plan-outcome")
            .join("")
            .starts_with("change")
    );
    assert!(
        row("d1.bulk.test")
            .texts("td.status")
            .join("")
            .contains("ACTIVE")
    );
    assert!(row("d3.bulk.test").texts("td.scope").join("") == "no");
    assert!(
        row("d3.bulk.test")
            .texts("td.plan-outcome")
            .join("")
            .contains("not in your scope")
    );
    let legacy = row("legacy.elsewhere.test")
        .texts("td.plan-outcome")
        .join("");
    assert!(
        legacy.starts_with("skip"),
        "the new certificate does not cover it: {legacy}"
    );

    // A viewer may look at the certificate but not plan.
    let viewer = app.browser_as("viewer", "viewer", &[]).await;
    let response = viewer
        .get(&format!("/certificates/{}/replace", encode(&fleet.old)))
        .await;
    assert_eq!(response.status(), 403);

    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let run = start_run(&operator, &fleet.old, &fleet.new, &[("wave_size", "5")]).await;
    assert!(wait_state(&app, &run, &["finished"], Duration::from_secs(60)).await);
    let (_, rows) = phases(&app, &run).await;
    assert_eq!(phase_of(&rows, "d1.bulk.test"), "verified");
    assert_eq!(phase_of(&rows, "d2.bulk.test"), "verified");
    assert_eq!(phase_of(&rows, "d3.bulk.test"), "skipped");
    assert_eq!(phase_of(&rows, "legacy.elsewhere.test"), "skipped");
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await - before,
        2,
        "only the domains in scope and eligible were changed"
    );
    // Bad input is refused cleanly.
    for (field, value) in [
        ("wave_size", "0"),
        ("wave_size", "21"),
        ("not_before", "soon"),
    ] {
        let response = operator
            .post_form(
                &format!("/certificates/{}/replace", encode(&fleet.old)),
                &[("new", fleet.new.as_str()), (field, value)],
            )
            .await;
        assert_eq!(response.status(), 400, "{field}={value}");
    }
    assert_eq!(app.admin.get("/bulk/not-a-run").await.status(), 404);
    assert_eq!(app.admin.get("/bulk/0123456789ab").await.status(), 404);
}

#[tokio::test]
async fn a_failure_in_the_second_wave_halts_the_later_waves() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 5, &[]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 6).await;
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let run = start_run(&app.admin, &fleet.old, &fleet.new, &[("wave_size", "2")]).await;
    // The first wave (d1, d2) is sent; the next call, the third domain's, fails.
    assert!(
        eventually(Duration::from_secs(20), || async {
            sandbox.calls("UpdateUserPoolDomain").await - before >= 2
        })
        .await
    );
    sandbox
        .arm_fault(json!({"operation": "UpdateUserPoolDomain", "error_code": "InvalidParameterException", "message": "injected on the third domain", "count": 1}))
        .await;
    assert!(wait_state(&app, &run, &["halted"], Duration::from_secs(60)).await);
    let (_, rows) = phases(&app, &run).await;
    assert_eq!(phase_of(&rows, "d1.bulk.test"), "verified");
    assert_eq!(phase_of(&rows, "d2.bulk.test"), "verified");
    let second: Vec<&str> = ["d3.bulk.test", "d4.bulk.test"]
        .iter()
        .map(|d| phase_of(&rows, d))
        .collect();
    assert!(
        second.contains(&"refused"),
        "one domain of the second wave failed: {rows:?}"
    );
    assert_eq!(
        phase_of(&rows, "d5.bulk.test"),
        "not_run",
        "the third wave never ran"
    );
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await - before,
        4,
        "2 + 2 calls, none for the halted wave"
    );
    // The audit log: the bulk's start and halt name which domains changed and which not.
    let log = app.admin.audit_jsonl("").await;
    let halted = log
        .lines()
        .find(|l| l.contains("\"bulk.halted\""))
        .expect("bulk.halted is audited");
    assert!(
        halted.contains("changed d1.bulk.test, d2.bulk.test"),
        "{halted}"
    );
    assert!(halted.contains("(refused)"), "{halted}");
    assert!(halted.contains("d5.bulk.test (not_run)"), "{halted}");
    assert!(log.contains("\"bulk.started\""));
    assert!(
        log.contains("injected on the third domain"),
        "the per-domain failure is audited"
    );
    // Each domain's entries name the run (their user agent).
    let id = run.trim_start_matches("/bulk/");
    let failed = log
        .lines()
        .find(|l| l.contains("injected on the third domain"))
        .expect("the failed domain's entry");
    assert!(failed.contains(&format!("certdeck bulk {id}")), "{failed}");
}

#[tokio::test]
async fn a_run_survives_a_restart() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 4, &[]).await;
    let database = sandbox.sqlite_url();
    let app = TestApp::start(&sandbox, &database).await;
    all_active(&app, 5).await;
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let run = start_run(&app.admin, &fleet.old, &fleet.new, &[("wave_size", "2")]).await;
    // The first wave is sent and its answers stored (a stop between AWS's answer and
    // its storing leaves the domain failed: see the README).
    assert!(
        eventually(Duration::from_secs(30), || async {
            let (_, rows) = phases(&app, &run).await;
            ["d1.bulk.test", "d2.bulk.test"]
                .iter()
                .all(|d| !matches!(phase_of(&rows, d), "pending" | "submitting"))
        })
        .await
    );
    app.stop().await;
    let app = TestApp::start(&sandbox, &database).await;
    app.refresh().await;
    let done = wait_state(&app, &run, &["finished", "halted"], Duration::from_secs(60)).await;
    let (state, rows) = phases(&app, &run).await;
    assert!(done && state == "finished", "{state}: {rows:?}");
    for domain in &fleet.domains[..4] {
        assert_eq!(phase_of(&rows, domain), "verified", "{domain}: {rows:?}");
    }
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await - before,
        4,
        "each domain changed once across the restart"
    );
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) `seconds` from now.
fn in_seconds(seconds: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    format!(
        "{}T{:02}:{:02}:{:02}",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[tokio::test]
async fn a_scheduled_run_waits_for_its_time_and_a_cancelled_one_never_runs() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 1, &[]).await;
    let database = sandbox.sqlite_url();
    let app = TestApp::start(&sandbox, &database).await;
    all_active(&app, 2).await;
    let before = sandbox.calls("UpdateUserPoolDomain").await;

    // Cancelled before its time: never runs, and the cancel is audited.
    let cancelled = start_run(
        &app.admin,
        &fleet.old,
        &fleet.new,
        &[("not_before", &in_seconds(4))],
    )
    .await;
    let list = app.admin.get_text("/scheduled").await;
    let id = cancelled.trim_start_matches("/bulk/");
    assert!(list.contains(id), "the scheduled list shows it");
    let response = app
        .admin
        .post_form(&format!("{cancelled}/cancel"), &[])
        .await;
    assert_eq!(response.status(), 303);
    // A POST without the CSRF token is refused.
    let raw = app
        .admin
        .post_raw(&format!("{cancelled}/cancel"), &[])
        .await;
    assert_eq!(raw.status(), 403);

    // Scheduled a few seconds ahead, and the console restarted meanwhile.
    let scheduled = start_run(
        &app.admin,
        &fleet.old,
        &fleet.new,
        &[("not_before", &in_seconds(5))],
    )
    .await;
    assert_eq!(phases(&app, &scheduled).await.0, "scheduled");
    app.stop().await;
    let app = TestApp::start(&sandbox, &database).await;
    app.refresh().await;
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await,
        before,
        "nothing runs before its time"
    );
    assert!(wait_state(&app, &scheduled, &["finished"], Duration::from_secs(60)).await);
    assert_eq!(phases(&app, &cancelled).await.0, "cancelled");
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await - before,
        1,
        "the scheduled run changed the domain once; the cancelled one never ran"
    );
    let log = app.admin.audit_jsonl("").await;
    assert!(
        log.lines()
            .any(|l| l.contains("\"bulk.cancelled\"") && l.contains(id)),
        "the cancel is audited"
    );
}

/// Two consoles on one PostgreSQL database: a run scheduled a few seconds ahead runs
/// once (the run's lease), not once per console.
#[tokio::test]
async fn a_scheduled_run_runs_once_with_two_consoles_on_postgresql() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 2, &[]).await;
    let database = crate::helpers::fresh_postgres_url().await;
    let first = TestApp::start(&sandbox, &database).await;
    let second = TestApp::start(&sandbox, &database).await;
    all_active(&first, 3).await;
    second.refresh().await;
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let run = start_run(
        &first.admin,
        &fleet.old,
        &fleet.new,
        &[("not_before", &in_seconds(3))],
    )
    .await;
    assert!(wait_state(&second, &run, &["finished"], Duration::from_secs(60)).await);
    let (_, rows) = phases(&first, &run).await;
    assert_eq!(phase_of(&rows, "d1.bulk.test"), "verified");
    assert_eq!(phase_of(&rows, "d2.bulk.test"), "verified");
    assert_eq!(
        sandbox.calls("UpdateUserPoolDomain").await - before,
        2,
        "each domain changed once, by one console"
    );
    let log = first.admin.audit_jsonl("").await;
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"bulk.started\""))
            .count(),
        1
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"bulk.finished\""))
            .count(),
        1
    );
    second.stop().await;
    first.stop().await;
}

/// End to end in headless Chromium: dashboard → the certificate's page → "Replace
/// with…" → plan → confirm → the run's page until every domain is verified.
#[tokio::test]
async fn a_bulk_rotation_in_the_browser() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 3, &[]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 4).await;
    app.create_account("bea", "admin", &[]).await;
    let base = format!("http://127.0.0.1:{}", app.port);

    let browser = crate::browser::Driver::start().await;
    browser
        .go(&format!("{base}{}", crate::helpers::paths::LOGIN))
        .await;
    browser.type_into("input[name=username]", "bea").await;
    browser
        .type_into("input[name=password]", crate::helpers::TEST_PASSWORD)
        .await;
    browser.click("form.stack button[type=submit]").await;
    assert!(browser.text("h1").await.contains("Custom domains"));
    browser.click("td.certificate a").await;
    browser.wait_for_url("/certificates/").await;
    assert!(browser.text("table.usages").await.contains("d1.bulk.test"));
    browser.click("a#replace").await;
    browser.click("form.filters button[type=submit]").await;
    browser.wait_for_url("?new=").await;
    assert!(browser.text("#new-arn").await.contains(&fleet.new));
    browser.click("form.confirm button[type=submit]").await;
    browser.wait_for_url("/bulk/").await;
    let started = std::time::Instant::now();
    while browser.text("#run-state").await != "finished" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not finish"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let table = browser.text("table.bulk-items").await;
    for domain in &fleet.domains[..3] {
        assert!(table.contains(domain), "{table}");
    }
    assert_eq!(table.matches("verified").count(), 3, "{table}");
    assert!(
        table.contains("skipped"),
        "legacy.elsewhere.test is skipped"
    );
    browser.screenshot("bulk").await;
    browser.close().await;
}

/// A single change from the change form with a "not before" time: scheduled, shown on
/// `/scheduled`, run once at its time through the protocol.
#[tokio::test]
async fn a_single_change_can_be_scheduled_from_the_form() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 1, &[]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 2).await;
    let pool = app
        .state
        .inventory
        .view()
        .rows
        .iter()
        .find(|r| r.custom_domain.as_deref() == Some("d1.bulk.test"))
        .map(|r| r.pool_id.clone())
        .expect("d1's pool");
    let form = app.admin.change_form(&pool).await;
    assert!(form.contains("name=\"not_before\""));
    let token = crate::helpers::attributes(&form, "input[name=submission_token]", "value")
        .pop()
        .expect("token");
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let response = app
        .admin
        .submit_change(
            &pool,
            &[
                ("certificate_arn", fleet.new.as_str()),
                ("submission_token", token.as_str()),
                ("not_before", in_seconds(3).as_str()),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let run = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(run.starts_with("/bulk/"), "{run}");
    assert_eq!(phases(&app, &run).await.0, "scheduled");
    assert!(
        app.admin
            .get_text("/scheduled")
            .await
            .contains(run.trim_start_matches("/bulk/"))
    );
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await, before);
    assert!(wait_state(&app, &run, &["finished"], Duration::from_secs(60)).await);
    assert_eq!(
        phase_of(&phases(&app, &run).await.1, "d1.bulk.test"),
        "verified"
    );
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await - before, 1);
    // An ineligible certificate is refused at once, not scheduled.
    let form = app.admin.change_form(&pool).await;
    let token = crate::helpers::attributes(&form, "input[name=submission_token]", "value")
        .pop()
        .expect("token");
    let response = app
        .admin
        .submit_change(
            &pool,
            &[
                (
                    "certificate_arn",
                    "arn:aws:acm:us-east-1:123456789012:certificate/nope",
                ),
                ("submission_token", token.as_str()),
                ("not_before", in_seconds(60).as_str()),
            ],
        )
        .await;
    assert_ne!(response.status(), 303);
}

/// "Continue on failure": a refused domain does not stop the later waves.
#[tokio::test]
async fn continue_on_failure_runs_every_wave() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 3, &[]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 4).await;
    sandbox
        .arm_fault(json!({"operation": "UpdateUserPoolDomain", "error_code": "InvalidParameterException", "message": "injected on the first domain", "count": 1}))
        .await;
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    let run = start_run(
        &app.admin,
        &fleet.old,
        &fleet.new,
        &[("wave_size", "1"), ("continue_on_failure", "1")],
    )
    .await;
    assert!(wait_state(&app, &run, &["finished", "halted"], Duration::from_secs(60)).await);
    let (state, rows) = phases(&app, &run).await;
    assert_eq!(state, "finished", "{rows:?}");
    assert_eq!(phase_of(&rows, "d1.bulk.test"), "refused");
    assert_eq!(phase_of(&rows, "d2.bulk.test"), "verified");
    assert_eq!(phase_of(&rows, "d3.bulk.test"), "verified");
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await - before, 3);
    let log = app.admin.audit_jsonl("").await;
    let finished = log
        .lines()
        .find(|l| l.contains("\"bulk.finished\""))
        .expect("bulk.finished");
    assert!(finished.contains("\"failure\""), "{finished}");
}

/// A domain left `submitting` by a stop (no propagation was stored for it) counts as
/// failed when the run is carried on, and the run halts instead of sending it again.
#[tokio::test]
async fn a_domain_interrupted_mid_call_is_not_sent_again() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let fleet = fleet(&sandbox, 2, &[]).await;
    let app = TestApp::start(&sandbox, &sandbox.sqlite_url()).await;
    all_active(&app, 3).await;
    let view = app.state.inventory.view();
    let pool_of = |domain: &str| {
        view.rows
            .iter()
            .find(|r| r.custom_domain.as_deref() == Some(domain))
            .map(|r| r.pool_id.clone())
            .expect("pool")
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let run = certdeck::store::BulkRun {
        id: "00000000abcd".into(),
        actor: "test-admin".into(),
        old_certificate_arn: fleet.old.clone(),
        new_certificate_arn: fleet.new.clone(),
        wave_size: 1,
        continue_on_failure: 0,
        not_before: now,
        state: "running".into(),
        created_at: now,
        finished_at: None,
    };
    let item = |position: i64, domain: &str, phase: &str| certdeck::store::BulkItem {
        run_id: run.id.clone(),
        position,
        pool_id: pool_of(domain),
        domain: domain.into(),
        phase: phase.into(),
        detail: None,
        propagation_id: None,
    };
    let items = [
        item(0, "d1.bulk.test", "submitting"),
        item(1, "d2.bulk.test", "pending"),
    ];
    let before = sandbox.calls("UpdateUserPoolDomain").await;
    app.state
        .store
        .insert_bulk_run(&run, &items)
        .await
        .expect("stored");
    let page = "/bulk/00000000abcd";
    assert!(wait_state(&app, page, &["halted"], Duration::from_secs(30)).await);
    let (_, rows) = phases(&app, page).await;
    assert_eq!(phase_of(&rows, "d1.bulk.test"), "failed");
    assert_eq!(phase_of(&rows, "d2.bulk.test"), "not_run");
    assert_eq!(sandbox.calls("UpdateUserPoolDomain").await, before);
}
