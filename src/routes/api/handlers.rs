//! The handlers of `/api/v1`: parse, call the same code the pages call, answer JSON.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::problem::{PROBLEM_JSON, Problem};
use crate::auth::tokens::{ApiCaller, TokenScope};
use crate::auth::{CurrentUser, Role};
use crate::change::{self, ChangeError};
use crate::domain::{DomainName, UserPoolId};
use crate::inventory::{CertificateChoice, DashboardQuery, DashboardRow, certificate_choices};
use crate::state::AppState;
use crate::store::{AuditFilter, IdempotencyClaim};

/// Audit entries a page, by default and at most.
const AUDIT_PAGE: i64 = 50;
const AUDIT_PAGE_MAX: i64 = 200;
/// The longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_BYTES: usize = 255;

fn rfc3339(at: Option<OffsetDateTime>) -> Value {
    at.and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

fn pool_json(row: &DashboardRow, user: &CurrentUser) -> Value {
    let certificate = row.certificate.as_ref();
    json!({
        "pool_id": row.pool_id,
        "pool_name": row.pool_name,
        "account": row.account,
        "account_id": row.account_id,
        "account_problem": row.account_problem,
        "region": row.region,
        "team": row.team,
        "prefix_domain": row.prefix_domain,
        "custom_domain": row.custom_domain,
        "security_policy": row.security_policy,
        "domain_status": row.domain_status,
        "certificate_arn": row.certificate_arn,
        "certificate_name": certificate.and_then(|c| c.domain_name.clone()),
        "certificate_not_after": rfc3339(certificate.and_then(|c| c.not_after)),
        "days_left": row.days_left,
        "flags": {
            "expires_soon": row.flags.expires_soon,
            "newer_eligible": row.flags.newer_eligible,
            "domain_not_active": row.flags.domain_not_active,
            "imported": row.flags.imported,
            "discouraged_tls": row.flags.discouraged_tls,
        },
        "may_change": user.may_change(row.team.as_deref()) && row.custom_domain.is_some(),
        "links": {
            "self": format!("/api/v1/pools/{}", row.pool_id),
            "certificates": format!("/api/v1/pools/{}/certificates", row.pool_id),
            "page": format!("/pools/{}", row.pool_id),
        },
    })
}

fn choice_json(choice: &CertificateChoice<'_>) -> Value {
    let c = choice.certificate;
    json!({
        "arn": c.arn,
        "domain_name": c.domain_name,
        "names": c.names,
        "status": c.status.as_ref().map(ToString::to_string),
        "type": c.certificate_type.as_ref().map(ToString::to_string),
        "key_algorithm": c.key_algorithm.as_ref().map(ToString::to_string),
        "not_before": rfc3339(c.not_before),
        "not_after": rfc3339(c.not_after),
        "eligible": choice.eligible(),
        "selectable": choice.selectable(),
        "current": choice.current,
        "recommended": choice.recommended,
        "reasons": choice.reasons,
        "caution": choice.caution(),
    })
}

/// `GET /api/v1/pools`: the dashboard's rows with its filters.
pub async fn list_pools(
    state: web::Data<AppState>,
    caller: ApiCaller,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, Problem> {
    let view = state.inventory.view();
    let page = query.apply(&view.rows);
    Ok(HttpResponse::Ok().json(json!({
        "pools": page.rows.iter().map(|row| pool_json(row, &caller.user)).collect::<Vec<_>>(),
        "total": page.total,
        "page": page.page,
        "pages": page.pages,
        "refreshed_at": rfc3339(Some(view.snapshot.taken_at)),
    })))
}

/// `GET /api/v1/pools/{pool_id}`.
pub async fn get_pool(
    state: web::Data<AppState>,
    caller: ApiCaller,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let view = state.inventory.view();
    let row = view
        .row(&pool_id)
        .ok_or_else(|| Problem::new("not-found", format!("There is no pool {pool_id}.")))?;
    Ok(HttpResponse::Ok().json(pool_json(row, &caller.user)))
}

/// `GET /api/v1/pools/{pool_id}/certificates`: the change form's choices.
pub async fn pool_certificates(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    pool_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let view = state.inventory.view();
    let record = view
        .pool(&pool_id)
        .ok_or_else(|| Problem::new("not-found", format!("There is no pool {pool_id}.")))?;
    let domain = custom_domain(record)?;
    let current = record
        .custom_domain
        .as_ref()
        .and_then(|d| d.certificate_arn.as_deref());
    let choices = certificate_choices(
        view.certificates_of(&record.account),
        &domain,
        current,
        OffsetDateTime::now_utc(),
    );
    Ok(HttpResponse::Ok().json(json!({
        "pool_id": record.pool.id,
        "domain": domain.as_str(),
        "current_certificate_arn": current,
        "certificates": choices.iter().map(choice_json).collect::<Vec<_>>(),
    })))
}

fn custom_domain(record: &crate::inventory::PoolRecord) -> Result<DomainName, Problem> {
    let domain = record.pool.custom_domain.as_deref().ok_or_else(|| {
        Problem::new(
            "not-found",
            "This pool has no custom domain, so no certificate to change.",
        )
    })?;
    DomainName::parse(domain).map_err(|e| {
        Problem::unexpected(&anyhow::anyhow!(
            "the inventory holds an invalid domain: {e}"
        ))
    })
}

/// `GET /api/v1/propagations/{id}`.
pub async fn get_propagation(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    match state.store.propagation(&id).await? {
        Some(p) => Ok(HttpResponse::Ok().json(p)),
        None => Err(Problem::new(
            "not-found",
            format!("There is no propagation {id}."),
        )),
    }
}

/// `GET /api/v1/audit`'s query (numbers read by hand: a flattened filter would make
/// every value a string to serde).
#[derive(Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    pool_id: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    account: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<String>,
    limit: Option<String>,
}

fn number(name: &str, value: Option<&str>) -> Result<Option<i64>, Problem> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| Problem::new("bad-request", format!("{name} must be a whole number."))),
    }
}

/// `GET /api/v1/audit`: newest first, keyset pages (`next` carries `before`).
pub async fn list_audit(
    state: web::Data<AppState>,
    _caller: ApiCaller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let before = number("before", query.before.as_deref())?;
    let limit = number("limit", query.limit.as_deref())?.unwrap_or(AUDIT_PAGE);
    if !(1..=AUDIT_PAGE_MAX).contains(&limit) {
        return Err(Problem::new(
            "bad-request",
            format!("limit must be 1 to {AUDIT_PAGE_MAX}."),
        ));
    }
    let filter = AuditFilter {
        actor: query.actor,
        pool_id: query.pool_id,
        action: query.action,
        outcome: query.outcome,
        account: query.account,
        from: query.from,
        to: query.to,
        ..AuditFilter::default()
    };
    let mut entries = state.store.audit_page(&filter, before, limit + 1).await?;
    let more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    let next = match (more, entries.last()) {
        (true, Some(last)) => {
            let mut pairs = super::super::audit::filter_pairs(&filter);
            pairs.push(("before".to_owned(), last.id.to_string()));
            pairs.push(("limit".to_owned(), limit.to_string()));
            Some(format!(
                "/api/v1/audit?{}",
                super::super::audit::encode(&pairs)
            ))
        }
        _ => None,
    };
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next": next })))
}

/// `POST /api/v1/pools/{pool_id}/certificate`'s body.
#[derive(Deserialize)]
pub struct ChangeBody {
    certificate_arn: String,
}

/// An answer as it is sent, and kept for an `Idempotency-Key`.
struct Answer {
    status: StatusCode,
    body: String,
    location: Option<String>,
    retry_after: Option<u32>,
}

impl Answer {
    fn of_problem(problem: &Problem) -> Self {
        Self {
            status: problem.status,
            body: problem.body().to_string(),
            location: None,
            retry_after: problem.retry_after,
        }
    }

    fn response(&self, replayed: bool) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type(if self.status.is_success() {
            "application/json"
        } else {
            PROBLEM_JSON
        });
        if let Some(location) = &self.location {
            response.insert_header((header::LOCATION, location.clone()));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if replayed {
            response.insert_header(("idempotent-replayed", "true"));
        }
        response.body(self.body.clone())
    }
}

/// The `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_BYTES
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Problem::new(
            "bad-request",
            format!(
                "An Idempotency-Key is 1 to {MAX_IDEMPOTENCY_KEY_BYTES} visible ASCII characters."
            ),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// `POST /api/v1/pools/{pool_id}/certificate`: the form's guarded change, once per
/// `Idempotency-Key`.
pub async fn change_certificate(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: ApiCaller,
    pool_id: web::Path<String>,
    body: web::Json<ChangeBody>,
) -> Result<HttpResponse, Problem> {
    let pool_id = pool_id.into_inner();
    let arn = body.into_inner().certificate_arn;
    if !caller.may_write() {
        let why = if caller.scope == TokenScope::Read {
            "a read token cannot change certificates"
        } else {
            "viewers cannot change certificates"
        };
        return Err(forbidden(&state, &req, &caller.user, &pool_id, why).await);
    }
    let key = idempotency_key(&req)?;
    let username = caller.user.username.clone();
    if let Some(key) = &key {
        let digest = hex::encode(Sha256::digest(
            format!("POST {pool_id}\n{}", arn.trim()).as_bytes(),
        ));
        match state
            .store
            .claim_idempotency_key(&username, key, &digest)
            .await?
        {
            IdempotencyClaim::Claimed => {}
            IdempotencyClaim::Answered {
                status,
                body,
                location,
            } => {
                let status = StatusCode::from_u16(status)
                    .map_err(|e| Problem::unexpected(&anyhow::anyhow!("a stored status: {e}")))?;
                let answer = Answer {
                    status,
                    body,
                    location,
                    retry_after: None,
                };
                return Ok(answer.response(true));
            }
            IdempotencyClaim::Mismatch => {
                return Err(Problem::new(
                    "idempotency-key-reused",
                    "This Idempotency-Key was used with another request. Use a new key for a new request.",
                ));
            }
            IdempotencyClaim::InFlight => {
                return Err(Problem::new(
                    "conflict",
                    "The first request with this Idempotency-Key is still running. Retry shortly.",
                )
                .retry_after(1));
            }
            IdempotencyClaim::TooMany => {
                return Err(Problem::new(
                    "too-many",
                    "Too many Idempotency-Keys in the last 24 hours.",
                )
                .retry_after(3600));
            }
        }
    }
    let answer = match change(&state, &req, &caller.user, &pool_id, &arn).await {
        Ok(answer) => answer,
        Err(problem) => Answer::of_problem(&problem),
    };
    if let Some(key) = &key {
        // Nothing was sent when the quota was busy: a retry may run. Every other answer
        // is the one a retry gets.
        if answer.status == StatusCode::SERVICE_UNAVAILABLE {
            state.store.release_idempotency_key(&username, key).await?;
        } else {
            state
                .store
                .answer_idempotency_key(
                    &username,
                    key,
                    answer.status.as_u16(),
                    &answer.body,
                    answer.location.as_deref(),
                )
                .await?;
        }
    }
    Ok(answer.response(false))
}

/// A 403 problem, audited as the pages' refusals are.
async fn forbidden(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    pool_id: &str,
    why: &str,
) -> Problem {
    let _ = super::super::deny(state, req, user, Some(pool_id), why).await;
    Problem::new("forbidden", format!("Not allowed: {why}."))
}

/// The change itself: the pool in the user's scope, then `change::submit_change` with
/// a submission token issued here (the protocol is the form's, unchanged).
async fn change(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    pool_id: &str,
    arn: &str,
) -> Result<Answer, Problem> {
    let view = state.inventory.view();
    let Some(record) = view.pool(pool_id) else {
        // Refused like others' pools, as the form does.
        return Err(forbidden(state, req, user, pool_id, "no such pool in your scope").await);
    };
    let team = view.row(pool_id).and_then(|row| row.team.as_deref());
    if !user.may_change(team) {
        let why = match user.role {
            Role::Viewer => "viewers cannot change certificates".to_owned(),
            _ => format!(
                "this pool belongs to team {}, not one of yours",
                team.unwrap_or("(none)")
            ),
        };
        return Err(forbidden(state, req, user, pool_id, &why).await);
    }
    let domain = custom_domain(record)?;
    let parsed_pool =
        UserPoolId::parse(pool_id).map_err(|e| Problem::new("bad-request", e.to_string()))?;
    let submission_token = state
        .store
        .issue_submission_token(&user.username, pool_id)
        .await?;
    let (source_ip, user_agent) = super::super::origin(req);
    let services = change::Services {
        store: &state.store,
        inventory: &state.inventory,
        propagation_timeout: state.settings.propagation_timeout,
    };
    let request = change::ChangeRequest {
        user,
        view: &view,
        pool_id: &parsed_pool,
        domain: &domain,
        certificate_arn: arn,
        submission_token: &submission_token,
        source_ip,
        user_agent,
    };
    match change::submit_change(&services, &request).await {
        Ok(accepted) => {
            let id = accepted.propagation_id;
            let location = format!("/api/v1/propagations/{id}");
            let body = json!({
                "propagation_id": id,
                "propagation": location,
                "page": format!("/propagations/{id}"),
                "pool_id": pool_id,
                "domain": domain.as_str(),
                "certificate_arn": arn.trim(),
                "phase": "submitted",
            });
            Ok(Answer {
                status: StatusCode::ACCEPTED,
                body: body.to_string(),
                location: Some(location),
                retry_after: None,
            })
        }
        Err(error) => Err(change_problem(state, req, user, pool_id, error).await),
    }
}

async fn change_problem(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    pool_id: &str,
    error: ChangeError,
) -> Problem {
    let text = error.to_string();
    match error {
        ChangeError::AlreadySubmitted
        | ChangeError::DomainBusy
        | ChangeError::DomainChanging(_) => Problem::new("conflict", text),
        ChangeError::RollbackRefused(_) => Problem::new("not-eligible", text),
        ChangeError::ApprovalRequested { request_id } => {
            Problem::new("approval-required", text).with("request_id", json!(request_id))
        }
        ChangeError::PlanChanged(_) => Problem::new("conflict", text),
        ChangeError::PreflightFailed(failures) => {
            Problem::new("conflict", text).with("failed_checks", json!(failures))
        }
        ChangeError::DomainGone { .. } => Problem::new("not-found", text),
        ChangeError::OutOfScope(why) => forbidden(state, req, user, pool_id, &why).await,
        ChangeError::NotOffered(_) => Problem::new("not-eligible", text),
        ChangeError::NotEligible { reasons, .. } => {
            Problem::new("not-eligible", text).with("reasons", json!(reasons))
        }
        ChangeError::AwsRefused(aws) => {
            let (code, message) = aws.code_and_message();
            Problem::new("aws-error", aws.plain_words()).with(
                "aws_error",
                json!({ "code": code, "message": message, "request_id": aws.request_id() }),
            )
        }
        ChangeError::QuotaBusy(aws) => Problem::new("busy", aws.plain_words()).retry_after(5),
        ChangeError::UnclearOutcome(_) => Problem::new("aws-error", text),
        ChangeError::Unexpected(e) => Problem::unexpected(&e),
    }
}
