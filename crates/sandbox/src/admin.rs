//! The admin API (JSON, no auth — the sandbox is a development tool), relative to the mount:
//!
//! | route | does |
//! | --- | --- |
//! | `GET /admin/state` | everything, for debugging |
//! | `GET /admin/faults` · `POST /admin/faults` · `DELETE /admin/faults` · `DELETE /admin/faults/{id}` | list · add a [`FaultRule`] (→ `{"id"}`) · clear · remove |
//! | `GET /admin/requests[?provider=freshdesk]` · `DELETE /admin/requests` | request log · clear log and counters |
//! | `GET /admin/counters` | calls per provider and endpoint |
//! | `GET /admin/webhooks` · `POST /admin/webhooks/release` · `POST /admin/settle` | deliveries · release held batches · wait until all deliveries finished |
//! | `PUT /admin/freshchat/webhook` `{"url": …\|null}` · `GET /admin/freshchat/public-key` | target · PEM |
//! | `PUT /admin/freshdesk/webhook` `{"url", "auth": "none"\|{"basic":{"username","password"}}\|{"token":…}}` or `null` | target |
//! | `PUT /admin/freshdesk/template-escaping` `{"escape": bool}` | JSON-escape template values |
//! | `POST /admin/freshdesk/reindex` · `POST /admin/freshdesk/rate-limit/reset` `{"per_minute"?}` | search index catches up · new rate window |
//! | `POST /admin/freshchat/customer-says` `{"user","text"}` | [`Sandbox::customer_says`] |
//! | `POST /admin/freshchat/conversations/{id}/{resolve\|reopen}` `{"by_agent"}` | status change + webhook |
//! | `POST /admin/freshdesk/tickets/{id}/agent-reply` `{"body_html","agent_email"?}` | [`Sandbox::agent_replies`] |
//! | `PUT /admin/freshdesk/tickets/{id}/status` `{"status"}` | [`Sandbox::set_ticket_status`] |

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use url::Url;

use crate::faults::{FaultRule, Provider};
use crate::{FreshdeskWebhookTarget, Sandbox, SandboxError};

pub(crate) fn router() -> Router<Sandbox> {
    Router::new()
        .route("/state", get(state))
        .route("/faults", get(list_faults).post(add_fault).delete(clear_faults))
        .route("/faults/{id}", delete(remove_fault))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/counters", get(counters))
        .route("/webhooks", get(webhooks))
        .route("/webhooks/release", post(release))
        .route("/settle", post(settle))
        .route("/freshchat/webhook", put(freshchat_webhook))
        .route("/freshchat/public-key", get(public_key))
        .route("/freshchat/customer-says", post(customer_says))
        .route("/freshchat/conversations/{id}/{action}", post(conversation_action))
        .route("/freshdesk/webhook", put(freshdesk_webhook))
        .route("/freshdesk/template-escaping", put(template_escaping))
        .route("/freshdesk/reindex", post(reindex))
        .route("/freshdesk/rate-limit/reset", post(reset_rate_limit))
        .route("/freshdesk/tickets/{id}/agent-reply", post(agent_reply))
        .route("/freshdesk/tickets/{id}/status", put(ticket_status))
}

/// Admin errors: 400/404 with `{"error": "…"}`.
struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SandboxError> for AdminError {
    fn from(e: SandboxError) -> Self {
        let status = match e {
            SandboxError::TicketNotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        AdminError(status, e.to_string())
    }
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.to_string()))
}

async fn state(State(sb): State<Sandbox>) -> Json<serde_json::Value> {
    Json(sb.inspect().state())
}

async fn list_faults(State(sb): State<Sandbox>) -> Response {
    Json(sb.faults().list()).into_response()
}

async fn add_fault(State(sb): State<Sandbox>, body: Bytes) -> Result<Response, AdminError> {
    let rule: FaultRule = parse(&body)?;
    let id = sb
        .faults()
        .add(rule)
        .map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn clear_faults(State(sb): State<Sandbox>) -> StatusCode {
    sb.faults().clear();
    StatusCode::NO_CONTENT
}

async fn remove_fault(State(sb): State<Sandbox>, Path(id): Path<u64>) -> StatusCode {
    if sb.faults().remove(id) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn requests(State(sb): State<Sandbox>, Query(q): Query<HashMap<String, String>>) -> Result<Response, AdminError> {
    let provider = match q.get("provider").map(String::as_str) {
        None => None,
        Some("freshchat") => Some(Provider::Freshchat),
        Some("freshdesk") => Some(Provider::Freshdesk),
        Some(other) => {
            return Err(AdminError(StatusCode::BAD_REQUEST, format!("unknown provider {other}")));
        }
    };
    Ok(Json(sb.inspect().requests(provider)).into_response())
}

async fn clear_requests(State(sb): State<Sandbox>) -> StatusCode {
    sb.clear_request_log();
    StatusCode::NO_CONTENT
}

async fn counters(State(sb): State<Sandbox>) -> Response {
    Json(sb.inspect().counters()).into_response()
}

async fn webhooks(State(sb): State<Sandbox>) -> Response {
    Json(sb.inspect().webhook_deliveries()).into_response()
}

async fn release(State(sb): State<Sandbox>) -> StatusCode {
    sb.release_held_webhooks();
    StatusCode::NO_CONTENT
}

async fn settle(State(sb): State<Sandbox>) -> StatusCode {
    sb.settle().await;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct UrlBody {
    url: Option<Url>,
}

async fn freshchat_webhook(State(sb): State<Sandbox>, body: Bytes) -> Result<StatusCode, AdminError> {
    let body: UrlBody = parse(&body)?;
    sb.set_freshchat_webhook_url(body.url);
    Ok(StatusCode::NO_CONTENT)
}

async fn public_key(State(sb): State<Sandbox>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        sb.freshchat_public_key_pem(),
    )
        .into_response()
}

async fn freshdesk_webhook(State(sb): State<Sandbox>, body: Bytes) -> Result<StatusCode, AdminError> {
    let target: Option<FreshdeskWebhookTarget> = parse(&body)?;
    sb.set_freshdesk_webhook(target);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EscapeBody {
    escape: bool,
}

async fn template_escaping(State(sb): State<Sandbox>, body: Bytes) -> Result<StatusCode, AdminError> {
    let body: EscapeBody = parse(&body)?;
    sb.set_template_escaping(body.escape);
    Ok(StatusCode::NO_CONTENT)
}

async fn reindex(State(sb): State<Sandbox>) -> StatusCode {
    sb.reindex_search();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize, Default)]
struct RateBody {
    per_minute: Option<u32>,
}

async fn reset_rate_limit(State(sb): State<Sandbox>, body: Bytes) -> Result<StatusCode, AdminError> {
    let body: RateBody = if body.is_empty() {
        RateBody::default()
    } else {
        parse(&body)?
    };
    sb.reset_freshdesk_rate_limit(body.per_minute);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct SaysBody {
    user: String,
    text: String,
}

async fn customer_says(State(sb): State<Sandbox>, body: Bytes) -> Result<Response, AdminError> {
    let body: SaysBody = parse(&body)?;
    let chat = sb.customer_says(&body.user, &body.text).await?;
    Ok((StatusCode::CREATED, Json(chat)).into_response())
}

#[derive(Deserialize)]
struct ByBody {
    #[serde(default)]
    by_agent: bool,
}

async fn conversation_action(
    State(sb): State<Sandbox>,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, AdminError> {
    let by: ByBody = if body.is_empty() {
        ByBody { by_agent: true }
    } else {
        parse(&body)?
    };
    match action.as_str() {
        "resolve" => sb.resolve_conversation(&id, by.by_agent).await?,
        "reopen" => sb.reopen_conversation(&id, by.by_agent).await?,
        other => return Err(AdminError(StatusCode::NOT_FOUND, format!("no action {other}"))),
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ReplyBody {
    body_html: String,
    agent_email: Option<String>,
}

async fn agent_reply(State(sb): State<Sandbox>, Path(id): Path<u64>, body: Bytes) -> Result<Response, AdminError> {
    let body: ReplyBody = parse(&body)?;
    let conversation_id = sb
        .agent_replies(id, &body.body_html, body.agent_email.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": conversation_id }))).into_response())
}

#[derive(Deserialize)]
struct StatusBody {
    status: u16,
}

async fn ticket_status(State(sb): State<Sandbox>, Path(id): Path<u64>, body: Bytes) -> Result<StatusCode, AdminError> {
    let body: StatusBody = parse(&body)?;
    sb.set_ticket_status(id, body.status).await?;
    Ok(StatusCode::NO_CONTENT)
}
