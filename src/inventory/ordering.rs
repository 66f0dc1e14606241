//! What the dashboard's requests would otherwise redo on every page view, computed once
//! when a snapshot is installed: each sort order as a vector of row indices. A request
//! then walks indices (filtering as it goes) instead of sorting the rows; the rows'
//! lowercase search keys are made with the rows themselves (`DashboardRow::search_text`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Deref;

use super::dashboard::{DashboardRow, SortKey};

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
    /// Per pool id, its row.
    by_pool: HashMap<String, u32>,
    /// Rows that need attention (`Flags::any`).
    attention: usize,
    /// The custom domains of the rows, and how many expire within 30 and 7 days (the
    /// dashboard's summary strip).
    domains: std::collections::HashSet<String>,
    expiring: usize,
    urgent: usize,
    /// The rows' distinct regions and accounts, in the order rows first name them.
    regions: Vec<String>,
    accounts: Vec<String>,
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
        let mut by_pool = HashMap::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            // The first row of a pool, as a search from the top finds it.
            by_pool.entry(row.pool_id.clone()).or_insert(i as u32);
        }
        let attention = rows.iter().filter(|r| r.flags.any()).count();
        let with_domain = || rows.iter().filter(|r| r.custom_domain.is_some());
        let domains = with_domain()
            .filter_map(|r| r.custom_domain.clone())
            .collect();
        let expiring = with_domain().filter(|r| r.flags.expires_soon).count();
        let urgent = with_domain()
            .filter(|r| {
                r.days_left
                    .is_some_and(|d| d < super::dashboard::EXPIRY_URGENT_DAYS)
            })
            .count();
        let (mut regions, mut accounts): (Vec<String>, Vec<String>) = Default::default();
        for row in &rows {
            if !regions.contains(&row.region) {
                regions.push(row.region.clone());
            }
            if !accounts.contains(&row.account) {
                accounts.push(row.account.clone());
            }
        }
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
        }
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
        self.by_pool
            .get(pool_id)
            .and_then(|&i| self.rows.get(i as usize))
    }

    /// The rows' custom domains.
    pub fn domains(&self) -> &std::collections::HashSet<String> {
        &self.domains
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
