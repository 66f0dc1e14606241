//! The TLS edge: answers, per SNI, with the certificate each custom domain has actually
//! been distributed with. Unknown names get a TLS alert.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{Shared, pki};

/// Serves TLS on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let resolver = Arc::new(EdgeResolver {
        shared,
        keys: Mutex::new(HashMap::new()),
    });
    let config = match rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    {
        Ok(builder) => builder.with_no_client_auth().with_cert_resolver(resolver),
        Err(e) => {
            tracing::error!(error = %e, "the edge cannot build its TLS configuration");
            return;
        }
    };
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(stream).await else {
                return;
            };
            // Enough of HTTP for curl and browsers: read the request, answer, close.
            let mut buffer = [0u8; 4096];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), tls.read(&mut buffer))
                .await;
            let body = "certdeck sandbox edge\n";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(response.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}

struct EdgeResolver {
    shared: Arc<Shared>,
    /// Built keys by certificate ARN and serial (a re-import changes the serial).
    keys: Mutex<HashMap<(String, String), Arc<CertifiedKey>>>,
}

impl fmt::Debug for EdgeResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EdgeResolver")
    }
}

impl ResolvesServerCert for EdgeResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = client_hello.server_name()?.to_ascii_lowercase();
        let (cache_key, certificate_pem, chain_pem, key_pem) = {
            let mut world = self.shared.lock_world().ok()?;
            world.settle(OffsetDateTime::now_utc());
            // Every account's custom domains: CloudFront aliases are global.
            let arn = world
                .find_custom_domain(&sni)?
                .1
                .custom
                .as_ref()?
                .served_arn
                .clone()?;
            let certificate = world.certificate(&arn)?;
            (
                (arn, certificate.serial.clone()),
                certificate.certificate_pem.clone(),
                certificate
                    .chain_pem
                    .clone()
                    .unwrap_or_else(|| self.shared.ca.certificate_pem().to_owned()),
                certificate.private_key_pem.clone(),
            )
        };
        let mut keys = self.keys.lock().ok()?;
        if let Some(key) = keys.get(&cache_key) {
            return Some(key.clone());
        }
        let key = certified_key(&certificate_pem, &chain_pem, &key_pem)
            .inspect_err(
                |e| tracing::warn!(error = %e, sni, "the edge cannot serve this certificate"),
            )
            .ok()?;
        keys.insert(cache_key, key.clone());
        Some(key)
    }
}

fn certified_key(
    certificate_pem: &str,
    chain_pem: &str,
    key_pem: &str,
) -> anyhow::Result<Arc<CertifiedKey>> {
    let mut chain: Vec<CertificateDer<'static>> =
        pki::pem_to_der_chain(certificate_pem.as_bytes())?
            .into_iter()
            .map(CertificateDer::from)
            .collect();
    chain.extend(
        pki::pem_to_der_chain(chain_pem.as_bytes())?
            .into_iter()
            .map(CertificateDer::from),
    );
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki::pem_key_to_pkcs8_der(
        key_pem.as_bytes(),
    )?));
    let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key)?;
    Ok(Arc::new(CertifiedKey::new(chain, signing_key)))
}
