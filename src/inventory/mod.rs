//! The inventory: a snapshot of pools × custom domains × certificates across accounts
//! and regions.
//! Pages are served from it and never wait on AWS; a quota-paced refresher keeps it
//! current and stores it, so that a restart serves pages at once.

mod choices;
mod dashboard;
mod ordering;
mod rendered;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;

pub use choices::{CertificateChoice, certificate_choices, reasons as ineligibility_reasons};
pub use dashboard::{
    DashboardQuery, DashboardRow, EXPIRY_URGENT_DAYS, EXPIRY_WARNING_DAYS, Flags, SortKey,
};
pub use ordering::Rows;
pub use rendered::{Probe, RenderedPage, RenderedPages};

use crate::aws::{
    AwsAccounts, AwsClients, AwsError, CertificateSummary, DEFAULT_ACCOUNT, DomainDescription,
    PoolDetail, PoolSummary,
};
use crate::store::Store;

/// Calls in flight at once per region; the rate limiter, not this, sets the pace. It
/// only has to exceed rate × latency.
const CONCURRENCY: usize = 64;

/// A pool read on demand this recently is not read again: the request is answered from
/// that read (PRODUCT.md §1 quotas are shared by every user).
pub const POOL_REFRESH_REUSE: Duration = Duration::from_secs(30);

/// What AWS said at one moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(with = "time::serde::timestamp")]
    pub taken_at: OffsetDateTime,
    pub pools: Vec<PoolRecord>,
    /// Each certificate once, shared by the view's per-account lists and the rows that
    /// use it (10,000 certificates, with their `InUseBy` lists, are megabytes a copy).
    pub certificates: Vec<Arc<CertificateSummary>>,
    /// What could not be read in this refresh (the previous data was kept for it).
    pub problems: Vec<String>,
    /// Per account, why it could not be read at all in this refresh (its rows are the
    /// previous ones).
    #[serde(default)]
    pub account_problems: BTreeMap<String, String>,
    /// Per account, the ARNs of its certificates (a pool may use only its own
    /// account's). Empty in snapshots stored before accounts: then every certificate
    /// is the one account's.
    #[serde(default)]
    pub account_certificates: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    /// The same snapshot in fresh allocations, made together on one thread; the ones
    /// it was read into are let go. A refresh reads each pool's record on whichever
    /// worker its response arrived on, between the allocations of that response:
    /// the records, which last as long as the view, would otherwise keep the
    /// allocator's pages of every response resident once the rest is freed (issue 17).
    pub fn compacted(&self) -> Snapshot {
        Snapshot {
            taken_at: self.taken_at,
            pools: self.pools.clone(),
            certificates: self
                .certificates
                .iter()
                .map(|c| Arc::new(CertificateSummary::clone(c)))
                .collect(),
            problems: self.problems.clone(),
            account_problems: self.account_problems.clone(),
            account_certificates: self.account_certificates.clone(),
        }
    }
}

/// One pool and, when it has one, its custom domain's description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolRecord {
    /// certdeck's name of the pool's account.
    #[serde(default = "default_account")]
    pub account: String,
    /// The account's 12-digit id, when known.
    #[serde(default)]
    pub account_id: Option<String>,
    pub region: String,
    pub pool: PoolDetail,
    /// Boxed: most of a record, and absent from pools without a custom domain.
    pub custom_domain: Option<Box<DomainDescription>>,
}

fn default_account() -> String {
    DEFAULT_ACCOUNT.to_owned()
}

/// The account id in an ARN (`arn:aws:service:region:ACCOUNT:resource`).
pub fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

/// How a stored snapshot body starts when it is compressed: then its JSON follows,
/// zstd-compressed, in base64. Bodies stored before are plain JSON and are still read.
const COMPRESSED: &str = "zstd:";

/// The stored form of a snapshot. Compressed as it is written: a snapshot of 10,000
/// pools is about 20 MB of JSON, which would otherwise be held in memory three times
/// over while it is stored (the text, the query's argument, the database's copy), and
/// sent to every replica.
pub fn encode_snapshot(snapshot: &Snapshot) -> anyhow::Result<String> {
    use base64::Engine;
    use std::io::Write;
    let encoder = zstd::stream::write::Encoder::new(Vec::new(), 3)?;
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, encoder);
    serde_json::to_writer(&mut writer, snapshot)?;
    writer.flush()?;
    let compressed = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("compressing the snapshot: {}", e.error()))?
        .finish()?;
    let mut body = String::with_capacity(COMPRESSED.len() + compressed.len() * 4 / 3 + 4);
    body.push_str(COMPRESSED);
    base64::engine::general_purpose::STANDARD.encode_string(&compressed, &mut body);
    Ok(body)
}

/// A stored snapshot body, compressed or plain JSON.
pub fn decode_snapshot(body: &str) -> anyhow::Result<Snapshot> {
    use base64::Engine;
    match body.strip_prefix(COMPRESSED) {
        Some(text) => {
            let compressed = base64::engine::general_purpose::STANDARD
                .decode(text)
                .context("the compressed snapshot is not base64")?;
            let decoder = zstd::stream::read::Decoder::new(compressed.as_slice())?;
            let reader = std::io::BufReader::with_capacity(64 * 1024, decoder);
            Ok(serde_json::from_reader(reader)?)
        }
        None => Ok(serde_json::from_str(body)?),
    }
}

/// A snapshot with the dashboard rows computed from it once.
pub struct View {
    pub snapshot: Snapshot,
    /// The rows, with their sort orders computed once (`ordering`).
    pub rows: Rows,
    /// When the view came from the store rather than from AWS in this process.
    pub from_store: bool,
    /// The dashboard's pages of rows rendered from this snapshot in the current second.
    pub rendered: RenderedPages,
    /// The pools' indices in id order: a lookup is a binary search over the pools' own
    /// ids, not a second copy of every id.
    by_pool: Vec<u32>,
    /// Per account, its certificates (`None`: the snapshot does not say; every
    /// certificate is the one account's).
    by_account: Option<HashMap<String, Vec<Arc<CertificateSummary>>>>,
}

/// What the inventory needs to know of the configured accounts to build rows.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    /// The tag naming a pool's owning team (CERTDECK_TEAM_TAG).
    pub team_tag: String,
    /// Per account name, the team owning its pools unless a pool's tag names another.
    pub account_teams: HashMap<String, String>,
}

impl Owners {
    /// The team owning a pool with `tags` in `account`.
    pub fn team_of<'a>(
        &'a self,
        account: &str,
        tags: &'a BTreeMap<String, String>,
    ) -> Option<&'a str> {
        tags.get(&self.team_tag)
            .or_else(|| self.account_teams.get(account))
            .map(String::as_str)
    }
}

impl View {
    fn new(snapshot: Snapshot, owners: &Owners, from_store: bool) -> Self {
        let by_account: Option<HashMap<String, Vec<Arc<CertificateSummary>>>> =
            (!snapshot.account_certificates.is_empty()).then(|| {
                let by_arn: HashMap<&str, &Arc<CertificateSummary>> = snapshot
                    .certificates
                    .iter()
                    .map(|c| (c.arn.as_str(), c))
                    .collect();
                snapshot
                    .account_certificates
                    .iter()
                    .map(|(account, arns)| {
                        let certificates = arns
                            .iter()
                            .filter_map(|arn| by_arn.get(arn.as_str()).map(|c| Arc::clone(c)))
                            .collect();
                        (account.clone(), certificates)
                    })
                    .collect()
            });
        let rows = dashboard::rows(&snapshot, owners, |account| match &by_account {
            Some(by_account) => by_account.get(account).map_or(&[][..], Vec::as_slice),
            None => &snapshot.certificates,
        });
        let mut by_pool: Vec<u32> = (0..snapshot.pools.len() as u32).collect();
        by_pool.sort_by(|&a, &b| {
            let id = |i: u32| snapshot.pools[i as usize].pool.id.as_str();
            id(a).cmp(id(b))
        });
        Self {
            snapshot,
            rows: Rows::new(rows),
            from_store,
            rendered: RenderedPages::default(),
            by_pool,
            by_account,
        }
    }

    /// The certificates a pool of `account` may use: its own account's.
    pub fn certificates_of(&self, account: &str) -> &[Arc<CertificateSummary>] {
        match &self.by_account {
            Some(by_account) => by_account.get(account).map_or(&[], Vec::as_slice),
            None => &self.snapshot.certificates,
        }
    }

    pub fn pool(&self, pool_id: &str) -> Option<&PoolRecord> {
        // The last of a pool's records (as the map this replaced kept it).
        let pools = &self.snapshot.pools;
        let after = self
            .by_pool
            .partition_point(|&i| pools[i as usize].pool.id.as_str() <= pool_id);
        let &i = self.by_pool.get(after.checked_sub(1)?)?;
        Some(&pools[i as usize]).filter(|p| p.pool.id == pool_id)
    }

    pub fn row(&self, pool_id: &str) -> Option<&DashboardRow> {
        self.rows.of_pool(pool_id)
    }

    pub fn certificate(&self, arn: &str) -> Option<&CertificateSummary> {
        self.snapshot
            .certificates
            .iter()
            .find(|c| c.arn == arn)
            .map(|c| &**c)
    }

    /// Whether nothing was ever read.
    pub fn is_empty_start(&self) -> bool {
        self.snapshot.pools.is_empty() && self.snapshot.taken_at == OffsetDateTime::UNIX_EPOCH
    }
}

pub struct Inventory {
    aws: AwsAccounts,
    store: Store,
    owners: Owners,
    current: RwLock<Arc<View>>,
    /// One full refresh at a time.
    refresh_lock: tokio::sync::Mutex<()>,
    /// One swap of the view at a time (full refreshes and single pools).
    publish_lock: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    /// Per pool, when it was last read on demand, behind a lock that makes simultaneous
    /// requests for the same pool share one read. Only pools of the view get an entry.
    pool_reads: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// This replica, and how long its lease as the inventory's reader lasts.
    replica: String,
    lease: Duration,
    /// Whether this replica holds the reader's lease now.
    reader: AtomicBool,
    /// The version of the stored snapshot the view was built from (or wrote).
    loaded_version: AtomicI64,
}

/// The lease of the one replica that reads AWS for the inventory.
const READER_LEASE: &str = "inventory-reader";

/// How often a replica checks the reader's lease and the stored snapshot's version.
const FOLLOW_EVERY: Duration = Duration::from_secs(5);

/// How an on-demand refresh of one pool was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolRefresh {
    /// Read from AWS now.
    Read,
    /// A read this recent was reused; AWS was not called.
    Reused { age: Duration },
}

impl Inventory {
    /// The inventory, starting from the stored snapshot when there is one.
    pub async fn load(aws: AwsAccounts, store: Store, team_tag: String) -> anyhow::Result<Self> {
        let stored = store.load_snapshot_versioned().await?;
        let loaded_version = stored.as_ref().map_or(0, |(version, _)| *version);
        let owners = Owners {
            team_tag,
            account_teams: aws
                .all()
                .iter()
                .filter_map(|a| Some((a.account().name.clone(), a.account().team.clone()?)))
                .collect(),
        };
        let stored = match stored {
            Some((_, body)) => match decode_snapshot(&body) {
                Ok(snapshot) => Some(snapshot),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored inventory snapshot is unreadable; starting empty");
                    None
                }
            },
            None => None,
        };
        let view = match stored {
            Some(snapshot) => View::new(snapshot, &owners, true),
            None => View::new(
                Snapshot {
                    taken_at: OffsetDateTime::UNIX_EPOCH,
                    pools: Vec::new(),
                    certificates: Vec::new(),
                    problems: Vec::new(),
                    account_problems: BTreeMap::new(),
                    account_certificates: BTreeMap::new(),
                },
                &owners,
                false,
            ),
        };
        Ok(Self {
            aws,
            store,
            owners,
            current: RwLock::new(Arc::new(view)),
            refresh_lock: tokio::sync::Mutex::new(()),
            publish_lock: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            pool_reads: std::sync::Mutex::new(HashMap::new()),
            replica: uuid::Uuid::new_v4().to_string(),
            lease: Duration::from_secs(30),
            reader: AtomicBool::new(false),
            loaded_version: AtomicI64::new(loaded_version),
        })
    }

    /// Names this replica and the length of its reader's lease.
    pub fn with_replica(mut self, replica: &str, lease: Duration) -> Self {
        self.replica = replica.to_owned();
        self.lease = lease;
        self
    }

    /// Whether this replica is the one reading AWS for the inventory now.
    pub fn is_reader(&self) -> bool {
        self.reader.load(Ordering::Relaxed)
    }

    /// The current view; cheap, never waits on AWS.
    pub fn view(&self) -> Arc<View> {
        match self.current.read() {
            Ok(view) => view.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn is_refreshing(&self) -> bool {
        self.refreshing.load(Ordering::Relaxed)
    }

    /// Every account's clients.
    pub fn accounts(&self) -> &AwsAccounts {
        &self.aws
    }

    /// The clients of the account a pool lives in.
    pub fn aws_for(&self, record: &PoolRecord) -> Result<&AwsClients, AwsError> {
        self.aws.get(&record.account).ok_or_else(|| {
            AwsError::Transport(format!(
                "account {} is no longer configured",
                record.account
            ))
        })
    }

    /// Who owns what: the team tag and the accounts' teams.
    pub fn owners(&self) -> &Owners {
        &self.owners
    }

    /// Reads everything from AWS, then swaps the view and stores the snapshot.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _guard = self.refresh_lock.lock().await;
        self.refreshing.store(true, Ordering::Relaxed);
        let previous = self.view();
        let snapshot = build_snapshot(&self.aws, &previous.snapshot).await;
        // Not held past the read: the view it is gets freed when the new one is
        // installed, not after the new one is also stored (issue 17).
        drop(previous);
        let snapshot = tokio::task::spawn_blocking(move || snapshot.compacted())
            .await
            .context("compacting the inventory snapshot")?;
        self.refreshing.store(false, Ordering::Relaxed);
        for problem in &snapshot.problems {
            tracing::warn!(problem, "inventory refresh");
        }
        let _guard = self.publish_lock.lock().await;
        self.publish(snapshot).await
    }

    /// Re-reads one pool (after a change). It does not wait for a full refresh in
    /// progress: the pool is read, then merged into the newest view.
    pub async fn refresh_pool(&self, pool_id: &str) -> Result<(), RefreshPoolError> {
        let (account, region) = self.place_of(pool_id)?;
        let aws = self.account_clients(&account)?;
        self.read_and_merge(aws, &region, pool_id).await
    }

    fn account_clients(&self, account: &str) -> Result<&AwsClients, RefreshPoolError> {
        self.aws.get(account).ok_or(RefreshPoolError::UnknownPool)
    }

    /// Re-reads one pool for a person who asked: a read of the same pool in the last
    /// `POOL_REFRESH_REUSE` is reused, simultaneous requests share one read, and a read
    /// that would queue too long under the quota fails at once (`AwsError::QuotaBusy`).
    /// A request dropped while it waits takes nothing from the others.
    pub async fn refresh_pool_on_demand(
        &self,
        pool_id: &str,
    ) -> Result<PoolRefresh, RefreshPoolError> {
        let (account, region) = self.place_of(pool_id)?;
        let aws = self.account_clients(&account)?;
        let gate = {
            let mut reads = match self.pool_reads.lock() {
                Ok(reads) => reads,
                Err(poisoned) => poisoned.into_inner(),
            };
            reads.entry(pool_id.to_owned()).or_default().clone()
        };
        let mut last_read = gate.lock().await;
        if let Some(at) = *last_read {
            let age = at.elapsed();
            if age < POOL_REFRESH_REUSE {
                return Ok(PoolRefresh::Reused { age });
            }
        }
        let started = Instant::now();
        self.read_and_merge(&aws.interactive(), &region, pool_id)
            .await?;
        *last_read = Some(started);
        Ok(PoolRefresh::Read)
    }

    /// The account and region of a pool of the view.
    fn place_of(&self, pool_id: &str) -> Result<(String, String), RefreshPoolError> {
        self.view()
            .pool(pool_id)
            .map(|p| (p.account.clone(), p.region.clone()))
            .ok_or(RefreshPoolError::UnknownPool)
    }

    async fn read_and_merge(
        &self,
        aws: &AwsClients,
        region: &str,
        pool_id: &str,
    ) -> Result<(), RefreshPoolError> {
        let record = read_pool(aws, region, pool_id).await?;
        let _guard = self.publish_lock.lock().await;
        let mut snapshot = self.view().snapshot.clone();
        match record {
            Some(record) => {
                if let Some(slot) = snapshot.pools.iter_mut().find(|p| p.pool.id == pool_id) {
                    *slot = record;
                }
            }
            None => snapshot.pools.retain(|p| p.pool.id != pool_id),
        }
        self.publish(snapshot)
            .await
            .map_err(|e| RefreshPoolError::Store(format!("{e:#}")))
    }

    async fn publish(&self, snapshot: Snapshot) -> anyhow::Result<()> {
        let body = encode_snapshot(&snapshot)?;
        let taken_at = snapshot.taken_at.unix_timestamp();
        self.install(View::new(snapshot, &self.owners, false));
        self.store.save_snapshot(taken_at, &body).await?;
        self.loaded_version
            .store(self.store.snapshot_version().await?, Ordering::Relaxed);
        Ok(())
    }

    fn install(&self, view: View) {
        let view = Arc::new(view);
        let replaced = match self.current.write() {
            Ok(mut current) => std::mem::replace(&mut *current, view),
            Err(poisoned) => std::mem::replace(&mut *poisoned.into_inner(), view),
        };
        free_off_the_workers(replaced);
    }

    /// Loads the stored snapshot when another replica stored a newer one.
    pub async fn follow(&self) -> anyhow::Result<bool> {
        let version = self.store.snapshot_version().await?;
        if version <= self.loaded_version.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let _guard = self.publish_lock.lock().await;
        let Some((version, body)) = self.store.load_snapshot_versioned().await? else {
            return Ok(false);
        };
        let snapshot = decode_snapshot(&body).context("reading the stored inventory snapshot")?;
        drop(body);
        self.install(View::new(snapshot, &self.owners, true));
        self.loaded_version.store(version, Ordering::Relaxed);
        Ok(true)
    }

    /// Reads AWS every `every` while this replica holds the reader's lease (renewed
    /// while it reads); otherwise loads what the reader stored. With one replica it
    /// always holds it. Runs until the task is aborted.
    pub async fn run_refresher(self: Arc<Self>, every: Duration) {
        let lease_secs = self.lease.as_secs().max(2) as i64;
        let mut last_read: Option<Instant> = None;
        loop {
            match self
                .store
                .acquire_lease(READER_LEASE, &self.replica, lease_secs)
                .await
            {
                Ok(true) => {
                    if !self.reader.swap(true, Ordering::Relaxed) {
                        tracing::info!(replica = self.replica, "this replica reads the inventory");
                    }
                    if last_read.is_none_or(|at| at.elapsed() >= every) {
                        last_read = Some(Instant::now());
                        if let Err(e) = self.refresh_holding_lease(lease_secs).await {
                            tracing::error!(error = format!("{e:#}"), "inventory refresh failed");
                        }
                    } else if let Err(e) = self.follow().await {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "the stored inventory could not be loaded"
                        );
                    }
                }
                Ok(false) => {
                    self.reader.store(false, Ordering::Relaxed);
                    last_read = None;
                    if let Err(e) = self.follow().await {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "the stored inventory could not be loaded"
                        );
                    }
                }
                Err(e) => tracing::error!(
                    error = format!("{e:#}"),
                    "the reader's lease could not be checked"
                ),
            }
            // Renewed well before it expires, so the reader stays the reader.
            tokio::time::sleep(
                FOLLOW_EVERY
                    .min(every)
                    .min(self.lease / 3)
                    .max(Duration::from_millis(500)),
            )
            .await;
        }
    }

    /// A refresh, with the reader's lease renewed while it lasts (a large inventory
    /// takes minutes under the quotas).
    async fn refresh_holding_lease(&self, lease_secs: i64) -> anyhow::Result<()> {
        let renew = async {
            loop {
                tokio::time::sleep(Duration::from_secs((lease_secs / 3).max(1) as u64)).await;
                if let Err(e) = self
                    .store
                    .acquire_lease(READER_LEASE, &self.replica, lease_secs)
                    .await
                {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "the reader's lease was not renewed"
                    );
                }
            }
        };
        tokio::select! {
            result = self.refresh() => result,
            () = renew => Ok(()),
        }
    }

    /// Gives up the reader's lease (a graceful stop), so another replica reads at once.
    pub async fn resign(&self) {
        if self.reader.swap(false, Ordering::Relaxed)
            && let Err(e) = self.store.release_lease(READER_LEASE, &self.replica).await
        {
            tracing::warn!(
                error = format!("{e:#}"),
                "the reader's lease was not released"
            );
        }
    }
}

/// Why one pool could not be refreshed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshPoolError {
    #[error("no such pool in the inventory")]
    UnknownPool,
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error("the snapshot could not be stored: {0}")]
    Store(String),
}

/// Reads every account concurrently, each paced by the limiter in its own lanes (quotas
/// are per account and region). An account whose role cannot be assumed keeps its
/// previous rows, marked with the problem; the others stay current.
pub async fn build_snapshot(accounts: &AwsAccounts, previous: &Snapshot) -> Snapshot {
    let taken_at = OffsetDateTime::now_utc();
    let reads = futures_util::future::join_all(
        accounts.all().iter().map(|aws| read_account(aws, previous)),
    )
    .await;
    let mut snapshot = Snapshot {
        taken_at,
        pools: Vec::new(),
        certificates: Vec::new(),
        problems: Vec::new(),
        account_problems: BTreeMap::new(),
        account_certificates: BTreeMap::new(),
    };
    let mut seen = std::collections::HashSet::new();
    for read in reads {
        append(&mut snapshot.pools, read.pools);
        snapshot.problems.extend(read.problems);
        if let Some(problem) = read.unreadable {
            snapshot
                .account_problems
                .insert(read.account.clone(), problem);
        }
        snapshot.account_certificates.insert(
            read.account,
            read.certificates.iter().map(|c| c.arn.clone()).collect(),
        );
        // Two accounts may be one AWS account through two roles: each certificate once.
        snapshot.certificates.extend(
            read.certificates
                .into_iter()
                .filter(|c| seen.insert(c.arn.clone())),
        );
    }
    // Vectors grown by doubling hold up to twice what they need, for as long as the view.
    snapshot.pools.shrink_to_fit();
    snapshot
}

/// Lets go of a replaced view. When this was its last reference, freeing 10,000 pools
/// takes milliseconds: not under the view's lock, which every page takes, nor on a
/// worker that serves pages, but on a blocking thread (issue 17: freed under the lock,
/// it raised the dashboard's p99 during refreshes by half).
fn free_off_the_workers(view: Arc<View>) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(move || drop(view));
        }
        Err(_) => drop(view),
    }
}

/// `part` added to `all`: moved as it is when `all` is empty (one account, one region),
/// rather than copied (10,000 pools are megabytes, held twice while copied).
fn append<T>(all: &mut Vec<T>, mut part: Vec<T>) {
    if all.is_empty() {
        std::mem::swap(all, &mut part);
    } else {
        all.append(&mut part);
    }
}

/// What one account's read gave.
struct AccountRead {
    account: String,
    pools: Vec<PoolRecord>,
    certificates: Vec<Arc<CertificateSummary>>,
    problems: Vec<String>,
    /// Why nothing of the account could be read.
    unreadable: Option<String>,
}

async fn read_account(aws: &AwsClients, previous: &Snapshot) -> AccountRead {
    let account = aws.account();
    let name = account.name.clone();
    let label = account_label(account);
    let previous_certificates = || -> Vec<Arc<CertificateSummary>> {
        match previous.account_certificates.get(&name) {
            Some(arns) => previous
                .certificates
                .iter()
                .filter(|c| arns.contains(&c.arn))
                .cloned()
                .collect(),
            None if previous.account_certificates.is_empty() => previous.certificates.clone(),
            None => Vec::new(),
        }
    };
    let unreadable = |e: AwsError| {
        let problem = format!(
            "account {label}: certdeck could not assume its role ({}); showing the previous data",
            e.for_people()
        );
        AccountRead {
            account: name.clone(),
            pools: previous
                .pools
                .iter()
                .filter(|p| p.account == name)
                .cloned()
                .collect(),
            certificates: previous_certificates(),
            problems: vec![problem.clone()],
            unreadable: Some(problem),
        }
    };
    if let Err(e) = aws.check_credentials().await {
        return unreadable(e);
    }
    let regions: Vec<String> = aws.regions().map(str::to_owned).collect();
    let pools =
        futures_util::future::join_all(regions.iter().map(|r| read_region(aws, r, previous)));
    let (regions_read, certificates) = tokio::join!(pools, read_certificates(aws));
    // Every region refused the role session (revoked, or the role's permissions
    // removed): the session is dropped and the role assumed again, which says why.
    if !regions_read.is_empty()
        && regions_read
            .iter()
            .all(|(_, _, listing)| listing.as_ref().is_some_and(AwsError::is_access_denied))
    {
        aws.forget_credentials().await;
        if let Err(e) = aws.check_credentials().await {
            return unreadable(e);
        }
        if let Some((_, _, Some(e))) = regions_read.first() {
            return unreadable(e.clone());
        }
    }
    let mut problems = Vec::new();
    let mut all_pools = Vec::new();
    for (pools, region_problems, _) in regions_read {
        append(&mut all_pools, pools);
        problems.extend(
            region_problems
                .into_iter()
                .map(|p| format!("account {label}, {p}")),
        );
    }
    let certificates = match certificates {
        Ok(certificates) => certificates.into_iter().map(Arc::new).collect(),
        Err(e) => {
            problems.push(format!(
                "account {label}: ACM certificates could not be listed: {}; showing the previous list",
                e.for_people()
            ));
            previous_certificates()
        }
    };
    AccountRead {
        account: name,
        pools: all_pools,
        certificates,
        problems,
        unreadable: None,
    }
}

/// An account as pages name it: `prod (111111111111)`.
pub fn account_label(account: &crate::aws::Account) -> String {
    match &account.id {
        Some(id) => format!("{} ({id})", account.name),
        None => account.name.clone(),
    }
}

async fn read_certificates(aws: &AwsClients) -> Result<Vec<CertificateSummary>, AwsError> {
    let mut certificates = aws.list_certificates().await?;
    // Summaries list only the first 100 names; the rest needs DescribeCertificate.
    let incomplete: Vec<usize> = certificates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.more_names)
        .map(|(i, _)| i)
        .collect();
    let lookups: Vec<(usize, String, AwsClients)> = incomplete
        .into_iter()
        .map(|i| (i, certificates[i].arn.clone(), aws.clone()))
        .collect();
    let names = futures_util::stream::iter(lookups)
        .map(|(i, arn, aws)| async move { (i, aws.certificate_names(&arn).await) })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    for (i, result) in names {
        certificates[i].names = result?;
        certificates[i].more_names = false;
    }
    Ok(certificates)
}

/// Every pool of `region`: listing and describing overlap, so the region takes as long
/// as its quota allows and no longer.
async fn read_region(
    aws: &AwsClients,
    region: &str,
    previous: &Snapshot,
) -> (Vec<PoolRecord>, Vec<String>, Option<AwsError>) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<PoolSummary>(CONCURRENCY * 4);
    let list = async move {
        let mut token = None;
        loop {
            let (pools, next) = aws.list_user_pools_page(region, token).await?;
            for pool in pools {
                if sender.send(pool).await.is_err() {
                    return Ok(());
                }
            }
            match next {
                Some(next) => token = Some(next),
                None => return Ok::<(), AwsError>(()),
            }
        }
    };
    let summaries =
        futures_util::stream::unfold(
            receiver,
            |mut r| async move { r.recv().await.map(|p| (p, r)) },
        );
    // Owned values in each future: borrowed ones make the stream's future not `Send`
    // for every lifetime, which `tokio::spawn` needs.
    let owned_region = region.to_owned();
    let account = aws.account().name.as_str();
    let previous_of = |id: &str| previous.pools.iter().find(|p| p.pool.id == id).cloned();
    // Each description becomes its record as it arrives: the responses are not all held
    // at once beside the records.
    let describe = async {
        let mut described = std::pin::pin!(
            summaries
                .map(|summary| {
                    let (aws, region) = (aws.clone(), owned_region.clone());
                    async move { (read_pool(&aws, &region, &summary.id).await, summary.id) }
                })
                .buffer_unordered(CONCURRENCY)
        );
        let (mut pools, mut problems) = (Vec::new(), Vec::new());
        while let Some((result, id)) = described.next().await {
            match result {
                Ok(Some(record)) => pools.push(record),
                // Deleted between the listing and the description.
                Ok(None) => {}
                Err(e) => {
                    problems.push(format!(
                        "{region}: pool {id} could not be read: {}",
                        e.for_people()
                    ));
                    if let Some(record) = previous_of(&id) {
                        pools.push(record);
                    }
                }
            }
        }
        (pools, problems)
    };
    let (listed, (pools, problems)) = tokio::join!(list, describe);

    if let Err(e) = listed {
        let problems = vec![format!(
            "{region}: user pools could not be listed: {}; showing the previous data",
            e.for_people()
        )];
        let pools = previous
            .pools
            .iter()
            .filter(|p| p.account == account && p.region == region)
            .cloned()
            .collect();
        return (pools, problems, Some(e));
    }
    (pools, problems, None)
}

/// One pool and its custom domain; `None` when the pool no longer exists.
async fn read_pool(
    aws: &AwsClients,
    region: &str,
    pool_id: &str,
) -> Result<Option<PoolRecord>, AwsError> {
    let pool = match aws.describe_user_pool(region, pool_id).await {
        Ok(pool) => pool,
        Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
        Err(e) => return Err(e),
    };
    let custom_domain = match &pool.custom_domain {
        Some(domain) => aws
            .describe_user_pool_domain(region, domain)
            .await?
            .map(Box::new),
        None => None,
    };
    let account = aws.account();
    Ok(Some(PoolRecord {
        account: account.name.clone(),
        account_id: account
            .id
            .clone()
            .or_else(|| pool.arn.as_deref().and_then(arn_account).map(str::to_owned)),
        region: region.to_owned(),
        pool,
        custom_domain,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            taken_at: OffsetDateTime::from_unix_timestamp(1_790_000_000).expect("time"),
            pools: Vec::new(),
            certificates: Vec::new(),
            problems: vec!["us-west-2: \"throttled\" ✕".to_owned(); 3],
            account_problems: BTreeMap::from([("staging".to_owned(), "denied".to_owned())]),
            account_certificates: BTreeMap::from([(
                "prod".to_owned(),
                vec!["arn:aws:acm:us-east-1:123456789012:certificate/a".to_owned()],
            )]),
        }
    }

    fn record(account: &str, id: &str, domain: &str, arn: &str) -> PoolRecord {
        PoolRecord {
            account: account.to_owned(),
            account_id: Some("123456789012".to_owned()),
            region: "us-east-1".to_owned(),
            pool: PoolDetail {
                id: id.to_owned(),
                name: format!("pool {id}"),
                arn: None,
                prefix_domain: None,
                custom_domain: Some(domain.to_owned()),
                tags: BTreeMap::new(),
            },
            custom_domain: Some(Box::new(DomainDescription {
                domain: domain.to_owned(),
                certificate_arn: Some(arn.to_owned()),
                security_policy: Some("TLSv1.2_2021".to_owned()),
                ..DomainDescription::default()
            })),
        }
    }

    /// A certificate for `name`, in use by three distributions.
    fn certificate(arn: &str, name: &str) -> CertificateSummary {
        CertificateSummary {
            arn: arn.to_owned(),
            domain_name: Some(name.to_owned()),
            names: vec![name.to_owned()],
            more_names: false,
            status: None,
            certificate_type: None,
            key_algorithm: None,
            not_before: None,
            not_after: None,
            in_use: Some(true),
            origin: None,
            managed_by: None,
            renewal_eligibility: None,
            renewal_status: None,
            in_use_by: Some(vec!["a distribution".to_owned(); 3]),
        }
    }

    /// A view holds each certificate once (the snapshot's, shared by the per-account
    /// lists and the rows) and each text rows repeat once; a pool is found by id (a
    /// pool listed twice: its last record, as before), and an unknown id is not.
    #[test]
    fn a_view_shares_what_its_rows_repeat_and_finds_pools_by_id() {
        let arn = "arn:aws:acm:us-east-1:123456789012:certificate/wild";
        let certificate = certificate(arn, "*.example.com");
        let mut pools: Vec<PoolRecord> = (0..50)
            .map(|i| {
                record(
                    "prod",
                    &format!("us-east-1_{i:03}"),
                    &format!("p{i}.example.com"),
                    arn,
                )
            })
            .collect();
        pools.push(record("prod", "us-east-1_007", "again.example.com", arn));
        let snapshot = Snapshot {
            pools,
            certificates: vec![Arc::new(certificate)],
            account_certificates: BTreeMap::from([("prod".to_owned(), vec![arn.to_owned()])]),
            ..snapshot()
        };
        let view = View::new(snapshot, &Owners::default(), false);
        let kept = &view.snapshot.certificates[0];
        assert!(Arc::ptr_eq(&view.certificates_of("prod")[0], kept));
        assert!(view.certificates_of("staging").is_empty());
        let first = &view.rows[0];
        for row in view.rows.iter() {
            let same = |a: &Option<Arc<str>>, b: &Option<Arc<str>>| {
                a.as_ref()
                    .zip(b.as_ref())
                    .is_some_and(|(a, b)| Arc::ptr_eq(a, b))
            };
            assert!(Arc::ptr_eq(row.certificate.as_ref().expect("listed"), kept));
            assert!(Arc::ptr_eq(&row.account, &first.account));
            assert!(Arc::ptr_eq(&row.region, &first.region));
            assert!(same(&row.certificate_arn, &first.certificate_arn));
            assert!(same(&row.security_policy, &first.security_policy));
            assert!(same(&row.account_id, &first.account_id));
        }
        for i in 0..50 {
            let id = format!("us-east-1_{i:03}");
            assert_eq!(
                view.pool(&id).map(|p| p.pool.id.as_str()),
                Some(id.as_str())
            );
        }
        assert_eq!(
            view.pool("us-east-1_007")
                .and_then(|p| p.pool.custom_domain.as_deref()),
            Some("again.example.com"),
            "the last record of a pool listed twice"
        );
        for missing in ["", "us-east-1_", "us-east-1_050", "us-east-1_0070"] {
            assert!(view.pool(missing).is_none(), "{missing}");
        }
    }

    /// A compacted snapshot says the same, in allocations of its own: no certificate
    /// or text is shared with the snapshot it was made from.
    #[test]
    fn a_compacted_snapshot_is_the_same_in_fresh_allocations() {
        let arn = "arn:aws:acm:us-east-1:123456789012:certificate/a";
        let mut original = snapshot();
        original.pools = (0..20)
            .map(|i| {
                record(
                    "prod",
                    &format!("us-east-1_{i:03}"),
                    "auth.example.com",
                    arn,
                )
            })
            .collect();
        original.certificates = vec![Arc::new(certificate(arn, "auth.example.com"))];
        let copy = original.compacted();
        let as_json = |s: &Snapshot| serde_json::to_value(s).expect("json");
        assert_eq!(as_json(&copy), as_json(&original));
        assert!(!Arc::ptr_eq(
            &copy.certificates[0],
            &original.certificates[0]
        ));
        assert_ne!(
            copy.certificates[0].arn.as_ptr(),
            original.certificates[0].arn.as_ptr()
        );
        for (a, b) in copy.pools.iter().zip(&original.pools) {
            assert_ne!(a.pool.id.as_ptr(), b.pool.id.as_ptr());
            let domain = |r: &PoolRecord| r.custom_domain.as_deref().map(|d| d as *const _);
            assert_ne!(domain(a), domain(b));
        }
    }

    /// A stored body is compressed, reads back the same, and bodies stored as plain
    /// JSON (before compression) still read; anything else is an error, never a panic.
    #[test]
    fn snapshots_are_stored_compressed_and_plain_json_still_reads() {
        let original = snapshot();
        let body = encode_snapshot(&original).expect("encode");
        assert!(body.starts_with(COMPRESSED), "{body}");
        let as_json = |s: &Snapshot| serde_json::to_value(s).expect("json");
        assert_eq!(
            as_json(&decode_snapshot(&body).expect("decode")),
            as_json(&original)
        );
        let plain = serde_json::to_string(&original).expect("json");
        assert_eq!(
            as_json(&decode_snapshot(&plain).expect("plain")),
            as_json(&original)
        );
        for bad in ["zstd:not base64!", "zstd:AAAA", "{", ""] {
            assert!(decode_snapshot(bad).is_err(), "{bad}");
        }
    }
}
