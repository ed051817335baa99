//! Callback requests (SPEC §7). A customer asks to be called (`POST /call/request`, publishable
//! or secret key) — allowed only when routing offers CALL for their current cart; staff list the
//! pending ones and claim, complete or cancel them (secret key).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::callback::{self, CallbackAction, CallbackState, Transition};
use domain::money::Money;
use domain::phone::{self, Country};
use domain::routing::{self, RouteDecision, SupportChannel};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::store_error;
use super::input::{Body, IdText, OptionalBody, optional_text, user_id};
use crate::callbacks::{self, CallbackRequest};
use crate::clock;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, ApiQuery, Caller, SecretCaller};
use crate::http::routes::Routes;
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new()
        .post("/call/request", request)
        .get("/call/pending", pending)
        .get("/call/{id}", show)
        .post("/call/{id}/claim", claim)
        .post("/call/{id}/complete", complete)
        .post("/call/{id}/cancel", cancel)
}

/// A callback request as the API shows it (money as a decimal number).
#[derive(Debug, Serialize)]
struct CallbackView {
    id: Uuid,
    user_id: String,
    phone: Option<String>,
    reason: Option<String>,
    state: CallbackState,
    claimed_by: Option<String>,
    cart_value: serde_json::Number,
    currency: String,
    routing: RouteDecision,
    created_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl From<CallbackRequest> for CallbackView {
    fn from(r: CallbackRequest) -> Self {
        CallbackView {
            id: r.id,
            user_id: r.user_id,
            phone: r.phone,
            reason: r.reason,
            state: r.state,
            claimed_by: r.claimed_by,
            cart_value: r.cart_value.to_json_number(r.currency),
            currency: r.currency.code().to_owned(),
            routing: r.routing,
            created_at: r.created_at,
            claimed_at: r.claimed_at,
            completed_at: r.completed_at,
            cancelled_at: r.cancelled_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Deserialize)]
struct NewRequest {
    user_id: IdText,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /call/request`: 201 with a new request, 200 with the customer's pending one, 403 when
/// routing does not offer calls for the current cart.
async fn request(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewRequest>,
) -> ApiResult<(StatusCode, Json<CallbackView>)> {
    let tenant = &caller.tenant;
    let user = user_id("user_id", &body.user_id)?;
    let reason = optional_text("reason", body.reason.as_deref(), 1000)?;
    let country = Country::for_currency(tenant.currency.code());
    let given = optional_text("phone", body.phone.as_deref(), 40)?;
    let ctx = state.contexts.get(tenant.id, &user).await.map_err(store_error)?;
    let phone = match given {
        Some(p) => Some(phone::parse(&p, country).map_err(|e| ApiError::validation("phone", e.to_string()))?),
        // A phone in the profile is used when it parses; a bad stored one is not the caller's fault.
        None => ctx
            .as_ref()
            .and_then(|c| c.profile.phone.as_deref())
            .and_then(|p| phone::parse(p, country).ok()),
    };

    let (cart_value, event_type) = ctx
        .as_ref()
        .map_or((Money::ZERO, None), |c| (c.cart.cart_value, c.cart.event_type.clone()));
    let decision = routing::route(cart_value, event_type.as_deref(), &tenant.settings.routing);
    routing::check_channel(
        &decision,
        SupportChannel::Call,
        &tenant.settings.routing,
        tenant.currency,
    )
    .map_err(|refused| ApiError::Forbidden(refused.reason))?;

    let now = clock::now();
    let new = CallbackRequest {
        id: Uuid::now_v7(),
        tenant_id: tenant.id,
        user_id: user.as_str().to_owned(),
        phone: phone.map(|p| p.as_str().to_owned()),
        reason,
        state: CallbackState::Pending,
        claimed_by: None,
        cart_value,
        currency: tenant.currency,
        routing: decision,
        created_at: now,
        claimed_at: None,
        completed_at: None,
        cancelled_at: None,
        updated_at: now,
    };
    // A second request while one is pending returns that one; if it was claimed in between,
    // the next attempt stores this one.
    for _ in 0..3 {
        if callbacks::insert_pending(&state.db, &new).await? {
            return Ok((StatusCode::CREATED, Json(new.into())));
        }
        if let Some(existing) = callbacks::pending_for_user(&state.db, tenant.id, &user).await? {
            return Ok((StatusCode::OK, Json(existing.into())));
        }
    }
    Err(ApiError::Conflict(
        "the customer's callback request kept changing; try again".into(),
    ))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Page {
    data: Vec<CallbackView>,
    next_cursor: Option<Uuid>,
}

/// `GET /call/pending?cursor=&limit=`: pending requests, oldest first.
async fn pending(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page>> {
    let tenant = caller.tenant.id;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let after = match q.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let id =
                Uuid::parse_str(c).map_err(|_| ApiError::validation("cursor", "is not a cursor from this list"))?;
            Some(
                callbacks::get(&state.db, tenant, id)
                    .await?
                    .ok_or_else(|| ApiError::validation("cursor", "is not a cursor from this list"))?,
            )
        }
    };
    let data = callbacks::list_pending(&state.db, tenant, after.as_ref(), limit).await?;
    let next_cursor = (data.len() == limit as usize)
        .then(|| data.last().map(|r| r.id))
        .flatten();
    Ok(Json(Page {
        data: data.into_iter().map(CallbackView::from).collect(),
        next_cursor,
    }))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("callback request '{raw}'")))
}

async fn load(state: &AppState, tenant: &Tenant, raw: &str) -> ApiResult<CallbackRequest> {
    let id = parse_id(raw)?;
    callbacks::get(&state.db, tenant.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("callback request {id}")))
}

/// `GET /call/{id}`.
async fn show(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CallbackView>> {
    Ok(Json(load(&state, &caller.tenant, &id).await?.into()))
}

#[derive(Debug, Default, Deserialize)]
struct ClaimBody {
    /// Who will call (an agent's name or e-mail); defaults to the API key's name.
    #[serde(default)]
    claimed_by: Option<String>,
}

/// `POST /call/{id}/claim` with an optional `{"claimed_by"}`.
async fn claim(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<String>,
    OptionalBody(body): OptionalBody<ClaimBody>,
) -> ApiResult<Json<CallbackView>> {
    let by = optional_text("claimed_by", body.unwrap_or_default().claimed_by.as_deref(), 200)?
        .unwrap_or_else(|| format!("api key {}", caller.key.name));
    act(&state, &caller.tenant, &id, CallbackAction::Claim { by }).await
}

/// `POST /call/{id}/complete`.
async fn complete(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CallbackView>> {
    act(&state, &caller.tenant, &id, CallbackAction::Complete).await
}

/// `POST /call/{id}/cancel`.
async fn cancel(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CallbackView>> {
    act(&state, &caller.tenant, &id, CallbackAction::Cancel).await
}

/// Applies a staff action: decided by `domain::callback`, stored only if nobody changed the
/// request in between (else decided again on the fresh state). 409 when not allowed.
async fn act(state: &AppState, tenant: &Tenant, raw_id: &str, action: CallbackAction) -> ApiResult<Json<CallbackView>> {
    for _ in 0..5 {
        let current = load(state, tenant, raw_id).await?;
        let to = match callback::transition(current.state, current.claimed_by.as_deref(), &action) {
            Ok(Transition::Unchanged) => return Ok(Json(current.into())),
            Ok(Transition::To(to)) => to,
            Err(e) => return Err(ApiError::Conflict(e.to_string())),
        };
        let by = match &action {
            CallbackAction::Claim { by } => Some(by.as_str()),
            _ => None,
        };
        if callbacks::transition(&state.db, &current, to, by, clock::now()).await? {
            return Ok(Json(load(state, tenant, raw_id).await?.into()));
        }
    }
    Err(ApiError::Conflict(
        "the callback request kept changing; try again".into(),
    ))
}
