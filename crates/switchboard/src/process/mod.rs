//! Turning stored webhook events into domain events: one processor per provider, run by the
//! inbox's processing job.

pub mod freshchat;
pub mod freshdesk;

use std::sync::Arc;

use domain::ids::TenantId;

use crate::inbox::ProcessError;
use crate::jobs::JobError;
use crate::state::AppState;
use crate::tenants::Tenant;

async fn tenant(state: &AppState, id: TenantId) -> Result<Arc<Tenant>, ProcessError> {
    state
        .tenants
        .by_id(id)
        .await?
        .ok_or_else(|| ProcessError::Invalid(format!("tenant {id} no longer exists")))
}

impl From<crate::incidences::RecordError> for ProcessError {
    fn from(e: crate::incidences::RecordError) -> Self {
        ProcessError::Job(JobError::Retryable(e.to_string()))
    }
}
