//! What every handler and background task can reach: the shared state of one console,
//! and its view of the audit chain between verifications.

use std::sync::Arc;

use actix_web::cookie::Key;
use anyhow::Context;

use crate::auth::password::PasswordChecker;
use crate::auth::refusals::RefusalLog;
use crate::auth::sign_in::SignInPolicy;
use crate::configuration::Settings;
use crate::inventory::Inventory;
use crate::propagation::streams::StreamSlots;
use crate::propagation::watcher::Watcher;
use crate::store::Store;
use crate::supervisor::Supervisor;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub inventory: Arc<Inventory>,
    pub store: Store,
    pub watcher: Arc<Watcher>,
    /// Signs the sign-in form's CSRF cookie (and session cookies).
    pub cookie_key: Key,
    /// Refusals of clients that are not signed in, counted per address and minute.
    pub refusals: Arc<RefusalLog>,
    /// At most one password check per core at once.
    pub password_checker: Arc<PasswordChecker>,
    pub sign_in_policy: SignInPolicy,
    /// The background tasks and whether they still run.
    pub supervisor: Supervisor,
    /// The live streams open now (capped per session and in all).
    pub streams: Arc<StreamSlots>,
    /// The audit chain as last verified, carried forward entry by entry.
    pub(crate) audit_watch: Arc<tokio::sync::Mutex<AuditWatch>>,
    /// This process among the replicas sharing the database (leases are held in its
    /// name; `/readyz` shows it).
    pub replica: Arc<str>,
    /// Single sign-on, when `[oidc]` is configured.
    pub oidc: Option<Arc<crate::auth::oidc::OidcClient>>,
    /// Notification rules and delivery (`/notifications`; tests step its rounds).
    pub notifier: Arc<crate::notify::Notifier>,
}

/// What the console knows of its audit chain between verifications.
#[derive(Default)]
pub(crate) struct AuditWatch {
    /// The last full verification (from the first entry).
    full_at: Option<std::time::Instant>,
    /// The last verification and what it found.
    checked: Option<(std::time::Instant, AuditChainStatus)>,
    /// The last entry verified, where the next verification carries on.
    verified: Option<(i64, String)>,
    /// The head last written out (anchor file and log).
    anchored: Option<(i64, String)>,
    /// Whether an unbounded verification (from the first entry) is reading the log now.
    full_running: bool,
}

/// The audit chain as the last verification found it (`/audit` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChainStatus {
    /// Entries 1 to this one were verified; later ones were not (yet).
    pub verified_through: i64,
    /// Where the chain breaks, if it does.
    pub broken: Option<String>,
    /// When (RFC 3339, UTC).
    pub checked_at: String,
    /// The first keyed entry; earlier ones have the key-less form.
    pub keyed_from: Option<i64>,
}

/// How often the chain is verified from its first entry; in between, each verification
/// carries on from the last entry verified, so a page view reads only newer entries.
const AUDIT_FULL_VERIFY_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// At most this many entries are verified for one page view (about 10 ms); a longer
/// log is verified by the background anchor round, and entries past what was verified
/// show as not verified meanwhile.
const AUDIT_PAGE_VERIFY_BUDGET: i64 = 2_000;

/// How long a broken chain's verification is shown before it is redone (it reads the
/// whole log).
const AUDIT_BROKEN_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    /// Verifies the audit chain (entries added since the last verification, or all of
    /// it now and then) and says how far it is intact. Unbounded: for the background
    /// anchor and the CLI-like callers, not for page views.
    pub async fn audit_chain_status(&self) -> anyhow::Result<AuditChainStatus> {
        self.verify_audit_chain(None).await
    }

    /// One verification: the whole chain when one is due and `budget` is `None`,
    /// otherwise carried on from the last entry verified, for at most `budget` entries.
    /// The chain is read without holding the watch, so a long verification in the
    /// background never makes a page wait for it.
    async fn verify_audit_chain(&self, budget: Option<i64>) -> anyhow::Result<AuditChainStatus> {
        let (full, resume) = {
            let watch = self.audit_watch.lock().await;
            if let Some((at, status)) = &watch.checked
                && status.broken.is_some()
                && at.elapsed() < AUDIT_BROKEN_TTL
            {
                return Ok(status.clone());
            }
            let due = watch
                .full_at
                .is_none_or(|at| at.elapsed() >= AUDIT_FULL_VERIFY_EVERY)
                || watch
                    .checked
                    .as_ref()
                    .is_some_and(|(_, s)| s.broken.is_some());
            let full = due && budget.is_none();
            let broken = watch
                .checked
                .as_ref()
                .is_some_and(|(_, s)| s.broken.is_some());
            let resume = if full || broken {
                None
            } else {
                watch.verified.clone()
            };
            // A page view does not read the log from its start while the background
            // does: until it is done, the page shows what was verified before (or
            // nothing as verified).
            if budget.is_some() && resume.is_none() && watch.full_running {
                return Ok(AuditChainStatus {
                    verified_through: 0,
                    broken: None,
                    checked_at: crate::store::audit_time(time::OffsetDateTime::now_utc()),
                    keyed_from: watch.checked.as_ref().and_then(|(_, s)| s.keyed_from),
                });
            }
            (full, resume)
        };
        if full {
            self.audit_watch.lock().await.full_running = true;
        }
        let from_start = resume.is_none();
        let report = self
            .store
            .verify_audit_chain_within(resume, &[], budget)
            .await;
        let mut watch = self.audit_watch.lock().await;
        if full {
            watch.full_running = false;
        }
        let report = report?;
        if full {
            watch.full_at = Some(std::time::Instant::now());
        }
        // A shorter intact result (a page's bounded one, read while a longer one ran)
        // does not move the verified point back; a break always counts.
        let behind = report.outcome.is_ok()
            && watch
                .verified
                .as_ref()
                .is_some_and(|(id, _)| *id > report.verified_id)
            && !(from_start && full);
        if !behind {
            watch.verified = Some((report.verified_id, report.verified_hash));
        }
        let verified_through = watch.verified.as_ref().map_or(0, |(id, _)| *id);
        let status = AuditChainStatus {
            verified_through: if report.outcome.is_ok() {
                verified_through
            } else {
                report.verified_id
            },
            broken: report.outcome.as_ref().err().map(ToString::to_string),
            checked_at: crate::store::audit_time(time::OffsetDateTime::now_utc()),
            keyed_from: report.keyed_from,
        };
        watch.checked = Some((std::time::Instant::now(), status.clone()));
        Ok(status)
    }

    /// The chain's status for a page showing `entries`, within a bounded amount of
    /// work ([`AUDIT_PAGE_VERIFY_BUDGET`] entries; the background verification does
    /// the rest): each entry the status counts as verified has its own seal checked
    /// too, and any that fails makes the chain verified again from the first entry, so
    /// an entry changed since the last full verification is never shown as verified.
    pub async fn audit_chain_status_for(
        &self,
        entries: &[crate::domain::audit::AuditEntry],
    ) -> anyhow::Result<AuditChainStatus> {
        let status = self
            .verify_audit_chain(Some(AUDIT_PAGE_VERIFY_BUDGET))
            .await?;
        let sealing = self.store.audit_sealing(status.keyed_from);
        let altered = entries.iter().any(|e| {
            e.id <= status.verified_through
                && sealing
                    .hash_of(&e.prev_hash, e.id, &e.at, &e.record)
                    .as_ref()
                    != Ok(&e.hash)
        });
        if !altered {
            return Ok(status);
        }
        {
            let mut watch = self.audit_watch.lock().await;
            watch.full_at = None;
            watch.checked = None;
            watch.verified = None;
        }
        let status = self
            .verify_audit_chain(Some(AUDIT_PAGE_VERIFY_BUDGET))
            .await?;
        // Entries the bounded verification did not reach are shown as not verified.
        Ok(status)
    }

    /// One round of the anchor: verifies the entries added since the last round and, if
    /// the head moved, writes it `(count, hash, time)` to the log and appends it to the
    /// anchor file. A broken chain is reported, not anchored.
    pub async fn write_audit_anchor_once(
        &self,
    ) -> anyhow::Result<Option<crate::domain::audit::AuditAnchor>> {
        let status = self.audit_chain_status().await?;
        if let Some(broken) = status.broken {
            tracing::error!(%broken, "the audit chain is broken; its head is not anchored");
            return Ok(None);
        }
        let mut watch = self.audit_watch.lock().await;
        let Some((count, hash)) = watch.verified.clone() else {
            return Ok(None);
        };
        if watch.anchored.as_ref() == Some(&(count, hash.clone())) {
            return Ok(None);
        }
        let anchor = crate::domain::audit::AuditAnchor {
            count,
            hash,
            at: status.checked_at,
        };
        tracing::info!(
            target: "certdeck::audit",
            count = anchor.count,
            hash = %anchor.hash,
            at = %anchor.at,
            "audit head"
        );
        if let Some(path) = &self.settings.audit_anchor_file {
            append_anchor(path, &anchor)
                .with_context(|| format!("appending the audit head to {}", path.display()))?;
        }
        watch.anchored = Some((anchor.count, anchor.hash.clone()));
        Ok(Some(anchor))
    }

    /// Writes the audit head out every `period` when entries were added.
    pub async fn run_audit_anchor(self, period: std::time::Duration) {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.write_audit_anchor_once().await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "the audit head was not written out"
                );
            }
        }
    }
}

/// Appends one JSON line to the anchor file (made owner-only when new).
fn append_anchor(
    path: &std::path::Path,
    anchor: &crate::domain::audit::AuditAnchor,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let mut line = serde_json::to_vec(anchor)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()?;
    Ok(())
}
