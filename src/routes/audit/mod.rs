//! `GET /audit` (newest first, filters, keyset pages, chain status) and the streamed
//! exports `GET /audit.csv`, `GET /audit.jsonl`.

use actix_web::{HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;

use super::{CertLabel, Chrome, Moment, PageError, html};
use crate::auth::CurrentUser;
use crate::domain::audit::AuditEntry;
use crate::state::{AppState, AuditChainStatus};
use crate::store::AuditFilter;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(flatten)]
    filter: AuditFilter,
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "audit/index.html")]
pub struct AuditView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub entries: Vec<AuditEntry>,
    pub filter: AuditFilter,
    /// Rows past `chain.verified_through` are shown as not verified.
    pub chain: AuditChainStatus,
    pub older_href: Option<String>,
    pub export_query: String,
    /// The inventory, to name certificates by their domain and expiry.
    pub inventory: std::sync::Arc<crate::inventory::View>,
}

impl AuditView {
    fn value<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or_default()
    }

    /// A certificate in people's words.
    fn cert(&self, arn: &str) -> CertLabel {
        CertLabel::of(arn, &self.inventory.snapshot.certificates)
    }

    /// A stored time (RFC 3339) as every page shows times.
    fn when(&self, at: &str) -> Option<Moment> {
        Moment::of_text(at)
    }

    /// A user agent as people recognise it (the full text goes in a title).
    fn agent(&self, agent: &str) -> String {
        super::short_agent(agent)
    }

    /// Whether the last verification covered this entry (and found it intact).
    fn verified(&self, entry: &AuditEntry) -> bool {
        entry.id <= self.chain.verified_through
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let AuditQuery { filter, before } = query.into_inner();
    let mut entries = state
        .store
        .audit_page(&filter, before, PAGE_SIZE + 1)
        .await?;
    let more = entries.len() as i64 > PAGE_SIZE;
    entries.truncate(PAGE_SIZE as usize);
    let filter_query = filter_pairs(&filter);
    let older_href = more.then(|| {
        let last = entries.last().map_or(0, |e| e.id);
        let mut q = filter_query.clone();
        q.push(("before".to_owned(), last.to_string()));
        format!("/audit?{}", encode(&q))
    });
    // After the page is read: the verification covers every entry the page shows,
    // unless an entry is not part of the chain.
    let chain = state.audit_chain_status_for(&entries).await?;
    let view = AuditView {
        title: "Audit log",
        chrome: Chrome::of(&user),
        entries,
        export_query: encode(&filter_query),
        filter,
        chain,
        older_href,
        inventory: state.inventory.view(),
    };
    html(&view)
}

/// CSV with a header row, one entry a line, streamed.
pub async fn csv(
    state: web::Data<AppState>,
    _user: CurrentUser,
    filter: web::Query<AuditFilter>,
) -> HttpResponse {
    let header = "id,at,actor,role,source_ip,user_agent,action,pool_id,domain,old_certificate_arn,new_certificate_arn,outcome,detail,aws_request_id,prev_hash,hash,account,account_id,assumed_role\r\n";
    let rows = state.store.audit_export(filter.into_inner()).map(|entry| {
        entry
            .map(|e| web::Bytes::from(csv_line(&e)))
            .map_err(|e| actix_web::error::ErrorInternalServerError(format!("{e:#}")))
    });
    let body = futures_util::stream::once(async move {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(header.as_bytes()))
    })
    .chain(rows);
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            "attachment; filename=\"certdeck-audit.csv\"",
        ))
        .streaming(body)
}

/// One JSON object a line, streamed.
pub async fn jsonl(
    state: web::Data<AppState>,
    _user: CurrentUser,
    filter: web::Query<AuditFilter>,
) -> HttpResponse {
    let rows = state.store.audit_export(filter.into_inner()).map(|entry| {
        entry
            .and_then(|e| {
                let mut line = serde_json::to_vec(&e)?;
                line.push(b'\n');
                Ok(web::Bytes::from(line))
            })
            .map_err(|e| actix_web::error::ErrorInternalServerError(format!("{e:#}")))
    });
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((
            "content-disposition",
            "attachment; filename=\"certdeck-audit.jsonl\"",
        ))
        .streaming(rows)
}

fn csv_line(e: &AuditEntry) -> String {
    let r = &e.record;
    let id = e.id.to_string();
    let fields: [&str; 19] = [
        &id,
        &e.at,
        &r.actor,
        r.role.as_deref().unwrap_or_default(),
        r.source_ip.as_deref().unwrap_or_default(),
        r.user_agent.as_deref().unwrap_or_default(),
        r.action.as_str(),
        r.pool_id.as_deref().unwrap_or_default(),
        r.domain.as_deref().unwrap_or_default(),
        r.old_certificate_arn.as_deref().unwrap_or_default(),
        r.new_certificate_arn.as_deref().unwrap_or_default(),
        &r.outcome,
        r.detail.as_deref().unwrap_or_default(),
        r.aws_request_id.as_deref().unwrap_or_default(),
        &e.prev_hash,
        &e.hash,
        r.account.as_deref().unwrap_or_default(),
        r.account_id.as_deref().unwrap_or_default(),
        r.assumed_role.as_deref().unwrap_or_default(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// RFC 4180 quoting. A value a spreadsheet would run as a formula (user names and
/// user agents come from anyone) is prefixed with `'`.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub(super) fn filter_pairs(filter: &AuditFilter) -> Vec<(String, String)> {
    [
        ("actor", &filter.actor),
        ("account", &filter.account),
        ("pool_id", &filter.pool_id),
        ("domain", &filter.domain),
        ("action", &filter.action),
        ("outcome", &filter.outcome),
        ("from", &filter.from),
        ("to", &filter.to),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| (k.to_owned(), v.clone()))
    })
    .collect()
}

pub(super) fn encode(pairs: &[(String, String)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}
