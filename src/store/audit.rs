//! The audit log's storage: appends serialised on the head row, newest-first keyset
//! pages with filters, exports in pages (memory stays flat), and chain verification.

use anyhow::Context;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Store;
use crate::domain::audit::{AuditEntry, AuditRecord, ChainBreak, ChainVerifier};

const COLUMNS: &str = "id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
    old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash";

/// Filters of `/audit` and its exports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub pool_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// Inclusive lower bound: a date (`2026-11-29`) or an RFC 3339 time.
    pub from: Option<String>,
    /// Inclusive upper bound, same forms (a date means its whole day).
    pub to: Option<String>,
    /// Actions starting with any of these (not from the query string).
    #[serde(skip)]
    pub action_prefixes: Vec<String>,
}

impl AuditFilter {
    /// The WHERE clause (with `$n` placeholders from `first`) and its values.
    fn clause(&self, first: usize) -> (String, Vec<String>) {
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let mut push = |sql: &str, value: String| {
            values.push(value);
            conditions.push(sql.replace('?', &format!("${}", first + values.len() - 1)));
        };
        let set = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        if let Some(v) = set(&self.actor) {
            push("actor = ?", v);
        }
        if let Some(v) = set(&self.pool_id) {
            push("pool_id = ?", v);
        }
        if let Some(v) = set(&self.action) {
            push("action = ?", v);
        }
        if let Some(v) = set(&self.outcome) {
            push("outcome = ?", v);
        }
        if let Some(v) = set(&self.from) {
            push("at >= ?", bound(&v, false).unwrap_or(v));
        }
        if let Some(v) = set(&self.to) {
            // A bare date covers its whole day.
            push("at <= ?", bound(&v, true).unwrap_or(v));
        }
        let mut clause = conditions.join(" AND ");
        if !self.action_prefixes.is_empty() {
            let mut alternatives = Vec::new();
            for prefix in &self.action_prefixes {
                values.push(format!("{prefix}%"));
                alternatives.push(format!("action LIKE ${}", first + values.len() - 1));
            }
            let any = format!("({})", alternatives.join(" OR "));
            clause = if clause.is_empty() {
                any
            } else {
                format!("{clause} AND {any}")
            };
        }
        (clause, values)
    }
}

/// The time format of `at`: RFC 3339, UTC, milliseconds (sorts as text).
pub fn audit_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        at.date(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// A filter bound as given (a date, or an RFC 3339 time in any offset) in the stored
/// form; `end_of_day` for an upper bound given as a date.
fn bound(value: &str, end_of_day: bool) -> Option<String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(audit_time(at));
    }
    let date = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(if end_of_day {
        format!("{date}T23:59:59.999Z")
    } else {
        format!("{date}T00:00:00.000Z")
    })
}

impl Store {
    /// Appends `record` after the current last entry; concurrent appends queue on the
    /// head row, so the chain stays one line whatever the number of writers.
    pub async fn append_audit(&self, record: AuditRecord) -> anyhow::Result<AuditEntry> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting an audit append")?;
        let entry = append_audit_in(&mut tx, record).await?;
        tx.commit().await.context("committing an audit entry")?;
        Ok(entry)
    }

    /// Up to `limit` entries older than `before` (newest first) matching `filter`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: i64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let (clause, values) = filter.clause(3);
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_log WHERE id < $1 {} {clause} ORDER BY id DESC LIMIT $2",
            if clause.is_empty() { "" } else { "AND" }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await
            .context("reading the audit log")?
            .iter()
            .map(entry_of)
            .collect()
    }

    /// Every matching entry, newest first, read a page at a time.
    pub fn audit_export(
        &self,
        filter: AuditFilter,
    ) -> impl Stream<Item = anyhow::Result<AuditEntry>> + 'static {
        const PAGE: i64 = 500;
        let store = self.clone();
        futures_util::stream::unfold(
            (store, filter, None::<i64>, Vec::<AuditEntry>::new(), false),
            |(store, filter, before, mut buffered, done)| async move {
                if let Some(entry) = buffered.pop() {
                    return Some((Ok(entry), (store, filter, before, buffered, done)));
                }
                if done {
                    return None;
                }
                match store.audit_page(&filter, before, PAGE).await {
                    Ok(page) => {
                        let done = (page.len() as i64) < PAGE;
                        let before = page.last().map(|e| e.id);
                        buffered = page;
                        buffered.reverse();
                        let entry = buffered.pop()?;
                        Some((Ok(entry), (store, filter, before, buffered, done)))
                    }
                    Err(e) => Some((Err(e), (store, filter, before, Vec::new(), true))),
                }
            },
        )
    }

    /// Recomputes the whole chain; the number of entries when intact.
    pub async fn verify_audit(&self) -> anyhow::Result<Result<i64, ChainBreak>> {
        // The head first: entries appended while the log is read lie beyond it.
        let head = sqlx::query("SELECT count, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .context("reading the audit head")?;
        let count: i64 = head.try_get("count")?;
        let last_hash: String = head.try_get("last_hash")?;
        let mut verifier = ChainVerifier::default();
        let mut after = 0i64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE id > $1 AND id <= $2 ORDER BY id LIMIT 1000"
            )))
            .bind(after)
            .bind(count)
            .fetch_all(&self.pool)
            .await
            .context("reading the audit log")?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let entry = entry_of(row)?;
                if let Err(broken) = verifier.check(&entry) {
                    return Ok(Err(broken));
                }
                after = entry.id;
            }
        }
        Ok(verifier.finish(count, &last_hash))
    }
}

/// Appends `record` inside the caller's transaction (which then owns the head's lock).
pub(super) async fn append_audit_in(
    conn: &mut sqlx::AnyConnection,
    record: AuditRecord,
) -> anyhow::Result<AuditEntry> {
    // Take the write lock first (PostgreSQL: the row; SQLite: the database).
    sqlx::query("UPDATE audit_head SET count = count WHERE id = 1")
        .execute(&mut *conn)
        .await
        .context("locking the audit head")?;
    let head = sqlx::query("SELECT count, last_hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await
        .context("reading the audit head")?;
    let count: i64 = head.try_get("count")?;
    let last_hash: String = head.try_get("last_hash")?;
    let entry = AuditEntry::seal(
        count + 1,
        audit_time(OffsetDateTime::now_utc()),
        record,
        last_hash,
    );
    let r = &entry.record;
    sqlx::query(
            "INSERT INTO audit_log (id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
             old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(entry.id)
        .bind(&entry.at)
        .bind(&r.actor)
        .bind(&r.role)
        .bind(&r.source_ip)
        .bind(&r.user_agent)
        .bind(&r.action)
        .bind(&r.pool_id)
        .bind(&r.domain)
        .bind(&r.old_certificate_arn)
        .bind(&r.new_certificate_arn)
        .bind(&r.outcome)
        .bind(&r.detail)
        .bind(&r.aws_request_id)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .execute(&mut *conn)
        .await
        .context("writing an audit entry")?;
    sqlx::query("UPDATE audit_head SET count = $1, last_hash = $2 WHERE id = 1")
        .bind(entry.id)
        .bind(&entry.hash)
        .execute(&mut *conn)
        .await
        .context("moving the audit head")?;
    Ok(entry)
}

fn entry_of(row: &AnyRow) -> anyhow::Result<AuditEntry> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        record: AuditRecord {
            actor: row.try_get("actor")?,
            role: row.try_get("role")?,
            source_ip: row.try_get("source_ip")?,
            user_agent: row.try_get("user_agent")?,
            action: row.try_get("action")?,
            pool_id: row.try_get("pool_id")?,
            domain: row.try_get("domain")?,
            old_certificate_arn: row.try_get("old_certificate_arn")?,
            new_certificate_arn: row.try_get("new_certificate_arn")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
            aws_request_id: row.try_get("aws_request_id")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
