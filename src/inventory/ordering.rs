//! What the dashboard's requests would otherwise redo on every page view, computed once
//! when a snapshot is installed: each sort order as a vector of row indices, each row's
//! filterable facts packed in a few integers, and every row's lowercase search key in
//! one text. A request then walks indices over the packed facts instead of sorting and
//! comparing rows; a search is one substring scan of that text, and the last searches'
//! results are kept with the snapshot (bounded).

use std::cmp::Ordering;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use super::dashboard::{DashboardRow, EXPIRY_URGENT_DAYS, Filter, SortKey};

/// How a sort key compares two rows.
type Compare = fn(&DashboardRow, &DashboardRow) -> Ordering;

/// How each sort key orders rows, ties kept in name order (the rows' own order: the
/// sort is stable). One more sort key is one more line here.
const ORDERS: &[(SortKey, Compare)] = &[
    (SortKey::Name, |_, _| Ordering::Equal),
    (SortKey::Account, |a, b| a.account.cmp(&b.account)),
    (SortKey::Region, |a, b| a.region.cmp(&b.region)),
    (SortKey::Domain, by_domain),
    (SortKey::Expiry, |a, b| {
        a.days_left
            .unwrap_or(i64::MAX)
            .cmp(&b.days_left.unwrap_or(i64::MAX))
    }),
    (SortKey::Status, |a, b| {
        (!a.flags.any(), &a.domain_status).cmp(&(!b.flags.any(), &b.domain_status))
    }),
    (SortKey::Urgency, |a, b| a.urgency().cmp(&b.urgency())),
];

/// Rows with a custom domain first, by domain.
fn by_domain(a: &DashboardRow, b: &DashboardRow) -> Ordering {
    match (&a.custom_domain, &b.custom_domain) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The dashboard rows of one snapshot (in name order) with their precomputed orders.
/// Reads as a slice of rows.
#[derive(Default)]
pub struct Rows {
    rows: Vec<DashboardRow>,
    /// Per sort key (as listed in `ORDERS`), the row indices in its order.
    orders: Vec<(SortKey, Vec<u32>)>,
    /// The same orders of the rows with a custom domain only (the default view).
    domain_orders: Vec<(SortKey, Vec<u32>)>,
    /// The rows' indices in pool id order (the first row of a pool first): a lookup is
    /// a binary search over the rows' own ids, not a second copy of every id.
    by_pool: Vec<u32>,
    /// Rows that need attention (`Flags::any`).
    attention: usize,
    /// The rows with a custom domain, in domain order, one per domain (indices, not
    /// copies of the domains), and how many expire within 30 and 7 days (the
    /// dashboard's summary strip).
    domains: Vec<u32>,
    expiring: usize,
    urgent: usize,
    /// The rows' distinct regions and accounts, in the order rows first name them.
    regions: Vec<String>,
    accounts: Vec<String>,
    /// Per row, what the filters ask, packed (`Facts`); the domain statuses they name.
    facts: Vec<Facts>,
    statuses: Vec<String>,
    /// Every row's search key, in row order, each followed by a newline (keys hold
    /// none); `starts[i]` is where row `i`'s begins.
    search_text: String,
    starts: Vec<u32>,
    /// The last searches' matches (needle, one bit per row), newest last.
    searches: Mutex<Vec<(String, Arc<Vec<u64>>)>>,
}

/// Searches whose matches are kept per snapshot, and the longest needle kept.
const SEARCHES_KEPT: usize = 32;
const SEARCH_KEPT_LEN: usize = 128;

/// What the status filter and the account and region filters ask of a row, packed.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// `Bit`s.
    bits: u16,
    /// Indices into `Rows::accounts`, `Rows::regions` and `Rows::statuses`
    /// (`NONE`: no domain status).
    account: u32,
    region: u32,
    status: u32,
}

const NONE: u32 = u32::MAX;

/// The status filter's values that are facts of the row, one bit each.
const BITS: &[(&str, u16)] = &[
    ("attention", 1),
    ("expiring", 1 << 1),
    ("week", 1 << 2),
    ("newer", 1 << 3),
    ("inactive", 1 << 4),
    ("imported", 1 << 5),
    ("tls_v1", 1 << 6),
    ("custom", 1 << 7),
    ("none", 1 << 8),
];

fn bit(name: &str) -> u16 {
    BITS.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .unwrap_or_default()
}

fn facts_bits(row: &DashboardRow) -> u16 {
    let f = &row.flags;
    [
        ("attention", f.any()),
        ("expiring", f.expires_soon),
        (
            "week",
            row.days_left.is_some_and(|d| d < EXPIRY_URGENT_DAYS),
        ),
        ("newer", f.newer_eligible),
        ("inactive", f.domain_not_active),
        ("imported", f.imported),
        ("tls_v1", f.discouraged_tls),
        ("custom", row.custom_domain.is_some()),
        ("none", row.custom_domain.is_none()),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .fold(0, |bits, (name, _)| bits | bit(name))
}

/// The index of `value` in `list`, added when new.
fn index_of(list: &mut Vec<String>, value: &str) -> u32 {
    match list.iter().position(|v| v == value) {
        Some(i) => i as u32,
        None => {
            list.push(value.to_owned());
            (list.len() - 1) as u32
        }
    }
}

impl Rows {
    /// Computes every order of `rows` (given in name order).
    pub fn new(rows: Vec<DashboardRow>) -> Self {
        let orders = ORDERS
            .iter()
            .map(|(key, compare)| {
                let mut order: Vec<u32> = (0..rows.len() as u32).collect();
                order.sort_by(|&a, &b| compare(&rows[a as usize], &rows[b as usize]));
                (*key, order)
            })
            .collect::<Vec<_>>();
        let domain_orders = orders
            .iter()
            .map(|(key, order): &(SortKey, Vec<u32>)| {
                let only: Vec<u32> = order
                    .iter()
                    .copied()
                    .filter(|&i| rows[i as usize].custom_domain.is_some())
                    .collect();
                (*key, only)
            })
            .collect();
        // Stable: the first row of a pool, as a search from the top finds it, comes first.
        let mut by_pool: Vec<u32> = (0..rows.len() as u32).collect();
        by_pool.sort_by(|&a, &b| rows[a as usize].pool_id.cmp(&rows[b as usize].pool_id));
        let attention = rows.iter().filter(|r| r.flags.any()).count();
        let with_domain = || rows.iter().filter(|r| r.custom_domain.is_some());
        let mut domains: Vec<u32> = (0..rows.len() as u32)
            .filter(|&i| rows[i as usize].custom_domain.is_some())
            .collect();
        domains.sort_by(|&a, &b| {
            rows[a as usize]
                .custom_domain
                .cmp(&rows[b as usize].custom_domain)
        });
        domains.dedup_by(|a, b| rows[*a as usize].custom_domain == rows[*b as usize].custom_domain);
        let expiring = with_domain().filter(|r| r.flags.expires_soon).count();
        let urgent = with_domain()
            .filter(|r| r.days_left.is_some_and(|d| d < EXPIRY_URGENT_DAYS))
            .count();
        let (mut regions, mut accounts, mut statuses): (Vec<String>, Vec<String>, Vec<String>) =
            Default::default();
        let mut facts = Vec::with_capacity(rows.len());
        let mut search_text = String::new();
        let mut starts = Vec::with_capacity(rows.len());
        for row in &rows {
            facts.push(Facts {
                bits: facts_bits(row),
                account: index_of(&mut accounts, &row.account),
                region: index_of(&mut regions, &row.region),
                status: row
                    .domain_status
                    .as_deref()
                    .map_or(NONE, |s| index_of(&mut statuses, s)),
            });
            starts.push(search_text.len() as u32);
            search_text.extend(row.search_key().chars().map(|c| match c {
                '\n' => ' ',
                c => c,
            }));
            search_text.push('\n');
        }
        search_text.shrink_to_fit();
        Self {
            rows,
            orders,
            domain_orders,
            by_pool,
            attention,
            domains,
            expiring,
            urgent,
            regions,
            accounts,
            facts,
            statuses,
            search_text,
            starts,
            searches: Mutex::default(),
        }
    }

    /// The indices of `order` whose rows `filter` keeps, in that order.
    pub fn matching(&self, order: &[u32], filter: &Filter<'_>) -> Vec<u32> {
        // A name no row has matches nothing; so does a status no row can have.
        let wanted = |list: &[String], value: Option<&str>| -> Option<Option<u32>> {
            match value {
                None => Some(None),
                Some(v) => list.iter().position(|x| x == v).map(|i| Some(i as u32)),
            }
        };
        let (Some(account), Some(region)) = (
            wanted(&self.accounts, filter.account),
            wanted(&self.regions, filter.region),
        ) else {
            return Vec::new();
        };
        let (bits, status) = match filter.status {
            None => (0, None),
            Some(s) => match bit(s) {
                0 => match self.statuses.iter().position(|x| x == s) {
                    Some(i) => (0, Some(i as u32)),
                    None => return Vec::new(),
                },
                b => (b, None),
            },
        };
        let found = filter.needle.as_deref().map(|n| self.search(n));
        order
            .iter()
            .copied()
            .filter(|&i| {
                let f = &self.facts[i as usize];
                f.bits & bits == bits
                    && account.is_none_or(|a| f.account == a)
                    && region.is_none_or(|r| f.region == r)
                    && status.is_none_or(|s| f.status == s)
                    && found
                        .as_ref()
                        .is_none_or(|found| found[i as usize / 64] & (1 << (i % 64)) != 0)
                    && filter.only_domains.is_none_or(|only| {
                        self.rows[i as usize]
                            .custom_domain
                            .as_ref()
                            .is_some_and(|d| only.contains(d))
                    })
            })
            .collect()
    }

    /// The rows whose search key contains `needle` (lowercase), one bit per row: one
    /// scan of the keys' text, or the kept result of the same search.
    fn search(&self, needle: &str) -> Arc<Vec<u64>> {
        let mut searches = match self.searches.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(at) = searches.iter().position(|(n, _)| n == needle) {
            let kept = searches.remove(at);
            let found = kept.1.clone();
            searches.push(kept);
            return found;
        }
        drop(searches);
        let mut found = vec![0u64; self.rows.len().div_ceil(64)];
        // A key holds no newline, so a needle with one is in no key.
        if !needle.contains('\n') {
            let mut row = 0;
            for at in memchr::memmem::find_iter(self.search_text.as_bytes(), needle.as_bytes()) {
                // The row the match starts in (matches come in text order).
                while row + 1 < self.starts.len() && self.starts[row + 1] as usize <= at {
                    row += 1;
                }
                found[row / 64] |= 1 << (row % 64);
            }
        }
        let found = Arc::new(found);
        if needle.len() <= SEARCH_KEPT_LEN {
            let mut searches = match self.searches.lock() {
                Ok(s) => s,
                Err(poisoned) => poisoned.into_inner(),
            };
            if searches.len() >= SEARCHES_KEPT {
                searches.remove(0);
            }
            searches.push((needle.to_owned(), found.clone()));
        }
        found
    }

    /// Row `i`'s search key (as `DashboardRow::search_key`, newlines as spaces).
    #[cfg(test)]
    fn search_key(&self, i: usize) -> &str {
        let start = self.starts[i] as usize;
        let end = self
            .starts
            .get(i + 1)
            .map_or(self.search_text.len(), |&s| s as usize);
        &self.search_text[start..end - 1]
    }

    /// The row indices in `key`'s order, of every row or (`domains_only`) of the rows
    /// with a custom domain. Every sort key has its order (a unit test checks it).
    pub fn order(&self, key: SortKey, domains_only: bool) -> &[u32] {
        let orders = if domains_only {
            &self.domain_orders
        } else {
            &self.orders
        };
        orders
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, order)| order.as_slice())
            .unwrap_or_default()
    }

    /// The row of a pool.
    pub fn of_pool(&self, pool_id: &str) -> Option<&DashboardRow> {
        // The first of the ids not less than `pool_id`: a pool's first row.
        let at = self
            .by_pool
            .partition_point(|&i| self.rows[i as usize].pool_id.as_str() < pool_id);
        self.by_pool
            .get(at)
            .map(|&i| &self.rows[i as usize])
            .filter(|row| row.pool_id == pool_id)
    }

    /// How many distinct custom domains the rows have.
    pub fn domain_count(&self) -> usize {
        self.domains.len()
    }

    /// Whether a row has `domain` as its custom domain.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.domains
            .binary_search_by(|&i| {
                self.rows[i as usize]
                    .custom_domain
                    .as_deref()
                    .unwrap_or_default()
                    .cmp(domain)
            })
            .is_ok()
    }

    /// How many custom domains' certificates expire within 30 days.
    pub fn expiring(&self) -> usize {
        self.expiring
    }

    /// How many custom domains' certificates expire within 7 days.
    pub fn urgent(&self) -> usize {
        self.urgent
    }

    /// How many rows need attention.
    pub fn attention(&self) -> usize {
        self.attention
    }

    /// The regions rows are in, each once, in the order rows first name them.
    pub fn regions(&self) -> &[String] {
        &self.regions
    }

    /// The accounts rows are of, each once, in the order rows first name them.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }
}

impl Deref for Rows {
    type Target = [DashboardRow];

    fn deref(&self) -> &[DashboardRow] {
        &self.rows
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a DashboardRow;
    type IntoIter = std::slice::Iter<'a, DashboardRow>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::inventory::dashboard::Flags;

    fn row(i: usize) -> DashboardRow {
        let domain = (!i.is_multiple_of(3)).then(|| format!("auth{i}.example.com"));
        DashboardRow {
            account: ["prod", "staging", "dev"][i % 3].into(),
            account_id: Some(format!("{:012}", i % 3).into()),
            account_problem: None,
            pool_id: format!("us-east-1_P{i:04}"),
            pool_name: format!("Pool {} {i}", ["Alpha", "beta", "GAMMA"][i % 3]),
            region: ["us-east-1", "eu-west-1"][i % 2].into(),
            team: None,
            prefix_domain: i.is_multiple_of(4).then(|| format!("prefix-{i}")),
            custom_domain: domain.clone(),
            security_policy: None,
            domain_status: domain
                .as_ref()
                .map(|_| ["ACTIVE", "UPDATING", "FAILED"][i % 5 % 3].into()),
            certificate_arn: domain
                .as_ref()
                .map(|_| format!("arn:aws:acm:us-east-1:000000000000:certificate/c{i}").into()),
            certificate: None,
            days_left: domain.as_ref().map(|_| (i as i64 * 7) % 90 - 3),
            flags: Flags {
                expires_soon: i % 5 == 1,
                newer_eligible: i % 7 == 2,
                domain_not_active: i % 5 == 4,
                imported: i.is_multiple_of(11),
                discouraged_tls: i % 13 == 1,
            },
        }
    }

    /// The packed walk keeps exactly the rows the plain definition keeps, in order, for
    /// every status value, account, region and search (repeated: kept results too).
    #[test]
    fn the_indexed_filter_keeps_what_the_plain_filter_keeps() {
        let rows = Rows::new((0..300).map(row).collect());
        let only: HashSet<String> = ["auth2.example.com", "auth5.example.com", "nowhere"]
            .map(str::to_owned)
            .into();
        let statuses = [
            None,
            Some("attention"),
            Some("expiring"),
            Some("week"),
            Some("newer"),
            Some("inactive"),
            Some("imported"),
            Some("tls_v1"),
            Some("custom"),
            Some("none"),
            Some("ACTIVE"),
            Some("UPDATING"),
            Some("unheard-of"),
        ];
        let mut checked = 0;
        for status in statuses {
            for account in [None, Some("prod"), Some("staging"), Some("elsewhere")] {
                for region in [None, Some("eu-west-1"), Some("ap-south-1")] {
                    for needle in [None, Some("gamma"), Some("p00"), Some("7 "), Some("zzz")] {
                        for only_domains in [None, Some(&only)] {
                            for _twice in 0..2 {
                                let filter = Filter {
                                    needle: needle.map(str::to_owned),
                                    account,
                                    region,
                                    status,
                                    only_domains,
                                };
                                let order = rows.order(SortKey::Urgency, false);
                                let plain: Vec<u32> = order
                                    .iter()
                                    .copied()
                                    .filter(|&i| {
                                        let r = &rows[i as usize];
                                        filter.keeps(r, &r.search_key())
                                    })
                                    .collect();
                                assert_eq!(rows.matching(order, &filter), plain, "{filter:?}");
                                checked += usize::from(!plain.is_empty());
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 100, "too few filters matched anything: {checked}");
        // The packed search text holds every row's key.
        for i in 0..rows.len() {
            assert_eq!(rows.search_key(i), rows[i].search_key());
        }
    }

    /// Pools and domains are found by binary search over the rows' own texts: every
    /// pool (a pool listed twice: its first row), every domain once, nothing else.
    #[test]
    fn pools_and_domains_are_found_without_a_copy_of_their_names() {
        let mut all: Vec<DashboardRow> = (0..300).map(row).collect();
        let mut again = row(7);
        again.pool_name = "Pool listed twice".to_owned();
        all.push(again);
        let mut shared_domain = row(8);
        shared_domain.pool_id = "us-east-1_Shared".to_owned();
        all.push(shared_domain);
        let rows = Rows::new(all);
        for i in 0..300 {
            let id = format!("us-east-1_P{i:04}");
            let found = rows.of_pool(&id).expect("every pool is found");
            assert_eq!(found.pool_id, id);
        }
        assert_eq!(
            rows.of_pool("us-east-1_P0007")
                .map(|r| r.pool_name.as_str()),
            Some("Pool beta 7"),
            "the first row of a pool listed twice"
        );
        for missing in [
            "",
            "us-east-1_P",
            "us-east-1_P0300",
            "us-east-1_P00070",
            "zzz",
        ] {
            assert!(rows.of_pool(missing).is_none(), "{missing}");
        }
        // 200 of the 300 have a domain; the two added repeat two of them.
        assert_eq!(rows.domain_count(), 200);
        for i in 0..300_usize {
            let domain = format!("auth{i}.example.com");
            assert_eq!(rows.has_domain(&domain), !i.is_multiple_of(3), "{domain}");
        }
        for missing in ["", "auth.example.com", "auth1.example.co", "zzz"] {
            assert!(!rows.has_domain(missing), "{missing}");
        }
    }
}
