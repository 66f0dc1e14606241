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
    /// Operators and admins may plan a bulk rotation.
    pub may_replace: bool,
    pub replace_href: String,
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

    /// When it expires, as every page shows times.
    pub fn expires(&self) -> Option<super::Moment> {
        self.certificate
            .and_then(|c| c.not_after)
            .map(|t| super::Moment::new(t, time::OffsetDateTime::now_utc()))
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
        may_replace: user.role != crate::auth::Role::Viewer && !usages.is_empty(),
        replace_href: format!("{}/replace", href(arn.as_str())),
        usages,
    };
    html(&page)
}

/// The path of a certificate's page, its ARN percent-encoded as one segment.
pub fn href(arn: &str) -> String {
    const PREFIX: &str = "/certificates/";
    let mut out = String::with_capacity(PREFIX.len() + arn.len() * 3);
    out.push_str(PREFIX);
    urlencoding_segment(&mut out, arn);
    out
}

fn urlencoding_segment(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
}

/// `GET /certificates/{arn}/replace[?new=ARN]`: without `new`, the certificates of the
/// same account that could replace it; with it, the plan: every domain using the old
/// certificate, whether the new one can serve it, whether it is in the user's scope,
/// and its status. Operators and admins only.
pub async fn plan(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: CurrentUser,
    arn: web::Path<String>,
    query: web::Query<PlanQuery>,
) -> Result<HttpResponse, PageError> {
    let arn = CertificateArn::parse(&arn)
        .map_err(|_| PageError::NotFound("There is no certificate at this address.".into()))?;
    if user.role == crate::auth::Role::Viewer {
        return Err(super::deny(
            &state,
            &req,
            &user,
            None,
            "viewers cannot change certificates",
        )
        .await);
    }
    let view = state.inventory.view();
    let account = arn_account(arn.as_str()).unwrap_or_default().to_owned();
    let mut choices: Vec<&CertificateSummary> = view
        .snapshot
        .certificates
        .iter()
        .filter(|c| c.arn != arn.as_str() && arn_account(&c.arn) == Some(account.as_str()))
        .filter(|c| crate::domain::certificate_region(&c.arn) == Some(arn.region()))
        .map(|c| &**c)
        .collect();
    choices.sort_by(|a, b| a.domain_name.cmp(&b.domain_name).then(a.arn.cmp(&b.arn)));
    choices.truncate(500);
    let new = match query.new.as_deref().filter(|n| !n.is_empty()) {
        None => None,
        Some(new) => Some(CertificateArn::parse(new).map_err(PageError::BadRequest)?),
    };
    let items = match &new {
        Some(new) => plan_items(&view, &user, &arn, new)?,
        None => Vec::new(),
    };
    let page = PlanView {
        title: "Replace a certificate",
        chrome: Chrome::of(&user),
        old: super::CertLabel::of(arn.as_str(), &view.snapshot.certificates),
        href: href(arn.as_str()),
        new: new.map(|n| n.to_string()),
        choices: choices
            .into_iter()
            .map(|c| Choice {
                arn: c.arn.clone(),
                label: format!(
                    "{} · expires {}",
                    c.domain_name.as_deref().unwrap_or("(no name)"),
                    c.not_after
                        .map_or_else(|| "?".to_owned(), |t| t.date().to_string())
                ),
            })
            .collect(),
        runnable: items.iter().filter(|i| i.reasons.is_empty()).count(),
        items,
        default_wave: crate::bulk::DEFAULT_WAVE,
        max_wave: crate::bulk::MAX_WAVE,
    };
    html(&page)
}

#[derive(serde::Deserialize)]
pub struct PlanQuery {
    pub new: Option<String>,
}

/// A certificate the plan may switch to.
pub struct Choice {
    pub arn: String,
    pub label: String,
}

/// One domain of a plan.
pub struct PlanItem {
    pub pool_id: String,
    pub pool_name: String,
    pub account: String,
    pub region: String,
    pub domain: String,
    pub status: Option<String>,
    pub in_scope: bool,
    /// Why the domain is skipped (empty: it is changed).
    pub reasons: Vec<String>,
}

#[derive(Template)]
#[template(path = "certificates/plan.html")]
pub struct PlanView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    /// The certificate being replaced, in people's words.
    pub old: super::CertLabel,
    pub href: String,
    pub new: Option<String>,
    pub choices: Vec<Choice>,
    pub items: Vec<PlanItem>,
    pub runnable: usize,
    pub default_wave: i64,
    pub max_wave: i64,
}

/// Every domain using `old`, with what stops `new` from replacing it for `user`.
fn plan_items(
    view: &crate::inventory::View,
    user: &CurrentUser,
    old: &CertificateArn,
    new: &CertificateArn,
) -> Result<Vec<PlanItem>, PageError> {
    let now = time::OffsetDateTime::now_utc();
    let summary = view.certificate(new.as_str());
    let mut items = Vec::new();
    for row in view
        .rows
        .iter()
        .filter(|r| r.certificate_arn.as_deref() == Some(old.as_str()))
    {
        let Some(domain) = row.custom_domain.clone() else {
            continue;
        };
        let in_scope = user.may_change(row.team.as_deref());
        let mut reasons = Vec::new();
        if !in_scope {
            reasons.push(format!(
                "not in your scope (team {})",
                row.team.as_deref().unwrap_or("none")
            ));
        }
        if old == new {
            reasons.push("the domain already uses this certificate".into());
        }
        // A domain can only use a certificate of its own account.
        let same_account = view
            .certificates_of(&row.account)
            .iter()
            .any(|c| c.arn == new.as_str());
        match summary {
            None => reasons.push("the inventory does not list the new certificate".into()),
            Some(_) if !same_account => reasons.push(format!(
                "the new certificate is not in the domain's account ({})",
                row.account
            )),
            Some(summary) => match crate::domain::DomainName::parse(&domain) {
                Ok(name) => {
                    reasons.extend(crate::inventory::ineligibility_reasons(summary, &name, now));
                }
                Err(e) => reasons.push(e.to_string()),
            },
        }
        items.push(PlanItem {
            pool_id: row.pool_id.clone(),
            pool_name: row.pool_name.clone(),
            account: row.account.to_string(),
            region: row.region.to_string(),
            domain,
            status: row.domain_status.as_deref().map(str::to_owned),
            in_scope,
            reasons,
        });
    }
    Ok(items)
}

/// The confirmed plan's form.
#[derive(serde::Deserialize)]
pub struct ReplaceForm {
    pub new: String,
    pub wave_size: Option<String>,
    pub continue_on_failure: Option<String>,
    /// `YYYY-MM-DDTHH:MM[:SS]`, UTC; empty: now.
    pub not_before: Option<String>,
}

/// Parses the "not before" field (UTC); `None` when empty.
pub fn parse_not_before(value: Option<&str>) -> Result<Option<i64>, PageError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let bad = || {
        PageError::BadRequest(
            "\"Not before\" must be a date and time as YYYY-MM-DDTHH:MM (UTC).".into(),
        )
    };
    if value.len() > 32 {
        return Err(bad());
    }
    let long = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let short = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let at = time::PrimitiveDateTime::parse(value, long)
        .or_else(|_| time::PrimitiveDateTime::parse(value, short))
        .map_err(|_| bad())?;
    Ok(Some(at.assume_utc().unix_timestamp()))
}

/// `POST /certificates/{arn}/replace`: stores the run (its domains in the plan's order,
/// skipped ones with their reasons) and shows its page. The runner starts it at once,
/// or at its "not before" time.
pub async fn replace(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: CurrentUser,
    arn: web::Path<String>,
    form: web::Form<ReplaceForm>,
) -> Result<HttpResponse, PageError> {
    let arn = CertificateArn::parse(&arn)
        .map_err(|_| PageError::NotFound("There is no certificate at this address.".into()))?;
    if user.role == crate::auth::Role::Viewer {
        return Err(super::deny(
            &state,
            &req,
            &user,
            None,
            "viewers cannot change certificates",
        )
        .await);
    }
    let new = CertificateArn::parse(form.new.trim()).map_err(PageError::BadRequest)?;
    let wave_size = match form.wave_size.as_deref().map(str::trim) {
        None | Some("") => crate::bulk::DEFAULT_WAVE,
        Some(n) => n
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=crate::bulk::MAX_WAVE).contains(n))
            .ok_or_else(|| {
                PageError::BadRequest(format!(
                    "Domains at once must be a number from 1 to {}.",
                    crate::bulk::MAX_WAVE
                ))
            })?,
    };
    let not_before = parse_not_before(form.not_before.as_deref())?;
    let view = state.inventory.view();
    let items = plan_items(&view, &user, &arn, &new)?;
    if !items.iter().any(|i| i.reasons.is_empty()) {
        return Err(PageError::BadRequest(
            "No domain of this plan can be changed by you with this certificate.".into(),
        ));
    }
    let now = crate::bulk::now();
    let run = crate::store::BulkRun {
        id: crate::bulk::new_id(),
        actor: user.username.clone(),
        old_certificate_arn: arn.to_string(),
        new_certificate_arn: new.to_string(),
        wave_size,
        continue_on_failure: i64::from(form.continue_on_failure.is_some()),
        not_before: not_before.unwrap_or(now),
        state: "scheduled".into(),
        created_at: now,
        finished_at: None,
    };
    let rows: Vec<crate::store::BulkItem> = items
        .into_iter()
        .zip(0..)
        .map(|(item, position)| crate::store::BulkItem {
            run_id: run.id.clone(),
            position,
            phase: if item.reasons.is_empty() {
                "pending".into()
            } else {
                "skipped".into()
            },
            detail: (!item.reasons.is_empty()).then(|| item.reasons.join("; ")),
            pool_id: item.pool_id,
            domain: item.domain,
            propagation_id: None,
        })
        .collect();
    state.store.insert_bulk_run(&run, &rows).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/bulk/{}", run.id),
        ))
        .finish())
}
