//! ACM certificates, as `CertificateManager.*`, per region.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::model::{
    CertificateStatus, CertificateType, KeyAlgorithm, KeyPairOrigin, ManagedBy, acm_serial_text,
    certificate_region, check_domain_name,
};

use super::cognito::{decode_token, encode_token};
use super::error::{AwsError, AwsResult};
use super::input::{Input, epoch};
use super::pki::{self, CertificateAuthority, LeafSpec};
use super::world::{ACCOUNT_ID, Certificate, Timings, World};

/// Validity of an Amazon-issued certificate.
const AMAZON_VALIDITY: Duration = Duration::days(395);

pub struct Call<'a> {
    /// The caller's account: the only one whose certificates the call sees.
    pub account: &'a str,
    pub region: &'a str,
    pub now: OffsetDateTime,
    pub timings: Timings,
    pub ca: &'a CertificateAuthority,
}

pub const OPERATIONS: [&str; 5] = [
    "ListCertificates",
    "DescribeCertificate",
    "ImportCertificate",
    "RequestCertificate",
    "DeleteCertificate",
];

pub fn handle(
    world: &mut World,
    call: &Call<'_>,
    operation: &str,
    input: &Input<'_>,
) -> Option<AwsResult> {
    Some(match operation {
        "ListCertificates" => list_certificates(world, call, input),
        "DescribeCertificate" => describe_certificate(world, call, input),
        "ImportCertificate" => import_certificate(world, call, input),
        "RequestCertificate" => request_certificate(world, call, input),
        "DeleteCertificate" => delete_certificate(world, call, input),
        _ => return None,
    })
}

fn list_certificates(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let statuses = input
        .optional_str_list("CertificateStatuses")?
        .map(|list| {
            list.into_iter()
                .map(|s| s.parse::<CertificateStatus>().map_err(AwsError::validation))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    // As AWS does: without Includes.keyTypes, only RSA_1024 and RSA_2048 are listed.
    let key_types = match input.optional_object("Includes")? {
        Some(includes) => includes.optional_str_list("keyTypes")?,
        None => None,
    }
    .map(|list| {
        list.into_iter()
            .map(|s| s.parse::<KeyAlgorithm>().map_err(AwsError::validation))
            .collect::<Result<Vec<_>, _>>()
    })
    .transpose()?
    .unwrap_or_else(|| vec![KeyAlgorithm::Rsa1024, KeyAlgorithm::Rsa2048]);
    let origins = key_pair_origins(input)?;
    let max = match input.optional_i64("MaxItems")? {
        None => 1000,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) => {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 1000"
            )));
        }
    };
    let after = input
        .optional_str("NextToken")?
        .map(|t| {
            decode_token(t).ok_or_else(|| {
                AwsError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "InvalidArgsException",
                    "Invalid NextToken",
                )
            })
        })
        .transpose()?;
    let region = world.region_ref(call.account, call.region);
    let mut matching = region
        .certificates
        .range::<String, _>((
            after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            std::ops::Bound::Unbounded,
        ))
        .map(|(_, c)| c)
        .filter(|c| key_types.contains(&c.key_algorithm))
        .filter(|c| origins.contains(&c.origin))
        .filter(|c| statuses.as_ref().is_none_or(|s| s.contains(&c.status)));
    let page: Vec<&Certificate> = matching.by_ref().take(max).collect();
    let more = matching.next().is_some();
    let summaries: Vec<Value> = page.iter().map(|c| summary(world, c)).collect();
    let mut out = json!({ "CertificateSummaryList": summaries });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(encode_token(&last.arn));
    }
    Ok(out)
}

/// The `CertificateKeyPairOrigins` filter. As AWS does since 2026-06-30: without it,
/// only AWS_MANAGED and CUSTOMER_PROVIDED certificates are listed — ACME-issued ones are
/// left out unless asked for.
fn key_pair_origins(input: &Input<'_>) -> Result<Vec<KeyPairOrigin>, AwsError> {
    let Some(list) = input.optional_str_list("CertificateKeyPairOrigins")? else {
        return Ok(vec![
            KeyPairOrigin::AwsManaged,
            KeyPairOrigin::CustomerProvided,
        ]);
    };
    if !(1..=3).contains(&list.len()) {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '[{}]' at 'certificateKeyPairOrigins' failed to satisfy constraint: Member must have length less than or equal to 3 and greater than or equal to 1",
            list.join(", ")
        )));
    }
    list.iter()
        .map(|o| {
            o.parse::<KeyPairOrigin>().map_err(|_| {
                AwsError::validation(format!(
                    "1 validation error detected: Value '[{}]' at 'certificateKeyPairOrigins' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [AWS_MANAGED, ACME, CUSTOMER_PROVIDED]]",
                    list.join(", ")
                ))
            })
        })
        .collect()
}

fn summary(world: &World, certificate: &Certificate) -> Value {
    let in_use = !world.distributions_using(&certificate.arn).is_empty();
    let mut out = json!({
        "CertificateArn": certificate.arn,
        "DomainName": certificate.domain_name,
        "SubjectAlternativeNameSummaries": certificate.names.iter().take(100).collect::<Vec<_>>(),
        "HasAdditionalSubjectAlternativeNames": certificate.names.len() > 100,
        "Status": certificate.status.as_str(),
        "Type": certificate.certificate_type.as_str(),
        "KeyAlgorithm": certificate.key_algorithm.as_str(),
        "KeyUsages": ["DIGITAL_SIGNATURE", "KEY_ENCIPHERMENT"],
        "ExtendedKeyUsages": ["TLS_WEB_SERVER_AUTHENTICATION", "TLS_WEB_CLIENT_AUTHENTICATION"],
        "InUse": in_use,
        "Exported": false,
        "ExportOption": "DISABLED",
        "RenewalEligibility": renewal_eligibility(certificate, in_use),
        "CertificateKeyPairOrigin": certificate.origin.as_str(),
        "CreatedAt": epoch(certificate.created_at),
    });
    add_managed_by(&mut out, certificate);
    add_times(&mut out, certificate);
    out
}

fn add_managed_by(out: &mut Value, certificate: &Certificate) {
    if let Some(managed_by) = certificate.managed_by {
        out["ManagedBy"] = json!(managed_by.as_str());
    }
}

fn add_times(out: &mut Value, certificate: &Certificate) {
    // ACM reports no validity window before a certificate is issued.
    if certificate.status != CertificateStatus::PendingValidation {
        out["NotBefore"] = epoch(certificate.not_before);
        out["NotAfter"] = epoch(certificate.not_after);
    }
    if let Some(at) = certificate.issued_at {
        out["IssuedAt"] = epoch(at);
    }
    if let Some(at) = certificate.imported_at {
        out["ImportedAt"] = epoch(at);
    }
}

/// ACM renews (managed renewal) only certificates it issued — requested or through ACME
/// — that are ISSUED and associated with a resource; never imported ones.
fn renewal_eligibility(certificate: &Certificate, in_use: bool) -> &'static str {
    if certificate.certificate_type == CertificateType::AmazonIssued
        && certificate.status == CertificateStatus::Issued
        && in_use
    {
        "ELIGIBLE"
    } else {
        "INELIGIBLE"
    }
}

/// ACM starts a managed renewal 60 days before a certificate expires.
const RENEWAL_WINDOW: Duration = Duration::days(60);

/// `RenewalSummary` of an eligible certificate, by a simple deterministic rule: inside
/// the last 60 days of its validity the renewal is `PENDING_AUTO_RENEWAL` (ACM is at
/// it), before that `SUCCESS` (the last managed renewal — or the issue — succeeded),
/// updated when the certificate was issued.
fn renewal_summary(certificate: &Certificate, now: OffsetDateTime) -> Value {
    let status = if certificate.not_after - now <= RENEWAL_WINDOW {
        "PENDING_AUTO_RENEWAL"
    } else {
        "SUCCESS"
    };
    json!({
        "RenewalStatus": status,
        "DomainValidationOptions": [],
        "UpdatedAt": epoch(certificate.issued_at.unwrap_or(certificate.created_at)),
    })
}

fn describe_certificate(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let arn = certificate_arn(input)?;
    let certificate = world
        .region_ref(call.account, call.region)
        .certificates
        .get(arn)
        .ok_or_else(|| not_found(arn))?;
    let in_use_by = world.distributions_using(arn);
    let renewal_eligibility = renewal_eligibility(certificate, !in_use_by.is_empty());
    let mut detail = json!({
        "CertificateArn": certificate.arn,
        "DomainName": certificate.domain_name,
        "SubjectAlternativeNames": certificate.names,
        "Serial": acm_serial_text(&certificate.serial),
        "Subject": certificate.subject,
        "Issuer": certificate.issuer,
        "CreatedAt": epoch(certificate.created_at),
        "Status": certificate.status.as_str(),
        // DescribeCertificate spells key algorithms with a hyphen, as AWS does.
        "KeyAlgorithm": certificate.key_algorithm.detail_str(),
        "SignatureAlgorithm": certificate.signature_algorithm,
        "InUseBy": in_use_by,
        "Type": certificate.certificate_type.as_str(),
        "RenewalEligibility": renewal_eligibility,
        "CertificateKeyPairOrigin": certificate.origin.as_str(),
        "KeyUsages": [{"Name": "DIGITAL_SIGNATURE"}, {"Name": "KEY_ENCIPHERMENT"}],
        "ExtendedKeyUsages": [
            {"Name": "TLS_WEB_SERVER_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.1"},
            {"Name": "TLS_WEB_CLIENT_AUTHENTICATION", "OID": "1.3.6.1.5.5.7.3.2"},
        ],
        // Certificates the sandbox holds are not exportable (ExportOption DISABLED).
        "Options": {"CertificateTransparencyLoggingPreference": "ENABLED", "Export": "DISABLED"},
    });
    if certificate.certificate_type == CertificateType::AmazonIssued {
        detail["DomainValidationOptions"] = certificate
            .names
            .iter()
            .map(|name| {
                json!({
                    "DomainName": name,
                    "ValidationDomain": name.trim_start_matches("*."),
                    "ValidationMethod": "DNS",
                    "ValidationStatus": if certificate.status == CertificateStatus::PendingValidation { "PENDING_VALIDATION" } else { "SUCCESS" },
                    "ResourceRecord": {
                        "Name": format!("_acm-validation.{}.", name.trim_start_matches("*.")),
                        "Type": "CNAME",
                        "Value": "_sandbox.acm-validations.aws.",
                    },
                })
            })
            .collect();
    }
    if renewal_eligibility == "ELIGIBLE" {
        detail["RenewalSummary"] = renewal_summary(certificate, call.now);
    }
    add_managed_by(&mut detail, certificate);
    add_times(&mut detail, certificate);
    Ok(json!({ "Certificate": detail }))
}

fn import_certificate(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let certificate_pem = blob(input, "Certificate")?;
    let key_pem = blob(input, "PrivateKey")?;
    let chain_pem = input
        .optional_str("CertificateChain")?
        .map(|_| blob(input, "CertificateChain"))
        .transpose()?;
    let info = pki::inspect_certificate(&certificate_pem).map_err(AwsError::validation)?;
    match pki::key_matches(&certificate_pem, &key_pem) {
        Ok(true) => {}
        Ok(false) => {
            return Err(AwsError::validation(
                "The private key is not supported or does not match the certificate.",
            ));
        }
        Err(e) => return Err(AwsError::validation(e)),
    }
    if info.not_after <= call.now {
        return Err(AwsError::validation("The certificate is expired."));
    }
    if let Some(chain) = &chain_pem {
        pki::pem_to_der_chain(chain)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AwsError::validation("The certificate chain is not valid PEM X.509."))?;
    }
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|_| AwsError::validation("PEM must be text"))
    };
    let arn = match input.optional_str("CertificateArn")? {
        Some(arn) => {
            let existing = world
                .region(call.account, call.region)
                .certificates
                .get(arn)
                .ok_or_else(|| not_found(arn))?;
            if existing.certificate_type != CertificateType::Imported {
                return Err(AwsError::validation(
                    "Only imported certificates can be re-imported.",
                ));
            }
            arn.to_owned()
        }
        None => new_arn(call.account, call.region),
    };
    let tags = tags(input)?;
    let certificate = Certificate {
        arn: arn.clone(),
        domain_name: info.names.first().cloned().unwrap_or_default(),
        names: info.names,
        status: CertificateStatus::Issued,
        certificate_type: CertificateType::Imported,
        origin: KeyPairOrigin::CustomerProvided,
        managed_by: None,
        key_algorithm: info.key_algorithm,
        signature_algorithm: info.signature_algorithm,
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        created_at: call.now,
        issued_at: None,
        imported_at: Some(call.now),
        validated_at: None,
        certificate_pem: text(certificate_pem)?,
        chain_pem: chain_pem.map(text).transpose()?,
        private_key_pem: text(key_pem)?,
        tags,
    };
    world
        .region(call.account, call.region)
        .certificates
        .insert(arn.clone(), certificate);
    Ok(json!({ "CertificateArn": arn }))
}

fn request_certificate(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let domain_name = input.required_str("DomainName")?;
    let mut names = vec![domain_name.to_owned()];
    for san in input
        .optional_str_list("SubjectAlternativeNames")?
        .unwrap_or_default()
    {
        if !names.iter().any(|n| n == san) {
            names.push(san.to_owned());
        }
    }
    if names.len() > 100 {
        return Err(AwsError::validation(
            "A certificate can have at most 100 names.",
        ));
    }
    for name in &names {
        let bare = name.strip_prefix("*.").unwrap_or(name);
        if check_domain_name(&bare.to_ascii_lowercase()).is_err() {
            return Err(AwsError::validation(format!(
                "1 validation error detected: Value '{name}' at 'domainName' failed to satisfy constraint: Member must be a fully qualified domain name"
            )));
        }
    }
    let key_algorithm = match input.optional_str("KeyAlgorithm")? {
        None => KeyAlgorithm::Rsa2048,
        Some(k) => match k.parse::<KeyAlgorithm>() {
            Ok(
                k
                @ (KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcPrime256v1 | KeyAlgorithm::EcSecp384r1),
            ) => k,
            _ => {
                return Err(AwsError::validation(format!(
                    "Key algorithm {k} is not supported for certificate requests; use RSA_2048, EC_prime256v1 or EC_secp384r1."
                )));
            }
        },
    };
    let private = input.optional_str("CertificateAuthorityArn")?.is_some();
    let spec = LeafSpec {
        names: &names,
        not_before: call.now,
        not_after: call.now + AMAZON_VALIDITY,
    };
    let issued = call
        .ca
        .issue(&spec, key_algorithm)
        .map_err(|e| AwsError::internal(format!("issuing failed: {e}")))?;
    let mut certificate = certificate_from_issued(
        call.account,
        call.region,
        &issued,
        if private {
            CertificateType::Private
        } else {
            CertificateType::AmazonIssued
        },
        call.now,
    )
    .map_err(AwsError::internal)?;
    certificate.tags = tags(input)?;
    if !private {
        certificate.status = CertificateStatus::PendingValidation;
        certificate.issued_at = None;
        certificate.validated_at = Some(call.now + call.timings.validation);
    }
    let arn = certificate.arn.clone();
    world
        .region(call.account, call.region)
        .certificates
        .insert(arn.clone(), certificate);
    Ok(json!({ "CertificateArn": arn }))
}

/// An ISSUED certificate record for a certificate the sandbox CA issued.
pub fn certificate_from_issued(
    account: &str,
    region: &str,
    issued: &pki::IssuedCertificate,
    certificate_type: CertificateType,
    now: OffsetDateTime,
) -> Result<Certificate, String> {
    let info = pki::inspect_certificate(issued.certificate_pem.as_bytes())?;
    Ok(Certificate {
        arn: new_arn(account, region),
        domain_name: info.names.first().cloned().unwrap_or_default(),
        names: info.names,
        status: CertificateStatus::Issued,
        certificate_type,
        origin: KeyPairOrigin::AwsManaged,
        managed_by: None,
        key_algorithm: info.key_algorithm,
        signature_algorithm: info.signature_algorithm,
        subject: info.subject,
        issuer: info.issuer,
        serial: info.serial,
        not_before: info.not_before,
        not_after: info.not_after,
        created_at: now,
        issued_at: Some(now),
        imported_at: None,
        validated_at: None,
        certificate_pem: issued.certificate_pem.clone(),
        chain_pem: None,
        private_key_pem: issued.private_key_pem.clone(),
        tags: BTreeMap::new(),
    })
}

fn delete_certificate(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let arn = certificate_arn(input)?;
    if !world
        .region_ref(call.account, call.region)
        .certificates
        .contains_key(arn)
    {
        return Err(not_found(arn));
    }
    if !world.distributions_using(arn).is_empty() {
        return Err(AwsError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "ResourceInUseException",
            format!("Certificate {arn} is in use."),
        ));
    }
    world
        .region(call.account, call.region)
        .certificates
        .remove(arn);
    Ok(json!({}))
}

fn certificate_arn<'a>(input: &Input<'a>) -> Result<&'a str, AwsError> {
    let arn = input.required_str("CertificateArn")?;
    if certificate_region(arn).is_none() || !arn.contains(":certificate/") {
        return Err(AwsError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "InvalidArnException",
            format!("String '{arn}' is not a valid ARN"),
        ));
    }
    Ok(arn)
}

fn not_found(arn: &str) -> AwsError {
    AwsError::not_found(format!("Could not find certificate with arn {arn}"))
}

fn new_arn(account: &str, region: &str) -> String {
    format!(
        "arn:aws:acm:{region}:{account}:certificate/{}",
        uuid::Uuid::new_v4()
    )
}

fn blob(input: &Input<'_>, member: &str) -> Result<Vec<u8>, AwsError> {
    let encoded = input.required_str(member)?;
    STANDARD
        .decode(encoded)
        .map_err(|_| AwsError::serialization(format!("{member}: expected a base64 blob")))
}

fn tags(input: &Input<'_>) -> Result<BTreeMap<String, String>, AwsError> {
    let Some(Value::Array(items)) = input.raw("Tags") else {
        return Ok(BTreeMap::new());
    };
    items
        .iter()
        .map(|item| {
            let key = item.get("Key").and_then(Value::as_str);
            let value = item
                .get("Value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            key.map(|k| (k.to_owned(), value.to_owned()))
                .ok_or_else(|| AwsError::validation("Tags: each tag needs a Key"))
        })
        .collect()
}

/// `POST /_sandbox/certificates`: an ISSUED certificate that AWS's JSON API cannot make
/// — ACME-issued (through ACM's ACME endpoint) or managed by CloudFront.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub region: String,
    #[serde(default)]
    pub account_id: Option<String>,
    pub domain_name: String,
    #[serde(default)]
    pub names: Option<Vec<String>>,
    #[serde(default)]
    pub key_algorithm: Option<String>,
    pub origin: String,
    #[serde(default)]
    pub managed_by: Option<String>,
    /// Validity in days.
    #[serde(default)]
    pub days: Option<i64>,
}

/// An issued certificate for `request`, checked, ready to insert; the error says what
/// is wrong with the request.
pub fn issue_for_sandbox(
    request: &IssueRequest,
    ca: &CertificateAuthority,
    now: OffsetDateTime,
) -> Result<Certificate, String> {
    let region = request.region.as_str();
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("region {region:?} is not a region name"));
    }
    let account = request.account_id.as_deref().unwrap_or(ACCOUNT_ID);
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("account_id {account:?} is not 12 digits"));
    }
    let origin = request
        .origin
        .parse::<KeyPairOrigin>()
        .map_err(|_| "origin must be ACME or AWS_MANAGED".to_owned())?;
    if origin == KeyPairOrigin::CustomerProvided {
        return Err("origin CUSTOMER_PROVIDED: use ImportCertificate".to_owned());
    }
    let managed_by = request
        .managed_by
        .as_deref()
        .map(str::parse::<ManagedBy>)
        .transpose()
        .map_err(|_| "managed_by must be CLOUDFRONT".to_owned())?;
    let key_algorithm = match &request.key_algorithm {
        None => KeyAlgorithm::Rsa2048,
        Some(k) => k.parse::<KeyAlgorithm>()?,
    };
    let days = request.days.unwrap_or(if origin == KeyPairOrigin::Acme {
        90
    } else {
        395
    });
    if !(1..=398).contains(&days) {
        return Err("days must be between 1 and 398".to_owned());
    }
    let mut names = vec![request.domain_name.clone()];
    for name in request.names.iter().flatten() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    if names.len() > 100 {
        return Err("a certificate can have at most 100 names".to_owned());
    }
    for name in &names {
        let bare = name.strip_prefix("*.").unwrap_or(name);
        check_domain_name(bare).map_err(|e| format!("name {name:?}: {e}"))?;
    }
    let spec = LeafSpec {
        names: &names,
        not_before: now,
        not_after: now + Duration::days(days),
    };
    let issued = ca
        .issue(&spec, key_algorithm)
        .map_err(|e| format!("issuing failed: {e}"))?;
    let mut certificate =
        certificate_from_issued(account, region, &issued, CertificateType::AmazonIssued, now)?;
    certificate.origin = origin;
    certificate.managed_by = managed_by;
    Ok(certificate)
}
