//! The TLS probe: a handshake with SNI = the custom domain, against the distribution
//! (or `CERTDECK_EDGE_ADDR`), reading the leaf certificate the edge serves.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;

const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How a served certificate's expiry is shown (`Mar  1 12:00:00 2027 GMT`).
const NOT_AFTER_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
);

/// What the edge served.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServedCertificate {
    /// ACM's spelling: lowercase hex bytes separated by colons.
    pub serial: String,
    pub subject: String,
    pub not_after: String,
    /// The same expiry in unix seconds.
    #[serde(skip)]
    pub not_after_unix: i64,
}

/// Why a probe saw no valid certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum ProbeError {
    #[error("the connection was refused: {0}")]
    Refused(String),
    #[error("the edge answered with a TLS alert: {0}")]
    TlsAlert(String),
    #[error("the served certificate does not name the domain: {0}")]
    WrongName(String),
    #[error("the served certificate is not trusted: {0}")]
    Untrusted(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("the probe failed: {0}")]
    Other(String),
}

impl ProbeError {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeError::Refused(_) => "refused",
            ProbeError::TlsAlert(_) => "TLS alert",
            ProbeError::WrongName(_) => "wrong name",
            ProbeError::Untrusted(_) => "untrusted",
            ProbeError::Timeout(_) => "timeout",
            ProbeError::Other(_) => "error",
        }
    }
}

/// Probes the edge; built once with its trust roots.
#[derive(Clone)]
pub struct Probe {
    connector: tokio_rustls::TlsConnector,
    /// Where to connect instead of the distribution (the sandbox edge).
    edge_addr: Option<String>,
}

impl Probe {
    /// Trusts the public roots, plus `extra_ca` (PEM) when given.
    pub fn new(edge_addr: Option<String>, extra_ca: Option<&Path>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = extra_ca {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(certificate.context("a certificate of the edge CA file")?)
                    .context("adding the edge CA")?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            edge_addr,
        })
    }

    /// One handshake to `distribution` (port 443) with SNI = `domain`.
    pub async fn probe(
        &self,
        domain: &str,
        distribution: Option<&str>,
    ) -> Result<ServedCertificate, ProbeError> {
        match tokio::time::timeout(PROBE_TIMEOUT, self.handshake(domain, distribution)).await {
            Ok(result) => result,
            Err(_) => Err(ProbeError::Timeout(PROBE_TIMEOUT.as_secs())),
        }
    }

    async fn handshake(
        &self,
        domain: &str,
        distribution: Option<&str>,
    ) -> Result<ServedCertificate, ProbeError> {
        let target = match (&self.edge_addr, distribution) {
            (Some(edge), _) => edge.clone(),
            (None, Some(distribution)) => format!("{distribution}:443"),
            (None, None) => {
                return Err(ProbeError::Other(
                    "AWS reported no CloudFront distribution".into(),
                ));
            }
        };
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host(&target)
            .await
            .map_err(|e| ProbeError::Other(format!("cannot resolve {target}: {e}")))?
            .collect();
        let address = addresses
            .first()
            .ok_or_else(|| ProbeError::Other(format!("{target} has no address")))?;
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| ProbeError::Refused(format!("{target}: {e}")))?;
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| ProbeError::Other(e.to_string()))?;
        let tls = self
            .connector
            .connect(name, stream)
            .await
            .map_err(classify)?;
        let (_, session) = tls.get_ref();
        let leaf: &CertificateDer<'_> = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or_else(|| ProbeError::Other("the edge sent no certificate".into()))?;
        describe_leaf(leaf)
    }
}

fn classify(error: std::io::Error) -> ProbeError {
    let message = error.to_string();
    let inner = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::AlertReceived(alert)) => ProbeError::TlsAlert(format!("{alert:?}")),
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
        | Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForNameContext { .. },
        )) => ProbeError::WrongName(message),
        Some(rustls::Error::InvalidCertificate(_)) => ProbeError::Untrusted(message),
        _ => ProbeError::Other(message),
    }
}

fn describe_leaf(leaf: &CertificateDer<'_>) -> Result<ServedCertificate, ProbeError> {
    let (_, certificate) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| ProbeError::Other(format!("unreadable certificate: {e}")))?;
    // The serial as an unsigned number's bytes (no leading zero byte), as ACM's is.
    let serial = certificate.tbs_certificate.serial.to_bytes_be();
    let subject = certificate.subject().to_string();
    let not_after_unix = certificate.validity().not_after.timestamp();
    let not_after = certificate
        .validity()
        .not_after
        .to_datetime()
        .format(NOT_AFTER_FORMAT)
        .unwrap_or_else(|_| certificate.validity().not_after.to_string());
    Ok(ServedCertificate {
        serial: crate::domain::format_serial(&serial),
        subject,
        not_after,
        not_after_unix,
    })
}
