//! `spawn_app()` and friends.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantSlug;
use domain::money::Currency;
use figment::Figment;
use figment::providers::Serialized;
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;
use switchboard::config::Config;
use switchboard::jobs::queue::ClaimScope;
use switchboard::jobs::registry::JobHandler;
use switchboard::jobs::worker::{Worker, WorkerOptions};
use switchboard::startup::{Application, ServeOptions};
use switchboard::state::AppState;
use switchboard::tenants::{NewTenant, Tenant};
use tokio_util::sync::CancellationToken;

/// A fixed master key for tests (never used outside them).
const TEST_MASTER_KEY: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

fn scratch_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The database a test uses: the shared PostgreSQL database, or a fresh SQLite file.
pub fn database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => format!("sqlite:{}", dir.join("switchboard.db").display()),
    }
}

pub fn test_config(extra: &[(&str, &str)]) -> Config {
    let dir = scratch_dir();
    let mut figment = Figment::new()
        .merge(Serialized::default("database_url", database_url(&dir)))
        .merge(Serialized::default("database_max_connections", "5"))
        .merge(Serialized::default("switchboard_addr", "127.0.0.1:0"))
        .merge(Serialized::default("switchboard_data_dir", dir.display().to_string()))
        .merge(Serialized::default("switchboard_master_key", TEST_MASTER_KEY))
        .merge(Serialized::default("switchboard_log_format", "pretty"))
        .merge(Serialized::default("switchboard_poll_interval_ms", "200"))
        .merge(Serialized::default("switchboard_sandbox", "off"));
    for (k, v) in extra {
        figment = figment.merge(Serialized::default(&k.to_lowercase(), *v));
    }
    Config::from_figment(&figment).unwrap()
}

/// A new tenant with a unique slug.
pub async fn new_tenant(state: &AppState) -> Arc<Tenant> {
    let slug = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    state
        .tenants
        .create(
            NewTenant {
                slug: TenantSlug::parse(slug).unwrap(),
                name: "Test Tenant".into(),
                currency: Currency::INR,
                timezone: chrono_tz::Asia::Kolkata,
                settings: None,
            },
            clock::now(),
        )
        .await
        .unwrap()
}

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub tenant: Arc<Tenant>,
    pub secret_key: String,
    pub publishable_key: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send().await.unwrap()
    }

    /// Starts a job worker that takes only this test's tenant's jobs.
    pub fn start_worker(&self, handler: Arc<dyn JobHandler>, configure: impl FnOnce(&mut WorkerOptions)) {
        let mut options = switchboard::startup::worker_options(
            &self.state.config,
            ClaimScope {
                tenant: Some(self.tenant.id),
            },
        );
        configure(&mut options);
        tokio::spawn(Worker::new(self.state.db.clone(), handler, options).run(self.shutdown.clone()));
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The real server on a free port with a fresh tenant and its keys. Its worker runs only the
/// test tenant's jobs, so tests sharing a PostgreSQL database never take each other's work.
pub async fn spawn_app() -> TestApp {
    spawn(true, &[]).await
}

/// The server without a job worker: the test claims jobs itself or starts its own workers.
pub async fn spawn_app_without_worker() -> TestApp {
    spawn(false, &[]).await
}

pub async fn spawn(with_worker: bool, extra: &[(&str, &str)]) -> TestApp {
    switchboard::telemetry::init_for_tests();
    let app = Application::build(
        test_config(extra),
        ServeOptions {
            migrate: true,
            worker: false,
        },
    )
    .await
    .unwrap();
    let base = format!("http://{}/", app.local_addr());
    let state = app.state().clone();
    let registry = app.registry();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    let tenant = new_tenant(&state).await;
    let (secret_key, _) = api_keys::create(&state.db, tenant.id, KeyKind::Secret, "test", clock::now())
        .await
        .unwrap();
    let (publishable_key, _) = api_keys::create(&state.db, tenant.id, KeyKind::Publishable, "test", clock::now())
        .await
        .unwrap();
    let test_app = TestApp {
        base,
        state,
        tenant,
        secret_key,
        publishable_key,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        shutdown,
    };
    if with_worker {
        test_app.start_worker(registry, |_| {});
    }
    test_app
}

/// Polls `probe` until it yields a value (a condition, not a timing, decides); fails the test
/// after `limit`.
pub async fn eventually<T>(limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = Duration::from_millis(5);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}
