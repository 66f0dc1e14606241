//! `GET /`: the custom domains, most urgent first, under a summary strip; `?view=all`
//! has one row per pool of every configured region.

use actix_web::{HttpResponse, web};
use askama::Template;
use bytes::Bytes;
use time::OffsetDateTime;

use std::collections::HashSet;
use std::sync::Arc;

use super::{Chrome, Moment, PageError};
use crate::auth::CurrentUser;
use crate::inventory::{
    DashboardQuery, DashboardRow, EXPIRY_URGENT_DAYS, EXPIRY_WARNING_DAYS, Probe, RenderedPage,
    SortKey,
};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "dashboard/index.html")]
pub struct DashboardView<'a> {
    pub title: &'a str,
    pub chrome: Chrome,
    /// The table's rows, rendered by `DashboardRows` (or kept from this second).
    pub rows_html: Arc<str>,
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
    pub refreshed: Option<Moment>,
    pub refreshing: bool,
    pub from_store: bool,
    pub problems: &'a [String],
    pub previous_href: Option<String>,
    pub next_href: Option<String>,
    pub attention: usize,
    /// Every pool (`?view=all`), not only custom domains.
    pub all_pools: bool,
    pub summary: Summary,
    pub status_choices: &'static [(&'static str, &'static str)],
    pub sort_choices: &'static [(&'static str, &'static str)],
}

/// The status filter's choices: value and label.
pub const STATUS_CHOICES: [(&str, &str); 12] = [
    ("", "any"),
    ("attention", "needs attention"),
    ("week", "expires within 7 days"),
    ("expiring", "expires within 30 days"),
    ("differs", "served certificate differs"),
    ("inflight", "change in flight"),
    ("newer", "newer eligible certificate"),
    ("inactive", "domain not ACTIVE"),
    ("custom", "has a custom domain"),
    ("none", "no custom domain"),
    ("ACTIVE", "ACTIVE"),
    ("UPDATING", "UPDATING"),
];

pub const SORT_CHOICES: [(&str, &str); 7] = [
    ("urgency", "most urgent first"),
    ("name", "name"),
    ("account", "account"),
    ("region", "region"),
    ("domain", "custom domain"),
    ("expiry", "days left"),
    ("status", "attention first"),
];

/// The summary strip: counts over the custom domains, each a link to its list.
#[derive(Debug, Default)]
pub struct Summary {
    pub domains: usize,
    pub expiring: usize,
    pub urgent: usize,
    pub differs: usize,
    pub in_flight: usize,
}

/// The rows of one page of the table.
#[derive(Template)]
#[template(path = "dashboard/rows.html", whitespace = "minimize")]
pub struct DashboardRows<'a> {
    pub rows: Vec<&'a DashboardRow>,
    /// Custom domains whose edge was last probed serving another certificate.
    pub served_differs: &'a HashSet<String>,
    /// Custom domains with a change in flight.
    pub in_flight: &'a HashSet<String>,
    pub all_pools: bool,
    /// What "expires in…" counts from.
    pub now: OffsetDateTime,
}

impl DashboardRows<'_> {
    /// The page of the certificate `arn` (where it is used).
    pub fn certificate_href(&self, arn: &str) -> String {
        super::certificates::href(arn)
    }

    /// When the row's certificate expires.
    pub fn expires(&self, row: &DashboardRow) -> Option<Moment> {
        row.certificate
            .as_ref()
            .and_then(|c| c.not_after)
            .map(|t| Moment::new(t, self.now))
    }

    /// How the days left are coloured (the number and the flags say it in words).
    pub fn days_class(&self, days: &i64) -> &'static str {
        if *days < EXPIRY_URGENT_DAYS {
            "days-urgent"
        } else if *days < EXPIRY_WARNING_DAYS {
            "days-soon"
        } else {
            ""
        }
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<DashboardQuery>,
) -> Result<HttpResponse, PageError> {
    let view = state.inventory.view();
    let mut query = query.into_inner();
    let all_pools = query.view.as_deref() == Some("all");
    query.view = Some(if all_pools { "all" } else { "domains" }.to_owned());
    let served_differs = state.watcher.served_differs();
    let in_flight = state.store.domains_in_flight().await?;
    let now = OffsetDateTime::now_utc();
    let probe = Probe {
        second: now.unix_timestamp(),
        query: {
            let mut pairs = url_pairs(&query);
            pairs.push(("page", query.page.unwrap_or(1).to_string()));
            encode_pairs(&pairs)
        },
        served_differs: &served_differs,
        in_flight: &in_flight,
    };
    // Everything the whole page shows beyond the snapshot and the probe: the session
    // (its user, role, teams and form token: the session is checked before this, and a
    // changed role or team renders anew) and whether a refresh is running.
    let refreshing = state.inventory.is_refreshing();
    let viewer = format!(
        "{}\0{}\0{}\0{}\0{refreshing}",
        user.username,
        user.role,
        user.teams.join("\n"),
        user.csrf_token
    );
    if let Some(page) = view.rendered.find_whole(&probe, &viewer) {
        return Ok(html_response(page));
    }
    let part = match view.rendered.find(&probe) {
        Some(part) => part,
        None => {
            // The watcher and the store know these two, not the rows.
            let mut filter = query.clone();
            match query.status.as_deref() {
                Some("differs") => filter.only_domains = Some((*served_differs).clone()),
                Some("inflight") => filter.only_domains = Some((*in_flight).clone()),
                _ => {}
            }
            if filter.only_domains.is_some() {
                filter.status = None;
            }
            let page = filter.apply(&view.rows);
            let rows = DashboardRows {
                rows: page.rows,
                served_differs: &served_differs,
                in_flight: &in_flight,
                all_pools,
                now,
            };
            // About a kilobyte a row: rendered without growing the text as it goes.
            let mut html = String::with_capacity(1024 * rows.rows.len().max(1));
            rows.render_into(&mut html)
                .map_err(|e| PageError::Unexpected(anyhow::anyhow!("rendering failed: {e}")))?;
            let part = RenderedPage {
                html: html.into(),
                total: page.total,
                page: page.page,
                pages: page.pages,
            };
            view.rendered.keep(&probe, &part);
            part
        }
    };
    // Counted with the snapshot, but for what the watcher and the store know.
    let rows = &view.rows;
    let summary = Summary {
        domains: rows.domain_count(),
        expiring: view.rows.expiring(),
        urgent: view.rows.urgent(),
        differs: served_differs.iter().filter(|d| rows.has_domain(d)).count(),
        in_flight: in_flight.iter().filter(|d| rows.has_domain(d)).count(),
    };
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
    let sort = match query.sort_key() {
        SortKey::Name => "name",
        SortKey::Account => "account",
        SortKey::Region => "region",
        SortKey::Domain => "domain",
        SortKey::Expiry => "expiry",
        SortKey::Status => "status",
        SortKey::Urgency => "urgency",
    };
    let taken_at = view.snapshot.taken_at;
    let body = DashboardView {
        title: if all_pools {
            "All pools"
        } else {
            "Custom domains"
        },
        chrome: Chrome::of(&user),
        total: part.total,
        pool_count: view.rows.len(),
        page: part.page,
        pages: part.pages,
        previous_href: (part.page > 1).then(|| href(part.page - 1)),
        next_href: (part.page < part.pages).then(|| href(part.page + 1)),
        rows_html: part.html,
        q: query.q.clone().unwrap_or_default(),
        account: query.account.clone().unwrap_or_default(),
        region: query.region.clone().unwrap_or_default(),
        status: query.status.clone().unwrap_or_default(),
        sort,
        regions,
        accounts,
        refreshed: (!view.is_empty_start()).then(|| Moment::new(taken_at, now)),
        refreshing,
        from_store: view.from_store,
        problems: &view.snapshot.problems,
        attention: view.rows.attention(),
        all_pools,
        summary,
        status_choices: &STATUS_CHOICES,
        sort_choices: &SORT_CHOICES,
    };
    // The rows and about 16 KiB around them.
    let mut page = String::with_capacity(body.rows_html.len() + 16 * 1024);
    body.render_into(&mut page)
        .map_err(|e| PageError::Unexpected(anyhow::anyhow!("rendering failed: {e}")))?;
    let page = Bytes::from(page);
    view.rendered.keep_whole(&probe, &viewer, &page);
    Ok(html_response(page))
}

fn html_response(page: Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

fn url_pairs(query: &DashboardQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if query.view.as_deref() == Some("all") {
        pairs.push(("view", "all".to_owned()));
    }
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
    if let Some(sort) = query.sort {
        pairs.push(("sort", format!("{sort:?}").to_lowercase()));
    }
    pairs
}

fn encode_pairs(pairs: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
