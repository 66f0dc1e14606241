use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::metrics;

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Readiness: the database answers, the last inventory refresh reached AWS, and every
/// background task still runs.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.ping().await;
    let view = state.inventory.view();
    let aws = !view.is_empty_start() && view.snapshot.problems.is_empty();
    let mut body = format!(
        "replica: {}\ndatabase: {}\naws: {}\n",
        state.replica,
        ok(database),
        ok(aws)
    );
    let mut tasks_alive = true;
    for task in state.supervisor.statuses() {
        match &task.stopped {
            None => body.push_str(&format!("{}: ok\n", task.name)),
            Some(reason) => {
                tasks_alive = false;
                body.push_str(&format!("{}: stopped ({reason})\n", task.name));
            }
        }
    }
    if database && aws && tasks_alive {
        HttpResponse::Ok().content_type("text/plain").body(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(body)
    }
}

fn ok(yes: bool) -> &'static str {
    if yes { "ok" } else { "not ready" }
}

/// Whether `req` carries `Authorization: Bearer <expected>`. Both sides are hashed
/// first, so the comparison takes the same time whatever the length or the content.
fn bearer_matches(req: &HttpRequest, expected: &str) -> bool {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        })
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_slice(),
        expected.as_slice(),
    ))
}

/// Prometheus text: what the inventory holds, how old it is, the changes in flight, each
/// domain's certificate expiry and what its edge serves (this console's state, read now),
/// then the process's counters and histograms (`crate::metrics`).
/// With `CERTDECK_METRICS_TOKEN` set, only for `Authorization: Bearer` with it.
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Some(token) = &state.settings.metrics_token
        && !bearer_matches(&req, token.expose_secret())
    {
        return HttpResponse::Unauthorized()
            .insert_header((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"certdeck metrics\"",
            ))
            .content_type("text/plain")
            .body("a bearer token is required\n");
    }
    let view = state.inventory.view();
    let now = OffsetDateTime::now_utc();
    let inventory_age_seconds = if view.is_empty_start() {
        -1
    } else {
        (now - view.snapshot.taken_at).whole_seconds()
    };
    let propagations_active = state
        .store
        .active_propagations()
        .await
        .map(|p| p.len() as i64)
        .unwrap_or(-1);
    // Name → (id, pools); the id of the credential chain's own account comes from
    // what was read.
    let mut per_account: BTreeMap<&str, (Option<&str>, usize)> = Default::default();
    for aws in state.inventory.accounts().all() {
        let account = aws.account();
        per_account.insert(account.name.as_str(), (account.id.as_deref(), 0));
    }
    for row in &view.rows {
        let entry = per_account.entry(&*row.account).or_default();
        entry.0 = entry.0.or(row.account_id.as_deref());
        entry.1 += 1;
    }
    let served = state.watcher.served_certificates();
    // Only the domains the inventory holds now: a removed domain's series goes too.
    let mut served_matches: Vec<(&str, bool)> = view
        .rows
        .iter()
        .filter_map(|row| row.custom_domain.as_deref())
        .filter_map(|domain| Some((domain, served.get(domain)?.matches?)))
        .collect();
    served_matches.sort_unstable();
    served_matches.dedup_by_key(|(domain, _)| *domain);
    let snapshot = metrics::State {
        pools: view
            .rows
            .iter()
            .map(|row| metrics::PoolState {
                account: &row.account,
                region: &row.region,
                pool_id: &row.pool_id,
                custom_domain: row.custom_domain.as_deref(),
                certificate_not_after: row
                    .certificate
                    .as_ref()
                    .and_then(|c| c.not_after)
                    .map(OffsetDateTime::unix_timestamp),
            })
            .collect(),
        accounts: per_account
            .iter()
            .map(|(name, (id, pools))| metrics::AccountState {
                name,
                id: id.unwrap_or_default(),
                pools: *pools,
                readable: !view.snapshot.account_problems.contains_key(*name),
            })
            .collect(),
        pools_needing_attention: view.rows.iter().filter(|r| r.flags.any()).count(),
        inventory_age_seconds,
        inventory_problems: view.snapshot.problems.len(),
        propagations_active,
        served_matches,
    };
    let mut body = metrics::render_state(&snapshot);
    body.push_str(&metrics::render_events());
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
