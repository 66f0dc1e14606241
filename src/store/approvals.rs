//! Change requests of the two-person rule (PRODUCT.md §13): made instead of a change
//! when a pool needs a second person's approval, decided once (approved, rejected or
//! expired).

use anyhow::Context;

use super::{Store, unix_now as now};

/// How long a request waits for its approval.
pub const APPROVAL_LIFETIME_SECS: i64 = 24 * 3600;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Expired => "expired",
        }
    }
}

/// One change request as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRequestRow {
    pub id: String,
    pub pool_id: String,
    pub region: String,
    pub domain: String,
    pub old_certificate_arn: Option<String>,
    pub new_certificate_arn: String,
    /// The carried settings, in words (as the plan was made).
    pub settings: String,
    /// SHA-256 (hex) of the plan: pool, domain, old and new ARN, carried settings.
    pub plan_hash: String,
    pub requester: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub propagation_id: Option<String>,
    pub detail: Option<String>,
}

const COLUMNS: &str = "id, pool_id, region, domain, old_certificate_arn, new_certificate_arn, settings, \
    plan_hash, requester, created_at, expires_at, status, decided_by, decided_at, propagation_id, detail";

/// Requests the requests page lists at most.
const LISTED: i64 = 200;

impl Store {
    pub async fn insert_change_request(&self, r: &ChangeRequestRow) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO change_requests (id, pool_id, region, domain, old_certificate_arn, new_certificate_arn, \
             settings, plan_hash, requester, created_at, expires_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'pending')",
        )
        .bind(&r.id)
        .bind(&r.pool_id)
        .bind(&r.region)
        .bind(&r.domain)
        .bind(&r.old_certificate_arn)
        .bind(&r.new_certificate_arn)
        .bind(&r.settings)
        .bind(&r.plan_hash)
        .bind(&r.requester)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&self.pool)
        .await
        .context("storing a change request")?;
        Ok(())
    }

    pub async fn change_request(&self, id: &str) -> anyhow::Result<Option<ChangeRequestRow>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM change_requests WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a change request")
    }

    /// Pending requests and those decided in the last day, newest first.
    pub async fn recent_change_requests(&self) -> anyhow::Result<Vec<ChangeRequestRow>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM change_requests \
             WHERE status = 'pending' OR decided_at > $1 ORDER BY created_at DESC LIMIT {LISTED}"
        )))
        .bind(now() - 24 * 3600)
        .fetch_all(&self.pool)
        .await
        .context("listing change requests")
    }

    /// Pending requests past their expiry.
    pub async fn expired_change_requests(&self) -> anyhow::Result<Vec<ChangeRequestRow>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM change_requests WHERE status = 'pending' AND expires_at <= $1"
        )))
        .bind(now())
        .fetch_all(&self.pool)
        .await
        .context("listing expired change requests")
    }

    /// Decides a pending request; false when it was decided already (by someone else,
    /// or by expiry), so that a request is decided once.
    pub async fn decide_change_request(
        &self,
        id: &str,
        status: RequestStatus,
        by: Option<&str>,
        detail: Option<&str>,
    ) -> anyhow::Result<bool> {
        let result = sqlx::query(
            "UPDATE change_requests SET status = $1, decided_by = $2, decided_at = $3, detail = $4 \
             WHERE id = $5 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(by)
        .bind(now())
        .bind(detail)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("deciding a change request")?;
        Ok(result.rows_affected() == 1)
    }

    /// Records the propagation an approved request started.
    pub async fn set_change_request_propagation(
        &self,
        id: &str,
        propagation_id: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("UPDATE change_requests SET propagation_id = $1 WHERE id = $2")
            .bind(propagation_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .context("linking a change request to its propagation")?;
        Ok(())
    }
}
