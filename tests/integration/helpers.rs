use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use aws_sdk_cognitoidentityprovider::config::retry::RetryConfig;
use certdeck::sandbox::{Sandbox, SandboxOptions, Seed, Timings};
use serde_json::Value;

/// A sandbox on free ports, and SDK configuration pointing at it.
pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    /// Unique per test, so that quotas (kept per access key) never cross tests.
    pub access_key: String,
}

pub fn options(seed: Seed) -> SandboxOptions {
    SandboxOptions {
        seed,
        timings: Timings {
            propagation: Duration::from_secs(2),
            validation: Duration::from_secs(1),
        },
        latency: Duration::ZERO,
        // Functional tests are not about quotas; the quota tests set their own.
        quota_scale: 0.0,
    }
}

pub async fn spawn_sandbox(options: SandboxOptions) -> TestSandbox {
    let sandbox = Sandbox::start(options, "127.0.0.1:0", "127.0.0.1:0")
        .await
        .expect("the sandbox starts");
    TestSandbox {
        sandbox,
        http: reqwest::Client::new(),
        access_key: format!("AKIA{}", uuid::Uuid::new_v4().simple()),
    }
}

impl TestSandbox {
    pub async fn sdk_config(&self, region: &str, retries: bool) -> SdkConfig {
        let retry = if retries {
            RetryConfig::standard()
        } else {
            RetryConfig::disabled()
        };
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.sandbox.endpoint_url())
            .credentials_provider(Credentials::new(
                &self.access_key,
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(retry)
            .load()
            .await
    }

    pub async fn cognito(&self, region: &str) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&self.sdk_config(region, true).await)
    }

    pub async fn acm(&self, region: &str) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.sdk_config(region, true).await)
    }

    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/state", self.sandbox.endpoint_url()))
            .send()
            .await
            .expect("state answers")
            .json()
            .await
            .expect("state is JSON")
    }

    /// How many calls of `operation` the sandbox has received.
    pub async fn calls(&self, operation: &str) -> u64 {
        self.state().await["calls"][operation].as_u64().unwrap_or(0)
    }

    pub async fn arm_fault(&self, fault: Value) {
        let response = self
            .http
            .post(format!("{}/_sandbox/faults", self.sandbox.endpoint_url()))
            .json(&fault)
            .send()
            .await
            .expect("faults answers");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// The leaf certificate the edge serves for `sni`, as DER, or the handshake error.
pub async fn edge_leaf(
    edge: std::net::SocketAddr,
    ca_pem: &str,
    sni: &str,
) -> Result<Vec<u8>, String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for der in openssl::x509::X509::stack_from_pem(ca_pem.as_bytes()).expect("CA PEM") {
        roots
            .add(CertificateDer::from(der.to_der().expect("DER")))
            .expect("CA is a valid root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(edge)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    Ok(leaf.to_vec())
}

/// ACM's colon-separated hex serial of a DER certificate.
pub fn serial_of(der: &[u8]) -> String {
    let certificate = openssl::x509::X509::from_der(der).expect("a DER certificate");
    let serial = certificate
        .serial_number()
        .to_bn()
        .expect("serial")
        .to_vec();
    certdeck::sandbox::format_serial(&serial)
}

/// Waits until `check` holds, polling every 100 ms, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
