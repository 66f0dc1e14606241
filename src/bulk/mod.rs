//! Bulk rotations in waves and scheduled changes (issue 15, PRODUCT.md §13).
//!
//! A run is stored (`bulk_runs`, one `bulk_items` row per domain) and advanced one step
//! at a time by whichever replica holds its lease (`bulk:<id>`): settle the current
//! wave from its propagations, then halt, finish, or send the next wave. Each domain
//! goes through `change::submit_change`, the same guarded protocol as the form (scope
//! re-read from AWS, eligibility re-checked, audited, one call, propagation), with a
//! submission token issued here for the run's actor. Because each step reads and
//! writes only the database, a restart or another replica carries the run on.

use std::time::Duration;

use time::OffsetDateTime;

use crate::auth::CurrentUser;
use crate::change::{self, ChangeError};
use crate::domain::DomainName;
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::state::AppState;
use crate::store::{BulkItem, BulkRun};

/// Domains sent at once by default, and the bounds a form may choose.
pub const DEFAULT_WAVE: i64 = 5;
pub const MAX_WAVE: i64 = 20;
/// How long a replica holds a run between steps.
const LEASE_SECS: i64 = 30;
/// How often the runner looks for due runs.
pub const TICK: Duration = Duration::from_secs(1);

/// Phases after which a domain is done, and whether each counts as a failure.
fn settled(phase: &str) -> Option<bool> {
    match phase {
        "verified" => Some(false),
        "skipped" | "not_run" => Some(false),
        "refused" | "failed" | "timed_out" | "superseded" => Some(true),
        _ => None,
    }
}

/// Whether the domain is waiting on AWS (sent, its propagation not terminal).
fn in_flight(phase: &str) -> bool {
    matches!(
        phase,
        "submitting" | "submitted" | "updating" | "distributed"
    )
}

/// Runs the due runs every `TICK` until the task is aborted.
pub async fn run(state: AppState) {
    loop {
        if let Err(e) = step(&state).await {
            tracing::warn!(error = format!("{e:#}"), "a bulk run step failed");
        }
        tokio::time::sleep(TICK).await;
    }
}

/// One step of every due run this replica may hold.
pub async fn step(state: &AppState) -> anyhow::Result<()> {
    for run in state.store.due_bulk_runs().await? {
        let lease = format!("bulk:{}", run.id);
        if !state
            .store
            .acquire_lease(&lease, &state.replica, LEASE_SECS)
            .await?
        {
            continue;
        }
        // The lease is renewed while a step waits on AWS, so that no other replica
        // takes the run in the middle of a wave.
        let renew = async {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                match state
                    .store
                    .acquire_lease(&lease, &state.replica, LEASE_SECS)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "a bulk lease was not renewed");
                    }
                }
            }
        };
        tokio::select! {
            result = advance(state, run) => if let Err(e) = result {
                tracing::warn!(error = format!("{e:#}"), "a bulk run did not advance");
            },
            () = renew => tracing::warn!("another replica took a bulk run's lease mid-step"),
        }
    }
    Ok(())
}

fn run_audit(run: &BulkRun, action: AuditAction, outcome: &str, detail: String) -> AuditRecord {
    AuditRecord {
        actor: run.actor.clone(),
        action,
        old_certificate_arn: Some(run.old_certificate_arn.clone()),
        new_certificate_arn: Some(run.new_certificate_arn.clone()),
        outcome: outcome.to_owned(),
        detail: Some(detail),
        ..AuditRecord::default()
    }
}

/// "changed a, b; not changed c" of a run's domains.
fn summary(run: &BulkRun, items: &[BulkItem]) -> String {
    let changed: Vec<&str> = items
        .iter()
        .filter(|i| i.phase == "verified")
        .map(|i| i.domain.as_str())
        .collect();
    let unchanged: Vec<String> = items
        .iter()
        .filter(|i| i.phase != "verified")
        .map(|i| format!("{} ({})", i.domain, i.phase))
        .collect();
    format!(
        "bulk {}: changed {}; not changed {}",
        run.id,
        if changed.is_empty() {
            "none".to_owned()
        } else {
            changed.join(", ")
        },
        if unchanged.is_empty() {
            "none".to_owned()
        } else {
            unchanged.join(", ")
        }
    )
}

async fn advance(state: &AppState, run: BulkRun) -> anyhow::Result<()> {
    let store = &state.store;
    if run.state == "scheduled" {
        if !store
            .set_bulk_state(&run.id, "scheduled", "running")
            .await?
        {
            return Ok(());
        }
        let items = store.bulk_items(&run.id).await?;
        let detail = format!(
            "bulk {}: {} domains, {} at once{}",
            run.id,
            items.iter().filter(|i| i.phase == "pending").count(),
            run.wave_size,
            if run.continue_on_failure != 0 {
                ", continuing on failure"
            } else {
                ""
            }
        );
        store
            .append_audit(run_audit(&run, AuditAction::BulkStarted, "started", detail))
            .await?;
    }
    let mut items = store.bulk_items(&run.id).await?;
    let mut waiting = false;
    let mut failure = false;
    for item in &mut items {
        if item.phase == "submitting" {
            // Stopped between the call and its stored answer: the propagation the
            // protocol wrote, if AWS took the change, is adopted; else the domain
            // counts as failed (the protocol's claim keeps it from being sent twice).
            let adopted = store.recent_propagations(500).await?.into_iter().find(|p| {
                p.domain == item.domain
                    && p.new_certificate_arn == run.new_certificate_arn
                    && p.actor == run.actor
                    && p.submitted_at >= run.created_at
            });
            match adopted {
                Some(p) => {
                    store
                        .set_bulk_item(&run.id, item.position, "submitted", None, Some(&p.id))
                        .await?;
                    item.phase = "submitted".into();
                    item.propagation_id = Some(p.id);
                }
                None => {
                    item.phase = "failed".into();
                    store
                        .set_bulk_item(
                            &run.id,
                            item.position,
                            "failed",
                            Some(
                                "interrupted before AWS's answer was stored; see the propagations",
                            ),
                            None,
                        )
                        .await?;
                }
            }
        }
        if in_flight(&item.phase) && item.phase != "submitting" {
            let Some(id) = item.propagation_id.as_deref() else {
                continue;
            };
            let phase = store
                .propagation(id)
                .await?
                .map(|p| p.phase.as_str().to_owned())
                .unwrap_or_else(|| "failed".into());
            if phase != item.phase {
                store
                    .set_bulk_item(&run.id, item.position, &phase, None, None)
                    .await?;
                item.phase = phase;
            }
        }
        match settled(&item.phase) {
            Some(true) => failure = true,
            Some(false) => {}
            None => waiting |= in_flight(&item.phase),
        }
    }
    if waiting {
        return Ok(());
    }
    if failure && run.continue_on_failure == 0 {
        for item in items.iter_mut().filter(|i| i.phase == "pending") {
            store
                .set_bulk_item(
                    &run.id,
                    item.position,
                    "not_run",
                    Some("halted after a failure"),
                    None,
                )
                .await?;
            item.phase = "not_run".into();
        }
        if store.set_bulk_state(&run.id, "running", "halted").await? {
            store
                .append_audit(run_audit(
                    &run,
                    AuditAction::BulkHalted,
                    "halted",
                    summary(&run, &items),
                ))
                .await?;
        }
        return Ok(());
    }
    let wave: Vec<BulkItem> = items
        .iter()
        .filter(|i| i.phase == "pending")
        .take(usize::try_from(run.wave_size.clamp(1, MAX_WAVE)).unwrap_or(1))
        .cloned()
        .collect();
    if wave.is_empty() {
        if store.set_bulk_state(&run.id, "running", "finished").await? {
            store
                .append_audit(run_audit(
                    &run,
                    AuditAction::BulkFinished,
                    if failure { "failure" } else { "success" },
                    summary(&run, &items),
                ))
                .await?;
        }
        return Ok(());
    }
    let sends = wave.iter().map(|item| submit(state, &run, item));
    for result in futures_util::future::join_all(sends).await {
        result?;
    }
    Ok(())
}

/// One domain through the guarded change protocol, as the run's actor now is.
async fn submit(state: &AppState, run: &BulkRun, item: &BulkItem) -> anyhow::Result<()> {
    let store = &state.store;
    let refuse = |why: String| async move {
        store
            .set_bulk_item(&run.id, item.position, "refused", Some(&why), None)
            .await
    };
    let Some(stored) = store.find_user(&run.actor).await? else {
        return refuse(format!("the account {} no longer exists", run.actor)).await;
    };
    let user = CurrentUser {
        username: stored.username.clone(),
        role: stored.role,
        teams: stored.teams.to_vec(),
        csrf_token: String::new(),
    };
    let view = state.inventory.view();
    let Some(record) = view.pool(&item.pool_id) else {
        return refuse(format!("no user pool {} in the inventory", item.pool_id)).await;
    };
    let team = view.row(&item.pool_id).and_then(|r| r.team.as_deref());
    if !user.may_change(team) {
        return refuse(format!(
            "out of {}'s scope (team {})",
            run.actor,
            team.unwrap_or("none")
        ))
        .await;
    }
    if record.pool.custom_domain.as_deref() != Some(item.domain.as_str()) {
        return refuse(format!("the pool no longer has {}", item.domain)).await;
    }
    let (Ok(domain), Ok(pool_id)) = (
        DomainName::parse(&item.domain),
        crate::domain::UserPoolId::parse(&item.pool_id),
    ) else {
        return refuse("the stored domain or pool id does not parse".into()).await;
    };
    let token = store
        .issue_submission_token(&run.actor, &item.pool_id)
        .await?;
    store
        .set_bulk_item(&run.id, item.position, "submitting", None, None)
        .await?;
    let services = change::Services {
        store,
        inventory: &state.inventory,
        propagation_timeout: state.settings.propagation_timeout,
    };
    let request = change::ChangeRequest {
        user: &user,
        view: &view,
        pool_id: &pool_id,
        domain: &domain,
        certificate_arn: &run.new_certificate_arn,
        submission_token: &token,
        source_ip: None,
        user_agent: Some(format!("certdeck bulk {}", run.id)),
    };
    match change::submit_change(&services, &request).await {
        Ok(accepted) => {
            store
                .set_bulk_item(
                    &run.id,
                    item.position,
                    "submitted",
                    None,
                    Some(&accepted.propagation_id),
                )
                .await
        }
        // Nothing was sent: the next step tries the domain again.
        Err(ChangeError::QuotaBusy(_)) => {
            store
                .set_bulk_item(&run.id, item.position, "pending", None, None)
                .await
        }
        Err(e) => refuse(e.to_string()).await,
    }
}

/// A new run's id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Unix seconds now.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Stores a single change to run at `not_before` (a run of one domain): the same
/// runner, lease and cancel as a bulk run.
pub async fn schedule_single(
    store: &crate::store::Store,
    actor: &str,
    (pool_id, domain): (&str, &str),
    (old, new): (&str, &str),
    not_before: i64,
) -> anyhow::Result<String> {
    let run = BulkRun {
        id: new_id(),
        actor: actor.to_owned(),
        old_certificate_arn: old.to_owned(),
        new_certificate_arn: new.to_owned(),
        wave_size: 1,
        continue_on_failure: 0,
        not_before,
        state: "scheduled".into(),
        created_at: now(),
        finished_at: None,
    };
    let item = BulkItem {
        run_id: run.id.clone(),
        position: 0,
        pool_id: pool_id.to_owned(),
        domain: domain.to_owned(),
        phase: "pending".into(),
        detail: None,
        propagation_id: None,
    };
    store.insert_bulk_run(&run, &[item]).await?;
    Ok(run.id)
}
