//! `GET/POST /login`, `POST /logout`.

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Chrome, PageError, audit, audit_record, origin};
use crate::auth::refusals::Refusal;
use crate::auth::sign_in::{self, SignInOutcome};
use crate::auth::{self, CurrentUser};
use crate::domain::audit::AuditAction;
use crate::state::AppState;

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
    /// "Sign in with <name>", when single sign-on is configured.
    pub sso_name: Option<String>,
    /// Whether the password form is offered.
    pub local_login: bool,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: SecretString,
}

fn page(
    state: &AppState,
    csrf_token: String,
    username: String,
    error: Option<&'static str>,
) -> LoginPage {
    LoginPage {
        title: "Sign in",
        chrome: Chrome::anonymous(),
        csrf_token,
        username,
        error,
        sso_name: state.oidc.as_ref().map(|o| o.settings.name.clone()),
        local_login: local_login(state),
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
    }
}

/// Whether password sign-in is on (`[oidc] local_login = false` turns it off).
fn local_login(state: &AppState) -> bool {
    state.oidc.as_ref().is_none_or(|o| o.settings.local_login)
}

fn listens_on_loopback(listen: &str) -> bool {
    listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback())
        || listen.starts_with("localhost:")
}

/// The page with `status`, setting the sign-in CSRF cookie when it is new.
fn render(
    state: &AppState,
    req: &HttpRequest,
    username: String,
    error: Option<&'static str>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let (token, cookie) = auth::login_csrf(req, &state.cookie_key, state.settings.secure_cookies);
    let mut response = super::html_with_status(&page(state, token, username, error), status)?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| PageError::Unexpected(anyhow::anyhow!("setting a cookie: {e}")))?;
    }
    Ok(response)
}

/// The sign-in form. Nothing is stored server-side for it: its CSRF token is a signed
/// cookie (double submit).
pub async fn form(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
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
    render(&state, &req, String::new(), None, StatusCode::OK)
}

/// How a failed sign-in names its actor: the account when it exists; otherwise a short
/// keyed hash of what was typed (people type passwords into the user name field, and
/// every viewer reads the audit log).
fn failed_actor(state: &AppState, typed: &str, known_account: bool) -> String {
    if known_account {
        return typed.to_owned();
    }
    if typed.is_empty() {
        return "anonymous".to_owned();
    }
    let mut digest = Sha256::new();
    digest.update(state.cookie_key.signing());
    digest.update([0]);
    digest.update(typed.as_bytes());
    let hash = digest.finalize();
    format!("unknown account ({})", hex::encode(&hash[..4]))
}

pub async fn submit(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, PageError> {
    let LoginForm { username, password } = form.into_inner();
    let username: String = username.trim().chars().take(64).collect();
    let (source_ip, user_agent) = origin(&req);
    let source_ip = source_ip.unwrap_or_default();
    if !local_login(&state) {
        state.refusals.note(Refusal {
            source_ip: Some(source_ip),
            user_agent,
            action: AuditAction::SignIn,
            outcome: "denied",
            detail: "password sign-in is turned off ([oidc] local_login = false)".to_owned(),
        });
        return Err(PageError::Forbidden(
            "Password sign-in is turned off here: use single sign-on.".to_owned(),
        ));
    }
    let outcome = sign_in::attempt(
        &state.store,
        &state.password_checker,
        &state.sign_in_policy,
        &username,
        password,
        &source_ip,
    )
    .await?;
    let refused = |outcome: &'static str, detail: &str| {
        // Anyone can send these: counted per address and minute, not one entry each.
        state.refusals.note(Refusal {
            source_ip: Some(source_ip.clone()),
            user_agent: user_agent.clone(),
            action: AuditAction::SignIn,
            outcome,
            detail: detail.to_owned(),
        });
    };
    match outcome {
        SignInOutcome::SignedIn(user) => {
            auth::begin_session(&session, &user.username)
                .map_err(|e| PageError::Unexpected(anyhow::anyhow!("{e}")))?;
            let mut record = audit_record(&req, None, AuditAction::SignIn, "success");
            record.actor = user.username.clone();
            record.role = Some(user.role.as_str().to_owned());
            audit(&state, record).await?;
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/"))
                .finish())
        }
        SignInOutcome::Refused { known_account } => {
            let mut record = audit_record(&req, None, AuditAction::SignIn, "failure");
            record.actor = failed_actor(&state, &username, known_account);
            record.detail = Some("wrong user name or password".to_owned());
            audit(&state, record).await?;
            render(
                &state,
                &req,
                username,
                Some("Sign-in failed: the user name or the password is wrong."),
                StatusCode::UNAUTHORIZED,
            )
        }
        SignInOutcome::Throttled { retry_after_secs } => {
            refused(
                "throttled",
                "too many failed sign-ins from this address; refused without checking the password",
            );
            let mut response = render(
                &state,
                &req,
                username,
                Some("Too many failed sign-ins from here. Wait 15 minutes and try again."),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after_secs),
            );
            Ok(response)
        }
        SignInOutcome::Busy => {
            refused(
                "busy",
                "every password check slot was busy; refused without checking the password",
            );
            let mut response = render(
                &state,
                &req,
                username,
                Some("certdeck is busy checking other sign-ins. Try again in a moment."),
                StatusCode::SERVICE_UNAVAILABLE,
            )?;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(1));
            Ok(response)
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
        audit_record(&req, Some(&user), AuditAction::SignOut, "success"),
    )
    .await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/login"))
        .finish())
}
