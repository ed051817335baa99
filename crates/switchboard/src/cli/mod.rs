//! The `switchboard` command.

mod admin;
mod sandbox;

pub use admin::parse_since;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use domain::ids::TenantSlug;
use tokio_util::sync::CancellationToken;

use crate::auth::api_keys;
use crate::config::Config;
use crate::jobs::queue::ClaimScope;
use crate::jobs::worker::Worker;
use crate::startup::{self, Application, ServeOptions};
use crate::state::AppState;
use crate::tenants::Tenant;
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
    Tenant(admin::TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Apikey(admin::ApikeyCommand),
    /// Inspect and steer background jobs.
    #[command(subcommand)]
    Jobs(admin::JobsCommand),
    /// Stored webhook events.
    #[command(subcommand)]
    Events(admin::EventsCommand),
    /// Validate the configuration and reach the database.
    Check,
    /// Run the provider sandbox alone (fake Freshchat and Freshdesk under /sandbox).
    Sandbox(sandbox::SandboxArgs),
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
        Command::Tenant(cmd) => admin::tenant(cmd, &cli_state(config).await?).await,
        Command::Apikey(cmd) => admin::apikey(cmd, &cli_state(config).await?).await,
        Command::Jobs(cmd) => admin::jobs(cmd, &cli_state(config).await?).await,
        Command::Events(cmd) => admin::events(cmd, &cli_state(config).await?).await,
        Command::Sandbox(args) => sandbox::run(args).await,
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

pub(crate) async fn cli_state(config: Config) -> anyhow::Result<AppState> {
    let db = startup::connect(&config, false).await?;
    // The server writes customers' contexts; a worker and the admin commands read them.
    startup::state(config, db, startup::ContextRole::Reader).await
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
    state.gates.follow(&state.db, shutdown.clone());
    Worker::new(state.db.clone(), registry, options).run(shutdown).await;
    let _ = scheduled.await;
    state.db.close().await;
    Ok(())
}

pub(crate) async fn find_tenant(state: &AppState, slug: &str) -> anyhow::Result<std::sync::Arc<Tenant>> {
    state
        .tenants
        .by_slug(slug)
        .await?
        .with_context(|| format!("no tenant named '{slug}' (see `switchboard tenant list`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
