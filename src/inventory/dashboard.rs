//! Dashboard rows: one per pool, with the flags that say what needs attention, and the
//! search, filters, sorting and paging of `GET /`.

use std::sync::Arc;

use serde::Deserialize;
use time::OffsetDateTime;

use super::ordering::Rows;
use super::{Owners, Snapshot};
use crate::aws::{AwsValue, CertificateSummary};
use crate::domain::{CertificateFacts, DomainName, DomainStatus, check_eligibility};

/// Rows a page.
pub const PAGE_SIZE: usize = 50;
/// "Expires within 30 days".
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// "Expires within 7 days": the domain view's most urgent band.
pub const EXPIRY_URGENT_DAYS: i64 = 7;

/// What needs attention on a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub expires_soon: bool,
    pub newer_eligible: bool,
    pub domain_not_active: bool,
    /// The certificate was imported: ACM never renews it, someone has to.
    pub imported: bool,
    /// The domain's security policy is one AWS discourages (TLS_V1).
    pub discouraged_tls: bool,
}

impl Flags {
    /// Whether the row needs a certificate action now. `imported` and
    /// `discouraged_tls` are standing facts shown beside it, not counted here: an
    /// imported certificate is flagged as it nears expiry, and the TLS policy is not
    /// something a certificate change alters.
    pub fn any(&self) -> bool {
        self.expires_soon || self.newer_eligible || self.domain_not_active
    }
}

/// One pool as the dashboard shows it. The texts many rows repeat (account, region,
/// team, status, policy, certificate) are shared by those rows (`Shared`), not copied
/// into each: 10,000 rows of one account on one wildcard certificate hold each once.
#[derive(Debug, Clone)]
pub struct DashboardRow {
    /// certdeck's name of the pool's account, and its 12-digit id when known.
    pub account: Arc<str>,
    pub account_id: Option<Arc<str>>,
    /// Why the pool's account could not be read in the last refresh (the row is older).
    pub account_problem: Option<Arc<str>>,
    pub pool_id: String,
    pub pool_name: String,
    pub region: Arc<str>,
    pub team: Option<Arc<str>>,
    pub prefix_domain: Option<String>,
    pub custom_domain: Option<String>,
    /// The custom domain's TLS security policy, as AWS spells it.
    pub security_policy: Option<Arc<str>>,
    /// Cognito's status of the custom domain (`None`: no custom domain, or not reported).
    pub domain_status: Option<Arc<str>>,
    /// The configured certificate's ARN (`None`: no custom domain, or not reported).
    pub certificate_arn: Option<Arc<str>>,
    /// The configured certificate as ACM lists it (shared by the rows using it).
    pub certificate: Option<Arc<CertificateSummary>>,
    pub days_left: Option<i64>,
    pub flags: Flags,
}

impl DashboardRow {
    pub fn certificate_name(&self) -> Option<&str> {
        self.certificate
            .as_ref()
            .and_then(|c| c.domain_name.as_deref())
    }

    pub fn certificate_expiry(&self) -> Option<String> {
        self.certificate
            .as_ref()
            .and_then(|c| c.not_after)
            .map(|t| t.date().to_string())
    }

    /// What a search looks in: the row's names and ids, lowercase, separated by spaces.
    pub fn search_key(&self) -> String {
        [
            Some(&*self.account),
            self.account_id.as_deref(),
            Some(self.pool_name.as_str()),
            Some(self.pool_id.as_str()),
            self.prefix_domain.as_deref(),
            self.custom_domain.as_deref(),
            self.certificate_arn.as_deref(),
            self.certificate_name(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
    }

    /// The urgency order: fewest days left first (unknown last), then more flags first.
    pub fn urgency(&self) -> (i64, std::cmp::Reverse<u8>) {
        let f = &self.flags;
        let flags = [
            f.expires_soon,
            f.newer_eligible,
            f.domain_not_active,
            f.imported,
            f.discouraged_tls,
        ]
        .into_iter()
        .map(u8::from)
        .sum();
        (self.days_left.unwrap_or(i64::MAX), std::cmp::Reverse(flags))
    }

    pub fn certificate_key(&self) -> Option<&str> {
        self.certificate
            .as_ref()
            .and_then(|c| c.key_algorithm.as_ref())
            .map(AwsValue::as_str)
    }
}

/// The rows of `snapshot`, sorted by pool name; `certificates_of` gives the certificates
/// of an account (a pool's newer eligible certificate must be of its own account).
pub fn rows<'s>(
    snapshot: &'s Snapshot,
    owners: &Owners,
    certificates_of: impl Fn(&str) -> &'s [Arc<CertificateSummary>],
) -> Vec<DashboardRow> {
    let now = snapshot.taken_at.max(OffsetDateTime::now_utc());
    // Each certificate is the snapshot's, shared by the rows that use it: a wildcard
    // certificate on thousands of domains (with its `InUseBy` list) is not copied per
    // row, and rows find it without walking every certificate.
    let by_arn: std::collections::HashMap<&str, &Arc<CertificateSummary>> = snapshot
        .certificates
        .iter()
        .map(|c| (c.arn.as_str(), c))
        .collect();
    let mut shared = Shared::default();
    let rows = snapshot.pools.iter().map(|record| {
        let domain = record.custom_domain.as_ref();
        let certificate_arn = shared.opt(domain.and_then(|d| d.certificate_arn.as_deref()));
        let certificate = certificate_arn
            .as_deref()
            .and_then(|arn| by_arn.get(arn))
            .map(|c| Arc::clone(c));
        let days_left = certificate
            .as_ref()
            .and_then(|c| c.not_after)
            .map(|t| (t - now).whole_days());
        let domain_status = domain
            .and_then(|d| d.status.as_ref())
            .map(|s| shared.text(&s.to_string()));
        let custom_domain = record.pool.custom_domain.clone();
        let flags = Flags {
            expires_soon: days_left.is_some_and(|d| d < EXPIRY_WARNING_DAYS),
            newer_eligible: custom_domain
                .as_deref()
                .and_then(|d| DomainName::parse(d).ok())
                .zip(certificate.as_ref())
                .is_some_and(|(d, current)| {
                    newer_eligible_exists(&d, current, certificates_of(&record.account), now)
                }),
            domain_not_active: domain
                .and_then(|d| d.status.as_ref())
                .is_some_and(|s| *s != DomainStatus::Active),
            imported: certificate.as_ref().is_some_and(|c| c.imported()),
            discouraged_tls: domain.is_some_and(|d| d.security_policy_discouraged()),
        };
        DashboardRow {
            account: shared.text(&record.account),
            account_id: shared.opt(record.account_id.as_deref()),
            account_problem: shared.opt(
                snapshot
                    .account_problems
                    .get(&record.account)
                    .map(String::as_str),
            ),
            pool_id: record.pool.id.clone(),
            pool_name: record.pool.name.clone(),
            region: shared.text(&record.region),
            team: shared.opt(owners.team_of(&record.account, &record.pool.tags)),
            prefix_domain: record.pool.prefix_domain.clone(),
            custom_domain,
            security_policy: shared.opt(domain.and_then(|d| d.security_policy.as_deref())),
            domain_status,
            certificate_arn,
            certificate,
            days_left,
            flags,
        }
    });
    // Each name lowercased once, not twice per comparison (10,000 rows: 280,000
    // short-lived texts a refresh).
    let mut named: Vec<(String, DashboardRow)> = rows
        .map(|row| (row.pool_name.to_lowercase(), row))
        .collect();
    named.sort_by(|(a_name, a), (b_name, b)| {
        a_name.cmp(b_name).then_with(|| a.pool_id.cmp(&b.pool_id))
    });
    named.into_iter().map(|(_, row)| row).collect()
}

/// The texts rows repeat, each made once while the rows are built.
#[derive(Default)]
struct Shared(std::collections::HashSet<Arc<str>>);

impl Shared {
    fn text(&mut self, text: &str) -> Arc<str> {
        if let Some(kept) = self.0.get(text) {
            return kept.clone();
        }
        let kept: Arc<str> = Arc::from(text);
        self.0.insert(kept.clone());
        kept
    }

    fn opt(&mut self, text: Option<&str>) -> Option<Arc<str>> {
        text.map(|t| self.text(t))
    }
}

/// Whether a certificate other than `current` can serve `domain` and lasts longer.
pub fn newer_eligible_exists(
    domain: &DomainName,
    current: &CertificateSummary,
    certificates: &[Arc<CertificateSummary>],
    now: OffsetDateTime,
) -> bool {
    let Some(current_expiry) = current.not_after else {
        return false;
    };
    certificates.iter().any(|c| {
        c.arn != current.arn
            && c.not_after.is_some_and(|t| t > current_expiry)
            && facts(c).is_some_and(|f| check_eligibility(&f, domain, now).is_empty())
    })
}

/// The eligibility facts of a summary, when ACM reported all of them.
pub fn facts(c: &CertificateSummary) -> Option<CertificateFacts<'_>> {
    Some(CertificateFacts {
        arn: &c.arn,
        status: c.status.as_ref()?.known()?,
        certificate_type: c.certificate_type.as_ref()?.known()?,
        key_algorithm: c.key_algorithm.as_ref()?.known()?,
        not_before: c.not_before,
        not_after: c.not_after,
        names: &c.names,
    })
}

/// How the dashboard sorts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    #[default]
    Name,
    Account,
    Region,
    Domain,
    Expiry,
    Status,
    /// Days left first (fewest first), then how many flags; the domain view's default.
    Urgency,
}

/// `GET /`'s query string.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DashboardQuery {
    pub q: Option<String>,
    /// An account name.
    pub account: Option<String>,
    pub region: Option<String>,
    /// A domain status (`ACTIVE`, `UPDATING`…), or `attention`, `expiring`, `newer`,
    /// `inactive`, `custom`, `none`.
    pub status: Option<String>,
    pub sort: Option<SortKey>,
    pub page: Option<usize>,
    /// `domains`: only pools with a custom domain, most urgent first (the dashboard's
    /// default view); `all` or none: every pool.
    pub view: Option<String>,
    /// Only these custom domains (the `differs` and `inflight` filters: the watcher and
    /// the store know them, not the rows); set by the handler, never by the query.
    #[serde(skip)]
    pub only_domains: Option<std::collections::HashSet<String>>,
}

/// One page of filtered, sorted rows.
pub struct DashboardPage<'a> {
    pub rows: Vec<&'a DashboardRow>,
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

impl DashboardQuery {
    /// Whether only custom domains are asked for (`view=domains`).
    pub fn domains_only(&self) -> bool {
        self.view.as_deref() == Some("domains")
    }

    /// The sort asked for, or the view's default.
    pub fn sort_key(&self) -> SortKey {
        self.sort.unwrap_or(if self.domains_only() {
            SortKey::Urgency
        } else {
            SortKey::Name
        })
    }

    pub fn apply<'a>(&self, rows: &'a Rows) -> DashboardPage<'a> {
        let filter = Filter {
            needle: self
                .q
                .as_deref()
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(str::to_lowercase),
            account: self.account.as_deref().filter(|a| !a.is_empty()),
            region: self.region.as_deref().filter(|r| !r.is_empty()),
            status: self.status.as_deref().filter(|s| !s.is_empty()),
            only_domains: self.only_domains.as_ref(),
        };
        // The sort order was computed with the snapshot. Without a filter a page is a
        // slice of it; with one, the order is walked over the rows' packed facts.
        let order = rows.order(self.sort_key(), self.domains_only());
        let matching = (!filter.is_empty()).then(|| rows.matching(order, &filter));
        let indices: &[u32] = matching.as_deref().unwrap_or(order);
        let total = indices.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = self.page.unwrap_or(1).clamp(1, pages);
        let rows = indices
            .iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .map(|&i| &rows[i as usize])
            .collect();
        DashboardPage {
            rows,
            total,
            page,
            pages,
        }
    }
}

/// What a dashboard query keeps of the rows: each part given must match.
#[derive(Debug, Default)]
pub struct Filter<'q> {
    /// Lowercase text the row's search key must contain.
    pub needle: Option<String>,
    pub account: Option<&'q str>,
    pub region: Option<&'q str>,
    /// A status filter's value (`attention`, `week`… or a domain status).
    pub status: Option<&'q str>,
    /// Only rows with one of these custom domains.
    pub only_domains: Option<&'q std::collections::HashSet<String>>,
}

impl Filter<'_> {
    pub fn is_empty(&self) -> bool {
        self.needle.is_none()
            && self.account.is_none()
            && self.region.is_none()
            && self.status.is_none()
            && self.only_domains.is_none()
    }

    /// Whether `row` (with its search key) passes: the definition the indexed walk in
    /// `Rows::matching` must agree with (a unit test compares them).
    pub fn keeps(&self, row: &DashboardRow, search_key: &str) -> bool {
        self.needle
            .as_deref()
            .is_none_or(|n| search_key.contains(n))
            && self.account.is_none_or(|wanted| *row.account == *wanted)
            && self.region.is_none_or(|wanted| *row.region == *wanted)
            && self.status.is_none_or(|s| status_matches(row, s))
            && self
                .only_domains
                .is_none_or(|only| row.custom_domain.as_ref().is_some_and(|d| only.contains(d)))
    }
}

fn status_matches(row: &DashboardRow, status: &str) -> bool {
    match status {
        "attention" => row.flags.any(),
        "expiring" => row.flags.expires_soon,
        "week" => row.days_left.is_some_and(|d| d < EXPIRY_URGENT_DAYS),
        "newer" => row.flags.newer_eligible,
        "inactive" => row.flags.domain_not_active,
        "imported" => row.flags.imported,
        "tls_v1" => row.flags.discouraged_tls,
        "custom" => row.custom_domain.is_some(),
        "none" => row.custom_domain.is_none(),
        domain_status => row.domain_status.as_deref() == Some(domain_status),
    }
}
