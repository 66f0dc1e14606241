//! `GET /pools/{pool_id}`: one pool, its domains, the full domain description and the
//! current certificate.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::{Chrome, PageError, age, html, timestamp};
use crate::auth::CurrentUser;
use crate::aws::CertificateSummary;
use crate::domain::audit::AuditEntry;
use crate::inventory::{DashboardRow, PoolRecord, RefreshPoolError};
use crate::startup::AppState;
use crate::store::AuditFilter;

#[derive(Template)]
#[template(path = "pools/show.html")]
pub struct PoolView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub may_change: bool,
    pub history: Vec<AuditEntry>,
    pub record: &'a PoolRecord,
    pub row: &'a DashboardRow,
    pub certificate: Option<&'a CertificateSummary>,
    pub certificate_window: Option<(String, String)>,
    pub tags: Vec<(&'a String, &'a String)>,
    pub refreshed: String,
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    pool_id: web::Path<String>,
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
    let page = PoolView {
        title: &record.pool.name,
        chrome: Chrome::of(&user),
        may_change: record.pool.custom_domain.is_some() && user.may_change(row.team.as_deref()),
        history,
        record,
        row,
        certificate,
        certificate_window: window,
        tags: record.pool.tags.iter().collect(),
        refreshed: age(view.snapshot.taken_at, OffsetDateTime::now_utc())
            + " ("
            + &timestamp(view.snapshot.taken_at)
            + ")",
    };
    html(&page)
}

/// Re-reads one pool from AWS, then shows it again.
pub async fn refresh(
    state: web::Data<AppState>,
    _user: CurrentUser,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    match state.inventory.refresh_pool(&pool_id).await {
        Ok(()) => {}
        Err(RefreshPoolError::UnknownPool) => {
            return Err(PageError::NotFound(format!(
                "No user pool {pool_id} in the inventory."
            )));
        }
        Err(e) => return Err(PageError::Unexpected(anyhow::anyhow!(e))),
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/pools/{pool_id}")))
        .finish())
}
