//! Accounts, sessions, roles and CSRF: who may do what, decided in one place.

pub mod accounts;
pub mod oidc;
pub mod password;
pub mod refusals;
pub mod sign_in;
pub mod tokens;

use std::future::{Ready, ready};

use actix_session::Session;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use time::OffsetDateTime;

use crate::store::Store;

/// The cookie of the sign-in form's CSRF token (signed double submit): the sign-in
/// page stores nothing on the server.
const LOGIN_CSRF_COOKIE: &str = "certdeck_login";
/// The same with the `__Host-` prefix, when cookies are Secure.
const LOGIN_CSRF_COOKIE_SECURE: &str = "__Host-certdeck_login";

/// Session keys.
pub use crate::store::{SESSION_ID, SESSION_USER};
pub const SESSION_CSRF: &str = "csrf";
pub const SESSION_ISSUED: &str = "issued";
pub const SESSION_SEEN: &str = "seen";

/// A session unused this long is over.
pub const IDLE_TIMEOUT_SECS: i64 = 30 * 60;
/// A session is over this long after sign-in, used or not.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 12 * 60 * 60;
/// `seen` is written at most this often, to spare the database a write per request.
const SEEN_GRANULARITY_SECS: i64 = 60;

// The role is a domain value (the store's rows carry it too); its home is `domain`.
pub use crate::domain::Role;

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

/// The signed-in account of a request, read from the store (reused for at most
/// `store::AUTH_CACHE_TTL`, a second) so that role changes and removals take effect
/// within a second on every replica, and at once through this one.
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

pub use crate::tokens::new_token;

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
    session.insert(SESSION_ID, new_token())?;
    Ok(())
}

/// The sign-in form's CSRF token: the one the browser's signed cookie carries, or a
/// new one with the cookie to set.
pub fn login_csrf(req: &HttpRequest, key: &Key, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(token) = login_cookie_token(req.cookie(login_cookie_name(secure)), key) {
        return (token, None);
    }
    let token = new_token();
    let mut jar = CookieJar::new();
    jar.signed_mut(key).add(
        Cookie::build(login_cookie_name(secure), token.clone())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish(),
    );
    let cookie = jar.delta().next().cloned();
    (token, cookie)
}

pub fn login_cookie_name(secure: bool) -> &'static str {
    if secure {
        LOGIN_CSRF_COOKIE_SECURE
    } else {
        LOGIN_CSRF_COOKIE
    }
}

/// The token of a login cookie whose signature holds.
pub fn login_cookie_token(cookie: Option<Cookie<'static>>, key: &Key) -> Option<String> {
    let mut jar = CookieJar::new();
    let name = cookie.as_ref()?.name().to_owned();
    jar.add_original(cookie?);
    jar.signed(key).get(&name).map(|c| c.value().to_owned())
}

/// The account of a live session; ends sessions past their timeouts.
pub async fn current_user(store: &Store, session: &Session) -> anyhow::Result<Option<CurrentUser>> {
    let session_error = |e: actix_session::SessionGetError| anyhow::anyhow!("session state: {e}");
    let Some(username) = session.get::<String>(SESSION_USER).map_err(session_error)? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let issued = session
        .get::<i64>(SESSION_ISSUED)
        .map_err(session_error)?
        .unwrap_or(0);
    let seen = session
        .get::<i64>(SESSION_SEEN)
        .map_err(session_error)?
        .unwrap_or(0);
    if now - issued > ABSOLUTE_TIMEOUT_SECS || now - seen > IDLE_TIMEOUT_SECS {
        session.purge();
        return Ok(None);
    }
    let stored = store.find_user_cached(&username).await?;
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
    if now - seen >= SEEN_GRANULARITY_SECS {
        session
            .insert(SESSION_SEEN, now)
            .map_err(|e| anyhow::anyhow!("session state: {e}"))?;
    }
    Ok(Some(CurrentUser {
        username: stored.username,
        role: stored.role,
        teams: stored.teams.0,
        csrf_token: csrf_token(session).map_err(|e| anyhow::anyhow!("session state: {e}"))?,
    }))
}
