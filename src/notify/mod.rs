//! Notifications (PRODUCT.md §12): the rules that decide what to tell whom, and the worker
//! that delivers it from the database's outbox.
//!
//! - Certificate expiry: after each inventory install (and every few minutes), each
//!   custom domain's certificate is checked against its team's thresholds; each
//!   (certificate, domain, threshold) is sent once ever — the replica whose insert of its
//!   key succeeds enqueues it. When several thresholds are crossed at once only the most
//!   urgent is sent (the others are recorded as sent).
//! - The edge: a domain whose edge serves another certificate than the configured one,
//!   expiring within a threshold, is reported too (keyed by the served serial).
//! - Change events (requested, approval needed, verified, failed, timed out) are read
//!   from the audit log, where each is written exactly once in the transaction of the
//!   change itself; a cursor moved by compare-and-set makes each enqueued once.
//! - Delivery: a replica claims due rows with a lease, sends, and on failure retries
//!   with exponential backoff for up to 120 base delays (an hour by default), then marks
//!   the row failed (listed on `/notifications`).

pub mod channels;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::domain::audit::AuditEntry;
use crate::domain::notification::{Notification, NotificationSettings, crossed};
use crate::inventory::{Inventory, View};
use crate::store::{Delivery, NewDelivery, Store};
use channels::Sender;

/// How often the worker looks for due deliveries and new change events.
const TICK: Duration = Duration::from_secs(1);

/// Expiry is checked again at least this often, whether or not the inventory changed.
const EXPIRY_EVERY: Duration = Duration::from_secs(600);

/// Deliveries one round claims and sends (concurrently), and how long a claim lasts:
/// longer than one attempt's timeout.
const CLAIMS_PER_ROUND: i64 = 10;
const CLAIM_LEASE_MS: i64 = 60_000;

/// Audit entries read per round.
const AUDIT_BATCH: i64 = 500;

/// Sent deliveries are kept a day, failed ones 30 days.
const KEEP_SENT_MS: i64 = 86_400_000;
const KEEP_FAILED_MS: i64 = 30 * 86_400_000;

/// The audit actions that are change events, and the kind each is sent as.
const CHANGE_EVENTS: [(&str, &str); 6] = [
    ("certificate.update.requested", "change.requested"),
    ("certificate.approval.requested", "change.approval_needed"),
    ("certificate.update.failed", "change.failed"),
    ("propagation.verified", "change.verified"),
    ("propagation.failed", "change.failed"),
    ("propagation.timed_out", "change.timed_out"),
];

/// One channel as the admin page shows it.
#[derive(Debug, Clone)]
pub struct ChannelView {
    pub name: String,
    pub kind: &'static str,
    pub target: String,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub enqueued: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// The rules and the delivery worker of one console.
pub struct Notifier {
    settings: NotificationSettings,
    senders: HashMap<String, Sender>,
    store: Store,
    inventory: Arc<Inventory>,
    replica: String,
    /// The inventory view expiry was last checked against, and when.
    /// Weak: a view replaced by a refresh is freed at once, not kept until this round.
    checked: Mutex<Option<(std::sync::Weak<View>, Instant)>>,
    last_prune: Mutex<Option<Instant>>,
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl Notifier {
    /// Builds every channel's sender; a channel that cannot be built is an error.
    pub fn new(
        settings: NotificationSettings,
        store: Store,
        inventory: Arc<Inventory>,
        replica: &str,
    ) -> anyhow::Result<Self> {
        let http = channels::http_client()?;
        let senders = settings
            .channels
            .iter()
            .map(|c| Ok((c.name.clone(), Sender::new(c, &http)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            settings,
            senders,
            store,
            inventory,
            replica: replica.to_owned(),
            checked: Mutex::new(None),
            last_prune: Mutex::new(None),
        })
    }

    /// Starts the cursor of change events at the audit log's head, if no replica did
    /// before: events from now on are sent, history is not replayed.
    pub async fn prepare(&self) -> anyhow::Result<()> {
        self.store.notification_audit_cursor().await.map(|_| ())
    }

    pub fn settings(&self) -> &NotificationSettings {
        &self.settings
    }

    /// The channels, without secrets.
    pub fn channels(&self) -> Vec<ChannelView> {
        self.settings
            .channels
            .iter()
            .map(|c| ChannelView {
                name: c.name.clone(),
                kind: c.kind.as_str(),
                target: c.kind.target(),
            })
            .collect()
    }

    /// A link to `path` in certdeck: absolute when a public base URL is set.
    fn link(&self, path: &str) -> String {
        match &self.settings.base_url {
            Some(base) => format!("{base}{path}"),
            None => path.to_owned(),
        }
    }

    /// Runs rounds until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.run_once().await {
                tracing::error!(error = format!("{e:#}"), "a notification round failed");
            }
        }
    }

    /// One round: expiry (when the inventory changed or it is time), change events, due
    /// deliveries, and now and then the pruning of old rows.
    pub async fn run_once(&self) -> anyhow::Result<Round> {
        let mut round = Round::default();
        let view = self.inventory.view();
        let due = match &*self
            .checked
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
        {
            Some((last, at)) => {
                !std::ptr::eq(last.as_ptr(), Arc::as_ptr(&view)) || at.elapsed() >= EXPIRY_EVERY
            }
            None => true,
        };
        if due && !view.is_empty_start() {
            round.enqueued += self.check_expiry(&view).await?;
            if let Ok(mut checked) = self.checked.lock() {
                *checked = Some((Arc::downgrade(&view), Instant::now()));
            }
        }
        round.enqueued += self.collect_change_events(&view).await?;
        // Not held through the deliveries (SMTP, webhooks): a refresh meanwhile frees it.
        drop(view);
        let delivered = self.deliver_due().await?;
        round.sent = delivered.sent;
        round.retried = delivered.retried;
        round.failed = delivered.failed;
        let prune = self
            .last_prune
            .lock()
            .map(|mut last| {
                let due = last.is_none_or(|at| at.elapsed() >= EXPIRY_EVERY);
                if due {
                    *last = Some(Instant::now());
                }
                due
            })
            .unwrap_or(false);
        if prune {
            let now = now_ms();
            self.store
                .prune_notifications(now - KEEP_SENT_MS, now - KEEP_FAILED_MS)
                .await?;
        }
        Ok(round)
    }

    /// One delivery of `notification` per channel of `team`'s routes.
    fn deliveries(&self, team: Option<&str>, notification: &Notification) -> Vec<NewDelivery> {
        let Ok(payload) = serde_json::to_string(notification) else {
            return Vec::new();
        };
        self.settings
            .routes_of(team)
            .iter()
            .map(|channel| NewDelivery {
                channel: channel.clone(),
                kind: notification.kind.clone(),
                payload: payload.clone(),
            })
            .collect()
    }

    /// Checks every custom domain's configured and served certificate against its
    /// team's thresholds; enqueues what was never sent. How many were enqueued.
    pub async fn check_expiry(&self, view: &View) -> anyhow::Result<usize> {
        let now = OffsetDateTime::now_utc();
        let served = self.store.served_certificates().await?;
        let served: HashMap<&str, &crate::store::ServedRecord> =
            served.iter().map(|s| (s.domain.as_str(), s)).collect();
        // (keys, most urgent first; team; notification)
        let mut candidates: Vec<(Vec<String>, Option<String>, Notification)> = Vec::new();
        for row in &view.rows {
            let Some(domain) = &row.custom_domain else {
                continue;
            };
            let team = row.team.as_deref();
            let thresholds = self.settings.thresholds_of(team);
            let base = Notification {
                domain: Some(domain.clone()),
                pool_id: Some(row.pool_id.clone()),
                account: Some(row.account.to_string()),
                region: Some(row.region.to_string()),
                team: row.team.as_deref().map(str::to_owned),
                link: Some(self.link(&format!("/pools/{}", row.pool_id))),
                at: rfc3339(now),
                ..Default::default()
            };
            if let (Some(arn), Some(not_after)) = (
                &row.certificate_arn,
                row.certificate.as_ref().and_then(|c| c.not_after),
            ) {
                let left = (not_after - now).whole_seconds();
                let days = crossed(thresholds, left);
                if let Some(&most_urgent) = days.first() {
                    let keys = days
                        .iter()
                        .map(|d| format!("expiry:{arn}:{domain}:{d}"))
                        .collect();
                    let days_left = left.div_euclid(86_400);
                    candidates.push((
                        keys,
                        row.team.as_deref().map(str::to_owned),
                        Notification {
                            kind: "certificate.expiring".into(),
                            summary: expiry_summary(
                                &format!("The certificate of {domain}"),
                                days_left,
                                not_after,
                                most_urgent,
                            ),
                            certificate_arn: Some(arn.to_string()),
                            not_after: Some(rfc3339(not_after)),
                            days_left: Some(days_left),
                            threshold_days: Some(most_urgent),
                            ..base.clone()
                        },
                    ));
                }
            }
            // The edge serves another certificate than the configured one: reported on
            // its own expiry (the configured one's rule covers a matching one).
            let configured_not_after = row
                .certificate
                .as_ref()
                .and_then(|c| c.not_after)
                .map(OffsetDateTime::unix_timestamp);
            if let Some(seen) = served.get(domain.as_str())
                && seen.matches != Some(true)
                // Unknown match but the same expiry: the configured one, already covered.
                && !(seen.matches.is_none() && seen.not_after == configured_not_after)
                && let Some(not_after) = seen
                    .not_after
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            {
                let left = (not_after - now).whole_seconds();
                let days = crossed(thresholds, left);
                if let Some(&most_urgent) = days.first() {
                    let keys = days
                        .iter()
                        .map(|d| format!("served:{domain}:{}:{d}", seen.serial))
                        .collect();
                    let days_left = left.div_euclid(86_400);
                    candidates.push((
                        keys,
                        row.team.as_deref().map(str::to_owned),
                        Notification {
                            kind: "edge.expiring".into(),
                            summary: expiry_summary(
                                &format!(
                                    "The edge of {domain} serves a certificate other than the configured one that"
                                ),
                                days_left,
                                not_after,
                                most_urgent,
                            ),
                            certificate_arn: row.certificate_arn.as_deref().map(str::to_owned),
                            serial: Some(seen.serial.clone()),
                            not_after: Some(rfc3339(not_after)),
                            days_left: Some(days_left),
                            threshold_days: Some(most_urgent),
                            detail: Some(format!("served certificate: {}", seen.subject)),
                            ..base.clone()
                        },
                    ));
                }
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let first_keys: Vec<String> = candidates.iter().map(|(k, _, _)| k[0].clone()).collect();
        let sent: std::collections::HashSet<String> = self
            .store
            .notified_keys(&first_keys)
            .await?
            .into_iter()
            .collect();
        let mut enqueued = 0;
        for (keys, team, notification) in candidates {
            if sent.contains(&keys[0]) {
                continue;
            }
            let deliveries = self.deliveries(team.as_deref(), &notification);
            if self
                .store
                .enqueue_notification_once(&keys, &deliveries)
                .await?
            {
                tracing::info!(
                    key = keys[0],
                    channels = deliveries.len(),
                    "expiry notified"
                );
                enqueued += deliveries.len();
            }
        }
        Ok(enqueued)
    }

    /// Reads the change events the audit log gained since the cursor and enqueues them,
    /// moving the cursor in the same transaction. How many deliveries were enqueued.
    pub async fn collect_change_events(&self, view: &View) -> anyhow::Result<usize> {
        let mut enqueued = 0;
        // A few batches a round at most: bounded work, the rest next round.
        for _ in 0..4 {
            let cursor = self.store.notification_audit_cursor().await?;
            let actions: Vec<&str> = CHANGE_EVENTS.iter().map(|(a, _)| *a).collect();
            let (until, entries) = self
                .store
                .audit_entries_after(cursor, AUDIT_BATCH, &actions)
                .await?;
            if until == cursor {
                break;
            }
            let mut deliveries = Vec::new();
            for entry in &entries {
                let Some(notification) = self.change_notification(entry, view) else {
                    continue;
                };
                deliveries.extend(self.deliveries(notification.team.as_deref(), &notification));
            }
            if self
                .store
                .advance_notification_cursor(cursor, until, &deliveries)
                .await?
            {
                enqueued += deliveries.len();
            }
        }
        Ok(enqueued)
    }

    fn change_notification(&self, entry: &AuditEntry, view: &View) -> Option<Notification> {
        let record = &entry.record;
        let action = record.action.as_str();
        let kind = CHANGE_EVENTS.iter().find(|(a, _)| *a == action)?.1;
        let domain = record.domain.clone().unwrap_or_else(|| "a domain".into());
        let summary = match kind {
            "change.requested" => format!(
                "{} asked to change the certificate of {domain}",
                record.actor
            ),
            "change.approval_needed" => format!(
                "A certificate change of {domain} asked by {} needs another person's approval",
                record.actor
            ),
            "change.verified" => {
                format!("The edge of {domain} now serves the new certificate")
            }
            "change.timed_out" => format!(
                "The certificate change of {domain} timed out before the edge served the new certificate"
            ),
            _ => format!("The certificate change of {domain} failed"),
        };
        let row = record.pool_id.as_deref().and_then(|p| view.row(p));
        let link = if kind == "change.approval_needed" {
            self.link("/requests")
        } else {
            match &record.pool_id {
                Some(pool) => self.link(&format!("/pools/{pool}")),
                None => self.link("/propagations"),
            }
        };
        Some(Notification {
            kind: kind.to_owned(),
            summary,
            domain: record.domain.clone(),
            pool_id: record.pool_id.clone(),
            account: record.account.clone(),
            region: row.map(|r| r.region.to_string()),
            team: row.and_then(|r| r.team.as_deref().map(str::to_owned)),
            certificate_arn: record.old_certificate_arn.clone(),
            new_certificate_arn: record.new_certificate_arn.clone(),
            actor: Some(record.actor.clone()),
            detail: record.detail.clone(),
            link: Some(link),
            at: entry.at.clone(),
            ..Default::default()
        })
    }

    /// Enqueues a test notification to `channel`; false when there is no such channel.
    pub async fn send_test(&self, channel: &str, actor: &str) -> anyhow::Result<bool> {
        if self.settings.channel(channel).is_none() {
            return Ok(false);
        }
        let notification = Notification {
            kind: "test".into(),
            summary: format!("Test notification from certdeck, sent by {actor} to {channel}"),
            actor: Some(actor.to_owned()),
            link: Some(self.link("/notifications")),
            at: rfc3339(OffsetDateTime::now_utc()),
            ..Default::default()
        };
        let payload = serde_json::to_string(&notification)?;
        self.store
            .enqueue_notifications(&[NewDelivery {
                channel: channel.to_owned(),
                kind: notification.kind,
                payload,
            }])
            .await?;
        Ok(true)
    }

    /// Claims due deliveries and sends them (concurrently); records each outcome.
    pub async fn deliver_due(&self) -> anyhow::Result<Round> {
        let claimed = self
            .store
            .claim_notifications(&self.replica, CLAIM_LEASE_MS, CLAIMS_PER_ROUND)
            .await?;
        let outcomes =
            futures_util::future::join_all(claimed.iter().map(|d| self.attempt(d))).await;
        let mut round = Round::default();
        for (delivery, outcome) in claimed.iter().zip(outcomes) {
            let recorded = match outcome {
                Ok(()) => {
                    round.sent += 1;
                    count(&delivery.channel, "sent");
                    self.store
                        .record_notification_attempt(&delivery.id, &self.replica, Ok(()))
                        .await
                }
                Err(error) => {
                    let attempts = u32::try_from(delivery.attempts + 1).unwrap_or(u32::MAX);
                    let next = self
                        .settings
                        .next_attempt(delivery.created_at, attempts, now_ms());
                    if next.is_some() {
                        round.retried += 1;
                        count(&delivery.channel, "retried");
                        tracing::warn!(
                            channel = delivery.channel,
                            attempts,
                            error,
                            "a notification will be retried"
                        );
                    } else {
                        round.failed += 1;
                        count(&delivery.channel, "failed");
                        tracing::error!(
                            channel = delivery.channel,
                            attempts,
                            error,
                            "a notification failed for good"
                        );
                    }
                    self.store
                        .record_notification_attempt(
                            &delivery.id,
                            &self.replica,
                            Err((error.as_str(), next)),
                        )
                        .await
                }
            };
            recorded.context("recording a notification attempt")?;
        }
        Ok(round)
    }

    async fn attempt(&self, delivery: &Delivery) -> Result<(), String> {
        let sender = self
            .senders
            .get(&delivery.channel)
            .ok_or_else(|| format!("no channel is named {} any more", delivery.channel))?;
        let notification: Notification = serde_json::from_str(&delivery.payload)
            .map_err(|e| format!("the stored notification does not parse: {e}"))?;
        sender.send(&notification).await
    }
}

fn count(channel: &str, outcome: &'static str) {
    metrics::counter!(
        "certdeck_notifications_total",
        "channel" => channel.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// "`subject` expires in 5 days (2026-12-05), within the 7-day threshold".
fn expiry_summary(
    subject: &str,
    days_left: i64,
    not_after: OffsetDateTime,
    threshold: u32,
) -> String {
    let when = match days_left {
        ..0 => "has expired".to_owned(),
        0 => "expires within a day".to_owned(),
        1 => "expires in 1 day".to_owned(),
        n => format!("expires in {n} days"),
    };
    format!(
        "{subject} {when} ({}), within the {threshold}-day threshold",
        not_after.date()
    )
}
