//! HTTP handlers, one folder per feature, and the one error type that turns failures
//! into pages.

mod dashboard;
mod health;
mod pools;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use time::OffsetDateTime;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(dashboard::show))
        .route("/pools/{pool_id}", web::get().to(pools::show))
        .route("/pools/{pool_id}/refresh", web::post().to(pools::refresh))
        .route("/healthz", web::get().to(health::live))
        .route("/readyz", web::get().to(health::ready))
        .route("/static/{file}", web::get().to(static_file));
}

/// The files under `static/`, built into the binary so it runs from anywhere.
async fn static_file(file: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "certdeck.css" => (
            include_str!("../../static/certdeck.css"),
            "text/css; charset=utf-8",
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
    let body = page
        .render()
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("rendering failed: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A failed page request.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: String,
    request_id: Option<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message, request_id) = match self {
            PageError::NotFound(what) => ("Not found", what.clone(), None),
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
            message,
            request_id,
        };
        let body = page.render().unwrap_or_else(|_| title.to_owned());
        HttpResponse::build(self.status_code())
            .content_type("text/html; charset=utf-8")
            .body(body)
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
