//! What several replicas on one database share (PRODUCT.md §11): leases with expiry,
//! the replicas' heartbeats, the version of the stored snapshot, and phase changes sent
//! to every replica (`NOTIFY` on PostgreSQL).

use anyhow::Context;
use sqlx::Row;

use super::{Backend, Store, unix_now as now};

/// The PostgreSQL channel phase changes are sent on.
pub const PHASE_CHANNEL: &str = "certdeck_phases";

/// A replica counts as live while its last heartbeat is this recent.
pub const REPLICA_LIVE_SECS: i64 = 15;

impl Store {
    /// Takes or renews the lease `name` for `holder` until `seconds` from now; false
    /// when another holder's lease has not expired.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        seconds: i64,
    ) -> anyhow::Result<bool> {
        let now = now();
        let result = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now + seconds)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("taking a lease")?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives the lease `name` up, if `holder` has it.
    pub async fn release_lease(&self, name: &str, holder: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .context("releasing a lease")?;
        Ok(())
    }

    /// Takes or renews the watch of a propagation for `holder` (its heartbeat) for
    /// `seconds`; false when another replica watches it and its lease has not expired.
    /// `lease_expires` is in unix milliseconds.
    pub async fn claim_propagation(
        &self,
        id: &str,
        holder: &str,
        seconds: i64,
    ) -> anyhow::Result<bool> {
        // In milliseconds: whole seconds would stretch a short lease by up to one.
        let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let result = sqlx::query(
            "UPDATE propagations SET lease_holder = $1, lease_expires = $2 \
             WHERE id = $3 AND (lease_holder IS NULL OR lease_holder = $1 OR lease_expires < $4)",
        )
        .bind(holder)
        .bind(now + seconds * 1000)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("claiming a propagation")?;
        Ok(result.rows_affected() == 1)
    }

    /// Gives up every change `holder` watches (a graceful stop), so another replica
    /// takes them at its next look instead of after the lease.
    pub async fn release_propagations(&self, holder: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE propagations SET lease_holder = NULL, lease_expires = NULL WHERE lease_holder = $1",
        )
        .bind(holder)
        .execute(&self.pool)
        .await
        .context("releasing watched changes")?;
        Ok(())
    }

    /// Records that replica `id` is alive, forgets replicas long gone, and returns how
    /// many are live (this one included).
    pub async fn replica_heartbeat(&self, id: &str) -> anyhow::Result<usize> {
        let now = now();
        sqlx::query(
            "INSERT INTO replicas (id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("recording a heartbeat")?;
        sqlx::query("DELETE FROM replicas WHERE seen_at < $1")
            .bind(now - 10 * REPLICA_LIVE_SECS)
            .execute(&self.pool)
            .await
            .context("forgetting old replicas")?;
        let live: i64 = sqlx::query("SELECT COUNT(*) AS live FROM replicas WHERE seen_at >= $1")
            .bind(now - REPLICA_LIVE_SECS)
            .fetch_one(&self.pool)
            .await
            .context("counting live replicas")?
            .try_get("live")?;
        Ok(live.max(1) as usize)
    }

    /// Removes replica `id`'s heartbeat (a graceful stop), so the others' quota share
    /// grows at once.
    pub async fn replica_gone(&self, id: &str) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM replicas WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .context("removing a heartbeat")?;
        Ok(())
    }

    /// The version of the stored snapshot (0: none), moved by every save.
    pub async fn snapshot_version(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT version FROM inventory_snapshot WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .context("reading the snapshot version")?;
        Ok(match row {
            Some(row) => row.try_get("version")?,
            None => 0,
        })
    }

    /// Sends a phase change to every replica's listener (PostgreSQL only). The payload
    /// is JSON of at most 8,000 bytes (PostgreSQL's limit).
    pub async fn notify_phase(&self, payload: &str) -> anyhow::Result<()> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        anyhow::ensure!(payload.len() < 8000, "a phase notification is too large");
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(PHASE_CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await
            .context("notifying a phase change")?;
        Ok(())
    }

    /// Records whether `domain`'s edge serves another certificate than the configured
    /// one (every replica's dashboard shows it).
    pub async fn set_served_differs(&self, domain: &str, differs: bool) -> anyhow::Result<()> {
        served_differs_query(domain, differs)
            .execute(&self.pool)
            .await
            .context("recording a served certificate")?;
        Ok(())
    }

    /// The custom domains whose edge serves another certificate than the configured one.
    pub async fn served_differs(&self) -> anyhow::Result<Vec<String>> {
        let rows = sqlx::query("SELECT domain FROM served_differs ORDER BY domain")
            .fetch_all(&self.pool)
            .await
            .context("reading the served certificates")?;
        rows.iter()
            .map(|r| r.try_get("domain").context("a domain"))
            .collect()
    }

    /// Records what `domain`'s edge served at a probe.
    pub async fn record_served_certificate(&self, served: &ServedRecord) -> anyhow::Result<()> {
        upsert_served(served)
            .execute(&self.pool)
            .await
            .context("recording what the edge served")?;
        Ok(())
    }

    /// Records what a sweep's probes found, in one transaction: each finding, and
    /// whether its edge serves another certificate than the configured one (when that
    /// is known). A sweep of 10,000 domains wrote them statement by statement, each its
    /// own commit through SQLite's one connection (issue 17); the sweep now writes a
    /// batch at a time (`SWEEP_WRITE_BATCH`), each short enough not to hold up the
    /// requests waiting on that connection.
    pub async fn record_served_certificates(&self, found: &[ServedRecord]) -> anyhow::Result<()> {
        if found.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        for served in found {
            upsert_served(served)
                .execute(&mut *tx)
                .await
                .context("recording what the edge served")?;
            if let Some(matches) = served.matches {
                served_differs_query(&served.domain, !matches)
                    .execute(&mut *tx)
                    .await
                    .context("recording a served certificate")?;
            }
        }
        tx.commit().await.context("committing the edge findings")?;
        Ok(())
    }

    /// A summary of `served_certificates` that changes when a finding is recorded, as
    /// each records the second of its probe: the rows, and the latest and the sum of
    /// their probe times. A replica reads the whole table again only when this changed
    /// (issue 17: it read 10,000 rows every 5 s). Two findings of one domain in the
    /// same second leave it as the first one left it; the next finding changes it.
    pub async fn served_certificates_version(&self) -> anyhow::Result<FindingsVersion> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(MAX(probed_at), 0) AS BIGINT) AS latest, \
             CAST(COALESCE(SUM(probed_at), 0) AS BIGINT) AS total FROM served_certificates",
        )
        .fetch_one(&self.pool)
        .await
        .context("summarising what the edges served")?;
        Ok((
            row.try_get::<i64, _>("n")?,
            row.try_get::<i64, _>("latest")?,
            row.try_get::<i64, _>("total")?,
        ))
    }

    /// What each custom domain's edge served at its last probe, by domain.
    pub async fn served_certificates(&self) -> anyhow::Result<Vec<ServedRecord>> {
        let rows = sqlx::query(
            "SELECT domain, serial, subject, not_after, matches, probed_at \
             FROM served_certificates ORDER BY domain",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading what the edges served")?;
        rows.iter()
            .map(|r| {
                Ok(ServedRecord {
                    domain: r.try_get("domain")?,
                    serial: r.try_get("serial")?,
                    subject: r.try_get("subject")?,
                    not_after: r.try_get("not_after")?,
                    matches: r.try_get::<Option<i32>, _>("matches")?.map(|m| m != 0),
                    probed_at: r.try_get("probed_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .context("a served certificate row")
    }
}

/// What `Store::served_certificates_version` returns: the findings stored, and the
/// latest and the sum of their probe times (Unix seconds).
pub type FindingsVersion = (i64, i64, i64);

/// What each custom domain's edge served at its last probe, by domain. Each finding is
/// keyed by its own `domain` (a map would hold a second copy of every domain) and boxed:
/// the table's buckets, a third of them empty, are a pointer each rather than a whole
/// finding (issue 17: RSS with 10,000 domains).
#[derive(Debug, Clone, Default)]
pub struct ServedFindings(std::collections::HashSet<ByDomain>);

/// A finding hashed and compared by its domain alone.
#[derive(Debug, Clone)]
struct ByDomain(Box<ServedRecord>);

impl PartialEq for ByDomain {
    fn eq(&self, other: &Self) -> bool {
        self.0.domain == other.0.domain
    }
}

impl Eq for ByDomain {}

impl std::hash::Hash for ByDomain {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes: `Borrow<str>` requires the same hash for the same domain.
        self.0.domain.as_str().hash(state)
    }
}

impl std::borrow::Borrow<str> for ByDomain {
    fn borrow(&self) -> &str {
        &self.0.domain
    }
}

impl ServedFindings {
    /// The last finding for `domain`.
    pub fn get(&self, domain: &str) -> Option<&ServedRecord> {
        self.0.get(domain).map(|found| &*found.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Extend<ServedRecord> for ServedFindings {
    /// A domain's new finding replaces its last one.
    fn extend<I: IntoIterator<Item = ServedRecord>>(&mut self, found: I) {
        let found = found.into_iter();
        // Room made once: a reload collects 10,000 findings, which would otherwise
        // grow the table a dozen times over.
        self.0.reserve(found.size_hint().0);
        for record in found {
            self.0.replace(ByDomain(Box::new(record)));
        }
    }
}

impl FromIterator<ServedRecord> for ServedFindings {
    fn from_iter<I: IntoIterator<Item = ServedRecord>>(found: I) -> Self {
        let mut findings = Self::default();
        findings.extend(found);
        findings
    }
}

/// What a custom domain's edge served at its last probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedRecord {
    pub domain: String,
    /// ACM's spelling of the serial.
    pub serial: String,
    pub subject: String,
    /// Unix seconds (`None`: the date could not be read).
    pub not_after: Option<i64>,
    /// Whether the served serial is the configured certificate's (`None`: unknown).
    pub matches: Option<bool>,
    /// Unix seconds.
    pub probed_at: i64,
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Stores what `served.domain`'s edge served (one row a domain).
fn upsert_served(served: &ServedRecord) -> Query<'_> {
    sqlx::query(
        "INSERT INTO served_certificates \
         (domain, serial, subject, not_after, matches, probed_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (domain) DO UPDATE SET serial = excluded.serial, \
         subject = excluded.subject, not_after = excluded.not_after, \
         matches = excluded.matches, probed_at = excluded.probed_at",
    )
    .bind(&served.domain)
    .bind(&served.serial)
    .bind(&served.subject)
    .bind(served.not_after)
    .bind(served.matches.map(i32::from))
    .bind(served.probed_at)
}

/// Flags `domain` in `served_differs` (its edge serves another certificate than the
/// configured one), or clears its flag.
fn served_differs_query(domain: &str, differs: bool) -> Query<'_> {
    if differs {
        sqlx::query(
            "INSERT INTO served_differs (domain, seen_at) VALUES ($1, $2) \
             ON CONFLICT (domain) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(domain)
        .bind(now())
    } else {
        sqlx::query("DELETE FROM served_differs WHERE domain = $1").bind(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(domain: &str, serial: &str) -> ServedRecord {
        ServedRecord {
            domain: domain.to_owned(),
            serial: serial.to_owned(),
            subject: format!("CN={domain}"),
            not_after: Some(1_900_000_000),
            matches: Some(true),
            probed_at: 1_800_000_000,
        }
    }

    /// Findings are found by domain; a domain's new finding replaces its last one, in
    /// a batch or later; other domains keep theirs.
    #[test]
    fn findings_are_kept_by_domain_and_the_newest_wins() {
        let mut findings: ServedFindings = (0..1000)
            .map(|n| finding(&format!("auth{n}.example.com"), "01"))
            .chain([finding("auth7.example.com", "02")])
            .collect();
        assert_eq!(findings.len(), 1000);
        assert_eq!(
            findings.get("auth7.example.com").map(|f| f.serial.as_str()),
            Some("02")
        );
        findings.extend([
            finding("auth8.example.com", "03"),
            finding("new.example.com", "04"),
        ]);
        assert_eq!(findings.len(), 1001);
        for (domain, serial) in [
            ("auth7.example.com", "02"),
            ("auth8.example.com", "03"),
            ("new.example.com", "04"),
            ("auth999.example.com", "01"),
        ] {
            let found = findings.get(domain).expect(domain);
            assert_eq!(
                (found.domain.as_str(), found.serial.as_str()),
                (domain, serial)
            );
        }
        for absent in [
            "",
            "auth1000.example.com",
            "AUTH7.example.com",
            "auth7.example.co",
        ] {
            assert!(findings.get(absent).is_none(), "{absent}");
        }
        assert!(ServedFindings::default().is_empty());
    }
}
