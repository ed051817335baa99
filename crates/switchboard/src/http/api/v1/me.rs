//! `GET /api/v1/me`: which tenant and key a request is made with.

use axum::Json;
use serde_json::{Value, json};

use crate::http::extract::Caller;
use crate::http::routes::Routes;

pub fn router() -> Routes {
    Routes::new().get("/me", me)
}

async fn me(caller: Caller) -> Json<Value> {
    let t = &caller.tenant;
    Json(json!({
        "tenant": { "slug": t.slug, "name": t.name, "currency": t.currency, "timezone": t.timezone.name() },
        "key": { "kind": caller.key.kind, "prefix": caller.key.prefix, "name": caller.key.name },
    }))
}
