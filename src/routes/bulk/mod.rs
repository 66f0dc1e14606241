//! `GET /bulk/{id}`: a bulk run's domains and their phases (refreshed while it runs);
//! `GET /scheduled`: runs waiting for their time; `POST /bulk/{id}/cancel`: a run
//! cancelled before it starts, audited.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Chrome, Moment, PageError, audit, audit_record, deny, html};
use crate::auth::{CurrentUser, Role};
use crate::domain::audit::AuditAction;
use crate::state::AppState;
use crate::store::{BulkItem, BulkRun};

#[derive(Template)]
#[template(path = "bulk/show.html")]
pub struct RunView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub run: BulkRun,
    pub items: Vec<BulkItem>,
    pub not_before: Moment,
    pub old_href: String,
    pub may_cancel: bool,
}

impl RunView<'_> {
    pub fn live(&self) -> bool {
        matches!(self.run.state.as_str(), "scheduled" | "running")
    }
}

/// Run ids are 12 hex digits; anything else is not looked up.
fn valid_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn load(state: &AppState, id: &str) -> Result<BulkRun, PageError> {
    let missing = || PageError::NotFound("There is no bulk run at this address.".into());
    if !valid_id(id) {
        return Err(missing());
    }
    state.store.bulk_run(id).await?.ok_or_else(missing)
}

fn may_cancel(user: &CurrentUser, run: &BulkRun) -> bool {
    run.state == "scheduled" && (user.role == Role::Admin || user.username == run.actor)
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let run = load(&state, &id).await?;
    let items = state.store.bulk_items(&run.id).await?;
    let page = RunView {
        title: "Bulk rotation",
        chrome: Chrome::of(&user),
        not_before: Moment::at_unix(run.not_before),
        old_href: super::certificates::href(&run.old_certificate_arn),
        may_cancel: may_cancel(&user, &run),
        run,
        items,
    };
    html(&page)
}

#[derive(Template)]
#[template(path = "bulk/scheduled.html")]
pub struct ScheduledView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub scheduled: Vec<(BulkRun, Moment, bool)>,
    pub recent: Vec<BulkRun>,
}

pub async fn scheduled(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let scheduled = state
        .store
        .scheduled_bulk_runs()
        .await?
        .into_iter()
        .map(|run| {
            let at = Moment::at_unix(run.not_before);
            let cancel = may_cancel(&user, &run);
            (run, at, cancel)
        })
        .collect();
    let page = ScheduledView {
        title: "Scheduled changes",
        chrome: Chrome::of(&user),
        scheduled,
        recent: state.store.recent_bulk_runs(20).await?,
    };
    html(&page)
}

/// Cancels a run that has not started (its actor or an admin), audited.
pub async fn cancel(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let run = load(&state, &id).await?;
    if user.role != Role::Admin && user.username != run.actor {
        return Err(deny(
            &state,
            &req,
            &user,
            None,
            "only who scheduled a run, or an admin, may cancel it",
        )
        .await);
    }
    if !state
        .store
        .set_bulk_state(&run.id, "scheduled", "cancelled")
        .await?
    {
        return Err(PageError::BadRequest(
            "This run has already started (or ended): it cannot be cancelled.".into(),
        ));
    }
    let mut record = audit_record(&req, Some(&user), AuditAction::BulkCancelled, "cancelled");
    record.old_certificate_arn = Some(run.old_certificate_arn.clone());
    record.new_certificate_arn = Some(run.new_certificate_arn.clone());
    record.detail = Some(format!("bulk {}: cancelled before it started", run.id));
    audit(&state, record).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/bulk/{}", run.id)))
        .finish())
}
