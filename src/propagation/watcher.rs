//! The watcher: for every change in flight, Cognito's status (every
//! `CERTDECK_PROPAGATION_POLL_SECS`) and a TLS probe of the edge (every
//! `CERTDECK_PROBE_INTERVAL_SECS`), moving the phase forward, persisting it, telling
//! the live pages, and auditing the outcome. State lives in the database, so watching
//! resumes after a restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::store::Backend;
use time::OffsetDateTime;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::probe::{Probe, ServedCertificate};
use crate::aws::{AwsAccounts, AwsClients, AwsError};
use crate::domain::propagation::{CognitoSeen, Phase, Transition};
use crate::domain::same_serial;
use crate::store::{
    FindingsVersion, Observation, Propagation, ServedFindings, ServedRecord, Store,
};

/// A phase change, as the live page receives it (and replicas send each other).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PhaseEvent {
    pub id: String,
    pub phase: Phase,
    pub at_ms: i64,
    pub cognito_status: Option<String>,
    pub served_serial: Option<String>,
    pub served_subject: Option<String>,
    pub served_not_after: Option<String>,
    pub detail: Option<String>,
}

pub struct Watcher {
    store: Store,
    accounts: AwsAccounts,
    probe: Probe,
    poll: Duration,
    probe_every: Duration,
    /// The deadline of changes this watcher settles after a stop.
    timeout: Duration,
    events: broadcast::Sender<PhaseEvent>,
    /// Domains whose edge serves another certificate than the one configured (by the
    /// last probe of their latest change, or of the last sweep).
    served_differs: RwLock<Arc<HashSet<String>>>,
    /// What each domain's edge served at its last probe. Replaced whole when reloaded,
    /// and handed out shared: the pages that read it (metrics, expiry) do not copy
    /// 10,000 findings each.
    served: RwLock<Arc<ServedFindings>>,
    /// The stored findings' version `served` was last loaded at, and when.
    served_loaded: std::sync::Mutex<Option<(FindingsVersion, Instant)>>,
    /// The custom domains to sweep, from the inventory.
    inventory: std::sync::Arc<crate::inventory::Inventory>,
    /// How often every custom domain's edge is probed (the inventory's refresh interval).
    sweep_every: Duration,
    /// This replica, and how long its watch of a change lasts without a renewal.
    replica: String,
    lease_secs: i64,
}

/// Probes in flight at once during a sweep.
const SWEEP_CONCURRENCY: usize = 8;

/// A sweep starts at most one probe every this long (100 a second): 10,000 custom
/// domains take 100 s. Unpaced, a sweep made as many TLS handshakes as 8 at a time
/// allowed, back to back when the inventory's interval is shorter than a sweep, and
/// took their CPU from the pages (issue 17).
const SWEEP_PROBE_GAP: Duration = Duration::from_millis(10);

/// The findings a sweep records in one transaction.
const SWEEP_WRITE_BATCH: usize = 64;

/// How often a replica loads what every replica's probes found.
const RELOAD_FINDINGS_EVERY: Duration = Duration::from_secs(5);

/// How often a replica reads every finding again even when their version says nothing
/// changed (a finding recorded in the same second as the one before it for its domain).
const RELOAD_ALL_FINDINGS_EVERY: Duration = Duration::from_secs(60);

/// How often changes left pending are looked for.
const RECONCILE_EVERY: Duration = Duration::from_secs(60);

/// When each watched change is next due for Cognito and for a probe.
type Due = HashMap<String, (Instant, Instant)>;

impl PhaseEvent {
    /// The event of `p` at `phase`, with what `seen` read.
    pub fn of(
        id: &str,
        phase: Phase,
        at_ms: i64,
        seen: &Observation,
        detail: Option<String>,
    ) -> Self {
        Self {
            id: id.to_owned(),
            phase,
            at_ms,
            cognito_status: seen.cognito_status.clone(),
            served_serial: seen.served_serial.clone(),
            served_subject: seen.served_subject.clone(),
            served_not_after: seen.served_not_after.clone(),
            detail,
        }
    }
}

impl Watcher {
    pub fn new(
        store: Store,
        inventory: std::sync::Arc<crate::inventory::Inventory>,
        probe: Probe,
        settings: &crate::configuration::Settings,
    ) -> Self {
        let accounts = inventory.accounts().clone();
        let (events, _) = broadcast::channel(256);
        Self {
            store,
            accounts,
            probe,
            poll: settings.propagation_poll,
            probe_every: settings.probe_interval,
            timeout: settings.propagation_timeout,
            inventory,
            sweep_every: settings.inventory_refresh,
            replica: uuid::Uuid::new_v4().to_string(),
            // Renewed at every look at the change, so longer than the longest interval.
            lease_secs: settings
                .replica_lease
                .max(2 * settings.propagation_poll.max(settings.probe_interval))
                .as_secs() as i64,
            events,
            served_differs: RwLock::default(),
            served: RwLock::new(Arc::default()),
            served_loaded: std::sync::Mutex::new(None),
        }
    }

    /// Starts from what the last probes saw (the newest change of each domain).
    /// A database from before the findings were stored starts from the newest change of
    /// each domain.
    pub async fn load(&self) -> anyhow::Result<()> {
        if self.store.served_differs().await?.is_empty() {
            let mut seen = HashSet::new();
            for p in self.store.recent_propagations(1000).await? {
                if seen.insert(p.domain.clone())
                    && let (Some(served), Some(expected)) = (&p.served_serial, &p.expected_serial)
                    && !same_serial(served, expected)
                {
                    self.store.set_served_differs(&p.domain, true).await?;
                }
            }
        }
        self.reload_served_differs().await
    }

    /// Names this replica (its watches of changes are leased in its name).
    pub fn with_replica(mut self, replica: &str) -> Self {
        self.replica = replica.to_owned();
        self
    }

    /// Phase changes from now on, from every replica.
    pub fn subscribe(&self) -> broadcast::Receiver<PhaseEvent> {
        self.events.subscribe()
    }

    /// The domains whose edge was last seen serving another certificate than the one
    /// configured.
    /// (Shared: a new set replaces it when it changes, so that a reader can tell.)
    pub fn served_differs(&self) -> Arc<HashSet<String>> {
        self.served_differs
            .read()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// One round in which every change in flight is due: Cognito is asked and the edge
    /// probed for each, whatever their intervals (tests step the watcher with it
    /// instead of waiting on the clock).
    pub async fn step(&self) -> anyhow::Result<()> {
        self.round(&mut Due::new()).await
    }

    /// Watches until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        let watcher = self;
        let mut due = Due::new();
        let tick = watcher
            .poll
            .min(watcher.probe_every)
            .min(Duration::from_secs(1));
        let mut next_reconcile = Instant::now();
        let mut next_reload = Instant::now() + RELOAD_FINDINGS_EVERY;
        loop {
            if let Err(e) = watcher.round(&mut due).await {
                tracing::error!(error = format!("{e:#}"), "propagation watcher round failed");
            }
            // Changes a stop cut off (here or on another replica) are settled once
            // they are old enough not to be in flight.
            if Instant::now() >= next_reconcile {
                next_reconcile = Instant::now() + RECONCILE_EVERY;
                if let Err(e) =
                    super::reconcile_pending(&watcher.store, &watcher.accounts, watcher.timeout)
                        .await
                {
                    tracing::error!(error = format!("{e:#}"), "settling pending changes failed");
                }
            }
            // Every replica loads what the sweeps and probes found.
            if Instant::now() >= next_reload {
                next_reload = Instant::now() + RELOAD_FINDINGS_EVERY;
                if let Err(e) = watcher.reload_served_differs().await {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "the edge findings were not loaded"
                    );
                }
            }
            tokio::time::sleep(tick).await;
        }
    }

    /// Sweeps the edges once per `sweep_every` (the first within 30 s) until the task
    /// is aborted, on the inventory's reader only (once for all replicas). A task of its
    /// own: a sweep of 10,000 domains takes a while, and the changes in flight are
    /// watched meanwhile.
    pub async fn run_sweeps(self: Arc<Self>) {
        let mut next = Instant::now() + self.sweep_every.min(Duration::from_secs(30));
        loop {
            tokio::time::sleep_until(next).await;
            next = Instant::now() + self.sweep_every;
            if self.inventory.is_reader()
                && let Err(e) = self.sweep().await
            {
                tracing::error!(error = format!("{e:#}"), "sweeping the edge failed");
            }
        }
    }

    async fn round(&self, due: &mut Due) -> anyhow::Result<()> {
        let active = self.store.active_propagations().await?;
        due.retain(|id, _| active.iter().any(|p| &p.id == id));
        let now = Instant::now();
        for propagation in active {
            let (cognito_at, probe_at) = *due.entry(propagation.id.clone()).or_insert((now, now));
            let ask_cognito = cognito_at <= now;
            let probe = probe_at <= now;
            if !ask_cognito && !probe {
                continue;
            }
            // One replica watches each change: this one when it holds (or renews, its
            // heartbeat) the change's lease, or when the holder's lease has expired.
            match self
                .store
                .claim_propagation(&propagation.id, &self.replica, self.lease_secs)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "a change's watch could not be claimed"
                    );
                    continue;
                }
            }
            if let Some(slot) = due.get_mut(&propagation.id) {
                if ask_cognito {
                    slot.0 = now + self.poll;
                }
                if probe {
                    slot.1 = now + self.probe_every;
                }
            }
            let (id, domain) = (propagation.id.clone(), propagation.domain.clone());
            // One change's trouble does not stop the others from being watched.
            if let Err(e) = self.watch(propagation, ask_cognito, probe).await {
                tracing::error!(
                    propagation = id,
                    domain,
                    error = format!("{e:#}"),
                    "watching a change failed"
                );
            }
        }
        Ok(())
    }

    /// One look at one change.
    async fn watch(&self, p: Propagation, ask_cognito: bool, probe: bool) -> anyhow::Result<()> {
        let phase = p.phase;
        let now = OffsetDateTime::now_utc();
        let mut seen = Observation::default();
        let mut next = phase;
        let take = |t: Transition, next: &mut Phase, seen: &mut Observation| {
            if let Transition::To { phase, detail } = t {
                *next = phase;
                if detail.is_some() {
                    seen.detail = detail;
                }
            }
        };
        take(
            phase.at(now.unix_timestamp(), p.submitted_at, p.deadline),
            &mut next,
            &mut seen,
        );
        let mut distribution = p.cloudfront_distribution.clone();
        if next == phase && ask_cognito {
            let settings = match self.aws_of(p.account.as_deref()) {
                Ok(aws) => aws.domain_settings(&p.region, &p.domain).await,
                Err(e) => Err(e),
            };
            match settings {
                Ok(None) => take(
                    phase.after_cognito(CognitoSeen::Gone, &p.new_certificate_arn),
                    &mut next,
                    &mut seen,
                ),
                Ok(Some(settings)) => {
                    seen.cognito_status = settings.status.as_ref().map(ToString::to_string);
                    seen.cloudfront_distribution = settings.cloudfront_distribution.clone();
                    let cognito = CognitoSeen::Domain {
                        status: settings.status.as_ref(),
                        certificate_arn: settings.certificate_arn.as_deref(),
                    };
                    take(
                        phase.after_cognito(cognito, &p.new_certificate_arn),
                        &mut next,
                        &mut seen,
                    );
                    distribution = distribution.or(settings.cloudfront_distribution);
                }
                Err(e) => seen.detail = Some(format!("Cognito could not be read: {e}")),
            }
        }
        // What Cognito said is a step of its own, before the probe's: the timeline
        // shows `distributed` even when the same round also verifies.
        let mut phase = phase;
        if next != phase && !next.is_terminal() {
            seen.phase = Some(next);
            seen.probe_error = p.probe_error.clone();
            self.record(&p, phase, next, &seen, now).await?;
            phase = next;
            seen = Observation {
                cloudfront_distribution: seen.cloudfront_distribution.clone(),
                ..Observation::default()
            };
        }
        if !next.is_terminal() && probe {
            let expected = match &p.expected_serial {
                Some(serial) => Some(serial.clone()),
                None => match self.aws_of(p.account.as_deref()) {
                    Ok(aws) => aws
                        .describe_certificate(&p.new_certificate_arn)
                        .await
                        .ok()
                        .and_then(|d| d.serial),
                    Err(_) => None,
                },
            };
            match self.probe.probe(&p.domain, distribution.as_deref()).await {
                Ok(served) => {
                    let verified = phase.after_probe(&served.serial, expected.as_deref());
                    let matches = expected
                        .as_deref()
                        .is_some_and(|expected| same_serial(&served.serial, expected));
                    self.record_served(&p.domain, &served, expected.as_ref().map(|_| matches))
                        .await;
                    if let Transition::To {
                        phase: verified, ..
                    } = verified
                    {
                        next = verified;
                        seen.verified_at = Some(now.unix_timestamp());
                        seen.detail = Some(format!(
                            "verified after {} (AWS allows up to 60 min)",
                            human_duration(now.unix_timestamp() - p.submitted_at)
                        ));
                    }
                    seen.served_serial = Some(served.serial);
                    seen.served_subject = Some(served.subject);
                    seen.served_not_after = Some(served.not_after);
                }
                Err(e) => seen.probe_error = Some(format!("{}: {e}", e.kind())),
            }
        } else {
            seen.probe_error = p.probe_error.clone();
        }
        if next != phase {
            seen.phase = Some(next);
        }
        self.record(&p, phase, next, &seen, now).await
    }

    /// Writes an observation; on a phase change also the timeline, the live pages and,
    /// for an outcome, the audit log.
    async fn record(
        &self,
        p: &Propagation,
        phase: Phase,
        next: Phase,
        seen: &Observation,
        now: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let moved = if next.is_terminal() && next != phase {
            // The outcome, its audit entry and its timeline step in one transaction,
            // once per propagation whatever the number of replicas.
            self.store
                .finish_propagation(
                    &p.id,
                    phase,
                    seen,
                    super::outcome_record(p, next, seen.detail.clone()),
                )
                .await?
        } else {
            self.store.observe_propagation(&p.id, phase, seen).await?
        };
        let at_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
        if moved && next.is_terminal() {
            crate::metrics::propagation_finished(
                next.as_str(),
                (now.unix_timestamp() - p.submitted_at) as f64,
            );
        }
        if moved {
            self.publish(PhaseEvent::of(
                &p.id,
                next,
                at_ms,
                seen,
                seen.detail.clone(),
            ))
            .await;
        } else if seen.served_serial.is_some()
            || seen.cognito_status.is_some()
            || seen.probe_error.is_some()
        {
            // Not a phase change, but the live page shows the latest readings too.
            self.publish(PhaseEvent::of(
                &p.id,
                phase,
                at_ms,
                seen,
                seen.probe_error.clone(),
            ))
            .await;
        }
        Ok(())
    }

    /// Hands an event to the live pages of every replica: on PostgreSQL through
    /// `NOTIFY` (each replica's `listen` task, this one's too, passes it on), else
    /// directly.
    pub async fn publish(&self, mut event: PhaseEvent) {
        if self.store.backend() != Backend::Postgres {
            let _ = self.events.send(event);
            return;
        }
        if let Some(detail) = &mut event.detail {
            let cut = crate::domain::text::truncate_bytes(detail, 2000).len();
            detail.truncate(cut);
        }
        let sent = match serde_json::to_string(&event) {
            Ok(json) => self.store.notify_phase(&json).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = sent {
            tracing::warn!(
                error = format!("{e:#}"),
                "a phase change was not sent to the other replicas"
            );
            let _ = self.events.send(event);
        }
    }

    /// On PostgreSQL: passes every replica's phase changes (`LISTEN`) to this replica's
    /// live pages, reconnecting when the connection drops. Runs until aborted.
    pub async fn listen(self: Arc<Self>, url: secrecy::SecretString) {
        use secrecy::ExposeSecret;
        let mut backoff = Duration::from_millis(500);
        loop {
            let connected = async {
                let mut listener = sqlx::postgres::PgListener::connect(url.expose_secret()).await?;
                listener.listen(crate::store::PHASE_CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            }
            .await;
            match connected {
                Ok(mut listener) => {
                    backoff = Duration::from_millis(500);
                    loop {
                        match listener.recv().await {
                            Ok(notification) => {
                                match serde_json::from_str::<PhaseEvent>(notification.payload()) {
                                    Ok(event) => {
                                        let _ = self.events.send(event);
                                    }
                                    Err(e) => {
                                        tracing::warn!(error = %e, "an unreadable phase notification")
                                    }
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "the phase listener lost its connection");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "the phase listener could not connect"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    /// Probes the edge of every custom domain not being changed and compares what it
    /// serves with ACM's serial of the configured certificate (read afresh each sweep,
    /// as a renewal keeps the ARN and changes the serial). A failed probe leaves the
    /// flag as it was: it says nothing about which certificate is served.
    async fn sweep(&self) -> anyhow::Result<()> {
        use futures_util::StreamExt;
        let active = self.changing_domains().await?;
        // The view is not held through the probes: a refresh meanwhile frees it.
        let targets: Vec<(String, String, Option<String>, String)> = self
            .inventory
            .view()
            .snapshot
            .pools
            .iter()
            .filter_map(|r| {
                let d = r.custom_domain.as_ref()?;
                Some((
                    d.domain.clone(),
                    d.certificate_arn.clone()?,
                    d.cloudfront_distribution.clone(),
                    r.account.clone(),
                ))
            })
            .filter(|(domain, ..)| !active.contains(domain))
            .collect();
        let mut serials: HashMap<String, Option<String>> = HashMap::new();
        let certificates: HashSet<(&str, &str)> = targets
            .iter()
            .map(|t| (t.1.as_str(), t.3.as_str()))
            .collect();
        for (arn, account) in certificates {
            let serial = match self.accounts.get(account) {
                Some(aws) => aws
                    .describe_certificate(arn)
                    .await
                    .ok()
                    .and_then(|d| d.serial),
                None => None,
            };
            serials.insert(arn.to_owned(), serial);
        }
        // Recorded a batch at a time as the probes answer: never all 10,000 findings
        // held, nor 20,000 statements written one by one.
        // Paced: at most one probe started every `SWEEP_PROBE_GAP`.
        let started = tokio::time::Instant::now();
        let mut batches = futures_util::stream::iter(targets.into_iter().zip(0u32..))
            .map(|((domain, arn, distribution, _), i)| {
                let expected = serials.get(&arn).cloned().flatten();
                async move {
                    tokio::time::sleep_until(started + SWEEP_PROBE_GAP * i).await;
                    let served = self.probe.probe(&domain, distribution.as_deref()).await;
                    (domain, expected, served)
                }
            })
            .buffer_unordered(SWEEP_CONCURRENCY)
            .chunks(SWEEP_WRITE_BATCH);
        while let Some(batch) = batches.next().await {
            // A change submitted since the sweep started is the watch's to probe: its
            // findings compare with the new certificate, the sweep's with the old one.
            let active = self.changing_domains().await?;
            let probed_at = OffsetDateTime::now_utc().unix_timestamp();
            let found: Vec<ServedRecord> = batch
                .into_iter()
                .filter(|(domain, ..)| !active.contains(domain))
                // A failed probe says nothing about which certificate is served.
                .filter_map(|(domain, expected, served)| {
                    let served = served.ok()?;
                    let matches = expected
                        .as_deref()
                        .map(|expected| same_serial(&served.serial, expected));
                    Some(ServedRecord {
                        domain,
                        serial: served.serial,
                        subject: served.subject,
                        not_after: Some(served.not_after_unix),
                        matches,
                        probed_at,
                    })
                })
                .collect();
            if let Err(e) = self.store.record_served_certificates(&found).await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    domains = found.len(),
                    "what the edge served was not recorded"
                );
            }
            self.remember_served(found);
        }
        metrics::counter!(crate::metrics::EDGE_SWEEPS).increment(1);
        Ok(())
    }

    /// The domains with a change in flight.
    async fn changing_domains(&self) -> anyhow::Result<HashSet<String>> {
        Ok(self
            .store
            .active_propagations()
            .await?
            .into_iter()
            .map(|p| p.domain)
            .collect())
    }

    /// The clients of a propagation's account (the first account for propagations
    /// recorded before accounts).
    fn aws_of(&self, account: Option<&str>) -> Result<&AwsClients, AwsError> {
        self.accounts.of(account).ok_or_else(|| {
            AwsError::Transport(format!(
                "account {} is no longer configured",
                account.unwrap_or("(none)")
            ))
        })
    }

    /// Records what a probe found (the certificate served and whether it is the one
    /// configured, when that is known), here and for the other replicas.
    async fn record_served(&self, domain: &str, served: &ServedCertificate, matches: Option<bool>) {
        let record = ServedRecord {
            domain: domain.to_owned(),
            serial: served.serial.clone(),
            subject: served.subject.clone(),
            not_after: Some(served.not_after_unix),
            matches,
            probed_at: OffsetDateTime::now_utc().unix_timestamp(),
        };
        if let Err(e) = self
            .store
            .record_served_certificates(std::slice::from_ref(&record))
            .await
        {
            tracing::warn!(
                error = format!("{e:#}"),
                domain,
                "what the edge served was not recorded"
            );
        }
        self.remember_served(vec![record]);
    }

    /// Keeps what probes found (stored already) for this replica's pages.
    fn remember_served(&self, found: Vec<ServedRecord>) {
        self.mark_served_differs(
            found
                .iter()
                .filter_map(|r| Some((r.domain.as_str(), !r.matches?))),
        );
        if let Ok(mut map) = self.served.write() {
            // In place, unless a page still reads the map (then it is copied once).
            Arc::make_mut(&mut map).extend(found);
        }
    }

    /// Loads what every replica's probes found.
    async fn reload_served_differs(&self) -> anyhow::Result<()> {
        let stored: HashSet<String> = self.store.served_differs().await?.into_iter().collect();
        if let Ok(mut set) = self.served_differs.write()
            && **set != stored
        {
            *set = Arc::new(stored);
        }
        // What the edges served: read whole only when it changed (or a minute passed).
        // Read before the table, the version can only be older than what is loaded.
        let version = self.store.served_certificates_version().await?;
        let unchanged = match self.served_loaded.lock() {
            Ok(loaded) => loaded.is_some_and(|(loaded, at)| {
                loaded == version && at.elapsed() < RELOAD_ALL_FINDINGS_EVERY
            }),
            Err(_) => false,
        };
        if unchanged {
            return Ok(());
        }
        let served: ServedFindings = self
            .store
            .served_certificates()
            .await?
            .into_iter()
            .collect();
        let replaced = match self.served.write() {
            Ok(mut map) => std::mem::replace(&mut *map, Arc::new(served)),
            Err(_) => return Ok(()),
        };
        // Freed after the lock: readers do not wait for 10,000 findings to be freed.
        drop(replaced);
        if let Ok(mut loaded) = self.served_loaded.lock() {
            *loaded = Some((version, Instant::now()));
        }
        Ok(())
    }

    /// What each custom domain's edge served at its last probe (sweep or change), by
    /// domain, from every replica's probes.
    pub fn served_certificates(&self) -> Arc<ServedFindings> {
        self.served.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Flags or clears each domain (`(domain, differs)`) in this replica's set.
    fn mark_served_differs<'a>(&self, found: impl IntoIterator<Item = (&'a str, bool)>) {
        if let Ok(mut set) = self.served_differs.write() {
            let moved: Vec<(&str, bool)> = found
                .into_iter()
                .filter(|(domain, differs)| set.contains(*domain) != *differs)
                .collect();
            if moved.is_empty() {
                return;
            }
            // A new set, never one changed in place: readers compare sets by address.
            let mut changed = (**set).clone();
            for (domain, differs) in moved {
                if differs {
                    changed.insert(domain.to_owned());
                } else {
                    changed.remove(domain);
                }
            }
            *set = Arc::new(changed);
        }
    }
}

/// "1 m 58 s".
pub fn human_duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} m {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} m", seconds / 3600, (seconds % 3600) / 60),
    }
}
