//! Shared HTTP plumbing for provider clients: one `reqwest::Client`, one way to send a request,
//! one error classification.
//!
//! There are deliberately **no retries in here**. Every provider call runs inside a durable job
//! that retries with backoff, honours `Retry-After` and survives restarts; retrying here as well
//! would multiply attempts and hide rate limits. More importantly, a write whose answer never came
//! back (timeout, connection reset after sending) may already have happened: retrying it blindly
//! could create a second ticket or send a chat message twice. Such errors carry
//! `outcome_unknown = true` so the job can reconcile before trying again.

mod error;

use std::error::Error as _;
use std::time::Duration;

use chrono::Utc;
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use url::Url;

pub use error::{ErrorKind, FieldError, MAX_RETRY_AFTER, ProviderError, ProviderErrorBody, parse_retry_after};

/// Timeouts for the shared client. A provider that has not answered within `timeout` is treated
/// as failed; the job retries later rather than holding a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Whole-request timeout: connect, send, and read the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

pub const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct ClientBuildError(String);

/// Builds the client every provider shares (one connection pool per process).
pub fn build_client(config: &HttpConfig) -> Result<reqwest::Client, ClientBuildError> {
    reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.connect_timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| ClientBuildError(describe(e)))
}

/// Freshdesk's per-account budget, from `X-RateLimit-*` headers (absent on some endpoints and on
/// Freshchat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitInfo {
    /// Calls allowed per window (`X-RateLimit-Total`).
    pub total: Option<u32>,
    /// Calls left in the window (`X-RateLimit-Remaining`).
    pub remaining: Option<u32>,
    /// Credits this request consumed (`X-RateLimit-Used-CurrentRequest`; >1 with `include=`).
    pub used: Option<u32>,
}

impl RateLimitInfo {
    /// `None` when the answer carries none of the headers.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let info = Self {
            total: number("x-ratelimit-total"),
            remaining: number("x-ratelimit-remaining"),
            used: number("x-ratelimit-used-currentrequest"),
        };
        (info != Self::default()).then_some(info)
    }
}

/// A decoded answer plus the rate-limit budget it reported, so jobs can pace themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<T> {
    pub value: T,
    pub rate_limit: Option<RateLimitInfo>,
}

impl<T> Response<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            value: f(self.value),
            rate_limit: self.rate_limit,
        }
    }
}

/// A 2xx answer, body read in full.
pub(crate) struct RawResponse {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn rate_limit(&self) -> Option<RateLimitInfo> {
        RateLimitInfo::from_headers(&self.headers)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ProviderError> {
        decode_json(&self.body)
    }

    pub fn into_response<T: DeserializeOwned>(self) -> Result<Response<T>, ProviderError> {
        Ok(Response {
            value: self.json()?,
            rate_limit: self.rate_limit(),
        })
    }
}

/// Success bodies larger than this are refused rather than buffered (a broken or hostile
/// endpoint must not exhaust memory).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Error bodies are only diagnostics; read this much and drop the rest.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Sends one request, reads the answer and turns anything but 2xx into a [`ProviderError`].
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<RawResponse, ProviderError> {
    let (client, request) = request.build_split();
    let request = request.map_err(|e| ProviderError::InvalidRequest(describe(e)))?;
    let is_write = !matches!(*request.method(), Method::GET | Method::HEAD);
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| transport_error(e, is_write))?;
    let status = response.status();
    let headers = response.headers().clone();
    let limit = if status.is_success() {
        MAX_BODY_BYTES
    } else {
        MAX_ERROR_BODY_BYTES
    };
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(e, is_write))? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            if status.is_success() {
                return Err(ProviderError::Decode(format!(
                    "response body larger than {limit} bytes"
                )));
            }
            body.extend_from_slice(chunk.get(..room).unwrap_or_default());
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if status.is_success() {
        Ok(RawResponse { headers, body })
    } else {
        Err(error::error_from_response(status, &headers, &body, Utc::now()))
    }
}

pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::Decode(e.to_string()))
}

fn transport_error(error: reqwest::Error, is_write: bool) -> ProviderError {
    let connect = error.is_connect();
    if error.is_timeout() {
        // A connect timeout means nothing was sent; any later timeout leaves a write in doubt.
        ProviderError::Timeout {
            outcome_unknown: is_write && !connect,
        }
    } else if connect {
        ProviderError::Connect(describe(error))
    } else {
        ProviderError::Transport {
            message: describe(error),
            outcome_unknown: is_write,
        }
    }
}

/// The error and its causes, without the request URL (which could carry a token).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `base` plus path segments, each percent-encoded as one segment, whether or not `base` ends
/// in `/`. Empty segments are refused: an empty id must not silently address a collection.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    if segments.iter().any(|s| s.is_empty()) {
        return Err(ProviderError::InvalidRequest(
            "empty path segment (missing id)".to_owned(),
        ));
    }
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| ProviderError::InvalidRequest(format!("base URL {base} cannot have a path")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid url")
    }

    #[test]
    fn endpoint_joins_with_or_without_trailing_slash() {
        for base in ["https://api.in.freshchat.com/v2", "https://api.in.freshchat.com/v2/"] {
            let joined = endpoint(&url(base), &["users", "abc"]).expect("joins");
            assert_eq!(joined.as_str(), "https://api.in.freshchat.com/v2/users/abc");
        }
        let sandbox = url("http://127.0.0.1:9000/sandbox/freshchat/v2");
        assert_eq!(
            endpoint(&sandbox, &["agents"]).expect("joins").as_str(),
            "http://127.0.0.1:9000/sandbox/freshchat/v2/agents"
        );
    }

    #[test]
    fn endpoint_encodes_ids_as_single_segments() {
        let base = url("https://x.test/v2");
        let joined = endpoint(&base, &["users", "a/../b?c#d"]).expect("joins");
        assert_eq!(joined.as_str(), "https://x.test/v2/users/a%2F..%2Fb%3Fc%23d");
        assert!(matches!(
            endpoint(&base, &["users", ""]),
            Err(ProviderError::InvalidRequest(_))
        ));
        assert!(endpoint(&url("mailto:a@b.c"), &["x"]).is_err());
    }

    #[test]
    fn rate_limit_headers_are_parsed_when_present() {
        let mut headers = HeaderMap::new();
        assert_eq!(RateLimitInfo::from_headers(&headers), None);
        headers.insert("X-RateLimit-Total", "400".parse().expect("value"));
        headers.insert("X-RateLimit-Remaining", "398".parse().expect("value"));
        headers.insert("X-RateLimit-Used-CurrentRequest", "2".parse().expect("value"));
        assert_eq!(
            RateLimitInfo::from_headers(&headers),
            Some(RateLimitInfo {
                total: Some(400),
                remaining: Some(398),
                used: Some(2)
            })
        );
        let mut partial = HeaderMap::new();
        partial.insert("x-ratelimit-remaining", "junk".parse().expect("value"));
        partial.insert("x-ratelimit-total", "50".parse().expect("value"));
        assert_eq!(
            RateLimitInfo::from_headers(&partial),
            Some(RateLimitInfo {
                total: Some(50),
                ..RateLimitInfo::default()
            })
        );
    }

    #[test]
    fn client_builds_with_defaults() {
        assert!(build_client(&HttpConfig::default()).is_ok());
        assert_eq!(USER_AGENT, format!("switchboard/{}", env!("CARGO_PKG_VERSION")));
    }
}
