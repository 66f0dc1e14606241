//! The signed-in dashboard under load, against a real `certdeck serve` process (issue
//! 17, points 1, 2 and 6; PRODUCT.md §8), driven by wrk (`apt-get install wrk`) with
//! 2 threads and 32 connections on the same cores:
//! - at 1,000 and 10,000 pools inventoried from the sandbox: the static stylesheet
//!   first (the machine's ceiling for this stack, measured in the same run), then the
//!   dashboard's default page, a search, a filter, a sort and a late page. Bounds: at
//!   1,000 pools each ≥ 0.8 × static and p99 < 15 ms; at 10,000, ≥ 0.5 × and < 25 ms;
//! - memory: the console's RSS with 10,000 pools (< 64 MiB), then over 10 refreshes,
//!   each sampled once its view is installed and stored, before the next starts (each
//!   printed; < 64 MiB, and no growth: the last within 4 MiB of the first); the
//!   high-water mark during refreshes printed beside;
//! - pages during refreshes: the default dashboard page while 10,000 pools are read
//!   again back to back, p99 < 25 ms.
//!
//! `cargo bench --bench dashboard` (`-- --small N --large N --seconds S` for other
//! sizes). Exits non-zero when a bound is missed. `-- --hold` only sets up the large
//! console and prints its address, session cookie and process id, to profile by hand
//! (`-- --hold --refresh S`: its inventory refreshed every S seconds).
//! `-- --part small|large|refresh` runs one of the three parts (the pools the others
//! set up are set up all the same).

use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
#[path = "common/populate.rs"]
mod populate;
#[path = "common/process.rs"]
mod process;

use process::{ADMIN_PASSWORD, Killed, mib, status_kib};

/// The console paces itself to AWS's quotas × this (the sandbox has none here: the
/// inventory's speed is `inventory`'s subject, not this one's).
const CONSOLE_QUOTA_SCALE: &str = "100";
const RSS_BOUND_MIB: f64 = 64.0;
const RSS_GROWTH_BOUND_MIB: f64 = 4.0;
/// How long after a refresh's view appears its memory is sampled (`measure_refreshes`).
const SETTLED_AFTER_INSTALL: Duration = Duration::from_secs(2);

/// What wrk measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    requests_per_sec: f64,
    p99_ms: f64,
    non_2xx: u64,
}

impl Load {
    /// ", N not 200" when some responses were not 200.
    fn not_200(&self) -> String {
        if self.non_2xx > 0 {
            format!(", {} not 200", self.non_2xx)
        } else {
            String::new()
        }
    }
}

/// A wrk duration (`812.00us`, `1.20ms`, `1.01s`) in milliseconds.
fn millis(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    })
}

/// `wrk -t2 -c32 -dS --latency` on `url` with the session cookie.
async fn wrk(url: &str, cookie: &str, seconds: u64) -> anyhow::Result<Load> {
    wrk_with(url, cookie, seconds, None).await
}

/// `wrk`, with a Lua script that makes each request's path when given.
async fn wrk_with(
    url: &str,
    cookie: &str,
    seconds: u64,
    script: Option<&std::path::Path>,
) -> anyhow::Result<Load> {
    let mut args = vec![
        "-t2".to_owned(),
        "-c32".to_owned(),
        format!("-d{seconds}s"),
        "--latency".to_owned(),
        "-H".to_owned(),
        format!("Cookie: {cookie}"),
    ];
    if let Some(script) = script {
        args.push("-s".to_owned());
        args.push(script.display().to_string());
    }
    args.push(url.to_owned());
    let output = tokio::process::Command::new("wrk")
        .args(&args)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("wrk could not run ({e}): apt-get install wrk"))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}");
    let requests_per_sec = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk's output: {text}"))?;
    let p99_ms = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("99%"))
        .and_then(|v| millis(v.trim()))
        .ok_or_else(|| anyhow::anyhow!("no 99% latency in wrk's output: {text}"))?;
    let non_2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Load {
        requests_per_sec,
        p99_ms,
        non_2xx,
    })
}

/// Where the consoles find the sandbox: its AWS endpoint, and its edge, which serves
/// each custom domain's certificate as CloudFront would. With the edge, the consoles'
/// sweeps make a TLS handshake with every custom domain, as they do in production;
/// without it, each probe stopped at resolving a made-up distribution name, which
/// costs far less.
struct SandboxAt {
    endpoint: String,
    edge_addr: String,
    edge_ca_file: std::path::PathBuf,
}

impl SandboxAt {
    fn new(sandbox: &certdeck_sandbox::Sandbox) -> anyhow::Result<Self> {
        let dir = process::temp_dir("edge-ca")?;
        let edge_ca_file = dir.join("edge-ca.pem");
        std::fs::write(&edge_ca_file, sandbox.ca_pem())?;
        Ok(Self {
            endpoint: sandbox.endpoint_url().to_owned(),
            edge_addr: sandbox.edge_addr().to_string(),
            edge_ca_file,
        })
    }
}

impl Drop for SandboxAt {
    fn drop(&mut self) {
        if let Some(dir) = self.edge_ca_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A console on its own database, signed in: (process, base URL, client, session
/// cookie). The database is removed when the process is.
async fn console(
    sandbox: &SandboxAt,
    refresh_secs: u64,
) -> anyhow::Result<(Console, String, reqwest::Client, String)> {
    let dir = process::temp_dir("dashboard")?;
    let port = process::free_port()?;
    let refresh = refresh_secs.to_string();
    let started = Instant::now();
    let edge_ca_file = sandbox.edge_ca_file.display().to_string();
    let console = process::start_console(
        &dir,
        &sandbox.endpoint,
        port,
        &[
            ("CERTDECK_AWS_QUOTA_SCALE", CONSOLE_QUOTA_SCALE),
            ("CERTDECK_INVENTORY_REFRESH_SECS", refresh.as_str()),
            ("CERTDECK_EDGE_ADDR", sandbox.edge_addr.as_str()),
            ("CERTDECK_EDGE_CA_FILE", edge_ca_file.as_str()),
        ],
    )?;
    let base = format!("http://127.0.0.1:{port}");
    process::wait_until_up(&base).await?;
    let (client, cookie) = common::sign_in(port, "admin", ADMIN_PASSWORD).await?;
    Ok((
        Console {
            process: console,
            dir,
            started,
        },
        base,
        client,
        cookie,
    ))
}

/// A console process and its database's directory.
struct Console {
    process: Killed,
    dir: std::path::PathBuf,
    started: Instant,
}

impl Console {
    /// Waits for the first sweep of the edges to finish (it starts 30 s after the
    /// console, and probes 100 domains a second), then until the console is idle: the
    /// loads measure the pages, not a sweep that happens once per refresh interval.
    async fn settle(&self, client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        loop {
            let text = client
                .get(format!("{base}/metrics"))
                .send()
                .await?
                .error_for_status()?
                .text()
                .await?;
            let sweeps = text
                .lines()
                .find_map(|l| l.strip_prefix("certdeck_edge_sweeps_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(0.0);
            if sweeps >= 1.0 {
                break;
            }
            anyhow::ensure!(
                self.started.elapsed() < Duration::from_secs(900),
                "no sweep of the edges finished in 15 minutes"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        println!(
            "  (the first sweep of the edges finished {:.0} s after the console started)",
            self.started.elapsed().as_secs_f64()
        );
        process::settle(self.pid()).await;
        Ok(())
    }

    fn pid(&self) -> u32 {
        self.process.0.id()
    }

    async fn stop(mut self) {
        process::stop_console(&mut self.process).await;
        drop(self.process);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The console's pools JSON (`total`, `refreshed_at`).
async fn pools_json(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    Ok(client
        .get(format!("{base}/api/v1/pools"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Waits until the console's inventory has `pools` pools; the snapshot's time.
async fn wait_for_pools(
    client: &reqwest::Client,
    base: &str,
    pools: u64,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let json = pools_json(client, base).await?;
        if json["total"].as_u64() == Some(pools) {
            return Ok(json["refreshed_at"].as_str().unwrap_or_default().to_owned());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the inventory did not reach {pools} pools: {}",
            json["total"]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits for the next snapshot after `after`; its time.
async fn next_snapshot(
    client: &reqwest::Client,
    base: &str,
    after: &str,
) -> anyhow::Result<String> {
    let started = Instant::now();
    loop {
        let json = pools_json(client, base).await?;
        let at = json["refreshed_at"].as_str().unwrap_or_default();
        if at != after {
            return Ok(at.to_owned());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "no refresh after {after}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The dashboard's pages under load: static first, then each page; the failures.
async fn measure_pages(
    base: &str,
    cookie: &str,
    pools: u64,
    seconds: u64,
    ratio_bound: f64,
    p99_bound: f64,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    let late = (pools / 50).max(1) - 1;
    let pages = [
        ("default page", "/".to_owned()),
        ("search", "/?q=p07".to_owned()),
        ("filter", "/?status=custom&region=us-east-1".to_owned()),
        ("sort", "/?sort=domain".to_owned()),
        ("late page", format!("/?sort=expiry&page={late}")),
    ];
    // One second of each load first, not counted: connections opened, buffers grown.
    for path in std::iter::once("/static/certdeck.css").chain(pages.iter().map(|(_, p)| p.as_str()))
    {
        wrk(&format!("{base}{path}"), cookie, 1).await?;
    }
    let stylesheet = wrk(&format!("{base}/static/certdeck.css"), cookie, seconds).await?;
    println!(
        "  static /static/certdeck.css      {:>7.0} requests/s, p99 {:>6.2} ms   (the ceiling)",
        stylesheet.requests_per_sec, stylesheet.p99_ms
    );
    for (name, path) in &pages {
        let load = wrk(&format!("{base}{path}"), cookie, seconds).await?;
        let ratio = load.requests_per_sec / stylesheet.requests_per_sec;
        let met = ratio >= ratio_bound && load.p99_ms < p99_bound && load.non_2xx == 0;
        println!(
            "  {name:<13} {path:<20} {:>7.0} requests/s = {ratio:.2} x static (bound >= {ratio_bound}), p99 {:>6.2} ms (bound < {p99_bound} ms){}: {}",
            load.requests_per_sec,
            load.p99_ms,
            load.not_200(),
            if met { "met" } else { "NOT met" }
        );
        if !met {
            failures.push(format!(
                "{pools} pools, {name}: {ratio:.2} x static, p99 {:.2} ms",
                load.p99_ms
            ));
        }
    }
    Ok(failures)
}

/// The same pages when no request repeats another within a second, so that none is
/// answered with rows rendered for an earlier one: each request a different late page,
/// or a different search. Printed beside the bounds, not held to them (the bounds are
/// for a page asked again, as above).
async fn measure_uncached(
    base: &str,
    cookie: &str,
    pools: u64,
    seconds: u64,
) -> anyhow::Result<()> {
    let pages = (pools / 50).max(1);
    let scripts = [
        (
            "late pages",
            format!(
                "n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, \"/?sort=expiry&page=\" .. ((n * 7919) % {pages} + 1))\nend\n"
            ),
        ),
        (
            "searches",
            format!(
                "n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(nil, string.format(\"/?q=p%04d\", (n * 7919) % {pools}))\nend\n"
            ),
        ),
    ];
    let dir = process::temp_dir("wrk-scripts")?;
    for (name, script) in scripts {
        let path = dir.join(format!("{}.lua", name.replace(' ', "-")));
        std::fs::write(&path, script)?;
        let load = wrk_with(&format!("{base}/"), cookie, seconds, Some(&path)).await?;
        println!(
            "  uncached {name:<11} (each request another) {:>7.0} requests/s, p99 {:>6.2} ms{}   (not cached: for comparison)",
            load.requests_per_sec,
            load.p99_ms,
            load.not_200(),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let small = common::arg("--small", 1_000);
    let large = common::arg("--large", 10_000);
    let seconds = common::arg("--seconds", 10);
    let sandbox = populate::empty_sandbox(Duration::ZERO).await?;
    let at = SandboxAt::new(&sandbox)?;
    let endpoint = at.endpoint.clone();
    let mut failures = Vec::new();

    if std::env::args().any(|a| a == "--hold") {
        println!("setting up {large} pools…");
        populate::populate_range(&endpoint, 0..large as usize, 100.0).await?;
        let refresh = common::arg("--refresh", 86_400);
        let (server, base, client, cookie) = console(&at, refresh).await?;
        wait_for_pools(&client, &base, large).await?;
        println!("console {base}, process {}, cookie {cookie}", server.pid());
        println!("held until Ctrl-C");
        tokio::signal::ctrl_c().await?;
        server.stop().await;
        return Ok(());
    }

    let part = std::env::args().skip_while(|a| a != "--part").nth(1);
    let runs = |name: &str| part.as_deref().is_none_or(|p| p == name);

    // 1,000 pools.
    println!("setting up {small} pools with custom domains…");
    populate::populate_range(&endpoint, 0..small as usize, 100.0).await?;
    if runs("small") {
        failures.extend(measure_dashboard(&at, small, seconds, 0.8, 15.0, false).await?);
    }

    // 10,000 pools.
    println!();
    println!("setting up {} more pools…", large - small);
    populate::populate_range(&endpoint, small as usize..large as usize, 100.0).await?;
    if runs("large") {
        failures.extend(measure_dashboard(&at, large, seconds, 0.5, 25.0, true).await?);
    }
    if runs("refresh") {
        failures.extend(measure_refreshes(&at, large, seconds).await?);
    }
    sandbox.stop().await;
    anyhow::ensure!(failures.is_empty(), "bounds missed: {failures:?}");
    println!("all bounds met");
    Ok(())
}

/// The dashboard at `pools` pools (each page ≥ `min_ratio` × static, p99 under
/// `max_p99_ms`), then, when `bound_rss`, the console's RSS after the load.
async fn measure_dashboard(
    sandbox: &SandboxAt,
    pools: u64,
    seconds: u64,
    min_ratio: f64,
    max_p99_ms: f64,
    bound_rss: bool,
) -> anyhow::Result<Vec<String>> {
    let (server, base, client, cookie) = console(sandbox, 86_400).await?;
    let pid = server.pid();
    wait_for_pools(&client, &base, pools).await?;
    println!();
    println!("dashboard, signed in, {pools} pools (wrk -t2 -c32 -d{seconds}s)");
    server.settle(&client, &base).await?;
    let mut failures = measure_pages(&base, &cookie, pools, seconds, min_ratio, max_p99_ms).await?;
    measure_uncached(&base, &cookie, pools, seconds).await?;
    if bound_rss {
        let rss = status_kib(pid, "VmRSS:");
        println!(
            "  console RSS with {pools} pools, after the load: {:.1} MiB (bound < {RSS_BOUND_MIB} MiB): {}",
            mib(rss),
            if mib(rss) < RSS_BOUND_MIB {
                "met"
            } else {
                "NOT met"
            }
        );
        if mib(rss) >= RSS_BOUND_MIB {
            failures.push(format!("RSS {:.1} MiB with {pools} pools", mib(rss)));
        }
    }
    server.stop().await;
    Ok(failures)
}

/// Refreshes back to back: pages while they run; then refreshes with room between
/// them: memory after each.
async fn measure_refreshes(
    sandbox: &SandboxAt,
    large: u64,
    seconds: u64,
) -> anyhow::Result<Vec<String>> {
    let mut failures = Vec::new();
    println!();
    println!("{large} pools, the inventory refreshed back to back");
    let (server, base, client, cookie) = console(sandbox, 1).await?;
    let pid = server.pid();
    let mut at = wait_for_pools(&client, &base, large).await?;
    // One refresh timed first, so that the load lasts long enough for refreshes to
    // finish during it.
    let timed = Instant::now();
    at = next_snapshot(&client, &base, &at).await?;
    let one_refresh = timed.elapsed();
    println!(
        "  one refresh of {large} pools took {:.1} s",
        one_refresh.as_secs_f64()
    );
    let priorities: Vec<String> = process::thread_priorities(pid)
        .into_iter()
        .map(|(nice, name, count)| format!("{name} ×{count} at nice {nice}"))
        .collect();
    println!("  the console's threads: {}", priorities.join(", "));
    // Under the load the refreshes run at the background's lower priority, two to
    // three times slower: the load lasts five unloaded refreshes, so that at least one
    // finishes in it.
    let load_seconds = seconds.max((one_refresh.as_secs_f64() * 5.0).ceil() as u64);
    // The refreshes that finish during the load, seen by polling the snapshot's time.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watch = tokio::spawn({
        let (client, base, finished, mut last) =
            (client.clone(), base.clone(), finished.clone(), at.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(json) = pools_json(&client, &base).await {
                    let now = json["refreshed_at"].as_str().unwrap_or_default();
                    if now != last {
                        last = now.to_owned();
                        finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }
    });
    // Where the two cores go during the load: the console, this process (the sandbox,
    // standing in for AWS and CloudFront) and wrk. (Lowering this process to the
    // background's priority, tried once, starved the refreshes: none finished in 41 s,
    // and the p99 was no better, 24.32 ms against 20.38.)
    let started = Instant::now();
    let ticks = (
        process::cpu_ticks(pid),
        process::cpu_ticks(std::process::id()),
        process::children_cpu_ticks(std::process::id()),
    );
    let during = wrk(&format!("{base}/"), &cookie, load_seconds).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let share = |before: u64, after: u64| {
        100.0 * after.saturating_sub(before) as f64 / process::TICKS_PER_SECOND / elapsed
    };
    let cpu = format!(
        "console {:.0} %, sandbox {:.0} %, wrk {:.0} % of a core",
        share(ticks.0, process::cpu_ticks(pid)),
        share(ticks.1, process::cpu_ticks(std::process::id())),
        share(ticks.2, process::children_cpu_ticks(std::process::id())),
    );
    let refreshes_during = finished.load(std::sync::atomic::Ordering::Relaxed);
    let met = during.p99_ms < 25.0 && refreshes_during > 0 && during.non_2xx == 0;
    println!(
        "  dashboard during refreshes (wrk {elapsed:.0} s, {refreshes_during} refreshes finished in it): {:.0} requests/s, p99 {:.2} ms (bound < 25 ms){}: {}; CPU: {cpu}",
        during.requests_per_sec,
        during.p99_ms,
        during.not_200(),
        if met { "met" } else { "NOT met" }
    );
    if !met {
        failures.push(format!("during refreshes: p99 {:.2} ms", during.p99_ms));
    }
    watch.abort();
    let hwm_back_to_back = mib(status_kib(pid, "VmHWM:"));
    server.stop().await;

    // Memory, sampled at one point of each refresh's cycle: once its view is installed
    // and stored, before the next starts (refreshes every two unloaded refreshes).
    // Sampled at any moment, the figure would swing by whatever the refresh in flight
    // holds then; that is the high-water mark, printed beside.
    let every = (one_refresh.as_secs_f64() * 2.0).ceil().max(4.0) as u64;
    let (server, base, client, _) = console(sandbox, every).await?;
    let pid = server.pid();
    let mut at = wait_for_pools(&client, &base, large).await?;
    let mut samples = Vec::new();
    for refresh in 1..=10 {
        at = next_snapshot(&client, &base, &at).await?;
        // The view is installed before it is stored; the store follows within a second.
        tokio::time::sleep(SETTLED_AFTER_INSTALL).await;
        let rss = mib(status_kib(pid, "VmRSS:"));
        println!("  {SETTLED_AFTER_INSTALL:?} after refresh {refresh:>2}: RSS {rss:.1} MiB");
        samples.push(rss);
    }
    let (first, last) = (samples[0], samples[samples.len() - 1]);
    let peak = samples.iter().copied().fold(0.0, f64::max);
    let hwm = mib(status_kib(pid, "VmHWM:"));
    let met = last - first < RSS_GROWTH_BOUND_MIB && peak < RSS_BOUND_MIB;
    println!(
        "  over 10 refreshes every {every} s: growth {:+.1} MiB (bound < {RSS_GROWTH_BOUND_MIB} MiB), highest {peak:.1} MiB (bound < {RSS_BOUND_MIB} MiB): {}",
        last - first,
        if met { "met" } else { "NOT met" }
    );
    println!(
        "  high-water mark, while a refresh holds the old view and builds the new one: {hwm:.1} MiB ({hwm_back_to_back:.1} MiB back to back under load; not bounded)"
    );
    if !met {
        failures.push(format!(
            "refreshes: {first:.1} → {last:.1} MiB, highest {peak:.1} MiB"
        ));
    }
    server.stop().await;
    Ok(failures)
}
