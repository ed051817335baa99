//! What every provider API request passes through: the request log, injected faults,
//! Freshdesk's rate limit, authentication and content type — in that order, as at the real
//! edge (an overloaded gateway answers before auth is looked at).

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;

use crate::faults::{FaultAction, Provider};
use crate::rate_limit::Admission;
use crate::requests::Finished;
use crate::{Sandbox, freshchat, freshdesk};

#[derive(Clone)]
pub(crate) struct GateState {
    pub sandbox: Sandbox,
    pub provider: Provider,
}

pub(crate) async fn gate(State(g): State<GateState>, request: Request, next: Next) -> Response {
    let inner = &g.sandbox.inner;
    let received_at = Utc::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let endpoint = endpoint(g.provider, &method, request.extensions().get::<MatchedPath>(), &path);
    let mut fault_name = None;
    let mut hold = None;
    let mut retry_after = None;

    let fault = inner.faults.for_request(g.provider, method.as_str(), &path);
    let early = match fault {
        Some(FaultAction::Status { status }) => {
            fault_name = Some(format!("status {status}"));
            Some(injected_status(g.provider, status))
        }
        Some(FaultAction::TooManyRequests { retry_after_secs }) => {
            fault_name = Some("too_many_requests".into());
            retry_after = retry_after_secs;
            Some(too_many_requests(g.provider, retry_after_secs, None))
        }
        Some(FaultAction::Latency { millis }) => {
            fault_name = Some(format!("latency {millis}ms"));
            tokio::time::sleep(Duration::from_millis(millis)).await;
            None
        }
        Some(FaultAction::TimeoutAfterCommit { hold_millis }) => {
            fault_name = Some(format!("timeout_after_commit {hold_millis}ms"));
            hold = Some(Duration::from_millis(hold_millis));
            None
        }
        Some(_) | None => None,
    };

    let mut response = match early {
        Some(response) => response,
        None => {
            let budget = (g.provider == Provider::Freshdesk)
                .then(|| inner.rate_limit.admit(freshdesk::api::credits(query.as_deref())));
            match budget {
                Some(Admission::Limited {
                    total,
                    retry_after_secs,
                }) => {
                    retry_after = Some(retry_after_secs);
                    too_many_requests(g.provider, Some(retry_after_secs), Some(total))
                }
                admitted => {
                    let mut response = match rejection(&g, request.headers(), &method) {
                        Some(rejection) => rejection,
                        None => next.run(request).await,
                    };
                    if let Some(Admission::Allowed { total, remaining, cost }) = admitted {
                        set_rate_headers(response.headers_mut(), total, remaining, cost);
                    }
                    response
                }
            }
        }
    };
    if g.provider == Provider::Freshdesk {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("X-Request-Id", value);
        }
    }
    inner.requests.record(Finished {
        provider: g.provider,
        method: method.to_string(),
        path,
        query,
        endpoint,
        status: response.status().as_u16(),
        received_at,
        fault: fault_name,
        retry_after_secs: retry_after,
    });
    if let Some(hold) = hold {
        // The write is done; the client is left waiting past its timeout.
        tokio::time::sleep(hold).await;
    }
    response
}

/// Method plus route template relative to the API root, e.g. `POST /tickets/{id}/notes`.
fn endpoint(provider: Provider, method: &Method, matched: Option<&MatchedPath>, path: &str) -> String {
    let template = matched.map_or(path, |m| {
        let full = m.as_str();
        full.find(provider.api_root())
            .map_or(full, |i| &full[i + provider.api_root().len()..])
    });
    format!("{method} {template}")
}

/// The answer for a request without valid credentials (or, on Freshdesk, without a JSON
/// content type); `None` lets it through.
fn rejection(g: &GateState, headers: &HeaderMap, method: &Method) -> Option<Response> {
    let config = &g.sandbox.inner.config;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match g.provider {
        Provider::Freshchat => {
            let token = authorization.strip_prefix("Bearer ").map(str::trim);
            if token != Some(config.freshchat_token.as_str()) {
                return Some(freshchat::ChatError::unauthorized().into_response());
            }
        }
        Provider::Freshdesk => {
            let user = authorization
                .strip_prefix("Basic ")
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .and_then(|pair| pair.split_once(':').map(|(user, _)| user.to_string()));
            if user.as_deref() != Some(config.freshdesk_api_key.as_str()) {
                return Some(freshdesk::api::unauthorized());
            }
            if matches!(*method, Method::POST | Method::PUT) {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !content_type.starts_with("application/json") {
                    return Some(freshdesk::api::invalid_content_type(content_type));
                }
            }
        }
    }
    None
}

fn set_rate_headers(headers: &mut HeaderMap, total: u32, remaining: u32, cost: u32) {
    headers.insert("X-RateLimit-Total", HeaderValue::from(total));
    headers.insert("X-RateLimit-Remaining", HeaderValue::from(remaining));
    headers.insert("X-RateLimit-Used-CurrentRequest", HeaderValue::from(cost));
}

fn injected_status(provider: Provider, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match provider {
        Provider::Freshchat => freshchat::ChatError::new(code, "injected by the sandbox").into_response(),
        Provider::Freshdesk => freshdesk::api::injected(code),
    }
}

/// 429, with `Retry-After` only when given (Freshchat's is UNCONFIRMED, so both forms exist).
fn too_many_requests(provider: Provider, retry_after: Option<u64>, total: Option<u32>) -> Response {
    let mut response = match provider {
        Provider::Freshchat => {
            freshchat::ChatError::new(StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response()
        }
        // Freshdesk's 429 body "may be non-JSON": plain text keeps clients honest.
        Provider::Freshdesk => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from("You have exceeded the limit of requests per minute"))
            .unwrap_or_default(),
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(total) = total {
        set_rate_headers(response.headers_mut(), total, 0, 0);
    }
    response
}
