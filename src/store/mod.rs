//! Persistence through sqlx: `sqlite://` (the embedded default) or `postgres://` (several
//! replicas), chosen by the URL at run time. Statements are written to run on both.

mod audit;
mod changes;
mod sessions;
mod users;

pub use audit::{AuditFilter, ChainReport, audit_time};
pub use changes::{Observation, PendingChange, Propagation, PropagationEvent};
pub use sessions::{SESSION_ID, SESSION_USER};
pub use users::{StoredUser, ThrottleKind, UserError};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// Schema changes, applied once each in order. Plain SQL both databases accept.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_inventory.sql")),
    (2, include_str!("migrations/0002_auth.sql")),
    (3, include_str!("migrations/0003_audit.sql")),
    (4, include_str!("migrations/0004_changes.sql")),
    (5, include_str!("migrations/0005_propagation_events.sql")),
    (6, include_str!("migrations/0006_sign_in_throttle.sql")),
    (7, include_str!("migrations/0007_audit_key.sql")),
    (8, include_str!("migrations/0008_session_id.sql")),
];

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
}

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
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let store = Self {
            pool,
            backend,
            audit_key: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS certdeck_migrations (version BIGINT PRIMARY KEY)")
            .execute(&self.pool)
            .await
            .context("creating the migrations table")?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await.context("starting a migration")?;
            let applied = sqlx::query("SELECT version FROM certdeck_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&mut *tx)
                .await
                .context("reading applied migrations")?;
            if applied.is_some() {
                continue;
            }
            for statement in sql
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.lines().all(|l| l.trim_start().starts_with("--")))
            {
                sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("applying migration {version}"))?;
            }
            sqlx::query("INSERT INTO certdeck_migrations (version) VALUES ($1)")
                .bind(*version)
                .execute(&mut *tx)
                .await
                .context("recording a migration")?;
            tx.commit().await.context("committing a migration")?;
        }
        Ok(())
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    /// Replaces the stored inventory snapshot.
    pub async fn save_snapshot(&self, taken_at: i64, body: &str) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO inventory_snapshot (id, taken_at, body) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, body = excluded.body",
        )
        .bind(taken_at)
        .bind(body)
        .execute(&self.pool)
        .await
        .context("saving the inventory snapshot")?;
        Ok(())
    }

    /// The stored inventory snapshot, if any.
    pub async fn load_snapshot(&self) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT body FROM inventory_snapshot WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .context("loading the inventory snapshot")?;
        row.map(|r| {
            r.try_get::<String, _>("body")
                .context("reading the snapshot body")
        })
        .transpose()
    }
}
