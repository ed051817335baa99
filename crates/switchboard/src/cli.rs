//! The `switchboard` command.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use domain::ids::TenantSlug;
use domain::money::Currency;
use tokio_util::sync::CancellationToken;

use crate::auth::api_keys::{self, KeyKind};
use crate::config::Config;
use crate::inbox::{self, Provider, ReplayFilter};
use crate::jobs::queue::{self, ClaimScope, ListFilter, Owner};
use crate::jobs::worker::Worker;
use crate::jobs::{JobId, JobState};
use crate::startup::{self, Application, ServeOptions};
use crate::state::AppState;
use crate::tenants::{NewTenant, Tenant};
use crate::{clock, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Support-led ordering backend: chat ↔ helpdesk sync, customer context, durable jobs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API and webhooks (and run a job worker unless --no-worker).
    Serve {
        #[arg(long)]
        no_worker: bool,
        /// Refuse to start instead of migrating an older schema.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Run a job worker only.
    Worker {
        /// Only this tenant's jobs.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Apply database migrations.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Inspect and steer background jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Stored webhook events.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Validate the configuration and reach the database.
    Check,
    /// Run the provider sandbox alone (fake Freshchat and Freshdesk under /sandbox).
    Sandbox(SandboxArgs),
}

#[derive(Debug, Args)]
struct SandboxArgs {
    #[arg(long, default_value_t = 9000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Where to post Freshchat webhooks, e.g. http://127.0.0.1:8000/webhooks/freshchat
    #[arg(long)]
    freshchat_webhook: Option<url::Url>,
    /// Where to post Freshdesk automation webhooks, e.g. http://127.0.0.1:8000/webhooks/freshdesk
    #[arg(long)]
    freshdesk_webhook: Option<url::Url>,
    /// The token the Freshdesk webhooks carry (as `?token=`).
    #[arg(long)]
    freshdesk_token: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    Create(TenantCreate),
    List,
}

#[derive(Debug, Args)]
struct TenantCreate {
    /// URL-safe name: lowercase letters, digits, '-'.
    slug: String,
    #[arg(long)]
    name: String,
    #[arg(long, default_value = "INR")]
    currency: String,
    #[arg(long, default_value = "Asia/Kolkata")]
    timezone: String,
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long, value_parser = ["secret", "publishable"])]
        kind: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    List {
        #[arg(long)]
        tenant: String,
    },
    Revoke {
        #[arg(long)]
        tenant: String,
        id: uuid::Uuid,
    },
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a dead or cancelled job again.
    Retry { id: JobId },
    /// Cancel a queued or dead job.
    Cancel { id: JobId },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Process stored webhook events again (after a fix).
    Replay {
        #[arg(long)]
        provider: String,
        /// An RFC 3339 time, or how long ago: 30m, 6h, 7d.
        #[arg(long)]
        since: String,
        #[arg(long)]
        tenant: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { no_worker, no_migrate } => {
            serve(
                config,
                ServeOptions {
                    migrate: !no_migrate,
                    worker: !no_worker,
                },
            )
            .await
        }
        Command::Worker { tenant, concurrency } => worker(config, tenant, concurrency).await,
        Command::Migrate => {
            startup::connect(&config, true).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenant(cmd) => tenant(cmd, &cli_state(config).await?).await,
        Command::Apikey(cmd) => apikey(cmd, &cli_state(config).await?).await,
        Command::Jobs(cmd) => jobs(cmd, &cli_state(config).await?).await,
        Command::Events(cmd) => events(cmd, &cli_state(config).await?).await,
        Command::Sandbox(args) => sandbox(args).await,
        Command::Check => {
            let state = cli_state(config).await?;
            state.db.ping().await?;
            println!(
                "configuration valid; database reachable and migrated ({:?})",
                state.db.backend()
            );
            Ok(())
        }
    }
}

async fn cli_state(config: Config) -> anyhow::Result<AppState> {
    let db = startup::connect(&config, false).await?;
    startup::state(config, db).await
}

async fn serve(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    let app = Application::build(config, options).await?;
    let state = app.state().clone();
    let base = app.base_url().clone();
    let tenant = state
        .tenants
        .by_slug(TenantSlug::DEFAULT)
        .await?
        .context("default tenant")?;
    // A fresh demo key each start: keys are stored hashed, so an old one cannot be shown again.
    api_keys::revoke_demo_and_create(&state.db, tenant.id, clock::now())
        .await
        .map(|(secret, publishable)| {
            println!("\nSwitchboard is running");
            println!("  API:        {base}api/v1/me");
            println!("  Health:     {base}healthz");
            println!("  Webhooks:   {base}webhooks/freshchat  ·  {base}webhooks/freshdesk");
            println!("  Demo keys for tenant 'default' (valid until the next start):");
            println!("    secret:      {secret}");
            println!("    publishable: {publishable}");
            println!("  Try: curl -H 'Authorization: Bearer {secret}' {base}api/v1/me");
        })?;
    if app.sandbox().is_some() {
        println!("  Sandbox (no real Freshchat/Freshdesk configured — everything runs locally):");
        println!("    customer chat: {base}sandbox/chat?user=demo-customer");
        println!("    helpdesk:      {base}sandbox/desk");
    }
    println!();
    let shutdown = CancellationToken::new();
    startup::cancel_on_signal(shutdown.clone());
    app.run(shutdown).await
}

async fn worker(config: Config, tenant: Option<String>, concurrency: Option<usize>) -> anyhow::Result<()> {
    let state = cli_state(config).await?;
    let scope = ClaimScope {
        tenant: match tenant {
            Some(slug) => Some(find_tenant(&state, &slug).await?.id),
            None => None,
        },
    };
    let mut options = startup::worker_options(&state.config, scope);
    if let Some(n) = concurrency {
        options.concurrency = n.max(1);
    }
    let registry = std::sync::Arc::new(startup::registry(&state));
    let shutdown = CancellationToken::new();
    startup::cancel_on_signal(shutdown.clone());
    let scheduled = tokio::spawn(crate::jobs::schedule::run(
        state.db.clone(),
        crate::jobs::schedule::defaults(),
        shutdown.clone(),
    ));
    Worker::new(state.db.clone(), registry, options).run(shutdown).await;
    let _ = scheduled.await;
    state.db.close().await;
    Ok(())
}

async fn find_tenant(state: &AppState, slug: &str) -> anyhow::Result<std::sync::Arc<Tenant>> {
    state
        .tenants
        .by_slug(slug)
        .await?
        .with_context(|| format!("no tenant named '{slug}' (see `switchboard tenant list`)"))
}

async fn tenant(cmd: TenantCommand, state: &AppState) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Create(c) => {
            let new = NewTenant {
                slug: TenantSlug::parse(&c.slug).map_err(|e| anyhow::anyhow!("tenant name '{}': {e}", c.slug))?,
                name: c.name,
                currency: Currency::parse(&c.currency).map_err(|e| anyhow::anyhow!("--currency: {e}"))?,
                timezone: c
                    .timezone
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--timezone: '{}' is not an IANA time zone", c.timezone))?,
                settings: None,
            };
            let t = state.tenants.create(new, clock::now()).await?;
            println!("created tenant '{}' ({})", t.slug, t.id);
            println!(
                "create an API key with: switchboard apikey create --tenant {} --kind secret",
                t.slug
            );
        }
        TenantCommand::List => {
            println!("{:<24} {:<36} {:<8} {:<20} NAME", "SLUG", "ID", "CURRENCY", "TIME ZONE");
            for t in state.tenants.list().await? {
                println!(
                    "{:<24} {:<36} {:<8} {:<20} {}",
                    t.slug,
                    t.id,
                    t.currency,
                    t.timezone.name(),
                    t.name
                );
            }
        }
    }
    Ok(())
}

async fn apikey(cmd: ApikeyCommand, state: &AppState) -> anyhow::Result<()> {
    match cmd {
        ApikeyCommand::Create { tenant, kind, name } => {
            let t = find_tenant(state, &tenant).await?;
            let kind = KeyKind::parse(&kind).context("--kind is secret or publishable")?;
            let (plaintext, key) = api_keys::create(&state.db, t.id, kind, &name, clock::now()).await?;
            eprintln!(
                "created {} key {} for tenant '{}'; it is shown only now:",
                kind.as_str(),
                key.id,
                t.slug
            );
            println!("{plaintext}");
        }
        ApikeyCommand::List { tenant } => {
            let t = find_tenant(state, &tenant).await?;
            println!(
                "{:<36} {:<12} {:<12} {:<20} {:<20} NAME",
                "ID", "KIND", "PREFIX", "CREATED", "REVOKED"
            );
            for k in crate::db::api_keys::list(&state.db, t.id).await? {
                let revoked = k
                    .revoked_at
                    .map(|r| r.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_default();
                println!(
                    "{:<36} {:<12} {:<12} {:<20} {:<20} {}",
                    k.id,
                    k.kind.as_str(),
                    k.prefix,
                    k.created_at.format("%Y-%m-%d %H:%M"),
                    revoked,
                    k.name
                );
            }
        }
        ApikeyCommand::Revoke { tenant, id } => {
            let t = find_tenant(state, &tenant).await?;
            anyhow::ensure!(
                crate::db::api_keys::revoke(&state.db, t.id, id, clock::now()).await?,
                "tenant '{tenant}' has no live key {id}"
            );
            state.keys.clear();
            println!("revoked key {id}");
        }
    }
    Ok(())
}

async fn jobs(cmd: JobsCommand, state: &AppState) -> anyhow::Result<()> {
    let now = clock::now();
    match cmd {
        JobsCommand::List {
            state: job_state,
            tenant,
            limit,
        } => {
            let owner = match tenant {
                Some(slug) => Owner::Tenant(find_tenant(state, &slug).await?.id),
                None => Owner::Operator,
            };
            let job_state = job_state
                .map(|s| {
                    JobState::parse(&s)
                        .with_context(|| format!("--state '{s}': queued, running, done, dead or cancelled"))
                })
                .transpose()?;
            let filter = ListFilter {
                state: job_state,
                limit,
                ..ListFilter::default()
            };
            let counts = queue::counts(&state.db).await?;
            println!(
                "{}",
                counts
                    .iter()
                    .map(|(s, n)| format!("{s}: {n}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
            println!(
                "{:<10} {:<24} {:<10} {:<9} {:<25} LAST ERROR",
                "ID", "KIND", "STATE", "ATTEMPTS", "RUN AT"
            );
            for j in queue::list(&state.db, owner, &filter).await? {
                let err: String = j.last_error.unwrap_or_default().chars().take(80).collect();
                println!(
                    "{:<10} {:<24} {:<10} {:<9} {:<25} {}",
                    j.id,
                    j.kind,
                    j.state.as_str(),
                    format!("{}/{}", j.attempts, j.max_attempts),
                    j.run_at.to_rfc3339(),
                    err
                );
            }
        }
        JobsCommand::Retry { id } => {
            anyhow::ensure!(
                queue::retry(&state.db, Owner::Operator, id, now).await?,
                "job {id} is not dead or cancelled"
            );
            println!("job {id} queued again");
        }
        JobsCommand::Cancel { id } => {
            anyhow::ensure!(
                queue::cancel(&state.db, Owner::Operator, id, now).await?,
                "job {id} is not queued or dead"
            );
            println!("job {id} cancelled");
        }
    }
    Ok(())
}

async fn events(cmd: EventsCommand, state: &AppState) -> anyhow::Result<()> {
    match cmd {
        EventsCommand::Replay {
            provider,
            since,
            tenant,
        } => {
            let provider = Provider::parse(&provider)
                .with_context(|| format!("--provider '{provider}': freshchat or freshdesk"))?;
            let since = parse_since(&since, clock::now())?;
            let tenant = match tenant {
                Some(slug) => Some(find_tenant(state, &slug).await?.id),
                None => None,
            };
            let ids = inbox::replayable(
                &state.db,
                &ReplayFilter {
                    provider,
                    since,
                    tenant,
                },
            )
            .await?;
            let total = ids.len();
            eprintln!(
                "replaying {total} {} events received since {}",
                provider.as_str(),
                since.to_rfc3339()
            );
            for (done, (id, tenant)) in ids.into_iter().enumerate() {
                inbox::requeue(&state.db, tenant, id, clock::now()).await?;
                if (done + 1) % 500 == 0 || done + 1 == total {
                    eprintln!("  {}/{total} queued", done + 1);
                }
            }
            println!("{total} events queued for processing; a running worker processes them");
        }
    }
    Ok(())
}

async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let sandbox = sandbox::Sandbox::new(sandbox::SandboxConfig::default())?;
    sandbox.set_freshchat_webhook_url(args.freshchat_webhook.clone());
    if let Some(url) = args.freshdesk_webhook.clone() {
        let auth = match args.freshdesk_token.clone() {
            Some(t) => sandbox::WebhookAuth::Token(t),
            None => sandbox::WebhookAuth::None,
        };
        sandbox.set_freshdesk_webhook(Some(sandbox::FreshdeskWebhookTarget { url, auth }));
    }
    let addr = std::net::SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let base = format!("http://{}/sandbox", listener.local_addr()?);
    let config = sandbox.config();
    println!("\nSwitchboard sandbox");
    println!(
        "  Freshchat API:  {base}/freshchat/v2   (FRESHCHAT_API_URL; token {})",
        config.freshchat_token
    );
    println!(
        "  Freshdesk API:  {base}/freshdesk/api/v2   (FRESHDESK_BASE_URL; API key {})",
        config.freshdesk_api_key
    );
    println!("  Chat page:      {base}/chat?user=demo-customer");
    println!("  Desk page:      {base}/desk");
    println!("  Admin:          {base}/admin/state");
    println!(
        "  Webhook public key (FRESHCHAT_WEBHOOK_PUBLIC_KEY):\n{}\n",
        sandbox.freshchat_public_key_pem()
    );
    let shutdown = CancellationToken::new();
    startup::cancel_on_signal(shutdown.clone());
    let app = axum::Router::new().nest("/sandbox", sandbox.router());
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// `2026-11-01T00:00:00Z`, or an age: `90s`, `30m`, `6h`, `7d`.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let bad = || anyhow::anyhow!("--since '{text}': an RFC 3339 time or an age such as 30m, 6h, 7d");
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now - chrono::Duration::from_std(Duration::from_secs(secs)).map_err(|_| bad())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now).expect("rfc3339").to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(parse_since("6h", now).expect("age"), now - chrono::Duration::hours(6));
        assert_eq!(parse_since("7d", now).expect("age"), now - chrono::Duration::days(7));
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("5w", now).is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
