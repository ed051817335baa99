//! `/api/v1/context/{user_id}…` (SPEC §5): what the customer app reports — screens, cart,
//! profile, friction signals — and the whole live context. Publishable or secret key.
//!
//! Each update is one atomic change of the customer's context in the store (the pure
//! `domain::context::apply_*` followed by a rescore), then a debounced push to the agents' tools.
//! Updates answer the friction verdict, so the app knows at once whether to offer help.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use domain::context::{
    self, CartInput, ContextView, CustomerContext, FrictionSignal, ProfileInput, ProfileUpdate, ScreenView, SignalInput,
};
use domain::friction::{self, FrictionReason, FrictionScore};
use domain::ids::UserId;
use domain::routing::{self, RouteDecision};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::input::{Body, OptionalBody, context_error};
use crate::auth::api_keys::KeyKind;
use crate::context_store::{Update, push};
use crate::error::{ApiError, ApiResult};
use crate::friction_signals::{self, NewSignal};
use crate::http::extract::{ApiPath, ApiQuery, Caller};
use crate::http::routes::Routes;
use crate::state::AppState;
use crate::tenants::Tenant;
use crate::{clock, context_store};

pub fn router() -> Routes {
    Routes::new()
        .get("/context/{user_id}", show)
        .put("/context/{user_id}/screen", screen)
        .put("/context/{user_id}/cart", cart)
        .put("/context/{user_id}/profile", profile)
        .post("/context/{user_id}/friction-signal", signal)
}

/// The friction verdict every update answers with.
#[derive(Debug, Serialize)]
pub struct FrictionAnswer {
    pub friction_score: u8,
    pub should_show_help: bool,
    pub help_message: Option<String>,
    pub friction_reasons: Vec<FrictionReason>,
}

impl From<FrictionScore> for FrictionAnswer {
    fn from(s: FrictionScore) -> Self {
        Self {
            friction_score: s.score,
            should_show_help: s.should_show_help,
            help_message: s.help_message,
            friction_reasons: s.reasons,
        }
    }
}

#[derive(Debug, Serialize)]
struct Updated {
    status: &'static str,
    #[serde(flatten)]
    friction: FrictionAnswer,
    /// The channels the customer's cart now gets (cart updates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    routing: Option<RouteDecision>,
}

fn path_user(raw: String) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::validation("user_id", e.to_string()))
}

/// Applies `apply` and rescores, atomically in the store; then schedules the push to agents.
async fn change(
    state: &AppState,
    tenant: &Tenant,
    user: &UserId,
    now: DateTime<Utc>,
    mut apply: impl FnMut(Option<CustomerContext>) -> CustomerContext + Send,
) -> ApiResult<(CustomerContext, FrictionScore)> {
    let settings = &tenant.settings.friction;
    let update: Update<'_> = Box::new(move |old| friction::rescore(apply(old), now, settings).0);
    let ctx = state
        .contexts
        .update(tenant.id, user, update)
        .await
        .map_err(store_error)?;
    push::changed(state, tenant.id, user).await?;
    let score = friction::score(&ctx, now, settings);
    Ok((ctx, score))
}

pub fn store_error(e: context_store::StoreError) -> ApiError {
    match e {
        context_store::StoreError::Contended => ApiError::Conflict(e.to_string()),
        other => ApiError::internal(other),
    }
}

#[derive(Debug, Deserialize)]
struct ScreenQuery {
    screen_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ScreenBody {
    screen_name: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// `PUT …/screen` with `{"screen_name", "metadata"?}`, or the seed's `?screen_name=` (the body,
/// when given, wins).
async fn screen(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ScreenQuery>,
    OptionalBody(body): OptionalBody<ScreenBody>,
) -> ApiResult<Json<Updated>> {
    let user = path_user(user_id)?;
    let (name, metadata) = match body {
        Some(b) => (b.screen_name.or(query.screen_name), b.metadata),
        None => (query.screen_name, None),
    };
    let name = name.ok_or_else(|| ApiError::validation("screen_name", "is required"))?;
    let view = ScreenView::parse(&name, metadata).map_err(context_error)?;
    let tenant = &caller.tenant;
    let settings = &tenant.settings.context;
    let now = clock::now();
    let (_, score) = change(&state, tenant, &user, now, |old| {
        context::apply_screen(old, &user, &view, now, settings)
    })
    .await?;
    Ok(Json(Updated {
        status: "updated",
        friction: score.into(),
        routing: None,
    }))
}

/// `PUT …/cart`.
async fn cart(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    Body(input): Body<CartInput>,
) -> ApiResult<Json<Updated>> {
    let user = path_user(user_id)?;
    let tenant = &caller.tenant;
    let update = context::CartUpdate::parse(input, tenant.currency).map_err(context_error)?;
    let settings = &tenant.settings.context;
    let now = clock::now();
    let (ctx, score) = change(&state, tenant, &user, now, |old| {
        context::apply_cart(old, &user, &update, now, settings)
    })
    .await?;
    let decision = routing::route(
        ctx.cart.cart_value,
        ctx.cart.event_type.as_deref(),
        &tenant.settings.routing,
    );
    Ok(Json(Updated {
        status: "updated",
        friction: score.into(),
        routing: Some(decision),
    }))
}

/// `PUT …/profile`: only the given fields change.
async fn profile(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    Body(input): Body<ProfileInput>,
) -> ApiResult<Json<Updated>> {
    let user = path_user(user_id)?;
    let tenant = &caller.tenant;
    let update = ProfileUpdate::parse(input, tenant.currency).map_err(context_error)?;
    let now = clock::now();
    let (_, score) = change(&state, tenant, &user, now, |old| {
        context::apply_profile(old, &user, &update, now)
    })
    .await?;
    Ok(Json(Updated {
        status: "updated",
        friction: score.into(),
        routing: None,
    }))
}

#[derive(Debug, Deserialize)]
struct SignalBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    screen: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
}

/// A signal's value is a measurement (seconds idle, a price, a retry count): a number, or a
/// string holding one.
fn signal_value(value: Option<Value>) -> Result<Option<Value>, ApiError> {
    let refuse = || ApiError::validation("value", "must be a number");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(Value::Number(n))),
        Some(Value::String(s)) => {
            let n: serde_json::Number = s.trim().parse().map_err(|_| refuse())?;
            Ok(Some(Value::Number(n)))
        }
        Some(_) => Err(refuse()),
    }
}

/// `POST …/friction-signal`: logs the signal, counts it, rescores.
async fn signal(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
    Body(body): Body<SignalBody>,
) -> ApiResult<Json<FrictionAnswer>> {
    let user = path_user(user_id)?;
    let input = SignalInput {
        kind: body.kind,
        value: signal_value(body.value)?,
        screen: body.screen,
        session_id: body.session_id,
    };
    let signal = FrictionSignal::parse(input).map_err(context_error)?;
    let tenant = &caller.tenant;
    let settings = &tenant.settings.context;
    let now = clock::now();
    let (ctx, score) = change(&state, tenant, &user, now, |old| {
        context::apply_signal(old, &user, &signal, now, settings)
    })
    .await?;
    let session_id = ctx.session.as_ref().map_or("", |s| s.id.as_str());
    let screen = signal.screen.as_deref().or(ctx.current_screen());
    friction_signals::insert(
        &state.db,
        &NewSignal {
            tenant: tenant.id,
            user: &user,
            session_id,
            signal_type: signal.kind.as_str(),
            value: signal.value.as_ref(),
            screen,
            at: now,
        },
    )
    .await?;
    Ok(Json(score.into()))
}

/// The whole context (seed 004 §3.2 fields), scored now, with the verdict and the routing of
/// the current cart.
#[derive(Debug, Serialize)]
struct ContextAnswer {
    #[serde(flatten)]
    view: ContextView,
    should_show_help: bool,
    help_message: Option<String>,
    friction_reasons: Vec<FrictionReason>,
    routing: RouteDecision,
}

/// `GET /context/{user_id}`. A publishable key (it ships inside apps) does not see the
/// customer's name, e-mail or phone.
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<String>,
) -> ApiResult<Json<ContextAnswer>> {
    let user = path_user(user_id)?;
    let tenant: &Arc<Tenant> = &caller.tenant;
    let ctx = state
        .contexts
        .get(tenant.id, &user)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::NotFound(format!("context of user '{user}'")))?;
    let now = clock::now();
    let (ctx, score) = friction::rescore(ctx, now, &tenant.settings.friction);
    let mut view = ctx.view(now, tenant.currency);
    if caller.key.kind == KeyKind::Publishable {
        view.name = None;
        view.email = None;
        view.phone = None;
    }
    let routing = routing::route(
        ctx.cart.cart_value,
        ctx.cart.event_type.as_deref(),
        &tenant.settings.routing,
    );
    Ok(Json(ContextAnswer {
        view,
        should_show_help: score.should_show_help,
        help_message: score.help_message,
        friction_reasons: score.reasons,
        routing,
    }))
}
