//! `GET /`: one row per pool of every configured region.

use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::{Chrome, PageError, age, html, timestamp};
use crate::auth::CurrentUser;
use crate::inventory::{DashboardQuery, DashboardRow, SortKey};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "dashboard/index.html")]
pub struct DashboardView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    pub rows: Vec<&'a DashboardRow>,
    pub total: usize,
    pub pool_count: usize,
    pub page: usize,
    pub pages: usize,
    pub q: String,
    pub account: String,
    pub region: String,
    pub status: String,
    pub sort: &'static str,
    pub regions: Vec<String>,
    /// The accounts to filter on; the account column shows only with several.
    pub accounts: Vec<String>,
    pub refreshed: Option<(String, String)>,
    pub refreshing: bool,
    pub from_store: bool,
    pub problems: &'a [String],
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub attention: usize,
    /// Custom domains whose edge was last probed serving another certificate.
    pub served_differs: std::collections::HashSet<String>,
    pub status_choices: &'static [(&'static str, &'static str)],
    pub sort_choices: &'static [(&'static str, &'static str)],
}

/// The status filter's choices: value and label.
pub const STATUS_CHOICES: [(&str, &str); 9] = [
    ("", "any"),
    ("attention", "needs attention"),
    ("expiring", "expires within 30 days"),
    ("newer", "newer eligible certificate"),
    ("inactive", "domain not ACTIVE"),
    ("custom", "has a custom domain"),
    ("none", "no custom domain"),
    ("ACTIVE", "ACTIVE"),
    ("UPDATING", "UPDATING"),
];

pub const SORT_CHOICES: [(&str, &str); 6] = [
    ("name", "name"),
    ("account", "account"),
    ("region", "region"),
    ("domain", "custom domain"),
    ("expiry", "days left"),
    ("status", "attention first"),
];

impl DashboardView<'_> {
    /// The page of the certificate `arn` (where it is used).
    pub fn certificate_href(&self, arn: &str) -> String {
        super::certificates::href(arn)
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, PageError> {
    let view = state.inventory.view();
    let query = query.into_inner();
    let page = query.apply(&view.rows);
    let now = OffsetDateTime::now_utc();
    let mut regions: Vec<String> = state.inventory.accounts().regions();
    let mut accounts: Vec<String> = state
        .inventory
        .accounts()
        .all()
        .iter()
        .map(|a| a.account().name.clone())
        .collect();
    // The rows' regions and accounts were gathered with the snapshot.
    for region in view.rows.regions() {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    for account in view.rows.accounts() {
        if !accounts.contains(account) {
            accounts.push(account.clone());
        }
    }
    let href = |page_number: usize| {
        let mut pairs = url_pairs(&query);
        pairs.push(("page", page_number.to_string()));
        format!("/?{}", encode_pairs(&pairs))
    };
    let sort = match query.sort.unwrap_or_default() {
        SortKey::Name => "name",
        SortKey::Account => "account",
        SortKey::Region => "region",
        SortKey::Domain => "domain",
        SortKey::Expiry => "expiry",
        SortKey::Status => "status",
    };
    let taken_at = view.snapshot.taken_at;
    let body = DashboardView {
        title: "User pools",
        chrome: Chrome::of(&user),
        total: page.total,
        pool_count: view.rows.len(),
        page: page.page,
        pages: page.pages,
        previous_href: (page.page > 1).then(|| href(page.page - 1)),
        next_href: (page.page < page.pages).then(|| href(page.page + 1)),
        rows: page.rows,
        q: query.q.clone().unwrap_or_default(),
        account: query.account.clone().unwrap_or_default(),
        region: query.region.clone().unwrap_or_default(),
        status: query.status.clone().unwrap_or_default(),
        sort,
        regions,
        accounts,
        refreshed: (!view.is_empty_start()).then(|| (timestamp(taken_at), age(taken_at, now))),
        refreshing: state.inventory.is_refreshing(),
        from_store: view.from_store,
        problems: &view.snapshot.problems,
        attention: view.rows.attention(),
        served_differs: state.watcher.served_differs(),
        status_choices: &STATUS_CHOICES,
        sort_choices: &SORT_CHOICES,
    };
    html(&body)
}

fn url_pairs(query: &DashboardQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    for (key, value) in [
        ("q", &query.q),
        ("account", &query.account),
        ("region", &query.region),
        ("status", &query.status),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            pairs.push((key, v.clone()));
        }
    }
    if let Some(sort) = query.sort.filter(|s| *s != SortKey::Name) {
        pairs.push(("sort", format!("{sort:?}").to_lowercase()));
    }
    pairs
}

fn encode_pairs(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
