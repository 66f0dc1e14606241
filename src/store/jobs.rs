//! Bulk rotations and scheduled changes (issue 15): a run and its domains, stored so
//! that any replica, after any restart, carries a run on from where it is.

use anyhow::Context;

use super::{Store, unix_now as now};

/// One bulk run (a scheduled single change is a run of one domain).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BulkRun {
    pub id: String,
    pub actor: String,
    pub old_certificate_arn: String,
    pub new_certificate_arn: String,
    pub wave_size: i64,
    pub continue_on_failure: i64,
    /// Unix seconds; the run starts no earlier.
    pub not_before: i64,
    /// `scheduled`, `running`, `halted`, `finished`, `cancelled`.
    pub state: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One domain of a run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BulkItem {
    pub run_id: String,
    pub position: i64,
    pub pool_id: String,
    pub domain: String,
    /// `pending`, `skipped`, `submitting`, `refused`, a propagation phase, or `not_run`.
    pub phase: String,
    pub detail: Option<String>,
    pub propagation_id: Option<String>,
}

macro_rules! run_columns {
    () => {
        "id, actor, old_certificate_arn, new_certificate_arn, wave_size, \
         continue_on_failure, not_before, state, created_at, finished_at"
    };
}
macro_rules! item_columns {
    () => {
        "run_id, position, pool_id, domain, phase, detail, propagation_id"
    };
}

impl Store {
    /// Stores a run and its domains in one transaction.
    pub async fn insert_bulk_run(&self, run: &BulkRun, items: &[BulkItem]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        sqlx::query(concat!(
            "INSERT INTO bulk_runs (",
            run_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&run.id)
        .bind(&run.actor)
        .bind(&run.old_certificate_arn)
        .bind(&run.new_certificate_arn)
        .bind(run.wave_size)
        .bind(run.continue_on_failure)
        .bind(run.not_before)
        .bind(&run.state)
        .bind(run.created_at)
        .bind(run.finished_at)
        .execute(&mut *tx)
        .await
        .context("storing a bulk run")?;
        for item in items {
            sqlx::query(concat!(
                "INSERT INTO bulk_items (",
                item_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(&run.id)
            .bind(item.position)
            .bind(&item.pool_id)
            .bind(&item.domain)
            .bind(&item.phase)
            .bind(&item.detail)
            .bind(&item.propagation_id)
            .execute(&mut *tx)
            .await
            .context("storing a bulk item")?;
        }
        tx.commit().await.context("committing a bulk run")?;
        Ok(())
    }

    pub async fn bulk_run(&self, id: &str) -> anyhow::Result<Option<BulkRun>> {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM bulk_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .context("reading a bulk run")
    }

    pub async fn bulk_items(&self, id: &str) -> anyhow::Result<Vec<BulkItem>> {
        sqlx::query_as(concat!(
            "SELECT ",
            item_columns!(),
            " FROM bulk_items WHERE run_id = $1 ORDER BY position"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .context("reading bulk items")
    }

    /// Runs that are due or under way (at most 100, oldest first).
    pub async fn due_bulk_runs(&self) -> anyhow::Result<Vec<BulkRun>> {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM bulk_runs \
             WHERE state = 'running' OR (state = 'scheduled' AND not_before <= $1) \
             ORDER BY created_at LIMIT 100"
        ))
        .bind(now())
        .fetch_all(&self.pool)
        .await
        .context("reading due bulk runs")
    }

    /// Runs waiting for their time (at most 200, soonest first).
    pub async fn scheduled_bulk_runs(&self) -> anyhow::Result<Vec<BulkRun>> {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM bulk_runs WHERE state = 'scheduled' \
             ORDER BY not_before LIMIT 200"
        ))
        .fetch_all(&self.pool)
        .await
        .context("reading scheduled bulk runs")
    }

    /// The latest runs (at most `limit`).
    pub async fn recent_bulk_runs(&self, limit: i64) -> anyhow::Result<Vec<BulkRun>> {
        sqlx::query_as(concat!(
            "SELECT ",
            run_columns!(),
            " FROM bulk_runs ORDER BY created_at DESC LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading recent bulk runs")
    }

    /// Moves a run from `from` to `to`; false when it was not in `from` (another
    /// replica, or a cancel, got there first).
    pub async fn set_bulk_state(&self, id: &str, from: &str, to: &str) -> anyhow::Result<bool> {
        let finished = matches!(to, "halted" | "finished" | "cancelled").then(now);
        let result = sqlx::query(
            "UPDATE bulk_runs SET state = $1, finished_at = $2 WHERE id = $3 AND state = $4",
        )
        .bind(to)
        .bind(finished)
        .bind(id)
        .bind(from)
        .execute(&self.pool)
        .await
        .context("changing a bulk run's state")?;
        Ok(result.rows_affected() == 1)
    }

    pub async fn set_bulk_item(
        &self,
        run_id: &str,
        position: i64,
        phase: &str,
        detail: Option<&str>,
        propagation_id: Option<&str>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE bulk_items SET phase = $1, detail = COALESCE($2, detail), \
             propagation_id = COALESCE($3, propagation_id) WHERE run_id = $4 AND position = $5",
        )
        .bind(phase)
        .bind(detail)
        .bind(propagation_id)
        .bind(run_id)
        .bind(position)
        .execute(&self.pool)
        .await
        .context("changing a bulk item")?;
        Ok(())
    }

    /// Gives up the runs `holder` advances (a graceful stop), so another replica, or
    /// the next start, carries them on at once instead of after the lease.
    pub async fn release_bulk_leases(&self, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM leases WHERE holder = $1 AND name LIKE 'bulk:%'")
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing bulk runs")?;
        Ok(())
    }
}
