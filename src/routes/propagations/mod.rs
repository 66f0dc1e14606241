//! `GET /propagations`, `GET /propagations/{id}` (the countdown), its Server-Sent Events
//! `GET /propagations/{id}/events`, and `GET /api/propagations/{id}`.

use std::time::Duration;

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::{CertLabel, Chrome, Moment, PageError, html, timestamp};
use crate::auth::{self, CurrentUser};
use crate::change::{self, ChangeError};
use crate::domain::UserPoolId;
use crate::domain::propagation::Phase;
use crate::propagation::streams::{STREAM_RETRY_AFTER_SECS, StreamSlot};
use crate::propagation::watcher::PhaseEvent;
use crate::state::AppState;
use crate::store::{Propagation, PropagationEvent, Store};

#[derive(Template)]
#[template(path = "propagations/show.html")]
pub struct PropagationView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub p: Propagation,
    pub timeline: Vec<(String, String, String)>,
    pub now: i64,
    pub time_left: String,
    pub terminal: bool,
    pub outcome: Option<String>,
    /// Whether the user may roll this change back (finished, the previous certificate
    /// known, the pool in their scope).
    pub can_roll_back: bool,
    /// Why a rollback was refused, in words.
    pub rollback_refusal: Option<String>,
    /// The step indicator: each phase of the happy path and how far it got.
    pub steps: Vec<Step>,
    /// One sentence for the current state.
    pub narration: String,
    /// Time since the submission ("4 m 12 s").
    pub elapsed: String,
    pub submitted_at: Moment,
    pub deadline_at: Moment,
    pub old: Option<CertLabel>,
    pub new: CertLabel,
    /// How often the edge is probed, in seconds.
    pub probe_every: u64,
}

/// One step of the propagation's indicator.
pub struct Step {
    pub phase: &'static str,
    pub label: &'static str,
    /// `done`, `current`, `failed` or `pending` (a CSS class; the text says it too).
    pub state: &'static str,
}

/// The happy path's phases as the step indicator names them.
const STEPS: [(Phase, &str, &str); 4] = [
    (Phase::Submitted, "submitted", "Submitted to Cognito"),
    (Phase::Updating, "updating", "Cognito updating"),
    (
        Phase::Distributed,
        "distributed",
        "Distributed by CloudFront",
    ),
    (Phase::Verified, "verified", "Verified at the edge"),
];

fn steps(phase: Phase, reached: &[Phase]) -> Vec<Step> {
    let failed = matches!(phase, Phase::Failed | Phase::TimedOut | Phase::Superseded);
    // The last step reached before a failure is where it stopped.
    let last_reached = STEPS
        .iter()
        .rposition(|(p, _, _)| reached.contains(p) || *p == phase)
        .unwrap_or(0);
    STEPS
        .iter()
        .enumerate()
        .map(|(i, (p, name, label))| Step {
            phase: name,
            label,
            state: if *p == phase && phase == Phase::Verified {
                "done"
            } else if *p == phase {
                "current"
            } else if failed && i == last_reached + 1 {
                "failed"
            } else if i < last_reached || (failed && i == last_reached) {
                "done"
            } else {
                "pending"
            },
        })
        .collect()
}

/// The current state in one sentence.
fn narration(p: &Propagation, detail: Option<&str>, probe_every: u64) -> String {
    let served = match (&p.served_serial, &p.served_not_after) {
        (Some(serial), Some(expiry)) => format!(" (serial {serial}, expires {expiry})"),
        (Some(serial), None) => format!(" (serial {serial})"),
        _ => String::new(),
    };
    let still_old = p.served_serial.is_some()
        && p.expected_serial.is_some()
        && !matches!((&p.served_serial, &p.expected_serial),
            (Some(served), Some(expected)) if crate::domain::same_serial(served, expected));
    match p.phase {
        Phase::Submitted => format!(
            "Cognito accepted the change and has not started updating the domain yet; checking every {probe_every} s."
        ),
        Phase::Updating => format!(
            "Cognito is updating {} (status UPDATING); checking every {probe_every} s.",
            p.domain
        ),
        Phase::Distributed if still_old => format!(
            "Cognito is done, but CloudFront is still serving the old certificate{served}; checking every {probe_every} s."
        ),
        Phase::Distributed if p.probe_error.is_some() => format!(
            "Cognito is done; the edge could not be probed yet ({}); checking every {probe_every} s.",
            p.probe_error.as_deref().unwrap_or_default()
        ),
        Phase::Distributed => format!(
            "Cognito is done; waiting for CloudFront to serve the new certificate; checking every {probe_every} s."
        ),
        Phase::Verified => format!(
            "Done: CloudFront is serving the new certificate{served} for {}.",
            p.domain
        ),
        Phase::Failed => format!(
            "The change failed{}. Check the pool's domain before trying again.",
            detail.map(|d| format!(": {d}")).unwrap_or_default()
        ),
        Phase::TimedOut => format!(
            "The edge was not seen serving the new certificate before the deadline{served}. Check the pool; AWS may still finish it."
        ),
        Phase::Superseded => "A later change to this domain replaced this one.".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "propagations/index.html")]
pub struct PropagationsView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub propagations: Vec<(Propagation, Option<Moment>, CertLabel)>,
}

/// "59:58": minutes and seconds left.
pub fn clock(seconds: i64) -> String {
    let seconds = seconds.max(0);
    format!("{:02}:{:02}", seconds / 60, seconds % 60)
}

pub async fn index(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let view = state.inventory.view();
    let propagations = state
        .store
        .recent_propagations(100)
        .await?
        .into_iter()
        .map(|p| {
            let submitted = Moment::of_unix(p.submitted_at);
            let new = CertLabel::of(&p.new_certificate_arn, &view.snapshot.certificates);
            (p, submitted, new)
        })
        .collect();
    html(&PropagationsView {
        title: "Propagations",
        chrome: Chrome::of(&user),
        propagations,
    })
}

fn timeline(events: &[PropagationEvent]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            let when = OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at_ms) * 1_000_000)
                .map(timestamp)
                .unwrap_or_default();
            (
                e.phase.to_string(),
                when,
                e.detail.clone().unwrap_or_default(),
            )
        })
        .collect()
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
    render(&state, &user, p, None, StatusCode::OK).await
}

/// The propagation's page; `refusal` says why a rollback was refused.
async fn render(
    state: &AppState,
    user: &CurrentUser,
    p: Propagation,
    refusal: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let events = state.store.propagation_events(&p.id).await?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let terminal = p.phase.is_terminal();
    let outcome = terminal
        .then(|| events.last().and_then(|e| e.detail.clone()))
        .flatten();
    let view = state.inventory.view();
    let team = view.row(&p.pool_id).and_then(|row| row.team.as_deref());
    let can_roll_back = change::ROLLBACK_PHASES.contains(&p.phase)
        && p.old_certificate_arn.is_some()
        && user.may_change(team);
    let reached: Vec<Phase> = events.iter().map(|e| e.phase).collect();
    let probe_every = state.settings.probe_interval.as_secs().max(1);
    let known = &view.snapshot.certificates;
    let end = if terminal {
        events
            .last()
            .map_or(now, |e| e.at_ms / 1000)
            .max(p.submitted_at)
    } else {
        now
    };
    super::html_with_status(
        &PropagationView {
            title: "Propagation",
            chrome: Chrome::of(user),
            timeline: timeline(&events),
            steps: steps(p.phase, &reached),
            narration: narration(&p, outcome.as_deref(), probe_every),
            elapsed: crate::propagation::watcher::human_duration(end - p.submitted_at),
            submitted_at: Moment::at_unix(p.submitted_at),
            deadline_at: Moment::at_unix(p.deadline),
            old: p
                .old_certificate_arn
                .as_deref()
                .map(|arn| CertLabel::of(arn, known)),
            new: CertLabel::of(&p.new_certificate_arn, known),
            probe_every,
            now,
            time_left: clock(p.deadline - now),
            terminal,
            outcome,
            can_roll_back,
            rollback_refusal: refusal,
            p,
        },
        status,
    )
}

#[derive(serde::Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    submission_token: String,
}

/// `POST /propagations/{id}/rollback`: the confirmation of a change back to the
/// certificate used before this one, and (`confirm=yes`) the change itself, through
/// the whole change protocol (PRODUCT.md §13).
pub async fn rollback(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: CurrentUser,
    id: web::Path<String>,
    form: web::Form<RollbackForm>,
) -> Result<HttpResponse, PageError> {
    let original = state
        .store
        .propagation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("No propagation {id}.")))?;
    let (view, domain) =
        super::certificate::pool_in_scope(&state, &req, &user, &original.pool_id).await?;
    let form = form.into_inner();
    let pool_id = UserPoolId::parse(&original.pool_id).map_err(|e| {
        PageError::Unexpected(anyhow::anyhow!(
            "a stored propagation has a bad pool id: {e}"
        ))
    })?;
    let previous = original.old_certificate_arn.clone().unwrap_or_default();
    let token = if form.submission_token.is_empty() {
        state
            .store
            .issue_submission_token(&user.username, pool_id.as_str())
            .await?
    } else {
        form.submission_token
    };
    let (source_ip, user_agent) = super::origin(&req);
    let services = change::Services {
        store: &state.store,
        inventory: &state.inventory,
        propagation_timeout: state.settings.propagation_timeout,
    };
    let request = change::ChangeRequest {
        user: &user,
        view: &view,
        pool_id: &pool_id,
        domain: &domain,
        certificate_arn: &previous,
        submission_token: &token,
        source_ip,
        user_agent,
    };
    let error = if form.confirm.as_deref() == Some("yes") {
        match change::submit_rollback(&services, &request, &original).await {
            Ok(accepted) => {
                return Ok(HttpResponse::SeeOther()
                    .insert_header((
                        header::LOCATION,
                        format!("/propagations/{}", accepted.propagation_id),
                    ))
                    .finish());
            }
            Err(error) => error,
        }
    } else {
        match change::rollback_preview(&services, &request, &original).await {
            Ok(preview) => {
                return super::certificate::confirm_page(
                    &user,
                    &view,
                    pool_id.as_str(),
                    &domain,
                    preview,
                    token.clone(),
                    format!("/propagations/{}/rollback", original.id),
                    Some(original.id.clone()),
                );
            }
            Err(error) => error,
        }
    };
    let message = error.to_string();
    let status = match error {
        ChangeError::OutOfScope(why) => {
            return Err(super::deny(&state, &req, &user, Some(pool_id.as_str()), &why).await);
        }
        ChangeError::DomainGone { .. } => return Err(PageError::NotFound(message)),
        ChangeError::Unexpected(e) => return Err(PageError::Unexpected(e)),
        ChangeError::ApprovalRequested { request_id } => {
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/requests#request-{request_id}")))
                .finish());
        }
        ChangeError::AwsRefused(_) | ChangeError::QuotaBusy(_) | ChangeError::UnclearOutcome(_) => {
            StatusCode::BAD_GATEWAY
        }
        ChangeError::RollbackRefused(_)
        | ChangeError::NotOffered(_)
        | ChangeError::NotEligible { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ChangeError::AlreadySubmitted
        | ChangeError::DomainBusy
        | ChangeError::DomainChanging(_)
        | ChangeError::PreflightFailed(_)
        | ChangeError::PlanChanged(_) => StatusCode::CONFLICT,
    };
    render(&state, &user, original, Some(message), status).await
}

/// Server-Sent Events: the current state at once, then every change, until a terminal
/// phase, or until the session it was opened in ends (sign-out, timeout) or its account
/// is removed or changed: that is checked every `stream_session_check`.
pub async fn events(
    state: web::Data<AppState>,
    user: CurrentUser,
    session: Session,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    // Sessions signed in before session ids existed get one now.
    let session_id = match session.get::<String>(auth::SESSION_ID) {
        Ok(Some(session_id)) => session_id,
        _ => {
            let session_id = crate::tokens::new_token();
            session
                .insert(auth::SESSION_ID, &session_id)
                .map_err(|e| PageError::Unexpected(anyhow::anyhow!("{e}")))?;
            session_id
        }
    };
    let Some(slot) = state.streams.take(&session_id) else {
        return Ok(HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, STREAM_RETRY_AFTER_SECS.to_string()))
            .content_type("application/json")
            .body(r#"{"error":"too many live streams open; close some pages"}"#));
    };
    // Subscribed before reading, so that no change falls in between.
    let receiver = state.watcher.subscribe();
    let p = state
        .store
        .propagation(&id)
        .await?
        .ok_or_else(|| PageError::NotFound(format!("No propagation {id}.")))?;
    let current = current_event(&state.store, &p).await?;
    let first = futures_util::stream::once(async move { Ok::<_, actix_web::Error>(sse(&current)) });
    let check_every = state.settings.stream_session_check;
    let stream = Following {
        receiver,
        store: state.store.clone(),
        phase: p.phase,
        done: p.phase.is_terminal(),
        id: p.id,
        username: user.username,
        session_id,
        check_every,
        next_check: Instant::now() + check_every,
        _slot: slot,
    };
    let rest = futures_util::stream::unfold(stream, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            tokio::select! {
                received = s.receiver.recv() => match received {
                    // New readings of the phase sent last are sent too; a notice of
                    // an earlier phase, late after the look at the store below sent
                    // a later one, is not.
                    Ok(event) if event.id == s.id && !event.phase.precedes(s.phase) => {
                        s.done = event.phase.is_terminal();
                        s.phase = event.phase;
                        return Some((Ok(sse(&event)), s));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(s.next_check) => {
                    s.next_check = Instant::now() + s.check_every;
                    if !session_still_allows(&s.store, &s.session_id, &s.username).await {
                        return None;
                    }
                    // Another replica's watcher may have moved it: the store knows.
                    // One phase at a time, in the order recorded: a notice still on its
                    // way (say "distributed") must not be skipped for the phase that
                    // followed it ("verified"), which ends the stream.
                    if let Ok(Some(p)) = s.store.propagation(&s.id).await
                        && p.phase != s.phase
                        && let Ok(event) = event_after(&s.store, &p, s.phase).await
                    {
                        s.done = event.phase.is_terminal();
                        s.phase = event.phase;
                        if event.phase != p.phase {
                            // More followed it: look again at once.
                            s.next_check = Instant::now();
                        }
                        return Some((Ok(sse(&event)), s));
                    }
                    // Also how a client gone away is noticed: the write fails.
                    return Some((Ok(web::Bytes::from_static(b": keep-alive\n\n")), s));
                }
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("x-accel-buffering", "no"))
        .streaming(first.chain(rest)))
}

/// Whether the session `session_id` still lives, within its timeouts, signed in as
/// `username`, whose account still exists unchanged since the sign-in (a new role,
/// team list or password ends the sessions before it, as the guard does per request).
/// A store that cannot answer ends the stream: the client reconnects through the guard.
async fn session_still_allows(store: &Store, session_id: &str, username: &str) -> bool {
    let Ok(Some(state)) = store.session_by_id(session_id).await else {
        return false;
    };
    let value = |key: &str| state.get(key).map(String::as_str);
    let number = |key: &str| value(key).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let signed_in_as =
        value(auth::SESSION_USER).and_then(|v| serde_json::from_str::<String>(v).ok());
    if signed_in_as.as_deref() != Some(username) {
        return false;
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let issued = number(auth::SESSION_ISSUED);
    if now - issued > auth::ABSOLUTE_TIMEOUT_SECS
        || now - number(auth::SESSION_SEEN) > auth::IDLE_TIMEOUT_SECS
    {
        return false;
    }
    match store.find_user(username).await {
        Ok(Some(account)) => issued >= account.updated_at,
        _ => false,
    }
}

/// What an events stream follows.
struct Following {
    receiver: tokio::sync::broadcast::Receiver<PhaseEvent>,
    store: Store,
    id: String,
    phase: Phase,
    done: bool,
    username: String,
    session_id: String,
    check_every: Duration,
    next_check: Instant,
    /// Held while the stream runs.
    _slot: StreamSlot,
}

/// The state of `p` as an event (its last step's time and detail).
async fn current_event(store: &crate::store::Store, p: &Propagation) -> anyhow::Result<PhaseEvent> {
    let timeline = store.propagation_events(&p.id).await?;
    Ok(event_of(p, p.phase, timeline.last()))
}

/// The event of the phase recorded next after `after` in `p`'s timeline (the current
/// one when `after` is not in it, or nothing followed it).
async fn event_after(
    store: &crate::store::Store,
    p: &Propagation,
    after: Phase,
) -> anyhow::Result<PhaseEvent> {
    let timeline = store.propagation_events(&p.id).await?;
    let next = timeline
        .iter()
        .rposition(|e| e.phase == after)
        .and_then(|i| timeline.get(i + 1));
    Ok(match next {
        Some(next) if next.phase != p.phase => event_of(p, next.phase, Some(next)),
        _ => event_of(p, p.phase, timeline.last()),
    })
}

/// `phase` of `p` as an event: the time and detail of its `step` in the timeline, and
/// what the watcher last saw.
fn event_of(
    p: &Propagation,
    phase: Phase,
    step: Option<&crate::store::PropagationEvent>,
) -> PhaseEvent {
    let seen = crate::store::Observation {
        cognito_status: p.cognito_status.clone(),
        served_serial: p.served_serial.clone(),
        served_subject: p.served_subject.clone(),
        served_not_after: p.served_not_after.clone(),
        ..Default::default()
    };
    PhaseEvent::of(
        &p.id,
        phase,
        step.map_or(0, |e| e.at_ms),
        &seen,
        step.and_then(|e| e.detail.clone()),
    )
}

fn sse(event: &PhaseEvent) -> web::Bytes {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    web::Bytes::from(format!("event: phase\ndata: {data}\n\n"))
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
