//! The `certdeck` command line (PRODUCT.md §2).

use std::path::PathBuf;
#[cfg(feature = "sandbox")]
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

use secrecy::{ExposeSecret, SecretString};

use crate::auth::{Role, accounts, password};
use crate::configuration::Settings;
#[cfg(feature = "sandbox")]
use crate::configuration::{AccountSettings, DemoAccount};
use crate::domain::audit::{AuditAnchor, AuditKey};
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
    /// Clears an account's sign-in lockout (from every address).
    Unlock {
        name: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recomputes the chain with the audit key: exit 0 when intact, 1 naming the first
    /// broken entry, a row past the head, or a head behind a recorded anchor.
    Verify {
        /// An anchor file the console wrote (CERTDECK_AUDIT_ANCHOR_FILE): the log must
        /// still reach every head it recorded, with the same hashes.
        #[arg(long)]
        anchor: Option<PathBuf>,
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
        Command::Audit(AuditCommand::Verify { anchor, config }) => {
            run_audit_verify(anchor.as_deref(), config.as_deref()).await
        }
    }
}

async fn run_audit_verify(
    anchor: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let settings = Settings::load(config)?;
    let key = settings.audit_key.clone().context(
        "verifying the audit log needs its key: set CERTDECK_AUDIT_KEY or CERTDECK_AUDIT_KEY_FILE",
    )?;
    let anchors = match anchor {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the anchor file {}", path.display()))?;
            AuditAnchor::parse_lines(&text).map_err(anyhow::Error::msg)?
        }
        None => Vec::new(),
    };
    let store = Store::connect(&settings.database_url)
        .await?
        .with_audit_key(key);
    let report = store.verify_audit_chain(None, &anchors).await?;
    match report.outcome {
        Ok(count) => {
            println!("audit log intact: {count} entries verified");
            if let Some(keyed_from) = report.keyed_from.filter(|k| *k > 1) {
                println!(
                    "  entries 1 to {} have the key-less form (written before the audit key)",
                    keyed_from - 1
                );
            }
            if let Some(last) = anchors.iter().max_by_key(|a| a.count) {
                println!(
                    "  {} anchors checked; the last, {} entries at {}, is still in the log",
                    anchors.len(),
                    last.count,
                    last.at
                );
            }
            Ok(())
        }
        Err(broken) => {
            eprintln!("audit log broken at {broken}");
            std::process::exit(1);
        }
    }
}

async fn open_store(config: Option<&std::path::Path>) -> anyhow::Result<Store> {
    let settings = Settings::load(config)?;
    let store = Store::connect(&settings.database_url).await?;
    // Account changes are audited: with the key, the entries are keyed; without it (or
    // with another) a keyed log is refused before anything changes.
    let store = match settings.audit_key {
        Some(key) => store.with_audit_key(key),
        None => store,
    };
    store.check_audit_key().await?;
    Ok(store)
}

/// The actor of CLI changes in the audit log.
fn cli_actor() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    format!("cli:{user}")
}

fn password_input(from_stdin: bool) -> anyhow::Result<(SecretString, bool)> {
    if !from_stdin {
        return Ok((crate::tokens::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password")?;
    let password = SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
    password::check_strength(&password).map_err(anyhow::Error::msg)?;
    Ok((password, false))
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
        UserCommand::Unlock { name, config } => {
            let store = open_store(config.as_deref()).await?;
            let cleared = accounts::unlock(&store, &actor, &name).await?;
            println!("unlocked {name} ({cleared} sign-in counters cleared)");
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
    let audit_key = demo_audit_key(&data_dir.join("audit.key"))?;
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
        audit_key: Some(audit_key),
        audit_anchor_file: Some(data_dir.join("audit-anchors.jsonl")),
        // Two AWS accounts, read through roles the sandbox's STS hands out.
        accounts: vec![
            AccountSettings {
                name: "prod".into(),
                role_arn: certdeck_sandbox::demo::PROD_ROLE_ARN.into(),
                external_id: None,
                regions: Vec::new(),
                team: None,
                approval: None,
            },
            AccountSettings {
                name: "staging".into(),
                role_arn: certdeck_sandbox::demo::STAGING_ROLE_ARN.into(),
                external_id: Some(certdeck_sandbox::demo::STAGING_EXTERNAL_ID.into()),
                regions: Vec::new(),
                team: None,
                approval: None,
            },
        ],
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
    println!(
        "  accounts: prod ({}), staging ({})",
        certdeck_sandbox::demo::PROD_ACCOUNT_ID,
        certdeck_sandbox::demo::STAGING_ACCOUNT_ID
    );
    println!("  data:     {}", data_dir.display());
    println!(
        "  audit:    key {} (keep it; `audit verify` needs it), anchors {}",
        data_dir.join("audit.key").display(),
        data_dir.join("audit-anchors.jsonl").display()
    );
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
    crate::startup::wait_for_shutdown().await;
    sandbox.stop().await;
    println!("certdeck sandbox stopped");
    Ok(())
}

/// The demo's audit key: made once into the data dir (owner-only), reused after.
fn demo_audit_key(path: &std::path::Path) -> anyhow::Result<AuditKey> {
    if !path.exists() {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("creating the audit key {}", path.display()))?;
        writeln!(file, "{}", crate::tokens::new_token())
            .with_context(|| format!("writing the audit key {}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the audit key {}", path.display()))?;
    AuditKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

#[cfg(feature = "sandbox")]
fn demo_account(username: &str, role: &str, team: Option<&str>) -> DemoAccount {
    DemoAccount {
        username: username.to_owned(),
        role: role.to_owned(),
        team: team.map(str::to_owned),
        password: crate::tokens::generate_password(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_audit_key_is_made_once_owner_only_and_reused() {
        let dir = std::env::temp_dir().join(format!("certdeck-demo-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.key");
        let first = demo_audit_key(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = demo_audit_key(&path).unwrap();
        assert_eq!(first.check_value(), again.check_value(), "reused");
    }
}
