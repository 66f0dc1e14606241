//! Builds the console: store, AWS clients, inventory, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::aws::AwsClients;
use crate::configuration::Settings;
use crate::inventory::Inventory;
use crate::routes;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub inventory: Arc<Inventory>,
    pub store: Store,
}

/// A bound, not yet running console.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
    refresher: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects the store and AWS, loads the stored inventory, binds the listener and
    /// starts the background refresh (its first pass runs at once).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url).await?;
        let aws = AwsClients::new(&settings)
            .await
            .context("configuring the AWS SDK")?;
        let inventory =
            Arc::new(Inventory::load(aws, store.clone(), settings.team_tag.clone()).await?);
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding the console to {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let refresher = inventory.spawn_refresher(settings.inventory_refresh);
        let state = AppState {
            settings: Arc::new(settings),
            inventory,
            store,
        };
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .wrap(
                    actix_web::middleware::Logger::new("%a \"%r\" %s %Dms")
                        .log_target("certdeck::http"),
                )
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
            refresher,
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
        self.refresher.abort();
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
