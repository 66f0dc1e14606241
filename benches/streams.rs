//! Live streams under load, against a real `certdeck serve` process (issue 17, point 4;
//! PRODUCT.md §8): 1,000 Server-Sent Events clients follow one propagation. A pool with
//! a custom domain and a second eligible certificate are made in the sandbox (whose
//! distribution takes `--propagation-secs`), the change is submitted through the
//! console's form (review, then confirm, with its CSRF and submission tokens), the
//! clients sign in (8 streams per session, the console's cap) and open
//! `GET /propagations/{id}/events`. Each client notes when each phase event arrives.
//! Bounds, measured in the same run:
//! - every client connected (none refused);
//! - each phase change that happens while all of them are connected reaches every
//!   client within 1 s of the change (the event's own time, `at_ms`, set by the
//!   console's watcher when it saw the change; same machine, same clock);
//! - the console's RSS at its peak while the streams are open, less its RSS just before
//!   they are opened: under 32 MiB.
//!
//! `cargo bench --bench streams` (`-- --clients N --propagation-secs S` for others).
//! Exits non-zero when a bound is missed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use certdeck::domain::propagation::Phase;
use certdeck::propagation::streams::{STREAMS_PER_SESSION, raise_open_files_limit};
use certdeck::propagation::watcher::PhaseEvent;
use futures_util::StreamExt;

mod common;
#[path = "common/populate.rs"]
mod populate;
#[path = "common/process.rs"]
mod process;

use process::{ADMIN_PASSWORD, mib, status_kib};

const LATENCY_BOUND_MS: i64 = 1_000;
const RSS_GROWTH_BOUND_MIB: f64 = 32.0;
/// Streams being opened at once (each until its first event): a crowd arriving, not
/// one SYN flood against the listen backlog.
const OPENING_AT_ONCE: usize = 64;

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// Milliseconds since the Unix epoch, as the console's `at_ms`.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One event as a client received it.
struct Arrival {
    phase: Phase,
    /// When the console's watcher saw the change (its clock).
    at_ms: i64,
    /// When it reached the client (same clock).
    arrived_ms: i64,
    /// The state sent at once when the stream opens, not a change.
    initial: bool,
}

/// What one client saw: the stream's status and its events.
struct ClientLog {
    status: u16,
    arrivals: Vec<Arrival>,
    error: Option<String>,
}

/// Follows `url` as one client of session `cookie` until a terminal phase, the end
/// of the stream or `deadline`. The opening permit is given back at the first event.
async fn follow(
    client: reqwest::Client,
    url: String,
    cookie: String,
    opening: Arc<tokio::sync::Semaphore>,
    deadline: Instant,
) -> ClientLog {
    let mut log = ClientLog {
        status: 0,
        arrivals: Vec::new(),
        error: None,
    };
    let mut permit = opening.acquire_owned().await.ok();
    let response = match client
        .get(&url)
        .header("cookie", &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => {
            log.error = Some(format!("{e}"));
            return log;
        }
    };
    log.status = response.status().as_u16();
    if log.status != 200 {
        return log;
    }
    let mut body = response.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout_at(deadline.into(), body.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(e))) => {
                log.error = Some(format!("{e}"));
                return log;
            }
            Ok(None) => return log,
            Err(_) => {
                log.error = Some("deadline".into());
                return log;
            }
        };
        let arrived_ms = now_ms();
        buffer.extend_from_slice(&chunk);
        // Whole events only: `…\n\n`.
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&block);
            let Some(data) = text.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue; // a keep-alive comment
            };
            match serde_json::from_str::<PhaseEvent>(data) {
                Ok(event) => {
                    let terminal = event.phase.is_terminal();
                    log.arrivals.push(Arrival {
                        phase: event.phase,
                        at_ms: event.at_ms,
                        arrived_ms,
                        initial: log.arrivals.is_empty(),
                    });
                    permit.take();
                    if terminal {
                        return log;
                    }
                }
                Err(e) => {
                    log.error = Some(format!("an unreadable event ({e}): {data}"));
                    return log;
                }
            }
        }
    }
}

/// The value of the form field `name` in `html`.
fn field(html: &str, name: &str) -> Option<String> {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_owned)
}

/// Replaces `pool`'s certificate by `arn` as a person does: the form, its review
/// page, then the confirmation; the new propagation's id.
async fn submit_change(
    browser: &reqwest::Client,
    base: &str,
    pool: &str,
    arn: &str,
) -> anyhow::Result<String> {
    let form_url = format!("{base}/pools/{pool}/certificate");
    // The console's first inventory may still be on its way.
    let started = Instant::now();
    let form = loop {
        let response = browser.get(&form_url).send().await?;
        let status = response.status();
        let html = response.text().await?;
        if status == 200 && html.contains(arn) {
            break html;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the change form never offered {arn}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let token = |html: &str, name: &str| {
        field(html, name).ok_or_else(|| anyhow::anyhow!("no {name} in the page"))
    };
    let review = browser
        .post(&form_url)
        .form(&[
            ("certificate_arn", arn),
            ("submission_token", &token(&form, "submission_token")?),
            ("csrf_token", &token(&form, "csrf_token")?),
        ])
        .send()
        .await?;
    anyhow::ensure!(review.status() == 200, "review: {}", review.status());
    let review = review.text().await?;
    anyhow::ensure!(
        review.contains("name=\"confirm\" value=\"yes\""),
        "the review page offers no confirmation (a pre-flight check failed?)"
    );
    let done = browser
        .post(&form_url)
        .form(&[
            ("certificate_arn", arn),
            ("submission_token", &token(&review, "submission_token")?),
            ("csrf_token", &token(&review, "csrf_token")?),
            ("confirm", "yes"),
        ])
        .send()
        .await?;
    anyhow::ensure!(done.status() == 303, "confirmation: {}", done.status());
    let location = done
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let id = location
        .strip_prefix("/propagations/")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the confirmation went to {location:?}"))?;
    Ok(id.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients = common::arg("--clients", 1_000) as usize;
    let propagation = Duration::from_secs(common::arg("--propagation-secs", 15));
    // This process holds every client's socket (and the sandbox's).
    let files = raise_open_files_limit(clients as u64 + 512);
    anyhow::ensure!(
        files.soft.is_none_or(|soft| soft >= clients as u64 + 256),
        "this process may open {:?} files, too few for {clients} clients: raise `ulimit -Hn`",
        files.soft
    );

    let sandbox = populate::empty_sandbox(propagation).await?;
    let endpoint = sandbox.endpoint_url().to_owned();
    println!(
        "setting up a pool with a custom domain and a second certificate (distribution takes {} s)…",
        propagation.as_secs()
    );
    populate::populate(&endpoint, 1, 100.0).await?;
    let config = populate::sdk_config(&endpoint).await;
    let new_arn = populate::wildcard_certificate(&config).await?;
    let pool = aws_sdk_cognitoidentityprovider::Client::new(&config)
        .list_user_pools()
        .max_results(10)
        .send()
        .await?
        .user_pools()
        .first()
        .and_then(|p| p.id())
        .ok_or_else(|| anyhow::anyhow!("no pool in the sandbox"))?
        .to_owned();
    // The domain is made with the same distribution time: the console's first
    // inventory should find it ACTIVE, so that the change passes its pre-flight.
    tokio::time::sleep(propagation + Duration::from_secs(1)).await;

    let dir = process::temp_dir("streams")?;
    let ca_file = dir.join("sandbox-ca.pem");
    std::fs::write(&ca_file, sandbox.ca_pem())?;
    let edge = sandbox.edge_addr().to_string();
    let ca = ca_file.display().to_string();
    let port = process::free_port()?;
    let mut console = process::start_console(
        &dir,
        &endpoint,
        port,
        &[
            ("CERTDECK_AWS_QUOTA_SCALE", "100"),
            ("CERTDECK_INVENTORY_REFRESH_SECS", "86400"),
            ("CERTDECK_EDGE_ADDR", edge.as_str()),
            ("CERTDECK_EDGE_CA_FILE", ca.as_str()),
            ("CERTDECK_PROPAGATION_POLL_SECS", "1"),
            ("CERTDECK_PROBE_INTERVAL_SECS", "1"),
        ],
    )?;
    let pid = console.0.id();
    let base = format!("http://127.0.0.1:{port}");
    process::wait_until_up(&base).await?;

    // The sessions first, one at a time (a password check is slow on purpose, and the
    // console answers 503 rather than queue more checks than it has cores).
    let sessions_needed = clients.div_ceil(STREAMS_PER_SESSION);
    println!("signing in {sessions_needed} sessions ({STREAMS_PER_SESSION} streams each)…");
    let sessions: Vec<String> = futures_util::stream::iter(0..sessions_needed)
        .map(|_| async move {
            common::sign_in(port, "admin", ADMIN_PASSWORD)
                .await
                .map(|(_, cookie)| cookie)
        })
        .buffered(1)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let (browser, _) = common::sign_in(port, "admin", ADMIN_PASSWORD).await?;
    let id = submit_change(&browser, &base, &pool, &new_arn).await?;
    let submitted = Instant::now();
    println!("change submitted: propagation {id}");

    // The console's memory just before the streams, then its peak while they run.
    let before_kib = status_kib(pid, "VmRSS:");
    let peak = Arc::new(AtomicU64::new(before_kib));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!("{base}/propagations/{id}/events");
    let opening = Arc::new(tokio::sync::Semaphore::new(OPENING_AT_ONCE));
    let deadline = Instant::now() + propagation + Duration::from_secs(120);
    let opened = Instant::now();
    let followers: Vec<_> = (0..clients)
        .map(|i| {
            tokio::spawn(follow(
                client.clone(),
                url.clone(),
                sessions[i / STREAMS_PER_SESSION].clone(),
                opening.clone(),
                deadline,
            ))
        })
        .collect();
    let mut logs = Vec::with_capacity(clients);
    for follower in followers {
        logs.push(follower.await?);
    }
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let peak_kib = peak.load(Ordering::Relaxed);
    let hwm_kib = status_kib(pid, "VmHWM:");
    process::stop_console(&mut console).await;
    drop(console);
    let _ = std::fs::remove_dir_all(&dir);
    sandbox.stop().await;

    // Connected: answered 200 and sent the current state.
    let connected: Vec<&ClientLog> = logs
        .iter()
        .filter(|l| l.status == 200 && l.arrivals.first().is_some_and(|a| a.initial))
        .collect();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for log in logs.iter().filter(|l| l.status != 200) {
        let why = log
            .error
            .clone()
            .unwrap_or_else(|| format!("status {}", log.status));
        *refused.entry(why).or_default() += 1;
    }
    let all_connected_ms = connected
        .iter()
        .filter_map(|l| l.arrivals.first().map(|a| a.arrived_ms))
        .max()
        .unwrap_or(0);
    let first_connected_ms = connected
        .iter()
        .filter_map(|l| l.arrivals.first().map(|a| a.arrived_ms))
        .min()
        .unwrap_or(0);
    let mut failures = Vec::new();

    println!();
    println!(
        "{clients} SSE clients on one propagation ({} sessions; change submitted {:.1} s before the first stream opened)",
        sessions.len(),
        opened.duration_since(submitted).as_secs_f64()
    );
    let all_in = connected.len() == clients;
    println!(
        "  clients connected: {} of {clients} in {:.2} s (bound: all){}: {}",
        connected.len(),
        (all_connected_ms - first_connected_ms) as f64 / 1000.0,
        if refused.is_empty() {
            String::new()
        } else {
            format!(", refused or failed: {refused:?}")
        },
        met(all_in)
    );
    if !all_in {
        failures.push(format!("{} of {clients} connected", connected.len()));
    }
    let errors: Vec<&str> = connected
        .iter()
        .filter_map(|l| l.error.as_deref())
        .collect();
    if !errors.is_empty() {
        println!(
            "  streams that ended in an error: {} (first: {})",
            errors.len(),
            errors[0]
        );
        failures.push(format!("{} streams ended in an error", errors.len()));
    }

    // Each phase change, as the clients received it (not as their initial state).
    let mut changes: Vec<(Phase, i64)> = Vec::new();
    for log in &connected {
        for a in log.arrivals.iter().filter(|a| !a.initial) {
            if !changes.iter().any(|(p, _)| *p == a.phase) {
                changes.push((a.phase, a.at_ms));
            }
        }
    }
    changes.sort_by_key(|(_, at)| *at);
    let mut measured = 0;
    for (phase, at_ms) in &changes {
        let arrivals: Vec<&Arrival> = connected
            .iter()
            .filter_map(|l| l.arrivals.iter().find(|a| !a.initial && a.phase == *phase))
            .collect();
        let first = arrivals.iter().map(|a| a.arrived_ms).min().unwrap_or(0);
        let last = arrivals.iter().map(|a| a.arrived_ms).max().unwrap_or(0);
        let mut latencies: Vec<f64> = arrivals
            .iter()
            .map(|a| (a.arrived_ms - a.at_ms) as f64)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let worst = latencies.last().copied().unwrap_or(f64::NAN);
        if *at_ms < all_connected_ms {
            println!(
                "  phase {:<12} changed before all clients were connected ({} received it as a change, the rest as their first state): not measured",
                phase.as_str(),
                arrivals.len()
            );
            continue;
        }
        measured += 1;
        let reached_all = arrivals.len() == connected.len();
        let ok = reached_all && worst < LATENCY_BOUND_MS as f64;
        println!(
            "  phase {:<12} reached {} of {} clients; from the change to the last client {worst:.0} ms (bound < {LATENCY_BOUND_MS} ms; p50 {:.0} ms, p99 {:.0} ms), first to last arrival {} ms: {}",
            phase.as_str(),
            arrivals.len(),
            connected.len(),
            process::percentile(&latencies, 0.5),
            process::percentile(&latencies, 0.99),
            last - first,
            met(ok)
        );
        if !ok {
            failures.push(format!(
                "{}: {} of {} clients, worst {worst:.0} ms",
                phase.as_str(),
                arrivals.len(),
                connected.len()
            ));
        }
    }
    if measured == 0 {
        println!(
            "  no phase change happened while all clients were connected (raise --propagation-secs): NOT met"
        );
        failures.push("no phase change measured".into());
    }
    let growth = mib(peak_kib.saturating_sub(before_kib));
    let ok = growth < RSS_GROWTH_BOUND_MIB;
    println!(
        "  console RSS: {:.1} MiB before the streams, {:.1} MiB at the peak while they were open (high-water mark {:.1} MiB): growth {growth:.1} MiB = {:.1} KiB a stream (bound < {RSS_GROWTH_BOUND_MIB} MiB): {}",
        mib(before_kib),
        mib(peak_kib),
        mib(hwm_kib),
        (peak_kib.saturating_sub(before_kib)) as f64 / clients.max(1) as f64,
        met(ok)
    );
    if !ok {
        failures.push(format!("RSS growth {growth:.1} MiB"));
    }
    anyhow::ensure!(failures.is_empty(), "bounds missed: {failures:?}");
    println!("all bounds met");
    Ok(())
}
