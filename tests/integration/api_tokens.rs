//! Issue 14, API tokens: made on "My API tokens", shown once, stored hashed, revocable,
//! expiring, never more rights than their user has now, read only from the
//! `Authorization` header on `/api/v1`, and their use audited once per token and minute.

use std::time::Duration;

use certdeck_sandbox::Seed;
use serde_json::{Value, json};
use sha2::Digest;
use sqlx::Row;

use crate::helpers::{Browser, TestApp, selector, spawn_app, texts};

/// The "My API tokens" page.
pub const TOKENS: &str = "/tokens";

/// Makes a token on the page as `browser`'s user; the secret the page shows once.
pub async fn make_token(browser: &Browser, name: &str, scope: &str, days: &str) -> String {
    let response = browser
        .post_form(
            TOKENS,
            &[("name", name), ("scope", scope), ("expires_in_days", days)],
        )
        .await;
    assert_eq!(response.status(), 200, "the token is made");
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let page = response.text().await.expect("page");
    let shown = texts(&page, "#new-token");
    assert_eq!(shown.len(), 1, "the new token is shown: {page}");
    shown[0].clone()
}

/// A client without cookies, as a pipeline is.
pub fn pipeline() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub fn base(app: &TestApp) -> String {
    format!("http://127.0.0.1:{}", app.port)
}

/// `GET path` with `token`.
pub async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    pipeline()
        .get(format!("{}{path}", base(app)))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

/// `POST pools/{pool}/certificate` with `token` (and an `Idempotency-Key`).
pub async fn post_change(
    app: &TestApp,
    token: &str,
    pool: &str,
    arn: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = pipeline()
        .post(format!("{}/api/v1/pools/{pool}/certificate", base(app)))
        .bearer_auth(token)
        .json(&json!({ "certificate_arn": arn }));
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request")
}

/// Checks an RFC 9457 problem answer and returns it.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
    );
    let body: Value = response.json().await.expect("problem JSON");
    assert_eq!(body["status"], status, "{body}");
    for member in ["type", "title", "detail"] {
        assert!(
            body[member].as_str().is_some_and(|s| !s.is_empty()),
            "{member} in {body}"
        );
    }
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:certdeck:problem:")),
        "{body}"
    );
    body
}

/// Asserts a 401 problem with `WWW-Authenticate: Bearer`.
pub async fn refused(response: reqwest::Response) -> Value {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    problem(response, 401).await
}

/// A connection to the console's database (the test's view of what is stored).
pub async fn database(app: &TestApp) -> sqlx::AnyPool {
    use secrecy::ExposeSecret;
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(app.state.settings.database_url.expose_secret())
        .await
        .expect("database")
}

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_listed_and_audited() {
    let app = spawn_app(Seed::Demo).await;
    let alice = app.browser_as("alice", "operator", &["payments"]).await;
    let secret = make_token(&alice, "deploy pipeline", "change", "30").await;
    assert!(secret.starts_with("cdk_") && secret.len() >= 40, "{secret}");

    // The list names it, and never shows the secret again.
    let listed = alice.get_text(TOKENS).await;
    assert!(!listed.contains(&secret));
    let document = scraper::Html::parse_document(&listed);
    let row: Vec<String> = document
        .select(&selector("table.tokens tbody tr td"))
        .map(|td| td.text().collect::<String>().trim().to_owned())
        .collect();
    assert_eq!(row[0], "deploy pipeline");
    assert_eq!(row[1], "change");
    assert_eq!(row[4], "never", "last used");
    assert_eq!(row[5], "active");

    // Stored as its SHA-256: the secret is in no column of any row.
    let db = database(&app).await;
    let rows = sqlx::query("SELECT id, username, name, scope, token_hash FROM api_tokens")
        .fetch_all(&db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    let stored_hash: String = rows[0].get("token_hash");
    assert_eq!(stored_hash, hex::encode(sha2::Sha256::digest(&secret)));
    for column in ["id", "username", "name", "scope", "token_hash"] {
        let value: String = rows[0].get(column);
        assert!(!value.contains(&secret[4..]), "{column} holds the token");
    }
    let audit = app.audit_of("token.created", 5).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.actor, "alice");
    let detail = audit[0].record.detail.clone().unwrap_or_default();
    assert!(detail.contains("deploy pipeline") && detail.contains("change"));
    assert!(!detail.contains(&secret[4..]));

    // The token works; its use shows as "last used".
    assert_eq!(get(&app, &secret, "/api/v1/pools").await.status(), 200);
    let listed = alice.get_text(TOKENS).await;
    assert!(!listed.contains(&secret));
    assert!(!listed.contains(">never<"), "last used is set");
}

#[tokio::test]
async fn revoked_expired_unknown_and_malformed_tokens_get_401_problems() {
    let app = spawn_app(Seed::Demo).await;
    let bob = app.browser_as("bob", "viewer", &[]).await;
    let revoked = make_token(&bob, "old", "read", "90").await;
    let expiring = make_token(&bob, "short", "read", "1").await;
    assert_eq!(get(&app, &revoked, "/api/v1/pools").await.status(), 200);

    // Revoked on the page (the form's CSRF token is required like every form's).
    let id: String = sqlx::query_scalar("SELECT id FROM api_tokens WHERE name = 'old'")
        .fetch_one(&database(&app).await)
        .await
        .expect("id");
    let forged = bob.post_raw(&format!("/tokens/{id}/revoke"), &[]).await;
    assert_eq!(forged.status(), 403, "no CSRF token, no revocation");
    assert_eq!(get(&app, &revoked, "/api/v1/pools").await.status(), 200);
    // Nobody else can revoke it.
    let mallory = app.browser_as("mallory", "admin", &[]).await;
    let response = mallory
        .post_form(&format!("/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(get(&app, &revoked, "/api/v1/pools").await.status(), 200);
    let response = bob.post_form(&format!("/tokens/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), 303);
    let body = refused(get(&app, &revoked, "/api/v1/pools").await).await;
    assert_eq!(body["type"], "urn:certdeck:problem:unauthorized");
    assert!(bob.get_text(TOKENS).await.contains("revoked"));
    let audit = app.audit_of("token.revoked", 5).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].record.actor, "bob");

    // Expired: its expiry moved into the past (as time would).
    assert_eq!(get(&app, &expiring, "/api/v1/pools").await.status(), 200);
    sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE name = 'short'")
        .bind(time::OffsetDateTime::now_utc().unix_timestamp() - 1)
        .execute(&database(&app).await)
        .await
        .expect("update");
    refused(get(&app, &expiring, "/api/v1/pools").await).await;

    // Unknown, malformed, another scheme, none.
    let unknown = format!("cdk_{}", "A".repeat(43));
    refused(get(&app, &unknown, "/api/v1/pools").await).await;
    refused(get(&app, "not-a-token", "/api/v1/pools").await).await;
    let basic = pipeline()
        .get(format!("{}/api/v1/pools", base(&app)))
        .basic_auth("bob", Some("x"))
        .send()
        .await
        .expect("request");
    refused(basic).await;
    let none = pipeline()
        .get(format!("{}/api/v1/pools", base(&app)))
        .send()
        .await
        .expect("request");
    refused(none).await;
}

#[tokio::test]
async fn tokens_are_bounded_in_number_and_expiry() {
    let app = spawn_app(Seed::Empty).await;
    let carol = app.browser_as("carol", "viewer", &[]).await;
    let too_long = carol
        .post_form(
            TOKENS,
            &[("name", "x"), ("scope", "read"), ("expires_in_days", "366")],
        )
        .await;
    assert_eq!(too_long.status(), 422);
    assert!(
        too_long
            .text()
            .await
            .expect("page")
            .contains("1 to 365 days")
    );
    let bad_scope = carol
        .post_form(
            TOKENS,
            &[("name", "x"), ("scope", "admin"), ("expires_in_days", "5")],
        )
        .await;
    assert_eq!(bad_scope.status(), 422);
    for i in 0..20 {
        make_token(&carol, &format!("t{i}"), "read", "5").await;
    }
    let one_more = carol
        .post_form(
            TOKENS,
            &[("name", "t20"), ("scope", "read"), ("expires_in_days", "5")],
        )
        .await;
    assert_eq!(one_more.status(), 422);
    assert!(
        one_more
            .text()
            .await
            .expect("page")
            .contains("20 active tokens")
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
        .fetch_one(&database(&app).await)
        .await
        .expect("count");
    assert_eq!(count, 20);
}

#[tokio::test]
async fn a_token_never_has_more_rights_than_its_user_has_now() {
    let app = spawn_app(Seed::Demo).await;
    let dave = app.browser_as("dave", "operator", &["payments"]).await;
    let change = make_token(&dave, "ci", "change", "30").await;
    let read = make_token(&dave, "dashboards", "read", "30").await;
    let pool = app.pool_id("Customer portal").await;
    let certificates: Value = get(&app, &change, &format!("/api/v1/pools/{pool}/certificates"))
        .await
        .json()
        .await
        .expect("json");
    let arn = certificates["certificates"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["selectable"] == true)
        .expect("an eligible certificate")["arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;

    // A read token never writes.
    let body = problem(post_change(&app, &read, &pool, &arn, None).await, 403).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("read token"))
    );

    // Dave is demoted to viewer: his change token can only read.
    certdeck::auth::accounts::set_role(
        &app.state.store,
        "test",
        "dave",
        "viewer".parse().expect("role"),
        &[],
    )
    .await
    .expect("demoted");
    assert_eq!(get(&app, &change, "/api/v1/pools").await.status(), 200);
    let body = problem(post_change(&app, &change, &pool, &arn, None).await, 403).await;
    assert_eq!(body["type"], "urn:certdeck:problem:forbidden");
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates);
    let denied = app.audit_of("access.denied", 10).await;
    assert!(
        denied.iter().filter(|e| e.record.actor == "dave").count() >= 2,
        "the refusals are audited"
    );

    // An operator of another team: refused for this pool.
    certdeck::auth::accounts::set_role(
        &app.state.store,
        "test",
        "dave",
        "operator".parse().expect("role"),
        &["identity".to_owned()],
    )
    .await
    .expect("moved");
    problem(post_change(&app, &change, &pool, &arn, None).await, 403).await;
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates);

    // Removed: the token is refused altogether.
    certdeck::auth::accounts::remove(&app.state.store, "test", "dave")
        .await
        .expect("removed");
    refused(get(&app, &change, "/api/v1/pools").await).await;
}

#[tokio::test]
async fn bearer_tokens_are_read_only_from_the_authorization_header_on_the_api() {
    let app = spawn_app(Seed::Empty).await;
    let erin = app.browser_as("erin", "viewer", &[]).await;
    let secret = make_token(&erin, "x", "read", "5").await;
    // In a cookie, under any name: ignored (no session either, so 401).
    for cookie in [
        format!("Authorization=Bearer {secret}"),
        format!("token={secret}"),
        format!("certdeck_session={secret}"),
    ] {
        let response = pipeline()
            .get(format!("{}/api/v1/pools", base(&app)))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        refused(response).await;
    }
    // Outside /api/v1 the header means nothing: the pages want a session.
    let page = pipeline()
        .get(format!("{}/", base(&app)))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("request");
    assert_eq!(page.status(), 303);
    assert_eq!(
        page.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    let old_api = pipeline()
        .get(format!("{}/api/propagations/x", base(&app)))
        .bearer_auth(&secret)
        .send()
        .await
        .expect("request");
    assert_eq!(old_api.status(), 401);
}

#[tokio::test]
async fn cookie_sessions_read_the_api_but_write_only_with_their_csrf_token() {
    let app = spawn_app(Seed::Demo).await;
    let pool = app.pool_id("Customer portal").await;
    let url = format!("{}/api/v1/pools/{pool}/certificate", base(&app));
    let pools = app.admin.get("/api/v1/pools").await;
    assert_eq!(pools.status(), 200, "a session reads");
    let certificates: Value = app
        .admin
        .get(&format!("/api/v1/pools/{pool}/certificates"))
        .await
        .json()
        .await
        .expect("json");
    let arn = certificates["certificates"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["selectable"] == true)
        .expect("eligible")["arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let updates = app.sandbox.calls("UpdateUserPoolDomain").await;
    let without = app
        .admin
        .client
        .post(&url)
        .json(&json!({ "certificate_arn": arn }))
        .send()
        .await
        .expect("request");
    let body = problem(without, 403).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("X-CSRF-Token"))
    );
    let wrong = app
        .admin
        .client
        .post(&url)
        .header("x-csrf-token", "0".repeat(64))
        .json(&json!({ "certificate_arn": arn }))
        .send()
        .await
        .expect("request");
    problem(wrong, 403).await;
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates);
    assert!(!app.audit_of("csrf.rejected", 5).await.is_empty());

    let with = app
        .admin
        .client
        .post(&url)
        .header("x-csrf-token", app.admin.csrf().await)
        .json(&json!({ "certificate_arn": arn }))
        .send()
        .await
        .expect("request");
    assert_eq!(with.status(), 202);
    assert_eq!(app.sandbox.calls("UpdateUserPoolDomain").await, updates + 1);
}

#[tokio::test]
async fn token_use_is_audited_once_per_token_and_minute() {
    let app = spawn_app(Seed::Empty).await;
    let frank = app.browser_as("frank", "viewer", &[]).await;
    let first = make_token(&frank, "one", "read", "5").await;
    let second = make_token(&frank, "two", "read", "5").await;
    // Not at the end of a minute, so that the burst stays in one.
    while time::OffsetDateTime::now_utc().second() > 50 {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for _ in 0..40 {
        assert_eq!(get(&app, &first, "/api/v1/pools").await.status(), 200);
    }
    for _ in 0..5 {
        assert_eq!(get(&app, &second, "/api/v1/audit").await.status(), 200);
    }
    let used = app.audit_of("token.used", 100).await;
    assert_eq!(used.len(), 2, "one entry per token and minute: {used:?}");
    let details: Vec<String> = used
        .iter()
        .filter_map(|e| e.record.detail.clone())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("\"one\"") && d.contains("GET /api/v1/pools"))
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("\"two\"") && d.contains("GET /api/v1/audit"))
    );
    assert!(used.iter().all(|e| e.record.actor == "frank"));
}

#[tokio::test]
async fn token_rows_and_idempotency_claims_hold_on_both_databases() {
    use certdeck::store::{IdempotencyClaim, NewToken, Store};
    let dir = crate::helpers::tempdir();
    let urls = [
        format!("sqlite://{}/tokens.db", dir.path().display()),
        crate::helpers::fresh_postgres_url().await,
    ];
    for url in urls {
        let store = Store::connect(&secrecy::SecretString::from(url.clone()))
            .await
            .expect("store");
        let later = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let token = |id: &'static str, hash: &'static str| NewToken {
            id,
            username: "ann",
            name: "n",
            scope: "read",
            token_hash: hash,
            expires_at: later,
        };
        // The cap on active tokens holds in the one INSERT.
        assert!(
            store
                .insert_api_token(&token("a", "h1"), 2)
                .await
                .expect("insert")
        );
        assert!(
            store
                .insert_api_token(&token("b", "h2"), 2)
                .await
                .expect("insert")
        );
        assert!(
            !store
                .insert_api_token(&token("c", "h3"), 2)
                .await
                .expect("insert")
        );
        assert!(
            store
                .revoke_api_token("ann", "a")
                .await
                .expect("revoke")
                .is_some()
        );
        assert!(
            store
                .revoke_api_token("ann", "a")
                .await
                .expect("revoke")
                .is_none()
        );
        assert!(
            store
                .insert_api_token(&token("c", "h3"), 2)
                .await
                .expect("insert")
        );
        // Revoked tokens do not pile up: the oldest inactive ones go.
        for i in 0..105 {
            let id = format!("old-{i}");
            let hash = format!("old-hash-{i}");
            let new = NewToken {
                id: &id,
                username: "cat",
                name: "n",
                scope: "read",
                token_hash: &hash,
                expires_at: later,
            };
            assert!(store.insert_api_token(&new, 20).await.expect("insert"));
            assert!(
                store
                    .revoke_api_token("cat", &id)
                    .await
                    .expect("revoke")
                    .is_some()
            );
        }
        let kept = store.api_tokens_of("cat", 1000).await.expect("list");
        assert_eq!(kept.len(), 101, "{url}");
        // One audited use per minute.
        assert!(store.note_api_token_use("b", 100).await.expect("use"));
        assert!(!store.note_api_token_use("b", 100).await.expect("use"));
        assert!(store.note_api_token_use("b", 101).await.expect("use"));

        // Concurrent claims of one key: exactly one runs.
        let claims = futures_util::future::join_all(
            (0..8).map(|_| store.claim_idempotency_key("ann", "k", "digest")),
        )
        .await;
        let claimed = claims
            .iter()
            .filter(|c| matches!(c, Ok(IdempotencyClaim::Claimed)))
            .count();
        assert_eq!(claimed, 1, "{url}: {claims:?}");
        assert!(claims.iter().all(|c| matches!(
            c,
            Ok(IdempotencyClaim::Claimed | IdempotencyClaim::InFlight)
        )));
        assert_eq!(
            store
                .claim_idempotency_key("ann", "k", "other")
                .await
                .expect("claim"),
            IdempotencyClaim::Mismatch
        );
        store
            .answer_idempotency_key("ann", "k", 202, "{}", Some("/x"))
            .await
            .expect("answer");
        assert_eq!(
            store
                .claim_idempotency_key("ann", "k", "digest")
                .await
                .expect("claim"),
            IdempotencyClaim::Answered {
                status: 202,
                body: "{}".into(),
                location: Some("/x".into())
            }
        );
        // Keys are per user.
        assert_eq!(
            store
                .claim_idempotency_key("bea", "k", "other")
                .await
                .expect("claim"),
            IdempotencyClaim::Claimed
        );
    }
}
