//! One error type for the HTTP API, mapped to `application/problem+json` (RFC 9457) in one place.
//! Server errors are logged with their cause and answered without it.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than this endpoint accepts")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the service is busy; retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::Internal(e.into())
    }
}

/// The problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    /// The problem for a status, with the standard reason phrase as its title.
    pub fn for_status(status: StatusCode, detail: Option<String>) -> Problem {
        let title = status.canonical_reason().unwrap_or("Error").to_owned();
        let slug = title.to_lowercase().replace(' ', "-");
        Problem {
            kind: format!("urn:switchboard:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail,
            errors: vec![],
        }
    }

    pub fn into_response_with(self, extra: Option<(header::HeaderName, HeaderValue)>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, Json(self)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some((name, value)) = extra {
            res.headers_mut().insert(name, value);
        }
        res
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "request failed");
                None
            }
            other => Some(other.to_string()),
        };
        let mut problem = Problem::for_status(status, detail);
        let mut extra = None;
        match self {
            ApiError::Validation(errors) => problem.errors = errors,
            ApiError::Unauthorized(_) => extra = Some((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))),
            ApiError::Unavailable { retry_after_secs } => {
                extra = HeaderValue::from_str(&retry_after_secs.to_string())
                    .ok()
                    .map(|v| (header::RETRY_AFTER, v));
            }
            _ => {}
        }
        problem.into_response_with(extra)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
