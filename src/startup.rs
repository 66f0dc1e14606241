//! Builds the console: store, AWS clients, inventory, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, TtlExtensionPolicy};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::auth::password::{self, PasswordChecker};
use crate::auth::refusals::RefusalLog;
use crate::auth::sign_in::SignInPolicy;
use crate::auth::{self, Role};
use crate::aws::AwsAccounts;
use crate::configuration::Settings;
use crate::inventory::Inventory;
use crate::propagation::probe::Probe;
use crate::propagation::watcher::Watcher;
use crate::routes;
pub use crate::state::AppState;
use crate::store::Store;
use crate::supervisor::Supervisor;

/// A bound, not yet running console.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    /// On SQLite: the lock that keeps a second console off the database file, held
    /// until the server has stopped.
    sqlite_lock: Option<std::fs::File>,
}

impl Application {
    /// Connects the store and AWS, loads the stored inventory, binds the listener and
    /// starts the background refresh (its first pass runs at once).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let audit_key = settings.audit_key.clone().context(
            "the audit log needs a key: set CERTDECK_AUDIT_KEY (at least 32 characters, e.g. \
             `openssl rand -hex 32`) or CERTDECK_AUDIT_KEY_FILE, and keep it out of the database",
        )?;
        // Once per process; every console of the process counts into it.
        crate::metrics::install();
        let sqlite_lock = Store::lock_sqlite_file(&settings.database_url)?;
        let store = Store::connect(&settings.database_url)
            .await?
            .with_audit_key(audit_key);
        store.establish_audit_key().await?;
        create_initial_accounts(&store, &settings).await?;
        let cookie_key = Key::derive_from(
            store
                .shared_secret("cookie_key", auth::new_token)
                .await?
                .as_bytes(),
        );
        let aws = AwsAccounts::new(&settings)
            .await
            .context("configuring the AWS SDK")?;
        match crate::propagation::reconcile_pending(&store, &aws, settings.propagation_timeout)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(changes = n, "settled changes left pending by a stop"),
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "pending changes could not be settled"
            ),
        }
        // This process among the replicas sharing the database (PRODUCT.md §11).
        let replica = uuid::Uuid::new_v4().to_string();
        let inventory = Arc::new(
            Inventory::load(aws, store.clone(), settings.team_tag.clone())
                .await?
                .with_replica(&replica, settings.replica_lease),
        );
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding the console to {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let supervisor = Supervisor::default();
        supervisor.spawn(
            "inventory refresher",
            inventory.clone().run_refresher(settings.inventory_refresh),
        );
        let probe = Probe::new(settings.edge_addr.clone(), settings.edge_ca_file.as_deref())
            .context("configuring the TLS probe")?;
        let watcher = Arc::new(
            Watcher::new(store.clone(), inventory.clone(), probe, &settings).with_replica(&replica),
        );
        watcher.load().await?;
        supervisor.spawn("propagation watcher", watcher.clone().run());
        supervisor.spawn("edge sweeper", watcher.clone().run_sweeps());
        if store.backend() == crate::store::Backend::Postgres {
            supervisor.spawn(
                "phase listener",
                watcher.clone().listen(settings.database_url.clone()),
            );
        }
        supervisor.spawn(
            "replica heartbeat",
            heartbeat(store.clone(), inventory.clone(), replica.clone()),
        );
        let secure_cookies = settings.secure_cookies;
        let refusals = Arc::new(RefusalLog::new(store.clone()));
        let sign_in_policy = SignInPolicy::default();
        let password_checker = Arc::new(PasswordChecker::per_core());
        supervisor.spawn(
            "housekeeping",
            housekeeping(
                store.clone(),
                refusals.clone(),
                password_checker.clone(),
                sign_in_policy.window_secs,
            ),
        );
        let oidc = settings
            .oidc
            .clone()
            .map(auth::oidc::OidcClient::new)
            .transpose()?
            .map(Arc::new);
        let notifier = Arc::new(
            crate::notify::Notifier::new(
                settings.notifications.clone(),
                store.clone(),
                inventory.clone(),
                &replica,
            )
            .context("configuring notifications")?,
        );
        notifier.prepare().await?;
        supervisor.spawn("notifier", notifier.clone().run());
        let state = AppState {
            notifier,
            oidc,
            settings: Arc::new(settings),
            inventory,
            store: store.clone(),
            watcher,
            cookie_key: cookie_key.clone(),
            refusals,
            password_checker,
            sign_in_policy,
            supervisor,
            streams: Arc::new(crate::propagation::streams::StreamSlots::for_this_process()),
            audit_watch: Default::default(),
            replica: replica.as_str().into(),
        };
        state
            .supervisor
            .spawn("bulk runner", crate::bulk::run(state.clone()));
        state.supervisor.spawn(
            "audit anchor",
            state
                .clone()
                .run_audit_anchor(state.settings.audit_anchor_interval),
        );
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(store.clone(), cookie_key.clone())
                .cookie_name(session_cookie_name(secure_cookies).to_owned())
                .cookie_secure(secure_cookies)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Strict)
                .session_lifecycle(
                    BrowserSession::default()
                        .state_ttl(actix_web::cookie::time::Duration::seconds(
                            auth::ABSOLUTE_TIMEOUT_SECS,
                        ))
                        .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
                )
                .build();
            App::new()
                .wrap(from_fn(routes::guard::guard))
                .wrap(from_fn(routes::render_errors))
                .wrap(sessions)
                .wrap(from_fn(no_store))
                .wrap(security_headers(secure_cookies))
                .wrap(tracing_actix_web::TracingLogger::default())
                .wrap(from_fn(crate::metrics::http::record))
                .app_data(data.clone())
                .configure(routes::configure)
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(5)
        .run();
        Ok(Self {
            port,
            server,
            state,
            sqlite_lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the server is stopped (`handle().stop()`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Held until everything below has used the database.
        let _sqlite_lock = self.sqlite_lock;
        let result = self.server.await;
        self.state.supervisor.abort_all();
        // The other replicas take over at once: the reader's lease, the changes this
        // replica watched, and its share of the quotas.
        self.state.inventory.resign().await;
        let replica = &*self.state.replica;
        if let Err(e) = self.state.store.release_propagations(replica).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "watched changes were not released"
            );
        }
        if let Err(e) = self.state.store.release_bulk_leases(replica).await {
            tracing::warn!(error = format!("{e:#}"), "bulk runs were not released");
        }
        if let Err(e) = self.state.store.replica_gone(replica).await {
            tracing::warn!(error = format!("{e:#}"), "the heartbeat was not removed");
        }
        // Refusals counted but not yet written.
        if let Err(e) = self.state.refusals.flush(true).await {
            tracing::error!(
                error = format!("{e:#}"),
                "refused requests could not be audited"
            );
        }
        // The entries of the last moments are anchored too.
        if let Err(e) = self.state.write_audit_anchor_once().await {
            tracing::error!(
                error = format!("{e:#}"),
                "the audit head was not written out"
            );
        }
        result
    }

    /// Serves until Ctrl-C or SIGTERM, then stops gracefully.
    pub async fn run_until_signal(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            wait_for_shutdown().await;
            handle.stop(true).await;
        });
        self.run_until_stopped().await
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Tells the other replicas this one is alive, every few seconds, and sets this
/// replica's share of the AWS quotas from their number: the inventory's reader takes
/// most of the read quotas (it makes nearly all the calls), the others split the rest
/// for the calls people wait on. Alone, a replica has all of it.
async fn heartbeat(store: Store, inventory: Arc<Inventory>, replica: String) {
    /// The reader's share when other replicas are live.
    const READER_SHARE: f64 = 0.8;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    let mut last = 0;
    loop {
        tick.tick().await;
        let live = match store.replica_heartbeat(&replica).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "the replica heartbeat was not written"
                );
                continue;
            }
        };
        let share = match (live, inventory.is_reader()) {
            (1, _) => 1.0,
            (_, true) => READER_SHARE,
            (n, false) => (1.0 - READER_SHARE) / (n - 1) as f64,
        };
        inventory.accounts().set_quota_share(share);
        if live != last {
            tracing::info!(replicas = live, share, "live replicas");
            last = live;
        }
    }
}

/// Writes counted refusals each finished minute, drops sign-in counters whose window
/// ended, and lets go of password-check memory left idle.
async fn housekeeping(
    store: Store,
    refusals: Arc<RefusalLog>,
    password_checker: Arc<PasswordChecker>,
    window_secs: i64,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    let mut rounds: u64 = 0;
    loop {
        tick.tick().await;
        password_checker.release_idle(crate::auth::password::MEMORY_KEPT_IDLE);
        if let Err(e) = refusals.flush(false).await {
            tracing::error!(
                error = format!("{e:#}"),
                "refused requests could not be audited"
            );
        }
        rounds += 1;
        if rounds.is_multiple_of(60) {
            let expired = time::OffsetDateTime::now_utc().unix_timestamp() - window_secs;
            if let Err(e) = store.prune_sign_in_counters(expired).await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "sign-in counters could not be pruned"
                );
            }
        }
    }
}

/// The session cookie's name. Behind HTTPS it carries the `__Host-` prefix, with which
/// browsers take it only when Secure, for `/` and without a Domain, so that no sibling
/// host can set or shadow it.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-certdeck_session"
    } else {
        "certdeck_session"
    }
}

/// `Cache-Control: no-store` on every response but the static files': pages,
/// redirects, errors, exports and the API show what one signed-in user may see, which
/// neither a browser's history nor a proxy may keep. (An `Err` from an inner middleware
/// passes by untouched: the request cannot be kept to build its response here, since
/// routing needs it unshared. Handlers' errors are responses and get the header.)
async fn no_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let static_file = req.path().starts_with("/static/");
    let mut response = next.call(req).await?.map_into_boxed_body();
    let headers = response.headers_mut();
    if !(static_file && headers.contains_key(CACHE_CONTROL)) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

/// On every response: no inline script, no framing, no sniffing, no referrer; HSTS
/// when cookies are Secure (that is, behind HTTPS).
fn security_headers(secure: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
        .add(("x-content-type-options", "nosniff"))
        .add(("referrer-policy", "no-referrer"))
        .add(("x-frame-options", "DENY"));
    if secure {
        headers.add((
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// `CERTDECK_BOOTSTRAP_ADMIN_PASSWORD` makes `admin` when no account exists; demo
/// accounts are (re)made with the passwords `certdeck demo` printed.
async fn create_initial_accounts(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    if let Some(password) = &settings.bootstrap_admin_password {
        password::check_strength(password).map_err(|why| {
            anyhow::anyhow!("CERTDECK_BOOTSTRAP_ADMIN_PASSWORD is too weak: {why}")
        })?;
    }
    if let Some(password) = &settings.bootstrap_admin_password
        && store.count_users().await? == 0
    {
        auth::accounts::add(store, "system", "admin", Role::Admin, &[], password).await?;
        tracing::info!("created the bootstrap account admin");
    }
    for account in &settings.demo_accounts {
        let role: Role = account.role.parse().map_err(anyhow::Error::msg)?;
        let teams: Vec<String> = account.team.iter().cloned().collect();
        if store.find_user(&account.username).await?.is_some() {
            store.set_role(&account.username, role, &teams).await?;
            store
                .set_password_hash(&account.username, &password::hash(&account.password)?)
                .await?;
        } else {
            auth::accounts::add(
                store,
                "demo",
                &account.username,
                role,
                &teams,
                &account.password,
            )
            .await?;
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
