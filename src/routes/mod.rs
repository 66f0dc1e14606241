//! HTTP handlers, one folder per feature, and the one error type that turns failures
//! into pages.

pub mod api;
mod audit;
mod bulk;
mod certificate;
mod certificates;
mod dashboard;
mod expiry;
pub mod guard;
mod health;
mod login;
mod notifications;
mod oidc;
mod pools;
mod propagations;
mod requests;
mod tokens;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use time::OffsetDateTime;

use crate::auth::CurrentUser;
use crate::auth::refusals::{MAX_TEXT_BYTES, Refusal};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::text::truncate_bytes;
use crate::state::AppState;

pub fn configure(config: &mut web::ServiceConfig) {
    extractor_errors(config);
    config.configure(api::configure);
    config
        .route("/login", web::get().to(login::form))
        .route("/login", web::post().to(login::submit))
        .route("/logout", web::post().to(login::logout))
        .route("/auth/oidc/start", web::get().to(oidc::start))
        .route("/auth/oidc/callback", web::get().to(oidc::callback))
        .route("/audit", web::get().to(audit::show))
        .route("/audit.csv", web::get().to(audit::csv))
        .route("/audit.jsonl", web::get().to(audit::jsonl))
        .route("/", web::get().to(dashboard::show))
        .route("/expiry", web::get().to(expiry::show))
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
        .route("/certificates/{arn}", web::get().to(certificates::show))
        .route(
            "/certificates/{arn}/replace",
            web::get().to(certificates::plan),
        )
        .route(
            "/certificates/{arn}/replace",
            web::post().to(certificates::replace),
        )
        .route("/bulk/{id}", web::get().to(bulk::show))
        .route("/bulk/{id}/cancel", web::post().to(bulk::cancel))
        .route("/scheduled", web::get().to(bulk::scheduled))
        .route("/propagations", web::get().to(propagations::index))
        .route("/requests", web::get().to(requests::index))
        .route("/requests/{id}/approve", web::post().to(requests::approve))
        .route("/requests/{id}/reject", web::post().to(requests::reject))
        .route("/propagations/{id}", web::get().to(propagations::show))
        .route(
            "/propagations/{id}/rollback",
            web::post().to(propagations::rollback),
        )
        .route(
            "/propagations/{id}/events",
            web::get().to(propagations::events),
        )
        .route("/api/propagations/{id}", web::get().to(propagations::api))
        .route("/tokens", web::get().to(tokens::index))
        .route("/tokens", web::post().to(tokens::create))
        .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
        .route("/notifications", web::get().to(notifications::index))
        .route(
            "/notifications/test",
            web::post().to(notifications::send_test),
        )
        .route("/healthz", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .route("/static/{file}", web::get().to(static_file))
        .default_service(web::to(|| async {
            Err::<HttpResponse, _>(PageError::NotFound(
                "There is no page at this address.".into(),
            ))
        }));
}

/// The files under `static/`, built into the binary so it runs from anywhere.
async fn static_file(file: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "certdeck.css" => (
            include_str!("../../static/certdeck.css"),
            "text/css; charset=utf-8",
        ),
        "certdeck.js" => (
            include_str!("../../static/certdeck.js"),
            "text/javascript; charset=utf-8",
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
    /// A query string, form or path that does not parse.
    #[error("{0}")]
    BadRequest(String),
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

/// A page with `status` and a message (for answers made before a handler runs).
pub fn status_response(status: StatusCode, message: &str) -> HttpResponse {
    let page = ErrorPage {
        title: status.canonical_reason().unwrap_or("Error"),
        chrome: Chrome::anonymous(),
        message: message.to_owned(),
        request_id: None,
    };
    let body = page.render().unwrap_or_else(|_| message.to_owned());
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// Where a request came from, for the audit log. The peer address, not a header a
/// client could forge; the user agent cut to `MAX_TEXT_BYTES`.
pub fn origin(req: &HttpRequest) -> (Option<String>, Option<String>) {
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|v| truncate_bytes(v, MAX_TEXT_BYTES));
    (ip, agent)
}

/// "METHOD /path" of a request, cut to `MAX_TEXT_BYTES` (paths come from anyone).
pub fn request_line(req: &HttpRequest) -> String {
    truncate_bytes(&format!("{} {}", req.method(), req.path()), MAX_TEXT_BYTES)
}

/// An audit record about `req` by `user` (or by whoever the request names).
pub fn audit_record(
    req: &HttpRequest,
    user: Option<&CurrentUser>,
    action: AuditAction,
    outcome: &str,
) -> AuditRecord {
    let (source_ip, user_agent) = origin(req);
    AuditRecord {
        actor: user.map_or_else(|| "anonymous".to_owned(), |u| u.username.clone()),
        role: user.map(|u| u.role.as_str().to_owned()),
        source_ip,
        user_agent,
        action,
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
    let mut record = audit_record(req, Some(user), AuditAction::AccessDenied, "denied");
    record.pool_id = pool_id.map(str::to_owned);
    record.detail = Some(format!("{}: {why}", request_line(req)));
    if let Err(e) = audit(state, record).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a denied request could not be audited"
        );
    }
    PageError::Forbidden(why.to_owned())
}

/// Audits a POST the guard refused for its CSRF token: an entry naming the user when
/// the session is signed in; counted per address and minute when nobody is.
pub async fn record_csrf_refusal(state: &AppState, req: &HttpRequest, user: Option<String>) {
    let detail = format!("{}: missing or wrong CSRF token", request_line(req));
    let Some(username) = user else {
        let (source_ip, user_agent) = origin(req);
        state.refusals.note(Refusal {
            source_ip,
            user_agent,
            action: AuditAction::CsrfRejected,
            outcome: "denied",
            detail,
        });
        return;
    };
    let mut record = audit_record(req, None, AuditAction::CsrfRejected, "denied");
    record.actor = username;
    record.detail = Some(detail);
    if let Err(e) = audit(state, record).await {
        tracing::error!(
            error = format!("{e:#}"),
            "a CSRF failure could not be audited"
        );
    }
}

impl PageError {
    fn title(&self) -> &'static str {
        match self {
            PageError::BadRequest(_) => "Bad request",
            PageError::NotFound(_) => "Not found",
            PageError::Forbidden(_) => "Not allowed",
            PageError::Busy(_) => "Try again shortly",
            PageError::Unexpected(_) => "Something went wrong",
        }
    }

    fn message(&self) -> String {
        match self {
            PageError::BadRequest(why)
            | PageError::NotFound(why)
            | PageError::Forbidden(why)
            | PageError::Busy(why) => why.clone(),
            PageError::Unexpected(_) => "The console could not complete this request.".to_owned(),
        }
    }

    /// The error page, with the navigation bar of `user` and the request id.
    pub fn page(&self, user: Option<&CurrentUser>, request_id: Option<String>) -> HttpResponse {
        let page = ErrorPage {
            title: self.title(),
            chrome: user.map_or_else(Chrome::anonymous, Chrome::of),
            message: self.message(),
            request_id,
        };
        let body = page.render().unwrap_or_else(|_| self.title().to_owned());
        let mut response = HttpResponse::build(self.status_code());
        if let PageError::Busy(_) = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, "5"));
        }
        response.content_type("text/html; charset=utf-8").body(body)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A bare page; `render_errors` renders it again with the navigation bar and the
    /// request id.
    fn error_response(&self) -> HttpResponse {
        self.page(None, None)
    }
}

/// Middleware: every failed page request becomes the house error page, with the
/// navigation bar for a signed-in user and the request id that the request's log lines
/// carry; unexpected errors are logged here with their chain of causes (never shown).
/// JSON and event-stream routes keep their own answers.
pub async fn render_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The request is not cloned before routing (actix needs it alone then).
    let machine = req.path().starts_with("/api/") || req.path().ends_with("/events");
    let response = next.call(req).await?;
    let status = response.status();
    let error = match response.response().error() {
        Some(error) if !machine => house_error(error, status),
        _ => return Ok(response.map_into_boxed_body()),
    };
    let (request, _) = response.into_parts();
    let request_id = request
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string());
    if let PageError::Unexpected(cause) = &error {
        tracing::error!(error = format!("{cause:#}"), %status, "request failed");
    }
    let user = request.extensions().get::<CurrentUser>().cloned();
    let page = error.page(user.as_ref(), request_id);
    Ok(ServiceResponse::new(request, page))
}

/// The house's error for any failure: certdeck's own, or actix's (a query string, form
/// or path that does not parse) in plain words.
fn house_error(error: &actix_web::Error, status: StatusCode) -> PageError {
    if let Some(page) = error.as_error::<PageError>() {
        return match page {
            PageError::BadRequest(m) => PageError::BadRequest(m.clone()),
            PageError::NotFound(m) => PageError::NotFound(m.clone()),
            PageError::Forbidden(m) => PageError::Forbidden(m.clone()),
            PageError::Busy(m) => PageError::Busy(m.clone()),
            PageError::Unexpected(e) => PageError::Unexpected(anyhow::anyhow!("{e:#}")),
        };
    }
    match status {
        StatusCode::NOT_FOUND => PageError::NotFound("There is no page at this address.".into()),
        s if s.is_client_error() => PageError::BadRequest(format!(
            "certdeck could not read this request: {}",
            truncate_bytes(&error.to_string(), 300)
        )),
        _ => PageError::Unexpected(anyhow::anyhow!("{error}")),
    }
}

/// Query strings, forms and paths that do not parse get the house's 400 page.
pub fn extractor_errors(config: &mut web::ServiceConfig) {
    config
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            PageError::BadRequest(format!(
                "The address asks for something certdeck does not understand ({}). Use the page's links and filters.",
                truncate_bytes(&e.to_string(), 300)
            ))
            .into()
        }))
        .app_data(web::FormConfig::default().error_handler(|e, _| {
            PageError::BadRequest(format!(
                "The form was incomplete or malformed ({}). Reload the page and try again.",
                truncate_bytes(&e.to_string(), 300)
            ))
            .into()
        }))
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            PageError::BadRequest(format!(
                "The address is not one certdeck knows ({}).",
                truncate_bytes(&e.to_string(), 300)
            ))
            .into()
        }));
}

/// A moment in people's words: "in 19 days", "3 min ago", "just now".
pub fn relative(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (at - now).whole_seconds();
    let span = seconds.unsigned_abs();
    let amount = match span {
        0..=4 => return "just now".to_owned(),
        5..=59 => format!("{span} s"),
        60..=3599 => format!("{} min", span / 60),
        3600..=86_399 => format!("{} h", span / 3600),
        86_400..=172_799 => "1 day".to_owned(),
        _ => format!("{} days", span / 86_400),
    };
    if seconds > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
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

/// A moment as every page shows it: relative words, with the absolute UTC time on
/// hover (`macros.html`'s `when` renders `<time datetime title>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moment {
    /// "in 19 days", "3 min ago".
    pub relative: String,
    /// "2026-11-30 08:01:37 UTC".
    pub absolute: String,
    /// RFC 3339, for `<time datetime>`.
    pub machine: String,
}

impl Moment {
    pub fn new(at: OffsetDateTime, now: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        Self {
            relative: relative(at, now),
            absolute: timestamp(at),
            machine: at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }

    /// Now.
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        Self::new(now, now)
    }

    /// The moment `unix` seconds name (now, if out of range).
    pub fn at_unix(unix: i64) -> Self {
        Self::of_unix(unix).unwrap_or_else(Self::now)
    }

    /// The moment `unix` seconds name, against the clock now.
    pub fn of_unix(unix: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(unix)
            .ok()
            .map(|at| Self::new(at, OffsetDateTime::now_utc()))
    }

    /// The moment an RFC 3339 text names (the audit log's form); `None` when it does
    /// not parse.
    pub fn of_text(text: &str) -> Option<Self> {
        OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|at| Self::new(at, OffsetDateTime::now_utc()))
    }
}

/// A certificate as people name it: its domain name, expiry and the last segment of
/// its ARN; the full ARN goes in a `title` and a copy button (`macros.html`'s `cert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertLabel {
    pub arn: String,
    /// The ARN's last segment (the certificate's id).
    pub tail: String,
    pub name: Option<String>,
    pub expires: Option<Moment>,
}

impl CertLabel {
    /// The label of `arn`, named from `known` (the inventory's certificates) when there.
    pub fn of(arn: &str, known: &[std::sync::Arc<crate::aws::CertificateSummary>]) -> Self {
        let summary = known.iter().find(|c| c.arn == arn);
        let now = OffsetDateTime::now_utc();
        Self {
            arn: arn.to_owned(),
            tail: arn.rsplit(['/', ':']).next().unwrap_or(arn).to_owned(),
            name: summary.and_then(|c| c.domain_name.clone()),
            expires: summary
                .and_then(|c| c.not_after)
                .map(|t| Moment::new(t, now)),
        }
    }
}

/// A user agent cut to what people recognise ("Chrome 131", "curl 8", "boto3
/// 1.35"); the full text goes in a `title`.
pub fn short_agent(agent: &str) -> String {
    const KNOWN: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("curl/", "curl"),
        ("Boto3/", "boto3"),
        ("aws-cli/", "AWS CLI"),
        ("reqwest/", "reqwest"),
    ];
    for (marker, name) in KNOWN {
        if let Some(at) = agent.find(marker) {
            let version: String = agent[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let major = version.split('.').next().unwrap_or_default();
            return if major.is_empty() {
                name.to_owned()
            } else {
                format!("{name} {major}")
            };
        }
    }
    let first = agent.split_whitespace().next().unwrap_or(agent);
    if first.chars().count() > 32 {
        format!("{}…", first.chars().take(32).collect::<String>())
    } else {
        first.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times_read_as_people_say_them() {
        let now = datetime!(2026-11-30 08:00:00 UTC);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - time::Duration::minutes(3), now), "3 min ago");
        assert_eq!(relative(now + time::Duration::days(19), now), "in 19 days");
        assert_eq!(relative(now + time::Duration::hours(30), now), "in 1 day");
        assert_eq!(relative(now - time::Duration::seconds(42), now), "42 s ago");
        let moment = Moment::new(now + time::Duration::days(2), now);
        assert_eq!(moment.absolute, "2026-12-02 08:00:00 UTC");
        assert_eq!(moment.machine, "2026-12-02T08:00:00Z");
    }

    #[test]
    fn user_agents_are_shortened_to_what_people_recognise() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";
        assert_eq!(short_agent(chrome), "Chrome 131");
        assert_eq!(short_agent("curl/8.5.0"), "curl 8");
        assert_eq!(short_agent("certdeck-tests"), "certdeck-tests");
    }
}
