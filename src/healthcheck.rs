//! `certdeck healthcheck` (PRODUCT.md §2): exit 0 when the console answers `/healthz`.
//! For container health checks, where no shell or curl can be counted on: one plain
//! HTTP/1.0 GET over a TCP stream, with a short timeout.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the whole check may take; a console that slow is not healthy.
const TIMEOUT: Duration = Duration::from_secs(3);
/// The most of the answer that is read: the status line is all that matters.
const MAX_RESPONSE: u64 = 16 * 1024;

#[derive(Debug, clap::Args)]
pub struct HealthcheckArgs {
    /// The liveness URL (http only). Default: /healthz on CERTDECK_LISTEN, with a
    /// wildcard address (0.0.0.0, [::]) asked on loopback.
    #[arg(long)]
    pub url: Option<String>,
}

/// Runs the check: `Ok` when the console answered 200, an error saying why not otherwise.
pub async fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = match args.url {
        Some(url) => url,
        None => default_url(std::env::var("CERTDECK_LISTEN").ok().as_deref()),
    };
    let status = tokio::time::timeout(TIMEOUT, get_status(&url))
        .await
        .with_context(|| format!("{url} did not answer within {}s", TIMEOUT.as_secs()))??;
    if status != 200 {
        bail!("{url} answered {status}");
    }
    println!("{url}: ok");
    Ok(())
}

/// `/healthz` on the address the console listens on (`CERTDECK_LISTEN`).
pub fn default_url(listen: Option<&str>) -> String {
    let listen = listen
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("127.0.0.1:8080");
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        other => other,
    };
    format!("http://{host}:{port}/healthz")
}

/// The host, port and path of an `http://` URL.
fn split_url(url: &str) -> anyhow::Result<(&str, u16, &str)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{url:?} is not an http:// URL");
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (
            host,
            port.parse()
                .with_context(|| format!("{url:?} has no valid port"))?,
        ),
        _ => (authority, 80),
    };
    if host.is_empty() {
        bail!("{url:?} has no host");
    }
    Ok((host, port, path))
}

/// One GET; the answer's status code.
async fn get_status(url: &str) -> anyhow::Result<u16> {
    let (host, port, path) = split_url(url)?;
    let address = (host.trim_start_matches('[').trim_end_matches(']'), port);
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .with_context(|| format!("sending the request to {host}:{port}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .await
        .with_context(|| format!("reading the answer of {host}:{port}"))?;
    let status_line = response
        .split(|b| *b == b'\n')
        .next()
        .map(|line| String::from_utf8_lossy(line).trim().to_owned())
        .unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/") => Ok(status),
        _ => bail!("{host}:{port} did not answer HTTP (got {status_line:?})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_follows_the_listen_address() {
        assert_eq!(default_url(None), "http://127.0.0.1:8080/healthz");
        assert_eq!(
            default_url(Some("0.0.0.0:9000")),
            "http://127.0.0.1:9000/healthz"
        );
        assert_eq!(default_url(Some("[::]:8080")), "http://[::1]:8080/healthz");
        assert_eq!(
            default_url(Some("10.0.0.5:8081")),
            "http://10.0.0.5:8081/healthz"
        );
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/healthz").unwrap(),
            ("127.0.0.1", 8080, "/healthz")
        );
        assert_eq!(
            split_url("http://localhost").unwrap(),
            ("localhost", 80, "/")
        );
        assert_eq!(
            split_url("http://[::1]:9/healthz").unwrap(),
            ("[::1]", 9, "/healthz")
        );
        assert!(split_url("https://example.com/").is_err());
        assert!(split_url("http://:80/").is_err());
    }
}
