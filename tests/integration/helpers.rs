use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::config::Credentials;
use aws_sdk_cognitoidentityprovider::config::retry::RetryConfig;
use certdeck_sandbox::{Sandbox, SandboxOptions, Seed, Timings};
use serde_json::Value;

/// A sandbox on free ports, and SDK configuration pointing at it.
pub struct TestSandbox {
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
    /// Unique per test, so that quotas (kept per access key) never cross tests.
    pub access_key: String,
    /// Files of this test (the CA file, consoles' SQLite databases): removed when the
    /// sandbox is dropped, which is after every console using it (they hold an `Arc`).
    pub dir: tempfile::TempDir,
}

pub fn options(seed: Seed) -> SandboxOptions {
    SandboxOptions {
        seed,
        timings: Timings {
            propagation: Duration::from_secs(2),
            validation: Duration::from_secs(1),
        },
        latency: Duration::ZERO,
        // Functional tests are not about quotas; the quota tests set their own.
        quota_scale: 0.0,
    }
}

pub async fn spawn_sandbox(options: SandboxOptions) -> TestSandbox {
    let sandbox = Sandbox::start(options, "127.0.0.1:0", "127.0.0.1:0")
        .await
        .expect("the sandbox starts");
    TestSandbox {
        sandbox,
        http: reqwest::Client::new(),
        access_key: format!("AKIA{}", uuid::Uuid::new_v4().simple()),
        dir: tempdir(),
    }
}

impl TestSandbox {
    /// A new SQLite database URL, in its own directory under this sandbox's temporary
    /// directory.
    pub fn sqlite_url(&self) -> String {
        let dir = self
            .dir
            .path()
            .join(format!("console-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("database dir");
        format!("sqlite://{}/certdeck.db", dir.display())
    }

    pub async fn sdk_config(&self, region: &str, retries: bool) -> SdkConfig {
        let retry = if retries {
            RetryConfig::standard()
        } else {
            RetryConfig::disabled()
        };
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.sandbox.endpoint_url())
            .credentials_provider(Credentials::new(
                &self.access_key,
                "secret",
                None,
                None,
                "test",
            ))
            .retry_config(retry)
            .load()
            .await
    }

    pub async fn cognito(&self, region: &str) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&self.sdk_config(region, true).await)
    }

    pub async fn acm(&self, region: &str) -> aws_sdk_acm::Client {
        aws_sdk_acm::Client::new(&self.sdk_config(region, true).await)
    }

    pub async fn state(&self) -> Value {
        self.http
            .get(format!("{}/_sandbox/state", self.sandbox.endpoint_url()))
            .send()
            .await
            .expect("state answers")
            .json()
            .await
            .expect("state is JSON")
    }

    /// How many calls of `operation` the sandbox has received.
    pub async fn calls(&self, operation: &str) -> u64 {
        self.state().await["calls"][operation].as_u64().unwrap_or(0)
    }

    pub async fn arm_fault(&self, fault: Value) {
        let response = self
            .http
            .post(format!("{}/_sandbox/faults", self.sandbox.endpoint_url()))
            .json(&fault)
            .send()
            .await
            .expect("faults answers");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

/// The leaf certificate the edge serves for `sni`, as DER, or the handshake error.
pub async fn edge_leaf(
    edge: std::net::SocketAddr,
    ca_pem: &str,
    sni: &str,
) -> Result<Vec<u8>, String> {
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for der in openssl::x509::X509::stack_from_pem(ca_pem.as_bytes()).expect("CA PEM") {
        roots
            .add(CertificateDer::from(der.to_der().expect("DER")))
            .expect("CA is a valid root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(edge)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no certificate")?;
    Ok(leaf.to_vec())
}

/// ACM's colon-separated hex serial of a DER certificate.
pub fn serial_of(der: &[u8]) -> String {
    let certificate = openssl::x509::X509::from_der(der).expect("a DER certificate");
    let serial = certificate
        .serial_number()
        .to_bn()
        .expect("serial")
        .to_vec();
    certdeck_sandbox::format_serial(&serial)
}

/// Waits until `check` holds, polling every 100 ms, for at most `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

impl TestSandbox {
    /// Changes the latency added to every AWS call.
    pub async fn set_latency(&self, latency: Duration) {
        let response = self
            .http
            .post(format!("{}/_sandbox/latency", self.sandbox.endpoint_url()))
            .json(&serde_json::json!({ "ms": latency.as_millis() as u64 }))
            .send()
            .await
            .expect("latency answers");
        assert_eq!(response.status(), 204);
    }
}

/// The console on a free port, wired to a sandbox.
pub struct TestApp {
    pub sandbox: Arc<TestSandbox>,
    pub port: u16,
    pub state: certdeck::state::AppState,
    /// A signed-in admin, for tests about something else than access.
    pub admin: Browser,
    handle: actix_web::dev::ServerHandle,
    /// The console's task: it ends (and releases the SQLite lock) after the server.
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A client with its own cookie jar, like one browser.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
    pub username: String,
}

/// The password every test account gets.
pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A CSS selector written in a test; panics on a typo.
pub fn selector(css: &str) -> scraper::Selector {
    scraper::Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e}"))
}

/// The text of every element of `html` matching `css`, whitespace as in the source.
pub fn texts(html: &str, css: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    document
        .select(&selector(css))
        .map(|e| e.text().collect::<String>())
        .collect()
}

/// The value of attribute `attribute` of every element of `html` matching `css`.
pub fn attributes(html: &str, css: &str, attribute: &str) -> Vec<String> {
    let document = scraper::Html::parse_document(html);
    document
        .select(&selector(css))
        .filter_map(|e| e.value().attr(attribute).map(str::to_owned))
        .collect()
}

/// The page's text as the browser shows it (tags dropped, entities decoded).
pub fn text_of(html: &str) -> String {
    scraper::Html::parse_document(html)
        .root_element()
        .text()
        .collect()
}

/// A table row of a page, as the parser read it.
pub struct TableRow {
    /// What the browser shows of it.
    pub text: String,
    /// Its HTML, `<tr …>` included.
    pub html: String,
}

impl TableRow {
    /// Whether the row's text contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.text.contains(text)
    }

    /// Whether the row (itself, or something in it) matches `css`.
    pub fn has(&self, css: &str) -> bool {
        let table = format!("<table><tbody>{}</tbody></table>", self.html);
        scraper::Html::parse_fragment(&table)
            .select(&selector(css))
            .next()
            .is_some()
    }

    /// The text of each element of the row matching `css`.
    pub fn texts(&self, css: &str) -> Vec<String> {
        let table = format!("<table><tbody>{}</tbody></table>", self.html);
        scraper::Html::parse_fragment(&table)
            .select(&selector(css))
            .map(|e| e.text().collect())
            .collect()
    }
}

impl std::fmt::Display for TableRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.html)
    }
}

/// The rows of `html` matching `css` (a selector of `tr`s).
pub fn table_rows(html: &str, css: &str) -> Vec<TableRow> {
    let document = scraper::Html::parse_document(html);
    document
        .select(&selector(css))
        .map(|row| TableRow {
            text: row.text().collect(),
            html: row.html(),
        })
        .collect()
}

/// The value of the first `csrf_token` field of a page.
pub fn csrf_of(html: &str) -> Option<String> {
    attributes(html, "input[name=csrf_token]", "value")
        .into_iter()
        .next()
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            username: String::new(),
        }
    }

    /// A browser whose connections come from `source` (any 127.0.0.0/8 address), as
    /// another machine's would.
    pub fn from_address(base: &str, source: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(source.parse::<std::net::IpAddr>().expect("an address"))
                .build()
                .expect("client"),
            base: base.to_owned(),
            username: String::new(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// A page that must answer 200.
    pub async fn get_text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path} as {}", self.username);
        response.text().await.expect("body")
    }

    /// The CSRF token of this browser's session, as its pages carry it.
    pub async fn csrf(&self) -> String {
        let page = if self.username.is_empty() {
            paths::LOGIN
        } else {
            paths::DASHBOARD
        };
        csrf_of(&self.get_text(page).await).expect("a page with a CSRF token")
    }

    /// Posts a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf().await;
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &token));
        self.post_raw(path, &form).await
    }

    /// Posts exactly `fields` (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("request")
    }

    /// Signs in; the response of the sign-in form.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> reqwest::Response {
        let response = self
            .post_form(
                paths::LOGIN,
                &[("username", username), ("password", password)],
            )
            .await;
        if response.status() == 303 {
            self.username = username.to_owned();
        }
        response
    }

    /// Signs out; the response of the sign-out form.
    pub async fn sign_out(&mut self) -> reqwest::Response {
        let response = self.post_form(paths::LOGOUT, &[]).await;
        if response.status() == 303 {
            self.username.clear();
        }
        response
    }

    /// The sign-in page (200).
    pub async fn login_page(&self) -> String {
        self.get_text(paths::LOGIN).await
    }

    /// The dashboard with `query` (`""` or `"?q=…"`), which must answer 200.
    pub async fn dashboard(&self, query: &str) -> String {
        self.get_text(&format!("{}{query}", paths::DASHBOARD)).await
    }

    /// The page of pool `pool_id`, which must answer 200.
    pub async fn pool_page(&self, pool_id: &str) -> String {
        self.get_text(&paths::pool(pool_id)).await
    }

    /// The certificate change form of `pool_id`, which must answer 200.
    pub async fn change_form(&self, pool_id: &str) -> String {
        self.get_text(&paths::change(pool_id)).await
    }

    /// Posts the change form of `pool_id` with `fields` (and this session's CSRF token).
    pub async fn submit_change(&self, pool_id: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.post_form(&paths::change(pool_id), fields).await
    }

    /// Confirms replacing `pool_id`'s certificate by `arn`, with the form's submission
    /// token.
    pub async fn confirm_change(
        &self,
        pool_id: &str,
        arn: &str,
        submission_token: &str,
    ) -> reqwest::Response {
        self.submit_change(
            pool_id,
            &[
                ("certificate_arn", arn),
                ("submission_token", submission_token),
                ("confirm", "yes"),
            ],
        )
        .await
    }

    /// Asks for `pool_id` to be read from AWS again.
    pub async fn refresh_pool(&self, pool_id: &str) -> reqwest::Response {
        self.post_form(&paths::refresh(pool_id), &[]).await
    }

    /// The audit log page with `query` (`""` or `"?actor=…"`), which must answer 200.
    pub async fn audit_page(&self, query: &str) -> String {
        self.get_text(&format!("{}{query}", paths::AUDIT)).await
    }

    /// The audit log as CSV, filtered by `query`, which must answer 200.
    pub async fn audit_csv(&self, query: &str) -> String {
        self.get_text(&format!("{}{query}", paths::AUDIT_CSV)).await
    }

    /// The audit log as JSON lines, filtered by `query`, which must answer 200.
    pub async fn audit_jsonl(&self, query: &str) -> String {
        self.get_text(&format!("{}{query}", paths::AUDIT_JSONL))
            .await
    }

    /// The page of propagation `id`, which must answer 200.
    pub async fn propagation_page(&self, id: &str) -> String {
        self.get_text(&paths::propagation(id)).await
    }

    /// The propagations list.
    pub async fn propagations(&self) -> reqwest::Response {
        self.get(paths::PROPAGATIONS).await
    }

    /// Propagation `id` as JSON.
    pub async fn propagation_json(&self, id: &str) -> reqwest::Response {
        self.get(&paths::propagation_api(id)).await
    }

    /// The server-sent event stream of propagation `id`.
    pub async fn propagation_events(&self, id: &str) -> reqwest::Response {
        self.get(&paths::propagation_events(id)).await
    }

    /// The session cookie's value.
    pub fn session_cookie(&self, cookies: &reqwest::header::HeaderMap) -> Option<String> {
        cookies
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| {
                v.starts_with("certdeck_session=") || v.starts_with("__Host-certdeck_session=")
            })
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
    }
}

/// Where the console's pages are: the one place a route rename touches. (The access
/// tables list routes on purpose and keep their own lists.)
pub mod paths {
    pub const LOGIN: &str = "/login";
    pub const LOGOUT: &str = "/logout";
    pub const DASHBOARD: &str = "/";
    pub const AUDIT: &str = "/audit";
    pub const AUDIT_CSV: &str = "/audit.csv";
    pub const AUDIT_JSONL: &str = "/audit.jsonl";
    pub const PROPAGATIONS: &str = "/propagations";

    pub fn pool(pool_id: &str) -> String {
        format!("/pools/{pool_id}")
    }

    pub fn change(pool_id: &str) -> String {
        format!("/pools/{pool_id}/certificate")
    }

    pub fn refresh(pool_id: &str) -> String {
        format!("/pools/{pool_id}/refresh")
    }

    pub fn propagation(id: &str) -> String {
        format!("{PROPAGATIONS}/{id}")
    }

    pub fn propagation_events(id: &str) -> String {
        format!("{PROPAGATIONS}/{id}/events")
    }

    pub fn propagation_api(id: &str) -> String {
        format!("/api{PROPAGATIONS}/{id}")
    }

    /// The propagation id in the `Location` of a confirmed change.
    pub fn propagation_id(location: &str) -> String {
        location
            .strip_prefix(PROPAGATIONS)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or_else(|| panic!("{location} is a propagation page"))
            .to_owned()
    }
}

/// A sandbox with `seed`, and a console on a fresh SQLite database whose first
/// inventory is read.
pub async fn spawn_app(seed: Seed) -> TestApp {
    let sandbox = Arc::new(spawn_sandbox(options(seed)).await);
    let database = sandbox.sqlite_url();
    spawn_app_on(&sandbox, &database).await
}

/// A console on `database` wired to `sandbox`, with its inventory read.
pub async fn spawn_app_on(sandbox: &Arc<TestSandbox>, database: &str) -> TestApp {
    let app = TestApp::start(sandbox, database).await;
    app.refresh().await;
    app
}

pub fn settings(sandbox: &TestSandbox, database: &str) -> certdeck::configuration::Settings {
    certdeck::configuration::Settings {
        listen: "127.0.0.1:0".to_owned(),
        database_url: secrecy::SecretString::from(database.to_owned()),
        regions: vec!["us-east-1".to_owned(), "eu-west-1".to_owned()],
        aws_endpoint_url: Some(sandbox.sandbox.endpoint_url().to_owned()),
        edge_addr: Some(sandbox.sandbox.edge_addr().to_string()),
        edge_ca_file: Some({
            let path = sandbox.dir.path().join("sandbox-ca.pem");
            std::fs::write(&path, sandbox.sandbox.ca_pem()).expect("CA file");
            path
        }),
        propagation_poll: Duration::from_secs(1),
        probe_interval: Duration::from_secs(1),
        secure_cookies: false,
        // The sandbox runs without quotas here; pacing is the benchmark's subject.
        aws_quota_scale: 100.0,
        // Retried errors fail fast.
        aws_max_attempts: 2,
        inventory_refresh: Duration::from_secs(3600),
        audit_key: Some(test_audit_key()),
        ..Default::default()
    }
}

/// The audit key of test consoles.
pub const TEST_AUDIT_KEY: &str = "certdeck-test-audit-key-0123456789abcdef";

pub fn test_audit_key() -> certdeck::domain::audit::AuditKey {
    certdeck::domain::audit::AuditKey::parse(TEST_AUDIT_KEY).expect("a valid audit key")
}

impl TestApp {
    /// Starts the console without waiting for any AWS call.
    pub async fn start(sandbox: &Arc<TestSandbox>, database: &str) -> TestApp {
        Self::start_with(sandbox, settings(sandbox, database)).await
    }

    /// Starts the console with `settings`.
    pub async fn start_with(
        sandbox: &Arc<TestSandbox>,
        settings: certdeck::configuration::Settings,
    ) -> TestApp {
        capture_logs();
        let application = certdeck::startup::Application::build(settings)
            .await
            .expect("the console starts");
        let port = application.port();
        let state = application.state().clone();
        let handle = application.handle();
        let task = tokio::spawn(application.run_until_stopped());
        let base = format!("http://127.0.0.1:{port}");
        let mut app = TestApp {
            sandbox: sandbox.clone(),
            port,
            state,
            admin: Browser::new(&base),
            handle,
            task,
        };
        app.admin = app.browser_as("test-admin", "admin", &[]).await;
        app
    }

    /// Starts the console with `settings`, signing nobody in (for consoles whose password
    /// sign-in is turned off).
    pub async fn start_without_sign_in(
        sandbox: &Arc<TestSandbox>,
        settings: certdeck::configuration::Settings,
    ) -> TestApp {
        capture_logs();
        let application = certdeck::startup::Application::build(settings)
            .await
            .expect("the console starts");
        let port = application.port();
        let state = application.state().clone();
        let handle = application.handle();
        let task = tokio::spawn(application.run_until_stopped());
        let base = format!("http://127.0.0.1:{port}");
        TestApp {
            sandbox: sandbox.clone(),
            port,
            state,
            admin: Browser::new(&base),
            handle,
            task,
        }
    }

    /// Makes an account (unless it exists) and a browser signed in with it.
    pub async fn browser_as(&self, username: &str, role: &str, teams: &[&str]) -> Browser {
        self.create_account(username, role, teams).await;
        let mut browser = Browser::new(&format!("http://127.0.0.1:{}", self.port));
        let response = browser.sign_in(username, TEST_PASSWORD).await;
        assert_eq!(response.status(), 303, "{username} signs in");
        browser
    }

    pub async fn create_account(&self, username: &str, role: &str, teams: &[&str]) {
        if self
            .state
            .store
            .find_user(username)
            .await
            .expect("store")
            .is_some()
        {
            return;
        }
        let teams: Vec<String> = teams.iter().map(|t| (*t).to_owned()).collect();
        certdeck::auth::accounts::add(
            &self.state.store,
            "test",
            username,
            role.parse().expect("role"),
            &teams,
            &secrecy::SecretString::from(TEST_PASSWORD),
        )
        .await
        .expect("account");
    }

    /// Reads the inventory from AWS again.
    pub async fn refresh(&self) {
        self.state
            .inventory
            .refresh()
            .await
            .expect("inventory refresh");
    }

    /// The body of a page that must answer 200, as the admin sees it.
    pub async fn get_text(&self, path: &str) -> String {
        self.admin.get_text(path).await
    }

    /// The admin's change form of `pool_id` (200).
    pub async fn change_form(&self, pool_id: &str) -> String {
        self.admin.change_form(pool_id).await
    }

    /// The admin's audit log page with `query` (200).
    pub async fn audit_page(&self, query: &str) -> String {
        self.admin.audit_page(query).await
    }

    /// The admin's view of pool `pool_id` (200).
    pub async fn pool_page(&self, pool_id: &str) -> String {
        self.admin.pool_page(pool_id).await
    }

    /// The audit log as CSV, as the admin exports it (200).
    pub async fn audit_csv(&self, query: &str) -> String {
        self.admin.audit_csv(query).await
    }

    /// The audit log as JSON lines, as the admin exports it (200).
    pub async fn audit_jsonl(&self, query: &str) -> String {
        self.admin.audit_jsonl(query).await
    }

    /// The admin's dashboard with `query` (200).
    pub async fn dashboard(&self, query: &str) -> String {
        self.admin.dashboard(query).await
    }

    /// The newest `limit` audit entries of `action`.
    pub async fn audit_of(
        &self,
        action: &str,
        limit: i64,
    ) -> Vec<certdeck::domain::audit::AuditEntry> {
        let filter = certdeck::store::AuditFilter {
            action: Some(action.to_owned()),
            ..Default::default()
        };
        self.state
            .store
            .audit_page(&filter, None, limit)
            .await
            .expect("audit")
    }

    /// The id of the pool named `name`.
    pub async fn pool_id(&self, name: &str) -> String {
        let view = self.state.inventory.view();
        view.rows
            .iter()
            .find(|r| r.pool_name == name)
            .map(|r| r.pool_id.clone())
            .unwrap_or_else(|| panic!("no pool named {name}"))
    }

    /// Stops the console and waits until it has let go of everything (its SQLite
    /// lock included), so that another may start on the same database.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

/// What a `certdeck` CLI command run by a test needs in its environment besides the
/// database URL.
pub fn cli_env() -> Vec<(String, String)> {
    vec![("CERTDECK_AUDIT_KEY".to_owned(), TEST_AUDIT_KEY.to_owned())]
}

/// A new temporary directory, removed with everything in it when the guard drops: keep
/// it alive as long as anything (a console, a CLI run) uses it.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("certdeck-test-")
        .tempdir()
        .expect("temp dir")
}

/// A new, empty PostgreSQL database (PostgreSQL on 127.0.0.1:5432, or
/// `CERTDECK_TEST_POSTGRES_URL`), for one test.
pub async fn fresh_postgres_url() -> String {
    use sqlx::Connection;
    let server = std::env::var("CERTDECK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("certdeck_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (see .ci/test)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    format!("{server}/{name}")
}

/// Everything the test binary logged so far (the subscriber is installed by the first
/// console a test starts; it records at debug level).
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().map(|l| l.clone()).unwrap_or_default()).into_owned()
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = LOGS.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("certdeck=trace,actix_web=debug,actix_session=trace,sqlx=debug,info")
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .try_init();
    });
}

/// The certificate `<option>`s of the change form: (value, disabled, text).
pub fn options_of(html: &str) -> Vec<(String, bool, String)> {
    let document = scraper::Html::parse_document(html);
    document
        .select(&selector("select[name=certificate_arn] option"))
        .map(|option| {
            (
                option.value().attr("value").unwrap_or_default().to_owned(),
                option.value().attr("disabled").is_some(),
                option.text().collect(),
            )
        })
        .collect()
}

/// The value of the form field named `name`.
pub fn field(html: &str, name: &str) -> String {
    attributes(html, &format!("[name={name}]"), "value")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// Opens the change form of `pool_id` and confirms its recommended certificate.
pub async fn confirm_recommended(browser: &Browser, pool_id: &str) -> reqwest::Response {
    let form = browser.change_form(pool_id).await;
    let token = field(&form, "submission_token");
    let arn = options_of(&form)
        .into_iter()
        .find(|o| !o.1)
        .expect("an eligible certificate")
        .0;
    browser.confirm_change(pool_id, &arn, &token).await
}

/// A pool `name` of `team` (its `team` tag) with custom domain `domain` on certificate
/// `arn`, made in the sandbox through the SDK; its id.
pub async fn pool_with_domain(
    sandbox: &TestSandbox,
    name: &str,
    team: &str,
    domain: &str,
    arn: &str,
) -> String {
    let cognito = sandbox.cognito("us-east-1").await;
    let pool = cognito
        .create_user_pool()
        .pool_name(name)
        .user_pool_tags("team", team)
        .send()
        .await
        .expect("CreateUserPool");
    let id = pool
        .user_pool()
        .and_then(|p| p.id())
        .expect("id")
        .to_owned();
    cognito
        .create_user_pool_domain()
        .domain(domain)
        .user_pool_id(&id)
        .custom_domain_config(
            aws_sdk_cognitoidentityprovider::types::CustomDomainConfigType::builder()
                .certificate_arn(arn)
                .build()
                .expect("config"),
        )
        .send()
        .await
        .expect("CreateUserPoolDomain");
    id
}
