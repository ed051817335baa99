//! The Freshdesk v2 fake: tickets, notes, replies, search, ticket fields (freshworks.md §3)
//! and automation webhooks (§4).

pub(crate) mod api;
pub(crate) mod automation;
mod fields;
mod index;
pub mod model;
mod reader;
pub(crate) mod search;
pub(crate) mod store;
mod validation;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::gate::{GateState, gate};
use crate::{Provider, Sandbox, SandboxError};

pub(crate) fn router(sandbox: &Sandbox) -> Router<Sandbox> {
    api::routes().layer(from_fn_with_state(
        GateState {
            sandbox: sandbox.clone(),
            provider: Provider::Freshdesk,
        },
        gate,
    ))
}

/// One entry of a validation error body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub code: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
            code: code.to_string(),
        }
    }
}

/// Freshdesk error answers.
#[derive(Debug)]
pub enum DeskError {
    /// 400 `{"description":"Validation failed","errors":[…]}`.
    Validation(Vec<FieldError>),
    /// 404 with an empty body.
    NotFound,
    /// 400 `{"code":"invalid_json","message":…}`.
    InvalidJson(String),
}

impl DeskError {
    pub(crate) fn one(field: &str, code: &str, message: impl Into<String>) -> Self {
        DeskError::Validation(vec![FieldError::new(field, code, message)])
    }
}

impl IntoResponse for DeskError {
    fn into_response(self) -> Response {
        match self {
            DeskError::Validation(errors) => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "description": "Validation failed", "errors": errors })),
            )
                .into_response(),
            DeskError::NotFound => StatusCode::NOT_FOUND.into_response(),
            DeskError::InvalidJson(message) => (
                StatusCode::BAD_REQUEST,
                Json(json!({ "code": "invalid_json", "message": message })),
            )
                .into_response(),
        }
    }
}

impl From<DeskError> for SandboxError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Validation(errors) => SandboxError::Freshdesk(
                errors
                    .iter()
                    .map(|e| format!("{} {}: {}", e.field, e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            DeskError::NotFound => SandboxError::Freshdesk("not found".into()),
            DeskError::InvalidJson(m) => SandboxError::Freshdesk(m),
        }
    }
}
