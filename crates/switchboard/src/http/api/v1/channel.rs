//! `POST /api/v1/channel/route` (SPEC §6): which support channels an order of this value (and
//! event type) gets. Publishable or secret key.

use axum::Json;
use domain::routing::{self, RouteDecision};
use serde::Deserialize;

use super::input::{Body, amount, optional_text};
use crate::error::ApiResult;
use crate::http::extract::Caller;
use crate::http::routes::Routes;

pub fn router() -> Routes {
    Routes::new().post("/channel/route", route)
}

#[derive(Debug, Deserialize)]
struct RouteRequest {
    order_value: serde_json::Number,
    #[serde(default)]
    event_type: Option<String>,
}

async fn route(caller: Caller, Body(req): Body<RouteRequest>) -> ApiResult<Json<RouteDecision>> {
    let tenant = &caller.tenant;
    let value = amount("order_value", &req.order_value, tenant.currency)?;
    let event_type = optional_text("event_type", req.event_type.as_deref(), 100)?;
    Ok(Json(routing::route(
        value,
        event_type.as_deref(),
        &tenant.settings.routing,
    )))
}
