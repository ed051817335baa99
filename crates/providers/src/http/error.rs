//! What can go wrong talking to a provider, and how the caller should react to it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use serde_json::Value;

use crate::lenient;

/// How a failed call should be handled by the job that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient (timeout, connection trouble, 408, 5xx): retry with backoff.
    Retryable,
    /// The request itself is wrong (4xx, validation, undecodable answer): retrying cannot help.
    Permanent,
    /// 429: wait `retry_after` when the provider said how long, else back off.
    RateLimited { retry_after: Option<Duration> },
}

/// One field-level complaint from a Freshdesk `{"description":"Validation failed","errors":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FieldError {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub field: String,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub message: String,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub code: Option<String>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        match &self.code {
            Some(code) => write!(f, " ({code})"),
            None => Ok(()),
        }
    }
}

/// The useful part of a provider's error body.
///
/// Freshchat answers `{"code":404,"status":"AGENT_NOT_FOUND","message":"…"}`, Freshdesk
/// `{"code":"access_denied","message":"…"}` or `{"description":"…","errors":[…]}`, and both may
/// answer with an empty or HTML body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderErrorBody {
    /// Machine-readable code: Freshchat's `status` string or Freshdesk's `code` string.
    pub code: Option<String>,
    /// Human-readable text: `message`, else Freshdesk's `description`.
    pub message: Option<String>,
    /// The start of a body that is not a recognised JSON error object.
    pub raw: Option<String>,
}

/// Error bodies are diagnostics, not data: keep them short in logs and job records.
const RAW_SNIPPET_CHARS: usize = 300;

impl ProviderErrorBody {
    pub fn parse(body: &[u8]) -> Self {
        let object = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            _ => return Self::raw(body),
        };
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_owned);
        // Freshchat's `code` is the HTTP status number; its machine string is `status`.
        let code = text("code").or_else(|| text("status"));
        let message = text("message").or_else(|| text("description"));
        if code.is_none() && message.is_none() {
            return Self::raw(body);
        }
        Self {
            code,
            message,
            raw: None,
        }
    }

    fn raw(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let raw = (!text.is_empty()).then(|| text.chars().take(RAW_SNIPPET_CHARS).collect());
        Self { raw, ..Self::default() }
    }
}

impl fmt::Display for ProviderErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message, &self.raw) {
            (Some(code), Some(message), _) => write!(f, "{code}: {message}"),
            (Some(text), None, _) | (None, Some(text), _) | (None, None, Some(text)) => f.write_str(text),
            (None, None, None) => f.write_str("(empty body)"),
        }
    }
}

/// A failed provider call. Messages never contain credentials or request URLs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider answered HTTP {status}: {body}")]
    Status {
        status: StatusCode,
        body: ProviderErrorBody,
        retry_after: Option<Duration>,
    },
    #[error("provider rejected the request (HTTP {status}): {}", join_field_errors(.errors))]
    Validation {
        status: StatusCode,
        description: Option<String>,
        errors: Vec<FieldError>,
    },
    /// `outcome_unknown`: a write was sent and may have been applied.
    #[error("provider request timed out{}", unknown_suffix(*.outcome_unknown))]
    Timeout { outcome_unknown: bool },
    /// The connection could not be established: the request was never sent.
    #[error("could not connect to provider: {0}")]
    Connect(String),
    /// The connection failed while the request or response was in flight.
    #[error("provider connection failed: {message}{}", unknown_suffix(*.outcome_unknown))]
    Transport { message: String, outcome_unknown: bool },
    /// A 2xx answer whose body does not have the documented shape.
    #[error("unexpected provider response body: {0}")]
    Decode(String),
    /// The request could not be built (bad id, bad query, bad base URL); nothing was sent.
    #[error("invalid provider request: {0}")]
    InvalidRequest(String),
}

fn join_field_errors(errors: &[FieldError]) -> String {
    if errors.is_empty() {
        return "validation failed".to_owned();
    }
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn unknown_suffix(outcome_unknown: bool) -> &'static str {
    if outcome_unknown {
        " (the write may have been applied)"
    } else {
        ""
    }
}

impl ProviderError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Status {
                status, retry_after, ..
            } => classify_status(*status, *retry_after),
            Self::Validation { status, .. } => classify_status(*status, None),
            Self::Timeout { .. } | Self::Connect(_) | Self::Transport { .. } => ErrorKind::Retryable,
            Self::Decode(_) | Self::InvalidRequest(_) => ErrorKind::Permanent,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } | Self::Validation { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wait the provider asked for (`Retry-After`), on any status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The provider's machine-readable error code, e.g. `AGENT_NOT_FOUND` or `invalid_value`.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            Self::Status { body, .. } => body.code.as_deref(),
            Self::Validation { errors, .. } => errors.iter().find_map(|e| e.code.as_deref()),
            _ => None,
        }
    }

    /// The provider's human-readable error message.
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            Self::Status { body, .. } => body.message.as_deref().or(body.raw.as_deref()),
            Self::Validation {
                description, errors, ..
            } => description
                .as_deref()
                .or_else(|| errors.first().map(|e| e.message.as_str())),
            _ => None,
        }
    }

    /// True when a write was sent but its result never came back: it may have happened, so a
    /// retry must first check (e.g. list the ticket's notes) or be idempotent by construction.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            Self::Timeout { outcome_unknown } | Self::Transport { outcome_unknown, .. } => *outcome_unknown,
            _ => false,
        }
    }
}

fn classify_status(status: StatusCode, retry_after: Option<Duration>) -> ErrorKind {
    if status == StatusCode::TOO_MANY_REQUESTS {
        ErrorKind::RateLimited { retry_after }
    } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        ErrorKind::Retryable
    } else {
        ErrorKind::Permanent
    }
}

/// Builds the error for a non-2xx answer. `now` resolves an HTTP-date `Retry-After`.
pub(crate) fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> ProviderError {
    if status.is_client_error()
        && status != StatusCode::TOO_MANY_REQUESTS
        && let Some(validation) = parse_validation(body)
    {
        return ProviderError::Validation {
            status,
            description: validation.description,
            errors: validation.errors,
        };
    }
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now));
    ProviderError::Status {
        status,
        body: ProviderErrorBody::parse(body),
        retry_after,
    }
}

#[derive(Deserialize)]
struct ValidationBody {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    description: Option<String>,
    errors: Vec<FieldError>,
}

fn parse_validation(body: &[u8]) -> Option<ValidationBody> {
    serde_json::from_slice::<ValidationBody>(body)
        .ok()
        .filter(|v| !v.errors.is_empty())
}

/// The longest wait a `Retry-After` can impose. Freshdesk's limits are per minute (per hour on
/// old plans); a longer value is a broken or hostile answer. Uncapped, it would hold a tenant's
/// calls for years, and `now + wait` overflows chrono (a panic in the worker) — found by fuzzing.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), at most
/// [`MAX_RETRY_AFTER`]. A date in the past means "now"; anything unparsable is `None`, leaving
/// the wait to the caller's backoff.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<u64>()
            .ok()
            .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2015, 10, 21, 7, 28, 0)
            .single()
            .expect("valid date")
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).expect("valid status")
    }

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, retry_after.parse().expect("header value"));
        headers
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("30", now()), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:30 GMT", now()),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_is_capped() {
        // Found by fuzzing (fuzz/regressions/http_headers): this many seconds cannot be added
        // to a chrono time, so the worker could not schedule the retry.
        let crash = std::str::from_utf8(b"9999991999999912").expect("utf-8");
        assert_eq!(parse_retry_after(crash, now()), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("3601", now()), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("3600", now()), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now()),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn invalid_retry_after_is_none() {
        for value in ["", "soon", "-5", "1.5", "99999999999999999999999", "Wed, 99 Oct"] {
            assert_eq!(parse_retry_after(value, now()), None, "{value:?}");
        }
    }

    #[test]
    fn classification_follows_the_status() {
        let kind = |code: u16, headers: &HeaderMap| error_from_response(status(code), headers, b"", now()).kind();
        let none = HeaderMap::new();
        assert_eq!(
            kind(429, &headers("7")),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(
            kind(429, &headers("later")),
            ErrorKind::RateLimited { retry_after: None }
        );
        assert_eq!(kind(429, &none), ErrorKind::RateLimited { retry_after: None });
        for code in [408, 500, 502, 503, 504] {
            assert_eq!(kind(code, &none), ErrorKind::Retryable, "{code}");
        }
        for code in [400, 401, 403, 404, 409, 415] {
            assert_eq!(kind(code, &none), ErrorKind::Permanent, "{code}");
        }
    }

    #[test]
    fn transport_errors_are_retryable_and_decode_errors_permanent() {
        assert_eq!(
            ProviderError::Timeout { outcome_unknown: true }.kind(),
            ErrorKind::Retryable
        );
        assert_eq!(ProviderError::Connect("refused".into()).kind(), ErrorKind::Retryable);
        assert_eq!(ProviderError::Decode("x".into()).kind(), ErrorKind::Permanent);
        assert!(
            ProviderError::Transport {
                message: "reset".into(),
                outcome_unknown: true
            }
            .outcome_unknown()
        );
        assert!(!ProviderError::Connect("refused".into()).outcome_unknown());
    }

    #[test]
    fn freshchat_error_body_uses_status_as_code() {
        let body = br#"{"code":404,"status":"AGENT_NOT_FOUND","message":"agent not found"}"#;
        let error = error_from_response(status(404), &HeaderMap::new(), body, now());
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND));
        assert_eq!(error.provider_code(), Some("AGENT_NOT_FOUND"));
        assert_eq!(error.provider_message(), Some("agent not found"));
        assert_eq!(
            error.to_string(),
            "provider answered HTTP 404 Not Found: AGENT_NOT_FOUND: agent not found"
        );
    }

    #[test]
    fn freshdesk_validation_body_lists_the_fields() {
        let body = br#"{"description":"Validation failed","errors":[
            {"field":"custom_fields.cf_cart_value","message":"It should be a/an Integer","code":"datatype_mismatch"},
            {"field":"status","message":"It should be one of these values: 2,3,4,5","code":"invalid_value"}]}"#;
        let error = error_from_response(status(400), &HeaderMap::new(), body, now());
        let ProviderError::Validation {
            errors, description, ..
        } = &error
        else {
            panic!("expected a validation error, got {error:?}");
        };
        assert_eq!(description.as_deref(), Some("Validation failed"));
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "custom_fields.cf_cart_value");
        assert_eq!(errors[1].code.as_deref(), Some("invalid_value"));
        assert_eq!(error.kind(), ErrorKind::Permanent);
        assert_eq!(error.provider_code(), Some("datatype_mismatch"));
        assert!(error.to_string().contains("status: It should be one of these values"));
    }

    #[test]
    fn freshdesk_code_message_body_and_empty_404() {
        let body = br#"{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}"#;
        let error = error_from_response(status(401), &HeaderMap::new(), body, now());
        assert_eq!(error.provider_code(), Some("invalid_credentials"));
        assert!(matches!(error, ProviderError::Status { .. }));

        let empty = error_from_response(status(404), &HeaderMap::new(), b"", now());
        assert_eq!(empty.provider_message(), None);
        assert_eq!(empty.to_string(), "provider answered HTTP 404 Not Found: (empty body)");
    }

    #[test]
    fn non_json_bodies_are_kept_short() {
        let html = format!("<html>{}</html>", "x".repeat(1000));
        let error = error_from_response(status(502), &HeaderMap::new(), html.as_bytes(), now());
        let raw = error.provider_message().expect("raw snippet");
        assert!(raw.starts_with("<html>"));
        assert_eq!(raw.chars().count(), RAW_SNIPPET_CHARS);
        let invalid_utf8 = error_from_response(status(500), &HeaderMap::new(), &[0xff, 0xfe], now());
        assert!(invalid_utf8.provider_message().is_some());
    }
}
