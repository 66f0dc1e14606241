//! `GET/POST /pools/{pool_id}/certificate`: the change form, the confirmation, and the
//! one `UpdateUserPoolDomain` call (PRODUCT.md §4).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Chrome, PageError, deny};
use crate::auth::CurrentUser;
use crate::aws::{AwsError, CertificateDetail};
use crate::change::{self, ChangeError};
use crate::domain::{DomainName, UserPoolId};
use crate::inventory::{CertificateChoice, PoolRecord, certificate_choices};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "certificate/form.html")]
pub struct ChangeForm<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub record: &'a PoolRecord,
    pub domain: &'a str,
    pub choices: Vec<CertificateChoice<'a>>,
    pub selected: String,
    pub submission_token: String,
    pub message: Option<String>,
    pub aws_error: Option<AwsErrorView>,
}

/// An AWS error as the form shows it.
pub struct AwsErrorView {
    pub plain: String,
    pub code: String,
    pub message: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "certificate/confirm.html")]
pub struct ConfirmPage<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub record: &'a PoolRecord,
    pub domain: &'a str,
    /// Where the confirmation is posted.
    pub action: String,
    /// The change this one rolls back, if it is a rollback.
    pub rollback_of: Option<String>,
    pub old: Option<CertificateView>,
    pub new: CertificateView,
    pub submission_token: String,
    /// The pre-flight checks; the confirm button shows only when all pass.
    pub checks: Vec<change::preflight::Check>,
    pub checks_passed: bool,
    /// The exact `UpdateUserPoolDomain` input, pretty-printed JSON.
    pub request_json: String,
}

/// One certificate on the confirmation page.
pub struct CertificateView {
    pub arn: String,
    pub names: String,
    pub issuer: String,
    pub key: String,
    pub not_after: String,
    pub days_left: String,
    /// Where its key pair comes from, in words.
    pub origin: String,
    /// Why to think twice (another service manages it).
    pub caution: Option<String>,
    /// Whether it renews by itself.
    pub renewal: String,
    /// The ARN's last segment, shown; the full ARN is in a title and a copy button.
    pub tail: String,
    pub expires: Option<super::Moment>,
}

impl CertificateView {
    fn of(detail: &CertificateDetail, now: OffsetDateTime) -> Self {
        let c = &detail.summary;
        Self {
            arn: c.arn.clone(),
            names: c.names.join(", "),
            issuer: detail.issuer.clone().unwrap_or_else(|| "unknown".into()),
            key: c
                .key_algorithm
                .as_ref()
                .map_or_else(|| "unknown".into(), ToString::to_string),
            not_after: c
                .not_after
                .map_or_else(|| "unknown".into(), |t| t.date().to_string()),
            days_left: c
                .not_after
                .map_or_else(|| "unknown".into(), |t| (t - now).whole_days().to_string()),
            origin: c.origin_label().unwrap_or_else(|| "unknown".into()),
            caution: c.caution(),
            renewal: c.renewal().to_string(),
            tail: c.arn.rsplit(['/', ':']).next().unwrap_or(&c.arn).to_owned(),
            expires: c.not_after.map(|t| super::Moment::new(t, now)),
        }
    }
}

#[derive(Deserialize)]
pub struct ChangeRequest {
    #[serde(default)]
    certificate_arn: String,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    submission_token: String,
    /// "Not before" (UTC): the change is scheduled instead of reviewed now.
    #[serde(default)]
    not_before: Option<String>,
}

/// The pool and its custom domain, if the user may change it.
pub(super) async fn pool_in_scope(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    pool_id: &str,
) -> Result<(std::sync::Arc<crate::inventory::View>, DomainName), PageError> {
    let view = state.inventory.view();
    let Some(record) = view.pool(pool_id) else {
        // Unknown pools are refused like others' pools, so that ids cannot be probed.
        return Err(deny(
            state,
            req,
            user,
            Some(pool_id),
            "no such pool in your scope",
        )
        .await);
    };
    // The owning team as the inventory read it (the CERTDECK_TEAM_TAG tag).
    let team = view.row(pool_id).and_then(|row| row.team.as_deref());
    if !user.may_change(team) {
        let why = match user.role {
            crate::auth::Role::Viewer => "viewers cannot change certificates".to_owned(),
            _ => format!(
                "this pool belongs to team {}, not one of yours",
                team.unwrap_or("(none)")
            ),
        };
        return Err(deny(state, req, user, Some(pool_id), &why).await);
    }
    let Some(domain) = record.pool.custom_domain.as_deref() else {
        return Err(PageError::NotFound(
            "This pool has no custom domain, so no certificate to change.".into(),
        ));
    };
    let domain = DomainName::parse(domain).map_err(|e| {
        PageError::Unexpected(anyhow::anyhow!(
            "the inventory holds an invalid domain: {e}"
        ))
    })?;
    Ok((view, domain))
}

pub async fn form(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    pool_id: web::Path<UserPoolId>,
) -> Result<HttpResponse, PageError> {
    let (view, domain) = pool_in_scope(&state, &req, &user, &pool_id).await?;
    render_form(
        &state,
        &view,
        &user,
        &pool_id,
        &domain,
        FormState::default(),
        StatusCode::OK,
    )
    .await
}

#[derive(Default)]
struct FormState {
    token: String,
    selected: String,
    message: Option<String>,
    aws_error: Option<AwsErrorView>,
}

impl FormState {
    /// A fresh form with why.
    fn message(message: String) -> Self {
        Self {
            message: Some(message),
            ..Self::default()
        }
    }
}

/// The form; a fresh one-time token unless `form` carries one still valid.
async fn render_form(
    state: &AppState,
    view: &crate::inventory::View,
    user: &CurrentUser,
    pool_id: &str,
    domain: &DomainName,
    mut form: FormState,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    if form.token.is_empty() {
        form.token = state
            .store
            .issue_submission_token(&user.username, pool_id)
            .await?;
    }
    let record = view
        .pool(pool_id)
        .ok_or_else(|| PageError::NotFound("No such pool.".into()))?;
    let current = record
        .custom_domain
        .as_ref()
        .and_then(|d| d.certificate_arn.as_deref());
    let choices = certificate_choices(
        view.certificates_of(&record.account),
        domain,
        current,
        OffsetDateTime::now_utc(),
    );
    let page = ChangeForm {
        title: "Change certificate",
        chrome: Chrome::of(user),
        record,
        domain: domain.as_str(),
        choices,
        selected: form.selected,
        submission_token: form.token,
        message: form.message,
        aws_error: form.aws_error,
    };
    super::html_with_status(&page, status)
}

/// The confirmation page of a previewed change, posted to `action`.
#[allow(clippy::too_many_arguments)]
pub(super) fn confirm_page(
    user: &CurrentUser,
    view: &crate::inventory::View,
    pool_id: &str,
    domain: &DomainName,
    preview: change::Preview,
    submission_token: String,
    action: String,
    rollback_of: Option<String>,
) -> Result<HttpResponse, PageError> {
    let now = OffsetDateTime::now_utc();
    let record = view
        .pool(pool_id)
        .ok_or_else(|| PageError::NotFound("No such pool.".into()))?;
    let page = ConfirmPage {
        title: "Confirm the change",
        chrome: Chrome::of(user),
        record,
        domain: domain.as_str(),
        action,
        rollback_of,
        old: preview.old.as_ref().map(|d| CertificateView::of(d, now)),
        new: CertificateView::of(&preview.new, now),
        submission_token,
        checks_passed: preview.preflight.passed(),
        request_json: preview.preflight.request_text(),
        checks: preview.preflight.checks,
    };
    super::html(&page)
}

fn aws_error_view(error: &AwsError) -> AwsErrorView {
    let (code, message) = error.code_and_message();
    AwsErrorView {
        plain: error.plain_words(),
        code,
        message,
        request_id: error.request_id().unwrap_or("none").to_owned(),
    }
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    pool_id: web::Path<UserPoolId>,
    form: web::Form<ChangeRequest>,
) -> Result<HttpResponse, PageError> {
    let (view, domain) = pool_in_scope(&state, &req, &user, &pool_id).await?;
    let form = form.into_inner();
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
        certificate_arn: &form.certificate_arn,
        submission_token: &form.submission_token,
        source_ip,
        user_agent,
    };
    let not_before = super::certificates::parse_not_before(form.not_before.as_deref())?;
    let error = if let Some(at) = not_before.filter(|_| form.confirm.is_none()) {
        // Checked now as the review would; checked again, with every guard, when the
        // scheduled run sends it.
        match change::preview(&services, &request).await {
            Ok(preview) => {
                let old = preview.old.map(|d| d.summary.arn).unwrap_or_default();
                let id = crate::bulk::schedule_single(
                    &state.store,
                    &user.username,
                    (pool_id.as_str(), domain.as_str()),
                    (&old, &preview.new.summary.arn),
                    at,
                )
                .await?;
                return Ok(HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("/bulk/{id}")))
                    .finish());
            }
            Err(error) => error,
        }
    } else if form.confirm.as_deref() == Some("yes") {
        match change::submit_change(&services, &request).await {
            Ok(accepted) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/propagations/{}", accepted.propagation_id),
                    ))
                    .finish());
            }
            Err(error) => error,
        }
    } else {
        match change::preview(&services, &request).await {
            Ok(preview) => {
                return confirm_page(
                    &user,
                    &view,
                    &pool_id,
                    &domain,
                    preview,
                    form.submission_token.clone(),
                    format!("/pools/{}/certificate", pool_id.as_str()),
                    None,
                );
            }
            Err(error) => error,
        }
    };
    let (state, view, domain) = (&state, &view, &domain);
    let with = |form: FormState, status: StatusCode| {
        render_form(state, view, &user, &pool_id, domain, form, status)
    };
    match error {
        ChangeError::ApprovalRequested { request_id } => Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/requests#request-{request_id}")))
            .finish()),
        ChangeError::AlreadySubmitted
        | ChangeError::DomainBusy
        | ChangeError::DomainChanging(_)
        | ChangeError::PreflightFailed(_)
        | ChangeError::RollbackRefused(_)
        | ChangeError::PlanChanged(_) => {
            with(FormState::message(error.to_string()), StatusCode::CONFLICT).await
        }
        ChangeError::NotOffered(_) | ChangeError::NotEligible { .. } => {
            // The form as it was sent, its token still valid.
            let form = FormState {
                token: form.submission_token,
                selected: form.certificate_arn,
                message: Some(error.to_string()),
                aws_error: None,
            };
            with(form, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        ChangeError::OutOfScope(why) => Err(deny(state, &req, &user, Some(&pool_id), &why).await),
        ChangeError::DomainGone { .. } => Err(PageError::NotFound(error.to_string())),
        ChangeError::AwsRefused(aws) | ChangeError::QuotaBusy(aws) => {
            let form = FormState {
                token: String::new(),
                selected: form.certificate_arn,
                message: None,
                aws_error: Some(aws_error_view(&aws)),
            };
            with(form, StatusCode::BAD_GATEWAY).await
        }
        ChangeError::UnclearOutcome(_) => {
            with(
                FormState::message(error.to_string()),
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
        ChangeError::Unexpected(e) => Err(PageError::Unexpected(e)),
    }
}
