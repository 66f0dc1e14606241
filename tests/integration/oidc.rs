//! Issue 14, single sign-on: against oidc-provider (a certified OpenID Provider, from
//! npm, installed by .ci/test into target/oidc-provider) for the happy paths, and a
//! hostile provider written here (discovery, keys and a token endpoint that hands out
//! crafted ID tokens signed with an RSA key made with openssl) for the refusals.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certdeck::auth::oidc::{OidcFile, OidcSettings};
use certdeck_sandbox::Seed;
use serde_json::{Value, json};

use crate::helpers::{
    Browser, TEST_PASSWORD, TestApp, TestSandbox, options, paths, settings, spawn_sandbox, tempdir,
    text_of, texts,
};

const CLIENT_ID: &str = "certdeck-console";
const CLIENT_SECRET: &str = "certdeck-test-client-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

/// oidc-provider on a free port, killed when this drops.
struct Provider {
    child: Child,
    issuer: String,
    accounts_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    async fn start(redirect_uri: &str, accounts: Value) -> Provider {
        let modules = std::env::var("CERTDECK_OIDC_PROVIDER_DIR")
            .unwrap_or_else(|_| format!("{}/target/oidc-provider", env!("CARGO_MANIFEST_DIR")));
        assert!(
            std::path::Path::new(&modules)
                .join("node_modules/oidc-provider/package.json")
                .exists(),
            "oidc-provider is not installed in {modules}: .ci/test installs it (npm ci in target/oidc-provider)"
        );
        let dir = tempdir();
        let accounts_file = dir.path().join("accounts.json");
        std::fs::write(&accounts_file, accounts.to_string()).expect("accounts file");
        let port = free_port();
        let config = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": redirect_uri,
            "accounts_file": accounts_file,
        });
        let child = Command::new("node")
            .arg(format!(
                "{}/tests/clients/oidc/provider.mjs",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg(port.to_string())
            .arg(config.to_string())
            .env("CERTDECK_OIDC_PROVIDER_DIR", &modules)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(&discovery).await
                && response.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "oidc-provider did not serve its discovery document"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Provider {
            child,
            issuer,
            accounts_file,
            _dir: dir,
        }
    }

    fn set_accounts(&self, accounts: Value) {
        std::fs::write(&self.accounts_file, accounts.to_string()).expect("accounts file");
    }
}

/// `[oidc]` as a deployment would write it.
fn oidc_settings(issuer: &str, console_port: u16, extra: &str) -> OidcSettings {
    let text = format!(
        r#"
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
name = "Example IdP"
redirect_url = "http://127.0.0.1:{console_port}/auth/oidc/callback"
{extra}
[[rules]]
group = "certdeck-admins"
role = "admin"
[[rules]]
group = "payments-operators"
role = "operator"
teams = ["payments"]
[[rules]]
group = "identity-operators"
role = "operator"
teams = ["identity"]
[[rules]]
group = "everyone"
role = "viewer"
"#
    );
    OidcSettings::parse(toml::from_str::<OidcFile>(&text).expect("[oidc] parses"))
        .expect("[oidc] is valid")
}

/// A console on `console_port` whose single sign-on points at `issuer`.
async fn console(
    sandbox: &Arc<TestSandbox>,
    console_port: u16,
    issuer: &str,
    extra: &str,
) -> TestApp {
    let mut settings = settings(sandbox, &sandbox.sqlite_url());
    settings.listen = format!("127.0.0.1:{console_port}");
    settings.oidc = Some(oidc_settings(issuer, console_port, extra));
    if extra.contains("local_login = false") {
        TestApp::start_without_sign_in(sandbox, settings).await
    } else {
        TestApp::start_with(sandbox, settings).await
    }
}

/// A browser without JavaScript (reqwest, following redirects across both sites) signs
/// in through the provider's login form as `login`. The last answer: the console's.
async fn sso_sign_in(base: &str, login: &str) -> (reqwest::Client, u16, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let form_page = client
        .get(format!("{base}/auth/oidc/start"))
        .send()
        .await
        .expect("start");
    let form_url = form_page.url().clone();
    let html = form_page.text().await.expect("login form");
    let action = crate::helpers::attributes(&html, "form", "action")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the provider's login form: {html}"));
    let action = form_url.join(&action).expect("form action");
    let answer = client
        .post(action)
        .form(&[
            ("prompt", "login"),
            ("login", login),
            ("password", "any password"),
        ])
        .send()
        .await
        .expect("login form posted");
    let status = answer.status().as_u16();
    assert!(
        answer.url().as_str().starts_with(base),
        "back at the console: {}",
        answer.url()
    );
    let body = answer.text().await.expect("body");
    (client, status, body)
}

/// The name and role the console's navigation bar shows.
async fn whoami(client: &reqwest::Client, base: &str) -> Option<String> {
    let response = client
        .get(format!("{base}/"))
        .send()
        .await
        .expect("dashboard");
    if !response.url().path().eq("/") {
        return None;
    }
    let html = response.text().await.expect("page");
    texts(&html, ".whoami span").into_iter().next()
}

#[tokio::test]
async fn groups_map_to_roles_and_teams_recomputed_at_every_sign_in() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let console_port = free_port();
    let base = format!("http://127.0.0.1:{console_port}");
    let provider = Provider::start(
        &format!("{base}/auth/oidc/callback"),
        json!({
            "alice": {"groups": ["certdeck-admins", "everyone"]},
            "bob": {"groups": ["payments-operators", "identity-operators", "everyone"]},
            "carol": {"groups": ["marketing"]},
            "dave": {"groups": ["certdeck-admins"]},
        }),
    )
    .await;
    let app = console(&sandbox, console_port, &provider.issuer, "").await;
    // A local (break-glass) account whose name the provider also knows.
    app.create_account("dave", "viewer", &[]).await;

    let login = Browser::new(&base).login_page().await;
    assert_eq!(
        texts(&login, "a#sso"),
        ["Sign in with Example IdP"],
        "the sign-in page offers single sign-on"
    );
    assert!(login.contains("name=\"password\""), "and the password form");

    let (alice, status, page) = sso_sign_in(&base, "alice").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        whoami(&alice, &base).await.as_deref(),
        Some("alice · admin")
    );

    let (bob, status, _) = sso_sign_in(&base, "bob").await;
    assert_eq!(status, 200);
    assert_eq!(
        whoami(&bob, &base).await.as_deref(),
        Some("bob · operator (identity, payments)"),
        "the highest role of bob's groups, the union of their teams"
    );

    let (_, status, page) = sso_sign_in(&base, "carol").await;
    assert_eq!(status, 403);
    assert!(
        text_of(&page).contains("not in a group certdeck knows"),
        "{page}"
    );
    assert!(
        app.state
            .store
            .find_user("carol")
            .await
            .expect("store")
            .is_none(),
        "no account is made for carol"
    );

    let (_, status, page) = sso_sign_in(&base, "dave").await;
    assert_eq!(status, 403);
    assert!(text_of(&page).contains("belongs to a local certdeck account"));
    let local_dave = app.state.store.find_user("dave").await.expect("store");
    assert_eq!(
        local_dave.map(|u| u.role.as_str()),
        Some("viewer"),
        "the local account is not taken over"
    );

    let failures: Vec<String> = app
        .audit_of("auth.sign_in", 50)
        .await
        .into_iter()
        .filter(|e| e.record.outcome == "failure")
        .map(|e| {
            format!(
                "{}: {}",
                e.record.actor,
                e.record.detail.unwrap_or_default()
            )
        })
        .collect();
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("carol: ") && f.contains("not in a group certdeck knows")),
        "{failures:?}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("dave: ") && f.contains("did not sign in with this provider")),
        "{failures:?}"
    );
    let successes: Vec<String> = app
        .audit_of("auth.sign_in", 50)
        .await
        .into_iter()
        .filter(|e| e.record.outcome == "success" && e.record.actor == "bob")
        .map(|e| e.record.detail.unwrap_or_default())
        .collect();
    assert!(
        successes[0].contains("single sign-on") && successes[0].contains("payments"),
        "{successes:?}"
    );

    // Bob leaves the payments operators: at his next sign-in he is an operator of
    // identity only, and the session signed in with the old rights is over.
    provider.set_accounts(json!({
        "alice": {"groups": ["certdeck-admins"]},
        "bob": {"groups": ["identity-operators"]},
    }));
    // Sessions and accounts keep times in whole seconds: a session is over when its
    // account changed after the second it was signed in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (bob_again, status, _) = sso_sign_in(&base, "bob").await;
    assert_eq!(status, 200);
    assert_eq!(
        whoami(&bob_again, &base).await.as_deref(),
        Some("bob · operator (identity)")
    );
    assert_eq!(
        whoami(&bob, &base).await,
        None,
        "the session with the old rights has ended"
    );
    // Out of every known group: refused, and no longer signed in anywhere after it.
    provider.set_accounts(json!({"alice": {"groups": ["certdeck-admins"]}, "bob": {"groups": []}}));
    let (_, status, _) = sso_sign_in(&base, "bob").await;
    assert_eq!(status, 403);
    assert_eq!(
        whoami(&bob_again, &base).await,
        None,
        "bob's account went with his last known group, and his session with it"
    );
    assert!(
        app.state
            .store
            .find_user("bob")
            .await
            .expect("store")
            .is_none()
    );

    // An administrator removes alice: her session ends.
    assert_eq!(
        whoami(&alice, &base).await.as_deref(),
        Some("alice · admin")
    );
    certdeck::auth::accounts::remove(&app.state.store, "test-admin", "alice")
        .await
        .expect("removed");
    assert_eq!(whoami(&alice, &base).await, None, "alice's session ended");
    // Signing in again makes her account anew, from her groups.
    let (alice, status, _) = sso_sign_in(&base, "alice").await;
    assert_eq!(status, 200);
    assert_eq!(
        whoami(&alice, &base).await.as_deref(),
        Some("alice · admin")
    );
    // A single sign-on account has no password.
    let mut browser = Browser::new(&base);
    assert_eq!(browser.sign_in("alice", TEST_PASSWORD).await.status(), 401);
}

/// A small provider that answers discovery, keys and tokens, handing out the ID token
/// the code asks for: `<case>.<nonce>`.
struct HostileProvider {
    issuer: String,
    handle: actix_web::dev::ServerHandle,
    /// How many times its discovery document was fetched.
    discoveries: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for HostileProvider {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_jwt(key: &openssl::pkey::PKey<openssl::pkey::Private>, claims: &Value) -> String {
    let header = b64(json!({"alg": "RS256", "kid": "test-key", "typ": "JWT"})
        .to_string()
        .as_bytes());
    let payload = b64(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).expect("signer");
    signer.update(input.as_bytes()).expect("sign");
    let signature = signer.sign_to_vec().expect("signature");
    format!("{input}.{}", b64(&signature))
}

impl HostileProvider {
    async fn start() -> HostileProvider {
        use actix_web::{App, HttpResponse, HttpServer, web};
        let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa"))
            .expect("key");
        let other_key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).expect("rsa"))
                .expect("key");
        let rsa = key.rsa().expect("rsa");
        let jwks = json!({"keys": [{
            "kty": "RSA", "kid": "test-key", "use": "sig", "alg": "RS256",
            "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec()),
        }]});
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("addr").port()
        );
        let discovery = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        let issuer_for_tokens = issuer.clone();
        let discoveries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = discoveries.clone();
        let server = HttpServer::new(move || {
            let discovery = discovery.clone();
            let counter = counter.clone();
            let jwks = jwks.clone();
            let key = key.clone();
            let other_key = other_key.clone();
            let issuer = issuer_for_tokens.clone();
            App::new()
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(move || {
                        let d = discovery.clone();
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async move { HttpResponse::Ok().json(d) }
                    }),
                )
                .route(
                    "/jwks",
                    web::get().to(move || {
                        let j = jwks.clone();
                        async move { HttpResponse::Ok().json(j) }
                    }),
                )
                .route(
                    "/token",
                    web::post().to(move |form: web::Form<Vec<(String, String)>>| {
                        let key = key.clone();
                        let other_key = other_key.clone();
                        let issuer = issuer.clone();
                        async move {
                            let code = form
                                .iter()
                                .find(|(k, _)| k == "code")
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default();
                            let (case, nonce) = code.split_once('.').unwrap_or(("", ""));
                            let now = time::OffsetDateTime::now_utc().unix_timestamp();
                            let mut claims = json!({
                                "iss": issuer, "sub": "mallory-subject", "aud": CLIENT_ID,
                                "iat": now, "exp": now + 300, "nonce": nonce,
                                "preferred_username": "mallory", "groups": ["certdeck-admins"],
                            });
                            let mut signing = &key;
                            match case {
                                "wrong-nonce" => claims["nonce"] = json!("another-nonce"),
                                "wrong-issuer" => claims["iss"] = json!("http://evil.example"),
                                "wrong-audience" => claims["aud"] = json!("another-client"),
                                "expired" => {
                                    claims["iat"] = json!(now - 7200);
                                    claims["exp"] = json!(now - 3600);
                                }
                                "bad-signature" => signing = &other_key,
                                _ => {}
                            }
                            HttpResponse::Ok().json(json!({
                                "access_token": "an-access-token",
                                "token_type": "Bearer",
                                "expires_in": 300,
                                "id_token": sign_jwt(signing, &claims),
                            }))
                        }
                    }),
                )
        })
        .listen(listener)
        .expect("listen")
        .disable_signals()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        HostileProvider {
            issuer,
            handle,
            discoveries,
        }
    }
}

/// Starts a sign-in at the console: the client (holding the sign-in cookie), and the
/// `state` and `nonce` the console sent to the provider.
async fn start_sign_in(base: &str) -> (Browser, String, String) {
    let browser = Browser::new(base);
    let response = browser.get("/auth/oidc/start").await;
    assert_eq!(response.status(), 303);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a redirect to the provider")
        .to_owned();
    let url = reqwest::Url::parse(&location).expect("URL");
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("{name} in {location}"))
    };
    assert_eq!(param("code_challenge_method"), "S256", "PKCE");
    assert_eq!(param("client_id"), CLIENT_ID);
    assert!(param("scope").split(' ').any(|s| s == "openid"));
    (browser, param("state"), param("nonce"))
}

async fn sign_in_failures(app: &TestApp) -> Vec<String> {
    app.state.refusals.flush(true).await.expect("flush");
    app.audit_of("auth.sign_in", 100)
        .await
        .into_iter()
        .filter(|e| e.record.outcome == "failure")
        .map(|e| e.record.detail.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn forged_or_broken_answers_are_refused_and_audited() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let hostile = HostileProvider::start().await;
    let console_port = free_port();
    let app = console(&sandbox, console_port, &hostile.issuer, "").await;
    let base = format!("http://127.0.0.1:{console_port}");

    // The hostile provider's well-formed answer signs in: the refusals below are the
    // console's checks, not a broken harness.
    let (browser, state, nonce) = start_sign_in(&base).await;
    let response = browser
        .get(&format!(
            "/auth/oidc/callback?code=good.{nonce}&state={state}"
        ))
        .await;
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    assert_eq!(
        browser.get(paths::DASHBOARD).await.status(),
        200,
        "signed in as mallory"
    );

    let cases = [
        ("wrong-nonce", "the ID token's nonce is wrong"),
        ("wrong-issuer", "the ID token's issuer is wrong"),
        ("wrong-audience", "the ID token's audience is wrong"),
        ("expired", "the ID token has expired"),
        ("bad-signature", "the ID token's signature does not verify"),
    ];
    for (case, reason) in cases {
        let (browser, state, nonce) = start_sign_in(&base).await;
        let response = browser
            .get(&format!(
                "/auth/oidc/callback?code={case}.{nonce}&state={state}"
            ))
            .await;
        assert_eq!(response.status(), 403, "{case}");
        let page = text_of(&response.text().await.expect("page"));
        assert!(page.contains(reason), "{case}: {page}");
        assert_eq!(
            browser.get(paths::DASHBOARD).await.status(),
            303,
            "{case}: not signed in"
        );
        let failures = sign_in_failures(&app).await;
        assert!(
            failures.iter().any(|f| f.contains(reason)),
            "{case}: {failures:?}"
        );
    }

    // Six sign-ins so far: discovery was fetched once, and once more when an ID token's
    // signature did not verify with the cached keys (they may have been rotated).
    assert_eq!(
        hostile
            .discoveries
            .load(std::sync::atomic::Ordering::SeqCst),
        2,
        "the provider's metadata is cached"
    );

    // Refusals of anonymous clients are counted per address and minute (anyone can
    // send them); each flush below writes the entry of the one just made.
    // A wrong state: refused before the code is used.
    let (browser, _state, nonce) = start_sign_in(&base).await;
    let response = browser
        .get(&format!(
            "/auth/oidc/callback?code=good.{nonce}&state=forged"
        ))
        .await;
    assert_eq!(response.status(), 403);
    assert!(text_of(&response.text().await.expect("page")).contains("not started here"));
    let failures = sign_in_failures(&app).await;
    assert!(
        failures
            .iter()
            .any(|f| f.contains("the state does not match")),
        "{failures:?}"
    );
    // A callback without the sign-in cookie (another browser's code and state).
    let (_, state, nonce) = start_sign_in(&base).await;
    let response = Browser::new(&base)
        .get(&format!(
            "/auth/oidc/callback?code=good.{nonce}&state={state}"
        ))
        .await;
    assert_eq!(response.status(), 403);
    let failures = sign_in_failures(&app).await;
    assert!(
        failures
            .iter()
            .any(|f| f.contains("no sign-in in progress")),
        "{failures:?}"
    );
    // The provider's error answer.
    let (browser, state, _) = start_sign_in(&base).await;
    let response = browser
        .get(&format!(
            "/auth/oidc/callback?error=access_denied&error_description=User+cancelled&state={state}"
        ))
        .await;
    assert_eq!(response.status(), 403);
    assert!(text_of(&response.text().await.expect("page")).contains("access_denied"));
    let failures = sign_in_failures(&app).await;
    assert!(
        failures
            .iter()
            .any(|f| f.contains("answered with an error: access_denied User cancelled")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_provider_that_is_down_or_silent_gets_a_clear_page_quickly() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    // Nothing listens on this port: connection refused.
    let down = format!("http://127.0.0.1:{}", free_port());
    let console_port = free_port();
    let app = console(&sandbox, console_port, &down, "").await;
    let base = format!("http://127.0.0.1:{console_port}");
    let started = Instant::now();
    let response = Browser::new(&base).get("/auth/oidc/start").await;
    assert_eq!(response.status(), 503);
    let page = text_of(&response.text().await.expect("page"));
    assert!(
        page.contains("The identity provider did not answer"),
        "{page}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The password form still works (break-glass).
    assert_eq!(app.admin.get(paths::DASHBOARD).await.status(), 200);

    // A provider that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_issuer = format!("http://{}", silent.local_addr().expect("addr"));
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let other_port = free_port();
    let silent_app = console(&sandbox, other_port, &silent_issuer, "").await;
    let started = Instant::now();
    let response = Browser::new(&format!("http://127.0.0.1:{other_port}"))
        .get("/auth/oidc/start")
        .await;
    assert_eq!(response.status(), 503);
    assert!(
        started.elapsed() < Duration::from_secs(13),
        "answered within the provider timeout: {:?}",
        started.elapsed()
    );
    hold.abort();

    let failures = sign_in_failures(&app).await;
    assert!(
        failures
            .iter()
            .any(|f| f.contains("the identity provider could not be reached")),
        "{failures:?}"
    );
    let failures = sign_in_failures(&silent_app).await;
    assert!(
        failures.iter().any(|f| f.contains("could not be reached")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn local_login_false_turns_the_password_form_off() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let hostile = HostileProvider::start().await;
    let console_port = free_port();
    let app = console(
        &sandbox,
        console_port,
        &hostile.issuer,
        "local_login = false",
    )
    .await;
    let base = format!("http://127.0.0.1:{console_port}");
    app.create_account("breakglass", "admin", &[]).await;
    let browser = Browser::new(&base);
    let response = browser.get(paths::LOGIN).await;
    // The sign-in form's CSRF token travels in its signed cookie (value after the
    // 44-character signature); with the form gone, a client could still send it.
    let token = response
        .cookies()
        .find(|c| c.name() == "certdeck_login")
        .map(|c| c.value()[44..].to_owned())
        .expect("the sign-in cookie");
    let login = response.text().await.expect("page");
    assert_eq!(texts(&login, "a#sso"), ["Sign in with Example IdP"]);
    assert!(!login.contains("name=\"password\""), "no password form");
    let response = browser
        .post_raw(
            paths::LOGIN,
            &[
                ("csrf_token", &token),
                ("username", "breakglass"),
                ("password", TEST_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        text_of(&response.text().await.expect("page")).contains("Password sign-in is turned off")
    );
    assert_eq!(browser.get(paths::DASHBOARD).await.status(), 303);
}

#[tokio::test]
async fn chromium_signs_in_through_the_providers_login_form() {
    let sandbox = Arc::new(spawn_sandbox(options(Seed::Demo)).await);
    let console_port = free_port();
    let base = format!("http://127.0.0.1:{console_port}");
    let provider = Provider::start(
        &format!("{base}/auth/oidc/callback"),
        json!({"bob": {"groups": ["payments-operators"]}}),
    )
    .await;
    let app = console(&sandbox, console_port, &provider.issuer, "").await;
    app.refresh().await;

    let browser = crate::browser::Driver::start().await;
    browser.go(&format!("{base}{}", paths::LOGIN)).await;
    browser.click("a#sso").await;
    // oidc-provider's own login form (any password).
    browser.type_into("input[name=login]", "bob").await;
    browser
        .type_into("input[name=password]", "any password")
        .await;
    browser.screenshot("oidc-provider-login").await;
    browser.click("button[type=submit]").await;
    // The callback's page moves on to the dashboard by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !browser.text("h1").await.contains("Custom domains") {
        assert!(Instant::now() < deadline, "never reached the dashboard");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        browser.text(".whoami span").await,
        "bob · operator (payments)"
    );
    browser.screenshot("oidc-dashboard").await;
    browser.close().await;
}

#[tokio::test]
async fn sso_accounts_are_found_by_issuer_and_subject_on_both_databases() {
    use certdeck::auth::Role;
    use certdeck::store::{OidcSignIn, Store};
    let dir = tempdir();
    let urls = [
        format!("sqlite://{}/certdeck.db", dir.path().display()),
        crate::helpers::fresh_postgres_url().await,
    ];
    for url in urls {
        let store = Store::connect(&secrecy::SecretString::from(url.clone()))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e:#}"));
        let sign_in = |subject: &str, username: &str, role: Role, teams: &[&str]| OidcSignIn {
            issuer: "https://idp.example.com".into(),
            subject: subject.into(),
            username: username.into(),
            role,
            teams: teams.iter().map(|t| (*t).to_owned()).collect(),
        };
        let made = store
            .upsert_oidc_user(&sign_in("s-1", "erin", Role::Operator, &["payments"]))
            .await
            .expect("store")
            .expect("made");
        assert_eq!(
            (made.role, made.teams.0.clone()),
            (Role::Operator, vec!["payments".to_owned()])
        );
        // Same subject, new groups, even a new preferred name: the same account, new rights.
        let again = store
            .upsert_oidc_user(&sign_in("s-1", "erin.renamed", Role::Viewer, &[]))
            .await
            .expect("store")
            .expect("found");
        assert_eq!(again.username, "erin", "{url}");
        assert_eq!(again.role, Role::Viewer, "{url}");
        assert!(again.teams.is_empty());
        // Another subject with the same name: refused, the account untouched.
        assert!(
            store
                .upsert_oidc_user(&sign_in("s-2", "erin", Role::Admin, &[]))
                .await
                .expect("store")
                .is_none(),
            "{url}"
        );
        assert_eq!(
            store
                .find_user("erin")
                .await
                .expect("store")
                .map(|u| u.role),
            Some(Role::Viewer)
        );
        assert_eq!(
            store
                .remove_oidc_user("https://idp.example.com", "s-1")
                .await
                .expect("store")
                .as_deref(),
            Some("erin")
        );
        assert!(
            store.find_user("erin").await.expect("store").is_none(),
            "{url}"
        );
    }
}
