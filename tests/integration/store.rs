//! Issue 3: the store works the same on SQLite and PostgreSQL.

use certdeck::auth::Role;
use certdeck::domain::audit::{AuditEntry, AuditRecord, GENESIS_HASH};
use certdeck::store::{AuditFilter, Backend, Store};
use secrecy::SecretString;

use crate::helpers::{fresh_postgres_url, tempdir};

/// Both databases, and the directory of the SQLite one (removed when dropped).
async fn stores() -> (tempfile::TempDir, Vec<(Backend, String)>) {
    let dir = tempdir();
    let sqlite = format!("sqlite://{}/certdeck.db", dir.path().display());
    (
        dir,
        vec![
            (Backend::Sqlite, sqlite),
            (Backend::Postgres, fresh_postgres_url().await),
        ],
    )
}

#[tokio::test]
async fn snapshots_round_trip_on_both_databases() {
    let (_dir, stores) = stores().await;
    for (backend, url) in stores {
        let url = SecretString::from(url);
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        assert_eq!(store.backend(), backend);
        assert!(store.ping().await);
        assert_eq!(
            store.load_snapshot().await.expect("load"),
            None,
            "{backend:?} starts empty"
        );
        store
            .save_snapshot(1, "{\"first\": 1}")
            .await
            .expect("save");
        store
            .save_snapshot(2, "{\"second\": \"it's \\\"quoted\\\"\"}")
            .await
            .expect("overwrite");
        drop(store);
        // Connecting again migrates nothing twice and finds the last snapshot.
        let again = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{backend:?} again: {e:#}"));
        assert_eq!(
            again.load_snapshot().await.expect("load").as_deref(),
            Some("{\"second\": \"it's \\\"quoted\\\"\"}"),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_database_url_is_refused_clearly() {
    let error = Store::connect(&SecretString::from("mysql://nope"))
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("sqlite:// or postgres://"),
        "{error}"
    );
}

/// The schema files as certdeck's former runner applied them.
const FORMER_MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../src/store/migrations/0001_inventory.sql"),
    ),
    (2, include_str!("../../src/store/migrations/0002_auth.sql")),
    (3, include_str!("../../src/store/migrations/0003_audit.sql")),
    (
        4,
        include_str!("../../src/store/migrations/0004_changes.sql"),
    ),
    (
        5,
        include_str!("../../src/store/migrations/0005_propagation_events.sql"),
    ),
    (
        6,
        include_str!("../../src/store/migrations/0006_sign_in_throttle.sql"),
    ),
    (
        7,
        include_str!("../../src/store/migrations/0007_audit_key.sql"),
    ),
    (
        8,
        include_str!("../../src/store/migrations/0008_session_id.sql"),
    ),
];

/// The `sqlx::Any` URL the store uses for `url`.
fn any_url(url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) => format!("sqlite://{path}?mode=rwc"),
        None => url.to_owned(),
    }
}

/// Builds a database the way certdeck did before `sqlx::migrate!`: versions
/// 1..=`up_to` recorded in `certdeck_migrations`, each file split on `;` and run
/// statement by statement in one transaction. Then an account and an audit entry are
/// written with the statements of that time.
async fn database_of_the_former_runner(url: &str, up_to: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&any_url(url))
        .await
        .expect("connect");
    sqlx::query("CREATE TABLE IF NOT EXISTS certdeck_migrations (version BIGINT PRIMARY KEY)")
        .execute(&pool)
        .await
        .expect("the former migrations table");
    for (version, sql) in FORMER_MIGRATIONS.iter().filter(|(v, _)| *v <= up_to) {
        let mut tx = pool.begin().await.expect("begin");
        for statement in sql
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.lines().all(|l| l.trim_start().starts_with("--")))
        {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut *tx)
                .await
                .unwrap_or_else(|e| panic!("migration {version}: {e}"));
        }
        sqlx::query("INSERT INTO certdeck_migrations (version) VALUES ($1)")
            .bind(*version)
            .execute(&mut *tx)
            .await
            .expect("record");
        tx.commit().await.expect("commit");
    }
    sqlx::query(
        "INSERT INTO users (username, role, teams, password_hash, created_at, updated_at) \
         VALUES ('ada', 'operator', 'payments', 'the-hash', 1, 1)",
    )
    .execute(&pool)
    .await
    .expect("an account");
    let entry = AuditEntry::seal(
        1,
        "2026-11-01T10:00:00.000Z".to_owned(),
        AuditRecord {
            actor: "ada".into(),
            role: Some("operator".into()),
            action: "auth.sign_in".parse().expect("an action"),
            outcome: "success".into(),
            ..AuditRecord::default()
        },
        GENESIS_HASH.to_owned(),
    );
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, role, action, outcome, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.id)
    .bind(&entry.at)
    .bind(&entry.record.actor)
    .bind(&entry.record.role)
    .bind(entry.record.action.to_string())
    .bind(&entry.record.outcome)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&pool)
    .await
    .expect("an audit entry");
    sqlx::query("UPDATE audit_head SET count = 1, last_hash = $1 WHERE id = 1")
        .bind(&entry.hash)
        .execute(&pool)
        .await
        .expect("the audit head");
    pool.close().await;
}

/// What `_sqlx_migrations` says: (version, checksum) in order, each marked successful
/// (the Any driver cannot read SQLite's booleans: failed rows are counted apart).
async fn sqlx_migrations(url: &str) -> Vec<(i64, Vec<u8>)> {
    let pool = sqlx::AnyPool::connect(&any_url(url))
        .await
        .expect("connect");
    let rows = sqlx::query_as::<_, (i64, Vec<u8>)>(
        "SELECT version, checksum FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&pool)
    .await
    .expect("_sqlx_migrations is there");
    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(failed, 0, "every migration is marked successful");
    pool.close().await;
    rows
}

/// SHA-384 of each schema file: what sqlx records as its checksum.
/// Migrations added since `sqlx::migrate!` took over.
const LATER_MIGRATIONS: &[(i64, &str)] = &[
    (
        9,
        include_str!("../../src/store/migrations/0009_accounts.sql"),
    ),
    (
        10,
        include_str!("../../src/store/migrations/0010_replicas.sql"),
    ),
    (
        11,
        include_str!("../../src/store/migrations/0011_api_tokens.sql"),
    ),
    (12, include_str!("../../src/store/migrations/0012_oidc.sql")),
    (13, include_str!("../../src/store/migrations/0013_jobs.sql")),
    (
        14,
        include_str!("../../src/store/migrations/0014_approvals.sql"),
    ),
    (
        15,
        include_str!("../../src/store/migrations/0015_served_certificates.sql"),
    ),
    (
        16,
        include_str!("../../src/store/migrations/0016_notifications.sql"),
    ),
    (
        17,
        include_str!("../../src/store/migrations/0017_audit_indexes.sql"),
    ),
];

/// What `_sqlx_migrations` must record: every migration, each applied once.
fn checksums() -> Vec<(i64, Vec<u8>)> {
    use sha2::Digest;
    FORMER_MIGRATIONS
        .iter()
        .chain(LATER_MIGRATIONS)
        .map(|(version, sql)| (*version, sha2::Sha384::digest(sql).to_vec()))
        .collect()
}

#[tokio::test]
async fn a_fresh_database_is_migrated_by_sqlx_on_both_databases() {
    let (_dir, databases) = stores().await;
    for (backend, url) in databases {
        let store = Store::connect(&SecretString::from(url.clone()))
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        assert_eq!(sqlx_migrations(&url).await, checksums(), "{backend:?}");
        assert_eq!(store.count_users().await.expect("count"), 0);
        assert_eq!(store.verify_audit().await.expect("verify"), Ok(0));
        drop(store);
        // Opening it again applies nothing twice.
        let again = Store::connect(&SecretString::from(url.clone()))
            .await
            .unwrap_or_else(|e| panic!("{backend:?} again: {e:#}"));
        assert!(again.ping().await);
        assert_eq!(sqlx_migrations(&url).await, checksums(), "{backend:?}");
    }
}

/// Issue 11, item 7: a database the former runner migrated (all eight versions, or
/// only the first five) is taken over by `sqlx::migrate!` without running a version
/// twice, and keeps its account and audit chain.
#[tokio::test]
async fn a_database_of_the_former_runner_is_bridged_and_keeps_its_data() {
    for up_to in [8, 5] {
        let (_dir, databases) = stores().await;
        for (backend, url) in databases {
            database_of_the_former_runner(&url, up_to).await;
            let store = Store::connect(&SecretString::from(url.clone()))
                .await
                .unwrap_or_else(|e| panic!("{backend:?} from {up_to}: {e:#}"));
            assert_eq!(
                sqlx_migrations(&url).await,
                checksums(),
                "{backend:?} from {up_to}"
            );
            let ada = store
                .find_user("ada")
                .await
                .expect("read")
                .expect("the account made before is there");
            assert_eq!(ada.role, Role::Operator);
            assert_eq!(ada.teams.as_slice(), ["payments"]);
            let entries = store
                .audit_page(&AuditFilter::default(), None, 10)
                .await
                .expect("the audit log");
            assert_eq!(entries.len(), 1, "{backend:?} from {up_to}");
            assert_eq!(entries[0].record.actor, "ada");
            // The later schema is there (migrations 6 to 8 when the former runner stopped at 5).
            store
                .append_audit(AuditRecord {
                    actor: "ada".into(),
                    action: "auth.sign_out".parse().expect("an action"),
                    outcome: "success".into(),
                    ..AuditRecord::default()
                })
                .await
                .expect("append after the bridge");
            assert_eq!(store.verify_audit().await.expect("verify"), Ok(2));
            assert_eq!(
                store.session_by_id("none").await.expect("sessions by id"),
                None
            );
            assert_eq!(store.unlock_account("ada").await.expect("throttle"), 0);
            drop(store);
            let again = Store::connect(&SecretString::from(url.clone()))
                .await
                .unwrap_or_else(|e| panic!("{backend:?} again: {e:#}"));
            assert_eq!(again.verify_audit().await.expect("verify"), Ok(2));
            assert_eq!(
                sqlx_migrations(&url).await,
                checksums(),
                "{backend:?} again"
            );
        }
    }
}

#[tokio::test]
async fn the_edge_findings_version_changes_with_each_new_finding_on_both_databases() {
    let (_dir, stores) = stores().await;
    for (backend, url) in stores {
        let store = Store::connect(&SecretString::from(url))
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        let finding = |domain, serial, probed_at| finding(domain, serial, Some(true), probed_at);
        let empty = store.served_certificates_version().await.expect("version");
        assert_eq!(empty, (0, 0, 0), "{backend:?}: no findings");
        let mut seen = vec![empty];
        for (domain, serial, at) in [
            ("auth.example.com", "01", 1_800_000_000),
            ("login.example.com", "02", 1_800_000_000),
            // The same domain probed again, later.
            ("auth.example.com", "01", 1_800_000_030),
            ("login.example.com", "03", 1_800_000_031),
        ] {
            store
                .record_served_certificate(&finding(domain, serial, at))
                .await
                .expect("record");
            let version = store.served_certificates_version().await.expect("version");
            assert!(
                !seen.contains(&version),
                "{backend:?}: {version:?} after {domain} at {at}, seen before in {seen:?}"
            );
            seen.push(version);
        }
        assert_eq!(
            seen.last(),
            Some(&(2, 1_800_000_031, 3_600_000_061)),
            "{backend:?}: two rows, the latest probe, the sum of their probes"
        );
        // What the version stands for is what is read.
        let all = store.served_certificates().await.expect("findings");
        assert_eq!(
            all.iter()
                .map(|r| (r.domain.as_str(), r.serial.as_str(), r.probed_at))
                .collect::<Vec<_>>(),
            vec![
                ("auth.example.com", "01", 1_800_000_030),
                ("login.example.com", "03", 1_800_000_031)
            ],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn a_sweeps_findings_are_recorded_in_one_batch_with_their_flags_on_both_databases() {
    let (_dir, stores) = stores().await;
    for (backend, url) in stores {
        let store = Store::connect(&SecretString::from(url))
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e:#}"));
        let finding = |domain, serial, matches| finding(domain, serial, matches, 1_800_000_000);
        // A flag a probe of a change left, before the sweep.
        store
            .set_served_differs("login.example.com", true)
            .await
            .expect("flag");
        store
            .record_served_certificates(&[
                finding("auth.example.com", "01", Some(false)),
                // Serves the configured certificate now: its flag goes.
                finding("login.example.com", "02", Some(true)),
                // The configured serial was unknown: its flag is left as it was.
                finding("portal.example.com", "03", None),
            ])
            .await
            .expect("record");
        store
            .set_served_differs("portal.example.com", true)
            .await
            .expect("flag");
        store
            .record_served_certificates(&[finding("portal.example.com", "04", None)])
            .await
            .expect("record");
        assert_eq!(
            store.served_differs().await.expect("flags"),
            vec!["auth.example.com", "portal.example.com"],
            "{backend:?}"
        );
        let all = store.served_certificates().await.expect("findings");
        assert_eq!(
            all.iter()
                .map(|r| (r.domain.as_str(), r.serial.as_str(), r.matches))
                .collect::<Vec<_>>(),
            vec![
                ("auth.example.com", "01", Some(false)),
                ("login.example.com", "02", Some(true)),
                ("portal.example.com", "04", None),
            ],
            "{backend:?}"
        );
        // Nothing to record: nothing written.
        store
            .record_served_certificates(&[])
            .await
            .expect("an empty batch");
        assert_eq!(
            store.served_certificates_version().await.expect("version"),
            (3, 1_800_000_000, 5_400_000_000),
            "{backend:?}"
        );
    }
}

/// What a probe of `domain`'s edge found.
fn finding(
    domain: &str,
    serial: &str,
    matches: Option<bool>,
    probed_at: i64,
) -> certdeck::store::ServedRecord {
    certdeck::store::ServedRecord {
        domain: domain.to_owned(),
        serial: serial.to_owned(),
        subject: format!("CN={domain}"),
        not_after: Some(1_900_000_000),
        matches,
        probed_at,
    }
}
