//! The guard in front of every handler: the CSRF token of every POST (the session's,
//! or the sign-in form's signed cookie), then a live session on every path but the
//! public ones, with the `CurrentUser` put in the request. On `/api/v1` a request with
//! an `Authorization` header is decided by its bearer token alone (see `bearer`). What
//! `auth` decides, this turns into answers.

use actix_session::{Session, SessionExt};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError, web};
use futures_util::StreamExt;
use subtle::ConstantTimeEq;

use crate::auth;
use crate::state::AppState;

/// The largest form certdeck accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/healthz"
            | "/readyz"
            | "/metrics"
            | "/api/v1/openapi.json"
            | "/auth/oidc/start"
            | "/auth/oidc/callback"
    ) || path.starts_with("/static/")
}

/// Whether the client wants JSON (or an event stream) rather than a page.
fn wants_machine_answer(req: &ServiceRequest) -> bool {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    req.path().starts_with("/api/")
        || req.path().ends_with("/events")
        || accept.contains("application/json")
        || accept.contains("text/event-stream")
}

/// Why a request was turned away before reaching its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SignedOut,
    BadCsrf,
}

/// Whether `given` is the expected token (constant time).
fn tokens_match(expected: Option<&str>, given: Option<&str>) -> bool {
    matches!((expected, given), (Some(e), Some(g)) if bool::from(e.as_bytes().ct_eq(g.as_bytes())))
}

/// Middleware: checks the CSRF token of every POST, then requires a live session on
/// every path but the public ones, and puts the `CurrentUser` in the request.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let session = req.get_session();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "no application state",
        ));
    };
    // `/api/v1` with an `Authorization` header: the bearer token alone decides (no
    // session, so no CSRF to check: a browser never sends this header by itself).
    // Nowhere else is the header read, and tokens are never read from cookies.
    if super::api::is_api_path(req.path())
        && let Some(authorization) = req.headers().get(header::AUTHORIZATION)
    {
        let authorization = authorization.to_str().unwrap_or_default().to_owned();
        return bearer(req, next, &state, &authorization).await;
    }
    if req.method() == Method::POST {
        let body = match read_body(&mut req).await {
            Ok(body) => body,
            // Answered here, inside the header middleware, so the 413 carries them.
            Err(status) => {
                let response =
                    super::status_response(status, "The form was larger than certdeck accepts.");
                return Ok(req.into_response(response));
            }
        };
        let given = form_value(&body, "csrf_token").or_else(|| {
            req.headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let expected = if req.path() == "/login" {
            auth::login_cookie_token(
                req.cookie(auth::login_cookie_name(state.settings.secure_cookies)),
                &state.cookie_key,
            )
        } else {
            session.get::<String>(auth::SESSION_CSRF).ok().flatten()
        };
        if !tokens_match(expected.as_deref(), given.as_deref()) {
            return Ok(refuse(req, &state, &session, Refusal::BadCsrf).await);
        }
        req.set_payload(Payload::from(body));
    }
    if is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match auth::current_user(&state.store, &session).await {
        Ok(Some(user)) => {
            req.extensions_mut().insert(user);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(None) => Ok(refuse(req, &state, &session, Refusal::SignedOut).await),
        Err(e) => {
            let response = super::PageError::Unexpected(e).error_response();
            Ok(req.into_response(response))
        }
    }
}

/// A request to `/api/v1` with a bearer token: its caller in the request, or a 401
/// problem (refusals counted per address and minute, as other anonymous ones).
async fn bearer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    state: &AppState,
    authorization: &str,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mut use_record = super::audit_record(
        req.request(),
        None,
        crate::domain::audit::AuditAction::TokenUsed,
        "success",
    );
    use_record.detail = Some(super::request_line(req.request()));
    match auth::tokens::authenticate(&state.store, authorization, use_record).await {
        Ok(Ok(caller)) => {
            req.extensions_mut().insert(caller.user.clone());
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Ok(Err(why)) => {
            let (source_ip, user_agent) = super::origin(req.request());
            state.refusals.note(crate::auth::refusals::Refusal {
                source_ip,
                user_agent,
                action: crate::domain::audit::AuditAction::TokenUsed,
                outcome: "denied",
                detail: format!(
                    "{}: bearer token refused ({})",
                    super::request_line(req.request()),
                    why.as_str()
                ),
            });
            let problem = super::api::Problem::new(
                "unauthorized",
                "The API token is missing, malformed, unknown, revoked or expired.",
            );
            Ok(req.into_response(problem.response()))
        }
        Err(e) => Ok(req.into_response(super::api::Problem::unexpected(&e).response())),
    }
}

async fn refuse(
    req: ServiceRequest,
    state: &AppState,
    session: &Session,
    why: Refusal,
) -> ServiceResponse<BoxBody> {
    let machine = wants_machine_answer(&req);
    if why == Refusal::BadCsrf {
        // A signed-in session's refusal names its user; anonymous ones are counted.
        let user = session.get::<String>(auth::SESSION_USER).ok().flatten();
        super::record_csrf_refusal(state, req.request(), user).await;
    }
    let response = match (why, machine) {
        _ if super::api::is_api_path(req.path()) => match why {
            Refusal::SignedOut => super::api::Problem::new(
                "unauthorized",
                "Send an API token (Authorization: Bearer cdk_…) or sign in.",
            )
            .response(),
            Refusal::BadCsrf => super::api::Problem::new(
                "forbidden",
                "A signed-in session writes to /api/v1 only with its CSRF token in an X-CSRF-Token header; pipelines use an API token.",
            )
            .response(),
        },
        (Refusal::SignedOut, true) => HttpResponse::Unauthorized()
            .content_type("application/json")
            .body(r#"{"error":"not signed in"}"#),
        (Refusal::SignedOut, false) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish(),
        (Refusal::BadCsrf, _) => super::forbidden_response(
            "The form was out of date or not sent by certdeck. Reload the page and try again.",
        ),
    };
    req.into_response(response)
}

/// The request body, up to `MAX_FORM_BYTES`; the status to answer otherwise.
async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, StatusCode> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| StatusCode::BAD_REQUEST)?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn form_value(body: &[u8], key: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}
