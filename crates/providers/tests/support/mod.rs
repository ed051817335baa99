//! A tiny recording HTTP server for client tests: it stores every request and answers with
//! canned responses, in order.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use providers::http::{HttpConfig, build_client};
use url::Url;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("request body is UTF-8")
    }
}

#[derive(Debug, Clone)]
pub struct Canned {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Option<Duration>,
}

impl Canned {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::text(status, &body.to_string()).with_header("content-type", "application/json")
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Answers only after `delay`: for client timeout tests (the client gives up first).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    responses: Mutex<VecDeque<Canned>>,
}

pub struct MockServer {
    pub origin: Url,
    shared: Arc<Shared>,
}

impl MockServer {
    pub async fn start(responses: Vec<Canned>) -> Self {
        let shared = Arc::new(Shared::default());
        *shared.responses.lock().expect("lock") = responses.into();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            origin: Url::parse(&format!("http://{address}")).expect("url"),
            shared,
        }
    }

    /// The server's origin plus `path`, e.g. `/api/v2`.
    pub fn url(&self, path: &str) -> Url {
        self.origin.join(path).expect("url")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request: {requests:#?}");
        requests.into_iter().next().expect("one request")
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.lock().expect("lock").push(Recorded {
        method,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers,
        body,
    });
    let canned = shared.responses.lock().expect("lock").pop_front();
    let Some(canned) = canned else {
        return (StatusCode::IM_A_TEAPOT, "no canned response left").into_response();
    };
    if let Some(delay) = canned.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = (StatusCode::from_u16(canned.status).expect("status"), canned.body).into_response();
    for (name, value) in canned.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}

/// A client with a short timeout so timeout tests finish quickly.
pub fn test_http() -> reqwest::Client {
    build_client(&HttpConfig {
        timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
    })
    .expect("client")
}
