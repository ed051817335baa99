//! `POST /webhooks/freshdesk` (tenant `default`) and `POST /webhooks/{tenant}/freshdesk`: the
//! automation rules' webhooks, authenticated by the tenant's token as the Basic-auth password or
//! as `?token=` (Freshdesk cannot sign).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use providers::freshdesk::{WebhookError, check_webhook_auth, parse_webhook};

use super::{Receipt, default_slug, tenant};
use crate::error::ApiError;
use crate::inbox::{self, Initial, NewEvent, Provider};
use crate::state::AppState;

type Params = Query<HashMap<String, String>>;

pub async fn for_default(
    State(state): State<AppState>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    receive(state, default_slug(), q, headers, body).await
}

pub async fn for_tenant(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    receive(state, &slug, q, headers, body).await
}

async fn receive(
    state: AppState,
    slug: &str,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let tenant = tenant(&state, slug).await?;
    let integration = state
        .integrations
        .freshdesk(tenant.id)
        .await
        .map_err(ApiError::internal)?;
    let Some(expected) = integration.as_ref().and_then(|i| i.webhook_token.as_ref()) else {
        return Err(ApiError::Unauthorized(
            "Freshdesk webhooks are not configured for this tenant (no webhook token)".into(),
        ));
    };
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !check_webhook_auth(
        authorization,
        query.get("token").map(String::as_str),
        expected.expose().as_bytes(),
    ) {
        return Err(ApiError::Unauthorized(
            "send the webhook token as the Basic-auth password or as ?token=".into(),
        ));
    }
    // A Freshdesk webhook is only a trigger (processing reads the API), so every delivery is
    // kept as its own event: a repeated trigger costs one read, never a double effect.
    let dedupe_key = uuid::Uuid::now_v7().to_string();
    let parsed = parse_webhook(&body);
    let (ordering_key, initial) = match &parsed {
        Ok(e) => {
            let key = match e.conversation_id().filter(|c| !c.is_empty()) {
                Some(c) => format!("conv:{c}"),
                None => format!("ticket:{}", e.ticket_id()),
            };
            (Some(key), Initial::Pending)
        }
        Err(e) => (None, Initial::Rejected(problem_text(e))),
    };
    let event = NewEvent {
        tenant_id: tenant.id,
        provider: Provider::Freshdesk,
        dedupe_key,
        ordering_key,
        headers: inbox::keepable_headers(&headers),
        body: body.to_vec(),
        received_at: crate::clock::now(),
        initial: initial.clone(),
    };
    let receipt = state.ingest.accept(event).await.map_err(super::unavailable)?;
    match initial {
        Initial::Rejected(why) => Err(ApiError::BadRequest(format!(
            "{why} (stored as event {})",
            receipt.id()
        ))),
        _ => Ok(Json(receipt.into())),
    }
}

fn problem_text(e: &WebhookError) -> String {
    match e {
        WebhookError::InvalidJson(_) => format!(
            "{e}. Check the automation rule's JSON template: an agent comment containing quotes breaks a template whose \
             placeholders are not escaped"
        ),
        other => format!("{other}. The body must follow one of the two templates in Switchboard's README"),
    }
}
