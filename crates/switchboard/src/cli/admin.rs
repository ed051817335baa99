//! Operator commands: tenants, API keys, jobs, stored events.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use domain::ids::TenantSlug;
use domain::money::Currency;

use crate::auth::api_keys::{self, KeyKind};
use crate::clock;
use crate::inbox::{self, Provider, ReplayFilter};
use crate::jobs::queue::{self, ListFilter, Owner};
use crate::jobs::{JobId, JobState};
use crate::state::AppState;
use crate::tenants::NewTenant;

use super::find_tenant;

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    Create(TenantCreate),
    List,
}

#[derive(Debug, Args)]
pub(crate) struct TenantCreate {
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
pub(crate) enum ApikeyCommand {
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
pub(crate) enum JobsCommand {
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
pub(crate) enum EventsCommand {
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

pub(crate) async fn tenant(cmd: TenantCommand, state: &AppState) -> anyhow::Result<()> {
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

pub(crate) async fn apikey(cmd: ApikeyCommand, state: &AppState) -> anyhow::Result<()> {
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

pub(crate) async fn jobs(cmd: JobsCommand, state: &AppState) -> anyhow::Result<()> {
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

pub(crate) async fn events(cmd: EventsCommand, state: &AppState) -> anyhow::Result<()> {
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
}
