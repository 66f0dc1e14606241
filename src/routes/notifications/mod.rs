//! `GET /notifications` and `POST /notifications/test` (admins only): the notification
//! channels, a "Send test notification" button per channel, and the deliveries that
//! failed for good (PRODUCT.md §12), a page at a time.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, Moment, PageError, audit, audit_record, deny};
use crate::auth::{CurrentUser, Role};
use crate::domain::audit::AuditAction;
use crate::notify::ChannelView;
use crate::state::AppState;
use crate::store::Delivery;

/// Failed deliveries a page lists.
const PAGE_SIZE: i64 = 50;

/// The deepest page offered (the list is pruned after 30 days anyway).
const MAX_PAGE: i64 = 100;

/// A failed delivery as the page lists it.
pub struct FailedRow {
    pub channel: String,
    pub kind: String,
    pub summary: String,
    pub attempts: i64,
    pub last_error: String,
    pub created: Option<Moment>,
    pub finished: Option<Moment>,
}

#[derive(Template)]
#[template(path = "notifications/index.html")]
pub struct NotificationsPage {
    pub title: &'static str,
    pub chrome: Chrome,
    pub channels: Vec<ChannelView>,
    pub failed: Vec<FailedRow>,
    pub failed_total: i64,
    pub pending: i64,
    pub page: i64,
    pub next_page: Option<i64>,
    pub message: Option<String>,
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    page: Option<String>,
    /// Set by the redirect after a test notification was queued.
    #[serde(default)]
    sent: Option<String>,
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    channel: String,
}

fn at_ms(ms: i64) -> Option<Moment> {
    Moment::of_unix(ms.div_euclid(1000))
}

fn failed_row(d: Delivery) -> FailedRow {
    let summary = serde_json::from_str::<serde_json::Value>(&d.payload)
        .ok()
        .and_then(|v| v["summary"].as_str().map(str::to_owned))
        .unwrap_or_default();
    FailedRow {
        channel: d.channel,
        kind: d.kind,
        summary,
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        created: at_ms(d.created_at),
        finished: d.finished_at.and_then(at_ms),
    }
}

/// Admins only: anyone else gets a 403 and an `access.denied` entry.
async fn admin_only(
    state: &AppState,
    req: &HttpRequest,
    user: &CurrentUser,
) -> Result<(), PageError> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(deny(state, req, user, None, "Only admins manage notifications.").await)
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    page: i64,
    message: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let failed_total = state.store.count_notifications("failed").await?;
    let pending = state.store.count_notifications("pending").await?;
    let failed: Vec<FailedRow> = state
        .store
        .notifications_in("failed", (page - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?
        .into_iter()
        .map(failed_row)
        .collect();
    let next_page = (page * PAGE_SIZE < failed_total && page < MAX_PAGE).then_some(page + 1);
    super::html_with_status(
        &NotificationsPage {
            title: "Notifications",
            chrome: Chrome::of(user),
            channels: state.notifier.channels(),
            failed,
            failed_total,
            pending,
            page,
            next_page,
            message,
        },
        status,
    )
}

pub async fn index(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    admin_only(&state, &req, &user).await?;
    let number = match query.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(PageError::BadRequest(format!(
                    "page must be a number from 1 to {MAX_PAGE}."
                )));
            }
        },
    };
    let message = query
        .sent
        .is_some()
        .then(|| "The test notification is queued; it is sent within seconds.".to_owned());
    page(&state, &user, number, message, StatusCode::OK).await
}

pub async fn send_test(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    form: web::Form<TestForm>,
) -> Result<HttpResponse, PageError> {
    admin_only(&state, &req, &user).await?;
    let channel = form.channel.trim();
    if state.notifier.settings().channel(channel).is_none() {
        return page(
            &state,
            &user,
            1,
            Some("There is no channel with this name.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let mut record = audit_record(&req, Some(&user), AuditAction::NotificationTest, "success");
    record.detail = Some(format!("channel {channel}"));
    // Audited before it is sent: without the entry, nothing goes out.
    audit(&state, record).await?;
    state.notifier.send_test(channel, &user.username).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/notifications?sent=1"))
        .finish())
}
