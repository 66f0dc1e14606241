//! Following a change after AWS accepted it (PRODUCT.md §5), and settling changes a
//! crash left between their `requested` entry and their outcome.

pub mod probe;
pub mod streams;
pub mod watcher;

use std::time::Duration;

use time::OffsetDateTime;

use crate::aws::AwsAccounts;
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::propagation::Phase;
use crate::store::{Observation, PendingChange, Propagation, Store};

/// A pending change older than this was cut off by a stop: no submission takes this
/// long, even with every retry.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(300);

/// The propagation record of an accepted change; its deadline is the server's.
pub fn new_propagation(
    timeout: Duration,
    change: &PendingChange,
    expected_serial: Option<String>,
) -> Propagation {
    let submitted = OffsetDateTime::now_utc();
    let deadline = submitted + time::Duration::try_from(timeout).unwrap_or(time::Duration::HOUR);
    Propagation {
        id: uuid::Uuid::new_v4().to_string(),
        pool_id: change.pool_id.clone(),
        region: change.region.clone(),
        domain: change.domain.clone(),
        old_certificate_arn: change.old_certificate_arn.clone(),
        new_certificate_arn: change.new_certificate_arn.clone(),
        expected_serial,
        actor: change.actor.clone(),
        submitted_at: submitted.unix_timestamp(),
        deadline: deadline.unix_timestamp(),
        phase: Phase::Submitted,
        cognito_status: None,
        served_serial: None,
        verified_at: None,
        detail: None,
        served_subject: None,
        served_not_after: None,
        probe_error: None,
        cloudfront_distribution: None,
        account: change.account.clone(),
        account_id: change.account_id.clone(),
    }
}

/// The audit record of a change's step (`certificate.update.*`).
pub fn change_record(change: &PendingChange, action: AuditAction, outcome: &str) -> AuditRecord {
    AuditRecord {
        actor: change.actor.clone(),
        role: change.role.clone(),
        action,
        outcome: outcome.to_owned(),
        pool_id: Some(change.pool_id.clone()),
        domain: Some(change.domain.clone()),
        old_certificate_arn: change.old_certificate_arn.clone(),
        new_certificate_arn: Some(change.new_certificate_arn.clone()),
        account: change.account.clone(),
        account_id: change.account_id.clone(),
        ..AuditRecord::default()
    }
}

/// The outcome audit record of a propagation (`propagation.*`).
pub fn outcome_record(p: &Propagation, phase: Phase, detail: Option<String>) -> AuditRecord {
    let outcome = match phase {
        Phase::Verified => "success",
        Phase::Superseded => "superseded",
        _ => "failure",
    };
    AuditRecord {
        actor: "certdeck".into(),
        action: AuditAction::Propagation(phase),
        pool_id: Some(p.pool_id.clone()),
        domain: Some(p.domain.clone()),
        old_certificate_arn: p.old_certificate_arn.clone(),
        new_certificate_arn: Some(p.new_certificate_arn.clone()),
        outcome: outcome.into(),
        detail,
        account: p.account.clone(),
        account_id: p.account_id.clone(),
        ..AuditRecord::default()
    }
}

/// Records an accepted change: earlier propagations of the domain are superseded, then
/// the outcome, the new propagation and the domain's release are written together.
pub async fn accept(
    store: &Store,
    timeout: Duration,
    change: &PendingChange,
    expected_serial: Option<String>,
    outcome: AuditRecord,
) -> anyhow::Result<String> {
    supersede_earlier(store, &change.domain).await?;
    let propagation = new_propagation(timeout, change, expected_serial);
    store
        .finish_change(&change.domain, outcome, Some(&propagation))
        .await?;
    Ok(propagation.id)
}

/// A new change of a domain ends the ones still followed for it.
async fn supersede_earlier(store: &Store, domain: &str) -> anyhow::Result<()> {
    for earlier in store
        .active_propagations()
        .await?
        .into_iter()
        .filter(|p| p.domain == domain)
    {
        let seen = Observation {
            phase: Some(Phase::Superseded),
            detail: Some("a later change of the same domain replaced it".into()),
            ..Default::default()
        };
        let outcome = outcome_record(&earlier, Phase::Superseded, seen.detail.clone());
        store
            .finish_propagation(&earlier.id, earlier.phase, &seen, outcome)
            .await?;
    }
    Ok(())
}

/// Settles every change left without an outcome for longer than [`ABANDONED_AFTER`]:
/// AWS says whether the update was applied (`DescribeUserPoolDomain`), and the log gets
/// `succeeded` or `failed`. A change AWS cannot be asked about now stays pending.
pub async fn reconcile_pending(
    store: &Store,
    accounts: &AwsAccounts,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let cutoff = OffsetDateTime::now_utc().unix_timestamp() - ABANDONED_AFTER.as_secs() as i64;
    let mut settled = 0;
    for change in store.pending_changes(cutoff).await? {
        let Some(aws) = accounts.of(change.account.as_deref()) else {
            tracing::warn!(
                domain = change.domain,
                account = change.account,
                "a pending change's account is no longer configured"
            );
            continue;
        };
        let settings = match aws.domain_settings(&change.region, &change.domain).await {
            Ok(settings) => settings,
            Err(e) => {
                tracing::warn!(domain = change.domain, error = %e, "a pending change cannot be settled yet");
                continue;
            }
        };
        let applied = settings.as_ref().is_some_and(|s| {
            s.certificate_arn.as_deref() == Some(change.new_certificate_arn.as_str())
        });
        if applied {
            let mut entry =
                change_record(&change, AuditAction::CertificateUpdateSucceeded, "success");
            entry.detail = Some("settled later: AWS shows the new certificate (the outcome was not recorded before a stop)".into());
            let serial = aws
                .describe_certificate(&change.new_certificate_arn)
                .await
                .ok()
                .and_then(|d| d.serial);
            accept(store, timeout, &change, serial, entry).await?;
        } else {
            let mut entry = change_record(&change, AuditAction::CertificateUpdateFailed, "failure");
            entry.detail = Some(
                "settled later: AWS does not show the new certificate (the update did not happen)"
                    .into(),
            );
            store.finish_change(&change.domain, entry, None).await?;
        }
        settled += 1;
    }
    Ok(settled)
}
