//! `/api/v1/freshdesk`: push an incidence's context into its ticket now (creating the ticket if
//! it was never created), or every open incidence's as a job with progress.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ids::IncidenceId;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::incidences as repo;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, SecretCaller};
use crate::http::routes::Routes;
use crate::jobs::{NewJob, queue};
use crate::state::AppState;
use crate::sync::all::SyncAll;
use crate::sync::ticket::{TicketSync, spec_job};
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new()
        .post("/freshdesk/sync", sync_one)
        .post("/freshdesk/sync-all", sync_all)
}

#[derive(Debug, Deserialize)]
struct SyncBody {
    incidence_id: uuid::Uuid,
}

async fn connected(state: &AppState, tenant: &Tenant) -> ApiResult<()> {
    match state
        .integrations
        .freshdesk(tenant.id)
        .await
        .map_err(ApiError::internal)?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::Conflict("Freshdesk is not connected for this tenant".into())),
    }
}

async fn sync_one(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiJson(body): ApiJson<SyncBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = &caller.tenant;
    let id = IncidenceId(body.incidence_id);
    repo::by_id(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("incidence {id}")))?;
    connected(&state, tenant).await?;
    let job = spec_job(
        tenant.id,
        &TicketSync {
            incidence_id: id,
            create_if_missing: true,
            refresh_fields: true,
        },
    )?;
    let job_id = queue::enqueue_now(&state.db, job, crate::clock::now()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "queued", "job_id": job_id, "incidence_id": id })),
    ))
}

async fn sync_all(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = &caller.tenant;
    connected(&state, tenant).await?;
    let job = NewJob::new(&SyncAll {}).map_err(ApiError::internal)?.tenant(tenant.id);
    let job_id = queue::enqueue_now(&state.db, job, crate::clock::now()).await?;
    let open = repo::count_open(&state.db, tenant.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "queued", "job_id": job_id, "open_incidences": open })),
    ))
}
