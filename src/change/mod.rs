//! The certificate change protocol (PRODUCT.md §4), in order: the one-time submission
//! token, the certificate checked against AWS as it is now, the pool's owner read from
//! AWS at the confirmed submit, the claim on the domain, the re-check of the domain,
//! the person's session in the pool's account (`SourceIdentity` = the user), the
//! `requested` entry, the one `UpdateUserPoolDomain` call, then the outcome, the
//! propagation and the release written together.
//!
//! Every way it can end that the form shows is a variant of [`ChangeError`]; the route
//! only parses, calls and renders.

pub mod approval;
pub mod preflight;

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::auth::{CurrentUser, Role};
use crate::aws::{AwsClients, AwsError, CertificateDetail, DomainSettings};
use crate::domain::audit::{AuditAction, AuditRecord};
use crate::domain::propagation::Phase;
use crate::domain::{
    CLOUDFRONT_CERTIFICATE_REGION, CertificateArn, DomainName, DomainStatus, UserPoolId,
};
use crate::inventory::{Inventory, PoolRecord, View, ineligibility_reasons};
use crate::propagation;
use crate::store::{PendingChange, Propagation, Store};

/// What the protocol needs from the application.
pub struct Services<'a> {
    pub store: &'a Store,
    pub inventory: &'a Arc<Inventory>,
    /// How long a propagation is followed before it times out.
    pub propagation_timeout: Duration,
}

/// One submitted change form, parsed by the route. The pool is in the user's scope as
/// the inventory `view` reads it, and has the custom domain `domain`.
pub struct ChangeRequest<'a> {
    pub user: &'a CurrentUser,
    pub view: &'a View,
    pub pool_id: &'a UserPoolId,
    pub domain: &'a DomainName,
    /// The ARN as the form sent it (never trusted: parsed and checked here).
    pub certificate_arn: &'a str,
    pub submission_token: &'a str,
    /// Where the request came from, for the audit log: source IP and user agent.
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The certificates a confirmation page shows.
pub struct Preview {
    pub old: Option<CertificateDetail>,
    pub new: CertificateDetail,
    /// The pre-flight checks against the domain as read now, and the exact request.
    pub preflight: preflight::Preflight,
}

/// AWS took the change.
#[derive(Debug)]
pub struct Accepted {
    /// The propagation that follows it.
    pub propagation_id: String,
}

/// Why a change was not made, one variant per outcome the form shows.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The one-time token was used already, or has expired: nothing was sent again.
    #[error(
        "This form was already submitted (or has expired). Nothing was sent again; check the propagations, or use this new form."
    )]
    AlreadySubmitted,
    /// Another submission holds the claim on the domain.
    #[error("Another change of this domain is being submitted.")]
    DomainBusy,
    /// Cognito is still applying an earlier change of the domain.
    #[error(
        "Cognito reports the domain as {0}: a change is still in progress. Wait until it is ACTIVE."
    )]
    DomainChanging(DomainStatus),
    /// AWS no longer has the domain on the pool.
    #[error("AWS no longer has {domain} on pool {pool_id}.")]
    DomainGone { domain: String, pool_id: String },
    /// The pool is outside the user's scope as AWS tags it now (the why).
    #[error("{0}")]
    OutOfScope(String),
    /// The form named a certificate the form does not offer.
    #[error("{0}")]
    NotOffered(NotOffered),
    /// The certificate cannot serve the domain now.
    #[error("This certificate cannot serve {domain}: {}.", reasons.join("; "))]
    NotEligible {
        domain: String,
        reasons: Vec<String>,
    },
    /// AWS refused a call (or could not be reached before anything was changed).
    #[error("{0}")]
    AwsRefused(AwsError),
    /// certdeck's pacing under AWS's quota refused the call: nothing was sent.
    #[error("{0}")]
    QuotaBusy(AwsError),
    /// AWS's answer to the update was unclear and AWS could not be asked again: the
    /// change stays pending and is settled later from what AWS shows.
    #[error(
        "AWS did not answer clearly ({0}) and could not be asked again. certdeck keeps the change pending and settles it from what AWS shows within {minutes} minutes; nothing more is sent meanwhile.",
        minutes = propagation::ABANDONED_AFTER.as_secs() / 60
    )]
    UnclearOutcome(AwsError),
    /// A rollback cannot be made (the previous certificate is gone, expired or no
    /// longer serves the domain; the change is not finished): why, in words.
    #[error("{0}")]
    RollbackRefused(String),
    /// The pool needs a second person's approval: a request was made instead, and
    /// nothing was sent.
    #[error(
        "This pool needs a second person's approval: request {request_id} was made and waits on the Requests page. Nothing was sent to AWS."
    )]
    ApprovalRequested { request_id: String },
    /// The domain changed since the approved plan was made (why, in words).
    #[error("{0}")]
    PlanChanged(String),
    /// A pre-flight check failed: nothing was sent.
    #[error("A pre-flight check failed, so nothing was sent: {}.", .0.join("; "))]
    PreflightFailed(Vec<String>),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the named certificate is not one the form offers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOffered {
    #[error("Choose a certificate from the list: {0}.")]
    Malformed(String),
    #[error(
        "The certificate is in {0}; CloudFront only uses certificates in {CLOUDFRONT_CERTIFICATE_REGION}."
    )]
    WrongRegion(String),
    #[error(
        "That certificate is not one of those offered. Refresh the page to see the current list."
    )]
    NotListed,
    #[error("The domain already uses this certificate.")]
    AlreadyInUse,
}

impl ChangeError {
    /// A failed AWS call before anything was changed.
    fn aws(error: AwsError) -> Self {
        match error {
            AwsError::QuotaBusy { .. } => ChangeError::QuotaBusy(error),
            _ => ChangeError::AwsRefused(error),
        }
    }
}

impl From<NotOffered> for ChangeError {
    fn from(why: NotOffered) -> Self {
        ChangeError::NotOffered(why)
    }
}

impl ChangeRequest<'_> {
    fn record(&self) -> Result<&PoolRecord, ChangeError> {
        self.view.pool(self.pool_id).ok_or_else(|| {
            ChangeError::Unexpected(anyhow::anyhow!("pool {} left the view", self.pool_id))
        })
    }

    fn current_arn(&self) -> Result<Option<String>, ChangeError> {
        Ok(self
            .record()?
            .custom_domain
            .as_ref()
            .and_then(|d| d.certificate_arn.clone()))
    }
}

/// The checks before the confirmation: the token is still valid, and the certificate
/// is offered and eligible as AWS describes it now.
async fn check(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
) -> Result<CertificateDetail, ChangeError> {
    if !services
        .store
        .submission_token_valid(
            request.submission_token,
            &request.user.username,
            request.pool_id,
        )
        .await?
    {
        return Err(ChangeError::AlreadySubmitted);
    }
    // Never trust the form: the ARN is parsed, then checked against AWS as it is now.
    let arn =
        CertificateArn::parse(request.certificate_arn.trim()).map_err(NotOffered::Malformed)?;
    if arn.region() != CLOUDFRONT_CERTIFICATE_REGION {
        return Err(NotOffered::WrongRegion(arn.region().to_owned()).into());
    }
    // Only the pool's own account's certificates are offered (a custom domain takes a
    // certificate of the account that owns the pool).
    let record = request.record()?;
    if !request
        .view
        .certificates_of(&record.account)
        .iter()
        .any(|c| c.arn == arn.as_str())
    {
        return Err(NotOffered::NotListed.into());
    }
    if request.current_arn()?.as_deref() == Some(arn.as_str()) {
        return Err(NotOffered::AlreadyInUse.into());
    }
    let new = services
        .inventory
        .aws_for(record)
        .map_err(ChangeError::aws)?
        .describe_certificate(arn.as_str())
        .await
        .map_err(ChangeError::aws)?;
    let reasons = ineligibility_reasons(&new.summary, request.domain, OffsetDateTime::now_utc());
    if !reasons.is_empty() {
        return Err(ChangeError::NotEligible {
            domain: request.domain.to_string(),
            reasons,
        });
    }
    Ok(new)
}

/// The checks, the certificates the confirmation page compares, and the pre-flight
/// checks against the domain as AWS describes it now.
pub async fn preview(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
) -> Result<Preview, ChangeError> {
    let new = check(services, request).await?;
    let record = request.record()?;
    let aws = services
        .inventory
        .aws_for(record)
        .map_err(ChangeError::aws)?;
    let old = match request.current_arn()? {
        Some(old) => aws.describe_certificate(&old).await.ok(),
        None => None,
    };
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
    let in_flight = preflight::in_flight(services.store, request.domain.as_str(), false).await?;
    let preflight =
        preflight::evaluate(&current, record, &new, in_flight, OffsetDateTime::now_utc())
            .map_err(ChangeError::aws)?;
    Ok(Preview {
        old,
        new,
        preflight,
    })
}

/// The confirmed change, the whole protocol in order.
pub async fn submit_change(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
) -> Result<Accepted, ChangeError> {
    submit(services, request, Mode::Direct(None)).await
}

/// How a change came: made by its submitter (with an audit link, for a rollback), or
/// an approved request of the two-person rule, whose plan it must still match.
enum Mode<'a> {
    Direct(Option<String>),
    Approved(&'a crate::store::ChangeRequestRow),
}

/// The change of an approved request, made as the approver (`request.user`) through the
/// whole protocol; refused when the domain no longer matches the plan. The audit
/// entries name the requester in their detail.
pub async fn submit_approved(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    planned: &crate::store::ChangeRequestRow,
) -> Result<Accepted, ChangeError> {
    submit(services, request, Mode::Approved(planned)).await
}

/// The phases after which a change may be rolled back.
pub const ROLLBACK_PHASES: [Phase; 3] = [Phase::Verified, Phase::Failed, Phase::TimedOut];

/// What links a rollback to the change it undoes, in the audit log's `detail`.
pub fn rollback_link(original: &Propagation) -> String {
    format!("rollback of propagation {}", original.id)
}

/// Why the change followed by `original` cannot be rolled back now, in words: it is not
/// finished, or its previous certificate is unknown, deleted, expired, or can no longer
/// serve the domain as ACM describes it now. `request` names the previous certificate.
async fn rollback_check(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    original: &Propagation,
) -> Result<(), ChangeError> {
    if !ROLLBACK_PHASES.contains(&original.phase) {
        return Err(ChangeError::RollbackRefused(format!(
            "This change is {}: only a verified, failed or timed-out change can be rolled back.",
            original.phase
        )));
    }
    if original.pool_id != request.pool_id.as_str() || original.domain != request.domain.as_str() {
        return Err(ChangeError::RollbackRefused(format!(
            "The pool no longer has the custom domain {} of this change.",
            original.domain
        )));
    }
    let Some(previous) = original.old_certificate_arn.as_deref() else {
        return Err(ChangeError::RollbackRefused(
            "The certificate before this change is unknown, so there is nothing to roll back to."
                .to_owned(),
        ));
    };
    let aws = services
        .inventory
        .aws_for(request.record()?)
        .map_err(ChangeError::aws)?;
    let detail = match aws.describe_certificate(previous).await {
        Ok(detail) => detail,
        Err(error) if error.code_and_message().0 == "ResourceNotFoundException" => {
            return Err(ChangeError::RollbackRefused(format!(
                "The previous certificate {previous} no longer exists in ACM: it was deleted."
            )));
        }
        Err(error) => return Err(ChangeError::aws(error)),
    };
    let reasons = ineligibility_reasons(&detail.summary, request.domain, OffsetDateTime::now_utc());
    if !reasons.is_empty() {
        return Err(ChangeError::RollbackRefused(format!(
            "The previous certificate {previous} can no longer serve {}: {}.",
            request.domain,
            reasons.join("; ")
        )));
    }
    Ok(())
}

/// The confirmation of rolling back the change followed by `original`: the rollback's
/// own checks, then those of any change.
pub async fn rollback_preview(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    original: &Propagation,
) -> Result<Preview, ChangeError> {
    rollback_check(services, request, original).await?;
    preview(services, request).await
}

/// The confirmed rollback: a new change back to the previous certificate through the
/// whole protocol, its audit entries linked to the original (`rollback_link`).
pub async fn submit_rollback(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    original: &Propagation,
) -> Result<Accepted, ChangeError> {
    rollback_check(services, request, original).await?;
    submit(
        services,
        request,
        Mode::Direct(Some(rollback_link(original))),
    )
    .await
}

/// The protocol; `link` goes into the details of the change's audit entries.
async fn submit(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    mode: Mode<'_>,
) -> Result<Accepted, ChangeError> {
    let new = check(services, request).await?;
    let record = request.record()?;
    // The inventory may be minutes old: who owns the pool is decided from its tags as
    // AWS holds them now.
    let tags = owner_now(services, request.user, record).await?;
    let link = match &mode {
        Mode::Direct(link) => {
            // Admins' changes are not read from AWS: the inventory's tags decide.
            let account_rule = services
                .inventory
                .aws_for(record)
                .map_err(ChangeError::aws)?
                .account()
                .approval_required;
            if account_rule || approval::required(tags.as_ref().unwrap_or(&record.pool.tags)) {
                let request_id = approval::request(services, request, record, &new).await?;
                return Err(ChangeError::ApprovalRequested { request_id });
            }
            link.clone()
        }
        Mode::Approved(planned) => Some(format!(
            "approved request {} of {}",
            planned.id, planned.requester
        )),
    };
    let pool_id = request.pool_id.as_str();
    let domain = request.domain;
    if !services
        .store
        .consume_submission_token(request.submission_token, &request.user.username, pool_id)
        .await?
    {
        return Err(ChangeError::AlreadySubmitted);
    }
    let mut change = PendingChange {
        domain: domain.to_string(),
        pool_id: pool_id.to_owned(),
        region: record.region.clone(),
        old_certificate_arn: request.current_arn()?,
        new_certificate_arn: new.summary.arn.clone(),
        actor: request.user.username.clone(),
        role: Some(request.user.role.as_str().to_owned()),
        account: Some(record.account.clone()),
        account_id: record.account_id.clone(),
    };
    let aws = services
        .inventory
        .aws_for(record)
        .map_err(ChangeError::aws)?;
    if !services.store.begin_change(&change).await? {
        return Err(ChangeError::DomainBusy);
    }
    // Read after the claim, so that nothing changes the domain in between.
    let current = match aws.domain_settings(&record.region, domain.as_str()).await {
        Ok(Some(current)) if current.user_pool_id == pool_id => current,
        Ok(_) => {
            services.store.end_change(domain.as_str()).await?;
            return Err(ChangeError::DomainGone {
                domain: domain.to_string(),
                pool_id: pool_id.to_owned(),
            });
        }
        Err(e) => {
            services.store.end_change(domain.as_str()).await?;
            return Err(ChangeError::aws(e));
        }
    };
    if let Some(status) = current
        .status
        .as_ref()
        .filter(|s| **s != DomainStatus::Active)
    {
        services.store.end_change(domain.as_str()).await?;
        return Err(ChangeError::DomainChanging(status.clone()));
    }
    if let Mode::Approved(planned) = mode
        && let Some(why) = approval::plan_changed(&current, planned)
    {
        services.store.end_change(domain.as_str()).await?;
        return Err(ChangeError::PlanChanged(why));
    }
    // The pre-flight checks again, on what was just read: a failing one sends nothing.
    let checked = match preflight::in_flight(services.store, domain.as_str(), true).await {
        Ok(in_flight) => {
            preflight::evaluate(&current, record, &new, in_flight, OffsetDateTime::now_utc())
                .map_err(ChangeError::aws)
        }
        Err(e) => Err(e.into()),
    };
    match checked {
        Ok(checked) if checked.passed() => {}
        Ok(checked) => {
            services.store.end_change(domain.as_str()).await?;
            return Err(ChangeError::PreflightFailed(checked.failures()));
        }
        Err(e) => {
            services.store.end_change(domain.as_str()).await?;
            return Err(e);
        }
    }
    change.old_certificate_arn = current.certificate_arn.clone();
    // The change is made as the person: a session of the account's role that names
    // them (`SourceIdentity`), so that CloudTrail shows who asked.
    let (person, assumed_role) = match aws.for_person(&record.region, &request.user.username).await
    {
        Ok(session) => session,
        Err(e) => {
            services.store.end_change(domain.as_str()).await?;
            return Err(ChangeError::aws(e));
        }
    };
    let propagation_id = submit_to_aws(
        services,
        request,
        &change,
        &current,
        &new,
        (&person, assumed_role),
        link,
    )
    .await?;
    let inventory = services.inventory.clone();
    let pool = pool_id.to_owned();
    tokio::spawn(async move {
        if let Err(e) = inventory.refresh_pool(&pool).await {
            tracing::warn!(error = %e, pool, "the pool was not refreshed after its change");
        }
    });
    Ok(Accepted { propagation_id })
}

/// Reads the pool's team tag from AWS (ListTagsForResource) and decides the user's
/// scope from it. Admins may change every pool: nothing is read for them.
async fn owner_now(
    services: &Services<'_>,
    user: &CurrentUser,
    record: &PoolRecord,
) -> Result<Option<std::collections::BTreeMap<String, String>>, ChangeError> {
    if user.role == Role::Admin {
        return Ok(None);
    }
    let aws = services
        .inventory
        .aws_for(record)
        .map_err(ChangeError::aws)?
        .interactive();
    let tags = match &record.pool.arn {
        Some(arn) => aws
            .pool_tags(&record.region, arn)
            .await
            .map_err(ChangeError::aws)?,
        None => {
            aws.describe_user_pool(&record.region, &record.pool.id)
                .await
                .map_err(ChangeError::aws)?
                .tags
        }
    };
    let team = services.inventory.owners().team_of(&record.account, &tags);
    if user.may_change(team) {
        Ok(Some(tags))
    } else {
        Err(ChangeError::OutOfScope(format!(
            "this pool now belongs to team {}, not one of yours",
            team.unwrap_or("(none)")
        )))
    }
}

/// The person's session in the pool's account and the role it assumed.
type PersonSession<'a> = (&'a AwsClients, Option<String>);

/// Audits, calls AWS, then records the outcome: on success the propagation's id.
/// `link` goes in front of the details of the change's audit entries.
async fn submit_to_aws(
    services: &Services<'_>,
    request: &ChangeRequest<'_>,
    change: &PendingChange,
    current: &DomainSettings,
    new: &CertificateDetail,
    (aws, assumed_role): PersonSession<'_>,
    link: Option<String>,
) -> Result<String, ChangeError> {
    let entry = |action: AuditAction, outcome: &str| AuditRecord {
        source_ip: request.source_ip.clone(),
        user_agent: request.user_agent.clone(),
        assumed_role: assumed_role.clone(),
        detail: link.clone(),
        ..propagation::change_record(change, action, outcome)
    };
    // The link stays in front of whatever else a detail says.
    let linked = |detail: Option<String>| match (&link, detail) {
        (Some(link), Some(detail)) => Some(format!("{link}; {detail}")),
        (Some(link), None) => Some(link.clone()),
        (None, detail) => detail,
    };
    // Written before AWS is called: if it cannot be written, nothing is sent.
    if let Err(e) = services
        .store
        .append_audit(entry(AuditAction::CertificateUpdateRequested, "requested"))
        .await
    {
        services.store.end_change(&change.domain).await?;
        return Err(e.into());
    }
    let accepted = |request_id: Option<String>, detail: Option<String>| {
        let mut outcome = entry(AuditAction::CertificateUpdateSucceeded, "success");
        outcome.aws_request_id = request_id;
        outcome.detail = linked(detail);
        outcome
    };
    let outcome = match aws
        .update_certificate(current, &change.new_certificate_arn)
        .await
    {
        Ok(receipt) => Ok(accepted(
            receipt.request_id,
            receipt.cloudfront_domain.map(|d| format!("CloudFront {d}")),
        )),
        Err(error) if error.is_unclear() => {
            match aws.domain_settings(&current.region, &current.domain).await {
                Ok(Some(now))
                    if now.certificate_arn.as_deref()
                        == Some(change.new_certificate_arn.as_str()) =>
                {
                    Ok(accepted(
                        error.request_id().map(str::to_owned),
                        Some(format!(
                            "AWS answered {error}, but shows the new certificate"
                        )),
                    ))
                }
                Ok(_) => Err(error),
                // The claim stays: `propagation::reconcile_pending` settles it.
                Err(_) => return Err(ChangeError::UnclearOutcome(error)),
            }
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(succeeded) => Ok(propagation::accept(
            services.store,
            services.propagation_timeout,
            change,
            new.serial.clone(),
            succeeded,
        )
        .await?),
        Err(error) => {
            let mut failed = entry(AuditAction::CertificateUpdateFailed, "failure");
            failed.aws_request_id = error.request_id().map(str::to_owned);
            failed.detail = linked(Some(error.to_string()));
            services
                .store
                .finish_change(&change.domain, failed, None)
                .await?;
            Err(ChangeError::aws(error))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_texts_stay_as_they_were() {
        assert_eq!(
            NotOffered::WrongRegion("eu-west-1".into()).to_string(),
            "The certificate is in eu-west-1; CloudFront only uses certificates in us-east-1."
        );
        assert_eq!(
            ChangeError::NotEligible {
                domain: "auth.example.com".into(),
                reasons: vec!["a".into(), "b".into()],
            }
            .to_string(),
            "This certificate cannot serve auth.example.com: a; b."
        );
        assert_eq!(
            ChangeError::DomainChanging(DomainStatus::Updating).to_string(),
            "Cognito reports the domain as UPDATING: a change is still in progress. Wait until it is ACTIVE."
        );
        let unclear = ChangeError::UnclearOutcome(AwsError::Transport("reset".into())).to_string();
        assert!(
            unclear.starts_with("AWS did not answer clearly (AWS could not be reached: reset)"),
            "{unclear}"
        );
    }
}
