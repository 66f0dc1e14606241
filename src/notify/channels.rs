//! Sending one notification to one channel: a signed JSON webhook, a Slack-compatible
//! incoming webhook, or an e-mail over SMTP with STARTTLS (`lettre`, on rustls).

use std::time::Duration;

use anyhow::Context;
use hmac::{KeyInit, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::domain::notification::{Channel, ChannelKind, EmailChannel, Notification};

/// The longest one attempt may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of an answer's body kept as the error of a failed attempt.
const ERROR_BYTES: usize = 300;

/// The header carrying a webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Certdeck-Signature";

/// `sha256=<hex HMAC-SHA256 of body with secret>`.
pub fn signature(secret: &SecretString, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("the webhook secret: {e}"))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// A channel ready to send.
pub enum Sender {
    Webhook {
        http: reqwest::Client,
        url: String,
        secret: SecretString,
    },
    Slack {
        http: reqwest::Client,
        url: SecretString,
    },
    Email {
        /// Boxed: a transport is much larger than the other variants.
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: Mailbox,
        to: Vec<Mailbox>,
    },
}

impl Sender {
    /// Builds the sender of `channel` (addresses parsed, the CA file read): a channel
    /// that cannot be built stops the console at start.
    pub fn new(channel: &Channel, http: &reqwest::Client) -> anyhow::Result<Self> {
        Ok(match &channel.kind {
            ChannelKind::Webhook { url, secret } => Sender::Webhook {
                http: http.clone(),
                url: url.clone(),
                secret: secret.clone(),
            },
            ChannelKind::Slack { url } => Sender::Slack {
                http: http.clone(),
                url: url.clone(),
            },
            ChannelKind::Email(email) => email_sender(email)
                .with_context(|| format!("notification channel {}", channel.name))?,
        })
    }

    /// One attempt; the error says why it failed, briefly.
    pub async fn send(&self, notification: &Notification) -> Result<(), String> {
        match self {
            Sender::Webhook { http, url, secret } => {
                let body = serde_json::to_vec(notification).map_err(|e| e.to_string())?;
                let signature = signature(secret, &body).map_err(|e| e.to_string())?;
                let request = http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, signature)
                    .body(body);
                post(request).await
            }
            Sender::Slack { http, url } => {
                let body = serde_json::json!({ "text": notification.slack_text() });
                post(http.post(url.expose_secret()).json(&body)).await
            }
            Sender::Email {
                transport,
                from,
                to,
            } => {
                let mut message = Message::builder()
                    .from(from.clone())
                    .subject(notification.mail_subject());
                for recipient in to {
                    message = message.to(recipient.clone());
                }
                let message = message
                    .header(ContentType::TEXT_PLAIN)
                    .body(notification.mail_body())
                    .map_err(|e| format!("the mail could not be built: {e}"))?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
        }
    }
}

async fn post(request: reqwest::RequestBuilder) -> Result<(), String> {
    let response = request.send().await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(format!(
        "answered {status}: {}",
        crate::domain::text::truncate_bytes(body.trim(), ERROR_BYTES)
    ))
}

fn email_sender(email: &EmailChannel) -> anyhow::Result<Sender> {
    let from: Mailbox = email
        .from
        .parse()
        .with_context(|| format!("from {:?} is not an address", email.from))?;
    let to = email
        .to
        .iter()
        .map(|t| {
            t.parse::<Mailbox>()
                .with_context(|| format!("to {t:?} is not an address"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.host)
        .port(email.port)
        .timeout(Some(SEND_TIMEOUT));
    if email.starttls {
        let mut tls = TlsParameters::builder(email.host.clone());
        if let Some(path) = &email.ca_file {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading ca_file {}", path.display()))?;
            tls =
                tls.add_root_certificate(Certificate::from_pem(&pem).with_context(|| {
                    format!("ca_file {} is not a PEM certificate", path.display())
                })?);
        }
        builder = builder.tls(Tls::Required(
            tls.build_rustls().context("configuring STARTTLS")?,
        ));
    } else {
        builder = builder.tls(Tls::None);
    }
    if let (Some(username), Some(password)) = (&email.username, &email.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(Sender::Email {
        transport: Box::new(builder.build()),
        from,
        to,
    })
}

/// The HTTP client of the webhooks: no redirects (a redirect could point the console at
/// anything), bounded time.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(SEND_TIMEOUT)
        .build()
        .context("building the notifications' HTTP client")
}
