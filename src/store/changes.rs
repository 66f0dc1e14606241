//! Certificate changes: one-time form tokens, the per-domain pending change, and the
//! propagation records.

use super::{Store, unix_now as now};
use crate::domain::propagation::Phase;
use anyhow::Context;
use serde::Serialize;

/// A change form may be submitted within this time.
const TOKEN_LIFETIME_SECS: i64 = 3600;

/// A change between its `requested` entry and its outcome.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingChange {
    pub domain: String,
    pub pool_id: String,
    pub region: String,
    pub old_certificate_arn: Option<String>,
    pub new_certificate_arn: String,
    pub actor: String,
    pub role: Option<String>,
    /// certdeck's name of the pool's account (`None`: recorded before accounts), and
    /// its 12-digit id.
    pub account: Option<String>,
    pub account_id: Option<String>,
}

/// A followed change (PRODUCT.md §4, `GET /api/propagations/{id}`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Propagation {
    pub id: String,
    pub pool_id: String,
    #[serde(skip)]
    pub region: String,
    pub domain: String,
    pub old_certificate_arn: Option<String>,
    pub new_certificate_arn: String,
    #[serde(skip)]
    pub expected_serial: Option<String>,
    #[serde(skip)]
    pub actor: String,
    pub submitted_at: i64,
    pub deadline: i64,
    pub phase: Phase,
    pub cognito_status: Option<String>,
    pub served_serial: Option<String>,
    pub verified_at: Option<i64>,
    #[serde(skip)]
    pub detail: Option<String>,
    /// The last probe: the served certificate's subject and expiry, or why it failed.
    pub served_subject: Option<String>,
    pub served_not_after: Option<String>,
    pub probe_error: Option<String>,
    #[serde(skip)]
    pub cloudfront_distribution: Option<String>,
    /// certdeck's name of the pool's account (`None`: recorded before accounts), and
    /// its 12-digit id.
    pub account: Option<String>,
    pub account_id: Option<String>,
}

/// One step of a propagation's timeline.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PropagationEvent {
    pub at_ms: i64,
    pub phase: Phase,
    pub detail: Option<String>,
}

/// What the watcher saw in one round, written back at once.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub phase: Option<Phase>,
    pub cognito_status: Option<String>,
    pub served_serial: Option<String>,
    pub served_subject: Option<String>,
    pub served_not_after: Option<String>,
    pub probe_error: Option<String>,
    pub cloudfront_distribution: Option<String>,
    pub verified_at: Option<i64>,
    pub detail: Option<String>,
}

const PROPAGATION_COLUMNS: &str = "id, pool_id, region, domain, old_certificate_arn, new_certificate_arn, \
    expected_serial, actor, submitted_at, deadline, phase, cognito_status, served_serial, verified_at, detail, \
    served_subject, served_not_after, probe_error, cloudfront_distribution, account, account_id";

impl Store {
    /// A fresh one-time token for the change form of `pool_id`.
    pub async fn issue_submission_token(
        &self,
        username: &str,
        pool_id: &str,
    ) -> anyhow::Result<String> {
        let token = crate::tokens::new_token();
        sqlx::query("INSERT INTO submission_tokens (token, username, pool_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&token)
            .bind(username)
            .bind(pool_id)
            .bind(now())
            .execute(&self.pool)
            .await
            .context("storing a form token")?;
        Ok(token)
    }

    /// Whether `token` was issued to this user for this pool and is unused.
    pub async fn submission_token_valid(
        &self,
        token: &str,
        username: &str,
        pool_id: &str,
    ) -> anyhow::Result<bool> {
        let row = sqlx::query(
            "SELECT token FROM submission_tokens WHERE token = $1 AND username = $2 AND pool_id = $3 \
             AND used_at IS NULL AND created_at > $4",
        )
        .bind(token)
        .bind(username)
        .bind(pool_id)
        .bind(now() - TOKEN_LIFETIME_SECS)
        .fetch_optional(&self.pool)
        .await
        .context("reading a form token")?;
        Ok(row.is_some())
    }

    /// Uses `token` up; true for exactly one caller, however many submit it at once.
    pub async fn consume_submission_token(
        &self,
        token: &str,
        username: &str,
        pool_id: &str,
    ) -> anyhow::Result<bool> {
        let result = sqlx::query(
            "UPDATE submission_tokens SET used_at = $1 WHERE token = $2 AND username = $3 AND pool_id = $4 AND used_at IS NULL",
        )
        .bind(now())
        .bind(token)
        .bind(username)
        .bind(pool_id)
        .execute(&self.pool)
        .await
        .context("using a form token")?;
        // Old tokens go.
        sqlx::query("DELETE FROM submission_tokens WHERE created_at < $1")
            .bind(now() - 24 * 3600)
            .execute(&self.pool)
            .await
            .context("dropping old form tokens")?;
        Ok(result.rows_affected() == 1)
    }

    /// Claims the domain for a change; false when another change holds it.
    pub async fn begin_change(&self, change: &PendingChange) -> anyhow::Result<bool> {
        let result = sqlx::query(
            "INSERT INTO pending_changes (domain, pool_id, region, old_certificate_arn, new_certificate_arn, actor, role, started_at, account, account_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (domain) DO NOTHING",
        )
        .bind(&change.domain)
        .bind(&change.pool_id)
        .bind(&change.region)
        .bind(&change.old_certificate_arn)
        .bind(&change.new_certificate_arn)
        .bind(&change.actor)
        .bind(&change.role)
        .bind(now())
        .bind(&change.account)
        .bind(&change.account_id)
        .execute(&self.pool)
        .await
        .context("claiming the domain for a change")?;
        Ok(result.rows_affected() == 1)
    }

    /// Releases the domain once the change's outcome is recorded.
    pub async fn end_change(&self, domain: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM pending_changes WHERE domain = $1")
            .bind(domain)
            .execute(&self.pool)
            .await
            .context("releasing the domain")?;
        Ok(())
    }

    /// Changes without an outcome claimed before `claimed_before` (unix seconds): older
    /// than any change still being submitted, so left by a crash.
    pub async fn pending_changes(&self, claimed_before: i64) -> anyhow::Result<Vec<PendingChange>> {
        sqlx::query_as(
            "SELECT domain, pool_id, region, old_certificate_arn, new_certificate_arn, actor, role, account, account_id \
             FROM pending_changes WHERE started_at < $1",
        )
        .bind(claimed_before)
        .fetch_all(&self.pool)
        .await
        .context("reading pending changes")
    }

    pub async fn insert_propagation(&self, p: &Propagation) -> anyhow::Result<()> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting a propagation insert")?;
        insert_propagation_in(&mut tx, p).await?;
        tx.commit().await.context("committing a propagation")
    }

    /// Records a change's outcome, its propagation (when AWS accepted it) and releases
    /// the domain, all or nothing: a crash leaves either the pending change (settled
    /// later) or the outcome, never both or neither.
    pub async fn finish_change(
        &self,
        domain: &str,
        outcome: crate::domain::audit::AuditRecord,
        propagation: Option<&Propagation>,
    ) -> anyhow::Result<crate::domain::audit::AuditEntry> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting a change outcome")?;
        let entry =
            super::audit::append_audit_in(&mut tx, self.audit_key.as_ref(), outcome).await?;
        if let Some(p) = propagation {
            insert_propagation_in(&mut tx, p).await?;
        }
        sqlx::query("DELETE FROM pending_changes WHERE domain = $1")
            .bind(domain)
            .execute(&mut *tx)
            .await
            .context("releasing the domain")?;
        tx.commit().await.context("committing a change outcome")?;
        Ok(entry)
    }

    /// Who holds the claim on `domain` for a change being submitted, if anyone.
    pub async fn pending_claim(&self, domain: &str) -> anyhow::Result<Option<String>> {
        sqlx::query_scalar("SELECT actor FROM pending_changes WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await
            .context("reading the claim on a domain")
    }

    /// The newest propagation of `domain` not yet in a terminal phase, if any.
    pub async fn active_propagation_of(&self, domain: &str) -> anyhow::Result<Option<Propagation>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPAGATION_COLUMNS} FROM propagations \
             WHERE domain = $1 AND phase IN ('submitted', 'updating', 'distributed') \
             ORDER BY submitted_at DESC LIMIT 1"
        )))
        .bind(domain)
        .fetch_optional(&self.pool)
        .await
        .context("reading the domain's active propagation")
    }

    /// Propagations not yet in a terminal phase.
    pub async fn active_propagations(&self) -> anyhow::Result<Vec<Propagation>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPAGATION_COLUMNS} FROM propagations \
             WHERE phase IN ('submitted', 'updating', 'distributed') ORDER BY submitted_at"
        )))
        .fetch_all(&self.pool)
        .await
        .context("listing active propagations")
    }

    /// The domains with a change in flight, read at most once a second (the dashboard's
    /// summary and filter ask on every page view; a second's lag is not a wrong answer
    /// there, and the propagation pages read the store directly).
    pub async fn domains_in_flight(
        &self,
    ) -> anyhow::Result<std::sync::Arc<std::collections::HashSet<String>>> {
        const FRESH: std::time::Duration = std::time::Duration::from_secs(1);
        if let Ok(cached) = self.in_flight.lock()
            && let Some((read_at, domains)) = cached.as_ref()
            && read_at.elapsed() < FRESH
        {
            return Ok(domains.clone());
        }
        let read_at = std::time::Instant::now();
        let domains: std::sync::Arc<std::collections::HashSet<String>> = std::sync::Arc::new(
            self.active_propagations()
                .await?
                .into_iter()
                .map(|p| p.domain)
                .collect(),
        );
        if let Ok(mut cached) = self.in_flight.lock() {
            *cached = Some((read_at, domains.clone()));
        }
        Ok(domains)
    }

    /// Writes what the watcher saw; a phase change also goes to the timeline. Only a
    /// propagation still in `from_phase` is changed, so two watchers cannot both move it.
    pub async fn observe_propagation(
        &self,
        id: &str,
        from_phase: Phase,
        seen: &Observation,
    ) -> anyhow::Result<bool> {
        let phase = seen.phase.unwrap_or(from_phase);
        let mut conn = self.pool.acquire().await.context("a connection")?;
        let moved = update_propagation_in(&mut conn, id, from_phase, seen).await?;
        drop(conn);
        if moved && phase != from_phase {
            self.append_propagation_event(id, phase, seen.detail.as_deref())
                .await?;
        }
        Ok(moved && phase != from_phase)
    }

    /// Moves a propagation from `from_phase` to its outcome, with its audit entry, in
    /// one transaction; false (and nothing written) when it is no longer in
    /// `from_phase`. The database allows one outcome per propagation
    /// (`propagation_outcomes`), so two replicas cannot both record one.
    pub async fn finish_propagation(
        &self,
        id: &str,
        from_phase: Phase,
        seen: &Observation,
        outcome: crate::domain::audit::AuditRecord,
    ) -> anyhow::Result<bool> {
        let phase = seen
            .phase
            .filter(|p| p.is_terminal())
            .context("an outcome is a terminal phase")?;
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting a propagation outcome")?;
        let moved = update_propagation_in(&mut tx, id, from_phase, seen).await?;
        if !moved {
            return Ok(false);
        }
        // Before the audit entry: a second outcome fails here, and nothing is written.
        let claimed = sqlx::query(
            "INSERT INTO propagation_outcomes (propagation_id, phase, audit_id) VALUES ($1, $2, 0) \
             ON CONFLICT (propagation_id) DO NOTHING",
        )
        .bind(id)
        .bind(phase.as_str())
        .execute(&mut *tx)
        .await
        .context("recording a propagation outcome")?;
        if claimed.rows_affected() != 1 {
            return Ok(false);
        }
        let entry =
            super::audit::append_audit_in(&mut tx, self.audit_key.as_ref(), outcome).await?;
        sqlx::query("UPDATE propagation_outcomes SET audit_id = $1 WHERE propagation_id = $2")
            .bind(entry.id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context("linking the outcome to its audit entry")?;
        append_propagation_event_in(&mut tx, id, phase, seen.detail.as_deref()).await?;
        tx.commit()
            .await
            .context("committing a propagation outcome")?;
        Ok(true)
    }

    async fn append_propagation_event(
        &self,
        id: &str,
        phase: Phase,
        detail: Option<&str>,
    ) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await.context("a connection")?;
        append_propagation_event_in(&mut conn, id, phase, detail).await
    }

    /// The timeline of a propagation, oldest first.
    pub async fn propagation_events(&self, id: &str) -> anyhow::Result<Vec<PropagationEvent>> {
        sqlx::query_as("SELECT at_ms, phase, detail FROM propagation_events WHERE propagation_id = $1 ORDER BY at_ms, phase")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .context("reading a timeline")
    }

    pub async fn propagation(&self, id: &str) -> anyhow::Result<Option<Propagation>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPAGATION_COLUMNS} FROM propagations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a propagation")
    }

    /// The most recent propagations, newest first.
    pub async fn recent_propagations(&self, limit: i64) -> anyhow::Result<Vec<Propagation>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {PROPAGATION_COLUMNS} FROM propagations ORDER BY submitted_at DESC, id LIMIT $1"
        )))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing propagations")
    }
}

/// The compare-and-set of a propagation: only one still in `from_phase` changes.
async fn update_propagation_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    from_phase: Phase,
    seen: &Observation,
) -> anyhow::Result<bool> {
    let phase = seen.phase.unwrap_or(from_phase);
    let result = sqlx::query(
            "UPDATE propagations SET phase = $1, cognito_status = COALESCE($2, cognito_status), \
             served_serial = COALESCE($3, served_serial), served_subject = COALESCE($4, served_subject), \
             served_not_after = COALESCE($5, served_not_after), probe_error = $6, \
             cloudfront_distribution = COALESCE($7, cloudfront_distribution), \
             verified_at = COALESCE($8, verified_at), detail = COALESCE($9, detail), updated_at = $10 \
             WHERE id = $11 AND phase = $12",
        )
        .bind(phase.as_str())
        .bind(&seen.cognito_status)
        .bind(&seen.served_serial)
        .bind(&seen.served_subject)
        .bind(&seen.served_not_after)
        .bind(&seen.probe_error)
        .bind(&seen.cloudfront_distribution)
        .bind(seen.verified_at)
        .bind(&seen.detail)
        .bind(now())
        .bind(id)
        .bind(from_phase.as_str())
        .execute(&mut *conn)
        .await
        .context("updating a propagation")?;
    Ok(result.rows_affected() == 1)
}

async fn insert_propagation_in(
    conn: &mut sqlx::AnyConnection,
    p: &Propagation,
) -> anyhow::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO propagations ({PROPAGATION_COLUMNS}, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        )))
        .bind(&p.id)
        .bind(&p.pool_id)
        .bind(&p.region)
        .bind(&p.domain)
        .bind(&p.old_certificate_arn)
        .bind(&p.new_certificate_arn)
        .bind(&p.expected_serial)
        .bind(&p.actor)
        .bind(p.submitted_at)
        .bind(p.deadline)
        .bind(p.phase.as_str())
        .bind(&p.cognito_status)
        .bind(&p.served_serial)
        .bind(p.verified_at)
        .bind(&p.detail)
        .bind(&p.served_subject)
        .bind(&p.served_not_after)
        .bind(&p.probe_error)
        .bind(&p.cloudfront_distribution)
        .bind(&p.account)
        .bind(&p.account_id)
        .bind(now())
        .execute(&mut *conn)
        .await
        .context("storing a propagation")?;
    append_propagation_event_in(conn, &p.id, p.phase, None).await
}

async fn append_propagation_event_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    phase: Phase,
    detail: Option<&str>,
) -> anyhow::Result<()> {
    let at_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    sqlx::query("INSERT INTO propagation_events (propagation_id, at_ms, phase, detail) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(at_ms)
        .bind(phase.as_str())
        .bind(detail)
        .execute(&mut *conn)
        .await
        .context("recording a phase")?;
    Ok(())
}
