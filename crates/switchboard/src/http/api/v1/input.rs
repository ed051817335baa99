//! Request bodies of the customer-facing endpoints, whose every 422 names its field — also for a
//! missing field, which the JSON extractor reports against the whole body — and the small
//! parsers they share.

use axum::body::{Body as RawBody, Bytes};
use axum::extract::{FromRequest, Request};
use domain::context::ContextError;
use domain::ids::UserId;
use domain::money::{Currency, Money};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::{ApiError, FieldError};
use crate::http::extract::ApiJson;

/// A JSON object body like [`ApiJson`] (415, 400, 422 alike), with a missing field named as that
/// field, and any JSON other than an object refused (serde would read an array as a struct).
#[derive(Debug, Clone)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read(Request::from_parts(parts.clone(), body), state).await?;
        let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let not_an_object = || ApiError::validation("body", "must be a JSON object");
        let parsed = ApiJson::<T>::from_request(Request::from_parts(parts, RawBody::from(bytes)), state).await;
        match (parsed, is_object) {
            (Ok(ApiJson(v)), true) => Ok(Body(v)),
            (Ok(_) | Err(ApiError::Validation(_)), false) => Err(not_an_object()),
            (Err(e), _) => Err(name_missing_field(e)),
        }
    }
}

/// An optional JSON object body: `None` when the request has no body at all.
#[derive(Debug, Clone)]
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read(Request::from_parts(parts.clone(), body), state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(None));
        }
        let req = Request::from_parts(parts, RawBody::from(bytes));
        Body::<T>::from_request(req, state)
            .await
            .map(|Body(v)| OptionalBody(Some(v)))
    }
}

/// The body's bytes, within the configured body limit.
async fn read<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest(e.body_text()),
    })
}

/// `missing field `cart_value`` reported against `body` → reported against `cart_value`.
fn name_missing_field(e: ApiError) -> ApiError {
    match e {
        ApiError::Validation(errors) => ApiError::Validation(
            errors
                .into_iter()
                .map(|f| match missing_field(&f) {
                    Some(field) => FieldError {
                        field,
                        message: "is required".into(),
                    },
                    None => f,
                })
                .collect(),
        ),
        other => other,
    }
}

fn missing_field(f: &FieldError) -> Option<String> {
    let rest = f.message.strip_prefix("missing field `")?;
    let (name, _) = rest.split_once('`')?;
    let prefix = if f.field == "body" {
        String::new()
    } else {
        format!("{}.", f.field)
    };
    Some(format!("{prefix}{name}"))
}

/// A refused context input → 422 naming its field.
pub fn context_error(e: ContextError) -> ApiError {
    ApiError::validation(e.field, e.problem.to_string())
}

/// An identifier sent as a JSON string or an integer (backends use both), as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdText(pub String);

impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = IdText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IdText, E> {
                Ok(IdText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IdText, E> {
                Ok(IdText(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The tenant's user id from a body field.
pub fn user_id(field: &str, raw: &IdText) -> Result<UserId, ApiError> {
    UserId::parse(raw.0.clone()).map_err(|e| ApiError::validation(field, e.to_string()))
}

/// Trimmed free text of at most `max` characters without control characters (line breaks are
/// allowed); blank is `None`.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    let Some(t) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(ApiError::validation(field, format!("must be at most {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(ApiError::validation(field, "must not contain control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// A non-negative amount in the tenant's currency, parsed exactly from the JSON number.
pub fn amount(field: &str, n: &serde_json::Number, currency: Currency) -> Result<Money, ApiError> {
    let m = Money::from_json_number(n, currency).map_err(|e| ApiError::validation(field, e.to_string()))?;
    if m.is_negative() {
        return Err(ApiError::validation(field, "must not be negative"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_are_named() {
        let e = name_missing_field(ApiError::validation(
            "body",
            "missing field `cart_value` at line 1 column 2",
        ));
        let ApiError::Validation(errors) = e else {
            panic!("still a validation error")
        };
        assert_eq!(errors[0].field, "cart_value");
        let e = name_missing_field(ApiError::validation("items[0]", "missing field `sku`"));
        let ApiError::Validation(errors) = e else {
            panic!("still a validation error")
        };
        assert_eq!(errors[0].field, "items[0].sku");
        let e = name_missing_field(ApiError::validation("qty", "invalid type"));
        let ApiError::Validation(errors) = e else {
            panic!("still a validation error")
        };
        assert_eq!(errors[0].field, "qty");
    }

    #[test]
    fn ids_are_strings_or_integers() {
        let s: IdText = serde_json::from_str("\"u-1\"").expect("text");
        assert_eq!(s.0, "u-1");
        let n: IdText = serde_json::from_str("42").expect("int");
        assert_eq!(n.0, "42");
        assert!(serde_json::from_str::<IdText>("4.5").is_err());
        assert!(serde_json::from_str::<IdText>("{}").is_err());
    }
}
