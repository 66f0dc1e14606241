//! `GET /pools/{pool_id}`: one pool, its domains, the full domain description and the
//! current certificate; `POST /pools/{pool_id}/refresh` re-reads it from AWS.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::{CertLabel, Chrome, Moment, PageError, audit, audit_record, deny, html};
use crate::auth::{CurrentUser, Role};
use crate::aws::{AwsError, CertificateSummary};
use crate::domain::UserPoolId;
use crate::domain::audit::{AuditAction, AuditEntry};
use crate::inventory::{DashboardRow, PoolRecord, PoolRefresh, RefreshPoolError};
use crate::state::AppState;
use crate::store::AuditFilter;

#[derive(Template)]
#[template(path = "pools/show.html")]
pub struct PoolView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub may_change: bool,
    /// Whether the user may have the pool read from AWS now.
    pub may_refresh: bool,
    pub history: Vec<AuditEntry>,
    pub record: &'a PoolRecord,
    pub row: &'a DashboardRow,
    pub certificate: Option<&'a CertificateSummary>,
    pub certificate_window: Option<(String, String)>,
    pub tags: Vec<(&'a String, &'a String)>,
    pub refreshed: Moment,
    /// The certificate the last change replaced, and what still uses it.
    pub previous: Option<PreviousCertificate<'a>>,
    /// The inventory's certificates, to name the history's by domain and expiry.
    pub known: &'a [std::sync::Arc<CertificateSummary>],
}

impl PoolView<'_> {
    /// A stored time (RFC 3339) as every page shows times.
    fn when(&self, at: &str) -> Option<Moment> {
        Moment::of_text(at)
    }

    /// A certificate in people's words.
    fn cert(&self, arn: &str) -> CertLabel {
        CertLabel::of(arn, self.known)
    }
}

/// The certificate a change replaced: it can be deleted once nothing uses it (ACM empties
/// `InUseBy` some time after the edge switched, not at once).
pub struct PreviousCertificate<'a> {
    pub arn: String,
    /// As the inventory last listed it; `None`: ACM no longer lists it (deleted).
    pub certificate: Option<&'a CertificateSummary>,
}

impl PreviousCertificate<'_> {
    /// The resources that used it at the last inventory read; `None`: not known.
    pub fn in_use_by(&self) -> Option<&[String]> {
        self.certificate.and_then(|c| c.in_use_by.as_deref())
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    pool_id: web::Path<UserPoolId>,
) -> Result<HttpResponse, PageError> {
    let view = state.inventory.view();
    let not_found = || PageError::NotFound(format!("No user pool {pool_id} in the inventory."));
    let record = view.pool(&pool_id).ok_or_else(not_found)?;
    let row = view.row(&pool_id).ok_or_else(not_found)?;
    // The pool's certificate changes and propagation outcomes, newest first.
    let filter = AuditFilter {
        pool_id: Some(pool_id.to_string()),
        action_prefixes: vec!["certificate.".into(), "propagation.".into()],
        ..AuditFilter::default()
    };
    let history: Vec<AuditEntry> = state.store.audit_page(&filter, None, 200).await?;
    let certificate = row
        .certificate_arn
        .as_deref()
        .and_then(|arn| view.certificate(arn));
    let window = certificate.and_then(|c| {
        Some((
            c.not_before?.date().to_string(),
            c.not_after?.date().to_string(),
        ))
    });
    // The latest change that put the current certificate in place names the one it
    // replaced (the history is newest first).
    let previous = row.certificate_arn.as_deref().and_then(|current| {
        history
            .iter()
            .filter(|e| e.record.action == AuditAction::CertificateUpdateSucceeded)
            .find(|e| e.record.new_certificate_arn.as_deref() == Some(current))
            .and_then(|e| e.record.old_certificate_arn.clone())
            .filter(|old| old != current)
            .map(|arn| PreviousCertificate {
                certificate: view.certificate(&arn),
                arn,
            })
    });
    let page = PoolView {
        title: &record.pool.name,
        chrome: Chrome::of(&user),
        may_change: record.pool.custom_domain.is_some() && user.may_change(row.team.as_deref()),
        may_refresh: user.may_change(row.team.as_deref()),
        history,
        record,
        row,
        certificate,
        certificate_window: window,
        tags: record.pool.tags.iter().collect(),
        refreshed: Moment::new(view.snapshot.taken_at, OffsetDateTime::now_utc()),
        previous,
        known: &view.snapshot.certificates,
    };
    html(&page)
}

/// Re-reads one pool from AWS, then shows it again. Only those who may change the pool
/// may make certdeck call AWS for it (operators of its team, admins); a read of the same
/// pool in the last 30 s is reused. Every refresh is audited.
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    pool_id: web::Path<UserPoolId>,
) -> Result<HttpResponse, PageError> {
    let team = state
        .inventory
        .view()
        .row(&pool_id)
        .and_then(|row| row.team.clone());
    if !user.may_change(team.as_deref()) {
        // Unknown pools are refused like others' pools, so that ids cannot be probed.
        let why = match user.role {
            Role::Viewer => "viewers cannot refresh pools from AWS".to_owned(),
            _ => format!(
                "this pool belongs to team {}, not one of yours",
                team.as_deref().unwrap_or("(none)")
            ),
        };
        return Err(deny(&state, &req, &user, Some(&pool_id), &why).await);
    }
    let result = state.inventory.refresh_pool_on_demand(&pool_id).await;
    let (outcome, detail) = match &result {
        Ok(PoolRefresh::Read) => ("success", "read from AWS".to_owned()),
        Ok(PoolRefresh::Reused { age }) => (
            "reused",
            format!("read {} s ago; AWS not called", age.as_secs()),
        ),
        Err(RefreshPoolError::UnknownPool) => {
            return Err(PageError::NotFound(format!(
                "No user pool {pool_id} in the inventory."
            )));
        }
        Err(RefreshPoolError::Aws(e @ AwsError::QuotaBusy { .. })) => ("throttled", e.to_string()),
        Err(e) => ("failure", e.to_string()),
    };
    let mut record = audit_record(&req, Some(&user), AuditAction::PoolRefresh, outcome);
    record.pool_id = Some(pool_id.to_string());
    record.detail = Some(detail);
    if let Err(e) = audit(&state, record).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a pool refresh could not be audited"
        );
    }
    match result {
        Ok(_) => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/pools/{pool_id}")))
            .finish()),
        Err(RefreshPoolError::Aws(AwsError::QuotaBusy { .. })) => Err(PageError::Busy(
            "AWS's request quota is busy; try again in a few seconds.".into(),
        )),
        Err(e) => Err(PageError::Unexpected(anyhow::anyhow!(e))),
    }
}
