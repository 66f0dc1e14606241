//! ACM reads, always in us-east-1 (the only region CloudFront takes certificates from).

use aws_sdk_acm::types::{Filters, KeyAlgorithm};

use super::model::{AwsValue, CertificateSummary};
use super::{AwsClients, AwsError, Category};
use crate::domain::CLOUDFRONT_CERTIFICATE_REGION;

impl AwsClients {
    /// Every us-east-1 certificate. ListCertificates lists only RSA_1024 and RSA_2048
    /// certificates unless told otherwise, so every key type is asked for.
    pub async fn list_certificates(&self) -> Result<Vec<CertificateSummary>, AwsError> {
        let every_key_type = Filters::builder()
            .set_key_types(Some(
                KeyAlgorithm::values()
                    .iter()
                    .map(|k| KeyAlgorithm::from(*k))
                    .collect(),
            ))
            .build();
        let mut certificates = Vec::new();
        let mut next_token = None;
        loop {
            self.pace(CLOUDFRONT_CERTIFICATE_REGION, Category::AcmList)
                .await?;
            let page = self
                .acm
                .list_certificates()
                .includes(every_key_type.clone())
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
                })
            }));
            next_token = page.next_token().map(str::to_owned);
            if next_token.is_none() {
                return Ok(certificates);
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
            },
            serial: c.serial().map(str::to_owned),
            issuer: c.issuer().map(str::to_owned),
            subject: c.subject().map(str::to_owned),
        })
    }
}
