//! `GET /certificates/{arn}`: one ACM certificate and every custom domain that uses it,
//! across the inventory's accounts and regions, with each domain's status and what its
//! edge was last seen serving.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Chrome, PageError, html};
use crate::auth::CurrentUser;
use crate::aws::CertificateSummary;
use crate::domain::CertificateArn;
use crate::inventory::{DashboardRow, arn_account};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "certificates/show.html")]
pub struct CertificateView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub arn: String,
    pub account_id: String,
    pub region: String,
    /// As ACM last listed it; `None`: the inventory does not list it.
    pub certificate: Option<&'a CertificateSummary>,
    pub usages: Vec<Usage<'a>>,
}

/// One custom domain configured with the certificate.
pub struct Usage<'a> {
    pub row: &'a DashboardRow,
    /// The watcher last probed the edge serving another certificate.
    pub served_differs: bool,
}

impl CertificateView<'_> {
    pub fn expiry(&self) -> Option<String> {
        self.certificate
            .and_then(|c| c.not_after)
            .map(|t| t.date().to_string())
    }

    pub fn names(&self) -> String {
        self.certificate.map_or_else(String::new, |c| {
            let mut names = c.names.join(", ");
            if c.more_names {
                names.push_str(", …");
            }
            names
        })
    }
}

/// The ARN path segment (percent-encoded by the links) parsed as an ACM ARN; anything
/// else is a 404, never a lookup.
pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    arn: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let arn = CertificateArn::parse(&arn)
        .map_err(|_| PageError::NotFound("There is no certificate at this address.".into()))?;
    let view = state.inventory.view();
    let certificate = view.certificate(arn.as_str());
    let served_differs = state.watcher.served_differs();
    let usages: Vec<Usage> = view
        .rows
        .iter()
        .filter(|row| row.certificate_arn.as_deref() == Some(arn.as_str()))
        .map(|row| Usage {
            served_differs: row
                .custom_domain
                .as_deref()
                .is_some_and(|d| served_differs.contains(d)),
            row,
        })
        .collect();
    if certificate.is_none() && usages.is_empty() {
        return Err(PageError::NotFound(format!(
            "The inventory knows no certificate {arn}."
        )));
    }
    let title = certificate
        .and_then(|c| c.domain_name.as_deref())
        .unwrap_or("Certificate");
    let page = CertificateView {
        title,
        chrome: Chrome::of(&user),
        account_id: arn_account(arn.as_str()).unwrap_or_default().to_owned(),
        region: arn.region().to_owned(),
        arn: arn.to_string(),
        certificate,
        usages,
    };
    html(&page)
}

/// The path of a certificate's page, its ARN percent-encoded as one segment.
pub fn href(arn: &str) -> String {
    format!("/certificates/{}", urlencoding_segment(arn))
}

fn urlencoding_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
