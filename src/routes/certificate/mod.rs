//! `GET/POST /pools/{pool_id}/certificate`: the change form, the confirmation, and the
//! one `UpdateUserPoolDomain` call (PRODUCT.md §4).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Chrome, PageError, audit, deny};
use crate::auth::CurrentUser;
use crate::aws::{AwsError, CertificateDetail};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::{CLOUDFRONT_CERTIFICATE_REGION, CertificateArn, DomainName};
use crate::inventory::{CertificateChoice, PoolRecord, certificate_choices, ineligibility_reasons};
use crate::propagation;
use crate::state::AppState;
use crate::store::PendingChange;

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
    pub old: Option<CertificateView>,
    pub new: CertificateView,
    pub submission_token: String,
}

/// One certificate on the confirmation page.
pub struct CertificateView {
    pub arn: String,
    pub names: String,
    pub issuer: String,
    pub key: String,
    pub not_after: String,
    pub days_left: String,
}

impl CertificateView {
    fn of(detail: &CertificateDetail, now: OffsetDateTime) -> Self {
        let c = &detail.summary;
        Self {
            arn: c.arn.clone(),
            names: c.names.join(", "),
            issuer: detail.issuer.clone().unwrap_or_else(|| "unknown".into()),
            key: c.key_algorithm.clone().unwrap_or_else(|| "unknown".into()),
            not_after: c
                .not_after
                .map_or_else(|| "unknown".into(), |t| t.date().to_string()),
            days_left: c
                .not_after
                .map_or_else(|| "unknown".into(), |t| (t - now).whole_days().to_string()),
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
}

/// The pool and its custom domain, if the user may change it.
async fn pool_in_scope(
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
    pool_id: web::Path<String>,
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
        &view.snapshot.certificates,
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

/// Plain words for the AWS errors an operator meets here.
fn plain_words(error: &AwsError) -> String {
    if let AwsError::QuotaBusy { .. } = error {
        return "AWS's request quota is busy; try again in a few seconds. Nothing was sent.".into();
    }
    match error.code() {
        Some("InvalidParameterException") => "AWS refused the request as invalid.".into(),
        Some("NotAuthorizedException") | Some("AccessDeniedException") => {
            "certdeck's AWS identity is not allowed to do this (check its IAM policy).".into()
        }
        Some("ResourceNotFoundException") => {
            "AWS does not know this user pool or domain any more.".into()
        }
        Some("TooManyRequestsException") | Some("ThrottlingException") => {
            "AWS is throttling requests; certdeck retried and gave up. Try again in a minute."
                .into()
        }
        Some("InternalErrorException") | Some("InternalFailure") => {
            "AWS had an internal error; nothing was changed on certdeck's side. Try again.".into()
        }
        Some(_) => "AWS refused the request.".into(),
        None => "AWS could not be reached.".into(),
    }
}

fn aws_error_view(error: &AwsError) -> AwsErrorView {
    let (code, message) = match error {
        AwsError::Service { code, message, .. } => (code.clone(), message.clone()),
        AwsError::Transport(message) => ("Unreachable".to_owned(), message.clone()),
        AwsError::QuotaBusy { .. } => ("QuotaBusy".to_owned(), error.to_string()),
    };
    AwsErrorView {
        plain: plain_words(error),
        code,
        message,
        request_id: error.request_id().unwrap_or("none").to_owned(),
    }
}

pub async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    pool_id: web::Path<String>,
    request: web::Form<ChangeRequest>,
) -> Result<HttpResponse, PageError> {
    let (view, domain) = pool_in_scope(&state, &req, &user, &pool_id).await?;
    let request = request.into_inner();
    let now = OffsetDateTime::now_utc();
    let refuse = |message: String, status: StatusCode| {
        let form = FormState {
            token: request.submission_token.clone(),
            selected: request.certificate_arn.clone(),
            message: Some(message),
            aws_error: None,
        };
        render_form(&state, &view, &user, &pool_id, &domain, form, status)
    };
    if !state
        .store
        .submission_token_valid(&request.submission_token, &user.username, &pool_id)
        .await?
    {
        return conflict(
            &state,
            &view,
            &user,
            &pool_id,
            &domain,
            ALREADY_SUBMITTED.into(),
        )
        .await;
    }
    // Never trust the form: the ARN is parsed, then checked against AWS as it is now.
    let arn = match CertificateArn::parse(request.certificate_arn.trim()) {
        Ok(arn) => arn,
        Err(e) => {
            return refuse(
                format!("Choose a certificate from the list: {e}."),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if arn.region() != CLOUDFRONT_CERTIFICATE_REGION {
        return refuse(
            format!("The certificate is in {}; CloudFront only uses certificates in {CLOUDFRONT_CERTIFICATE_REGION}.", arn.region()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ).await;
    }
    if !view
        .snapshot
        .certificates
        .iter()
        .any(|c| c.arn == arn.as_str())
    {
        return refuse(
            "That certificate is not one of those offered. Refresh the page to see the current list.".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ).await;
    }
    let record = view
        .pool(&pool_id)
        .ok_or_else(|| PageError::NotFound("No such pool.".into()))?;
    let current_arn = record
        .custom_domain
        .as_ref()
        .and_then(|d| d.certificate_arn.clone());
    if current_arn.as_deref() == Some(arn.as_str()) {
        return refuse(
            "The domain already uses this certificate.".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let new = match state
        .inventory
        .aws()
        .describe_certificate(arn.as_str())
        .await
    {
        Ok(detail) => detail,
        Err(e) => {
            return aws_failure_form(&state, &view, &user, &pool_id, &domain, &request, &e).await;
        }
    };
    let reasons = ineligibility_reasons(&new.summary, &domain, now);
    if !reasons.is_empty() {
        let message = format!(
            "This certificate cannot serve {domain}: {}.",
            reasons.join("; ")
        );
        return refuse(message, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if request.confirm.as_deref() != Some("yes") {
        let old = match &current_arn {
            Some(old) => state.inventory.aws().describe_certificate(old).await.ok(),
            None => None,
        };
        let page = ConfirmPage {
            title: "Confirm the change",
            chrome: Chrome::of(&user),
            record,
            domain: domain.as_str(),
            old: old.as_ref().map(|d| CertificateView::of(d, now)),
            new: CertificateView::of(&new, now),
            submission_token: request.submission_token.clone(),
        };
        return super::html(&page);
    }
    // The inventory may be minutes old: who owns the pool is decided from its tags as
    // AWS holds them now.
    match owner_now(&state, &user, record).await {
        Ok(Scope::Allowed) => {}
        Ok(Scope::Refused(why)) => {
            return Err(deny(&state, &req, &user, Some(&pool_id), &why).await);
        }
        Err(e) => {
            return aws_failure_form(&state, &view, &user, &pool_id, &domain, &request, &e).await;
        }
    }
    apply_change(&state, &req, &user, &view, record, &domain, &request, &new).await
}

/// Whether the user may change the pool, as AWS tags it at this moment.
enum Scope {
    Allowed,
    Refused(String),
}

/// Reads the pool's team tag from AWS (ListTagsForResource) and decides the user's
/// scope from it. Admins may change every pool: nothing is read for them.
async fn owner_now(
    state: &AppState,
    user: &CurrentUser,
    record: &PoolRecord,
) -> Result<Scope, AwsError> {
    if user.role == crate::auth::Role::Admin {
        return Ok(Scope::Allowed);
    }
    let aws = state.inventory.aws().interactive();
    let tags = match &record.pool.arn {
        Some(arn) => aws.pool_tags(&record.region, arn).await?,
        None => {
            aws.describe_user_pool(&record.region, &record.pool.id)
                .await?
                .tags
        }
    };
    let team = tags.get(&state.settings.team_tag).map(String::as_str);
    if user.may_change(team) {
        Ok(Scope::Allowed)
    } else {
        Ok(Scope::Refused(format!(
            "this pool now belongs to team {}, not one of yours",
            team.unwrap_or("(none)")
        )))
    }
}

/// The confirmed change: one token, one claim on the domain, the `requested` entry, the
/// call, then the outcome, the propagation and the release written together.
#[allow(clippy::too_many_arguments)]
async fn apply_change(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    view: &crate::inventory::View,
    record: &PoolRecord,
    domain: &DomainName,
    request: &ChangeRequest,
    new: &CertificateDetail,
) -> Result<HttpResponse, PageError> {
    let pool_id = record.pool.id.as_str();
    if !state
        .store
        .consume_submission_token(&request.submission_token, &user.username, pool_id)
        .await?
    {
        return conflict(state, view, user, pool_id, domain, ALREADY_SUBMITTED.into()).await;
    }
    let mut change = PendingChange {
        domain: domain.to_string(),
        pool_id: pool_id.to_owned(),
        region: record.region.clone(),
        old_certificate_arn: record
            .custom_domain
            .as_ref()
            .and_then(|d| d.certificate_arn.clone()),
        new_certificate_arn: new.summary.arn.clone(),
        actor: user.username.clone(),
        role: Some(user.role.as_str().to_owned()),
    };
    if !state.store.begin_change(&change).await? {
        let message = "Another change of this domain is being submitted.".to_owned();
        return conflict(state, view, user, pool_id, domain, message).await;
    }
    // Read after the claim, so that nothing changes the domain in between.
    let current = match state
        .inventory
        .aws()
        .domain_settings(&record.region, domain.as_str())
        .await
    {
        Ok(Some(current)) if current.user_pool_id == pool_id => current,
        Ok(_) => {
            state.store.end_change(domain.as_str()).await?;
            return Err(PageError::NotFound(format!(
                "AWS no longer has {domain} on pool {pool_id}."
            )));
        }
        Err(e) => {
            state.store.end_change(domain.as_str()).await?;
            return aws_failure_form(state, view, user, pool_id, domain, request, &e).await;
        }
    };
    if let Some(status) = current.status.as_deref().filter(|s| *s != "ACTIVE") {
        state.store.end_change(domain.as_str()).await?;
        let message = format!(
            "Cognito reports the domain as {status}: a change is still in progress. Wait until it is ACTIVE."
        );
        return conflict(state, view, user, pool_id, domain, message).await;
    }
    change.old_certificate_arn = current.certificate_arn.clone();
    match submit_to_aws(state, req, &change, &current, new).await? {
        Submitted::Accepted(propagation_id) => {
            let inventory = state.inventory.clone();
            let pool = pool_id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = inventory.refresh_pool(&pool).await {
                    tracing::warn!(error = %e, pool, "the pool was not refreshed after its change");
                }
            });
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/propagations/{propagation_id}")))
                .finish())
        }
        Submitted::Refused(e) => {
            aws_failure_form(state, view, user, pool_id, domain, request, &e).await
        }
        Submitted::Unknown(e) => {
            let message = format!(
                "AWS did not answer clearly ({e}) and could not be asked again. certdeck keeps the change pending and settles it from what AWS shows within {} minutes; nothing more is sent meanwhile.",
                crate::propagation::ABANDONED_AFTER.as_secs() / 60
            );
            form_with_message(
                state,
                view,
                user,
                pool_id,
                domain,
                message,
                StatusCode::BAD_GATEWAY,
            )
            .await
        }
    }
}

/// How a submission ended.
enum Submitted {
    /// AWS took the change: the propagation's id.
    Accepted(String),
    /// AWS refused it; nothing changed.
    Refused(AwsError),
    /// AWS's answer was unclear and AWS could not be asked again: the change stays
    /// pending until it is settled from what AWS shows.
    Unknown(AwsError),
}

/// Whether an error leaves open that AWS applied the update anyway.
fn ambiguous(error: &AwsError) -> bool {
    match error {
        // Refused before anything was sent.
        AwsError::QuotaBusy { .. } => false,
        AwsError::Transport(_) => true,
        AwsError::Service { code, .. } => {
            matches!(
                code.as_str(),
                "InternalErrorException" | "InternalFailure" | "ServiceUnavailable"
            )
        }
    }
}

/// Audits, calls AWS, then records the outcome.
async fn submit_to_aws(
    state: &AppState,
    req: &HttpRequest,
    change: &PendingChange,
    current: &crate::aws::DomainSettings,
    new: &CertificateDetail,
) -> Result<Submitted, PageError> {
    let (source_ip, user_agent) = super::origin(req);
    let entry = |action: AuditAction, outcome: &str| AuditRecord {
        source_ip: source_ip.clone(),
        user_agent: user_agent.clone(),
        ..propagation::change_record(change, action, outcome)
    };
    // Written before AWS is called: if it cannot be written, nothing is sent.
    if let Err(e) = audit(
        state,
        entry(AuditAction::CertificateUpdateRequested, "requested"),
    )
    .await
    {
        state.store.end_change(&change.domain).await?;
        return Err(e.into());
    }
    let aws = state.inventory.aws();
    let accepted = |request_id: Option<String>, detail: Option<String>| {
        let mut outcome = entry(AuditAction::CertificateUpdateSucceeded, "success");
        outcome.aws_request_id = request_id;
        outcome.detail = detail;
        outcome
    };
    let outcome = match aws
        .update_certificate(current, &change.new_certificate_arn)
        .await
    {
        Ok(receipt) => Ok(accepted(
            receipt.request_id,
            receipt.cloudfront_domain.map(|d| format!("CloudFront {d}")),
        )),
        Err(error) if ambiguous(&error) => {
            match aws.domain_settings(&current.region, &current.domain).await {
                Ok(Some(now))
                    if now.certificate_arn.as_deref()
                        == Some(change.new_certificate_arn.as_str()) =>
                {
                    Ok(accepted(
                        error.request_id().map(str::to_owned),
                        Some(format!(
                            "AWS answered {error}, but shows the new certificate"
                        )),
                    ))
                }
                Ok(_) => Err(error),
                Err(_) => return Ok(Submitted::Unknown(error)),
            }
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(succeeded) => {
            let timeout = state.settings.propagation_timeout;
            let id =
                propagation::accept(&state.store, timeout, change, new.serial.clone(), succeeded)
                    .await?;
            Ok(Submitted::Accepted(id))
        }
        Err(error) => {
            let mut failed = entry(AuditAction::CertificateUpdateFailed, "failure");
            failed.aws_request_id = error.request_id().map(str::to_owned);
            failed.detail = Some(error.to_string());
            state
                .store
                .finish_change(&change.domain, failed, None)
                .await?;
            Ok(Submitted::Refused(error))
        }
    }
}

const ALREADY_SUBMITTED: &str = "This form was already submitted (or has expired). Nothing was sent again; check the propagations, or use this new form.";

/// The form again, with why, and `status`.
async fn form_with_message(
    state: &AppState,
    view: &crate::inventory::View,
    user: &CurrentUser,
    pool_id: &str,
    domain: &DomainName,
    message: String,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let form = FormState {
        message: Some(message),
        ..FormState::default()
    };
    render_form(state, view, user, pool_id, domain, form, status).await
}

/// 409 with the form and why.
async fn conflict(
    state: &AppState,
    view: &crate::inventory::View,
    user: &CurrentUser,
    pool_id: &str,
    domain: &DomainName,
    message: String,
) -> Result<HttpResponse, PageError> {
    form_with_message(
        state,
        view,
        user,
        pool_id,
        domain,
        message,
        StatusCode::CONFLICT,
    )
    .await
}

async fn aws_failure_form(
    state: &AppState,
    view: &crate::inventory::View,
    user: &CurrentUser,
    pool_id: &str,
    domain: &DomainName,
    request: &ChangeRequest,
    error: &AwsError,
) -> Result<HttpResponse, PageError> {
    render_form(
        state,
        view,
        user,
        pool_id,
        domain,
        FormState {
            token: String::new(),
            selected: request.certificate_arn.clone(),
            message: None,
            aws_error: Some(aws_error_view(error)),
        },
        StatusCode::BAD_GATEWAY,
    )
    .await
}
