//! Persistence through sqlx: `sqlite://` (the embedded default) or `postgres://` (several
//! replicas), chosen by the URL at run time. Statements are written to run on both.

mod approvals;
mod audit;
mod changes;
mod jobs;
mod notifications;
mod oidc;
mod replicas;
mod sessions;
mod tokens;
mod types;
mod users;

pub use approvals::{APPROVAL_LIFETIME_SECS, ChangeRequestRow, RequestStatus};
pub use audit::{AuditFilter, ChainReport, audit_time};
pub use changes::{Observation, PendingChange, Propagation, PropagationEvent};
pub use jobs::{BulkItem, BulkRun};
pub use notifications::{Delivery, NewDelivery};
pub use oidc::OidcSignIn;
pub use replicas::{
    FindingsVersion, PHASE_CHANNEL, REPLICA_LIVE_SECS, ServedFindings, ServedRecord,
};
pub use sessions::{AUTH_CACHE_TTL, SESSION_ID, SESSION_USER};
pub use tokens::{IdempotencyClaim, NewToken, StoredToken};
pub use users::{StoredUser, ThrottleKind, UserError};

use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// Schema changes, applied once each in order by sqlx (`_sqlx_migrations`). Plain SQL
/// both databases accept; each file runs as one script in a transaction.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations");

/// Where certdeck's own runner (before sqlx's) recorded the versions it applied.
const LEGACY_MIGRATIONS_TABLE: &str = "certdeck_migrations";

/// SQLite's page cache on the console's connection: 512 KiB instead of the default
/// 2 MiB (issue 17: heaptrack found 2.1 MB of SQLite's cache live in an idle console
/// with 10,000 pools, outside the Rust heap). What is not cached is read from the OS's
/// file cache.
const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -512";

/// Now, in unix seconds (how the store keeps times).
fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Which database a URL named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Seals and verifies the keyed audit chain; never written to the database.
    audit_key: Option<crate::domain::audit::AuditKey>,
    /// Sessions and accounts read by signed-in requests, reused for up to a second.
    auth_cache: std::sync::Arc<sessions::AuthCache>,
    /// On SQLite, the database's URL: a long verification of the audit log reads it on
    /// a connection of its own.
    sqlite_url: Option<std::sync::Arc<str>>,
    /// The domains with a change in flight, as the dashboard's summary last read them.
    in_flight: std::sync::Arc<std::sync::Mutex<Option<InFlight>>>,
}

/// The domains with a change in flight, and when they were read.
type InFlight = (
    std::time::Instant,
    std::sync::Arc<std::collections::HashSet<String>>,
);

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &SecretString) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let (backend, url) = if let Some(path) = raw.strip_prefix("sqlite://") {
            // Create the file on first start.
            let separator = if path.contains('?') { '&' } else { '?' };
            (
                Backend::Sqlite,
                format!("sqlite://{path}{separator}mode=rwc"),
            )
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            (Backend::Postgres, raw.to_owned())
        } else {
            anyhow::bail!("CERTDECK_DATABASE_URL must start with sqlite:// or postgres://");
        };
        let pool = AnyPoolOptions::new()
            // SQLite takes one writer at a time; more connections only wait on its lock.
            .max_connections(if backend == Backend::Sqlite { 1 } else { 10 })
            // SQLite's one connection has a thread of its own, started here at the
            // normal priority, and lives as long as the process: reopened from a
            // background task, its thread would inherit that task's lower priority
            // (`supervisor::BACKGROUND_NICE`) and serve requests at it.
            .idle_timeout((backend == Backend::Postgres).then_some(Duration::from_secs(600)))
            .max_lifetime((backend == Backend::Postgres).then_some(Duration::from_secs(1800)))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        use sqlx::Executor;
                        conn.execute(SQLITE_CACHE_PRAGMA).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let store = Self {
            pool,
            backend,
            audit_key: None,
            auth_cache: Default::default(),
            sqlite_url: (backend == Backend::Sqlite).then(|| url.as_str().into()),
            in_flight: Default::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For `certdeck serve` on SQLite: an exclusive lock on `<database>.lock`, held as
    /// long as the returned file lives, so that a second console on the same file is
    /// refused at start (SQLite serves one process; replicas share PostgreSQL). The
    /// CLI's commands do not take it: they may run beside the console. `None` on
    /// PostgreSQL.
    pub fn lock_sqlite_file(url: &SecretString) -> anyhow::Result<Option<std::fs::File>> {
        let Some(path) = url.expose_secret().strip_prefix("sqlite://") else {
            return Ok(None);
        };
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Ok(None);
        }
        let lock_path = format!("{path}.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("opening the lock file {lock_path}"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                "another certdeck serve is already running on the SQLite database {path} \
                 (it holds {lock_path}). One process serves a SQLite file; to run several \
                 replicas, give them one PostgreSQL database (CERTDECK_DATABASE_URL=postgres://…)"
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking {lock_path}"))
            }
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        self.bridge_legacy_migrations().await?;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying the database migrations")?;
        Ok(())
    }

    /// A database set up by certdeck's former runner lists the versions it applied in
    /// `certdeck_migrations` (always a prefix 1..=n: it applied them in order, each in
    /// its own transaction) and has no `_sqlx_migrations`. Those versions are recorded
    /// as applied for sqlx (with the checksums of today's files) without running them
    /// again. Idempotent, and under sqlx's migration lock, so replicas may start
    /// together. `certdeck_migrations` stays as it was: nothing reads it afterwards but
    /// this bridge, and a rollback to an older certdeck still finds it.
    async fn bridge_legacy_migrations(&self) -> anyhow::Result<()> {
        let exists_sql = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        let exists: i64 = sqlx::query_scalar(exists_sql)
            .bind(LEGACY_MIGRATIONS_TABLE)
            .fetch_one(&self.pool)
            .await
            .context("looking for the former migrations table")?;
        if exists == 0 {
            return Ok(());
        }
        let applied: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX(version) FROM {LEGACY_MIGRATIONS_TABLE}"
        )))
        .fetch_one(&self.pool)
        .await
        .context("reading the former migrations table")?;
        let Some(applied) = applied else {
            return Ok(());
        };
        anyhow::ensure!(
            MIGRATOR.version_exists(applied),
            "the database was migrated to version {applied}, which this certdeck does not know"
        );
        MIGRATOR
            .skip(&self.pool, Some(applied))
            .await
            .with_context(|| {
                format!("recording migrations 1 to {applied} (applied by the former runner)")
            })?;
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    /// Replaces the stored inventory snapshot.
    pub async fn save_snapshot(&self, taken_at: i64, body: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO inventory_snapshot (id, taken_at, body, version) VALUES (1, $1, $2, 1) \
             ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, body = excluded.body, \
             version = inventory_snapshot.version + 1",
        )
        .bind(taken_at)
        .bind(body)
        // Not kept prepared: a kept statement holds on to its last arguments, here a
        // copy of the whole snapshot (20 MB at 10,000 pools) until the next refresh.
        .persistent(false)
        .execute(&self.pool)
        .await
        .context("saving the inventory snapshot")?;
        Ok(())
    }

    /// The stored inventory snapshot, if any.
    pub async fn load_snapshot(&self) -> anyhow::Result<Option<String>> {
        Ok(self.load_snapshot_versioned().await?.map(|(_, body)| body))
    }

    /// The stored inventory snapshot and its version, if any.
    pub async fn load_snapshot_versioned(&self) -> anyhow::Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT version, body FROM inventory_snapshot WHERE id = 1")
            .persistent(false)
            .fetch_optional(&self.pool)
            .await
            .context("loading the inventory snapshot")?;
        row.map(|r| -> anyhow::Result<(i64, String)> {
            Ok((
                r.try_get("version")
                    .context("reading the snapshot version")?,
                r.try_get("body").context("reading the snapshot body")?,
            ))
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The console's SQLite connection keeps a small page cache (`SQLITE_CACHE_PRAGMA`).
    #[tokio::test]
    async fn the_sqlite_connection_keeps_a_small_page_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = SecretString::from(format!("sqlite://{}/certdeck.db", dir.path().display()));
        let store = Store::connect(&url).await.expect("connect");
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&store.pool)
            .await
            .expect("cache_size");
        assert_eq!(
            cache, -512,
            "512 KiB, not SQLite's default of 2 MiB (-2000)"
        );
    }
}
