//! The audit log's storage: appends serialised on the head row, newest-first keyset
//! pages with filters, exports in pages (memory stays flat), and chain verification
//! (whole, or carried on from an entry verified before).

use anyhow::Context;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Store;
use crate::domain::audit::{
    AuditAction, AuditAnchor, AuditEntry, AuditKey, AuditRecord, ChainBreak, ChainVerifier, Sealing,
};

/// What a process without the key is told when the log is keyed.
const KEY_NEEDED: &str = "this audit log is keyed: set CERTDECK_AUDIT_KEY or \
    CERTDECK_AUDIT_KEY_FILE to the key it was written with";

/// What a process with another key is told.
const WRONG_KEY: &str = "the audit key does not match the key this audit log was written \
    with (CERTDECK_AUDIT_KEY / CERTDECK_AUDIT_KEY_FILE)";

/// One verification of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The last entry verified (0: none) and its hash: where a later verification can
    /// carry on.
    pub verified_id: i64,
    pub verified_hash: String,
    /// The first keyed entry (earlier ones have the key-less form); `None`: never keyed.
    pub keyed_from: Option<i64>,
    /// The number of entries when intact, or where the chain breaks.
    pub outcome: Result<i64, ChainBreak>,
}

/// The head row: how long the log is, how it ends, and where it turned keyed.
#[derive(sqlx::FromRow)]
struct Head {
    count: i64,
    last_hash: String,
    keyed_from: Option<i64>,
    key_check: Option<String>,
    keyed_from_mac: Option<String>,
}

async fn read_head<'e, E>(executor: E) -> anyhow::Result<Head>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query_as(
        "SELECT count, last_hash, keyed_from, key_check, keyed_from_mac FROM audit_head WHERE id = 1",
    )
    .fetch_one(executor)
    .await
    .context("reading the audit head")
}

/// The key new entries are sealed with, given the head (locked by the caller). The
/// first time a key meets a log that has none, the switch point is recorded: entries
/// so far keep the key-less form, every later one is keyed.
async fn key_for_append(
    conn: &mut sqlx::AnyConnection,
    key: Option<&AuditKey>,
    head: &Head,
) -> anyhow::Result<Option<AuditKey>> {
    match (key, head.keyed_from) {
        (None, None) => Ok(None),
        (None, Some(_)) => anyhow::bail!(KEY_NEEDED),
        (Some(key), Some(_)) => {
            anyhow::ensure!(
                head.key_check.as_deref() == Some(key.check_value().as_str()),
                WRONG_KEY
            );
            Ok(Some(key.clone()))
        }
        (Some(key), None) => {
            let keyed_from = head.count + 1;
            sqlx::query(
                "UPDATE audit_head SET keyed_from = $1, key_check = $2, keyed_from_mac = $3 \
                 WHERE id = 1 AND keyed_from IS NULL",
            )
            .bind(keyed_from)
            .bind(key.check_value())
            .bind(key.switch_value(keyed_from))
            .execute(&mut *conn)
            .await
            .context("recording the switch to the keyed audit chain")?;
            if head.count > 0 {
                tracing::warn!(
                    keyed_from,
                    "the audit log is keyed from entry {keyed_from} on; entries 1 to {} keep \
                     the key-less form",
                    head.count
                );
            } else {
                tracing::info!("the audit log is keyed from its first entry");
            }
            Ok(Some(key.clone()))
        }
    }
}

/// Rows a verification reads at a time: one read holds SQLite's only connection, so
/// requests wait at most one page's read (a few ms) while a long verification runs.
const VERIFY_PAGE: i64 = 1_000;

pub(super) const COLUMNS: &str = "id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
    old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash, \
    account, account_id, assumed_role";

/// Filters of `/audit` and its exports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub pool_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// certdeck's name of an AWS account.
    pub account: Option<String>,
    /// A custom domain (`auth.example.com`).
    #[serde(default)]
    pub domain: Option<String>,
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
        if let Some(v) = set(&self.account) {
            push("account = ?", v);
        }
        if let Some(v) = set(&self.domain) {
            push("domain = ?", v);
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
    /// This store seals (and verifies) the audit chain with `key`.
    pub fn with_audit_key(mut self, key: AuditKey) -> Self {
        self.audit_key = Some(key);
        self
    }

    /// Checks the store's key against the log, and records the switch point when the
    /// log had no key yet (so that it is fixed before any keyed entry). A wrong key is
    /// an error: entries sealed with it would break the chain.
    pub async fn establish_audit_key(&self) -> anyhow::Result<()> {
        let key = self
            .audit_key
            .as_ref()
            .context("establishing the audit key needs one")?;
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting the audit key check")?;
        lock_head(&mut tx).await?;
        let head = read_head(&mut *tx).await?;
        key_for_append(&mut tx, Some(key), &head).await?;
        tx.commit()
            .await
            .context("committing the audit switch point")?;
        Ok(())
    }

    /// Fails, naming the variables, when this store could not append to the log: the
    /// log is keyed and the store has no key, or another one. (Checked before a change
    /// that is audited afterwards, so that the change is not made unaudited.)
    pub async fn check_audit_key(&self) -> anyhow::Result<()> {
        let head = read_head(&self.pool).await?;
        match (&self.audit_key, head.keyed_from) {
            (None, Some(_)) => anyhow::bail!(KEY_NEEDED),
            (Some(key), Some(_)) => anyhow::ensure!(
                head.key_check.as_deref() == Some(key.check_value().as_str()),
                WRONG_KEY
            ),
            _ => {}
        }
        Ok(())
    }

    /// Appends `record` after the current last entry; concurrent appends queue on the
    /// head row, so the chain stays one line whatever the number of writers.
    pub async fn append_audit(&self, record: AuditRecord) -> anyhow::Result<AuditEntry> {
        let mut tx = self
            .pool
            .begin()
            .await
            .context("starting an audit append")?;
        let entry = append_audit_in(&mut tx, self.audit_key.as_ref(), record).await?;
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
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit);
        for value in values {
            query = query.bind(value);
        }
        query
            .fetch_all(&self.pool)
            .await
            .context("reading the audit log")
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
        Ok(self.verify_audit_chain(None, &[]).await?.outcome)
    }

    /// Verifies the chain from its first entry, or carries on after `resume` (an entry
    /// id and hash verified before), also against `anchors`. Every row is read, the ones
    /// past the recorded head included: a row the head does not cover was not written
    /// by certdeck.
    pub async fn verify_audit_chain(
        &self,
        resume: Option<(i64, String)>,
        anchors: &[AuditAnchor],
    ) -> anyhow::Result<ChainReport> {
        self.verify_audit_chain_within(resume, anchors, None).await
    }

    /// [`Self::verify_audit_chain`], stopping after `budget` entries when given: the
    /// report then says how far the chain is intact (`outcome` is that entry), and a
    /// later call carries on from there. A page view verifies within a budget, so its
    /// work stays bounded however long the log is.
    pub async fn verify_audit_chain_within(
        &self,
        resume: Option<(i64, String)>,
        anchors: &[AuditAnchor],
        budget: Option<i64>,
    ) -> anyhow::Result<ChainReport> {
        let head = read_head(&self.pool).await?;
        let keyed_from = head.keyed_from;
        let mut verifier = ChainVerifier::new(Sealing {
            key: self.audit_key.clone(),
            keyed_from,
        })
        .with_anchors(anchors);
        if let Some((id, hash)) = &resume {
            verifier = verifier.resume(*id, hash);
        }
        let report = |verifier: &ChainVerifier, outcome| ChainReport {
            verified_id: verifier.verified().0,
            verified_hash: verifier.verified().1.to_owned(),
            keyed_from,
            outcome,
        };
        if let Some(broken) = key_break(self.audit_key.as_ref(), &head) {
            return Ok(report(&ChainVerifier::default(), Err(broken)));
        }
        // The head as of the rows read: re-read after them, so an append landing while
        // the log is read is never taken for a row past the head.
        let mut count = head.count;
        let stop_at = budget.map(|b| verifier.verified().0.saturating_add(b.max(1)));
        // Unbounded on SQLite (the CLI's `audit verify`, the background round): the log
        // is read in-process by rusqlite on a blocking thread, rows decoded as borrowed
        // text into one reused entry, a page at a time (one short read, then writers
        // get their turn).
        let mut direct = match (&self.sqlite_url, budget) {
            (Some(url), None) => DirectRead::open(url)?.map(Box::new),
            _ => None,
        };
        let last_hash = loop {
            if stop_at.is_some_and(|stop| verifier.verified().0 >= stop) {
                let verified = verifier.verified().0;
                return Ok(report(&verifier, Ok(verified)));
            }
            // Pages of rows (one query each), so that other requests get the database's
            // connection in between.
            let page = stop_at.map_or(VERIFY_PAGE, |stop| {
                (stop - verifier.verified().0).clamp(1, VERIFY_PAGE)
            });
            if let Some(mut read) = direct.take() {
                let known = count;
                let (back, returned, outcome) = tokio::task::spawn_blocking(move || {
                    let outcome = read.page(&mut verifier, known, DIRECT_PAGE);
                    (read, verifier, outcome)
                })
                .await
                .context("verifying the audit log")?;
                direct = Some(back);
                verifier = returned;
                match outcome.context("reading the audit log")? {
                    DirectPage::Broken(broken) => return Ok(report(&verifier, Err(broken))),
                    DirectPage::PastHead(id) => {
                        // An append may have landed meanwhile: the head is read again.
                        count = read_head(&self.pool).await?.count;
                        if id > count {
                            return Ok(report(
                                &verifier,
                                Err(ChainBreak::PastHead {
                                    id,
                                    recorded: count,
                                }),
                            ));
                        }
                        continue;
                    }
                    DirectPage::Read(n) if n > 0 => continue,
                    DirectPage::Read(_) => {}
                }
                let now = read_head(&self.pool).await?;
                if now.count > count {
                    count = now.count;
                    continue;
                }
                count = now.count;
                break now.last_hash;
            }
            let rows: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT {page}"
            )))
            .bind(verifier.verified().0)
            .fetch_all(&self.pool)
            .await
            .context("reading the audit log")?;
            if rows.is_empty() {
                let now = read_head(&self.pool).await?;
                if now.count > count {
                    count = now.count;
                    continue;
                }
                count = now.count;
                break now.last_hash;
            }
            for entry in &rows {
                if let Some(broken) = self.past_head(entry, &mut count).await? {
                    return Ok(report(&verifier, Err(broken)));
                }
                if let Err(broken) = verifier.check(entry) {
                    return Ok(report(&verifier, Err(broken)));
                }
            }
        };
        let outcome = verifier.finish(count, &last_hash);
        Ok(report(&verifier, outcome))
    }

    /// Whether `entry` lies past the recorded head (`count`, re-read when it seems to:
    /// an append may have landed meanwhile).
    async fn past_head(
        &self,
        entry: &AuditEntry,
        count: &mut i64,
    ) -> anyhow::Result<Option<ChainBreak>> {
        if entry.id > *count {
            *count = read_head(&self.pool).await?.count;
            if entry.id > *count {
                return Ok(Some(ChainBreak::PastHead {
                    id: entry.id,
                    recorded: *count,
                }));
            }
        }
        Ok(None)
    }

    /// How this store checks entries of a log keyed from `keyed_from`.
    pub fn audit_sealing(&self, keyed_from: Option<i64>) -> Sealing {
        Sealing {
            key: self.audit_key.clone(),
            keyed_from,
        }
    }

    /// The head as it stands: entries and the last hash.
    pub async fn audit_head(&self) -> anyhow::Result<(i64, String)> {
        let head = read_head(&self.pool).await?;
        Ok((head.count, head.last_hash))
    }
}

/// Whether the key (or its absence) fits the log's recorded switch point.
fn key_break(key: Option<&AuditKey>, head: &Head) -> Option<ChainBreak> {
    match (key, head.keyed_from) {
        (Some(key), Some(keyed_from)) => {
            if head.key_check.as_deref() != Some(key.check_value().as_str()) {
                Some(ChainBreak::WrongKey)
            } else if head.keyed_from_mac.as_deref() != Some(key.switch_value(keyed_from).as_str())
            {
                Some(ChainBreak::SwitchMoved { keyed_from })
            } else {
                None
            }
        }
        // A console with a key records the switch point when it first opens the log:
        // a log with entries and none was never keyed, or had its switch point removed.
        (Some(_), None) if head.count > 0 => Some(ChainBreak::NeverKeyed),
        _ => None,
    }
}

/// Takes the head's write lock (PostgreSQL: the row; SQLite: the database).
async fn lock_head(conn: &mut sqlx::AnyConnection) -> anyhow::Result<()> {
    sqlx::query("UPDATE audit_head SET count = count WHERE id = 1")
        .execute(&mut *conn)
        .await
        .context("locking the audit head")?;
    Ok(())
}

/// Appends `record` inside the caller's transaction (which then owns the head's lock).
pub(super) async fn append_audit_in(
    conn: &mut sqlx::AnyConnection,
    key: Option<&AuditKey>,
    record: AuditRecord,
) -> anyhow::Result<AuditEntry> {
    lock_head(conn).await?;
    let head = read_head(&mut *conn).await?;
    let at = audit_time(OffsetDateTime::now_utc());
    let entry = match key_for_append(conn, key, &head).await? {
        Some(key) => AuditEntry::seal_keyed(&key, head.count + 1, at, record, head.last_hash),
        None => AuditEntry::seal(head.count + 1, at, record, head.last_hash),
    };
    let r = &entry.record;
    sqlx::query(
            "INSERT INTO audit_log (id, at, actor, role, source_ip, user_agent, action, pool_id, domain, \
             old_certificate_arn, new_certificate_arn, outcome, detail, aws_request_id, prev_hash, hash, \
             account, account_id, assumed_role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(entry.id)
        .bind(&entry.at)
        .bind(&r.actor)
        .bind(&r.role)
        .bind(&r.source_ip)
        .bind(&r.user_agent)
        .bind(r.action.as_str())
        .bind(&r.pool_id)
        .bind(&r.domain)
        .bind(&r.old_certificate_arn)
        .bind(&r.new_certificate_arn)
        .bind(&r.outcome)
        .bind(&r.detail)
        .bind(&r.aws_request_id)
        .bind(&entry.prev_hash)
        .bind(&entry.hash)
        .bind(&r.account)
        .bind(&r.account_id)
        .bind(&r.assumed_role)
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

/// Reads a row (the columns of `COLUMNS`, in order) into `entry`, reusing its strings:
/// no allocation per row once they are long enough.
/// Rows `audit verify` reads at once from SQLite in-process.
const DIRECT_PAGE: i64 = 10_000;

/// The SQLite log read in-process (rusqlite over the same libsqlite3 as sqlx), with the
/// entry each row is decoded into.
struct DirectRead {
    conn: rusqlite::Connection,
    entry: AuditEntry,
}

/// What a page of rows read in-process found.
enum DirectPage {
    /// This many rows, all verified.
    Read(usize),
    Broken(ChainBreak),
    /// A row past the head as last read (`count`): the caller reads the head again;
    /// the row was not verified.
    PastHead(i64),
}

impl DirectRead {
    /// The log's file opened read-only; `None` for an in-memory database, which only
    /// the store's own connections see.
    fn open(url: &str) -> anyhow::Result<Option<Self>> {
        let options: sqlx::sqlite::SqliteConnectOptions = url
            .parse()
            .context("opening the audit log for verification")?;
        let file = options.get_filename();
        if file.as_os_str().is_empty()
            || file == std::path::Path::new(":memory:")
            || url.contains("mode=memory")
        {
            return Ok(None);
        }
        let conn = rusqlite::Connection::open_with_flags(
            options.get_filename(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .context("opening the audit log for verification")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .context("opening the audit log for verification")?;
        Ok(Some(Self {
            conn,
            entry: AuditEntry {
                id: 0,
                at: String::new(),
                record: AuditRecord::default(),
                prev_hash: String::new(),
                hash: String::new(),
            },
        }))
    }

    /// Verifies up to `limit` rows after the verifier's last entry, stopping at a row
    /// past `count` (the head as last read).
    fn page(
        &mut self,
        verifier: &mut ChainVerifier,
        count: i64,
        limit: i64,
    ) -> anyhow::Result<DirectPage> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let mut rows = statement.query((verifier.verified().0, limit))?;
        let mut read = 0;
        while let Some(row) = rows.next()? {
            fill_entry(&mut self.entry, row)?;
            if self.entry.id > count {
                return Ok(DirectPage::PastHead(self.entry.id));
            }
            if let Err(broken) = verifier.check(&self.entry) {
                return Ok(DirectPage::Broken(broken));
            }
            read += 1;
        }
        Ok(DirectPage::Read(read))
    }
}

/// Decodes a row of `COLUMNS` into `entry`, reusing its text buffers.
fn fill_entry(entry: &mut AuditEntry, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
    fn text(target: &mut String, value: &str) {
        target.clear();
        target.push_str(value);
    }
    fn optional(target: &mut Option<String>, value: Option<&str>) {
        match (target.as_mut(), value) {
            (Some(target), Some(value)) => text(target, value),
            (None, Some(value)) => *target = Some(value.to_owned()),
            (_, None) => *target = None,
        }
    }
    let str_at = |i: usize| -> rusqlite::Result<&str> { Ok(row.get_ref(i)?.as_str()?) };
    let maybe_at =
        |i: usize| -> rusqlite::Result<Option<&str>> { Ok(row.get_ref(i)?.as_str_or_null()?) };
    entry.id = row.get(0)?;
    text(&mut entry.at, str_at(1)?);
    let r = &mut entry.record;
    text(&mut r.actor, str_at(2)?);
    optional(&mut r.role, maybe_at(3)?);
    optional(&mut r.source_ip, maybe_at(4)?);
    optional(&mut r.user_agent, maybe_at(5)?);
    let action = str_at(6)?;
    if r.action.as_str() != action {
        r.action = AuditAction::from(action);
    }
    optional(&mut r.pool_id, maybe_at(7)?);
    optional(&mut r.domain, maybe_at(8)?);
    optional(&mut r.old_certificate_arn, maybe_at(9)?);
    optional(&mut r.new_certificate_arn, maybe_at(10)?);
    text(&mut r.outcome, str_at(11)?);
    optional(&mut r.detail, maybe_at(12)?);
    optional(&mut r.aws_request_id, maybe_at(13)?);
    text(&mut entry.prev_hash, str_at(14)?);
    text(&mut entry.hash, str_at(15)?);
    let r = &mut entry.record;
    optional(&mut r.account, maybe_at(16)?);
    optional(&mut r.account_id, maybe_at(17)?);
    optional(&mut r.assumed_role, maybe_at(18)?);
    Ok(())
}

/// An entry as stored; the action is read as an [`AuditAction`](crate::domain::audit::AuditAction)
/// (text certdeck does not write stays `Other`, so that the chain still verifies).
impl<'r> FromRow<'r, AnyRow> for AuditEntry {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
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
                account: row.try_get("account")?,
                account_id: row.try_get("account_id")?,
                assumed_role: row.try_get("assumed_role")?,
            },
            prev_hash: row.try_get("prev_hash")?,
            hash: row.try_get("hash")?,
        })
    }
}
