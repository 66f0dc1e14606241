//! Settings (PRODUCT.md §3): a TOML file overlaid by `CERTDECK_*` environment variables.
//! Secrets are `SecretString`s: never logged, never rendered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::audit::AuditKey;

/// Everything the console needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub database_url: SecretString,
    /// Cognito regions to list; empty means the SDK's region.
    pub regions: Vec<String>,
    pub aws_endpoint_url: Option<String>,
    pub edge_addr: Option<String>,
    pub edge_ca_file: Option<PathBuf>,
    pub team_tag: String,
    pub propagation_timeout: Duration,
    /// How often a change in flight asks Cognito for the domain's status.
    pub propagation_poll: Duration,
    /// How often a change in flight probes the edge with a TLS handshake.
    pub probe_interval: Duration,
    pub inventory_refresh: Duration,
    pub secure_cookies: bool,
    pub bootstrap_admin_password: Option<SecretString>,
    /// Multiplies AWS's default quotas that certdeck paces itself to (for accounts with
    /// raised quotas).
    pub aws_quota_scale: f64,
    /// Attempts per AWS call, the first included (throttling and 5xx are retried with
    /// backoff).
    pub aws_max_attempts: u32,
    /// `certdeck demo` only: the generated accounts, shown on the sign-in page.
    pub demo_accounts: Vec<DemoAccount>,
    /// When set, `/metrics` needs `Authorization: Bearer` with it.
    pub metrics_token: Option<SecretString>,
    /// How often a live stream checks that its session and account still allow it (not
    /// configurable outside tests: 10 s keeps the end within 30 s of a sign-out).
    pub stream_session_check: Duration,
    /// The secret of the keyed audit chain (`CERTDECK_AUDIT_KEY` or
    /// `CERTDECK_AUDIT_KEY_FILE`); the console refuses to start without it.
    pub audit_key: Option<AuditKey>,
    /// Where the audit head is appended, one JSON line each time (besides the log).
    pub audit_anchor_file: Option<PathBuf>,
    /// How often the audit head is written out when entries were added.
    pub audit_anchor_interval: Duration,
    /// The AWS accounts to read (`[[accounts]]`, PRODUCT.md §9); empty: the credential
    /// chain's own account, in `regions`.
    pub accounts: Vec<AccountSettings>,
    /// How long a replica's leases last without renewal (the inventory reader's, each
    /// watched change's): a dead replica's work is taken over within twice this.
    pub replica_lease: Duration,
    /// Single sign-on with OpenID Connect (`[oidc]`, PRODUCT.md §10); `None`: local
    /// accounts only.
    pub oidc: Option<crate::auth::oidc::OidcSettings>,
    /// Channels, thresholds and routes of notifications (`[notifications]`, PRODUCT.md
    /// §12); no channel: nothing is sent.
    pub notifications: crate::domain::notification::NotificationSettings,
}

/// One `[[accounts]]` table: an AWS account certdeck reads through a role it assumes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// certdeck's name for the account (`prod`, `staging`): shown, filtered on, audited.
    pub name: String,
    /// The role assumed with STS, `arn:aws:iam::<12 digits>:role/<name>`.
    pub role_arn: String,
    /// The external id the role's trust policy asks for.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Cognito regions to list in this account; empty: the top-level `regions`.
    #[serde(default)]
    pub regions: Vec<String>,
    /// The team owning every pool of the account, unless a pool's team tag names another.
    #[serde(default)]
    pub team: Option<String>,
    /// `"required"`: every change of the account's pools needs a second person's
    /// approval (the two-person rule, as the `certdeck:approval=required` pool tag).
    #[serde(default)]
    pub approval: Option<String>,
}

impl AccountSettings {
    /// The 12-digit account id, from the role's ARN.
    pub fn account_id(&self) -> Option<&str> {
        role_account_id(&self.role_arn)
    }
}

/// The account id of a role ARN (`arn:<partition>:iam::<12 digits>:role/<path/name>`).
pub fn role_account_id(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let name = resource.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/".contains(&b));
    (partition.starts_with("aws")
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && name_ok)
        .then_some(account)
}

/// An account `certdeck demo` made, with its password.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub username: String,
    pub role: String,
    pub team: Option<String>,
    pub password: SecretString,
}

/// The file's shape: every key optional, named as the variables without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    regions: Option<Vec<String>>,
    aws_endpoint_url: Option<String>,
    edge_addr: Option<String>,
    edge_ca_file: Option<PathBuf>,
    team_tag: Option<String>,
    propagation_timeout_secs: Option<u64>,
    propagation_poll_secs: Option<u64>,
    probe_interval_secs: Option<u64>,
    inventory_refresh_secs: Option<u64>,
    secure_cookies: Option<bool>,
    bootstrap_admin_password: Option<String>,
    aws_quota_scale: Option<f64>,
    aws_max_attempts: Option<u32>,
    metrics_token: Option<String>,
    audit_key_file: Option<PathBuf>,
    audit_anchor_file: Option<PathBuf>,
    audit_anchor_interval_secs: Option<u64>,
    #[serde(default)]
    accounts: Vec<AccountSettings>,
    replica_lease_secs: Option<u64>,
    oidc: Option<crate::auth::oidc::OidcFile>,
    notifications: Option<crate::domain::notification::NotificationsFile>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            database_url: SecretString::from("sqlite://certdeck.db"),
            regions: Vec::new(),
            aws_endpoint_url: None,
            edge_addr: None,
            edge_ca_file: None,
            team_tag: "team".to_owned(),
            propagation_timeout: Duration::from_secs(3600),
            propagation_poll: Duration::from_secs(15),
            probe_interval: Duration::from_secs(10),
            inventory_refresh: Duration::from_secs(300),
            secure_cookies: true,
            bootstrap_admin_password: None,
            aws_quota_scale: 1.0,
            aws_max_attempts: 5,
            demo_accounts: Vec::new(),
            metrics_token: None,
            stream_session_check: Duration::from_secs(10),
            audit_key: None,
            audit_anchor_file: None,
            audit_anchor_interval: Duration::from_secs(60),
            accounts: Vec::new(),
            replica_lease: Duration::from_secs(30),
            oidc: None,
            notifications: Default::default(),
        }
    }
}

impl Settings {
    /// Reads `path` (or `certdeck.toml` if it exists), then the environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = match path {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from("certdeck.toml")).filter(|p| p.exists()),
        };
        let file_settings = match &file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        Self::from_sources(file_settings, |name| std::env::var(name).ok())
    }

    fn from_sources(
        file: FileSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut s = Settings::default();
        let var = |key: &str| env(&format!("CERTDECK_{key}")).filter(|v| !v.is_empty());
        let number = |key: &str| -> anyhow::Result<Option<u64>> {
            var(key)
                .map(|v| {
                    v.parse::<u64>().with_context(|| {
                        format!("CERTDECK_{key} must be a whole number, not {v:?}")
                    })
                })
                .transpose()
        };
        if let Some(v) = var("LISTEN").or(file.listen) {
            s.listen = v;
        }
        if let Some(v) = var("DATABASE_URL").or(file.database_url) {
            s.database_url = SecretString::from(v);
        }
        if let Some(v) = var("REGIONS") {
            s.regions = v
                .split(',')
                .map(|r| r.trim().to_owned())
                .filter(|r| !r.is_empty())
                .collect();
        } else if let Some(v) = file.regions {
            s.regions = v;
        }
        s.aws_endpoint_url = var("AWS_ENDPOINT_URL").or(file.aws_endpoint_url);
        s.edge_addr = var("EDGE_ADDR").or(file.edge_addr);
        s.edge_ca_file = var("EDGE_CA_FILE").map(PathBuf::from).or(file.edge_ca_file);
        if let Some(v) = var("TEAM_TAG").or(file.team_tag) {
            s.team_tag = v;
        }
        if let Some(v) = number("PROPAGATION_TIMEOUT_SECS")?.or(file.propagation_timeout_secs) {
            s.propagation_timeout = Duration::from_secs(v);
        }
        if let Some(v) = number("PROPAGATION_POLL_SECS")?.or(file.propagation_poll_secs) {
            anyhow::ensure!(
                v > 0,
                "the propagation poll interval must be at least 1 second"
            );
            s.propagation_poll = Duration::from_secs(v);
        }
        if let Some(v) = number("PROBE_INTERVAL_SECS")?.or(file.probe_interval_secs) {
            anyhow::ensure!(v > 0, "the probe interval must be at least 1 second");
            s.probe_interval = Duration::from_secs(v);
        }
        if let Some(v) = number("INVENTORY_REFRESH_SECS")?.or(file.inventory_refresh_secs) {
            anyhow::ensure!(
                v > 0,
                "the inventory refresh interval must be at least 1 second"
            );
            s.inventory_refresh = Duration::from_secs(v);
        }
        if let Some(v) = var("SECURE_COOKIES") {
            s.secure_cookies = match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                other => {
                    anyhow::bail!("CERTDECK_SECURE_COOKIES must be true or false, not {other:?}")
                }
            };
        } else if let Some(v) = file.secure_cookies {
            s.secure_cookies = v;
        }
        s.bootstrap_admin_password = var("BOOTSTRAP_ADMIN_PASSWORD")
            .or(file.bootstrap_admin_password)
            .map(SecretString::from);
        s.metrics_token = var("METRICS_TOKEN")
            .or(file.metrics_token)
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        if let Some(v) = var("AWS_QUOTA_SCALE") {
            s.aws_quota_scale = v
                .parse()
                .with_context(|| format!("CERTDECK_AWS_QUOTA_SCALE must be a number, not {v:?}"))?;
        } else if let Some(v) = file.aws_quota_scale {
            s.aws_quota_scale = v;
        }
        anyhow::ensure!(
            s.aws_quota_scale > 0.0,
            "the AWS quota scale must be above 0"
        );
        if let Some(v) = number("AWS_MAX_ATTEMPTS")?
            .map(|v| v as u32)
            .or(file.aws_max_attempts)
        {
            anyhow::ensure!((1..=10).contains(&v), "the AWS attempts must be 1 to 10");
            s.aws_max_attempts = v;
        }
        s.audit_key = audit_key(var("AUDIT_KEY"), var("AUDIT_KEY_FILE"), file.audit_key_file)?;
        s.audit_anchor_file = var("AUDIT_ANCHOR_FILE")
            .map(PathBuf::from)
            .or(file.audit_anchor_file);
        if let Some(v) = number("AUDIT_ANCHOR_INTERVAL_SECS")?.or(file.audit_anchor_interval_secs) {
            anyhow::ensure!(
                (1..=60).contains(&v),
                "the audit anchor interval must be 1 to 60 seconds"
            );
            s.audit_anchor_interval = Duration::from_secs(v);
        }
        for region in &s.regions {
            check_region(region)?;
        }
        s.accounts = check_accounts(file.accounts)?;
        if let Some(v) = number("REPLICA_LEASE_SECS")?.or(file.replica_lease_secs) {
            anyhow::ensure!(
                (2..=600).contains(&v),
                "the replica lease must be 2 to 600 seconds"
            );
            s.replica_lease = Duration::from_secs(v);
        }
        s.oidc = file
            .oidc
            .map(crate::auth::oidc::OidcSettings::parse)
            .transpose()
            .context("[oidc]")?;
        s.notifications = crate::domain::notification::NotificationSettings::parse(
            file.notifications.unwrap_or_default(),
        )
        .context("[notifications]")?;
        if let Some(url) = var("PUBLIC_URL") {
            anyhow::ensure!(
                url.starts_with("https://") || url.starts_with("http://"),
                "CERTDECK_PUBLIC_URL must be an http(s) address, not {url:?}"
            );
            s.notifications.base_url = Some(url.trim_end_matches('/').to_owned());
        }
        if let Some(ms) = number("NOTIFY_RETRY_BASE_MS")? {
            anyhow::ensure!(
                (1..=3_600_000).contains(&ms),
                "CERTDECK_NOTIFY_RETRY_BASE_MS must be 1 to 3600000"
            );
            s.notifications.retry_base = Duration::from_millis(ms);
        }
        Ok(s)
    }
}

fn check_region(region: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !region.is_empty()
            && region.len() <= 32
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{region:?} is not an AWS region name"
    );
    Ok(())
}

/// The `[[accounts]]` tables, each checked, with names unique.
fn check_accounts(accounts: Vec<AccountSettings>) -> anyhow::Result<Vec<AccountSettings>> {
    let mut names = std::collections::HashSet::new();
    for account in &accounts {
        let name = &account.name;
        anyhow::ensure!(
            (1..=32).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b == b'-'
                    || b == b'_'),
            "[[accounts]] name {name:?}: use 1 to 32 lowercase letters, digits, '-' or '_'"
        );
        anyhow::ensure!(
            names.insert(name.as_str()),
            "[[accounts]] name {name:?} is given twice"
        );
        anyhow::ensure!(
            account.account_id().is_some(),
            "[[accounts]] {name}: role_arn {:?} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
            account.role_arn
        );
        if let Some(external_id) = &account.external_id {
            anyhow::ensure!(
                (2..=1224).contains(&external_id.len())
                    && external_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b)),
                "[[accounts]] {name}: external_id must be 2 to 1224 of letters, digits and +=,.@:/_-"
            );
        }
        for region in &account.regions {
            check_region(region).with_context(|| format!("[[accounts]] {name}"))?;
        }
        if let Some(team) = &account.team {
            // The rule of `auth::parse_team`, the team names users are given.
            anyhow::ensure!(
                (1..=64).contains(&team.len())
                    && team.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'-'
                        || b == b'_'),
                "[[accounts]] {name}: team {team:?} is not a team name (a-z, 0-9, - and _)"
            );
        }
    }
    Ok(accounts)
}

/// The audit key from `CERTDECK_AUDIT_KEY`, or read from `CERTDECK_AUDIT_KEY_FILE` (or
/// the file's `audit_key_file`); never both.
fn audit_key(
    value: Option<String>,
    env_file: Option<String>,
    file_setting: Option<PathBuf>,
) -> anyhow::Result<Option<AuditKey>> {
    let path = env_file.map(PathBuf::from).or(file_setting);
    let (text, name) = match (value, path) {
        (Some(_), Some(_)) => {
            anyhow::bail!("set CERTDECK_AUDIT_KEY or CERTDECK_AUDIT_KEY_FILE, not both")
        }
        (Some(value), None) => (value, "CERTDECK_AUDIT_KEY".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading the audit key (CERTDECK_AUDIT_KEY_FILE) from {}",
                    path.display()
                )
            })?,
            format!("CERTDECK_AUDIT_KEY_FILE ({})", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    AuditKey::parse(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_overrides_the_file() {
        let file: FileSettings = toml::from_str(
            "listen = \"0.0.0.0:9000\"\nregions = [\"eu-west-1\"]\ninventory_refresh_secs = 60\n",
        )
        .unwrap();
        let s = Settings::from_sources(file, env(&[("CERTDECK_REGIONS", "us-east-1, eu-west-1")]))
            .unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(s.inventory_refresh, Duration::from_secs(60));
        assert_eq!(s.database_url.expose_secret(), "sqlite://certdeck.db");
        assert!(s.secure_cookies);
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let error = Settings::from_sources(
            FileSettings::default(),
            env(&[("CERTDECK_INVENTORY_REFRESH_SECS", "soon")]),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("CERTDECK_INVENTORY_REFRESH_SECS")
        );
        assert!(toml::from_str::<FileSettings>("unknown_key = 1").is_err());
        assert!(
            Settings::from_sources(
                FileSettings::default(),
                env(&[("CERTDECK_REGIONS", "US East")])
            )
            .is_err()
        );
    }

    #[test]
    fn accounts_are_read_and_checked() {
        let file: FileSettings = toml::from_str(
            r#"
regions = ["us-east-1"]
[[accounts]]
name = "prod"
role_arn = "arn:aws:iam::111111111111:role/certdeck"
regions = ["us-east-1", "eu-west-1"]
team = "platform"
[[accounts]]
name = "staging"
role_arn = "arn:aws:iam::222222222222:role/path/certdeck"
external_id = "certdeck-staging"
"#,
        )
        .unwrap();
        let s = Settings::from_sources(file, env(&[])).unwrap();
        assert_eq!(s.accounts.len(), 2);
        assert_eq!(s.accounts[0].account_id(), Some("111111111111"));
        assert_eq!(s.accounts[0].team.as_deref(), Some("platform"));
        assert_eq!(s.accounts[1].account_id(), Some("222222222222"));
        assert!(s.accounts[1].regions.is_empty());

        let refused = |toml_text: &str| {
            let file: FileSettings = toml::from_str(toml_text).unwrap();
            Settings::from_sources(file, env(&[]))
                .unwrap_err()
                .to_string()
        };
        let twice = "[[accounts]]\nname = \"a\"\nrole_arn = \"arn:aws:iam::111111111111:role/x\"\n\
                     [[accounts]]\nname = \"a\"\nrole_arn = \"arn:aws:iam::222222222222:role/x\"\n";
        assert!(refused(twice).contains("given twice"));
        let bad_arn = "[[accounts]]\nname = \"a\"\nrole_arn = \"arn:aws:iam::1234:role/x\"\n";
        assert!(refused(bad_arn).contains("not an IAM role ARN"));
        let user_arn =
            "[[accounts]]\nname = \"a\"\nrole_arn = \"arn:aws:iam::111111111111:user/x\"\n";
        assert!(refused(user_arn).contains("not an IAM role ARN"));
        let bad_name = "[[accounts]]\nname = \"Prod Account\"\nrole_arn = \"arn:aws:iam::111111111111:role/x\"\n";
        assert!(refused(bad_name).contains("lowercase"));
        assert!(
            toml::from_str::<FileSettings>(
                "[[accounts]]\nname = \"a\"\nrole_arn = \"r\"\nrole = \"typo\"\n"
            )
            .is_err()
        );
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings::from_sources(
            FileSettings::default(),
            env(&[
                ("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD", "hunter2-very-secret"),
                ("CERTDECK_METRICS_TOKEN", "metrics-very-secret"),
                (
                    "CERTDECK_DATABASE_URL",
                    "postgres://u:pw-very-secret@db/certdeck",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.metrics_token.as_ref().map(|t| t.expose_secret()),
            Some("metrics-very-secret")
        );
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2-very-secret")
                && !shown.contains("pw-very-secret")
                && !shown.contains("metrics-very-secret"),
            "{shown}"
        );
    }

    #[test]
    fn the_audit_key_is_checked_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("certdeck-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("audit.key");
        std::fs::write(&key_file, "audit-key-very-secret-0123456789abcdef\n").unwrap();
        let path = key_file.display().to_string();
        let s = Settings::from_sources(
            FileSettings::default(),
            env(&[("CERTDECK_AUDIT_KEY_FILE", &path)]),
        )
        .unwrap();
        assert!(s.audit_key.is_some());
        assert!(!format!("{s:?}").contains("very-secret"));
        let short = Settings::from_sources(
            FileSettings::default(),
            env(&[("CERTDECK_AUDIT_KEY", "short")]),
        )
        .unwrap_err();
        assert!(short.to_string().contains("CERTDECK_AUDIT_KEY"), "{short}");
        assert!(
            Settings::from_sources(
                FileSettings::default(),
                env(&[
                    (
                        "CERTDECK_AUDIT_KEY",
                        "audit-key-very-secret-0123456789abcdef"
                    ),
                    ("CERTDECK_AUDIT_KEY_FILE", &path)
                ]),
            )
            .is_err()
        );
    }
}
