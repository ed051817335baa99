//! Freshchat v2 HTTP handlers (paths relative to `/v2`).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ChatError;
use super::model::ConversationStatus;
use super::store::{ConversationUpdate, NewMessage, UserInput};
use crate::{Sandbox, lock, timestamps};

type Params = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", get(get_user).put(update_user))
        .route("/users/{id}/conversations", get(user_conversations))
        .route("/conversations", axum::routing::post(create_conversation))
        .route("/conversations/{id}", get(get_conversation).put(update_conversation))
        .route("/conversations/{id}/messages", get(list_messages).post(post_message))
        .route("/agents", get(list_agents))
        .route("/agents/{id}", get(get_agent))
        .route("/groups", get(list_groups))
        .route("/channels", get(list_channels))
        .route("/accounts/configuration", get(account_configuration))
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ChatError> {
    serde_json::from_slice(body).map_err(|e| ChatError::invalid(e.to_string()))
}

fn created(sb: &Sandbox, body: impl Serialize) -> Response {
    let status = StatusCode::from_u16(sb.inner.config.freshchat_create_status).unwrap_or(StatusCode::CREATED);
    (status, Json(body)).into_response()
}

// ---- pagination (freshworks.md §1.3) ----------------------------------------------------

const DEFAULT_PER_PAGE: usize = 20;
const MAX_PER_PAGE: usize = 100;

struct PageRequest {
    page: usize,
    per_page: usize,
}

fn page_request(q: &HashMap<String, String>) -> Result<PageRequest, ChatError> {
    let number = |key: &str, default: usize| -> Result<usize, ChatError> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ChatError::invalid(format!("{key} must be a positive integer"))),
        }
    };
    Ok(PageRequest {
        page: number("page", 1)?,
        per_page: number("items_per_page", DEFAULT_PER_PAGE)?.min(MAX_PER_PAGE),
    })
}

/// `{"<key>": [...], "pagination": {...}, "links": {...}}`.
fn paginated<T: Serialize>(key: &str, items: &[T], req: &PageRequest, path: &str) -> Value {
    let total = items.len();
    let total_pages = total.div_ceil(req.per_page).max(1);
    let start = (req.page - 1).saturating_mul(req.per_page);
    let page: Vec<&T> = items.iter().skip(start).take(req.per_page).collect();
    let href = |page: usize| {
        json!({ "href": format!("{path}?page={page}&items_per_page={}", req.per_page),
                "rel": "self", "type": "GET" })
    };
    let mut links = Map::new();
    if req.page < total_pages {
        links.insert("next_page".into(), href(req.page + 1));
    }
    if req.page > 1 {
        links.insert("previous_page".into(), href(req.page - 1));
    }
    let mut body = Map::new();
    body.insert(key.into(), json!(page));
    body.insert(
        "pagination".into(),
        json!({ "total_items": total, "total_pages": total_pages,
                "current_page": req.page, "items_per_page": req.per_page }),
    );
    body.insert("links".into(), Value::Object(links));
    Value::Object(body)
}

// ---- users ------------------------------------------------------------------------------

async fn list_users(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    Query(q): Params,
) -> Result<Json<Value>, ChatError> {
    let req = page_request(&q)?;
    let store = lock(&sb.inner.freshchat);
    let users: Vec<_> = store
        .users()
        .iter()
        .filter(|u| q.get("reference_id").is_none_or(|r| u.reference_id.as_ref() == Some(r)))
        .filter(|u| {
            q.get("email")
                .is_none_or(|e| u.email.as_deref().is_some_and(|mine| mine.eq_ignore_ascii_case(e)))
        })
        .collect();
    Ok(Json(paginated("users", &users, &req, uri.path())))
}

async fn create_user(State(sb): State<Sandbox>, body: Bytes) -> Result<Response, ChatError> {
    let input: UserInput = parse(&body)?;
    let user = sb.inner.chat(|s| s.create_user(input))?;
    Ok(created(&sb, user))
}

async fn get_user(State(sb): State<Sandbox>, Path(id): Path<String>) -> Result<Response, ChatError> {
    let store = lock(&sb.inner.freshchat);
    let user = store.user(&id).ok_or_else(|| ChatError::not_found("user"))?;
    Ok(Json(user).into_response())
}

async fn update_user(State(sb): State<Sandbox>, Path(id): Path<String>, body: Bytes) -> Result<Response, ChatError> {
    let input: UserInput = parse(&body)?;
    let user = sb.inner.chat(|s| s.update_user(&id, input))?;
    Ok(Json(user).into_response())
}

async fn user_conversations(State(sb): State<Sandbox>, Path(id): Path<String>) -> Result<Json<Value>, ChatError> {
    let store = lock(&sb.inner.freshchat);
    store.user(&id).ok_or_else(|| ChatError::not_found("user"))?;
    let ids: Vec<Value> = store
        .user_conversations(&id)
        .iter()
        .map(|c| json!({ "id": c.conversation_id }))
        .collect();
    Ok(Json(json!({ "conversations": ids })))
}

// ---- conversations ----------------------------------------------------------------------

#[derive(Deserialize)]
struct NewConversation {
    #[serde(default)]
    channel_id: Option<String>,
    users: Vec<UserRef>,
    #[serde(default)]
    messages: Vec<NewMessage>,
    #[serde(default)]
    properties: Map<String, Value>,
    #[serde(default)]
    status: Option<ConversationStatus>,
}

#[derive(Deserialize)]
struct UserRef {
    id: String,
}

async fn create_conversation(State(sb): State<Sandbox>, body: Bytes) -> Result<Response, ChatError> {
    let new: NewConversation = parse(&body)?;
    let conversation = sb.inner.chat(|s| {
        if new.channel_id.as_ref().is_some_and(|c| *c != s.channel_id) {
            return Err(ChatError::invalid("unknown channel_id"));
        }
        let user = new
            .users
            .first()
            .ok_or_else(|| ChatError::invalid("users must name the conversation's user"))?;
        let conversation = s.create_conversation(&user.id, new.properties)?;
        let id = conversation.conversation_id.clone();
        for message in new.messages {
            s.post_message(&id, message)?;
        }
        match new.status {
            Some(status) if status != ConversationStatus::New => {
                let by = s.acting_agent(&id);
                s.transition(&id, status, by)
            }
            _ => Ok(conversation),
        }
    })?;
    Ok(created(&sb, conversation))
}

async fn get_conversation(State(sb): State<Sandbox>, Path(id): Path<String>) -> Result<Response, ChatError> {
    let store = lock(&sb.inner.freshchat);
    let conversation = store
        .conversation(&id)
        .ok_or_else(|| ChatError::not_found("conversation"))?;
    Ok(Json(conversation).into_response())
}

async fn update_conversation(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ChatError> {
    let update: ConversationUpdate = parse(&body)?;
    let conversation = sb.inner.chat(|s| {
        let by = s.acting_agent(&id);
        s.update_conversation(&id, update, by)
    })?;
    Ok(Json(conversation).into_response())
}

// ---- messages ---------------------------------------------------------------------------

async fn list_messages(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    Query(q): Params,
) -> Result<Json<Value>, ChatError> {
    let req = page_request(&q)?;
    let from = match q.get("from_time") {
        Some(t) => Some(timestamps::parse(t).ok_or_else(|| ChatError::invalid("from_time must be an ISO-8601 time"))?),
        None => None,
    };
    let store = lock(&sb.inner.freshchat);
    store
        .conversation(&id)
        .ok_or_else(|| ChatError::not_found("conversation"))?;
    // Newest first, as Pipedream's reverse() of collected pages suggests.
    let messages: Vec<_> = store
        .messages(&id)
        .iter()
        .rev()
        .filter(|m| from.is_none_or(|f| m.created_time >= f))
        .collect();
    Ok(Json(paginated("messages", &messages, &req, uri.path())))
}

async fn post_message(State(sb): State<Sandbox>, Path(id): Path<String>, body: Bytes) -> Result<Response, ChatError> {
    let new: NewMessage = parse(&body)?;
    let message = sb.inner.chat(|s| s.post_message(&id, new))?;
    Ok(created(&sb, message))
}

// ---- agents, groups, channels, account ---------------------------------------------------

async fn list_agents(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    Query(q): Params,
) -> Result<Json<Value>, ChatError> {
    let req = page_request(&q)?;
    let store = lock(&sb.inner.freshchat);
    Ok(Json(paginated("agents", store.agents(), &req, uri.path())))
}

async fn get_agent(State(sb): State<Sandbox>, Path(id): Path<String>) -> Result<Response, ChatError> {
    let store = lock(&sb.inner.freshchat);
    let agent = store.agent(&id).ok_or_else(|| ChatError::not_found("agent"))?;
    Ok(Json(agent).into_response())
}

async fn list_groups(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    Query(q): Params,
) -> Result<Json<Value>, ChatError> {
    let req = page_request(&q)?;
    let store = lock(&sb.inner.freshchat);
    let groups = [json!({ "id": store.group_id, "name": "Support", "description": "Sandbox support team" })];
    Ok(Json(paginated("groups", &groups, &req, uri.path())))
}

async fn list_channels(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    Query(q): Params,
) -> Result<Json<Value>, ChatError> {
    let req = page_request(&q)?;
    let store = lock(&sb.inner.freshchat);
    let channels = [json!({ "id": store.channel_id, "name": "Inbox", "tags": [],
                            "enabled": true, "public": true, "locale": "en" })];
    Ok(Json(paginated("channels", &channels, &req, uri.path())))
}

async fn account_configuration(State(sb): State<Sandbox>) -> Json<Value> {
    let store = lock(&sb.inner.freshchat);
    Json(json!({
        "account_id": store.account_id,
        "organisation_id": "1940890452600000000",
        "app_id": store.app_id,
        "datacenter": "US",
        "account_domain": "sandbox.freshchat.com",
        "account_name": sb.inner.config.helpdesk_name,
    }))
}
