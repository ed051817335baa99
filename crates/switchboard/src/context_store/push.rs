//! Live context for agents (SPEC §5): every change is shown to agents as Freshchat user
//! properties and, when the customer has an open incidence with a ticket, as the ticket's custom
//! fields.
//!
//! Debounce: a change at `t` enqueues `context.push` due at the next whole second after `t`,
//! with the unique key `ctxpush:{tenant}:{user}:{that second}` — so a customer gets at most one
//! push per second however fast they tap. The job reads the context when it runs (after `t`),
//! so the last push always carries the latest values. Pushes of one customer run one at a time,
//! in order (ordering key `ctx:{tenant}:{user}`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::context::agent_properties;
use domain::friction;
use domain::ids::{TenantId, UserId};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::db::{DbError, DbResult};
use crate::integrations::Freshchat;
use crate::jobs::registry::{JobContext, JobResult};
use crate::jobs::{JobError, JobSpec, NewJob, Outcome, priority, queue};
use crate::state::AppState;
use crate::sync::{self, gate};
use crate::tenants::Tenant;
use crate::ttl_cache::TtlCache;

/// Pushes one customer's current context to the agents' tools.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushContext {
    pub user_id: UserId,
}

impl JobSpec for PushContext {
    const KIND: &'static str = "context.push";
    const PRIORITY: i32 = priority::LIVE;
    const MAX_ATTEMPTS: i32 = 10;
}

/// The debounced push for a change stored at `now`. Call with the time read *after* the store
/// acknowledged the change: the job is then due strictly later, and reads it.
pub fn job(tenant: TenantId, user: &UserId, now: DateTime<Utc>) -> DbResult<NewJob> {
    let second = now.timestamp().saturating_add(1);
    let due = DateTime::from_timestamp(second, 0).unwrap_or(now);
    Ok(NewJob::new(&PushContext { user_id: user.clone() })
        .map_err(DbError::corrupt)?
        .tenant(tenant)
        .ordering_key(format!("ctx:{tenant}:{user}"))
        .unique_key(format!("ctxpush:{tenant}:{user}:{second}"))
        .run_at(due))
}

/// The customer's context changed: schedules the (debounced) push.
pub async fn changed(state: &AppState, tenant: TenantId, user: &UserId) -> DbResult<()> {
    let now = clock::now();
    queue::enqueue_now(&state.db, job(tenant, user, now)?, now).await?;
    Ok(())
}

type UserKey = (TenantId, UserId);

/// Runs `context.push`. Remembers which Freshchat user a customer is, so a burst of pushes
/// costs one look-up.
#[derive(Clone)]
pub struct Pusher {
    state: AppState,
    known: TtlCache<UserKey, String>,
    unknown: TtlCache<UserKey, ()>,
}

impl Pusher {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            known: TtlCache::new(Duration::from_secs(600), 50_000),
            // A customer without a Freshchat user yet (no chat so far) is looked up again soon.
            unknown: TtlCache::new(Duration::from_secs(60), 50_000),
        }
    }

    pub async fn run(&self, job: PushContext, ctx: JobContext) -> JobResult {
        let state = &self.state;
        let tenant = sync::tenant_of(state, &ctx).await?;
        let user = job.user_id;
        let Some(context) = state
            .contexts
            .get(tenant.id, &user)
            .await
            .map_err(|e| JobError::Retryable(e.to_string()))?
        else {
            return Ok(Outcome::Done);
        };
        // Ticket fields: the incidence sync owns the ticket; it reads the live values itself.
        crate::incidences::context_changed(state, tenant.id, &user).await?;

        let freshchat = state
            .integrations
            .freshchat(tenant.id)
            .await
            .map_err(|e| JobError::Permanent(format!("Freshchat credentials: {e}")))?;
        let Some(freshchat) = freshchat else {
            return Ok(Outcome::Done);
        };
        let Some(freshchat_user) = self.freshchat_user(&tenant, &freshchat, &user).await? else {
            return Ok(Outcome::Done);
        };
        let score = friction::score(&context, clock::now(), &tenant.settings.friction);
        let properties = agent_properties(&context, &score, tenant.currency);
        let answer = sync::gated(state, &tenant, gate::Provider::Freshchat, || {
            freshchat.client.update_user_properties(&freshchat_user, &properties)
        })
        .await?;
        match answer {
            Ok(()) => Ok(Outcome::Done),
            // The Freshchat user was deleted: nothing to show the values on.
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => {
                self.known.remove(&(tenant.id, user));
                Ok(Outcome::Done)
            }
            Err(e) => Err(sync::job_error("updating the Freshchat user's properties", &e)),
        }
    }

    /// The customer's Freshchat user: as seen in a chat, else looked up by `reference_id`.
    async fn freshchat_user(
        &self,
        tenant: &Arc<Tenant>,
        freshchat: &Freshchat,
        user: &UserId,
    ) -> Result<Option<String>, JobError> {
        if let Some(id) = crate::db::customers::freshchat_user_for(&self.state.db, tenant.id, user).await? {
            return Ok(Some(id));
        }
        let key = (tenant.id, user.clone());
        if let Some(id) = self.known.get(&key) {
            return Ok(Some(id));
        }
        if self.unknown.get(&key).is_some() {
            return Ok(None);
        }
        let found = sync::gated(&self.state, tenant, gate::Provider::Freshchat, || {
            freshchat.client.find_user_by_reference(user.as_str())
        })
        .await?
        .map_err(|e| sync::job_error("looking up the Freshchat user", &e))?;
        match found {
            Some(u) => {
                self.known.insert(key, u.id.clone());
                Ok(Some(u.id))
            }
            None => {
                self.unknown.insert(key, ());
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn one_push_per_customer_per_second_due_after_the_change() {
        let tenant = TenantId(uuid::Uuid::nil());
        let user = UserId::parse("u-1").expect("user");
        let a = job(tenant, &user, at("2026-01-01T10:00:00.000Z")).expect("job");
        let b = job(tenant, &user, at("2026-01-01T10:00:00.999Z")).expect("job");
        let c = job(tenant, &user, at("2026-01-01T10:00:01.000Z")).expect("job");
        assert_eq!(a.unique_key, b.unique_key);
        assert_ne!(b.unique_key, c.unique_key);
        assert_eq!(a.run_at, Some(at("2026-01-01T10:00:01Z")));
        assert_eq!(c.run_at, Some(at("2026-01-01T10:00:02Z")));
        assert_eq!(a.ordering_key.as_deref(), Some(format!("ctx:{tenant}:u-1").as_str()));
        let other = job(tenant, &UserId::parse("u-2").expect("user"), at("2026-01-01T10:00:00Z")).expect("job");
        assert_ne!(a.unique_key, other.unique_key);
    }
}
