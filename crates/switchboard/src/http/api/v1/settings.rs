//! `GET /api/v1/settings` and `PATCH /api/v1/settings` (a JSON merge patch, RFC 7396): the
//! tenant's routing thresholds, friction weights, feature flags, Freshdesk field names and pace.
//! Amounts are decimal numbers in the tenant's currency, as everywhere in the API.

use axum::Json;
use axum::extract::State;
use domain::money::Money;
use serde_json::{Map, Value};

use super::input::Body;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::http::extract::SecretCaller;
use crate::http::routes::Routes;
use crate::state::AppState;
use crate::tenants::{Tenant, TenantSettings};

pub fn router() -> Routes {
    Routes::new().get("/settings", show).patch("/settings", patch)
}

/// Settings that hold money: stored in minor units, shown as decimals.
const MONEY: &[&[&str]] = &[
    &["agent_hourly_rate"],
    &["routing", "low_threshold"],
    &["routing", "high_threshold"],
];

fn at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(*k))
}

fn view(tenant: &Tenant, settings: &TenantSettings) -> ApiResult<Value> {
    let mut v = serde_json::to_value(settings).map_err(ApiError::internal)?;
    for path in MONEY {
        if let Some(slot) = at(&mut v, path)
            && let Some(minor) = slot.as_i64()
        {
            *slot = Value::Number(Money::from_minor(minor).to_json_number(tenant.currency));
        }
    }
    Ok(v)
}

async fn show(SecretCaller(caller): SecretCaller) -> ApiResult<Json<Value>> {
    Ok(Json(view(&caller.tenant, &caller.tenant.settings)?))
}

/// RFC 7396: objects merge, `null` removes (here: back to the default), anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match v {
                    Value::Null => {
                        t.remove(k);
                    }
                    v => merge(t.entry(k.clone()).or_insert(Value::Null), v),
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// The keys of `patch` that the settings do not have (typos would otherwise vanish silently).
fn unknown_keys(patch: &Map<String, Value>, known: &Value, prefix: &str, out: &mut Vec<String>) {
    for (k, v) in patch {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (known.get(k), v) {
            (None, _) => out.push(path),
            (Some(Value::Object(_)), Value::Object(inner)) => unknown_keys(inner, &known[k], &path, out),
            _ => {}
        }
    }
}

async fn patch(
    State(state): State<AppState>,
    SecretCaller(caller): SecretCaller,
    Body(patch): Body<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let tenant = &caller.tenant;
    let defaults = view(tenant, &TenantSettings::defaults_for(tenant.currency))?;
    let mut unknown = Vec::new();
    unknown_keys(&patch, &defaults, "", &mut unknown);
    if !unknown.is_empty() {
        let errors = unknown
            .into_iter()
            .map(|field| FieldError {
                field,
                message: "not a setting".into(),
            })
            .collect();
        return Err(ApiError::Validation(errors));
    }
    let mut merged = view(tenant, &tenant.settings)?;
    merge(&mut merged, &Value::Object(patch));
    for path in MONEY {
        let field = path.join(".");
        if let Some(slot) = at(&mut merged, path)
            && !slot.is_null()
        {
            let n = slot
                .as_number()
                .ok_or_else(|| ApiError::validation(&field, "a number"))?;
            let m =
                Money::from_json_number(n, tenant.currency).map_err(|e| ApiError::validation(&field, e.to_string()))?;
            if m.is_negative() {
                return Err(ApiError::validation(&field, "must not be negative"));
            }
            *slot = Value::from(m.minor());
        }
    }
    let settings: TenantSettings =
        serde_json::from_value(merged).map_err(|e| ApiError::validation("settings", e.to_string()))?;
    settings
        .routing
        .validate()
        .map_err(|e| ApiError::validation("routing", e.to_string()))?;
    settings
        .friction
        .validate()
        .map_err(|e| ApiError::validation("friction", e.to_string()))?;
    let updated = state
        .tenants
        .update_settings(tenant.id, &settings, crate::clock::now())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(view(&updated, &updated.settings)?))
}
