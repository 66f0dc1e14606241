//! Benchmark of three replicas on one PostgreSQL (issue 13; PRODUCT.md §8, §11): 500
//! pools with custom domains at AWS's default quotas (× 1). Three consoles start on one
//! fresh database; one of them reads AWS. The benchmark reports the reader's cold
//! refresh against the one-replica quota bound, the AWS calls the three make over two
//! refresh intervals against what one replica makes, and the calls the sandbox
//! throttled. A change is made on a replica that does not read while the reader's
//! refresh runs: it must not meet a throttling error.
//!
//! `cargo bench --bench replicas` (PostgreSQL on 127.0.0.1:5432, or
//! `CERTDECK_BENCH_POSTGRES_URL`; `-- --pools N` for another size). Exits non-zero when
//! a throttling error reaches a person or the inventory, or when the three replicas make
//! more than 1.05 × one replica's calls.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use certdeck::aws::Category;
use certdeck::configuration::Settings;
use certdeck::startup::Application;
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed, Timings};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection;

mod common;
#[path = "common/populate.rs"]
mod populate;

const REFRESH: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pools: usize = std::env::args()
        .skip_while(|a| a != "--pools")
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(500);
    let sandbox = Sandbox::start(
        SandboxOptions {
            seed: Seed::Empty,
            timings: Timings {
                propagation: Duration::from_secs(5),
                validation: Duration::ZERO,
            },
            latency: Duration::from_millis(20),
            quota_scale: 1.0,
        },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await?;
    let url = sandbox.endpoint_url().to_owned();
    println!("setting up {pools} pools with custom domains at quotas × 1…");
    populate::populate(&url, pools, 1.0).await?;
    second_certificate(&url).await?;
    let database = fresh_postgres().await?;

    let settings = |n: usize| Settings {
        listen: "127.0.0.1:0".into(),
        database_url: SecretString::from(database.clone()),
        regions: vec!["us-east-1".into()],
        aws_endpoint_url: Some(url.clone()),
        inventory_refresh: REFRESH,
        secure_cookies: false,
        bootstrap_admin_password: (n == 0).then(|| SecretString::from("benchmark-password")),
        audit_key: certdeck::domain::audit::AuditKey::parse("benchmark-audit-key-0123456789abcdef")
            .ok(),
        replica_lease: Duration::from_secs(10),
        ..Settings::default()
    };
    let before = state(&url).await?;
    let started = Instant::now();
    let mut replicas = Vec::new();
    for n in 0..3 {
        let app = Application::build(settings(n)).await?;
        let state = app.state().clone();
        let port = app.port();
        tokio::spawn(app.run_until_stopped());
        replicas.push((port, state));
    }
    // The reader's first refresh.
    let mut reader = None;
    while reader.is_none() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reader = replicas
            .iter()
            .position(|(_, s)| s.inventory.is_reader() && s.inventory.view().rows.len() == pools);
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "no replica read the inventory"
        );
    }
    let cold = started.elapsed().as_secs_f64();
    let reader = reader.unwrap_or_default();
    let describe_calls = (pools + pools.div_ceil(60)) as f64;
    let bound = (describe_calls / Category::UserPoolRead.default_rate())
        .max(pools as f64 / Category::UserPoolResourceRead.default_rate());

    // A change on another replica while the reader reads again.
    let other = (reader + 1) % 3;
    let (port, other_state) = &replicas[other];
    let (browser, _) = common::sign_in(*port, "admin", "benchmark-password").await?;
    let refreshing = {
        let inventory = replicas[reader].1.inventory.clone();
        tokio::spawn(async move { inventory.refresh().await })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pool = other_state
        .inventory
        .view()
        .rows
        .iter()
        .find(|r| r.custom_domain.is_some())
        .map(|r| r.pool_id.clone())
        .ok_or_else(|| anyhow::anyhow!("a pool with a custom domain"))?;
    let change = change_certificate(&browser, *port, &pool).await?;
    refreshing.await??;

    // Two whole refreshes with the three replicas up, from one completed refresh of
    // the reader to the second after it: the calls all three make.
    let reader_state = replicas[reader].1.clone();
    let next_refresh = |after: time::OffsetDateTime| {
        let state = reader_state.clone();
        async move {
            loop {
                let taken_at = state.inventory.view().snapshot.taken_at;
                if taken_at > after {
                    return taken_at;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let synced = next_refresh(replicas[reader].1.inventory.view().snapshot.taken_at).await;
    let window_start = state(&url).await?;
    let once = next_refresh(synced).await;
    next_refresh(once).await;
    let window_end = state(&url).await?;
    let calls = |s: &Value, op: &str| s["calls"][op].as_u64().unwrap_or(0);
    let described =
        calls(&window_end, "DescribeUserPool") - calls(&window_start, "DescribeUserPool");
    let one_replica = 2 * pools as u64;
    let throttled = total(&window_end["throttled"]) - total(&before["throttled"]);
    let problems: Vec<String> = replicas
        .iter()
        .flat_map(|(_, s)| s.inventory.view().snapshot.problems.clone())
        .collect();

    println!();
    println!("| measure | value | bound or anchor |");
    println!("|---|---|---|");
    println!(
        "| cold inventory of {pools} pools by the reader (3 replicas starting) | {cold:.1} s | one-replica quota bound {bound:.1} s ({:.2} ×) |",
        cold / bound
    );
    println!(
        "| DescribeUserPool calls of 3 replicas during 2 refreshes | {described} | one replica: {one_replica} ({:.3} ×) |",
        described as f64 / one_replica as f64
    );
    println!("| calls the sandbox throttled (whole run) | {throttled} | — |");
    println!("| the change made on a non-reader during a refresh | {change} | accepted (303) |");
    println!("| problems shown to people | {} | 0 |", problems.len());
    anyhow::ensure!(
        problems.is_empty(),
        "problems reached the inventory: {problems:?}"
    );
    anyhow::ensure!(change == 303, "the change was not accepted: {change}");
    anyhow::ensure!(
        described as f64 <= 1.05 * one_replica as f64,
        "three replicas made {described} DescribeUserPool calls, one makes {one_replica}"
    );
    Ok(())
}

fn total(counts: &Value) -> u64 {
    counts
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

async fn state(url: &str) -> anyhow::Result<Value> {
    Ok(reqwest::get(format!("{url}/_sandbox/state"))
        .await?
        .json()
        .await?)
}

/// Confirms the first eligible certificate of `pool`'s form; the answer's status.
async fn change_certificate(
    browser: &reqwest::Client,
    port: u16,
    pool: &str,
) -> anyhow::Result<u16> {
    let base = format!("http://127.0.0.1:{port}");
    let form = browser
        .get(format!("{base}/pools/{pool}/certificate"))
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        form.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let arn = form
        .split("<option value=\"")
        .skip(1)
        .find(|o| !o.split('>').next().unwrap_or_default().contains("disabled"))
        .and_then(|o| o.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let response = browser
        .post(format!("{base}/pools/{pool}/certificate"))
        .form(&[
            ("certificate_arn", arn.as_str()),
            ("submission_token", value("submission_token").as_str()),
            ("csrf_token", value("csrf_token").as_str()),
            ("confirm", "yes"),
        ])
        .send()
        .await?;
    Ok(response.status().as_u16())
}

async fn fresh_postgres() -> anyhow::Result<String> {
    let server = std::env::var("CERTDECK_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("certdeck_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    Ok(format!("{server}/{name}"))
}

/// Another certificate for the domains, so that a change has somewhere to go.
async fn second_certificate(url: &str) -> anyhow::Result<()> {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("bench-setup", "x", None, None, "bench"))
        .load()
        .await;
    aws_sdk_acm::Client::new(&config)
        .request_certificate()
        .domain_name("*.bench.example")
        .send()
        .await?;
    Ok(())
}
