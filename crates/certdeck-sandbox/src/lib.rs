//! The AWS-compatible sandbox (PRODUCT.md §7): Cognito and ACM on the AWS JSON 1.1 wire
//! protocol and STS (AssumeRole, GetCallerIdentity) on the Query protocol, for several
//! accounts whose resources are isolated, with real X.509 certificates, a TLS edge,
//! quotas and fault injection. It is the embedded default of `certdeck demo`, the
//! backend of the tests, and a standalone `certdeck sandbox` for the AWS CLI or boto3.
//!
//! It never depends on the console: what AWS accepts is decided by its own `rules`,
//! written from AWS's documented behaviour, so that it can disagree with the console's
//! eligibility policy (AWS accepts RSA_1024 for CloudFront; certdeck refuses it).

mod acm;
mod cognito;
mod edge;
mod error;
mod faults;
mod input;
mod model;
mod pki;
mod query;
mod quota;
mod rules;
mod seed;
mod sts;
mod wire;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use time::OffsetDateTime;

pub use error::AwsError;
pub use faults::Fault;
pub use pki::format_serial;
pub use world::{ACCOUNT_ID, Timings};

/// The demo seed's two accounts and their roles, for the console's demo command.
pub mod demo {
    /// `prod`: the base account, which holds the demo pools of every eligibility case.
    pub const PROD_ACCOUNT_ID: &str = crate::world::ACCOUNT_ID;
    /// Assumable without an external id.
    pub const PROD_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/certdeck-prod";
    /// `staging`: three pools in us-east-1 and eu-west-1, two with custom domains.
    pub const STAGING_ACCOUNT_ID: &str = "210987654321";
    pub const STAGING_ROLE_ARN: &str = "arn:aws:iam::210987654321:role/certdeck-staging";
    /// AssumeRole of the staging role must give this ExternalId.
    pub const STAGING_EXTERNAL_ID: &str = "certdeck-demo";
}

/// The data the sandbox starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Seed {
    /// Pools and certificates covering every eligibility case, in two regions.
    Demo,
    /// Nothing.
    Empty,
}

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub seed: Seed,
    pub timings: Timings,
    /// Added to every AWS call.
    pub latency: Duration,
    /// Multiplies every quota of PRODUCT.md §1; 0 turns quotas off.
    pub quota_scale: f64,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            seed: Seed::Demo,
            timings: Timings {
                propagation: Duration::from_secs(30),
                validation: Duration::from_secs(10),
            },
            latency: Duration::ZERO,
            quota_scale: 1.0,
        }
    }
}

/// The longest session AssumeRole hands out unless changed (`Sandbox::set_max_session`).
pub const DEFAULT_MAX_SESSION: Duration = Duration::from_secs(3600);

/// State shared by the HTTP side and the edge.
pub struct Shared {
    world: Mutex<world::World>,
    /// Added to every AWS call; starts at `options.latency`, changed by `/_sandbox/latency`.
    latency_ms: std::sync::atomic::AtomicU64,
    /// The longest AssumeRole session, in seconds.
    max_session_secs: std::sync::atomic::AtomicU64,
    /// Tags the access key ids this sandbox issues (see `sts`).
    key_secret: Vec<u8>,
    quotas: quota::Quotas,
    ca: pki::CertificateAuthority,
    options: SandboxOptions,
}

impl Shared {
    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn max_session(&self) -> Duration {
        Duration::from_secs(
            self.max_session_secs
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn set_max_session(&self, length: Duration) {
        self.max_session_secs.store(
            length.as_secs().max(1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn lock_world(&self) -> Result<MutexGuard<'_, world::World>, AwsError> {
        self.world
            .lock()
            .map_err(|_| AwsError::internal("sandbox state poisoned"))
    }

    /// Empties the world — every account, the counters, the faults, the roles and their
    /// credentials — and the quotas, then seeds.
    fn reset(&self, seed: Seed) -> anyhow::Result<()> {
        let mut fresh = world::World::default();
        if seed == Seed::Demo {
            seed::seed_demo(&mut fresh, &self.ca, OffsetDateTime::now_utc())?;
        }
        *self
            .world
            .lock()
            .map_err(|_| anyhow::anyhow!("sandbox state poisoned"))? = fresh;
        self.quotas.reset();
        Ok(())
    }
}

/// A running sandbox. Dropping it stops both listeners.
pub struct Sandbox {
    endpoint_url: String,
    edge_addr: SocketAddr,
    shared: Arc<Shared>,
    server: actix_web::dev::ServerHandle,
    edge_task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds the AWS endpoint and the edge (port 0 picks a free port) and starts serving.
    pub async fn start(
        options: SandboxOptions,
        listen: &str,
        edge_listen: &str,
    ) -> anyhow::Result<Self> {
        let ca = pki::CertificateAuthority::generate().context("creating the sandbox CA")?;
        let mut key_secret = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut key_secret).context("drawing the key secret")?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world::World::default()),
            latency_ms: std::sync::atomic::AtomicU64::new(options.latency.as_millis() as u64),
            max_session_secs: std::sync::atomic::AtomicU64::new(DEFAULT_MAX_SESSION.as_secs()),
            key_secret,
            quotas: quota::Quotas::new(options.quota_scale),
            ca,
            options,
        });
        shared
            .reset(shared.options.seed)
            .context("seeding the sandbox")?;

        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("binding the sandbox endpoint to {listen}"))?;
        let endpoint_addr = listener.local_addr()?;
        let data = actix_web::web::Data::new(shared.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .configure(wire::configure)
        })
        .listen(listener)?
        .workers(2)
        .disable_signals()
        .shutdown_timeout(1)
        .run();
        let server_handle = server.handle();
        tokio::spawn(server);

        let edge_listener = tokio::net::TcpListener::bind(edge_listen)
            .await
            .with_context(|| format!("binding the sandbox edge to {edge_listen}"))?;
        let edge_addr = edge_listener.local_addr()?;
        let edge_task = tokio::spawn(edge::serve(edge_listener, shared.clone()));

        Ok(Self {
            endpoint_url: format!("http://{endpoint_addr}"),
            edge_addr,
            shared,
            server: server_handle,
            edge_task,
        })
    }

    /// The URL to give the AWS SDK, CLI or boto3 as endpoint.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// Where the TLS edge listens.
    pub fn edge_addr(&self) -> SocketAddr {
        self.edge_addr
    }

    /// The CA certificate (PEM) every sandbox certificate chains to.
    pub fn ca_pem(&self) -> &str {
        self.shared.ca.certificate_pem()
    }

    /// The longest session STS AssumeRole hands out from now on (default one hour;
    /// tests set it low to see credentials expire and be refreshed). Credentials last
    /// `min(DurationSeconds or 3600 s, this)`. Also `POST /_sandbox/max-session`.
    pub fn set_max_session(&self, length: Duration) {
        self.shared.set_max_session(length);
    }

    /// Stops both listeners.
    pub async fn stop(self) {
        self.edge_task.abort();
        self.server.stop(true).await;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.edge_task.abort();
        // Stopping without waiting: the server's own task ends once stopped.
        drop(self.server.stop(false));
    }
}
