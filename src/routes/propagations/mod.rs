//! `GET /propagations`, `GET /propagations/{id}` and `GET /api/propagations/{id}`.

use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::{Chrome, PageError, html, timestamp};
use crate::auth::CurrentUser;
use crate::startup::AppState;
use crate::store::Propagation;

#[derive(Template)]
#[template(path = "propagations/show.html")]
pub struct PropagationView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub p: Propagation,
    pub submitted: String,
    pub deadline: String,
    pub seconds_left: i64,
    pub terminal: bool,
}

#[derive(Template)]
#[template(path = "propagations/index.html")]
pub struct PropagationsView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub propagations: Vec<(Propagation, String)>,
}

fn at(seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(timestamp)
        .unwrap_or_default()
}

pub async fn index(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let propagations = state
        .store
        .recent_propagations(100)
        .await?
        .into_iter()
        .map(|p| {
            let submitted = at(p.submitted_at);
            (p, submitted)
        })
        .collect();
    html(&PropagationsView {
        title: "Propagations",
        chrome: Chrome::of(&user),
        propagations,
    })
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let p = state
        .store
        .propagation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("No propagation {id}.")))?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let terminal = p
        .phase
        .parse::<crate::domain::propagation::Phase>()
        .is_ok_and(|phase| phase.is_terminal());
    html(&PropagationView {
        title: "Propagation",
        chrome: Chrome::of(&user),
        submitted: at(p.submitted_at),
        deadline: at(p.deadline),
        seconds_left: (p.deadline - now).max(0),
        terminal,
        p,
    })
}

pub async fn api(
    state: web::Data<AppState>,
    _user: CurrentUser,
    id: web::Path<String>,
) -> HttpResponse {
    match state.store.propagation(&id).await {
        Ok(Some(p)) => HttpResponse::Ok().json(p),
        Ok(None) => {
            HttpResponse::NotFound().json(serde_json::json!({ "error": "no such propagation" }))
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "reading a propagation");
            HttpResponse::InternalServerError()
                .json(serde_json::json!({ "error": "internal error" }))
        }
    }
}
