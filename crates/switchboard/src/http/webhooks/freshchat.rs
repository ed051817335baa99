//! `POST /webhooks/freshchat` (tenant `default`) and `POST /webhooks/{tenant}/freshchat`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use providers::freshchat::parse_webhook;

use super::{Receipt, body_digest, default_slug, tenant};
use crate::error::ApiError;
use crate::inbox::{self, Initial, NewEvent, Provider};
use crate::state::AppState;

pub async fn for_default(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    receive(state, default_slug(), headers, body).await
}

pub async fn for_tenant(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    receive(state, &slug, headers, body).await
}

async fn receive(state: AppState, slug: &str, headers: HeaderMap, body: Bytes) -> Result<Json<Receipt>, ApiError> {
    let tenant = tenant(&state, slug).await?;
    let integration = state
        .integrations
        .freshchat(tenant.id)
        .await
        .map_err(ApiError::internal)?;
    let Some(verifier) = integration.as_ref().and_then(|i| i.verifier.as_ref()) else {
        return Err(ApiError::Unauthorized(
            "Freshchat webhooks are not configured for this tenant (no public key or secret)".into(),
        ));
    };
    let signature = headers.get("x-freshchat-signature").and_then(|v| v.to_str().ok());
    if !verifier.verify(&body, signature) {
        return Err(ApiError::Unauthorized(
            "the X-Freshchat-Signature header is missing or does not match the body".into(),
        ));
    }
    // Authentic from here on: whatever it says, it is kept.
    let (dedupe_key, ordering_key, initial) = match parse_webhook(&body) {
        Ok(event) => (
            event.dedupe_key(),
            Some(format!("conv:{}", event.conversation_id())),
            Initial::Pending,
        ),
        Err(e) => (
            format!("unreadable:{}", body_digest(&body)),
            None,
            Initial::Failed(e.to_string()),
        ),
    };
    let event = NewEvent {
        tenant_id: tenant.id,
        provider: Provider::Freshchat,
        dedupe_key,
        ordering_key,
        headers: inbox::keepable_headers(&headers),
        body: body.to_vec(),
        received_at: crate::clock::now(),
        initial,
    };
    Ok(Json(
        state.ingest.accept(event).await.map_err(super::unavailable)?.into(),
    ))
}
