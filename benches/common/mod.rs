//! What the benchmarks share: their options, a signed-in client, and a download
//! measured with the server's peak memory.

/// The number after `name` on the command line (`-- --pools 10000`), or `default`.
#[allow(dead_code)] // not every bench takes options
pub fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// A signed-in client and its session cookie (`name=value`).
pub async fn sign_in(
    port: u16,
    username: &str,
    password: &str,
) -> anyhow::Result<(reqwest::Client, String)> {
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = client
        .get(format!("{base}/login"))
        .send()
        .await?
        .text()
        .await?;
    let token = login
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned();
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == 303,
        "sign-in failed: {}",
        response.status()
    );
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("certdeck_session="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .to_owned();
    Ok((client, cookie))
}

/// What a download took.
#[allow(dead_code)] // Not every benchmark downloads.
pub struct Download {
    pub bytes: usize,
    pub lines: usize,
    pub seconds: f64,
    /// The server's highest RSS (KiB, as `rss` reads it) during the download.
    pub peak_kib: u64,
}

/// Streams `url` (which must answer 200) to its end without keeping it, while `rss`
/// (the server's resident memory in KiB) is sampled every 20 ms from `baseline_kib`.
#[allow(dead_code)] // Not every benchmark downloads.
pub async fn download(
    client: &reqwest::Client,
    url: &str,
    baseline_kib: u64,
    rss: impl Fn() -> u64 + Send + 'static,
) -> anyhow::Result<Download> {
    use futures_util::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let peak = Arc::new(AtomicU64::new(baseline_kib));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss(), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let started = std::time::Instant::now();
    let response = client.get(url).send().await?;
    anyhow::ensure!(response.status() == 200, "{url}: {}", response.status());
    let mut stream = response.bytes_stream();
    let (mut bytes, mut lines) = (0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        lines += chunk.iter().filter(|b| **b == b'\n').count();
    }
    let seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    Ok(Download {
        bytes,
        lines,
        seconds,
        peak_kib: peak.load(Ordering::Relaxed),
    })
}
