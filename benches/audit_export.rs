//! Benchmark of the audit exports (issue 5, point 5): 100,000 entries streamed as CSV
//! and as JSON lines while the process's resident memory is sampled. The exports read
//! the log a page at a time, so memory stays flat however long the log is.
//!
//! `cargo bench --bench audit_export` (add `-- --entries N` for another size).

use std::time::Duration;

use certdeck::configuration::Settings;
use certdeck::domain::audit::{AuditEntry, AuditRecord, GENESIS_HASH};
use certdeck::startup::Application;
use certdeck::store::{Store, audit_time};
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed};

mod common;

use secrecy::SecretString;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let entries: i64 = std::env::args()
        .skip_while(|a| a != "--entries")
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!(
        "certdeck-bench-audit-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}/certdeck.db", dir.display());
    let store = Store::connect(&SecretString::from(url.clone())).await?;
    drop(store);

    // A valid chain of `entries`, written in one transaction (appending one by one
    // would measure the disk, not the export).
    println!("writing {entries} audit entries…");
    let pool = sqlx::AnyPool::connect(&format!("{url}?mode=rwc")).await?;
    let mut tx = pool.begin().await?;
    let mut previous = GENESIS_HASH.to_owned();
    for id in 1..=entries {
        let record = AuditRecord {
            actor: format!("operator{}", id % 17),
            role: Some("operator".into()),
            source_ip: Some("10.0.0.1".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) benchmark".into()),
            action: "certificate.update.succeeded".into(),
            pool_id: Some(format!("us-east-1_Pool{:05}", id % 1000)),
            domain: Some(format!("auth{}.example.com", id % 1000)),
            old_certificate_arn: Some(format!(
                "arn:aws:acm:us-east-1:123456789012:certificate/{:036}",
                id
            )),
            new_certificate_arn: Some(format!(
                "arn:aws:acm:us-east-1:123456789012:certificate/{:036}",
                id + 1
            )),
            outcome: "success".into(),
            detail: Some("CloudFront d1234567890abc.cloudfront.net, \"quoted\"".into()),
            aws_request_id: Some(uuid::Uuid::new_v4().to_string()),
            // Written by the INSERT below without the account columns.
            account: None,
            account_id: None,
            assumed_role: None,
        };
        let e = AuditEntry::seal(
            id,
            audit_time(time::OffsetDateTime::now_utc()),
            record,
            previous,
        );
        previous = e.hash.clone();
        let r = &e.record;
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
             old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(e.id).bind(&e.at).bind(&r.actor).bind(&r.role).bind(&r.source_ip).bind(&r.user_agent)
        .bind(&r.action).bind(&r.pool_id).bind(&r.domain).bind(&r.old_certificate_arn).bind(&r.new_certificate_arn)
        .bind(&r.outcome).bind(&r.detail).bind(&r.aws_request_id).bind(&e.prev_hash).bind(&e.hash)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE audit_head SET count = $1, last_hash = $2 WHERE id = 1")
        .bind(entries)
        .bind(&previous)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    pool.close().await;

    let sandbox = Sandbox::start(
        SandboxOptions {
            seed: Seed::Empty,
            quota_scale: 0.0,
            ..SandboxOptions::default()
        },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await?;
    let settings = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(url.clone()),
        regions: vec!["us-east-1".into()],
        aws_endpoint_url: Some(sandbox.endpoint_url().to_owned()),
        secure_cookies: false,
        bootstrap_admin_password: Some(SecretString::from("benchmark-password")),
        audit_key: certdeck::domain::audit::AuditKey::parse("benchmark-audit-key-0123456789abcdef")
            .ok(),
        inventory_refresh: Duration::from_secs(86_400),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let port = app.port();
    let base = format!("http://127.0.0.1:{port}");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let (client, _) = common::sign_in(port, "admin", "benchmark-password").await?;

    println!();
    println!("audit export, {entries} entries, SQLite");
    for path in ["/audit.csv", "/audit.jsonl"] {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let baseline = rss_kib();
        let common::Download {
            bytes,
            lines,
            seconds: elapsed,
            peak_kib: peak,
        } = common::download(&client, &format!("{base}{path}"), baseline, rss_kib).await?;
        println!(
            "  {path:<13} {:>7.1} MB in {elapsed:.2} s ({} lines); RSS before {:.1} MiB, peak {:.1} MiB, growth {:.1} MiB",
            bytes as f64 / 1e6,
            lines,
            baseline as f64 / 1024.0,
            peak as f64 / 1024.0,
            (peak.saturating_sub(baseline)) as f64 / 1024.0
        );
    }
    handle.stop(true).await;
    sandbox.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
