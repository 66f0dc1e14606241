//! The sandbox's certificate authority: real X.509 for every certificate it holds, so
//! that the edge serves what a browser or a TLS probe can check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509NameBuilder, X509Ref};
use time::OffsetDateTime;

use crate::model::KeyAlgorithm;

/// The self-signed root every sandbox certificate chains to.
pub struct CertificateAuthority {
    certificate: X509,
    key: PKey<Private>,
    certificate_pem: String,
    /// Counts issued leaves; it picks each serial's high and low bit, so that any four
    /// certificates issued in a row show every text form of `model::acm_serial_text`.
    issued: AtomicU64,
}

/// What a new leaf certificate says.
pub struct LeafSpec<'a> {
    pub names: &'a [String],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A leaf certificate and its key, PEM-encoded, as ACM would hold them.
#[derive(Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub private_key_pem: String,
}

/// What the sandbox reads out of a certificate (issued or imported).
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub names: Vec<String>,
    pub key_algorithm: KeyAlgorithm,
    pub signature_algorithm: String,
}

impl CertificateAuthority {
    /// A fresh CA (EC P-256, ten years).
    pub fn generate() -> anyhow::Result<Self> {
        let key = PKey::from_ec_key(EcKey::generate(
            EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?.as_ref(),
        )?)?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "certdeck sandbox")?;
        name.append_entry_by_nid(Nid::COMMONNAME, "certdeck sandbox CA")?;
        let name = name.build();
        let now = OffsetDateTime::now_utc();
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial(0)?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        let not_before = asn1_time(now - time::Duration::days(1))?;
        let not_after = asn1_time(now + time::Duration::days(3650))?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        let certificate = builder.build();
        let certificate_pem = String::from_utf8(certificate.to_pem()?)?;
        Ok(Self {
            certificate,
            key,
            certificate_pem,
            issued: AtomicU64::new(0),
        })
    }

    /// The CA certificate, PEM: the trust root for clients of the edge.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Issues a leaf for `spec.names` (the first is the subject's CN) with a key of
    /// `algorithm`.
    pub fn issue(
        &self,
        spec: &LeafSpec<'_>,
        algorithm: KeyAlgorithm,
    ) -> anyhow::Result<IssuedCertificate> {
        let key = shared_key(algorithm)?;
        let first = spec.names.first().context("a certificate needs a name")?;
        let mut subject = X509NameBuilder::new()?;
        subject.append_entry_by_nid(Nid::COMMONNAME, first)?;
        let subject = subject.build();
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = random_serial(self.issued.fetch_add(1, Ordering::Relaxed))?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&subject)?;
        builder.set_issuer_name(self.certificate.subject_name())?;
        builder.set_pubkey(&key)?;
        let not_before = asn1_time(spec.not_before)?;
        let not_after = asn1_time(spec.not_after)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.append_extension(BasicConstraints::new().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        builder.append_extension(
            ExtendedKeyUsage::new()
                .server_auth()
                .client_auth()
                .build()?,
        )?;
        let mut san = SubjectAlternativeName::new();
        for name in spec.names {
            san.dns(name);
        }
        let context = builder.x509v3_context(Some(&self.certificate), None);
        let san = san.build(&context)?;
        let aki = AuthorityKeyIdentifier::new().keyid(false).build(&context)?;
        builder.append_extension(san)?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        let certificate = builder.build();
        Ok(IssuedCertificate {
            certificate_pem: String::from_utf8(certificate.to_pem()?)?,
            private_key_pem: String::from_utf8(key.private_key_to_pem_pkcs8()?)?,
        })
    }
}

/// One key per algorithm for the whole process: RSA-4096 generation takes a second and
/// the sandbox's certificates need distinct serials, not distinct keys.
fn shared_key(algorithm: KeyAlgorithm) -> anyhow::Result<PKey<Private>> {
    static KEYS: OnceLock<Mutex<HashMap<KeyAlgorithm, PKey<Private>>>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys
        .lock()
        .map_err(|_| anyhow::anyhow!("key cache poisoned"))?;
    if let Some(key) = keys.get(&algorithm) {
        return Ok(key.clone());
    }
    let key = generate_key(algorithm)?;
    keys.insert(algorithm, key.clone());
    Ok(key)
}

/// A new private key of `algorithm`.
pub fn generate_key(algorithm: KeyAlgorithm) -> anyhow::Result<PKey<Private>> {
    let rsa = |bits| -> anyhow::Result<PKey<Private>> { Ok(PKey::from_rsa(Rsa::generate(bits)?)?) };
    let ec = |nid| -> anyhow::Result<PKey<Private>> {
        Ok(PKey::from_ec_key(EcKey::generate(
            EcGroup::from_curve_name(nid)?.as_ref(),
        )?)?)
    };
    match algorithm {
        KeyAlgorithm::Rsa1024 => rsa(1024),
        KeyAlgorithm::Rsa2048 => rsa(2048),
        KeyAlgorithm::Rsa3072 => rsa(3072),
        KeyAlgorithm::Rsa4096 => rsa(4096),
        KeyAlgorithm::EcPrime256v1 => ec(Nid::X9_62_PRIME256V1),
        KeyAlgorithm::EcSecp384r1 => ec(Nid::SECP384R1),
        KeyAlgorithm::EcSecp521r1 => ec(Nid::SECP521R1),
    }
}

/// Reads the facts ACM reports out of a PEM certificate.
pub fn inspect_certificate(pem: &[u8]) -> Result<CertificateInfo, String> {
    let certificate = X509::from_pem(pem).map_err(|_| "the certificate is not valid PEM X.509")?;
    inspect(&certificate)
}

fn inspect(certificate: &X509Ref) -> Result<CertificateInfo, String> {
    let fail = |what: &str| format!("cannot read the certificate's {what}");
    let public_key = certificate.public_key().map_err(|_| fail("public key"))?;
    let key_algorithm = key_algorithm_of(&public_key).ok_or_else(|| fail("key algorithm"))?;
    let mut names: Vec<String> = certificate
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let common_name = certificate
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok());
    if names.is_empty()
        && let Some(cn) = &common_name
    {
        names.push(cn.clone());
    }
    let serial = certificate
        .serial_number()
        .to_bn()
        .map(|bn| bn.to_vec())
        .map_err(|_| fail("serial"))?;
    Ok(CertificateInfo {
        subject: format_name(certificate.subject_name()),
        issuer: format_name(certificate.issuer_name()),
        serial: format_serial(&serial),
        not_before: offset_time(certificate.not_before()).ok_or_else(|| fail("NotBefore"))?,
        not_after: offset_time(certificate.not_after()).ok_or_else(|| fail("NotAfter"))?,
        names,
        key_algorithm,
        signature_algorithm: certificate
            .signature_algorithm()
            .object()
            .nid()
            .short_name()
            .unwrap_or("unknown")
            .to_uppercase(),
    })
}

/// Whether `private_key_pem` is the private half of the certificate's public key.
pub fn key_matches(certificate_pem: &[u8], private_key_pem: &[u8]) -> Result<bool, String> {
    let certificate =
        X509::from_pem(certificate_pem).map_err(|_| "the certificate is not valid PEM X.509")?;
    let key = PKey::private_key_from_pem(private_key_pem)
        .map_err(|_| "the private key is not a valid PEM key (PKCS#1, PKCS#8 or SEC1)")?;
    let public = certificate
        .public_key()
        .map_err(|_| "cannot read the certificate's public key")?;
    Ok(public.public_eq(&key))
}

/// Converts PEM into DER certificates (for the TLS edge).
pub fn pem_to_der_chain(pem: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    X509::stack_from_pem(pem)?
        .iter()
        .map(|c| Ok(c.to_der()?))
        .collect()
}

/// Converts a PEM private key into PKCS#8 DER (for the TLS edge).
pub fn pem_key_to_pkcs8_der(pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    Ok(PKey::private_key_from_pem(pem)?.private_key_to_pkcs8()?)
}

pub use crate::model::format_serial;

fn key_algorithm_of(key: &PKey<openssl::pkey::Public>) -> Option<KeyAlgorithm> {
    match key.id() {
        Id::RSA => match key.bits() {
            1024 => Some(KeyAlgorithm::Rsa1024),
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        },
        Id::EC => match key.ec_key().ok()?.group().curve_name()? {
            Nid::X9_62_PRIME256V1 => Some(KeyAlgorithm::EcPrime256v1),
            Nid::SECP384R1 => Some(KeyAlgorithm::EcSecp384r1),
            Nid::SECP521R1 => Some(KeyAlgorithm::EcSecp521r1),
            _ => None,
        },
        _ => None,
    }
}

fn format_name(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .filter_map(|e| {
            let key = e.object().nid().short_name().ok()?;
            let value = e.data().to_string().ok()?;
            Some(format!("{key}={value}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A random positive 16-byte serial. As with real CAs, about half of the serials have
/// their high bit set (their DER encoding then carries a leading zero byte, which ACM's
/// text form may show); here `sequence` decides it — bit 0 of the sequence sets the
/// serial's high bit, bit 1 its lowest bit — so that every form occurs among any four
/// certificates issued in a row.
fn random_serial(sequence: u64) -> anyhow::Result<Asn1Integer> {
    let mut serial = BigNum::new()?;
    if sequence & 1 == 1 {
        // 128 bits with the top one set: the first byte is 0x80..=0xff.
        serial.rand(128, MsbOption::ONE, false)?;
    } else {
        // 127 bits with the top one set: the first byte is 0x40..=0x7f, still 16 bytes.
        serial.rand(127, MsbOption::ONE, false)?;
    }
    let odd = serial.is_bit_set(0);
    if (sequence >> 1) & 1 == 1 && !odd {
        serial.set_bit(0)?;
    } else if (sequence >> 1) & 1 == 0 && odd {
        serial.clear_bit(0)?;
    }
    Ok(serial.to_asn1_integer()?)
}

fn asn1_time(at: OffsetDateTime) -> anyhow::Result<Asn1Time> {
    Ok(Asn1Time::from_unix(at.unix_timestamp())?)
}

fn offset_time(at: &openssl::asn1::Asn1TimeRef) -> Option<OffsetDateTime> {
    let epoch = Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(at).ok()?;
    let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_read_back() {
        let ca = CertificateAuthority::generate().unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let names = vec!["auth.example.com".to_owned(), "*.example.com".to_owned()];
        let spec = LeafSpec {
            names: &names,
            not_before: now,
            not_after: now + time::Duration::days(90),
        };
        for algorithm in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::EcPrime256v1,
            KeyAlgorithm::EcSecp384r1,
        ] {
            let issued = ca.issue(&spec, algorithm).unwrap();
            let info = inspect_certificate(issued.certificate_pem.as_bytes()).unwrap();
            assert_eq!(info.names, names);
            assert_eq!(info.key_algorithm, algorithm);
            assert_eq!(info.not_before, now);
            assert_eq!(info.not_after, now + time::Duration::days(90));
            assert_eq!(info.subject, "CN=auth.example.com");
            assert!(info.issuer.contains("certdeck sandbox CA"));
            assert!(info.serial.split(':').all(|b| b.len() == 2));
            assert!(
                key_matches(
                    issued.certificate_pem.as_bytes(),
                    issued.private_key_pem.as_bytes()
                )
                .unwrap()
            );
        }
        let other = generate_key(KeyAlgorithm::Rsa2048).unwrap();
        let issued = ca.issue(&spec, KeyAlgorithm::EcPrime256v1).unwrap();
        assert!(
            !key_matches(
                issued.certificate_pem.as_bytes(),
                &other.private_key_to_pem_pkcs8().unwrap()
            )
            .unwrap()
        );
    }

    #[test]
    fn four_certificates_in_a_row_show_every_serial_form() {
        let ca = CertificateAuthority::generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let names = vec!["auth.example.com".to_owned()];
        let spec = LeafSpec {
            names: &names,
            not_before: now,
            not_after: now + time::Duration::days(1),
        };
        let forms: std::collections::HashSet<(bool, bool)> = (0..4)
            .map(|_| {
                let issued = ca.issue(&spec, KeyAlgorithm::EcPrime256v1).unwrap();
                let serial = inspect_certificate(issued.certificate_pem.as_bytes())
                    .unwrap()
                    .serial;
                let bytes: Vec<u8> = serial
                    .split(':')
                    .map(|b| u8::from_str_radix(b, 16).unwrap())
                    .collect();
                assert_eq!(bytes.len(), 16, "{serial}");
                (bytes[0] & 0x80 != 0, bytes[15] & 1 == 1)
            })
            .collect();
        assert_eq!(forms.len(), 4);
    }
}
