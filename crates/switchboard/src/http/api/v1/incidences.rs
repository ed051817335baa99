//! `/api/v1/incidences`: list (filters, cursor pagination), one with its timeline, close.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::ids::IncidenceId;
use domain::incidence::{Channel, Closing, OrderImpact, Outcome, Stage};
use domain::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::db::incidences::{self as repo, ListFilter, Summary};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, SecretCaller};
use crate::http::routes::Routes;
use crate::incidences;
use crate::state::AppState;

pub fn router() -> Routes {
    Routes::new()
        .get("/incidences", list)
        .get("/incidences/{id}", show)
        .post("/incidences/{id}/close", close)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    outcome: Option<String>,
    channel: Option<String>,
    stage: Option<String>,
    user_id: Option<String>,
    /// RFC 3339; created at or after.
    from: Option<String>,
    /// RFC 3339; created before.
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

fn one_of<T>(field: &str, value: Option<String>, parse: fn(&str) -> Option<T>, all: &[T]) -> ApiResult<Option<String>>
where
    T: std::fmt::Display,
{
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match parse(&v.to_uppercase()) {
            Some(_) => Ok(Some(v.to_uppercase())),
            None => {
                let names: Vec<String> = all.iter().map(ToString::to_string).collect();
                Err(ApiError::validation(field, format!("one of {}", names.join(", "))))
            }
        },
    }
}

fn time(field: &str, value: Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            DateTime::parse_from_rfc3339(&v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::validation(field, "an RFC 3339 time such as 2026-11-01T00:00:00Z"))
        })
        .transpose()
}

/// Cursors are opaque to clients: the last row's (created_at, id).
fn encode_cursor(s: &Summary) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", s.created_at.timestamp_micros(), s.id))
}

fn decode_cursor(c: &str) -> ApiResult<(DateTime<Utc>, uuid::Uuid)> {
    let bad = || ApiError::validation("cursor", "not a cursor from a previous page");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (micros, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

#[derive(Debug, Serialize)]
struct Page {
    data: Vec<Value>,
    next_cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit", "from 1 to 200"));
    }
    let filter = ListFilter {
        outcome: one_of("outcome", q.outcome, Outcome::parse, Outcome::ALL)?,
        channel: one_of("channel", q.channel, Channel::parse, Channel::ALL)?,
        stage: one_of("stage", q.stage, Stage::parse, Stage::ALL)?,
        user_id: q.user_id.filter(|u| !u.is_empty()),
        from: time("from", q.from)?,
        to: time("to", q.to)?,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
    };
    let rows = repo::list(&state.db, caller.tenant.id, &filter).await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(encode_cursor))
        .flatten();
    let data = rows.iter().map(|r| summary_json(r, caller.tenant.currency)).collect();
    Ok(Json(Page { data, next_cursor }))
}

pub fn summary_json(s: &Summary, currency: Currency) -> Value {
    json!({
        "id": s.id,
        "user_id": s.user_id,
        "order_id": s.order_id,
        "conversation_id": s.conversation_id,
        "channel": s.channel,
        "stage": s.stage,
        "trigger": s.trigger,
        "app_screen": s.app_screen,
        "cart_value": s.cart_value_minor.map(|m| Money::from_minor(m).to_json_number(currency)),
        "currency": currency,
        "guest_count": s.guest_count,
        "event_type": s.event_type,
        "friction_score": s.friction_score,
        "outcome": s.outcome,
        "issue_category": s.issue_category,
        "root_cause": s.root_cause,
        "resolution_type": s.resolution_type,
        "order_impact": s.order_impact,
        "agent_id": s.agent_id,
        "priority": s.priority,
        "freshdesk_ticket_id": s.freshdesk_ticket_id,
        "created_at": s.created_at,
        "resolved_at": s.resolved_at,
        "time_to_resolve_seconds": s.time_to_resolve_seconds,
        "last_activity_at": s.last_activity_at,
    })
}

async fn detail(state: &AppState, tenant: &crate::tenants::Tenant, id: IncidenceId) -> ApiResult<Value> {
    let summary = repo::summary(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("incidence {id}")))?;
    let timeline = repo::timeline(&state.db, tenant.id, id).await?;
    let mut body = summary_json(&summary, tenant.currency);
    body["timeline"] = timeline
        .into_iter()
        .map(|e| {
            json!({
                "type": e.kind,
                "actor": e.actor,
                "content": e.content,
                "metadata": e.metadata_json.0,
                "provider_ref": e.provider_ref,
                "created_at": e.created_at,
            })
        })
        .collect();
    Ok(body)
}

async fn show(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<uuid::Uuid>,
) -> ApiResult<Json<Value>> {
    Ok(Json(detail(&state, &caller.tenant, IncidenceId(id)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseBody {
    outcome: String,
    order_impact: Option<String>,
    issue_category: Option<String>,
    root_cause: Option<String>,
    resolution_type: Option<String>,
}

async fn close(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<uuid::Uuid>,
    ApiJson(body): ApiJson<CloseBody>,
) -> ApiResult<Json<Value>> {
    let outcome = Outcome::parse(&body.outcome.to_uppercase())
        .filter(|o| *o != Outcome::InProgress)
        .ok_or_else(|| ApiError::validation("outcome", "one of RESOLVED, DROPPED, CONVERTED"))?;
    let order_impact = match body.order_impact {
        Some(i) => OrderImpact::parse(&i.to_uppercase())
            .ok_or_else(|| ApiError::validation("order_impact", "one of PLACED, MODIFIED, LOST, NONE"))?,
        None => match outcome {
            Outcome::Converted => OrderImpact::Placed,
            Outcome::Dropped => OrderImpact::Lost,
            _ => OrderImpact::None,
        },
    };
    let text = |field: &str, v: Option<String>| -> ApiResult<Option<String>> {
        match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > 500 => Err(ApiError::validation(field, "at most 500 characters")),
            other => Ok(other),
        }
    };
    let closing = Closing {
        outcome,
        order_impact,
        issue_category: text("issue_category", body.issue_category)?,
        root_cause: text("root_cause", body.root_cause)?,
        resolution_type: text("resolution_type", body.resolution_type)?,
    };
    let id = IncidenceId(id);
    incidences::close(&state, &caller.tenant, id, closing)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::NotFound(format!("incidence {id}")))?;
    Ok(Json(detail(&state, &caller.tenant, id).await?))
}
