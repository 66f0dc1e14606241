//! HTTP handlers, one folder per feature, and the one error type that turns failures
//! into pages.

mod audit;
mod certificate;
mod dashboard;
mod health;
mod login;
mod pools;
mod propagations;

use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use time::OffsetDateTime;

use crate::auth::{CurrentUser, Refusal};
use crate::domain::audit::AuditRecord;
use crate::startup::AppState;

pub use propagations::StreamSlots;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/audit", web::get().to(audit::show))
        .route("/audit.csv", web::get().to(audit::csv))
        .route("/audit.jsonl", web::get().to(audit::jsonl))
        .route("/", web::get().to(dashboard::show))
        .route("/pools/{pool_id}", web::get().to(pools::show))
        .route("/pools/{pool_id}/refresh", web::post().to(pools::refresh))
        .route(
            "/pools/{pool_id}/certificate",
            web::get().to(certificate::form),
        )
        .route(
            "/pools/{pool_id}/certificate",
            web::post().to(certificate::submit),
        )
        .route("/propagations", web::get().to(propagations::index))
        .route("/propagations/{id}", web::get().to(propagations::show))
        .route(
            "/propagations/{id}/events",
            web::get().to(propagations::events),
        )
        .route("/api/propagations/{id}", web::get().to(propagations::api))
        .route("/healthz", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .route("/static/{file}", web::get().to(static_file));
}

/// The files under `static/`, built into the binary so it runs from anywhere.
async fn static_file(file: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "certdeck.css" => (
            include_str!("../../static/certdeck.css"),
            "text/css; charset=utf-8",
        ),
        "propagation.js" => (
            include_str!("../../static/propagation.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=300"))
        .body(body)
}

/// Renders a page.
pub fn html(page: &impl Template) -> Result<HttpResponse, PageError> {
    html_with_status(page, StatusCode::OK)
}

/// Renders a page with another status (a form with a problem).
pub fn html_with_status(
    page: &impl Template,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("rendering failed: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// What the shared navigation bar needs: who is signed in, and the CSRF token of the
/// sign-out form.
pub struct Chrome {
    pub user: Option<CurrentUser>,
}

impl Chrome {
    pub fn of(user: &CurrentUser) -> Self {
        Self {
            user: Some(user.clone()),
        }
    }

    pub fn anonymous() -> Self {
        Self { user: None }
    }

    /// The CSRF token for the page's forms.
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.csrf_token.as_str())
    }
}

/// A failed page request.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    NotFound(String),
    /// Outside the user's role or teams (already written to the audit log).
    #[error("{0}")]
    Forbidden(String),
    /// AWS's quota is busy: try again in a few seconds (503 with `Retry-After`).
    #[error("{0}")]
    Busy(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    chrome: Chrome,
    message: String,
    request_id: Option<String>,
}

/// The 403 page.
pub fn forbidden_response(message: &str) -> HttpResponse {
    PageError::Forbidden(message.to_owned()).error_response()
}

/// Where a request came from, for the audit log. The peer address, not a header a
/// client could forge.
pub fn origin(req: &HttpRequest) -> (Option<String>, Option<String>) {
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(256).collect());
    (ip, agent)
}

/// An audit record about `req` by `user` (or by whoever the request names).
pub fn audit_record(
    req: &HttpRequest,
    user: Option<&CurrentUser>,
    action: &str,
    outcome: &str,
) -> AuditRecord {
    let (source_ip, user_agent) = origin(req);
    AuditRecord {
        actor: user.map_or_else(|| "anonymous".to_owned(), |u| u.username.clone()),
        role: user.map(|u| u.role.as_str().to_owned()),
        source_ip,
        user_agent,
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        ..AuditRecord::default()
    }
}

/// Appends to the audit log; a failure to record is logged, and the caller decides
/// whether the action may go on without it.
pub async fn audit(state: &AppState, record: AuditRecord) -> anyhow::Result<()> {
    state.store.append_audit(record).await.map(|_| ())
}

/// Refuses a request outside the user's rights: an `access.denied` entry, then 403.
pub async fn deny(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
    pool_id: Option<&str>,
    why: &str,
) -> PageError {
    let mut record = audit_record(req, Some(user), "access.denied", "denied");
    record.pool_id = pool_id.map(str::to_owned);
    record.detail = Some(format!("{} {}: {why}", req.method(), req.path()));
    if let Err(e) = audit(state, record).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a denied request could not be audited"
        );
    }
    PageError::Forbidden(why.to_owned())
}

/// The audit entry of a request the guard turned away (CSRF failures).
pub async fn record_refusal(state: &AppState, req: &ServiceRequest, why: Refusal) {
    if why != Refusal::BadCsrf {
        return;
    }
    let mut record = audit_record(req.request(), None, "csrf.rejected", "denied");
    record.detail = Some(format!(
        "{} {}: missing or wrong CSRF token",
        req.method(),
        req.path()
    ));
    if let Err(e) = audit(state, record).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a CSRF failure could not be audited"
        );
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message, request_id) = match self {
            PageError::NotFound(what) => ("Not found", what.clone(), None),
            PageError::Forbidden(why) => ("Not allowed", why.clone(), None),
            PageError::Busy(why) => ("Try again shortly", why.clone(), None),
            PageError::Unexpected(error) => {
                let id = uuid::Uuid::new_v4().to_string();
                tracing::error!(
                    request_id = id,
                    error = format!("{error:#}"),
                    "request failed"
                );
                (
                    "Something went wrong",
                    "The console could not complete this request.".to_owned(),
                    Some(id),
                )
            }
        };
        let page = ErrorPage {
            title,
            chrome: Chrome::anonymous(),
            message,
            request_id,
        };
        let body = page.render().unwrap_or_else(|_| title.to_owned());
        let mut response = HttpResponse::build(self.status_code());
        if let PageError::Busy(_) = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

/// "3 min ago" for a past moment.
pub fn age(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds().max(0);
    match seconds {
        0..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86_400),
    }
}

/// A timestamp as the pages show it (UTC).
pub fn timestamp(at: OffsetDateTime) -> String {
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        at.date(),
        at.hour(),
        at.minute(),
        at.second()
    )
}
