//! Accounts, sessions, roles and CSRF: who may do what, decided in one place.

pub mod accounts;
pub mod password;

use std::fmt;
use std::future::{Ready, ready};
use std::str::FromStr;

use actix_session::{Session, SessionExt};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use time::OffsetDateTime;

use crate::startup::AppState;

/// Session keys.
pub const SESSION_USER: &str = "user";
pub const SESSION_CSRF: &str = "csrf";
const SESSION_ISSUED: &str = "issued";
const SESSION_SEEN: &str = "seen";

/// A session unused this long is over.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// A session is over this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// `seen` is written at most this often, to spare the database a write per request.
const SEEN_GRANULARITY_SECS: i64 = 60;
/// The largest form certdeck accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also changes certificates of pools tagged with one of its teams.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: use viewer, operator or admin"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates a team name: lowercase letters, digits, `-` and `_`.
pub fn parse_team(team: &str) -> Result<String, String> {
    let ok = !team.is_empty()
        && team.len() <= 64
        && team
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(team.to_owned())
    } else {
        Err(format!("{team:?} is not a team name (a-z, 0-9, - and _)"))
    }
}

/// Validates a user name.
pub fn parse_username(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "{name:?} is not a user name (letters, digits, - _ . @)"
        ))
    }
}

/// The signed-in account of a request, read fresh from the store on every request so
/// that role changes and removals take effect at once.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub username: String,
    pub role: Role,
    pub teams: Vec<String>,
    pub csrf_token: String,
}

impl CurrentUser {
    /// Whether this account may change the certificate of a pool owned by `team`.
    pub fn may_change(&self, team: Option<&str>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Operator => team.is_some_and(|t| self.teams.iter().any(|mine| mine == t)),
            Role::Viewer => false,
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentUser>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorUnauthorized("not signed in")),
        )
    }
}

/// Paths anyone may reach.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/healthz" | "/readyz" | "/metrics") || path.starts_with("/static/")
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

/// A new random token (CSRF).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes().repeat(2));
    }
    hex::encode(bytes)
}

/// The session's CSRF token, made when missing.
pub fn csrf_token(session: &Session) -> Result<String, actix_web::Error> {
    if let Some(token) = session.get::<String>(SESSION_CSRF)? {
        return Ok(token);
    }
    let token = new_token();
    session.insert(SESSION_CSRF, &token)?;
    Ok(token)
}

/// Starts a signed-in session: a new session id, a new CSRF token.
pub fn begin_session(session: &Session, username: &str) -> Result<(), actix_web::Error> {
    session.renew();
    session.clear();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    session.insert(SESSION_USER, username)?;
    session.insert(SESSION_ISSUED, now)?;
    session.insert(SESSION_SEEN, now)?;
    session.insert(SESSION_CSRF, new_token())?;
    Ok(())
}

/// Why a request was turned away before reaching its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    SignedOut,
    BadCsrf,
}

/// Middleware: checks the CSRF token of every POST, then requires a live session on
/// every path but the public ones, and puts the `CurrentUser` in the request.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let session = req.get_session();
    if req.method() == Method::POST {
        let expected = session.get::<String>(SESSION_CSRF).ok().flatten();
        let body = read_body(&mut req).await?;
        let given = form_value(&body, "csrf_token").or_else(|| {
            req.headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        });
        let valid = matches!((&expected, &given), (Some(e), Some(g)) if e.len() == g.len() && bool::from(subtle::ConstantTimeEq::ct_eq(e.as_bytes(), g.as_bytes())));
        if !valid {
            return Ok(refuse(req, Refusal::BadCsrf).await);
        }
        req.set_payload(Payload::from(body));
    }
    if is_public(req.path()) {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    match current_user(&req, &session).await? {
        Some(user) => {
            req.extensions_mut().insert(user);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        None => Ok(refuse(req, Refusal::SignedOut).await),
    }
}

async fn refuse(req: ServiceRequest, why: Refusal) -> ServiceResponse<BoxBody> {
    let machine = wants_machine_answer(&req);
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        crate::routes::record_refusal(state, &req, why).await;
    }
    let response = match (why, machine) {
        (Refusal::SignedOut, true) => HttpResponse::Unauthorized()
            .content_type("application/json")
            .body(r#"{"error":"not signed in"}"#),
        (Refusal::SignedOut, false) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish(),
        (Refusal::BadCsrf, _) => crate::routes::forbidden_response(
            "The form was out of date or not sent by certdeck. Reload the page and try again.",
        ),
    };
    req.into_response(response)
}

/// The account of a live session; ends sessions past their timeouts.
async fn current_user(
    req: &ServiceRequest,
    session: &Session,
) -> Result<Option<CurrentUser>, actix_web::Error> {
    let Some(username) = session.get::<String>(SESSION_USER)? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let issued = session.get::<i64>(SESSION_ISSUED)?.unwrap_or(0);
    let seen = session.get::<i64>(SESSION_SEEN)?.unwrap_or(0);
    if now - issued > ABSOLUTE_TIMEOUT_SECS || now - seen > IDLE_TIMEOUT_SECS {
        session.purge();
        return Ok(None);
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "no application state",
        ));
    };
    let stored = state
        .store
        .find_user(&username)
        .await
        .map_err(actix_web::error::ErrorInternalServerError)?;
    let Some(stored) = stored else {
        // The account was removed: the session ends with it.
        session.purge();
        return Ok(None);
    };
    // A new password, role or team list ends the sessions signed in before it.
    if issued < stored.updated_at {
        session.purge();
        return Ok(None);
    }
    let Ok(role) = stored.role.parse::<Role>() else {
        session.purge();
        return Ok(None);
    };
    if now - seen >= SEEN_GRANULARITY_SECS {
        session.insert(SESSION_SEEN, now)?;
    }
    Ok(Some(CurrentUser {
        username: stored.username,
        role,
        teams: stored.teams,
        csrf_token: csrf_token(session)?,
    }))
}

async fn read_body(req: &mut ServiceRequest) -> Result<web::Bytes, actix_web::Error> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(actix_web::error::InternalError::new(
                "form too large",
                StatusCode::PAYLOAD_TOO_LARGE,
            )
            .into());
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
