//! Keeping the helpdesk and the chat in step with incidences. Each job is a reconciler: it
//! compares what should be (the incidence, the recorded deliveries) with what is known of the
//! provider, and makes the calls that close the gap — so running it twice does nothing twice.
//!
//! - [`ticket`]: the Freshdesk ticket — create it (once), copy customer messages as notes (each
//!   once, in order), keep its status and custom fields in line.
//! - [`chat`]: the Freshchat conversation — relay agents' public replies (each once, in order),
//!   keep its status in line.
//! - [`gate`]: provider pacing and `Retry-After`, shared by every worker.

pub mod all;
pub mod chat;
pub mod gate;
pub mod ticket;

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantId;
use providers::http::{ErrorKind, ProviderError};

use crate::jobs::JobError;
use crate::jobs::registry::JobContext;
use crate::state::AppState;
use crate::tenants::Tenant;

/// How a failed provider call ends the job's run. `Retry-After` is honoured exactly; without one,
/// a rate limit waits a minute (Freshdesk's budget window).
pub fn job_error(what: &str, e: &ProviderError) -> JobError {
    match e.kind() {
        ErrorKind::RateLimited { retry_after } => JobError::RateLimited {
            wait: retry_after.unwrap_or(Duration::from_secs(60)),
            reason: format!("{what}: {e}"),
        },
        ErrorKind::Retryable => JobError::Retryable(format!("{what}: {e}")),
        ErrorKind::Permanent => JobError::Permanent(format!("{what}: {e}")),
    }
}

/// The tenant a job belongs to.
pub async fn tenant_of(state: &AppState, ctx: &JobContext) -> Result<Arc<Tenant>, JobError> {
    let id: TenantId = ctx
        .tenant_id
        .ok_or_else(|| JobError::Permanent("job without a tenant".into()))?;
    state
        .tenants
        .by_id(id)
        .await?
        .ok_or_else(|| JobError::Permanent(format!("tenant {id} no longer exists")))
}

fn integration_error(e: crate::integrations::IntegrationError) -> JobError {
    JobError::Permanent(format!("provider credentials: {e}"))
}

/// Text compared as a person reads it: whitespace runs are one space.
pub fn same_text(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// Waits for the gate: `Err(RateLimited)` when the tenant's calls to `provider` are paced or
/// held by a `Retry-After`. Call it before recording the intent of a write, so that a write that
/// was never attempted is never taken for one whose answer was lost.
pub async fn admit(state: &AppState, tenant: &Tenant, provider: gate::Provider) -> Result<(), JobError> {
    let per_minute = match provider {
        gate::Provider::Freshdesk => tenant.settings.freshdesk.calls_per_minute,
        // Freshchat publishes no budget: only its Retry-After is honoured.
        gate::Provider::Freshchat => 0,
    };
    match state
        .gates
        .admit(&state.db, tenant.id, provider, per_minute, crate::clock::now())
        .await?
    {
        Ok(()) => Ok(()),
        Err(wait) => Err(JobError::RateLimited {
            wait,
            reason: format!("{} calls paced", provider.as_str()),
        }),
    }
}

/// Right before a write that [`admit`] let through and whose intent is now recorded: a
/// `Retry-After` this process learnt meanwhile (another job's 429) still stops it. The intent
/// stays, so the next run asks the provider first, as after a lost answer.
pub fn still_admitted(state: &AppState, tenant: &Tenant, provider: gate::Provider) -> Result<(), JobError> {
    match state.gates.held_here(tenant.id, provider, crate::clock::now()) {
        None => Ok(()),
        Some(wait) => Err(JobError::RateLimited {
            wait,
            reason: format!("{} answered 429 meanwhile", provider.as_str()),
        }),
    }
}

/// Records what a call's answer says about the gate: a 429 holds every worker's calls to the
/// provider for the tenant until its `Retry-After` has passed.
pub async fn observe<T>(
    state: &AppState,
    tenant: &Tenant,
    provider: gate::Provider,
    result: &Result<T, ProviderError>,
) -> Result<(), JobError> {
    if let Err(e) = result
        && let ErrorKind::RateLimited { retry_after } = e.kind()
    {
        let wait = retry_after.unwrap_or(Duration::from_secs(60));
        let until = crate::clock::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1));
        state
            .gates
            .hold(&state.db, tenant.id, provider, until, &e.to_string())
            .await?;
    }
    Ok(())
}

/// A read (or any call with no intent to record): admitted, made, observed.
pub async fn gated<T, F, Fut>(
    state: &AppState,
    tenant: &Tenant,
    provider: gate::Provider,
    call: F,
) -> Result<Result<T, ProviderError>, JobError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    admit(state, tenant, provider).await?;
    let result = call().await;
    observe(state, tenant, provider, &result).await?;
    Ok(result)
}
