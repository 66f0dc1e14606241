//! Hostile load against a real `certdeck serve` process (issue 10): its resident memory
//! and a signed-in dashboard's latency while 500 wrong sign-ins arrive at once from ten
//! loopback addresses, then how much 10,000 refused anonymous requests grow the
//! database. The console runs as its own process, so its memory is measured alone.
//!
//! `cargo bench --bench abuse` (add `-- --attackers N --refused N` for other sizes).
//! Bounds (PRODUCT.md §8): RSS under 96 MiB and dashboard p99 under 200 ms during the
//! sign-in flood; under 1 MB of database growth for 10,000 refused requests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;

const ADMIN_PASSWORD: &str = "bench-admin-password-1234";

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The database and its write-ahead log, in bytes.
fn database_bytes(dir: &std::path::Path) -> u64 {
    ["certdeck.db", "certdeck.db-wal", "certdeck.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `certdeck sandbox` with the demo data and no quotas; its endpoint URL.
fn start_sandbox(dir: &std::path::Path) -> anyhow::Result<(Killed, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--edge-listen",
            "127.0.0.1:0",
            "--seed",
            "demo",
            "--quota-scale",
            "0",
            "--ca-out",
        ])
        .arg(dir.join("ca.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or(anyhow::anyhow!("no stdout"))?;
    let mut endpoint = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(url) = line.trim().strip_prefix("endpoint:") {
            endpoint = Some(url.trim().to_owned());
            break;
        }
    }
    let endpoint = endpoint.ok_or(anyhow::anyhow!("the sandbox printed no endpoint"))?;
    Ok((Killed(child), endpoint))
}

fn start_console(dir: &std::path::Path, endpoint: &str, port: u16) -> anyhow::Result<Killed> {
    let child = Command::new(env!("CARGO_BIN_EXE_certdeck"))
        .arg("serve")
        .current_dir(dir)
        .env("CERTDECK_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CERTDECK_DATABASE_URL",
            format!("sqlite://{}/certdeck.db", dir.display()),
        )
        .env("CERTDECK_AWS_ENDPOINT_URL", endpoint)
        .env("CERTDECK_REGIONS", "us-east-1,eu-west-1")
        .env("CERTDECK_SECURE_COOKIES", "false")
        .env("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env(
            "CERTDECK_AUDIT_KEY",
            "bench-audit-key-0123456789abcdef0123456789abcdef",
        )
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(Killed(child))
}

fn client(source: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60));
    if let Some(source) = source {
        builder = builder.local_address(source.parse::<std::net::IpAddr>()?);
    }
    Ok(builder.build()?)
}

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// A client with the sign-in form's cookie and its token.
async fn at_sign_in_form(
    base: &str,
    source: Option<&str>,
) -> anyhow::Result<(reqwest::Client, String)> {
    let client = client(source)?;
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    Ok((client, csrf_of(&page)))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let attackers = arg("--attackers", 500);
    let refused = arg("--refused", 10_000);
    let dir = std::env::temp_dir().join(format!(
        "certdeck-bench-abuse-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let (_sandbox, endpoint) = start_sandbox(&dir)?;
    let port = free_port()?;
    let console = start_console(&dir, &endpoint, port)?;
    let pid = console.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let probe = client(None)?;
    let started = Instant::now();
    while probe.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the console did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The operator's dashboard, signed in before the attack.
    let (admin, token) = at_sign_in_form(&base, None).await?;
    let signed_in = admin
        .post(format!("{base}/login"))
        .form(&[
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        signed_in.status() == 303,
        "admin sign-in: {}",
        signed_in.status()
    );
    for _ in 0..20 {
        admin.get(format!("{base}/")).send().await?.bytes().await?;
    }
    let rss_before = status_kib(pid, "VmRSS:");

    // Phase 1: the sign-in flood, with the dashboard in use and memory sampled.
    let attacking = Arc::new(AtomicBool::new(true));
    let peak_rss = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (attacking, peak_rss) = (attacking.clone(), peak_rss.clone());
        tokio::spawn(async move {
            while attacking.load(Ordering::Relaxed) {
                peak_rss.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let dashboard = {
        let (attacking, admin, base) = (attacking.clone(), admin.clone(), base.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while attacking.load(Ordering::Relaxed) {
                let at = Instant::now();
                let ok = match admin.get(format!("{base}/")).send().await {
                    Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push((at.elapsed().as_secs_f64() * 1000.0, ok));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies
        })
    };
    let mut forms = Vec::new();
    for i in 0..attackers {
        let source = format!("127.0.0.{}", 10 + i % 10);
        forms.push(at_sign_in_form(&base, Some(&source)).await?);
    }
    let flood_started = Instant::now();
    let statuses = join_all(forms.iter().enumerate().map(|(i, (client, token))| {
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/login"))
                .form(&[
                    ("username", if i % 2 == 0 { "admin" } else { "nobody" }),
                    ("password", "wrong password"),
                    ("csrf_token", token.as_str()),
                ])
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    }))
    .await;
    let flood_secs = flood_started.elapsed().as_secs_f64();
    // The dashboard keeps being measured a little after the last answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    attacking.store(false, Ordering::Relaxed);
    sampler.await?;
    let latencies = dashboard.await?;
    let rss_after = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    let mut count = std::collections::BTreeMap::<u16, usize>::new();
    for s in &statuses {
        *count.entry(*s).or_default() += 1;
    }
    let mut ms: Vec<f64> = latencies.iter().map(|(ms, _)| *ms).collect();
    ms.sort_by(f64::total_cmp);
    let failed = latencies.iter().filter(|(_, ok)| !ok).count();
    let peak = peak_rss.load(Ordering::Relaxed).max(hwm);
    println!("== {attackers} parallel wrong sign-ins from 10 addresses");
    println!("answers: {count:?} in {flood_secs:.2} s");
    println!(
        "console RSS: {:.1} MiB before, peak {:.1} MiB (bound 96 MiB: {}), {:.1} MiB after",
        mib(rss_before),
        mib(peak),
        if mib(peak) < 96.0 { "met" } else { "NOT met" },
        mib(rss_after)
    );
    println!(
        "dashboard during the flood: {} requests, {} failed, p50 {:.1} ms, p99 {:.1} ms (bound 200 ms: {}), max {:.1} ms",
        ms.len(),
        failed,
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        if percentile(&ms, 0.99) < 200.0 && failed == 0 {
            "met"
        } else {
            "NOT met"
        },
        ms.last().copied().unwrap_or(f64::NAN)
    );

    // Phase 2: refused anonymous requests and the database. The write-ahead log is
    // folded into the file first, so the file's size is what is stored.
    {
        use sqlx::Connection;
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&format!(
            "sqlite://{}/certdeck.db",
            dir.display()
        ))
        .await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    let bytes_before = database_bytes(&dir);
    let long_path = format!("/{}", "p".repeat(60_000));
    let agent = format!("flood/{}", "u".repeat(4_000));
    let kinds = [
        "csrf-long-path",
        "login-page",
        "signed-out-page",
        "login-no-token",
    ];
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()?;
    let sent = AtomicU64::new(0);
    let refused_started = Instant::now();
    let per_kind = refused / kinds.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(64));
    let requests = (0..per_kind * kinds.len()).map(|i| {
        let (plain, base, long_path, agent, limit, sent) = (
            plain.clone(),
            base.clone(),
            long_path.clone(),
            agent.clone(),
            limit.clone(),
            &sent,
        );
        async move {
            let _permit = limit.acquire().await;
            let request = match i % kinds.len() {
                0 => plain
                    .post(format!("{base}{long_path}"))
                    .form(&[("csrf_token", "forged")]),
                1 => plain.get(format!("{base}/login")),
                2 => plain.get(format!("{base}/audit")),
                _ => plain
                    .post(format!("{base}/login"))
                    .form(&[("username", "admin"), ("password", "guess")]),
            };
            if let Ok(r) = request.header("user-agent", agent).send().await {
                let _ = r.bytes().await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    join_all(requests).await;
    let refused_secs = refused_started.elapsed().as_secs_f64();
    // A graceful stop writes the refusals still being counted.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let mut console = console;
    let stop = Instant::now();
    while console.0.try_wait()?.is_none() && stop.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let growth = database_bytes(&dir).saturating_sub(bytes_before);
    println!(
        "== {} refused anonymous requests ({}) in {refused_secs:.1} s",
        sent.load(Ordering::Relaxed),
        kinds.join(", ")
    );
    println!(
        "database growth: {:.1} KiB (bound 1 MB: {})",
        growth as f64 / 1024.0,
        if growth < 1_000_000 { "met" } else { "NOT met" }
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
