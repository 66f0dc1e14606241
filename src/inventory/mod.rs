//! The inventory: a snapshot of pools × custom domains × certificates across regions.
//! Pages are served from it and never wait on AWS; a quota-paced refresher keeps it
//! current and stores it, so that a restart serves pages at once.

mod choices;
mod dashboard;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;

pub use choices::{CertificateChoice, certificate_choices, reasons as ineligibility_reasons};
pub use dashboard::{DashboardQuery, DashboardRow, Flags, SortKey};

use crate::aws::{
    AwsClients, AwsError, CertificateSummary, DomainDescription, PoolDetail, PoolSummary,
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
    pub certificates: Vec<CertificateSummary>,
    /// What could not be read in this refresh (the previous data was kept for it).
    pub problems: Vec<String>,
}

/// One pool and, when it has one, its custom domain's description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolRecord {
    pub region: String,
    pub pool: PoolDetail,
    pub custom_domain: Option<DomainDescription>,
}

/// A snapshot with the dashboard rows computed from it once.
pub struct View {
    pub snapshot: Snapshot,
    pub rows: Vec<DashboardRow>,
    /// When the view came from the store rather than from AWS in this process.
    pub from_store: bool,
    by_pool: HashMap<String, usize>,
}

impl View {
    fn new(snapshot: Snapshot, team_tag: &str, from_store: bool) -> Self {
        let rows = dashboard::rows(&snapshot, team_tag);
        let by_pool = snapshot
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| (p.pool.id.clone(), i))
            .collect();
        Self {
            snapshot,
            rows,
            from_store,
            by_pool,
        }
    }

    pub fn pool(&self, pool_id: &str) -> Option<&PoolRecord> {
        self.by_pool.get(pool_id).map(|&i| &self.snapshot.pools[i])
    }

    pub fn row(&self, pool_id: &str) -> Option<&DashboardRow> {
        self.rows.iter().find(|r| r.pool_id == pool_id)
    }

    pub fn certificate(&self, arn: &str) -> Option<&CertificateSummary> {
        self.snapshot.certificates.iter().find(|c| c.arn == arn)
    }

    /// Whether nothing was ever read.
    pub fn is_empty_start(&self) -> bool {
        self.snapshot.pools.is_empty() && self.snapshot.taken_at == OffsetDateTime::UNIX_EPOCH
    }
}

pub struct Inventory {
    aws: AwsClients,
    store: Store,
    team_tag: String,
    current: RwLock<Arc<View>>,
    /// One full refresh at a time.
    refresh_lock: tokio::sync::Mutex<()>,
    /// One swap of the view at a time (full refreshes and single pools).
    publish_lock: tokio::sync::Mutex<()>,
    refreshing: AtomicBool,
    /// Per pool, when it was last read on demand, behind a lock that makes simultaneous
    /// requests for the same pool share one read. Only pools of the view get an entry.
    pool_reads: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
}

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
    pub async fn load(aws: AwsClients, store: Store, team_tag: String) -> anyhow::Result<Self> {
        let stored = match store.load_snapshot().await? {
            Some(body) => match serde_json::from_str::<Snapshot>(&body) {
                Ok(snapshot) => Some(snapshot),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored inventory snapshot is unreadable; starting empty");
                    None
                }
            },
            None => None,
        };
        let view = match stored {
            Some(snapshot) => View::new(snapshot, &team_tag, true),
            None => View::new(
                Snapshot {
                    taken_at: OffsetDateTime::UNIX_EPOCH,
                    pools: Vec::new(),
                    certificates: Vec::new(),
                    problems: Vec::new(),
                },
                &team_tag,
                false,
            ),
        };
        Ok(Self {
            aws,
            store,
            team_tag,
            current: RwLock::new(Arc::new(view)),
            refresh_lock: tokio::sync::Mutex::new(()),
            publish_lock: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
            pool_reads: std::sync::Mutex::new(HashMap::new()),
        })
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

    pub fn aws(&self) -> &AwsClients {
        &self.aws
    }

    /// Reads everything from AWS, then swaps the view and stores the snapshot.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _guard = self.refresh_lock.lock().await;
        self.refreshing.store(true, Ordering::Relaxed);
        let previous = self.view();
        let snapshot = build_snapshot(&self.aws, &previous.snapshot).await;
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
        let region = self.region_of(pool_id)?;
        self.read_and_merge(&self.aws, &region, pool_id).await
    }

    /// Re-reads one pool for a person who asked: a read of the same pool in the last
    /// `POOL_REFRESH_REUSE` is reused, simultaneous requests share one read, and a read
    /// that would queue too long under the quota fails at once (`AwsError::QuotaBusy`).
    /// A request dropped while it waits takes nothing from the others.
    pub async fn refresh_pool_on_demand(
        &self,
        pool_id: &str,
    ) -> Result<PoolRefresh, RefreshPoolError> {
        let region = self.region_of(pool_id)?;
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
        self.read_and_merge(&self.aws.interactive(), &region, pool_id)
            .await?;
        *last_read = Some(started);
        Ok(PoolRefresh::Read)
    }

    fn region_of(&self, pool_id: &str) -> Result<String, RefreshPoolError> {
        self.view()
            .pool(pool_id)
            .map(|p| p.region.clone())
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
        let body = serde_json::to_string(&snapshot)?;
        let taken_at = snapshot.taken_at.unix_timestamp();
        let view = Arc::new(View::new(snapshot, &self.team_tag, false));
        match self.current.write() {
            Ok(mut current) => *current = view,
            Err(poisoned) => *poisoned.into_inner() = view,
        }
        self.store.save_snapshot(taken_at, &body).await
    }

    /// Refreshes now, then every `every`, until the task is aborted.
    pub async fn run_refresher(self: Arc<Self>, every: Duration) {
        loop {
            if let Err(e) = self.refresh().await {
                tracing::error!(error = format!("{e:#}"), "inventory refresh failed");
            }
            tokio::time::sleep(every).await;
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

/// Reads every region and the certificates concurrently, each paced by the limiter.
pub async fn build_snapshot(aws: &AwsClients, previous: &Snapshot) -> Snapshot {
    let taken_at = OffsetDateTime::now_utc();
    let regions: Vec<String> = aws.regions().map(str::to_owned).collect();
    let pools =
        futures_util::future::join_all(regions.iter().map(|r| read_region(aws, r, previous)));
    let (regions_read, certificates) = tokio::join!(pools, read_certificates(aws));
    let mut problems = Vec::new();
    let mut all_pools = Vec::new();
    for (pools, region_problems) in regions_read {
        all_pools.extend(pools);
        problems.extend(region_problems);
    }
    let certificates = match certificates {
        Ok(certificates) => certificates,
        Err(e) => {
            problems.push(format!(
                "ACM certificates could not be listed ({e}); showing the previous list"
            ));
            previous.certificates.clone()
        }
    };
    Snapshot {
        taken_at,
        pools: all_pools,
        certificates,
        problems,
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
) -> (Vec<PoolRecord>, Vec<String>) {
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
    let describe = summaries
        .map(|summary| {
            let (aws, region) = (aws.clone(), owned_region.clone());
            async move { (read_pool(&aws, &region, &summary.id).await, summary) }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>();
    let (listed, described) = tokio::join!(list, describe);

    let previous_of = |id: &str| previous.pools.iter().find(|p| p.pool.id == id).cloned();
    let mut problems = Vec::new();
    if let Err(e) = listed {
        problems.push(format!(
            "{region}: user pools could not be listed ({e}); showing the previous data"
        ));
        let pools = previous
            .pools
            .iter()
            .filter(|p| p.region == region)
            .cloned()
            .collect();
        return (pools, problems);
    }
    let mut pools = Vec::new();
    for (result, summary) in described {
        match result {
            Ok(Some(record)) => pools.push(record),
            // Deleted between the listing and the description.
            Ok(None) => {}
            Err(e) => {
                problems.push(format!(
                    "{region}: pool {} could not be read ({e})",
                    summary.id
                ));
                if let Some(record) = previous_of(&summary.id) {
                    pools.push(record);
                }
            }
        }
    }
    (pools, problems)
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
        Some(domain) => aws.describe_user_pool_domain(region, domain).await?,
        None => None,
    };
    Ok(Some(PoolRecord {
        region: region.to_owned(),
        pool,
        custom_domain,
    }))
}
