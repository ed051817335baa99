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

/// Makes one provider call if the gate admits it. The outer error is "not now" (paced or held by
/// a `Retry-After`); the inner result is the provider's answer. A 429 holds the gate for every
/// worker before it is returned.
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
    let per_minute = match provider {
        gate::Provider::Freshdesk => tenant.settings.freshdesk.calls_per_minute,
        // Freshchat publishes no budget: only its Retry-After is honoured.
        gate::Provider::Freshchat => 0,
    };
    let now = crate::clock::now();
    if let Err(wait) = state
        .gates
        .admit(&state.db, tenant.id, provider, per_minute, now)
        .await?
    {
        return Err(JobError::RateLimited {
            wait,
            reason: format!("{} calls paced", provider.as_str()),
        });
    }
    let result = call().await;
    if let Err(e) = &result
        && let ErrorKind::RateLimited { retry_after } = e.kind()
    {
        let wait = retry_after.unwrap_or(Duration::from_secs(60));
        let until = crate::clock::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1));
        state
            .gates
            .hold(&state.db, tenant.id, provider, until, &e.to_string())
            .await?;
    }
    Ok(result)
}
