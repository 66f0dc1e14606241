//! Following a change after AWS accepted it (PRODUCT.md §5), and settling changes a
//! crash left between their `requested` entry and their outcome.

pub mod probe;
pub mod watcher;

use std::time::Duration;

use time::OffsetDateTime;

use crate::aws::AwsClients;
use crate::domain::audit::AuditRecord;
use crate::domain::propagation::Phase;
use crate::store::{PendingChange, Propagation, Store};

/// Stores the propagation of an accepted change; its deadline is the server's.
pub async fn record(
    store: &Store,
    timeout: Duration,
    change: &PendingChange,
    expected_serial: Option<String>,
) -> anyhow::Result<String> {
    let submitted = OffsetDateTime::now_utc();
    let deadline = submitted + time::Duration::try_from(timeout).unwrap_or(time::Duration::HOUR);
    let propagation = Propagation {
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
        phase: Phase::Submitted.as_str().to_owned(),
        cognito_status: None,
        served_serial: None,
        verified_at: None,
        detail: None,
        served_subject: None,
        served_not_after: None,
        probe_error: None,
        cloudfront_distribution: None,
    };
    supersede_earlier(store, &change.domain).await?;
    store.insert_propagation(&propagation).await?;
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
        let seen = crate::store::Observation {
            phase: Some(Phase::Superseded.as_str().to_owned()),
            detail: Some("a later change of the same domain replaced it".into()),
            ..Default::default()
        };
        if store
            .observe_propagation(&earlier.id, &earlier.phase, &seen)
            .await?
        {
            store
                .append_audit(AuditRecord {
                    actor: "certdeck".into(),
                    action: "propagation.superseded".into(),
                    pool_id: Some(earlier.pool_id.clone()),
                    domain: Some(earlier.domain.clone()),
                    new_certificate_arn: Some(earlier.new_certificate_arn.clone()),
                    outcome: "superseded".into(),
                    detail: seen.detail,
                    ..AuditRecord::default()
                })
                .await?;
        }
    }
    Ok(())
}

/// Settles every change left without an outcome: AWS says whether the update was
/// applied (`DescribeUserPoolDomain`), and the log gets `succeeded` or `failed`.
/// A change AWS cannot be asked about now stays pending for the next start.
pub async fn reconcile_pending(
    store: &Store,
    aws: &AwsClients,
    timeout: Duration,
) -> anyhow::Result<usize> {
    let mut settled = 0;
    for change in store.pending_changes().await? {
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
        let mut entry = AuditRecord {
            actor: change.actor.clone(),
            role: change.role.clone(),
            pool_id: Some(change.pool_id.clone()),
            domain: Some(change.domain.clone()),
            old_certificate_arn: change.old_certificate_arn.clone(),
            new_certificate_arn: Some(change.new_certificate_arn.clone()),
            ..AuditRecord::default()
        };
        if applied {
            entry.action = "certificate.update.succeeded".into();
            entry.outcome = "success".into();
            entry.detail = Some("settled at start: AWS shows the new certificate (the outcome was not recorded before a stop)".into());
            store.append_audit(entry).await?;
            let serial = aws
                .describe_certificate(&change.new_certificate_arn)
                .await
                .ok()
                .and_then(|d| d.serial);
            record(store, timeout, &change, serial).await?;
        } else {
            entry.action = "certificate.update.failed".into();
            entry.outcome = "failure".into();
            entry.detail = Some("settled at start: AWS does not show the new certificate (the update did not happen)".into());
            store.append_audit(entry).await?;
        }
        store.end_change(&change.domain).await?;
        settled += 1;
    }
    Ok(settled)
}
