//! `GET/POST /tokens`, `POST /tokens/{id}/revoke`: a user's own API tokens (PRODUCT.md
//! §10). A new token is shown once, in the answer to the form that made it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Chrome, Moment, PageError, audit_record};
use crate::auth::CurrentUser;
use crate::auth::tokens::{self, DEFAULT_EXPIRY_DAYS, MAX_EXPIRY_DAYS, TokenError, TokenScope};
use crate::domain::audit::AuditAction;
use crate::state::AppState;
use crate::store::StoredToken;

/// Tokens listed (active ones are at most `MAX_ACTIVE_TOKENS`; the rest are history).
const LISTED: i64 = 100;

/// One token as the page lists it.
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub scope: String,
    pub created: Moment,
    pub expires: Moment,
    /// `None`: never used.
    pub last_used: Option<Moment>,
    pub state: &'static str,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "tokens/index.html")]
pub struct TokensPage {
    pub title: &'static str,
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
    pub new_secret: Option<String>,
    pub message: Option<String>,
    pub max_days: i64,
    pub default_days: i64,
}

fn row(token: StoredToken, now: i64) -> TokenRow {
    let state = if token.revoked_at.is_some() {
        "revoked"
    } else if token.expires_at <= now {
        "expired"
    } else {
        "active"
    };
    TokenRow {
        active: token.active_at(now),
        created: Moment::at_unix(token.created_at),
        expires: Moment::at_unix(token.expires_at),
        last_used: token.last_used_at.map(Moment::at_unix),
        id: token.id,
        name: token.name,
        scope: token.scope,
        state,
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    new_secret: Option<String>,
    message: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let tokens = state
        .store
        .api_tokens_of(&user.username, LISTED)
        .await?
        .into_iter()
        .map(|t| row(t, now))
        .collect();
    let page = TokensPage {
        title: "My API tokens",
        chrome: Chrome::of(user),
        tokens,
        new_secret,
        message,
        max_days: MAX_EXPIRY_DAYS,
        default_days: DEFAULT_EXPIRY_DAYS,
    };
    let mut response = super::html_with_status(&page, status)?;
    // The page may carry a secret: never kept by a cache.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn index(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    page(&state, &user, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<NewTokenForm>,
) -> Result<HttpResponse, PageError> {
    let scope = match TokenScope::parse(form.scope.trim()) {
        Ok(scope) => scope,
        Err(why) => {
            return page(
                &state,
                &user,
                None,
                Some(why),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let Ok(days) = form.expires_in_days.trim().parse::<i64>() else {
        let why = format!("A token expires in 1 to {MAX_EXPIRY_DAYS} days.");
        return page(
            &state,
            &user,
            None,
            Some(why),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let audit = audit_record(&req, Some(&user), AuditAction::TokenCreated, "success");
    match tokens::create(&state.store, &user, &form.name, scope, days, audit).await {
        Ok(issued) => page(&state, &user, Some(issued.secret), None, StatusCode::OK).await,
        Err(e @ (TokenError::Invalid(_) | TokenError::TooMany)) => {
            page(
                &state,
                &user,
                None,
                Some(e.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(TokenError::Unexpected(e)) => Err(PageError::Unexpected(e)),
    }
}

pub async fn revoke(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let audit = audit_record(&req, Some(&user), AuditAction::TokenRevoked, "success");
    if !tokens::revoke(&state.store, &user, &id, audit).await? {
        return Err(PageError::NotFound(
            "You have no active token with this id.".into(),
        ));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/tokens"))
        .finish())
}
