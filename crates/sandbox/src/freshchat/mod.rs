//! The Freshchat v2 fake: REST API (freshworks.md §1) and conversation webhooks (§2).

mod api;
pub mod model;
pub(crate) mod store;
pub(crate) mod webhooks;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::gate::{GateState, gate};
use crate::{Provider, Sandbox, SandboxError};

pub(crate) fn router(sandbox: &Sandbox) -> Router<Sandbox> {
    api::routes().layer(from_fn_with_state(
        GateState {
            sandbox: sandbox.clone(),
            provider: Provider::Freshchat,
        },
        gate,
    ))
}

/// Freshchat's error object: `{"code": <http status>, "status": "<MACHINE>", "message": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatError {
    #[serde(skip)]
    http: StatusCode,
    code: u16,
    status: String,
    message: String,
}

impl ChatError {
    pub(crate) fn new(http: StatusCode, message: impl Into<String>) -> Self {
        let status = http
            .canonical_reason()
            .unwrap_or("ERROR")
            .to_ascii_uppercase()
            .replace([' ', '-'], "_");
        Self {
            http,
            code: http.as_u16(),
            status,
            message: message.into(),
        }
    }

    /// 404 `<WHAT>_NOT_FOUND` (as `AGENT_NOT_FOUND` in the docs).
    pub(crate) fn not_found(what: &str) -> Self {
        Self {
            http: StatusCode::NOT_FOUND,
            code: 404,
            status: format!("{}_NOT_FOUND", what.to_ascii_uppercase()),
            message: format!("{what} not found"),
        }
    }

    /// 400 `INVALID_VALUE`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            code: 400,
            status: "INVALID_VALUE".into(),
            message: message.into(),
        }
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Invalid or missing API token")
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ChatError {
    fn into_response(self) -> Response {
        (self.http, Json(&self)).into_response()
    }
}

impl From<ChatError> for SandboxError {
    fn from(e: ChatError) -> Self {
        SandboxError::Freshchat(format!("{} {}: {}", e.code, e.status, e.message))
    }
}
