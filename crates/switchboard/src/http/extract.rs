//! Extractors: who is calling, and request bodies/paths/queries whose errors become problems.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::api_keys::{ApiKey, KeyKind};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Tenant;

/// A caller with a valid API key of any kind, and the tenant it belongs to.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Arc<Tenant>,
    pub key: ApiKey,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::Unauthorized(
                "send an API key as 'Authorization: Bearer sk_…' or 'Bearer pk_…'".into(),
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| (t.starts_with("sk_") || t.starts_with("pk_")) && t.len() < 200)
            .ok_or_else(|| ApiError::Unauthorized("the Authorization header is not a Switchboard API key".into()))?;
        let key = state
            .keys
            .resolve(token, crate::clock::now())
            .await?
            .ok_or_else(|| ApiError::Unauthorized("the API key is not valid or has been revoked".into()))?;
        let tenant = state
            .tenants
            .by_id(key.tenant_id)
            .await?
            .ok_or_else(|| ApiError::Unauthorized("the API key's tenant no longer exists".into()))?;
        Ok(Caller { tenant, key })
    }
}

/// A caller with a secret key: required for everything a customer's app must not do.
#[derive(Debug, Clone)]
pub struct SecretCaller(pub Caller);

impl FromRequestParts<AppState> for SecretCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.key.kind {
            KeyKind::Secret => Ok(SecretCaller(caller)),
            KeyKind::Publishable => Err(ApiError::Forbidden(
                "this endpoint needs a secret key (sk_…); publishable keys (pk_…) may only report context, signals, routing and callback requests".into(),
            )),
        }
    }
}

/// JSON body whose errors are problems: 415 without a JSON content type, 400 for malformed JSON,
/// 422 naming the field for well-formed JSON of the wrong shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

fn json_problem(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send the body as JSON with 'Content-Type: application/json'".into())
        }
        JsonRejection::JsonDataError(e) => {
            // "Failed to deserialize the JSON body into the target type: cart_value: invalid type…"
            let text = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.body_text());
            let (field, message) = match text.split_once(": ") {
                Some((path, msg)) if !path.contains(' ') => (path.to_owned(), msg.to_owned()),
                _ => ("body".to_owned(), text),
            };
            ApiError::validation(field, message)
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
            "the body is not valid JSON: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Path parameters whose errors are problems (400 naming the bad segment).
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// Query parameters whose errors are problems (400).
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}
