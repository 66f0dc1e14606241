use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

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

/// Prometheus text: what the inventory holds, how old it is, the changes in flight.
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
    let age = if view.is_empty_start() {
        -1
    } else {
        (now - view.snapshot.taken_at).whole_seconds()
    };
    let active = state
        .store
        .active_propagations()
        .await
        .map(|p| p.len() as i64)
        .unwrap_or(-1);
    let flagged = view.rows.iter().filter(|r| r.flags.any()).count();
    let custom = view
        .rows
        .iter()
        .filter(|r| r.custom_domain.is_some())
        .count();
    let body = format!(
        "# HELP certdeck_pools User pools in the inventory.\n# TYPE certdeck_pools gauge\ncertdeck_pools {}\n\
         # HELP certdeck_custom_domains Custom domains in the inventory.\n# TYPE certdeck_custom_domains gauge\ncertdeck_custom_domains {custom}\n\
         # HELP certdeck_pools_needing_attention Pools with a dashboard flag.\n# TYPE certdeck_pools_needing_attention gauge\ncertdeck_pools_needing_attention {flagged}\n\
         # HELP certdeck_inventory_age_seconds Age of the inventory snapshot (-1: none yet).\n# TYPE certdeck_inventory_age_seconds gauge\ncertdeck_inventory_age_seconds {age}\n\
         # HELP certdeck_inventory_problems What the last refresh could not read.\n# TYPE certdeck_inventory_problems gauge\ncertdeck_inventory_problems {}\n\
         # HELP certdeck_propagations_active Certificate changes being followed.\n# TYPE certdeck_propagations_active gauge\ncertdeck_propagations_active {active}\n",
        view.rows.len(),
        view.snapshot.problems.len(),
    );
    // Per account (names are [a-z0-9_-] and ids digits: nothing to escape in labels).
    let mut body = body;
    body.push_str(
        "# HELP certdeck_account_pools User pools in the inventory, per AWS account.\n# TYPE certdeck_account_pools gauge\n",
    );
    // Name → (id, pools); the id of the credential chain's own account comes from
    // what was read.
    let mut per_account: std::collections::BTreeMap<&str, (Option<&str>, usize)> =
        Default::default();
    for aws in state.inventory.accounts().all() {
        let account = aws.account();
        per_account.insert(account.name.as_str(), (account.id.as_deref(), 0));
    }
    for row in &view.rows {
        let entry = per_account.entry(row.account.as_str()).or_default();
        entry.0 = entry.0.or(row.account_id.as_deref());
        entry.1 += 1;
    }
    for (name, (id, pools)) in &per_account {
        let id = id.unwrap_or_default();
        body.push_str(&format!(
            "certdeck_account_pools{{account=\"{name}\",account_id=\"{id}\"}} {pools}\n"
        ));
    }
    body.push_str(
        "# HELP certdeck_account_readable Whether the last refresh could read the account (assume its role).\n# TYPE certdeck_account_readable gauge\n",
    );
    for (name, (id, _)) in &per_account {
        let id = id.unwrap_or_default();
        let readable = u8::from(!view.snapshot.account_problems.contains_key(*name));
        body.push_str(&format!(
            "certdeck_account_readable{{account=\"{name}\",account_id=\"{id}\"}} {readable}\n"
        ));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
