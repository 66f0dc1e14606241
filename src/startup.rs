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
use crate::aws::AwsClients;
use crate::configuration::Settings;
use crate::inventory::Inventory;
use crate::propagation::probe::Probe;
use crate::propagation::watcher::Watcher;
use crate::routes;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub inventory: Arc<Inventory>,
    pub store: Store,
    pub watcher: Arc<Watcher>,
    /// Signs the sign-in form's CSRF cookie (and session cookies).
    pub cookie_key: Key,
    /// Refusals of clients that are not signed in, counted per address and minute.
    pub refusals: Arc<RefusalLog>,
    /// At most one password check per core at once.
    pub password_checker: Arc<PasswordChecker>,
    pub sign_in_policy: SignInPolicy,
    /// The background tasks and whether they still run.
    pub supervisor: Supervisor,
    /// The live streams open now (capped per session and in all).
    pub streams: Arc<routes::StreamSlots>,
    /// The audit chain as last verified, carried forward entry by entry.
    audit_watch: Arc<tokio::sync::Mutex<AuditWatch>>,
}

/// What the console knows of its audit chain between verifications.
#[derive(Default)]
struct AuditWatch {
    /// The last full verification (from the first entry).
    full_at: Option<std::time::Instant>,
    /// The last verification and what it found.
    checked: Option<(std::time::Instant, AuditChainStatus)>,
    /// The last entry verified, where the next verification carries on.
    verified: Option<(i64, String)>,
    /// The head last written out (anchor file and log).
    anchored: Option<(i64, String)>,
}

/// The audit chain as the last verification found it (`/audit` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditChainStatus {
    /// Entries 1 to this one were verified; later ones were not (yet).
    pub verified_through: i64,
    /// Where the chain breaks, if it does.
    pub broken: Option<String>,
    /// When (RFC 3339, UTC).
    pub checked_at: String,
    /// The first keyed entry; earlier ones have the key-less form.
    pub keyed_from: Option<i64>,
}

/// How often the chain is verified from its first entry; in between, each verification
/// carries on from the last entry verified, so a page view reads only newer entries.
const AUDIT_FULL_VERIFY_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// How long a broken chain's verification is shown before it is redone (it reads the
/// whole log).
const AUDIT_BROKEN_TTL: std::time::Duration = std::time::Duration::from_secs(30);

impl AppState {
    /// Verifies the audit chain (entries added since the last verification, or all of
    /// it now and then) and says how far it is intact.
    pub async fn audit_chain_status(&self) -> anyhow::Result<AuditChainStatus> {
        let mut watch = self.audit_watch.lock().await;
        if let Some((at, status)) = &watch.checked
            && status.broken.is_some()
            && at.elapsed() < AUDIT_BROKEN_TTL
        {
            return Ok(status.clone());
        }
        let full = watch
            .full_at
            .is_none_or(|at| at.elapsed() >= AUDIT_FULL_VERIFY_EVERY)
            || watch
                .checked
                .as_ref()
                .is_some_and(|(_, s)| s.broken.is_some());
        let resume = if full { None } else { watch.verified.clone() };
        let report = self.store.verify_audit_chain(resume, &[]).await?;
        if full {
            watch.full_at = Some(std::time::Instant::now());
        }
        let status = AuditChainStatus {
            verified_through: report.verified_id,
            broken: report.outcome.as_ref().err().map(ToString::to_string),
            checked_at: crate::store::audit_time(time::OffsetDateTime::now_utc()),
            keyed_from: report.keyed_from,
        };
        watch.verified = Some((report.verified_id, report.verified_hash));
        watch.checked = Some((std::time::Instant::now(), status.clone()));
        Ok(status)
    }

    /// [`Self::audit_chain_status`] for a page showing `entries`: each entry the status
    /// counts as verified has its own seal checked too, and any that fails makes the chain
    /// verified again from the first entry at once, so an entry changed since the last
    /// full verification is never shown as verified.
    pub async fn audit_chain_status_for(
        &self,
        entries: &[crate::domain::audit::AuditEntry],
    ) -> anyhow::Result<AuditChainStatus> {
        let status = self.audit_chain_status().await?;
        let sealing = self.store.audit_sealing(status.keyed_from);
        let altered = entries.iter().any(|e| {
            e.id <= status.verified_through
                && sealing
                    .hash_of(&e.prev_hash, e.id, &e.at, &e.record)
                    .as_ref()
                    != Ok(&e.hash)
        });
        if !altered {
            return Ok(status);
        }
        {
            let mut watch = self.audit_watch.lock().await;
            watch.full_at = None;
            watch.checked = None;
        }
        self.audit_chain_status().await
    }

    /// One round of the anchor: verifies the entries added since the last round and, if
    /// the head moved, writes it `(count, hash, time)` to the log and appends it to the
    /// anchor file. A broken chain is reported, not anchored.
    pub async fn write_audit_anchor_once(
        &self,
    ) -> anyhow::Result<Option<crate::domain::audit::AuditAnchor>> {
        let status = self.audit_chain_status().await?;
        if let Some(broken) = status.broken {
            tracing::error!(%broken, "the audit chain is broken; its head is not anchored");
            return Ok(None);
        }
        let mut watch = self.audit_watch.lock().await;
        let Some((count, hash)) = watch.verified.clone() else {
            return Ok(None);
        };
        if watch.anchored.as_ref() == Some(&(count, hash.clone())) {
            return Ok(None);
        }
        let anchor = crate::domain::audit::AuditAnchor {
            count,
            hash,
            at: status.checked_at,
        };
        tracing::info!(
            target: "certdeck::audit",
            count = anchor.count,
            hash = %anchor.hash,
            at = %anchor.at,
            "audit head"
        );
        if let Some(path) = &self.settings.audit_anchor_file {
            append_anchor(path, &anchor)
                .with_context(|| format!("appending the audit head to {}", path.display()))?;
        }
        watch.anchored = Some((anchor.count, anchor.hash.clone()));
        Ok(Some(anchor))
    }

    /// Writes the audit head out every `period` when entries were added.
    async fn run_audit_anchor(self, period: std::time::Duration) {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.write_audit_anchor_once().await {
                tracing::error!(
                    error = format!("{e:#}"),
                    "the audit head was not written out"
                );
            }
        }
    }
}

/// Appends one JSON line to the anchor file (made owner-only when new).
fn append_anchor(
    path: &std::path::Path,
    anchor: &crate::domain::audit::AuditAnchor,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let mut line = serde_json::to_vec(anchor)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()?;
    Ok(())
}

/// The background work of a console (inventory refresher, propagation watcher,
/// housekeeping), each a task whose end is noticed: a panic or an exit is logged with
/// its reason and shown on `/readyz` until the process restarts.
#[derive(Clone, Default)]
pub struct Supervisor {
    tasks: Arc<std::sync::Mutex<Vec<TaskStatus>>>,
    running: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// A supervised task: its name, and why it stopped if it did.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    pub name: &'static str,
    pub stopped: Option<String>,
}

impl Supervisor {
    /// Runs `task` under supervision.
    pub fn spawn(
        &self,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(task);
        if let Ok(mut running) = self.running.lock() {
            running.push(handle.abort_handle());
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(TaskStatus {
                name,
                stopped: None,
            });
        }
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            let reason = match handle.await {
                Ok(()) => "exited".to_owned(),
                // Aborted at shutdown: nothing went wrong.
                Err(e) if e.is_cancelled() => return,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
                    Err(e) => format!("failed: {e}"),
                },
            };
            tracing::error!(task = name, reason, "a background task stopped");
            if let Ok(mut tasks) = tasks.lock()
                && let Some(status) = tasks
                    .iter_mut()
                    .find(|t| t.name == name && t.stopped.is_none())
            {
                status.stopped = Some(reason);
            }
        });
    }

    /// Every supervised task and whether it still runs.
    pub fn statuses(&self) -> Vec<TaskStatus> {
        self.tasks.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Stops every task (at shutdown).
    fn abort_all(&self) {
        if let Ok(running) = self.running.lock() {
            for task in running.iter() {
                task.abort();
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// A bound, not yet running console.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Connects the store and AWS, loads the stored inventory, binds the listener and
    /// starts the background refresh (its first pass runs at once).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let audit_key = settings.audit_key.clone().context(
            "the audit log needs a key: set CERTDECK_AUDIT_KEY (at least 32 characters, e.g. \
             `openssl rand -hex 32`) or CERTDECK_AUDIT_KEY_FILE, and keep it out of the database",
        )?;
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
        let aws = AwsClients::new(&settings)
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
        let inventory =
            Arc::new(Inventory::load(aws, store.clone(), settings.team_tag.clone()).await?);
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
        let watcher = Arc::new(Watcher::new(
            store.clone(),
            inventory.clone(),
            probe,
            &settings,
        ));
        watcher.load().await?;
        supervisor.spawn("propagation watcher", watcher.clone().run());
        let secure_cookies = settings.secure_cookies;
        let refusals = Arc::new(RefusalLog::new(store.clone()));
        let sign_in_policy = SignInPolicy::default();
        supervisor.spawn(
            "housekeeping",
            housekeeping(store.clone(), refusals.clone(), sign_in_policy.window_secs),
        );
        let state = AppState {
            settings: Arc::new(settings),
            inventory,
            store: store.clone(),
            watcher,
            cookie_key: cookie_key.clone(),
            refusals,
            password_checker: Arc::new(PasswordChecker::per_core()),
            sign_in_policy,
            supervisor,
            streams: Default::default(),
            audit_watch: Default::default(),
        };
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
                .wrap(from_fn(auth::guard))
                .wrap(from_fn(routes::render_errors))
                .wrap(sessions)
                .wrap(from_fn(no_store))
                .wrap(security_headers(secure_cookies))
                .wrap(tracing_actix_web::TracingLogger::default())
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
        let result = self.server.await;
        self.state.supervisor.abort_all();
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
            crate::cli::wait_for_shutdown().await;
            handle.stop(true).await;
        });
        self.run_until_stopped().await
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}

/// Writes counted refusals each finished minute and drops sign-in counters whose
/// window ended.
async fn housekeeping(store: Store, refusals: Arc<RefusalLog>, window_secs: i64) {
    {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
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
            store
                .set_role(&account.username, role.as_str(), &teams)
                .await?;
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
