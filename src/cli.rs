//! The `certdeck` command line (PRODUCT.md §2).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::sandbox::{Sandbox, SandboxOptions, Seed, Timings};

#[derive(Debug, Parser)]
#[command(
    name = "certdeck",
    version,
    about = "Rotate the TLS certificate of Cognito custom domains, safely."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The AWS-compatible sandbox alone, for the AWS CLI, boto3 or tests.
    Sandbox(SandboxArgs),
}

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address of the AWS endpoint (HTTP).
    #[arg(long, default_value = "127.0.0.1:4566")]
    pub listen: String,
    /// Address of the TLS edge that serves the distributed certificates.
    #[arg(long, default_value = "127.0.0.1:4443")]
    pub edge_listen: String,
    /// The data to start with.
    #[arg(long, value_enum, default_value_t = Seed::Demo)]
    pub seed: Seed,
    /// Seconds from UpdateUserPoolDomain to the edge serving the new certificate.
    #[arg(long, default_value_t = 30)]
    pub propagation_secs: u64,
    /// Seconds a requested certificate stays PENDING_VALIDATION.
    #[arg(long, default_value_t = 10)]
    pub validation_secs: u64,
    /// Milliseconds added to every AWS call.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Multiplies AWS's default quotas; 0 turns them off.
    #[arg(long, default_value_t = 1.0)]
    pub quota_scale: f64,
    /// Where to write the sandbox CA certificate (PEM).
    #[arg(long, default_value = "certdeck-sandbox-ca.pem")]
    pub ca_out: PathBuf,
}

impl SandboxArgs {
    pub fn options(&self) -> SandboxOptions {
        SandboxOptions {
            seed: self.seed,
            timings: Timings {
                propagation: Duration::from_secs(self.propagation_secs),
                validation: Duration::from_secs(self.validation_secs),
            },
            latency: Duration::from_millis(self.latency_ms),
            quota_scale: self.quota_scale,
        }
    }
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox(args) => run_sandbox(args).await,
    }
}

async fn run_sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let sandbox = Sandbox::start(args.options(), &args.listen, &args.edge_listen).await?;
    std::fs::write(&args.ca_out, sandbox.ca_pem())
        .with_context(|| format!("writing the CA certificate to {}", args.ca_out.display()))?;
    let ca_path = std::fs::canonicalize(&args.ca_out).unwrap_or(args.ca_out.clone());
    println!("certdeck sandbox");
    println!("  endpoint: {}", sandbox.endpoint_url());
    println!("  edge:     {}", sandbox.edge_addr());
    println!("  ca:       {}", ca_path.display());
    println!("Use any credentials, e.g. AWS_ACCESS_KEY_ID=sandbox AWS_SECRET_ACCESS_KEY=sandbox.");
    wait_for_shutdown().await;
    sandbox.stop().await;
    println!("certdeck sandbox stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
