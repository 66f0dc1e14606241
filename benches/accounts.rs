//! Benchmark of quotas per account (issue 12, point 5; PRODUCT.md §1, §9): the same
//! number of pools read from one account, then spread over ten accounts, each assumed
//! through the sandbox's STS. AWS's quotas are per account and region, and certdeck
//! paces each account in its own lanes, so ten accounts are read about ten times as
//! fast as one. Quotas × 10, 50 ms added to every call, as `benches/inventory.rs`.
//!
//! `cargo bench --bench accounts` (add `-- --pools N` for another total). Exits non-zero
//! when ten accounts are not at least 5 × as fast as one, when either read exceeds 1.1 ×
//! its quota bound, or when a throttling error reaches the inventory.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use certdeck::aws::{AwsAccounts, Category};
use certdeck::configuration::{AccountSettings, Settings};
use certdeck::inventory::Inventory;
use certdeck::store::Store;
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed, Timings};
use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::json;

const QUOTA_SCALE: f64 = 10.0;
const LATENCY: Duration = Duration::from_millis(50);
const ACCOUNTS: usize = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pools: usize = std::env::args()
        .skip_while(|a| a != "--pools")
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1000);
    let sandbox = Sandbox::start(
        SandboxOptions {
            seed: Seed::Empty,
            timings: Timings {
                propagation: Duration::ZERO,
                validation: Duration::ZERO,
            },
            latency: Duration::ZERO,
            quota_scale: QUOTA_SCALE,
        },
        "127.0.0.1:0",
        "127.0.0.1:0",
    )
    .await?;
    let url = sandbox.endpoint_url().to_owned();
    let http = reqwest::Client::new();

    // Account 0 holds `pools` pools; accounts 1 to 10 hold `pools / 10` each.
    let account = |n: usize| AccountSettings {
        name: format!("account-{n:02}"),
        role_arn: format!("arn:aws:iam::{:012}:role/certdeck", 100_000_000_000 + n),
        external_id: None,
        regions: vec!["us-east-1".into()],
        team: None,
        approval: None,
    };
    let per_account = pools / ACCOUNTS;
    println!(
        "setting up {pools} pools in one account, and {per_account} in each of {ACCOUNTS} others…"
    );
    for n in 0..=ACCOUNTS {
        let settings = account(n);
        let response = http
            .post(format!("{url}/_sandbox/roles"))
            .json(&json!({"role_arn": settings.role_arn}))
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "registering a role");
        populate(
            &url,
            &settings.role_arn,
            if n == 0 { pools } else { per_account },
        )
        .await?;
    }
    http.post(format!("{url}/_sandbox/latency"))
        .json(&json!({"ms": LATENCY.as_millis() as u64}))
        .send()
        .await?;

    let dir =
        std::env::temp_dir().join(format!("certdeck-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let rate = Category::UserPoolRead.default_rate() * QUOTA_SCALE;
    let bound = |pools: usize| (pools.div_ceil(60) + pools) as f64 / rate;

    let one = read(&dir, "one", &url, vec![account(0)], pools).await?;
    let ten = read(
        &dir,
        "ten",
        &url,
        (1..=ACCOUNTS).map(account).collect(),
        per_account * ACCOUNTS,
    )
    .await?;
    let one_bound = bound(pools);
    let ten_bound = bound(per_account);
    println!();
    println!("| read | pools | time | quota bound | ratio |");
    println!("|---|---|---|---|---|");
    println!(
        "| one account | {pools} | {one:.2} s | {one_bound:.2} s | {:.3} × |",
        one / one_bound
    );
    println!(
        "| {ACCOUNTS} accounts | {} | {ten:.2} s | {ten_bound:.2} s (per account, in parallel) | {:.3} × |",
        per_account * ACCOUNTS,
        ten / ten_bound
    );
    println!(
        "\n{ACCOUNTS} accounts were read {:.1} × as fast as one (bound: at least 5 ×)",
        one / ten
    );
    anyhow::ensure!(
        one <= 1.1 * one_bound,
        "one account exceeded 1.1 × its bound"
    );
    anyhow::ensure!(
        one / ten >= 5.0,
        "ten accounts were not read at least 5 × as fast as one"
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// A cold inventory of `accounts`; its time in seconds.
async fn read(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    accounts: Vec<AccountSettings>,
    expected: usize,
) -> anyhow::Result<f64> {
    let settings = Settings {
        database_url: SecretString::from(format!("sqlite://{}/{name}.db", dir.display())),
        regions: vec!["us-east-1".into()],
        aws_endpoint_url: Some(url.to_owned()),
        aws_quota_scale: QUOTA_SCALE,
        accounts,
        ..Settings::default()
    };
    let store = Store::connect(&settings.database_url).await?;
    let inventory =
        Inventory::load(AwsAccounts::new(&settings).await?, store, "team".into()).await?;
    let started = Instant::now();
    inventory.refresh().await?;
    let elapsed = started.elapsed().as_secs_f64();
    let view = inventory.view();
    anyhow::ensure!(
        view.snapshot.problems.is_empty(),
        "no error reached the user: {:?}",
        view.snapshot.problems
    );
    anyhow::ensure!(
        view.rows.len() == expected,
        "{} pools read, {expected} expected",
        view.rows.len()
    );
    Ok(elapsed)
}

/// `pools` pools (without custom domains: the pool reads are what the quota bounds) in
/// the account of `role_arn`.
async fn populate(url: &str, role_arn: &str, pools: usize) -> anyhow::Result<()> {
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new("bench-setup", "x", None, None, "bench"))
        .load()
        .await;
    let role = aws_config::sts::AssumeRoleProvider::builder(role_arn)
        .session_name("bench-setup")
        .configure(&base)
        .build()
        .await;
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(role)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(10))
        .load()
        .await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let pace = std::sync::Arc::new(certdeck::aws::RateLimiter::new(QUOTA_SCALE * 0.9));
    let results = futures_util::stream::iter(0..pools)
        .map(|i| {
            let cognito = cognito.clone();
            let pace = pace.clone();
            async move {
                pace.acquire("setup", Category::UserPoolResourceUpdate)
                    .await;
                cognito
                    .create_user_pool()
                    .pool_name(format!("bench {i:04}"))
                    .send()
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(())
}
