//! A real `certdeck serve` process for the benchmarks that measure its memory or drive
//! it with a load generator: its resident memory is then its own, not the bench's.

#![allow(dead_code)] // each bench uses part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bootstrap admin's password of the consoles started here.
pub const ADMIN_PASSWORD: &str = "bench-admin-password-1234";
/// The audit key of the consoles started here.
pub const AUDIT_KEY: &str = "bench-audit-key-0123456789abcdef0123456789abcdef";

/// A child process, killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A fresh directory for one run's database.
pub fn temp_dir(what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "certdeck-bench-{what}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}/certdeck.db", dir.display())
}

/// `certdeck serve` (the release build of this package) on `port`, against `endpoint`,
/// with its database in `dir`; `env` adds or overrides `CERTDECK_*` settings.
/// `CERTDECK_BENCH_WRAPPER` (say `heaptrack -o /tmp/serve` or `perf record -g -o
/// /tmp/perf.data --`) runs the console under a profiler.
pub fn start_console(
    dir: &Path,
    endpoint: &str,
    port: u16,
    env: &[(&str, &str)],
) -> anyhow::Result<Killed> {
    let binary = env!("CARGO_BIN_EXE_certdeck");
    let wrapper = std::env::var("CERTDECK_BENCH_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command
        .arg("serve")
        .current_dir(dir)
        .env("CERTDECK_LISTEN", format!("127.0.0.1:{port}"))
        .env("CERTDECK_DATABASE_URL", database_url(dir))
        .env("CERTDECK_AWS_ENDPOINT_URL", endpoint)
        .env("CERTDECK_REGIONS", "us-east-1")
        .env("CERTDECK_SECURE_COOKIES", "false")
        .env("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CERTDECK_AUDIT_KEY", AUDIT_KEY)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    Ok(Killed(command.spawn()?))
}

/// Waits until the console answers `/healthz`.
pub async fn wait_until_up(base: &str) -> anyhow::Result<()> {
    let probe = reqwest::Client::new();
    let started = Instant::now();
    while probe.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the console did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Stops the console gracefully (SIGTERM) and waits up to 15 s for it.
pub async fn stop_console(console: &mut Killed) {
    let _ = Command::new("kill")
        .args(["-TERM", &console.0.id().to_string()])
        .status();
    let stop = Instant::now();
    while matches!(console.0.try_wait(), Ok(None)) && stop.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `p` quantile (0–1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// CPU time (user + system) the process has used, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    // utime and stime are fields 14 and 15 of stat.
    stat_pair(pid, 14)
}

/// Clock ticks a second in `/proc`'s CPU times (`USER_HZ`, 100 on Linux whatever the
/// kernel's own tick).
pub const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (user + system) of the process's children it has waited for, in clock
/// ticks.
pub fn children_cpu_ticks(pid: u32) -> u64 {
    // cutime and cstime are fields 16 and 17 of stat.
    stat_pair(pid, 16)
}

/// Field `field` (numbered from 1, as in proc(5)) of `/proc/<pid>/stat` plus the one
/// after it; 0 when unreadable.
fn stat_pair(pid: u32, field: usize) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // After the command's name (field 2, in parentheses, which may hold
            // spaces), the fields from the third on.
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let at = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
            Some(at(field)? + at(field + 1)?)
        })
        .unwrap_or(0)
}

/// Waits (up to a minute) until the process is idle: under 4 % of a core over half a
/// second. A console that has just read its inventory still probes every custom
/// domain's edge once; a load measured meanwhile would measure that too.
pub async fn settle(pid: u32) {
    let started = Instant::now();
    let mut before = cpu_ticks(pid);
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_ticks(pid);
        if now.saturating_sub(before) <= 2 {
            return;
        }
        before = now;
    }
}

/// A process's threads grouped by nice value and name (trailing digits dropped):
/// (nice, name, how many), lowest nice first.
pub fn thread_priorities(pid: u32) -> Vec<(i64, String, usize)> {
    let mut seen: std::collections::BTreeMap<(i64, String), usize> = Default::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `tid (comm) state …`: the comm may hold spaces; the fields after it are plain.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit());
        // Field 19 (nice) is the 17th after the comm.
        if let Some(nice) = stat[close + 1..]
            .split_whitespace()
            .nth(16)
            .and_then(|n| n.parse().ok())
        {
            *seen.entry((nice, name.to_owned())).or_default() += 1;
        }
    }
    seen.into_iter()
        .map(|((nice, name), count)| (nice, name, count))
        .collect()
}
