//! HTTP requests by route and status, with durations.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Middleware: counts and times every request under its matched route pattern
/// (`/pools/{pool_id}`), never its raw path, so hostile paths cannot grow the label set;
/// a path no route matches counts as `unmatched`.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req.match_pattern();
    let result = next.call(req).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let status = status.as_u16().to_string();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status),
    ];
    metrics::counter!(super::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(super::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    result
}

/// The standard methods by name; any other (a client may invent them) as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
