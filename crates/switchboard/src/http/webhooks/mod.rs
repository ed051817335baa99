//! Provider webhooks: verify, store the raw body with its processing job, answer. Nothing is
//! processed in the request; a 2xx means the event is durably stored.

pub mod freshchat;
pub mod freshdesk;

use std::sync::Arc;

use domain::ids::TenantSlug;
use serde::Serialize;

use crate::error::ApiError;
use crate::http::routes::Routes;
use crate::inbox::Accepted;
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new()
        .post("/webhooks/freshchat", freshchat::for_default)
        .post("/webhooks/{tenant}/freshchat", freshchat::for_tenant)
        .post("/webhooks/freshdesk", freshdesk::for_default)
        .post("/webhooks/{tenant}/freshdesk", freshdesk::for_tenant)
}

async fn tenant(state: &AppState, slug: &str) -> Result<Arc<Tenant>, ApiError> {
    state
        .tenants
        .by_slug(slug)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("tenant '{slug}'")))
}

fn default_slug() -> &'static str {
    TenantSlug::DEFAULT
}

/// The answer to an accepted webhook.
#[derive(Debug, Serialize)]
pub struct Receipt {
    pub status: &'static str,
    pub event_id: uuid::Uuid,
}

impl From<Accepted> for Receipt {
    fn from(a: Accepted) -> Self {
        match a {
            Accepted::New(id) => Receipt {
                status: "accepted",
                event_id: id,
            },
            Accepted::Duplicate(id) => Receipt {
                status: "duplicate",
                event_id: id,
            },
        }
    }
}

/// Not stored, so not accepted: the provider retries after the `Retry-After` (a 503, never a
/// 500, per §15).
fn unavailable(e: crate::inbox::ingest::IngestError) -> ApiError {
    if let crate::inbox::ingest::IngestError::Failed(why) = &e {
        tracing::error!(error = %why, "a webhook could not be stored");
    }
    ApiError::Unavailable { retry_after_secs: 1 }
}

/// A stable key for a body that could not be read: the same bytes delivered twice are one event.
fn body_digest(body: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body).as_ref())
}
