//! Freshdesk v2 HTTP handlers (paths relative to `/api/v2`).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::search;
use super::validation::{note_input, reply_input};
use super::{DeskError, fields};
use crate::{Sandbox, lock};

type Params = Query<HashMap<String, String>>;

const INCLUDES: [&str; 4] = ["conversations", "requester", "company", "stats"];

pub(super) fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/tickets", get(list_tickets).post(create_ticket))
        .route("/tickets/{id}", get(get_ticket).put(update_ticket))
        .route("/tickets/{id}/reply", post(reply))
        .route("/tickets/{id}/notes", post(note))
        .route("/tickets/{id}/conversations", get(conversations))
        .route("/search/tickets", get(search_tickets))
        .route("/ticket_fields", get(ticket_fields))
        .route("/agents", get(agents))
        .route("/contacts/{id}", get(contact))
}

/// API credits a request costs: one, plus one per `include` (freshworks.md §3.3, §3.8).
pub(crate) fn credits(query: Option<&str>) -> u32 {
    let includes = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == "include")
        .map(|(_, list)| list.split(',').filter(|i| INCLUDES.contains(&i.trim())).count())
        .sum::<usize>();
    1 + u32::try_from(includes).unwrap_or(0)
}

pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "code": "invalid_credentials",
                     "message": "You have to be logged in to perform this action." })),
    )
        .into_response()
}

pub(crate) fn invalid_content_type(content_type: &str) -> Response {
    (
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Json(json!({ "code": "invalid_content_type",
                     "message": format!("Content-Type header is set to {content_type}. It should be set to application/json") })),
    )
        .into_response()
}

pub(crate) fn injected(status: StatusCode) -> Response {
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace(' ', "_");
    (
        status,
        Json(json!({ "code": code, "message": "injected by the sandbox" })),
    )
        .into_response()
}

fn parse_body(body: &Bytes) -> Result<Value, DeskError> {
    serde_json::from_slice(body).map_err(|_| DeskError::InvalidJson("Request body has invalid json format".into()))
}

/// Ticket ids are integers; anything else is simply not found.
fn ticket_id(raw: &str) -> Result<u64, DeskError> {
    raw.parse().map_err(|_| DeskError::NotFound)
}

fn page_param(q: &HashMap<String, String>, key: &str, default: usize, max: usize) -> Result<usize, DeskError> {
    match q.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                DeskError::one(
                    key,
                    "invalid_value",
                    format!("It should be a/an Positive Integer less than or equal to {max}"),
                )
            }),
    }
}

async fn list_tickets(State(sb): State<Sandbox>, Query(q): Params) -> Result<Json<Vec<Value>>, DeskError> {
    let page = page_param(&q, "page", 1, 300)?;
    let per_page = page_param(&q, "per_page", 30, 100)?;
    let store = lock(&sb.inner.freshdesk);
    let requester = q.get("requester_id").and_then(|r| r.parse::<u64>().ok());
    let email = q.get("email");
    let tickets = store
        .tickets()
        .rev()
        .filter(|t| requester.is_none_or(|r| t.requester_id == r))
        .filter(|t| {
            email.is_none_or(|e| {
                store
                    .contact(t.requester_id)
                    .and_then(|c| c.email.as_deref())
                    .is_some_and(|m| m.eq_ignore_ascii_case(e))
            })
        })
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|t| json!(t))
        .collect();
    Ok(Json(tickets))
}

async fn create_ticket(
    State(sb): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Result<Response, DeskError> {
    let body = parse_body(&body)?;
    let ticket = sb.inner.desk(|s| s.create_ticket(&body))?;
    let location = format!("{}/{}", uri.path().trim_end_matches('/'), ticket.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(ticket)).into_response())
}

async fn get_ticket(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Value>, DeskError> {
    let id = ticket_id(&id)?;
    let includes: Vec<&str> = q
        .get("include")
        .map(|i| i.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(bad) = includes.iter().find(|i| !INCLUDES.contains(i)) {
        return Err(DeskError::one(
            "include",
            "invalid_value",
            format!("It should be one of these values: '{}' (got {bad})", INCLUDES.join(",")),
        ));
    }
    let store = lock(&sb.inner.freshdesk);
    let ticket = store.ticket(id).ok_or(DeskError::NotFound)?;
    let mut value = json!(ticket);
    if let Some(obj) = value.as_object_mut() {
        if includes.contains(&"conversations") {
            // Only the first ten, ascending.
            let first: Vec<_> = store.conversations(id).iter().take(10).collect();
            obj.insert("conversations".into(), json!(first));
        }
        if includes.contains(&"requester") {
            let requester = store
                .contact(ticket.requester_id)
                .map(|c| json!({ "id": c.id, "name": c.name, "email": c.email, "mobile": c.mobile, "phone": c.phone }));
            obj.insert("requester".into(), json!(requester));
        }
        if includes.contains(&"stats") {
            obj.insert(
                "stats".into(),
                json!({ "agent_responded_at": null, "requester_responded_at": null,
                        "first_responded_at": null, "status_updated_at": null, "reopened_at": null,
                        "resolved_at": null, "closed_at": null, "pending_since": null }),
            );
        }
        if includes.contains(&"company") {
            obj.insert("company".into(), json!({}));
        }
    }
    Ok(Json(value))
}

async fn update_ticket(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, DeskError> {
    let id = ticket_id(&id)?;
    let body = parse_body(&body)?;
    let ticket = sb.inner.desk(|s| s.update_ticket(id, &body))?;
    Ok(Json(json!(ticket)))
}

async fn reply(State(sb): State<Sandbox>, Path(id): Path<String>, body: Bytes) -> Result<Response, DeskError> {
    let id = ticket_id(&id)?;
    let body = parse_body(&body)?;
    let conversation = sb.inner.desk(|s| {
        s.ticket(id).ok_or(DeskError::NotFound)?;
        s.add_reply(id, reply_input(&body)?)
    })?;
    Ok((StatusCode::CREATED, Json(conversation)).into_response())
}

async fn note(State(sb): State<Sandbox>, Path(id): Path<String>, body: Bytes) -> Result<Response, DeskError> {
    let id = ticket_id(&id)?;
    let body = parse_body(&body)?;
    let conversation = sb.inner.desk(|s| {
        s.ticket(id).ok_or(DeskError::NotFound)?;
        s.add_note(id, note_input(&body)?)
    })?;
    Ok((StatusCode::CREATED, Json(conversation)).into_response())
}

async fn conversations(
    State(sb): State<Sandbox>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Result<Json<Vec<Value>>, DeskError> {
    let id = ticket_id(&id)?;
    let page = page_param(&q, "page", 1, usize::MAX)?;
    let per_page = page_param(&q, "per_page", 30, 100)?;
    let store = lock(&sb.inner.freshdesk);
    store.ticket(id).ok_or(DeskError::NotFound)?;
    let list = store
        .conversations(id)
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|c| json!(c))
        .collect();
    Ok(Json(list))
}

async fn search_tickets(State(sb): State<Sandbox>, Query(q): Params) -> Result<Json<Value>, DeskError> {
    let page = page_param(&q, "page", 1, 10)?;
    let raw = q
        .get("query")
        .ok_or_else(|| DeskError::one("query", "missing_field", "It should be a/an String"))?;
    if raw.chars().count() > 512 {
        return Err(DeskError::one(
            "query",
            "invalid_value",
            "It should not exceed 512 characters",
        ));
    }
    let inner = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| raw.len() >= 2)
        .ok_or_else(|| DeskError::one("query", "invalid_value", "Query should be enclosed in double quotes"))?;
    let expr = search::parse(inner)
        .map_err(|e| DeskError::one("query", "invalid_value", format!("Given query format is invalid: {e}")))?;
    let (total, results) = sb.inner.desk(|s| {
        search::check(&expr, &s.fields)
            .map_err(|e| DeskError::one("query", "invalid_value", format!("Given query format is invalid: {e}")))?;
        Ok::<_, DeskError>(s.search(&expr, page))
    })?;
    Ok(Json(json!({ "total": total, "results": results })))
}

async fn ticket_fields(State(sb): State<Sandbox>, Query(q): Params) -> Json<Vec<Value>> {
    let store = lock(&sb.inner.freshdesk);
    Json(fields::ticket_fields(&store, q.get("type").map(String::as_str)))
}

async fn agents(State(sb): State<Sandbox>) -> Json<Vec<Value>> {
    let store = lock(&sb.inner.freshdesk);
    Json(
        store
            .agents()
            .iter()
            .map(|a| {
                json!({ "id": a.id, "available": true, "occasional": false, "ticket_scope": 1,
                        "contact": { "name": a.name, "email": a.email, "active": true } })
            })
            .collect(),
    )
}

async fn contact(State(sb): State<Sandbox>, Path(id): Path<String>) -> Result<Json<Value>, DeskError> {
    let id = ticket_id(&id)?;
    let store = lock(&sb.inner.freshdesk);
    let contact = store.contact(id).ok_or(DeskError::NotFound)?;
    Ok(Json(json!(contact)))
}
