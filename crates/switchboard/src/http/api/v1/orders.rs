//! `POST /api/v1/orders` (SPEC §9), from the tenant's backend (secret key): idempotent by order
//! id — 201 when first reported, 200 with the same order when reported again; a changed status
//! or value updates it. A placed or modified order is linked to the customer's incidence of the
//! assisted window before it (whose `order_impact` it sets), and the live context learns it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, SubsecRound, Utc};
use domain::context::{self, CustomerContext};
use domain::ids::{IncidenceId, UserId};
use domain::money::Currency;
use domain::order::OrderStatus;
use serde::{Deserialize, Serialize};

use super::context::store_error;
use super::input::{Body, IdText, amount, user_id};
use crate::clock;
use crate::context_store::push;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ApiPath, SecretCaller};
use crate::http::routes::Routes;
use crate::incidences::RecordError;
use crate::orders::{self, Order};
use crate::state::AppState;
use crate::tenants::Tenant;

pub fn router() -> Routes {
    Routes::new().post("/orders", report).get("/orders/{order_id}", show)
}

#[derive(Debug, Deserialize)]
struct OrderReport {
    order_id: IdText,
    user_id: IdText,
    value: serde_json::Number,
    status: String,
    #[serde(default)]
    placed_at: Option<String>,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(Debug, Serialize)]
struct OrderView {
    order_id: String,
    user_id: String,
    value: serde_json::Number,
    currency: String,
    status: OrderStatus,
    placed_at: DateTime<Utc>,
    /// The incidence that assisted the order; `null` for a self-serve order.
    incidence_id: Option<IncidenceId>,
    assisted: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        OrderView {
            value: o.value.to_json_number(o.currency),
            currency: o.currency.code().to_owned(),
            assisted: o.incidence_id.is_some(),
            order_id: o.order_id,
            user_id: o.user_id,
            status: o.status,
            placed_at: o.placed_at,
            incidence_id: o.incidence_id,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

fn order_id(raw: &IdText) -> Result<String, ApiError> {
    let id = raw.0.trim();
    if id.is_empty() {
        return Err(ApiError::validation("order_id", "must not be empty"));
    }
    if id.chars().count() > 255 || id.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "order_id",
            "must be at most 255 characters without control characters",
        ));
    }
    Ok(id.to_owned())
}

/// What a report says, validated.
struct Reported {
    order_id: String,
    user: UserId,
    value: domain::money::Money,
    status: OrderStatus,
    placed_at: Option<DateTime<Utc>>,
}

fn validate(r: OrderReport, currency: Currency) -> Result<Reported, ApiError> {
    let order_id = order_id(&r.order_id)?;
    let user = user_id("user_id", &r.user_id)?;
    let value = amount("value", &r.value, currency)?;
    let status = OrderStatus::parse(&r.status)
        .ok_or_else(|| ApiError::validation("status", "must be one of placed, modified, cancelled"))?;
    if let Some(c) = r.currency.as_deref().map(str::trim).filter(|c| !c.is_empty())
        && !c.eq_ignore_ascii_case(currency.code())
    {
        return Err(ApiError::validation(
            "currency",
            format!("must be the tenant's currency, {}", currency.code()),
        ));
    }
    let placed_at = match r.placed_at.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(
            DateTime::parse_from_rfc3339(p)
                .map_err(|_| ApiError::validation("placed_at", "must be an RFC 3339 timestamp"))?
                .with_timezone(&Utc)
                // Both databases keep microseconds: what is stored is what is compared.
                .trunc_subsecs(6),
        ),
    };
    Ok(Reported {
        order_id,
        user,
        value,
        status,
        placed_at,
    })
}

async fn report(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    Body(body): Body<OrderReport>,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let tenant = &caller.tenant;
    let r = validate(body, tenant.currency)?;
    let (order, created, changed) = store(&state, tenant, &r).await?;
    // Retried until the link sticks: a report whose link failed is completed by its replay.
    let order = if r.status.impact().is_some() && (changed || order.incidence_id.is_none()) {
        link(&state, tenant, order).await?
    } else {
        order
    };
    if changed {
        learn(&state, tenant, &r).await?;
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(order.into())))
}

/// Inserts or updates the order: `(order, created, changed)`.
async fn store(state: &AppState, tenant: &Tenant, r: &Reported) -> ApiResult<(Order, bool, bool)> {
    for _ in 0..5 {
        let now = clock::now();
        let Some(old) = orders::get(&state.db, tenant.id, &r.order_id).await? else {
            let new = Order {
                tenant_id: tenant.id,
                order_id: r.order_id.clone(),
                user_id: r.user.as_str().to_owned(),
                value: r.value,
                currency: tenant.currency,
                status: r.status,
                placed_at: r.placed_at.unwrap_or(now),
                incidence_id: None,
                created_at: now,
                updated_at: now,
            };
            if orders::insert(&state.db, &new).await? {
                return Ok((new, true, true));
            }
            continue;
        };
        if old.user_id != r.user.as_str() {
            return Err(ApiError::Conflict(format!(
                "order '{}' belongs to another customer",
                r.order_id
            )));
        }
        let new = Order {
            value: r.value,
            status: r.status,
            placed_at: r.placed_at.unwrap_or(old.placed_at),
            updated_at: now,
            ..old.clone()
        };
        if (new.value, new.status, new.placed_at) == (old.value, old.status, old.placed_at) {
            return Ok((old, false, false));
        }
        if orders::replace(&state.db, &old, &new).await? {
            return Ok((new, false, true));
        }
    }
    Err(ApiError::Conflict("the order kept changing; try again".into()))
}

/// Links the order to the incidence that assisted it (the incidence records the order impact).
async fn link(state: &AppState, tenant: &Tenant, order: Order) -> ApiResult<Order> {
    let (Some(impact), Ok(user)) = (order.status.impact(), UserId::parse(order.user_id.clone())) else {
        return Ok(order);
    };
    let linked = crate::incidences::link_order(state, tenant, &user, &order.order_id, impact, order.placed_at)
        .await
        .map_err(|e| match e {
            RecordError::Contended => ApiError::Conflict(e.to_string()),
            other => ApiError::internal(other),
        })?;
    let Some(incidence) = linked.filter(|i| Some(*i) != order.incidence_id) else {
        return Ok(order);
    };
    let new = Order {
        incidence_id: Some(incidence),
        updated_at: clock::now(),
        ..order.clone()
    };
    if orders::replace(&state.db, &order, &new).await? {
        return Ok(new);
    }
    // Changed meanwhile by another report, which links it itself.
    Ok(orders::get(&state.db, tenant.id, &order.order_id)
        .await?
        .unwrap_or(order))
}

/// The live context learns the order (an incidence then starts POST_ORDER); a cancelled order
/// is forgotten if it was the customer's current one.
async fn learn(state: &AppState, tenant: &Tenant, r: &Reported) -> ApiResult<()> {
    let user = &r.user;
    let order_id = r.order_id.as_str();
    let now = clock::now();
    let update: Box<dyn FnMut(Option<CustomerContext>) -> CustomerContext + Send + '_> = match r.status {
        OrderStatus::Placed | OrderStatus::Modified => {
            Box::new(move |old| context::apply_order(old, user, Some(order_id), now))
        }
        OrderStatus::Cancelled => {
            let current = state.contexts.get(tenant.id, user).await.map_err(store_error)?;
            if current.and_then(|c| c.order_id).as_deref() != Some(order_id) {
                return Ok(());
            }
            Box::new(move |old| match old {
                Some(c) if c.order_id.as_deref() == Some(order_id) => context::apply_order(Some(c), user, None, now),
                Some(c) => c,
                None => CustomerContext::new(user.clone(), now),
            })
        }
    };
    state
        .contexts
        .update(tenant.id, user, update)
        .await
        .map_err(store_error)?;
    push::changed(state, tenant.id, user).await?;
    Ok(())
}

/// `GET /orders/{order_id}`.
async fn show(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    ApiPath(order_id): ApiPath<String>,
) -> ApiResult<Json<OrderView>> {
    orders::get(&state.db, caller.tenant.id, &order_id)
        .await?
        .map(|o| Json(o.into()))
        .ok_or_else(|| ApiError::NotFound(format!("order '{order_id}'")))
}
