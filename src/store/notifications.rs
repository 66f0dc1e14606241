//! Notifications (migration 0016): the keys of what was ever notified, the outbox of
//! deliveries with their leases and retries, and the cursor of change events read from
//! the audit log. Every write that decides "this replica sends it" is a compare-and-set,
//! so that several replicas never enqueue one notification twice.

use anyhow::Context;

use super::Store;
use crate::domain::audit::AuditEntry;

/// A delivery to enqueue: one notification for one channel.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub channel: String,
    pub kind: String,
    /// The notification as JSON.
    pub payload: String,
}

/// A stored delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: String,
    pub channel: String,
    pub kind: String,
    pub payload: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, channel, kind, payload, state, attempts, created_at, next_attempt_at, last_error, finished_at";

/// The cursor of change events in the audit log.
const AUDIT_CURSOR: &str = "audit";

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

async fn insert_deliveries(
    conn: &mut sqlx::AnyConnection,
    deliveries: &[NewDelivery],
) -> anyhow::Result<()> {
    let now = now_ms();
    for delivery in deliveries {
        sqlx::query(
            "INSERT INTO notification_outbox (id, channel, kind, payload, state, attempts, \
             created_at, next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&delivery.channel)
        .bind(&delivery.kind)
        .bind(&delivery.payload)
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("enqueueing a notification")?;
    }
    Ok(())
}

impl Store {
    /// Records `keys` as notified (each once ever) and, when this call is the one that
    /// recorded the first of them, enqueues `deliveries`, in one transaction. Whether it
    /// enqueued.
    pub async fn enqueue_notification_once(
        &self,
        keys: &[String],
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<bool> {
        let Some(first) = keys.first() else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let now = super::unix_now();
        let mut ours = false;
        for key in keys {
            let inserted = sqlx::query(
                "INSERT INTO notification_keys (key, created_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context("recording a notification key")?
            .rows_affected()
                == 1;
            if key == first {
                ours = inserted;
            }
        }
        if ours {
            insert_deliveries(&mut tx, deliveries).await?;
        }
        tx.commit().await.context("committing a notification")?;
        Ok(ours)
    }

    /// Which of `keys` were ever notified.
    pub async fn notified_keys(&self, keys: &[String]) -> anyhow::Result<Vec<String>> {
        let mut found = Vec::new();
        for chunk in keys.chunks(100) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT key FROM notification_keys WHERE key IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(key);
            }
            found.extend(
                query
                    .fetch_all(&self.pool)
                    .await
                    .context("reading notification keys")?,
            );
        }
        Ok(found)
    }

    /// Enqueues `deliveries` (a test notification).
    pub async fn enqueue_notifications(&self, deliveries: &[NewDelivery]) -> anyhow::Result<()> {
        let mut conn = self.pool.acquire().await.context("a connection")?;
        insert_deliveries(&mut conn, deliveries).await
    }

    /// Where change events are read from: the last audit entry already looked at. Set
    /// to the log's head the first time, so that a new console does not replay history.
    pub async fn notification_audit_cursor(&self) -> anyhow::Result<i64> {
        sqlx::query(
            "INSERT INTO notification_cursor (name, position) \
             SELECT $1, COALESCE(MAX(id), 0) FROM audit_log WHERE true \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(AUDIT_CURSOR)
        .execute(&self.pool)
        .await
        .context("starting the notification cursor")?;
        sqlx::query_scalar("SELECT position FROM notification_cursor WHERE name = $1")
            .bind(AUDIT_CURSOR)
            .fetch_one(&self.pool)
            .await
            .context("reading the notification cursor")
    }

    /// The audit entries after `after` (at most `limit`) whose action is one of
    /// `actions`, and the id the cursor may move to.
    pub async fn audit_entries_after(
        &self,
        after: i64,
        limit: i64,
        actions: &[&str],
    ) -> anyhow::Result<(i64, Vec<AuditEntry>)> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log")
            .fetch_one(&self.pool)
            .await
            .context("reading the audit head")?;
        let until = head.min(after.saturating_add(limit));
        if until <= after {
            return Ok((after, Vec::new()));
        }
        let placeholders: Vec<String> = (3..3 + actions.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {} FROM audit_log WHERE id > $1 AND id <= $2 AND action IN ({}) ORDER BY id",
            super::audit::COLUMNS,
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, AuditEntry>(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(until);
        for action in actions {
            query = query.bind(*action);
        }
        let entries = query
            .fetch_all(&self.pool)
            .await
            .context("reading change events")?;
        Ok((until, entries))
    }

    /// Moves the cursor from `from` to `to` and enqueues `deliveries`, in one
    /// transaction; false (nothing written) when another replica moved it first.
    pub async fn advance_notification_cursor(
        &self,
        from: i64,
        to: i64,
        deliveries: &[NewDelivery],
    ) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let moved = sqlx::query(
            "UPDATE notification_cursor SET position = $1 WHERE name = $2 AND position = $3",
        )
        .bind(to)
        .bind(AUDIT_CURSOR)
        .bind(from)
        .execute(&mut *tx)
        .await
        .context("moving the notification cursor")?
        .rows_affected()
            == 1;
        if !moved {
            return Ok(false);
        }
        insert_deliveries(&mut tx, deliveries).await?;
        tx.commit()
            .await
            .context("committing the notification cursor")?;
        Ok(true)
    }

    /// Claims up to `limit` due deliveries for `replica` for `lease_ms`: each claim is a
    /// compare-and-set on the row's lease, so one replica sends each attempt.
    pub async fn claim_notifications(
        &self,
        replica: &str,
        lease_ms: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Delivery>> {
        let now = now_ms();
        let candidates: Vec<Delivery> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notification_outbox WHERE state = 'pending' \
             AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
             ORDER BY next_attempt_at LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading due notifications")?;
        let mut claimed = Vec::new();
        for delivery in candidates {
            let won = sqlx::query(
                "UPDATE notification_outbox SET lease_owner = $1, lease_until = $2 \
                 WHERE id = $3 AND state = 'pending' AND (lease_until IS NULL OR lease_until < $4)",
            )
            .bind(replica)
            .bind(now + lease_ms)
            .bind(&delivery.id)
            .bind(now)
            .execute(&self.pool)
            .await
            .context("claiming a notification")?
            .rows_affected()
                == 1;
            if won {
                claimed.push(delivery);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt of a delivery `replica` holds: sent (`next_at` ignored),
    /// due again at `next_at`, or failed for good when `next_at` is `None`.
    pub async fn record_notification_attempt(
        &self,
        id: &str,
        replica: &str,
        outcome: Result<(), (&str, Option<i64>)>,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let query = match outcome {
            Ok(()) => sqlx::query(
                "UPDATE notification_outbox SET state = 'sent', attempts = attempts + 1, \
                 finished_at = $1, lease_owner = NULL, lease_until = NULL, last_error = NULL \
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(now)
            .bind(id)
            .bind(replica),
            Err((error, Some(next_at))) => sqlx::query(
                "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = $1, \
                 last_error = $2, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND lease_owner = $4",
            )
            .bind(next_at)
            .bind(error.to_owned())
            .bind(id)
            .bind(replica),
            Err((error, None)) => sqlx::query(
                "UPDATE notification_outbox SET state = 'failed', attempts = attempts + 1, \
                 finished_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND lease_owner = $4",
            )
            .bind(now)
            .bind(error.to_owned())
            .bind(id)
            .bind(replica),
        };
        query
            .execute(&self.pool)
            .await
            .context("recording a notification attempt")?;
        Ok(())
    }

    /// Deliveries in `state`, newest first, `limit` from `offset`.
    pub async fn notifications_in(
        &self,
        state: &str,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Delivery>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM notification_outbox WHERE state = $1 \
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        )))
        .bind(state)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await
        .context("reading notifications")
    }

    /// How many deliveries are in `state`.
    pub async fn count_notifications(&self, state: &str) -> anyhow::Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM notification_outbox WHERE state = $1")
            .bind(state)
            .fetch_one(&self.pool)
            .await
            .context("counting notifications")
    }

    /// Drops sent deliveries finished before `sent_before` and failed ones finished
    /// before `failed_before` (unix ms). How many went.
    pub async fn prune_notifications(
        &self,
        sent_before: i64,
        failed_before: i64,
    ) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM notification_outbox WHERE (state = 'sent' AND finished_at < $1) \
             OR (state = 'failed' AND finished_at < $2)",
        )
        .bind(sent_before)
        .bind(failed_before)
        .execute(&self.pool)
        .await
        .context("pruning notifications")?;
        Ok(done.rows_affected())
    }
}
