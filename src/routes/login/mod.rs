//! `GET/POST /login`, `POST /logout`.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Chrome, PageError, audit, audit_record, origin};
use crate::auth::{self, CurrentUser, password};
use crate::startup::AppState;

/// Failed sign-ins within this window count towards a lockout.
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// Failures of one account before its sign-ins are refused.
const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failures from one address before its sign-ins are refused (several people may share it).
const MAX_FAILURES_PER_SOURCE: i64 = 20;

#[derive(Template)]
#[template(path = "login/form.html")]
pub struct LoginPage {
    pub title: &'static str,
    pub chrome: Chrome,
    pub csrf_token: String,
    pub username: String,
    pub error: Option<&'static str>,
    /// Demo mode only: user name, role, team, password.
    pub demo_accounts: Vec<(String, String, String, String)>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
}

fn page(
    state: &AppState,
    session: &Session,
    username: String,
    error: Option<&'static str>,
) -> Result<LoginPage, PageError> {
    Ok(LoginPage {
        title: "Sign in",
        chrome: Chrome::anonymous(),
        csrf_token: auth::csrf_token(session)
            .map_err(|e| PageError::Unexpected(anyhow::anyhow!("{e}")))?,
        username,
        error,
        // Only where nobody else can read the page: the demo on a loopback address.
        demo_accounts: state
            .settings
            .demo_accounts
            .iter()
            .filter(|_| listens_on_loopback(&state.settings.listen))
            .map(|a| {
                (
                    a.username.clone(),
                    a.role.clone(),
                    a.team.clone().unwrap_or_default(),
                    a.password.expose_secret().to_owned(),
                )
            })
            .collect(),
    })
}

fn listens_on_loopback(listen: &str) -> bool {
    listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
        || listen.starts_with("localhost:")
}

fn render(
    page: &LoginPage,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, PageError> {
    super::html_with_status(page, status)
}

pub async fn form(state: web::Data<AppState>, session: Session) -> Result<HttpResponse, PageError> {
    if session
        .get::<String>(auth::SESSION_USER)
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/"))
            .finish());
    }
    render(
        &page(&state, &session, String::new(), None)?,
        actix_web::http::StatusCode::OK,
    )
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let LoginForm { username, password } = form.into_inner();
    let username: String = username.trim().chars().take(64).collect();
    let (source_ip, _) = origin(&req);
    let source_ip = source_ip.unwrap_or_default();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut record = audit_record(&req, None, "auth.sign_in", "failure");
    record.actor = if username.is_empty() {
        "anonymous".to_owned()
    } else {
        username.clone()
    };

    let (by_account, by_source) = state
        .store
        .login_failures_since(&username, &source_ip, now - FAILURE_WINDOW_SECS)
        .await?;
    if by_account >= MAX_FAILURES_PER_ACCOUNT || by_source >= MAX_FAILURES_PER_SOURCE {
        record.outcome = "throttled".to_owned();
        record.detail =
            Some("too many failed sign-ins; refused without checking the password".to_owned());
        audit(&state, record).await?;
        let page = page(
            &state,
            &session,
            username,
            Some("Too many failed sign-ins. Wait 15 minutes and try again."),
        )?;
        return render(&page, actix_web::http::StatusCode::TOO_MANY_REQUESTS);
    }

    let stored = state.store.find_user(&username).await?;
    // The same argon2 work whether or not the account exists.
    let hash = stored.as_ref().map(|u| u.password_hash.clone());
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let valid = web::block(move || password::verify(&password, hash.as_deref()))
        .await
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("password check: {e}")))?;
    match stored.filter(|_| valid) {
        Some(user) => {
            state
                .store
                .clear_login_failures(&user.username, now - FAILURE_WINDOW_SECS)
                .await?;
            auth::begin_session(&session, &user.username)
                .map_err(|e| PageError::Unexpected(anyhow::anyhow!("{e}")))?;
            record.outcome = "success".to_owned();
            record.role = Some(user.role.clone());
            audit(&state, record).await?;
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/"))
                .finish())
        }
        None => {
            state
                .store
                .record_login_failure(&username, &source_ip)
                .await?;
            record.detail = Some("wrong user name or password".to_owned());
            audit(&state, record).await?;
            let page = page(
                &state,
                &session,
                username,
                Some("Sign-in failed: the user name or the password is wrong."),
            )?;
            render(&page, actix_web::http::StatusCode::UNAUTHORIZED)
        }
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    // The state is deleted server-side: the old cookie leads nowhere.
    session.purge();
    audit(
        &state,
        audit_record(&req, Some(&user), "auth.sign_out", "success"),
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
