//! `GET /requests` and `POST /requests/{id}/approve|reject`: the two-person rule's
//! change requests (PRODUCT.md §13). A request is approved by another operator in scope
//! or an admin within 24 h; the approval runs the whole change protocol as the approver.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Chrome, Moment, PageError, deny};
use crate::auth::CurrentUser;
use crate::change::{self, ChangeError, approval};
use crate::domain::UserPoolId;
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::state::AppState;
use crate::store::{ChangeRequestRow, RequestStatus};

/// One request as the page lists it.
pub struct RequestView {
    pub row: ChangeRequestRow,
    pub created: Moment,
    pub expires: Moment,
    /// The user may approve or reject it (in scope, not their own, pending).
    pub may_decide: bool,
    pub own: bool,
}

#[derive(Template)]
#[template(path = "requests/index.html")]
pub struct RequestsPage {
    pub title: &'static str,
    pub chrome: Chrome,
    pub requests: Vec<RequestView>,
    pub message: Option<String>,
}

/// Whether `user` may decide on `row`: pending, not their own, the pool in their scope.
fn may_decide(state: &AppState, user: &CurrentUser, row: &ChangeRequestRow) -> bool {
    let view = state.inventory.view();
    let team = view.row(&row.pool_id).and_then(|r| r.team.as_deref());
    row.status == RequestStatus::Pending.as_str()
        && row.requester != user.username
        && user.may_change(team)
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    message: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    approval::expire_due(&state.store).await?;
    let requests = state
        .store
        .recent_change_requests()
        .await?
        .into_iter()
        .filter_map(|row| {
            let own = row.requester == user.username;
            let may_decide = may_decide(state, user, &row);
            (own || may_decide || user.role == crate::auth::Role::Admin).then(|| RequestView {
                created: Moment::at_unix(row.created_at),
                expires: Moment::at_unix(row.expires_at),
                may_decide,
                own,
                row,
            })
        })
        .collect();
    super::html_with_status(
        &RequestsPage {
            title: "Requests",
            chrome: Chrome::of(user),
            requests,
            message,
        },
        status,
    )
}

pub async fn index(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    page(&state, &user, None, StatusCode::OK).await
}

/// The request, expired first if its time is up; `None` when unknown.
async fn pending(state: &AppState, id: &str) -> Result<ChangeRequestRow, PageError> {
    approval::expire_due(&state.store).await?;
    state
        .store
        .change_request(id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("No request {id}.")))
}

fn see_requests() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/requests"))
        .finish()
}

pub async fn approve(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let row = pending(&state, &id).await?;
    if row.status != RequestStatus::Pending.as_str() {
        let why = format!(
            "Request {} is {}: it can no longer be approved.",
            row.id, row.status
        );
        return page(&state, &user, Some(why), StatusCode::CONFLICT).await;
    }
    if row.requester == user.username {
        return Err(deny(
            &state,
            &req,
            &user,
            Some(&row.pool_id),
            "approving one's own request is not allowed: another person must approve it",
        )
        .await);
    }
    let (view, domain) =
        super::certificate::pool_in_scope(&state, &req, &user, &row.pool_id).await?;
    let pool_id = UserPoolId::parse(&row.pool_id).map_err(|e| {
        PageError::Unexpected(anyhow::anyhow!("a stored request has a bad pool id: {e}"))
    })?;
    let token = state
        .store
        .issue_submission_token(&user.username, pool_id.as_str())
        .await?;
    let (source_ip, user_agent) = super::origin(&req);
    let services = change::Services {
        store: &state.store,
        inventory: &state.inventory,
        propagation_timeout: state.settings.propagation_timeout,
    };
    let request = change::ChangeRequest {
        user: &user,
        view: &view,
        pool_id: &pool_id,
        domain: &domain,
        certificate_arn: &row.new_certificate_arn,
        submission_token: &token,
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
    };
    match change::submit_approved(&services, &request, &row).await {
        Ok(accepted) => {
            state
                .store
                .decide_change_request(
                    &row.id,
                    RequestStatus::Approved,
                    Some(&user.username),
                    Some(&format!("propagation {}", accepted.propagation_id)),
                )
                .await?;
            state
                .store
                .set_change_request_propagation(&row.id, &accepted.propagation_id)
                .await?;
            state
                .store
                .append_audit(AuditRecord {
                    actor: user.username.clone(),
                    role: Some(user.role.as_str().to_owned()),
                    source_ip,
                    user_agent,
                    detail: Some(format!(
                        "request {} of {} approved by {}; propagation {}",
                        row.id, row.requester, user.username, accepted.propagation_id
                    )),
                    ..approval::record_of(&row, AuditAction::ApprovalApproved, "success")
                })
                .await?;
            Ok(HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/propagations/{}", accepted.propagation_id),
                ))
                .finish())
        }
        Err(ChangeError::OutOfScope(why)) => {
            Err(deny(&state, &req, &user, Some(&row.pool_id), &why).await)
        }
        Err(ChangeError::Unexpected(e)) => Err(PageError::Unexpected(e)),
        Err(error) => {
            let status = match error {
                ChangeError::AwsRefused(_)
                | ChangeError::QuotaBusy(_)
                | ChangeError::UnclearOutcome(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::CONFLICT,
            };
            let why = format!("Request {} was not approved: {error}", row.id);
            page(&state, &user, Some(why), status).await
        }
    }
}

pub async fn reject(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let row = pending(&state, &id).await?;
    if row.status != RequestStatus::Pending.as_str() {
        let why = format!(
            "Request {} is {}: it can no longer be rejected.",
            row.id, row.status
        );
        return page(&state, &user, Some(why), StatusCode::CONFLICT).await;
    }
    // The requester may withdraw it; others must be allowed to approve it.
    if row.requester != user.username && !may_decide(&state, &user, &row) {
        return Err(deny(
            &state,
            &req,
            &user,
            Some(&row.pool_id),
            "only the requester, or another operator of the pool's team or an admin, may reject this request",
        )
        .await);
    }
    if state
        .store
        .decide_change_request(&row.id, RequestStatus::Rejected, Some(&user.username), None)
        .await?
    {
        let (source_ip, user_agent) = super::origin(&req);
        state
            .store
            .append_audit(AuditRecord {
                actor: user.username.clone(),
                role: Some(user.role.as_str().to_owned()),
                source_ip,
                user_agent,
                detail: Some(format!(
                    "request {} of {} rejected by {}",
                    row.id, row.requester, user.username
                )),
                ..approval::record_of(&row, AuditAction::ApprovalRejected, "rejected")
            })
            .await?;
    }
    Ok(see_requests())
}
