//! `POST /api/v1/messages/send`: a message to the customer's chat from Switchboard (the
//! dashboard's reply box), sent by a job like every provider call.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use domain::ids::{ConversationId, IncidenceId};
use domain::incidence::Channel;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::db::incidences as repo;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, SecretCaller};
use crate::http::routes::Routes;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new().post("/messages/send", send)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    incidence_id: Option<uuid::Uuid>,
    conversation_id: Option<String>,
    text: String,
}

const MAX_TEXT: usize = 4000;

async fn send(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiJson(body): ApiJson<SendBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = &caller.tenant;
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::validation("text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(ApiError::validation("text", format!("at most {MAX_TEXT} characters")));
    }
    let stored = match (body.incidence_id, body.conversation_id) {
        (Some(id), None) => repo::by_id(&state.db, tenant.id, IncidenceId(id)).await?,
        (None, Some(c)) => {
            let c = ConversationId::parse(c).map_err(|e| ApiError::validation("conversation_id", e.to_string()))?;
            repo::by_conversation(&state.db, tenant.id, Channel::InAppChat, &c).await?
        }
        _ => {
            return Err(ApiError::validation(
                "incidence_id",
                "give exactly one of incidence_id and conversation_id",
            ));
        }
    }
    .ok_or_else(|| ApiError::NotFound("incidence".into()))?;
    if stored.incidence.channel != Channel::InAppChat {
        return Err(ApiError::Conflict("only chat incidences can be messaged".into()));
    }
    if state
        .integrations
        .freshchat(tenant.id)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::Conflict("Freshchat is not connected for this tenant".into()));
    }
    let reference = crate::sync::chat::queue_message(&state, tenant.id, stored.incidence.id, text).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "queued", "message_ref": reference, "incidence_id": stored.incidence.id })),
    ))
}
