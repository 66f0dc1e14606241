//! The `certdeck` command line (PRODUCT.md §2).

use std::path::PathBuf;
#[cfg(feature = "sandbox")]
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Role, accounts, password};
#[cfg(feature = "sandbox")]
use crate::configuration::DemoAccount;
use crate::configuration::Settings;
use crate::startup::Application;
use crate::store::Store;
#[cfg(feature = "sandbox")]
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed, Timings};

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
    /// The embedded default: the sandbox with the demo data and the console wired to it.
    #[cfg(feature = "sandbox")]
    Demo(DemoArgs),
    /// The console against AWS (or CERTDECK_AWS_ENDPOINT_URL).
    Serve(ServeArgs),
    /// The AWS-compatible sandbox alone, for the AWS CLI, boto3 or tests.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Local accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Exit 0 when the console answers /healthz (for container health checks).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Creates an account; prints a generated password unless --password-stdin.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A team whose pools an operator may change (repeatable).
        #[arg(long = "team")]
        teams: Vec<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Lists the accounts.
    List {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Changes an account's role and teams.
    SetRole {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long = "team")]
        teams: Vec<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Sets a new password; prints a generated one unless --password-stdin.
    SetPassword {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Removes an account (its sessions end with it).
    Remove {
        name: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes the hash chain: exit 0 when intact, 1 naming the first broken entry.
    Verify {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

#[cfg(feature = "sandbox")]
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address of the console.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Where the demo keeps its database and the sandbox CA.
    #[arg(long, default_value = ".certdeck-demo")]
    pub data_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The settings file (default: certdeck.toml if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[cfg(feature = "sandbox")]
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

#[cfg(feature = "sandbox")]
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
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => run_demo(args).await,
        Command::Serve(args) => run_serve(args).await,
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => run_sandbox(args).await,
        Command::Healthcheck(args) => crate::healthcheck::run(args).await,
        Command::User(command) => run_user(command).await,
        Command::Audit(AuditCommand::Verify { config }) => {
            let store = open_store(config.as_deref()).await?;
            match store.verify_audit().await? {
                Ok(count) => {
                    println!("audit log intact: {count} entries verified");
                    Ok(())
                }
                Err(broken) => {
                    eprintln!("audit log broken at {broken}");
                    std::process::exit(1);
                }
            }
        }
    }
}

async fn open_store(config: Option<&std::path::Path>) -> anyhow::Result<Store> {
    let settings = Settings::load(config)?;
    Store::connect(&settings.database_url).await
}

/// The actor of CLI changes in the audit log.
fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

fn password_input(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((password::generate(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(
        password.chars().count() >= 12,
        "a password needs at least 12 characters"
    );
    Ok((SecretString::from(password), false))
}

async fn run_user(command: UserCommand) -> anyhow::Result<()> {
    let actor = cli_actor();
    match command {
        UserCommand::Add {
            name,
            role,
            teams,
            password_stdin,
            config,
        } => {
            let store = open_store(config.as_deref()).await?;
            let (password, generated) = password_input(password_stdin)?;
            accounts::add(&store, &actor, &name, role, &teams, &password).await?;
            println!("created {name} ({role})");
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::List { config } => {
            let store = open_store(config.as_deref()).await?;
            for user in store.list_users().await? {
                println!("{}\t{}\t{}", user.username, user.role, user.teams.join(","));
            }
        }
        UserCommand::SetRole {
            name,
            role,
            teams,
            config,
        } => {
            let store = open_store(config.as_deref()).await?;
            accounts::set_role(&store, &actor, &name, role, &teams).await?;
            println!("{name} is now {role}");
        }
        UserCommand::SetPassword {
            name,
            password_stdin,
            config,
        } => {
            let store = open_store(config.as_deref()).await?;
            let (password, generated) = password_input(password_stdin)?;
            accounts::set_password(&store, &actor, &name, &password).await?;
            println!("password of {name} changed");
            if generated {
                println!("password: {}", password.expose_secret());
            }
        }
        UserCommand::Remove { name, config } => {
            let store = open_store(config.as_deref()).await?;
            accounts::remove(&store, &actor, &name).await?;
            println!("removed {name}");
        }
    }
    Ok(())
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref())?;
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "certdeck console listening");
    app.run_until_signal().await.context("serving the console")
}

#[cfg(feature = "sandbox")]
async fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let options = SandboxOptions {
        seed: Seed::Demo,
        timings: Timings {
            propagation: Duration::from_secs(60),
            validation: Duration::from_secs(30),
        },
        latency: Duration::from_millis(20),
        quota_scale: 1.0,
    };
    let sandbox = Sandbox::start(options, "127.0.0.1:0", "127.0.0.1:0").await?;
    let ca_file = data_dir.join("sandbox-ca.pem");
    std::fs::write(&ca_file, sandbox.ca_pem()).context("writing the sandbox CA")?;
    let demo_accounts = vec![
        demo_account("admin", "admin", None),
        demo_account("ops-payments", "operator", Some("payments")),
        demo_account("viewer", "viewer", None),
    ];
    let settings = Settings {
        demo_accounts: demo_accounts.clone(),
        listen: args.listen.clone(),
        database_url: SecretString::from(format!(
            "sqlite://{}",
            data_dir.join("certdeck.db").display()
        )),
        regions: vec!["us-east-1".to_owned(), "eu-west-1".to_owned()],
        aws_endpoint_url: Some(sandbox.endpoint_url().to_owned()),
        edge_addr: Some(sandbox.edge_addr().to_string()),
        edge_ca_file: Some(ca_file),
        secure_cookies: false,
        inventory_refresh: Duration::from_secs(60),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    println!("certdeck demo");
    let host = match args.listen.rsplit_once(':').map(|(host, _)| host) {
        Some("0.0.0.0" | "[::]") | None => "127.0.0.1",
        Some(host) => host,
    };
    println!("  console:  http://{host}:{}/", app.port());
    println!(
        "  sandbox:  {} (edge {})",
        sandbox.endpoint_url(),
        sandbox.edge_addr()
    );
    println!("  data:     {}", data_dir.display());
    println!("Sign in as (passwords are new at every start):");
    for account in &demo_accounts {
        println!(
            "  {:<14} {:<9} {:<9} {}",
            account.username,
            account.role,
            account.team.as_deref().unwrap_or("-"),
            account.password.expose_secret()
        );
    }
    println!("Ctrl-C stops it.");
    let result = app.run_until_signal().await;
    sandbox.stop().await;
    result.context("serving the console")
}

#[cfg(feature = "sandbox")]
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

#[cfg(feature = "sandbox")]
fn demo_account(username: &str, role: &str, team: Option<&str>) -> DemoAccount {
    DemoAccount {
        username: username.to_owned(),
        role: role.to_owned(),
        team: team.map(str::to_owned),
        password: password::generate(),
    }
}
