//! Notifications' pure rules (PRODUCT.md §12): the channels, thresholds and routes as
//! configured (`[notifications]`), which expiry threshold a certificate has crossed, and
//! the texts each kind of channel sends. No I/O: the `notify` module sends.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Days before expiry at which a certificate is reported, unless a team sets its own.
pub const DEFAULT_THRESHOLDS: [u32; 4] = [30, 14, 7, 1];

/// The first retry's delay; each later one doubles it.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);

/// A delivery is retried for this many base delays (an hour with the default base),
/// then marked failed.
pub const RETRY_WINDOW_IN_BASES: u32 = 120;

/// The most channels, and recipients of one e-mail channel, accepted.
const MAX_CHANNELS: usize = 32;
const MAX_RECIPIENTS: usize = 50;

/// `[notifications]` as written in the settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsFile {
    /// The console's public address, for links back (`CERTDECK_PUBLIC_URL` overrides).
    base_url: Option<String>,
    /// Days before expiry, for teams that set none.
    thresholds: Option<Vec<u32>>,
    /// Channels of pools whose team has no routes (or no team).
    #[serde(default)]
    default_routes: Vec<String>,
    #[serde(default)]
    channels: Vec<ChannelFile>,
    #[serde(default)]
    teams: BTreeMap<String, TeamFile>,
}

/// One `[[notifications.channels]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelFile {
    name: String,
    kind: String,
    url: Option<String>,
    secret: Option<SecretString>,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<SecretString>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    starttls: Option<bool>,
    ca_file: Option<PathBuf>,
}

/// One `[notifications.teams.<team>]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamFile {
    thresholds: Option<Vec<u32>>,
    routes: Option<Vec<String>>,
}

/// `[notifications]`, checked.
#[derive(Debug, Clone)]
pub struct NotificationSettings {
    pub base_url: Option<String>,
    /// Days, most distant first.
    pub thresholds: Vec<u32>,
    pub default_routes: Vec<String>,
    pub channels: Vec<Channel>,
    pub teams: BTreeMap<String, TeamRule>,
    /// The first retry's delay (`CERTDECK_NOTIFY_RETRY_BASE_MS`).
    pub retry_base: Duration,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            base_url: None,
            thresholds: DEFAULT_THRESHOLDS.to_vec(),
            default_routes: Vec::new(),
            channels: Vec::new(),
            teams: BTreeMap::new(),
            retry_base: DEFAULT_RETRY_BASE,
        }
    }
}

/// A team's own thresholds and routes (`None`: the defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamRule {
    pub thresholds: Option<Vec<u32>>,
    pub routes: Option<Vec<String>>,
}

/// One channel.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
}

#[derive(Debug, Clone)]
pub enum ChannelKind {
    /// JSON body signed with HMAC-SHA256 of `secret` (`X-Certdeck-Signature`).
    Webhook {
        url: String,
        secret: SecretString,
    },
    /// A Slack-compatible incoming webhook: `{"text": …}`. Its URL is its credential.
    Slack {
        url: SecretString,
    },
    Email(EmailChannel),
}

/// An SMTP server and who gets the mail.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub to: Vec<String>,
    /// STARTTLS required (the default); `false` only with an explicit `starttls = false`.
    pub starttls: bool,
    /// An extra trust root for the server's certificate.
    pub ca_file: Option<PathBuf>,
}

impl ChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Webhook { .. } => "webhook",
            ChannelKind::Slack { .. } => "slack",
            ChannelKind::Email(_) => "email",
        }
    }

    /// Where it sends, without secrets (an incoming webhook's path is one: only the
    /// host is shown).
    pub fn target(&self) -> String {
        let host_of = |url: &str| {
            url.split_once("://")
                .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default().to_owned())
                .unwrap_or_default()
        };
        match self {
            ChannelKind::Webhook { url, .. } => host_of(url),
            ChannelKind::Slack { url } => host_of(url.expose_secret()),
            ChannelKind::Email(email) => format!(
                "{} recipient(s) via {}:{}",
                email.to.len(),
                email.host,
                email.port
            ),
        }
    }
}

/// The rule of `auth::parse_team`: a-z, 0-9, `-` and `_`, 1 to 64 characters.
fn is_team_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_thresholds(days: Vec<u32>, what: &str) -> anyhow::Result<Vec<u32>> {
    anyhow::ensure!(
        !days.is_empty() && days.len() <= 10,
        "{what}: give 1 to 10 thresholds"
    );
    anyhow::ensure!(
        days.iter().all(|d| (1..=365).contains(d)),
        "{what}: thresholds are 1 to 365 days"
    );
    let mut days = days;
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    Ok(days)
}

fn check_url(url: &str, what: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() <= 2048
            && !url.chars().any(char::is_whitespace),
        "{what}: url must be an http(s) address"
    );
    Ok(url.to_owned())
}

impl NotificationSettings {
    /// Checks `[notifications]`: channel names unique, every route names a channel, each
    /// kind has what it needs.
    pub fn parse(file: NotificationsFile) -> anyhow::Result<Self> {
        let mut settings = NotificationSettings {
            base_url: file
                .base_url
                .map(|u| check_url(&u, "base_url").map(|u| u.trim_end_matches('/').to_owned()))
                .transpose()?,
            ..Default::default()
        };
        if let Some(days) = file.thresholds {
            settings.thresholds = check_thresholds(days, "thresholds")?;
        }
        anyhow::ensure!(
            file.channels.len() <= MAX_CHANNELS,
            "at most {MAX_CHANNELS} channels"
        );
        for channel in file.channels {
            let name = channel.name.clone();
            anyhow::ensure!(
                is_team_name(&name),
                "channel name {name:?}: use 1 to 64 lowercase letters, digits, '-' or '_'"
            );
            anyhow::ensure!(
                settings.channels.iter().all(|c| c.name != name),
                "channel {name:?} is given twice"
            );
            let what = format!("channel {name}");
            let kind = match channel.kind.as_str() {
                "webhook" => {
                    let url = check_url(channel.url.as_deref().unwrap_or_default(), &what)?;
                    let secret = channel
                        .secret
                        .filter(|s| s.expose_secret().len() >= 16)
                        .ok_or_else(|| {
                            anyhow::anyhow!(
                                "{what}: a webhook needs a secret of 16 characters or more"
                            )
                        })?;
                    ChannelKind::Webhook { url, secret }
                }
                "slack" => ChannelKind::Slack {
                    url: SecretString::from(check_url(
                        channel.url.as_deref().unwrap_or_default(),
                        &what,
                    )?),
                },
                "email" => {
                    let host = channel
                        .host
                        .filter(|h| !h.is_empty() && h.len() <= 253)
                        .ok_or_else(|| anyhow::anyhow!("{what}: an e-mail channel needs host"))?;
                    let from = channel
                        .from
                        .filter(|f| f.contains('@'))
                        .ok_or_else(|| anyhow::anyhow!("{what}: from must be an address"))?;
                    anyhow::ensure!(
                        (1..=MAX_RECIPIENTS).contains(&channel.to.len())
                            && channel.to.iter().all(|t| t.contains('@')),
                        "{what}: to must list 1 to {MAX_RECIPIENTS} addresses"
                    );
                    anyhow::ensure!(
                        channel.username.is_some() == channel.password.is_some(),
                        "{what}: set both username and password, or neither"
                    );
                    ChannelKind::Email(EmailChannel {
                        host,
                        port: channel.port.unwrap_or(587),
                        username: channel.username,
                        password: channel.password,
                        from,
                        to: channel.to,
                        starttls: channel.starttls.unwrap_or(true),
                        ca_file: channel.ca_file,
                    })
                }
                other => {
                    anyhow::bail!("{what}: kind {other:?} is not one of webhook, slack, email")
                }
            };
            settings.channels.push(Channel { name, kind });
        }
        let known = |routes: &[String], what: &str| -> anyhow::Result<()> {
            for route in routes {
                anyhow::ensure!(
                    settings.channels.iter().any(|c| &c.name == route),
                    "{what}: no channel is named {route:?}"
                );
            }
            Ok(())
        };
        known(&file.default_routes, "default_routes")?;
        settings.default_routes = file.default_routes.clone();
        for (team, rule) in file.teams {
            anyhow::ensure!(is_team_name(&team), "teams.{team}: not a team name");
            let what = format!("teams.{team}");
            if let Some(routes) = &rule.routes {
                known(routes, &what)?;
            }
            let thresholds = rule
                .thresholds
                .map(|d| check_thresholds(d, &what))
                .transpose()?;
            settings.teams.insert(
                team,
                TeamRule {
                    thresholds,
                    routes: rule.routes,
                },
            );
        }
        Ok(settings)
    }

    /// `[notifications]` from TOML text (its keys, without the table header).
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        Self::parse(toml::from_str(text)?)
    }

    /// The thresholds of `team`'s certificates, most distant first.
    pub fn thresholds_of(&self, team: Option<&str>) -> &[u32] {
        team.and_then(|t| self.teams.get(t))
            .and_then(|r| r.thresholds.as_deref())
            .unwrap_or(&self.thresholds)
    }

    /// The channels told about `team`'s pools.
    pub fn routes_of(&self, team: Option<&str>) -> &[String] {
        team.and_then(|t| self.teams.get(t))
            .and_then(|r| r.routes.as_deref())
            .unwrap_or(&self.default_routes)
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The last moment a delivery made at `created_ms` is tried (unix ms).
    pub fn give_up_at(&self, created_ms: i64) -> i64 {
        created_ms + (self.retry_base.as_millis() as i64) * i64::from(RETRY_WINDOW_IN_BASES)
    }

    /// When the attempt after `attempts` failed ones is due (unix ms), or `None` when
    /// the delivery has run out of time.
    pub fn next_attempt(&self, created_ms: i64, attempts: u32, now_ms: i64) -> Option<i64> {
        let base = self.retry_base.as_millis() as i64;
        let delay = base.saturating_mul(1_i64 << attempts.saturating_sub(1).min(30));
        let at = now_ms.saturating_add(delay);
        (at <= self.give_up_at(created_ms)).then_some(at)
    }
}

/// Of `thresholds`, those a certificate with `seconds_left` has crossed, most urgent
/// (fewest days) first: it expires within that many days.
pub fn crossed(thresholds: &[u32], seconds_left: i64) -> Vec<u32> {
    let mut crossed: Vec<u32> = thresholds
        .iter()
        .copied()
        .filter(|days| seconds_left <= i64::from(*days) * 86_400)
        .collect();
    crossed.sort_unstable();
    crossed
}

/// What happened, as every channel is told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `certificate.expiring`, `edge.expiring`, `change.requested`,
    /// `change.approval_needed`, `change.verified`, `change.failed`, `change.timed_out`,
    /// `test`.
    pub kind: String,
    /// One readable line.
    pub summary: String,
    pub domain: Option<String>,
    pub pool_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub team: Option<String>,
    pub certificate_arn: Option<String>,
    pub new_certificate_arn: Option<String>,
    pub serial: Option<String>,
    /// RFC 3339.
    pub not_after: Option<String>,
    pub days_left: Option<i64>,
    pub threshold_days: Option<u32>,
    pub actor: Option<String>,
    pub detail: Option<String>,
    /// Where to look in certdeck (absolute when a base URL is set).
    pub link: Option<String>,
    /// When it happened (RFC 3339).
    pub at: String,
}

/// Slack's `mrkdwn` escapes: only `&`, `<` and `>` are special.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Notification {
    /// The lines below the summary: what it is about.
    fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = Vec::new();
        let mut add = |label: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                facts.push((label, v.clone()));
            }
        };
        add("Domain", &self.domain);
        add("User pool", &self.pool_id);
        add("Account", &self.account);
        add("Region", &self.region);
        add("Team", &self.team);
        add("Certificate", &self.certificate_arn);
        add("New certificate", &self.new_certificate_arn);
        add("Serial", &self.serial);
        add("Expires", &self.not_after);
        add("By", &self.actor);
        add("Detail", &self.detail);
        facts
    }

    /// A Slack-compatible incoming webhook's text: the summary in bold, one fact a line,
    /// and a link back to certdeck.
    pub fn slack_text(&self) -> String {
        let mut text = format!("*{}*", slack_escape(&self.summary));
        for (label, value) in self.facts() {
            text.push_str(&format!("\n{label}: {}", slack_escape(&value)));
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("\n<{}|Open in certdeck>", slack_escape(link)));
        }
        text
    }

    /// An e-mail's subject (one line).
    pub fn mail_subject(&self) -> String {
        let line: String = self
            .summary
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        format!("[certdeck] {line}")
    }

    /// An e-mail's plain-text body.
    pub fn mail_body(&self) -> String {
        let mut body = format!("{}\n\n", self.summary);
        for (label, value) in self.facts() {
            body.push_str(&format!("{label}: {value}\n"));
        }
        if let Some(link) = &self.link {
            body.push_str(&format!("\nOpen in certdeck: {link}\n"));
        }
        body.push_str(&format!("\nSent by certdeck at {}.\n", self.at));
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_most_urgent_crossed_threshold_comes_first() {
        let days = |d: i64| d * 86_400;
        assert_eq!(crossed(&DEFAULT_THRESHOLDS, days(40)), Vec::<u32>::new());
        assert_eq!(crossed(&DEFAULT_THRESHOLDS, days(20)), vec![30]);
        assert_eq!(crossed(&DEFAULT_THRESHOLDS, days(5)), vec![7, 14, 30]);
        assert_eq!(crossed(&DEFAULT_THRESHOLDS, -1), vec![1, 7, 14, 30]);
    }

    #[test]
    fn settings_are_checked() {
        let ok = NotificationSettings::from_toml(
            r#"
base_url = "https://certdeck.example.com/"
default_routes = ["ops"]
[[channels]]
name = "ops"
kind = "webhook"
url = "https://hooks.example.com/certdeck"
secret = "0123456789abcdef0123"
[[channels]]
name = "chat"
kind = "slack"
url = "https://hooks.slack.example/services/T0/B0/slack-very-secret"
[[channels]]
name = "mail"
kind = "email"
host = "smtp.example.com"
from = "certdeck@example.com"
to = ["platform@example.com"]
[teams.platform]
thresholds = [10, 3, 10]
routes = ["mail", "ops"]
"#,
        )
        .unwrap();
        assert_eq!(ok.base_url.as_deref(), Some("https://certdeck.example.com"));
        assert_eq!(ok.thresholds_of(Some("platform")), [10, 3]);
        assert_eq!(ok.thresholds_of(Some("other")), DEFAULT_THRESHOLDS);
        assert_eq!(ok.routes_of(None), ["ops"]);
        assert_eq!(ok.routes_of(Some("platform")), ["mail", "ops"]);
        let ChannelKind::Email(mail) = &ok.channel("mail").unwrap().kind else {
            panic!("an e-mail channel");
        };
        assert!(mail.starttls, "STARTTLS is required unless turned off");
        assert_eq!(mail.port, 587);
        let shown = format!("{ok:?}");
        assert!(!shown.contains("0123456789abcdef0123") && !shown.contains("slack-very-secret"));
        assert_eq!(
            ok.channel("chat").unwrap().kind.target(),
            "hooks.slack.example"
        );

        let refused = |text: &str| {
            NotificationSettings::from_toml(text)
                .unwrap_err()
                .to_string()
        };
        assert!(refused("default_routes = [\"nowhere\"]").contains("no channel"));
        assert!(
            refused("[[channels]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"https://x\"\n")
                .contains("secret")
        );
        assert!(refused("[[channels]]\nname = \"a\"\nkind = \"pager\"\n").contains("kind"));
        assert!(refused("thresholds = [0]").contains("1 to 365"));
        assert!(NotificationSettings::from_toml("typo = 1").is_err());
    }

    #[test]
    fn retries_back_off_for_up_to_the_window() {
        let settings = NotificationSettings::default();
        let base = 30_000;
        assert_eq!(settings.next_attempt(0, 1, 0), Some(base));
        assert_eq!(settings.next_attempt(0, 3, 0), Some(4 * base));
        assert_eq!(settings.give_up_at(0), 3_600_000);
        assert_eq!(settings.next_attempt(0, 8, 3_000_000), None);
    }

    #[test]
    fn slack_text_is_escaped_and_links_back() {
        let n = Notification {
            kind: "certificate.expiring".into(),
            summary: "The certificate of a<b>.test & co expires".into(),
            domain: Some("auth.example.com".into()),
            link: Some("https://certdeck.example.com/pools/p1".into()),
            ..Default::default()
        };
        let text = n.slack_text();
        assert!(text.starts_with("*The certificate of a&lt;b&gt;.test &amp; co expires*"));
        assert!(text.contains("\nDomain: auth.example.com"));
        assert!(text.ends_with("<https://certdeck.example.com/pools/p1|Open in certdeck>"));
    }
}
