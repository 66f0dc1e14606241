//! `application/problem+json` (RFC 9457): every failed `/api/v1` request answers one,
//! with `type`, `title`, `status` and `detail`, and members of its own where a client
//! can act on them (`reasons`, `aws_error`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value, json};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The kinds of problem `/api/v1` answers: (slug, status, title). The `type` URI of
/// each is `PROBLEM_BASE` + slug; the OpenAPI document lists them.
pub const KINDS: &[(&str, u16, &str)] = &[
    ("bad-request", 400, "Bad request"),
    ("unauthorized", 401, "Not authenticated"),
    ("forbidden", 403, "Not allowed"),
    ("not-found", 404, "Not found"),
    ("conflict", 409, "Conflict"),
    ("approval-required", 409, "Approval required"),
    ("idempotency-key-reused", 422, "Idempotency key reused"),
    ("not-eligible", 422, "Certificate not eligible"),
    ("too-many", 429, "Too many"),
    ("internal", 500, "Internal error"),
    ("aws-error", 502, "AWS refused or did not answer"),
    ("busy", 503, "Try again shortly"),
];

/// Where the problem types live (a URN: they name kinds, they are not pages).
pub const PROBLEM_BASE: &str = "urn:certdeck:problem:";

/// A problem answer.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    /// Seconds, for `Retry-After`.
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status, self.detail)
    }
}

impl Problem {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        let status = KINDS
            .iter()
            .find(|(slug, ..)| *slug == kind)
            .and_then(|(_, status, _)| StatusCode::from_u16(*status).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self {
            status,
            kind,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// An unexpected failure: logged with its chain, answered without it.
    pub fn unexpected(error: &anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "an API request failed");
        Self::new("internal", "certdeck could not complete this request.")
    }

    pub fn title(&self) -> &'static str {
        KINDS
            .iter()
            .find(|(slug, ..)| *slug == self.kind)
            .map_or("Error", |(.., title)| title)
    }

    /// The problem document.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("{PROBLEM_BASE}{}", self.kind),
            "title": self.title(),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extra {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }

    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type(PROBLEM_JSON);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                r#"Bearer realm="certdeck", error="invalid_token""#,
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(self.body().to_string())
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

impl From<anyhow::Error> for Problem {
    fn from(error: anyhow::Error) -> Self {
        Problem::unexpected(&error)
    }
}
