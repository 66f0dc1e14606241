//! `GET /auth/oidc/start`, `GET /auth/oidc/callback`: single sign-on (PRODUCT.md §10).
//! The flow's rules live in `auth::oidc`; these handlers turn them into redirects,
//! pages and audit entries.

use actix_session::Session;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, PageError, audit, audit_record, origin};
use crate::auth::oidc::{self, OidcError};
use crate::auth::refusals::Refusal;
use crate::auth::{self};
use crate::domain::audit::AuditAction;
use crate::domain::text::truncate_bytes;
use crate::state::AppState;

/// The page after a sign-in: it moves on to the dashboard by itself. A redirect would
/// not do: the navigation began at the provider (another site), so the browser would
/// not send the SameSite=Strict session cookie along a redirect from here.
#[derive(Template)]
#[template(path = "login/signed_in.html")]
pub struct SignedInPage {
    pub title: &'static str,
    pub chrome: Chrome,
}

/// The provider's answer on the callback (RFC 6749 §4.1.2).
#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn client(state: &AppState) -> Result<&oidc::OidcClient, PageError> {
    state
        .oidc
        .as_deref()
        .ok_or_else(|| PageError::NotFound("Single sign-on is not configured.".into()))
}

/// Sends the browser to the provider, the sign-in's secrets in an encrypted cookie.
pub async fn start(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let client = client(&state)?;
    let (url, pending) = match client.start().await {
        Ok(started) => started,
        Err(error) => return Err(refuse(&state, &req, error).await),
    };
    let cookie = oidc::pending_cookie(&pending, &state.cookie_key, state.settings.secure_cookies)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url))
        .cookie(cookie)
        .finish())
}

/// The provider sends the browser back here with a code (or an error).
pub async fn callback(
    state: web::Data<AppState>,
    session: Session,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let client = client(&state)?;
    let query = query.into_inner();
    let pending = oidc::read_pending(req.cookie(oidc::PENDING_COOKIE), &state.cookie_key);
    let identity = match (query.error, pending, query.code, query.state) {
        (Some(error), _, _, _) => {
            let description = query.error_description.unwrap_or_default();
            Err(OidcError::ProviderError(truncate_bytes(
                format!("{error} {description}").trim(),
                300,
            )))
        }
        (None, None, _, _) => Err(OidcError::NoPendingSignIn),
        (None, Some(_), _, None) => Err(OidcError::WrongState),
        (None, Some(_), None, Some(_)) => Err(OidcError::ProviderError(
            "the answer carries no code".into(),
        )),
        (None, Some(pending), Some(code), Some(given_state)) => {
            client.finish(pending, &code, &given_state).await
        }
    };
    let identity = match identity {
        Ok(identity) => identity,
        Err(error) => return Err(refuse(&state, &req, error).await),
    };
    let user = match oidc::sign_in_user(&state.store, &client.settings, &identity).await {
        Ok(user) => user,
        Err(error) => {
            // The provider vouched for who this is: the entry names them.
            let mut record = audit_record(&req, None, AuditAction::SignIn, "failure");
            record.actor = identity.username.clone();
            record.detail = Some(format!(
                "single sign-on ({}, groups: {}): {error}",
                client.settings.issuer.as_str(),
                truncate_bytes(&identity.groups.join(", "), 300)
            ));
            audit(&state, record).await?;
            return Err(page_error(&error));
        }
    };
    auth::begin_session(&session, &user.username)
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("{e}")))?;
    let mut record = audit_record(&req, None, AuditAction::SignIn, "success");
    record.actor = user.username.clone();
    record.role = Some(user.role.as_str().to_owned());
    record.detail = Some(if user.teams.is_empty() {
        format!("single sign-on ({})", client.settings.issuer.as_str())
    } else {
        format!(
            "single sign-on ({}), teams {}",
            client.settings.issuer.as_str(),
            user.teams.join(", ")
        )
    });
    audit(&state, record).await?;
    let mut response = super::html(&SignedInPage {
        title: "Signed in",
        chrome: Chrome::anonymous(),
    })?;
    response
        .add_cookie(&oidc::pending_cookie_removal(state.settings.secure_cookies))
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("removing a cookie: {e}")))?;
    Ok(response)
}

/// A sign-in refused before anyone was identified: counted per address and minute
/// (anyone can send these), and shown as the house error page.
async fn refuse(state: &AppState, req: &HttpRequest, error: OidcError) -> PageError {
    if let OidcError::Unexpected(e) = &error {
        tracing::error!(error = format!("{e:#}"), "single sign-on failed");
    } else {
        tracing::warn!(reason = %error, "single sign-on refused");
    }
    let (source_ip, user_agent) = origin(req);
    state.refusals.note(Refusal {
        source_ip,
        user_agent,
        action: AuditAction::SignIn,
        outcome: "failure",
        detail: format!("single sign-on: {error}"),
    });
    page_error(&error)
}

fn page_error(error: &OidcError) -> PageError {
    match error {
        OidcError::Unreachable(_) => PageError::Busy(error.message()),
        OidcError::Unexpected(e) => PageError::Unexpected(anyhow::anyhow!("{e:#}")),
        other => PageError::Forbidden(other.message()),
    }
}
