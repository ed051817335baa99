//! `GET /api/v1/me`: which tenant and key a request is made with.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::http::extract::Caller;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/me", get(me))
}

async fn me(caller: Caller) -> Json<Value> {
    let t = &caller.tenant;
    Json(json!({
        "tenant": { "slug": t.slug, "name": t.name, "currency": t.currency, "timezone": t.timezone.name() },
        "key": { "kind": caller.key.kind, "prefix": caller.key.prefix, "name": caller.key.name },
    }))
}
