//! The two-person rule (PRODUCT.md §13): a confirmed change of a pool tagged
//! `certdeck:approval=required` becomes a request bound to its exact plan (pool, domain,
//! old and new certificate, the carried settings), which another operator in scope or
//! an admin approves within 24 h. The approval runs the whole change protocol as the
//! approver, and is refused if the domain changed meanwhile.

use std::collections::BTreeMap;

use sha2::Digest;

use super::{ChangeError, ChangeRequest, Services};
use crate::aws::{CertificateDetail, DomainSettings};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::inventory::PoolRecord;
use crate::store::{APPROVAL_LIFETIME_SECS, ChangeRequestRow, RequestStatus, Store};

/// The pool tag that turns its changes into requests.
pub const APPROVAL_TAG: &str = "certdeck:approval";

/// Whether a pool with `tags` needs a second person's approval.
pub fn required(tags: &BTreeMap<String, String>) -> bool {
    tags.get(APPROVAL_TAG)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("required"))
}

/// The plan of changing `current` to `new_arn`: the carried settings in words, and the
/// SHA-256 of everything it binds (the exact request, which names pool, domain, new
/// certificate and carried settings, plus the old certificate).
pub fn plan(current: &DomainSettings, new_arn: &str) -> Result<(String, String), ChangeError> {
    let request = current
        .update_request(new_arn)
        .map_err(ChangeError::AwsRefused)?
        .to_json();
    let bound = format!(
        "{}\n{}",
        current.certificate_arn.as_deref().unwrap_or(""),
        request
    );
    let settings = super::preflight::describe(
        current.security_policy(),
        current.managed_login_version(),
        current.routing_failover(),
        current.routing_configured(),
    );
    Ok((
        settings,
        hex::encode(sha2::Sha256::digest(bound.as_bytes())),
    ))
}

/// Why the domain as read now (`current`) no longer matches the approved plan, if so.
pub fn plan_changed(current: &DomainSettings, planned: &ChangeRequestRow) -> Option<String> {
    if current.certificate_arn != planned.old_certificate_arn {
        return Some(format!(
            "The domain changed since the request: it now uses {}, not {} as planned. Nothing was sent; ask for a new change.",
            current
                .certificate_arn
                .as_deref()
                .unwrap_or("no certificate"),
            planned
                .old_certificate_arn
                .as_deref()
                .unwrap_or("no certificate"),
        ));
    }
    match plan(current, &planned.new_certificate_arn) {
        Ok((_, hash)) if hash == planned.plan_hash => None,
        Ok((settings, _)) => Some(format!(
            "The domain changed since the request: its settings are now {settings}, not {} as planned. Nothing was sent; ask for a new change.",
            planned.settings
        )),
        Err(e) => Some(e.to_string()),
    }
}

/// Makes the request instead of the change: the form's token is spent, the plan read
/// from AWS now is stored, the request audited. Nothing is sent to AWS.
pub(super) async fn request(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    record: &PoolRecord,
    new: &CertificateDetail,
) -> Result<String, ChangeError> {
    let aws = services
        .inventory
        .aws_for(record)
        .map_err(ChangeError::aws)?;
    let current = match aws
        .domain_settings(&record.region, request.domain.as_str())
        .await
    {
        Ok(Some(current)) if current.user_pool_id == request.pool_id.as_str() => current,
        Ok(_) => {
            return Err(ChangeError::DomainGone {
                domain: request.domain.to_string(),
                pool_id: request.pool_id.to_string(),
            });
        }
        Err(e) => return Err(ChangeError::aws(e)),
    };
    let (settings, plan_hash) = plan(&current, &new.summary.arn)?;
    if !services
        .store
        .consume_submission_token(
            request.submission_token,
            &request.user.username,
            request.pool_id.as_str(),
        )
        .await?
    {
        return Err(ChangeError::AlreadySubmitted);
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let row = ChangeRequestRow {
        id: uuid::Uuid::new_v4().to_string(),
        pool_id: request.pool_id.to_string(),
        region: record.region.clone(),
        domain: request.domain.to_string(),
        old_certificate_arn: current.certificate_arn.clone(),
        new_certificate_arn: new.summary.arn.clone(),
        settings,
        plan_hash,
        requester: request.user.username.clone(),
        created_at: now,
        expires_at: now + APPROVAL_LIFETIME_SECS,
        status: RequestStatus::Pending.as_str().to_owned(),
        decided_by: None,
        decided_at: None,
        propagation_id: None,
        detail: None,
    };
    services.store.insert_change_request(&row).await?;
    services
        .store
        .append_audit(AuditRecord {
            actor: request.user.username.clone(),
            role: Some(request.user.role.as_str().to_owned()),
            source_ip: request.source_ip.clone(),
            user_agent: request.user_agent.clone(),
            account: Some(record.account.clone()),
            account_id: record.account_id.clone(),
            detail: Some(format!(
                "request {}: needs another person's approval within {} h",
                row.id,
                APPROVAL_LIFETIME_SECS / 3600
            )),
            ..record_of(&row, AuditAction::ApprovalRequested, "requested")
        })
        .await?;
    Ok(row.id)
}

/// An audit record about a request.
pub fn record_of(row: &ChangeRequestRow, action: AuditAction, outcome: &str) -> AuditRecord {
    AuditRecord {
        actor: row.requester.clone(),
        action,
        outcome: outcome.to_owned(),
        pool_id: Some(row.pool_id.clone()),
        domain: Some(row.domain.clone()),
        old_certificate_arn: row.old_certificate_arn.clone(),
        new_certificate_arn: Some(row.new_certificate_arn.clone()),
        detail: Some(format!("request {}", row.id)),
        ..AuditRecord::default()
    }
}

/// Marks the pending requests past their 24 h as expired, each audited (run when the
/// requests are listed or one is decided).
pub async fn expire_due(store: &Store) -> anyhow::Result<()> {
    for row in store.expired_change_requests().await? {
        if store
            .decide_change_request(&row.id, RequestStatus::Expired, None, None)
            .await?
        {
            store
                .append_audit(AuditRecord {
                    actor: "certdeck".into(),
                    detail: Some(format!(
                        "request {} of {} expired unapproved",
                        row.id, row.requester
                    )),
                    ..record_of(&row, AuditAction::ApprovalExpired, "expired")
                })
                .await?;
        }
    }
    Ok(())
}
