//! The pre-flight checks of a change (PRODUCT.md §13): what the confirmation page shows
//! as pass or fail, and what the confirmed submit checks again before anything is sent.
//! A failing check blocks the change.

use time::OffsetDateTime;

use crate::aws::{AwsError, CertificateDetail, DomainSettings};
use crate::domain::DomainStatus;
use crate::inventory::PoolRecord;
use crate::store::Store;

/// The least time the new certificate must still be valid when it is sent.
pub const EXPIRY_MARGIN_DAYS: i64 = 7;

/// One check, as the page shows it.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// What was found, in words.
    pub detail: String,
}

impl Check {
    /// "pass" or "fail", for the page (never colour only).
    pub fn verdict(&self) -> &'static str {
        if self.passed { "pass" } else { "fail" }
    }
}

/// The checks and the exact request that would be sent.
#[derive(Debug, Clone)]
pub struct Preflight {
    pub checks: Vec<Check>,
    /// `UpdateUserPoolDomain`'s input, as it will be sent.
    pub request: serde_json::Value,
}

impl Preflight {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The failed checks, each as "name: detail".
    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }

    /// The request, pretty-printed for the page.
    pub fn request_text(&self) -> String {
        serde_json::to_string_pretty(&self.request).unwrap_or_default()
    }
}

/// Whether another change of `domain` is in flight: the claim of a change being
/// submitted (unless `claimed` says the claim is this change's own), or a propagation
/// not yet finished. `None`: nothing in flight.
pub async fn in_flight(
    store: &Store,
    domain: &str,
    claimed: bool,
) -> anyhow::Result<Option<String>> {
    if !claimed && let Some(actor) = store.pending_claim(domain).await? {
        return Ok(Some(format!(
            "a change by {actor} is being submitted right now"
        )));
    }
    Ok(store.active_propagation_of(domain).await?.map(|p| {
        format!(
            "the change to {} (propagation {}) is still {}",
            p.new_certificate_arn, p.id, p.phase
        )
    }))
}

/// The checks against the domain as read now (`current`), the inventory's `record`
/// (what the page showed), the new certificate, and what is in flight.
pub fn evaluate(
    current: &DomainSettings,
    record: &PoolRecord,
    new: &CertificateDetail,
    in_flight: Option<String>,
    now: OffsetDateTime,
) -> Result<Preflight, AwsError> {
    let mut checks = Vec::with_capacity(4);
    checks.push(match &current.status {
        Some(DomainStatus::Active) | None => Check {
            name: "Domain is ACTIVE",
            passed: current.status.is_some(),
            detail: match current.status {
                Some(_) => "Cognito reports the domain as ACTIVE".to_owned(),
                None => "Cognito reported no status for the domain".to_owned(),
            },
        },
        Some(status) => Check {
            name: "Domain is ACTIVE",
            passed: false,
            detail: format!(
                "Cognito reports the domain as {status}: an earlier change is still being applied, and a change now would be refused (ConcurrentModificationException)"
            ),
        },
    });
    checks.push(Check {
        name: "Nothing else in flight",
        passed: in_flight.is_none(),
        detail: in_flight
            .unwrap_or_else(|| "no other change of this domain is being made".to_owned()),
    });
    checks.push(match new.summary.not_after {
        Some(not_after) => {
            let days = (not_after - now).whole_days();
            let passed = not_after - now >= time::Duration::days(EXPIRY_MARGIN_DAYS);
            Check {
                name: "Expiry margin",
                passed,
                detail: if passed {
                    format!(
                        "the new certificate is valid for {days} more days (at least {EXPIRY_MARGIN_DAYS} needed)"
                    )
                } else {
                    format!(
                        "the new certificate expires on {} (in {days} days): at least {EXPIRY_MARGIN_DAYS} days are needed",
                        not_after.date()
                    )
                },
            }
        }
        None => Check {
            name: "Expiry margin",
            passed: false,
            detail: "ACM did not report when the new certificate expires".to_owned(),
        },
    });
    checks.push(carried_over(current, record));
    let request = current
        .update_request(&new.summary.arn)
        .map(|r| r.to_json())?;
    Ok(Preflight { checks, request })
}

/// The settings kept (security policy, managed login version, routing) as read now,
/// compared with what the inventory showed: a difference means someone changed the
/// domain meanwhile, and the page would not show what is sent.
fn carried_over(current: &DomainSettings, record: &PoolRecord) -> Check {
    let now = describe(
        current.security_policy(),
        current.managed_login_version(),
        current.routing_failover(),
        current.routing_configured(),
    );
    let Some(shown) = record.custom_domain.as_ref() else {
        return Check {
            name: "Settings carried over",
            passed: true,
            detail: format!("sent back unchanged: {now}"),
        };
    };
    let before = describe(
        shown.security_policy.as_deref(),
        shown.managed_login_version,
        shown
            .routing_secondary_region
            .as_deref()
            .zip(shown.routing_health_check_id.as_deref()),
        shown.routing_configured,
    );
    if before == now {
        Check {
            name: "Settings carried over",
            passed: true,
            detail: format!("sent back unchanged: {now}"),
        }
    } else {
        Check {
            name: "Settings carried over",
            passed: false,
            detail: format!(
                "AWS now reports {now}, but the inventory showed {before}: the domain was changed meanwhile; refresh the pool and check again"
            ),
        }
    }
}

pub(super) fn describe(
    policy: Option<&str>,
    managed_login: Option<i32>,
    failover: Option<(&str, &str)>,
    routing: bool,
) -> String {
    let routing = match (failover, routing) {
        (Some((region, check)), _) => format!("failover to {region}, health check {check}"),
        (None, true) => "configured".to_owned(),
        (None, false) => "none".to_owned(),
    };
    format!(
        "security policy {}, managed login version {}, routing {routing}",
        policy.unwrap_or("none"),
        managed_login.map_or_else(|| "none".to_owned(), |v| v.to_string()),
    )
}
