//! Issue 5: the audit log: an entry for each kind, tamper evidence, concurrent appends,
//! exports and filters. Issue 10 (items 5 and 6): the keyed chain, rows past the head,
//! the anchor, and logs written before the key.

use std::process::Command;
use std::sync::Arc;

use certdeck::domain::audit::{AuditEntry, AuditKey, AuditRecord, GENESIS_HASH};
use certdeck::store::{AuditFilter, Store};
use certdeck_sandbox::Seed;
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Row;

use crate::helpers::{
    Browser, TEST_AUDIT_KEY, TEST_PASSWORD, TableRow, TestApp, TestSandbox, attributes,
    captured_logs, confirm_recommended, fresh_postgres_url, options, paths, settings, spawn_app,
    spawn_app_on, spawn_sandbox, table_rows, tempdir, test_audit_key, text_of, texts,
};

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
        browser.get(&paths::change(&payments_pool)).await.status(),
        403
    );
    assert_eq!(
        browser
            .post_raw(&paths::refresh(&payments_pool), &[("csrf_token", "forged")])
            .await
            .status(),
        403
    );
    assert_eq!(browser.sign_out().await.status(), 303);
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
    // Refusals of anonymous clients are written per address and minute.
    app.state.refusals.flush(true).await.expect("flush");

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
        ("csrf.rejected", "denied", "dora", None),
        ("auth.sign_out", "success", "dora", Some("operator")),
        ("auth.sign_in", "throttled", "anonymous", None),
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
        .get(format!("{base}{}", paths::LOGIN))
        .send()
        .await
        .expect("login")
        .text()
        .await
        .expect("body");
    let token = crate::helpers::csrf_of(&login).expect("token");
    agent
        .post(format!("{base}{}", paths::LOGIN))
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
    let page = app.audit_page("?actor=dora").await;
    assert!(page.contains("Hash chain intact"));
    assert!(
        page.contains("auth.sign_in") && page.contains("access.denied") && !page.contains(">eve<")
    );
    assert!(
        page.contains(&paths::pool(&payments_pool)),
        "links to the pool page"
    );
}

fn verify_cli(database: &str) -> (bool, String) {
    certdeck_cli(database, Some(TEST_AUDIT_KEY), &["audit", "verify"])
}

/// Runs the built `certdeck` with `args` on `database`, with `key` as the audit key
/// (and no other setting); whether it succeeded, and what it printed.
fn certdeck_cli(database: &str, key: Option<&str>, args: &[&str]) -> (bool, String) {
    let work = tempdir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_certdeck"));
    command
        .args(args)
        .env("CERTDECK_DATABASE_URL", database)
        .env_remove("CERTDECK_AUDIT_KEY")
        .env_remove("CERTDECK_AUDIT_KEY_FILE")
        .current_dir(work.path());
    if let Some(key) = key {
        command.env("CERTDECK_AUDIT_KEY", key);
    }
    let output = command.output().expect("certdeck runs");
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
        .expect("store")
        .with_audit_key(test_audit_key());
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
        let dir = tempdir();
        let url = format!("sqlite://{}/certdeck.db", dir.path().display());
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
    let dir = tempdir();
    for url in [
        format!("sqlite://{}/certdeck.db", dir.path().display()),
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
    let csv_text = app.audit_csv("").await;
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("header row").clone();
    assert_eq!(&headers[0], "id");
    assert_eq!(headers.len(), 19);
    assert_eq!(&headers[16], "account");
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
        .audit_jsonl("")
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
    let filtered_csv = app.audit_csv("?actor=ann&action=test.export").await;
    assert_eq!(
        csv::Reader::from_reader(filtered_csv.as_bytes())
            .records()
            .count(),
        2
    );
    let filtered_jsonl = app.audit_jsonl("?actor=bob").await;
    assert_eq!(filtered_jsonl.lines().count(), 1);
    let by_pool = app
        .audit_jsonl("?pool_id=us-east-1_Export123&outcome=success")
        .await;
    assert_eq!(by_pool.lines().count(), 3);
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        app.audit_jsonl(&format!("?from={today}&to={today}&action=test.export"))
            .await
            .lines()
            .count(),
        3
    );
    assert_eq!(app.audit_jsonl("?to=2000-01-01").await.lines().count(), 0);
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
    let first = app.audit_page("?action=test.page").await;
    assert_eq!(table_rows(&first, "tr[data-entry-id]").len(), 50);
    assert!(
        first.contains("pager119") && !first.contains("pager069"),
        "newest first"
    );
    let older = attributes(&first, "a[rel=next]", "href")
        .into_iter()
        .next()
        .expect("older link");
    let second = app.get_text(&older).await;
    assert_eq!(table_rows(&second, "tr[data-entry-id]").len(), 50);
    assert!(
        second.contains("pager069") && !second.contains("pager070<"),
        "{older}: {}",
        texts(&second, "tbody").concat()
    );
}

/// A console on its own SQLite file; the file's URL, for the attacker and the CLI; and
/// its sandbox, whose directory holds the file: keep it until the CLI is done with it.
async fn console_on_file(seed: Seed) -> (TestApp, String, Arc<TestSandbox>) {
    let sandbox = Arc::new(spawn_sandbox(options(seed)).await);
    let database = sandbox.sqlite_url();
    let app = spawn_app_on(&sandbox, &database).await;
    (app, database, sandbox)
}

/// How an attacker without the audit key re-seals what they changed.
#[derive(Clone, Copy, Debug)]
enum Forger {
    /// The key-less form, SHA-256.
    PlainSha256,
    /// HMAC-SHA-256 under a key of their own.
    WrongKey,
}

/// What an attacker with write access to the database does: reads the whole log,
/// edits it, renumbers and re-chains every entry from the first one that changed, and
/// moves the head, in one transaction that holds the write lock.
async fn forge(database: &str, forger: Forger, edit: impl FnOnce(&mut Vec<AuditEntry>)) {
    let pool = sqlx::AnyPool::connect(database)
        .await
        .expect("raw connection");
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("UPDATE audit_head SET count = count WHERE id = 1")
        .execute(&mut *tx)
        .await
        .expect("lock");
    let original: Vec<AuditEntry> = sqlx::query("SELECT * FROM audit_log ORDER BY id")
        .fetch_all(&mut *tx)
        .await
        .expect("read the log")
        .iter()
        .map(|row| AuditEntry {
            id: row.get("id"),
            at: row.get("at"),
            record: AuditRecord {
                actor: row.get("actor"),
                role: row.get("role"),
                source_ip: row.get("source_ip"),
                user_agent: row.get("user_agent"),
                action: row.get("action"),
                pool_id: row.get("pool_id"),
                domain: row.get("domain"),
                old_certificate_arn: row.get("old_certificate_arn"),
                new_certificate_arn: row.get("new_certificate_arn"),
                outcome: row.get("outcome"),
                detail: row.get("detail"),
                aws_request_id: row.get("aws_request_id"),
                account: row.get("account"),
                account_id: row.get("account_id"),
                assumed_role: row.get("assumed_role"),
            },
            prev_hash: row.get("prev_hash"),
            hash: row.get("hash"),
        })
        .collect();
    let mut entries = original.clone();
    edit(&mut entries);
    let first = entries
        .iter()
        .zip(&original)
        .position(|(a, b)| a != b)
        .unwrap_or(entries.len().min(original.len()));
    let attacker_key = AuditKey::parse("the-attacker-does-not-know-the-real-key").expect("key");
    let mut previous = if first == 0 {
        GENESIS_HASH.to_owned()
    } else {
        entries[first - 1].hash.clone()
    };
    for (index, entry) in entries.iter_mut().enumerate().skip(first) {
        entry.id = index as i64 + 1;
        entry.prev_hash = previous.clone();
        entry.hash = match forger {
            Forger::PlainSha256 => {
                AuditEntry::compute_hash(&previous, entry.id, &entry.at, &entry.record)
            }
            Forger::WrongKey => AuditEntry::compute_keyed_hash(
                &attacker_key,
                &previous,
                entry.id,
                &entry.at,
                &entry.record,
            ),
        };
        previous = entry.hash.clone();
    }
    sqlx::query("DELETE FROM audit_log WHERE id > $1")
        .bind(first as i64)
        .execute(&mut *tx)
        .await
        .expect("delete");
    for e in &entries[first..] {
        insert_row(&mut tx, e).await;
    }
    sqlx::query("UPDATE audit_head SET count = $1, last_hash = $2 WHERE id = 1")
        .bind(entries.len() as i64)
        .bind(&previous)
        .execute(&mut *tx)
        .await
        .expect("move the head");
    tx.commit().await.expect("commit");
    pool.close().await;
}

async fn insert_row(conn: &mut sqlx::AnyConnection, e: &AuditEntry) {
    let r = &e.record;
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
         old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(e.id)
    .bind(&e.at)
    .bind(&r.actor)
    .bind(&r.role)
    .bind(&r.source_ip)
    .bind(&r.user_agent)
    .bind(&r.action)
    .bind(&r.pool_id)
    .bind(&r.domain)
    .bind(&r.old_certificate_arn)
    .bind(&r.new_certificate_arn)
    .bind(&r.outcome)
    .bind(&r.detail)
    .bind(&r.aws_request_id)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut *conn)
    .await
    .expect("insert a row");
}

/// The row of entry `id` on an audit page.
fn row_of(page: &str, id: i64) -> TableRow {
    table_rows(page, &format!("tr[data-entry-id=\"{id}\"]"))
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("entry {id} is on the page"))
}

#[tokio::test]
async fn a_row_past_the_head_fails_verification_and_is_not_shown_as_verified() {
    let (app, database, _sandbox) = console_on_file(Seed::Empty).await;
    app.create_account("dora", "viewer", &[]).await;
    let page = app.audit_page("").await;
    assert!(page.contains("Hash chain intact"), "before the forgery");
    let (count, last_hash) = app.state.store.audit_head().await.expect("head");
    assert!(count >= 2);

    // A row with a high id and a bogus hash, written straight into the file.
    let forged_id = count + 1000;
    let pool = sqlx::AnyPool::connect(&database).await.expect("raw");
    let mut conn = pool.acquire().await.expect("connection");
    let forged = AuditEntry {
        id: forged_id,
        at: certdeck::store::audit_time(time::OffsetDateTime::now_utc()),
        record: AuditRecord {
            actor: "mallory".into(),
            role: Some("admin".into()),
            action: "certificate.update.succeeded".into(),
            outcome: "success".into(),
            ..Default::default()
        },
        prev_hash: "ab".repeat(32),
        hash: "cd".repeat(32),
    };
    insert_row(&mut conn, &forged).await;
    drop(conn);

    let (ok, said) = verify_cli(&database);
    assert!(!ok, "a row past the head fails: {said}");
    assert!(
        said.contains(&format!("entry {forged_id}")) && said.contains("past the head"),
        "names the row: {said}"
    );
    let page = app.audit_page("").await;
    assert!(!page.contains("Hash chain intact"), "not intact any more");
    assert!(page.contains("Hash chain broken"));
    let row = row_of(&page, forged_id);
    assert!(
        row.has("tr.unverified") && row.contains("not verified"),
        "the forged row is shown as not verified: {row}"
    );
    let genuine = row_of(&page, count);
    assert!(!genuine.contains("not verified"), "{genuine}");

    // The same with a row that follows the head without a gap and links to it,
    // sealed the key-less way (the attacker has no key).
    sqlx::query("DELETE FROM audit_log WHERE id = $1")
        .bind(forged_id)
        .execute(&pool)
        .await
        .expect("remove the first forgery");
    let (count_now, last_now) = app.state.store.audit_head().await.expect("head");
    assert_eq!(
        (count_now, &last_now),
        (count, &last_hash),
        "nothing appended meanwhile"
    );
    let mut conn = pool.acquire().await.expect("connection");
    let next = AuditEntry::seal(
        count + 1,
        forged.at.clone(),
        forged.record.clone(),
        last_hash,
    );
    insert_row(&mut conn, &next).await;
    drop(conn);
    pool.close().await;
    let (ok, said) = verify_cli(&database);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&format!("entry {}", count + 1)) && said.contains("past the head"),
        "{said}"
    );
    app.stop().await;
}

#[tokio::test]
async fn rewriting_an_entry_and_rechaining_the_rest_is_detected() {
    let (app, database, _sandbox) = console_on_file(Seed::Empty).await;
    for name in ["ann", "bob", "cyd", "dan"] {
        app.create_account(name, "viewer", &[]).await;
    }
    let page = app.audit_page("").await;
    assert!(page.contains("Hash chain intact"));
    // Changed in place while the console runs: the next page view says so at once,
    // although the chain was verified a moment ago.
    let pool = sqlx::AnyPool::connect(&database).await.expect("raw");
    let actor: String = sqlx::query("SELECT actor FROM audit_log WHERE id = 3")
        .fetch_one(&pool)
        .await
        .expect("entry 3")
        .get("actor");
    sqlx::query("UPDATE audit_log SET actor = 'mallory' WHERE id = 3")
        .execute(&pool)
        .await
        .expect("tamper");
    let page = app.audit_page("").await;
    assert!(
        page.contains("Hash chain broken: entry 3:"),
        "{}",
        text_of(&page)
    );
    assert!(row_of(&page, 3).contains("not verified"));
    assert!(!row_of(&page, 2).contains("not verified"));
    sqlx::query("UPDATE audit_log SET actor = $1 WHERE id = 3")
        .bind(actor)
        .execute(&pool)
        .await
        .expect("undo");
    pool.close().await;
    app.stop().await;
    let (ok, said) = verify_cli(&database);
    assert!(ok, "intact before: {said}");

    // Entry 3 rewritten, everything after it re-chained, the head moved: each way an
    // attacker without the key can re-seal.
    for forger in [Forger::PlainSha256, Forger::WrongKey] {
        let copy = copy_of(&database);
        forge(&copy, forger, |entries| {
            entries[2].record.actor = "mallory".into();
        })
        .await;
        let (ok, said) = verify_cli(&copy);
        assert!(!ok, "{forger:?}: detected: {said}");
        assert!(
            said.contains("entry 3:"),
            "{forger:?}: names entry 3: {said}"
        );
    }

    // Passing the keyed entries off as written before the key: moving the switch
    // point past them, or removing it.
    for (what, sql) in [
        (
            "moved",
            "UPDATE audit_head SET keyed_from = 1000 WHERE id = 1",
        ),
        (
            "removed",
            "UPDATE audit_head SET keyed_from = NULL, key_check = NULL, keyed_from_mac = NULL WHERE id = 1",
        ),
    ] {
        let copy = copy_of(&database);
        forge(&copy, Forger::PlainSha256, |entries| {
            entries[2].record.actor = "mallory".into();
        })
        .await;
        let pool = sqlx::AnyPool::connect(&copy).await.expect("raw");
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .expect("switch point");
        pool.close().await;
        let (ok, said) = verify_cli(&copy);
        assert!(!ok, "switch point {what}: detected: {said}");
        assert!(said.contains("switch point"), "{what}: {said}");
    }
}

/// A copy of a SQLite database file, for one forgery: next to the original, so that it
/// goes with the original's directory.
fn copy_of(database: &str) -> String {
    let path = database.strip_prefix("sqlite://").expect("a SQLite URL");
    let copy = std::path::Path::new(path)
        .with_file_name(format!("forgery-{}.db", uuid::Uuid::new_v4().simple()));
    std::fs::copy(path, &copy).expect("copy the database");
    format!("sqlite://{}", copy.display())
}

#[tokio::test]
async fn deleting_both_entries_of_a_certificate_change_is_detected() {
    let (app, database, _sandbox) = console_on_file(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let response = confirm_recommended(&app.admin, &pool).await;
    assert_eq!(response.status(), 303, "the change is made");
    let requested = app.audit_of("certificate.update.requested", 1).await;
    let succeeded = app.audit_of("certificate.update.succeeded", 1).await;
    assert_eq!((requested.len(), succeeded.len()), (1, 1));
    let (requested, succeeded) = (requested[0].id, succeeded[0].id);
    // Something after the change, so that there is a rest to re-chain.
    app.create_account("after", "viewer", &[]).await;
    app.stop().await;

    for forger in [Forger::PlainSha256, Forger::WrongKey] {
        let copy = copy_of(&database);
        forge(&copy, forger, |entries| {
            entries.retain(|e| e.id != requested && e.id != succeeded);
        })
        .await;
        let pool = sqlx::AnyPool::connect(&copy).await.expect("raw");
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM audit_log WHERE action LIKE 'certificate.update.%'",
        )
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
        pool.close().await;
        assert_eq!(left, 0, "the change is gone from the log");
        let (ok, said) = verify_cli(&copy);
        assert!(!ok, "{forger:?}: detected: {said}");
        assert!(
            said.contains(&format!("entry {requested}:")),
            "{forger:?}: names the first re-chained entry, {requested}: {said}"
        );
    }
}

#[tokio::test]
async fn cutting_the_tail_is_detected_with_the_anchor() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let database = sandbox.sqlite_url();
    let anchor_file = sandbox.dir.path().join("audit-anchors.jsonl");
    let mut anchored_settings = settings(&sandbox, &database);
    anchored_settings.audit_anchor_file = Some(anchor_file.clone());
    let app = TestApp::start_with(&sandbox, anchored_settings).await;
    for i in 0..8 {
        app.create_account(&format!("user{i}"), "viewer", &[]).await;
    }
    let anchor = app
        .state
        .write_audit_anchor_once()
        .await
        .expect("anchor round")
        .expect("the head moved: it is written");
    let (count, hash) = app.state.store.audit_head().await.expect("head");
    assert_eq!((anchor.count, &anchor.hash), (count, &hash));
    assert_eq!(
        app.state.write_audit_anchor_once().await.expect("round"),
        None,
        "nothing added: nothing written"
    );
    let lines = std::fs::read_to_string(&anchor_file).expect("the anchor file");
    let last: Value = serde_json::from_str(lines.lines().last().expect("a line")).expect("JSON");
    assert_eq!(last["count"], count);
    assert_eq!(last["hash"], hash.as_str());
    assert!(
        captured_logs().contains(&format!("count={count} hash={hash}")),
        "the head is in the log too"
    );
    app.stop().await;

    forge(&database, Forger::PlainSha256, |entries| {
        entries.truncate(entries.len() - 5);
    })
    .await;
    let (ok, said) = verify_cli(&database);
    assert!(
        ok,
        "without the anchor the shorter log looks whole (why the anchor exists): {said}"
    );
    let anchor_arg = anchor_file.display().to_string();
    let (ok, said) = certdeck_cli(
        &database,
        Some(TEST_AUDIT_KEY),
        &["audit", "verify", "--anchor", &anchor_arg],
    );
    assert!(!ok, "the anchor catches the cut: {said}");
    assert!(
        said.contains(&format!("entry {}:", count - 4)) && said.contains("cut"),
        "names the first missing entry, {}: {said}",
        count - 4
    );
}

#[tokio::test]
async fn a_log_written_before_the_key_keeps_verifying_and_new_entries_are_keyed() {
    // Written the way certdeck did before the key: the key-less form.
    let dir = tempdir();
    let database = format!("sqlite://{}/certdeck.db", dir.path().display());
    let old = Store::connect(&SecretString::from(database.clone()))
        .await
        .expect("store");
    for i in 0..4 {
        old.append_audit(AuditRecord {
            actor: format!("before{i}"),
            action: "auth.sign_in".into(),
            outcome: "success".into(),
            ..Default::default()
        })
        .await
        .expect("append");
    }
    drop(old);

    let sandbox = Arc::new(spawn_sandbox(options(Seed::Empty)).await);
    let app = TestApp::start(&sandbox, &database).await;
    app.create_account("after", "viewer", &[]).await;
    let page = app.audit_page("").await;
    assert!(page.contains("Hash chain intact"), "the old entries verify");
    assert!(page.contains("from entry 5"), "the switch point is shown");
    app.stop().await;

    let entries = {
        let store = Store::connect(&SecretString::from(database.clone()))
            .await
            .expect("store");
        let mut all = store
            .audit_page(&AuditFilter::default(), None, 100)
            .await
            .expect("page");
        all.reverse();
        all
    };
    assert!(entries.len() > 5);
    let key = test_audit_key();
    for e in &entries {
        let plain = AuditEntry::compute_hash(&e.prev_hash, e.id, &e.at, &e.record);
        let keyed = AuditEntry::compute_keyed_hash(&key, &e.prev_hash, e.id, &e.at, &e.record);
        if e.id <= 4 {
            assert_eq!(e.hash, plain, "entry {} keeps the key-less form", e.id);
        } else {
            assert_eq!(e.hash, keyed, "entry {} is keyed", e.id);
            assert_ne!(e.hash, plain);
        }
    }
    let (ok, said) = verify_cli(&database);
    assert!(ok, "{said}");
    assert!(
        said.contains("entries 1 to 4 have the key-less form"),
        "{said}"
    );

    // The key is needed: to verify, to write entries, to serve; a wrong one is named.
    let (ok, said) = certdeck_cli(
        &database,
        Some("another-key-that-is-long-enough-0123456789"),
        &["audit", "verify"],
    );
    assert!(!ok && said.contains("does not match"), "{said}");
    let (ok, said) = certdeck_cli(&database, None, &["audit", "verify"]);
    assert!(!ok && said.contains("CERTDECK_AUDIT_KEY"), "{said}");
    let (ok, said) = certdeck_cli(&database, None, &["user", "add", "eve", "--role", "admin"]);
    assert!(!ok && said.contains("CERTDECK_AUDIT_KEY"), "{said}");
    let store = Store::connect(&SecretString::from(database.clone()))
        .await
        .expect("store");
    assert!(
        store.find_user("eve").await.expect("users").is_none(),
        "no unaudited account"
    );
    drop(store);
    let (ok, said) = certdeck_cli(&database, None, &["serve"]);
    assert!(
        !ok && said.contains("CERTDECK_AUDIT_KEY") && said.contains("CERTDECK_AUDIT_KEY_FILE"),
        "serve refuses to start without a key: {said}"
    );
}
