//! `/api/v1/jobs`: the tenant's background jobs, their progress, and retry/cancel.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery, SecretCaller};
use crate::http::routes::Routes;
use crate::jobs::queue::{self, ListFilter, Owner};
use crate::jobs::{JobId, JobRecord, JobState};
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .get("/jobs", list)
        .get("/jobs/{id}", show)
        .post("/jobs/{id}/retry", retry)
        .post("/jobs/{id}/cancel", cancel)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    cursor: Option<JobId>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Page {
    data: Vec<JobRecord>,
    next_cursor: Option<JobId>,
}

async fn list(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let job_state = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            JobState::parse(s)
                .ok_or_else(|| ApiError::validation("state", "one of queued, running, done, dead, cancelled"))?,
        ),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let filter = ListFilter {
        state: job_state,
        kind: q.kind,
        before: q.cursor,
        limit,
    };
    let data = queue::list(&state.db, Owner::Tenant(caller.tenant.id), &filter).await?;
    let next_cursor = (data.len() == limit as usize)
        .then(|| data.last().map(|j| j.id))
        .flatten();
    Ok(Json(Page { data, next_cursor }))
}

async fn show(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobRecord>> {
    queue::get(&state.db, Owner::Tenant(caller.tenant.id), id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("job {id}")))
}

async fn retry(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobRecord>> {
    let owner = Owner::Tenant(caller.tenant.id);
    let job = queue::get(&state.db, owner, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id}")))?;
    if !queue::retry(&state.db, owner, id, crate::clock::now()).await? {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; only dead or cancelled jobs can be retried",
            job.state.as_str()
        )));
    }
    show(State(state), SecretCaller(caller), ApiPath(id)).await
}

async fn cancel(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<JobId>,
) -> ApiResult<Json<JobRecord>> {
    let owner = Owner::Tenant(caller.tenant.id);
    let job = queue::get(&state.db, owner, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("job {id}")))?;
    if !queue::cancel(&state.db, owner, id, crate::clock::now()).await? {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}; only queued or dead jobs can be cancelled",
            job.state.as_str()
        )));
    }
    show(State(state), SecretCaller(caller), ApiPath(id)).await
}
