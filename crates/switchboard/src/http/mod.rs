//! The HTTP surface: routes and the middleware every request passes through.

pub mod api;
pub mod extract;
pub mod health;
pub mod routes;
pub mod sidebar;
pub mod webhooks;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Response, StatusCode, header};
use axum::middleware::{self, Next};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::error::{PROBLEM_JSON, Problem};
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Extra routes mounted next to Switchboard's own (the sandbox, when enabled).
pub type Extra = Option<Router>;

/// Every route Switchboard serves (without the sandbox's).
pub fn routes() -> routes::Routes {
    routes::Routes::new()
        .merge(health::router())
        .nest("/api/v1", api::v1::router())
        .merge(webhooks::router())
        .merge(sidebar::router())
}

pub fn router(state: AppState, extra: Extra) -> Router {
    let max_body = state.config.max_body_bytes;
    let timeout = state.config.request_timeout;
    let app = routes().into_parts().0.with_state(state);
    let app = match extra {
        Some(extra) => app.merge(extra),
        None => app,
    };
    // Outermost first: every response, including a panic or a timeout, carries the request id
    // and is traced.
    app.fallback(not_found).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<Body>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The path only: query strings may carry webhook tokens.
                        tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(problem_for_bare_errors))
            .layer(CatchPanicLayer::custom(|_| {
                Problem::for_status(StatusCode::INTERNAL_SERVER_ERROR, None).into_response_with(None)
            }))
            .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
            .layer(DefaultBodyLimit::max(max_body)),
    )
}

/// Errors produced outside our handlers (body limit, method not allowed, timeouts) get the same
/// problem+json body as ours.
async fn problem_for_bare_errors(req: Request<Body>, next: Next) -> Response<Body> {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with(PROBLEM_JSON));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        let detail = match status {
            StatusCode::PAYLOAD_TOO_LARGE => Some("the request body is larger than this endpoint accepts".to_owned()),
            StatusCode::METHOD_NOT_ALLOWED => Some("this path does not accept that method".to_owned()),
            _ => None,
        };
        let allow = res.headers().get(header::ALLOW).cloned().map(|v| (header::ALLOW, v));
        return Problem::for_status(status, detail).into_response_with(allow);
    }
    res
}

async fn not_found() -> crate::error::ApiError {
    crate::error::ApiError::NotFound("this path".into())
}
