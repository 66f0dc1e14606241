//! ACM reads, always in us-east-1 (the only region CloudFront takes certificates from).

use aws_sdk_acm::types::{CertificateKeyPairOrigin, Filters, KeyAlgorithm};
use futures_util::StreamExt;

use super::model::{AwsValue, CertificateSummary};
use super::{AwsClients, AwsError, Category};
use crate::domain::{CLOUDFRONT_CERTIFICATE_REGION, KeyPairOrigin};

/// DescribeCertificate calls in flight at once while the inventory reads what uses each
/// certificate. Few on purpose: each holds a slot of the shared DescribeCertificate
/// quota, and a person's own DescribeCertificate (the confirmation page) must find a
/// slot well within `INTERACTIVE_MAX_WAIT` behind them.
const DETAIL_CONCURRENCY: usize = 4;

impl AwsClients {
    /// Every us-east-1 certificate, and for each one in use, what uses it and how its
    /// renewal goes (DescribeCertificate; a certificate not in use is used by nothing).
    ///
    /// ListCertificates lists only RSA_1024 and RSA_2048 certificates unless told
    /// otherwise, so every key type is asked for; and since 2026-06-30 it leaves
    /// ACME-issued certificates out unless asked, so every key pair origin is too.
    pub async fn list_certificates(&self) -> Result<Vec<CertificateSummary>, AwsError> {
        let every_key_type = Filters::builder()
            .set_key_types(Some(
                KeyAlgorithm::values()
                    .iter()
                    .map(|k| KeyAlgorithm::from(*k))
                    .collect(),
            ))
            .build();
        let every_origin: Vec<CertificateKeyPairOrigin> = KeyPairOrigin::ALL
            .iter()
            .map(|o| CertificateKeyPairOrigin::from(o.as_str()))
            .collect();
        let mut certificates = Vec::new();
        let mut next_token = None;
        loop {
            self.pace(CLOUDFRONT_CERTIFICATE_REGION, Category::AcmList)
                .await?;
            let page = self
                .acm
                .list_certificates()
                .includes(every_key_type.clone())
                .set_certificate_key_pair_origins(Some(every_origin.clone()))
                .max_items(1000)
                .set_next_token(next_token)
                .send()
                .await
                .map_err(AwsError::from_sdk)?;
            certificates.extend(page.certificate_summary_list().iter().filter_map(|c| {
                Some(CertificateSummary {
                    arn: c.certificate_arn()?.to_owned(),
                    domain_name: c.domain_name().map(str::to_owned),
                    names: c.subject_alternative_name_summaries().to_vec(),
                    more_names: c
                        .has_additional_subject_alternative_names()
                        .unwrap_or(false),
                    status: c.status().map(|s| AwsValue::parse(s.as_str())),
                    certificate_type: c.r#type().map(|t| AwsValue::parse(t.as_str())),
                    key_algorithm: c.key_algorithm().map(|k| AwsValue::parse(k.as_str())),
                    not_before: c.not_before().and_then(to_offset),
                    not_after: c.not_after().and_then(to_offset),
                    in_use: c.in_use(),
                    origin: c
                        .certificate_key_pair_origin()
                        .map(|o| AwsValue::parse(o.as_str())),
                    managed_by: c.managed_by().map(|m| AwsValue::parse(m.as_str())),
                    renewal_eligibility: c
                        .renewal_eligibility()
                        .map(|r| AwsValue::parse(r.as_str())),
                    renewal_status: None,
                    // Nothing uses a certificate ACM says is not in use.
                    in_use_by: (c.in_use() == Some(false)).then(Vec::new),
                })
            }));
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                break;
            }
        }
        self.add_use_and_renewal(&mut certificates).await;
        Ok(certificates)
    }

    /// Reads InUseBy and the renewal status of every certificate in use. A failed read
    /// leaves them unknown: the list itself stays good.
    async fn add_use_and_renewal(&self, certificates: &mut [CertificateSummary]) {
        // Owned values in each future: borrowed ones make the stream's future not `Send`
        // for every lifetime, which `tokio::spawn` needs.
        let in_use: Vec<(usize, String, AwsClients)> = certificates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.in_use == Some(true))
            .map(|(i, c)| (i, c.arn.clone(), self.clone()))
            .collect();
        let details = futures_util::stream::iter(in_use)
            .map(|(i, arn, aws)| async move { (i, aws.describe_certificate(&arn).await) })
            .buffer_unordered(DETAIL_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        for (i, detail) in details {
            let certificate = &mut certificates[i];
            match detail {
                Ok(detail) => {
                    certificate.renewal_status = detail.summary.renewal_status;
                    certificate.in_use_by = detail.summary.in_use_by;
                    if certificate.renewal_eligibility.is_none() {
                        certificate.renewal_eligibility = detail.summary.renewal_eligibility;
                    }
                    // The full list of names came with it.
                    if certificate.more_names {
                        certificate.names = detail.summary.names;
                        certificate.more_names = false;
                    }
                }
                Err(e) => tracing::warn!(
                    certificate = certificate.arn,
                    error = %e,
                    "what uses the certificate could not be read"
                ),
            }
        }
    }

    /// Every name of a certificate (for one whose summary lists only the first 100).
    pub async fn certificate_names(&self, arn: &str) -> Result<Vec<String>, AwsError> {
        Ok(self.describe_certificate(arn).await?.summary.names)
    }
}

fn to_offset(at: &aws_sdk_acm::primitives::DateTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(at.secs()).ok()
}

/// A certificate as DescribeCertificate gives it.
#[derive(Debug, Clone)]
pub struct CertificateDetail {
    pub summary: CertificateSummary,
    /// ACM's text of the serial: compare it as a number (`domain::same_serial`).
    pub serial: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

impl AwsClients {
    /// One us-east-1 certificate, read fresh.
    pub async fn describe_certificate(&self, arn: &str) -> Result<CertificateDetail, AwsError> {
        self.pace(CLOUDFRONT_CERTIFICATE_REGION, Category::AcmDescribe)
            .await?;
        let out = self
            .acm
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .map_err(AwsError::from_sdk)?;
        let c = out.certificate().ok_or_else(|| {
            AwsError::Transport("DescribeCertificate returned no certificate".into())
        })?;
        Ok(CertificateDetail {
            summary: CertificateSummary {
                arn: c.certificate_arn().unwrap_or(arn).to_owned(),
                domain_name: c.domain_name().map(str::to_owned),
                names: c.subject_alternative_names().to_vec(),
                more_names: false,
                status: c.status().map(|s| AwsValue::parse(s.as_str())),
                certificate_type: c.r#type().map(|t| AwsValue::parse(t.as_str())),
                // DescribeCertificate spells it RSA-2048; both read as the same value.
                key_algorithm: c.key_algorithm().map(|k| AwsValue::parse(k.as_str())),
                not_before: c.not_before().and_then(to_offset),
                not_after: c.not_after().and_then(to_offset),
                in_use: Some(!c.in_use_by().is_empty()),
                origin: c
                    .certificate_key_pair_origin()
                    .map(|o| AwsValue::parse(o.as_str())),
                managed_by: c.managed_by().map(|m| AwsValue::parse(m.as_str())),
                renewal_eligibility: c.renewal_eligibility().map(|r| AwsValue::parse(r.as_str())),
                renewal_status: c
                    .renewal_summary()
                    .map(|r| AwsValue::parse(r.renewal_status().as_str())),
                in_use_by: Some(c.in_use_by().to_vec()),
            },
            serial: c.serial().map(str::to_owned),
            issuer: c.issuer().map(str::to_owned),
            subject: c.subject().map(str::to_owned),
        })
    }
}
