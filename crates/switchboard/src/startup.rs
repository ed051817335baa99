//! Building and running the service: `Application::build` wires configuration, database, tenant
//! and worker together and binds the listener (port 0 works, for tests).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use domain::ids::TenantSlug;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::api_keys::KeyCache;
use crate::config::Config;
pub use crate::context_store::memory::Role as ContextRole;
use crate::credentials::{FreshchatCredentials, FreshdeskCredentials};
use crate::crypto::{KeySource, MasterKey};
use crate::db::Db;
use crate::integrations::Integrations;
use crate::jobs::queue::ClaimScope;
use crate::jobs::registry::Registry;
use crate::jobs::schedule;
use crate::jobs::worker::{Worker, WorkerOptions, YieldTo};
use crate::state::{AppState, Services};
use crate::tenants::{NewTenant, Tenant, TenantDirectory, TenantError};
use crate::{clock, embedded_sandbox, http, inbox, process, sync};
use sandbox::Sandbox;
use url::Url;

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub migrate: bool,
    pub worker: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            worker: true,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    registry: Arc<Registry>,
    options: ServeOptions,
    sandbox: Option<Sandbox>,
    base: Url,
}

/// `SWITCHBOARD_PUBLIC_URL`, else the address actually bound (port 0 becomes the real port).
pub fn public_base_url(config: &Config, bound: Option<SocketAddr>) -> Url {
    match (&config.public_url, bound) {
        (Some(url), _) => url.clone(),
        (None, Some(addr)) => {
            let mut c = config.clone();
            c.addr = addr;
            c.public_base_url()
        }
        (None, None) => config.public_base_url(),
    }
}

/// Connects, migrates if asked, and refuses to run on a schema this build does not know.
pub async fn connect(config: &Config, migrate: bool) -> anyhow::Result<Db> {
    if let Some(path) = config.database_url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        if let Some(parent) = std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the data folder {}", parent.display()))?;
        }
    }
    let db = Db::connect(&config.database_url, config.database_max_connections)
        .await
        .with_context(|| {
            format!(
                "connecting to DATABASE_URL {}",
                crate::db::redact_url(&config.database_url)
            )
        })?;
    if migrate {
        db.migrate().await.context("applying database migrations")?;
    } else if !db.migrations_applied().await? {
        anyhow::bail!("the database schema is behind this version: run `switchboard migrate` first");
    }
    Ok(db)
}

/// The state shared by the HTTP server, the worker and CLI commands; `contexts` says whether this
/// process writes customers' live contexts (the server) or reads them.
pub async fn state(config: Config, db: Db, contexts: ContextRole) -> anyhow::Result<AppState> {
    let (master_key, source) = MasterKey::load_or_create(config.master_key.as_ref(), &config.data_dir)?;
    if let KeySource::DevelopmentFile { path, created } = &source {
        warn!(
            path = %path.display(),
            created,
            "SWITCHBOARD_MASTER_KEY is not set: provider credentials are encrypted with a DEVELOPMENT key kept next to the data. \
             Set SWITCHBOARD_MASTER_KEY (openssl rand -hex 32) in production."
        );
    }
    let http = providers::http::build_client(&providers::http::HttpConfig {
        timeout: config.provider_timeout,
        ..Default::default()
    })
    .context("building the HTTP client")?;
    let master_key = Arc::new(master_key);
    Ok(AppState::new(Services {
        integrations: Integrations::new(db.clone(), master_key.clone(), http.clone()),
        tenants: TenantDirectory::new(db.clone()),
        keys: KeyCache::new(db.clone()),
        contexts: crate::context_store::from_config(&config, &db, contexts).await?,
        gates: Arc::new(crate::sync::gate::Gates::new()),
        ingest: crate::inbox::ingest::Ingest::start(db.clone(), config.ingest_queue),
        recorder: crate::incidences::Recorder::start(db.clone()),
        shared: crate::db::shared::SharedStatements::new(&db),
        customers: crate::customers::CustomerDirectory::new(db.clone()),
        db,
        master_key,
        http,
        config,
    }))
}

/// Every job kind this build runs.
pub fn registry(state: &AppState) -> Registry {
    let mut registry = Registry::new();
    let processors = inbox::Processors::new(state.db.clone())
        .with(
            inbox::Provider::Freshchat,
            Arc::new(process::freshchat::FreshchatEvents { state: state.clone() }),
        )
        .with(
            inbox::Provider::Freshdesk,
            Arc::new(process::freshdesk::FreshdeskEvents { state: state.clone() }),
        );
    registry.register(move |job: inbox::ProcessEvent, ctx| {
        let processors = processors.clone();
        async move { processors.run(job, ctx).await }
    });
    let s = state.clone();
    registry.register(move |job: sync::ticket::TicketSync, ctx| sync::ticket::run(s.clone(), job, ctx));
    let s = state.clone();
    registry.register(move |job: sync::chat::ChatSync, ctx| sync::chat::run(s.clone(), job, ctx));
    let s = state.clone();
    registry.register(move |job: sync::all::SyncAll, ctx| sync::all::run(s.clone(), job, ctx));
    let pusher = crate::context_store::push::Pusher::new(state.clone());
    registry.register(move |job: crate::context_store::push::PushContext, ctx| {
        let pusher = pusher.clone();
        async move { pusher.run(job, ctx).await }
    });
    registry.register(schedule::purge_finished_jobs);
    registry.register(crate::context_store::memory::purge_expired_contexts);
    registry
}

/// The `default` tenant, created from the environment on first start; credentials and the
/// settings given explicitly in the environment are applied at every start.
pub async fn ensure_default_tenant(state: &AppState) -> anyhow::Result<Arc<Tenant>> {
    let env = &state.config.default_tenant;
    let now = clock::now();
    let tenant = match state.tenants.by_slug(TenantSlug::DEFAULT).await? {
        Some(t) => t,
        None => {
            let new = NewTenant {
                slug: TenantSlug::default_tenant(),
                name: env.name.clone(),
                currency: env.currency,
                timezone: env.timezone,
                settings: None,
            };
            match state.tenants.create(new, now).await {
                Ok(t) => t,
                // Another process created it first.
                Err(TenantError::Exists(_)) => state
                    .tenants
                    .by_slug(TenantSlug::DEFAULT)
                    .await?
                    .context("default tenant vanished")?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    let mut settings = tenant.settings.clone();
    if let Some(rate) = env.agent_hourly_rate {
        settings.agent_hourly_rate = rate;
    }
    if let Some(enabled) = env.friction_detection_enabled {
        settings.friction.enabled = enabled;
    }
    if let Some(enabled) = env.channel_routing_enabled {
        settings.routing.enabled = enabled;
    }
    let tenant = if settings != tenant.settings {
        state.tenants.update_settings(tenant.id, &settings, now).await?
    } else {
        tenant
    };

    if let Some(token) = &env.freshchat.app_key {
        let creds = FreshchatCredentials {
            api_url: env
                .freshchat
                .api_url
                .clone()
                .unwrap_or_else(|| url::Url::parse("https://api.freshchat.com/v2").expect("constant URL parses")),
            app_id: env.freshchat.app_id.clone(),
            api_token: token.clone(),
            webhook_public_key: env.freshchat.webhook_public_key.clone(),
            webhook_secret: env.freshchat.webhook_secret.clone(),
        };
        state.integrations.store(tenant.id, &creds).await?;
    }
    if let (Some(base_url), Some(api_key)) = (&env.freshdesk.base_url, &env.freshdesk.api_key) {
        let creds = FreshdeskCredentials {
            base_url: base_url.clone(),
            api_key: api_key.clone(),
            webhook_token: env.freshdesk.webhook_token.clone(),
        };
        state.integrations.store(tenant.id, &creds).await?;
    }
    Ok(tenant)
}

impl Application {
    pub async fn build(mut config: Config, options: ServeOptions) -> anyhow::Result<Application> {
        let db = connect(&config, options.migrate).await?;
        let addr = config.addr;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on SWITCHBOARD_ADDR {addr}"))?;
        // From here on the public URL is known, even when the port was 0.
        let base = public_base_url(&config, listener.local_addr().ok());
        config.public_url = Some(base.clone());
        let state = state(config, db, ContextRole::Writer).await?;
        ensure_default_tenant(&state).await?;
        let registry = Arc::new(registry(&state));
        let sandbox = match embedded_sandbox::wanted(&state).await? {
            true => Some(embedded_sandbox::start(&state, &base).await?),
            false => None,
        };
        let extra = sandbox
            .as_ref()
            .map(|s| axum::Router::new().nest("/sandbox", s.router()));
        let router = http::router(state.clone(), extra);
        Ok(Application {
            listener,
            router,
            state,
            registry,
            options,
            sandbox,
            base,
        })
    }

    /// The sandbox mounted under `/sandbox`, when it is.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// The base URL providers and people reach this server at.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.addr)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Serves until `shutdown` is cancelled, then finishes in-flight requests and jobs.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let worker = self
            .options
            .worker
            .then(|| spawn_worker(&self.state, self.registry.clone(), ClaimScope::default(), &shutdown));
        info!(addr = %self.local_addr(), "listening");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
            .context("serving HTTP")?;
        if let Some(w) = worker {
            let _ = w.await;
        }
        self.state.db.close().await;
        Ok(())
    }
}

/// A worker and the periodic-job scheduler, until `shutdown`.
pub fn spawn_worker(
    state: &AppState,
    registry: Arc<Registry>,
    scope: ClaimScope,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let periodic = schedule::defaults()
        .into_iter()
        .chain(crate::context_store::memory::periodic())
        .collect();
    let scheduled = tokio::spawn(schedule::run(state.db.clone(), periodic, shutdown.clone()));
    // Jobs make the provider calls: this process follows every process's provider holds.
    state.gates.follow(&state.db, shutdown.clone());
    let mut options = worker_options(&state.config, scope);
    // This process also stores webhooks: they come first when they queue.
    let ingest = state.ingest.clone();
    options.yield_to = Some(YieldTo(Arc::new(move || ingest.pressed())));
    let worker = Worker::new(state.db.clone(), registry, options);
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        worker.run(shutdown).await;
        let _ = scheduled.await;
    })
}

pub fn worker_options(config: &Config, scope: ClaimScope) -> WorkerOptions {
    WorkerOptions {
        id: WorkerOptions::new_id(),
        concurrency: config.worker_concurrency,
        lease: config.job_lease,
        poll_interval: config.poll_interval,
        claim_gap: config.claim_gap,
        retry_base: config.retry_base,
        shutdown_grace: config.shutdown_grace,
        scope,
        yield_to: None,
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    warn!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        info!("shutting down: finishing in-flight requests and jobs");
        token.cancel();
    });
}
