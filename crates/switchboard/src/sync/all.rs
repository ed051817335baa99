//! Sync-all: a ticket sync for every open incidence, as a job whose progress can be read.
//!
//! The first run queues one ticket sync per open incidence (bulk priority, ordered with the live
//! syncs of the same incidence); later runs count how many of them have finished and report it,
//! until none is left.

use std::time::Duration;

use domain::ids::{IncidenceId, TenantId};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ticket::{TicketSync, spec_job};
use crate::clock;
use crate::db::incidences as repo;
use crate::db::{DbResult, on_db};
use crate::jobs::queue::{self, Owner};
use crate::jobs::registry::{JobContext, JobResult};
use crate::jobs::{JobError, JobSpec, Outcome, priority};
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncAll {}

impl JobSpec for SyncAll {
    const KIND: &'static str = "ticket.sync_all";
    const PRIORITY: i32 = priority::BULK;
}

const PAGE: i64 = 200;
const CHECK_EVERY: Duration = Duration::from_secs(2);

fn child_prefix(job_id: i64) -> String {
    format!("sync-all:{job_id}:")
}

pub async fn run(state: AppState, _job: SyncAll, ctx: JobContext) -> JobResult {
    let tenant: TenantId = ctx
        .tenant_id
        .ok_or_else(|| JobError::Permanent("sync-all without a tenant".into()))?;
    let me = queue::get(&state.db, Owner::Tenant(tenant), ctx.job_id).await?;
    let started = me
        .as_ref()
        .and_then(|j| j.progress.as_ref())
        .and_then(|p| p["total"].as_i64());
    let Some(total) = started else {
        let total = queue_children(&state, tenant, ctx.job_id).await?;
        ctx.set_progress(&json!({ "total": total, "done": 0, "failed": 0, "pending": total }))
            .await?;
        return Ok(if total == 0 {
            Outcome::Done
        } else {
            Outcome::RunAgainAfter(CHECK_EVERY)
        });
    };
    let (done, failed) = children_finished(&state, ctx.job_id).await?;
    let pending = (total - done - failed).max(0);
    ctx.set_progress(&json!({ "total": total, "done": done, "failed": failed, "pending": pending }))
        .await?;
    Ok(if pending == 0 {
        Outcome::Done
    } else {
        Outcome::RunAgainAfter(CHECK_EVERY)
    })
}

async fn queue_children(state: &AppState, tenant: TenantId, job_id: i64) -> Result<i64, JobError> {
    let mut after: Option<IncidenceId> = None;
    let mut total = 0;
    loop {
        let ids = repo::open_ids(&state.db, tenant, after, PAGE).await?;
        let Some(last) = ids.last().copied() else { break };
        let now = clock::now();
        let mut tx = state.db.begin().await?;
        for id in &ids {
            let spec = TicketSync {
                incidence_id: *id,
                create_if_missing: true,
                refresh_fields: true,
            };
            let job = spec_job(tenant, &spec)?
                .priority(priority::BULK)
                .unique_key(format!("{}{id}", child_prefix(job_id)));
            queue::enqueue(&mut tx, job, now).await?;
        }
        tx.commit().await?;
        total += ids.len() as i64;
        after = Some(last);
    }
    Ok(total)
}

async fn children_finished(state: &AppState, job_id: i64) -> DbResult<(i64, i64)> {
    const SQL: &str = "SELECT \
                         COALESCE(SUM(CASE WHEN state IN ('done', 'cancelled') THEN 1 ELSE 0 END), 0), \
                         COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) \
                       FROM jobs WHERE unique_key LIKE $1";
    let pattern = format!("{}%", child_prefix(job_id));
    let (done, dead): (i64, i64) = on_db!(state.db, pool => sqlx::query_as(SQL).bind(&pattern).fetch_one(pool).await)?;
    Ok((done, dead))
}
