//! A sandbox served on 127.0.0.1:0 under `/sandbox`, a reqwest client, and a tiny webhook
//! receiver that records what arrives and answers scripted statuses.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, RequestBuilder};
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use url::Url;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub struct TestApp {
    pub sandbox: Sandbox,
    /// `http://127.0.0.1:<port>/sandbox`
    pub base: String,
    pub client: reqwest::Client,
}

/// Retries compressed to milliseconds so failing deliveries finish quickly.
pub fn fast_config() -> SandboxConfig {
    SandboxConfig::default().with_webhook_retry_delays(vec![Duration::from_millis(5); 3])
}

async fn serve(app: Router) -> Result<String, std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

pub async fn spawn(config: SandboxConfig) -> Result<TestApp, Box<dyn std::error::Error + Send + Sync>> {
    let sandbox = Sandbox::new(config)?;
    let root = serve(Router::new().nest("/sandbox", sandbox.router())).await?;
    Ok(TestApp {
        sandbox,
        base: format!("{root}/sandbox"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Freshchat API call with the right Bearer token.
    pub fn chat(&self, method: Method, path: &str) -> RequestBuilder {
        let token = &self.sandbox.config().freshchat_token;
        self.client
            .request(method, self.url(&format!("/freshchat/v2{path}")))
            .bearer_auth(token)
    }

    /// Freshdesk API call with `apikey:X`.
    pub fn desk(&self, method: Method, path: &str) -> RequestBuilder {
        let key = &self.sandbox.config().freshdesk_api_key;
        self.client
            .request(method, self.url(&format!("/freshdesk/api/v2{path}")))
            .basic_auth(key, Some("X"))
    }

    /// Submits an HTML form (reqwest is built without its `form` feature).
    pub fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> RequestBuilder {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        self.client
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Creates a valid ticket and returns its JSON.
    pub async fn ticket(&self, extra: Value) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let mut body = serde_json::json!({
            "email": "guest@example.com", "subject": "Help", "description": "<div>Hi</div>",
            "status": 2, "priority": 1, "source": 7,
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let response = self.desk(Method::POST, "/tickets").json(&body).send().await?;
        let status = response.status();
        let json: Value = response.json().await?;
        if status != StatusCode::CREATED {
            return Err(format!("ticket not created: {status} {json}").into());
        }
        Ok(json)
    }
}

/// One webhook as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The user name of a Basic `Authorization` header.
    pub fn basic_user(&self) -> Option<String> {
        let raw = self.header("authorization")?.strip_prefix("Basic ")?;
        let decoded = String::from_utf8(STANDARD.decode(raw).ok()?).ok()?;
        decoded.split_once(':').map(|(u, p)| format!("{u}:{p}"))
    }
}

#[derive(Clone)]
struct ReceiverState {
    tx: mpsc::UnboundedSender<Received>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

pub struct Receiver {
    pub url: Url,
    rx: Mutex<mpsc::UnboundedReceiver<Received>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

async fn record(
    State(state): State<ReceiverState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    // Recorded before answering, so after `settle()` everything is in the channel.
    let _ = state.tx.send(Received { headers, query, body });
    let next = state.script.lock().ok().and_then(|mut s| s.pop_front());
    StatusCode::from_u16(next.unwrap_or(200)).unwrap_or(StatusCode::OK)
}

impl Receiver {
    pub async fn start() -> Result<Receiver, Box<dyn std::error::Error + Send + Sync>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let app = Router::new().route("/hook", post(record)).with_state(ReceiverState {
            tx,
            script: Arc::clone(&script),
        });
        let root = serve(app).await?;
        Ok(Receiver {
            url: format!("{root}/hook").parse()?,
            rx: Mutex::new(rx),
            script,
        })
    }

    /// The next answers, in order; 200 afterwards.
    pub fn respond_with(&self, statuses: &[u16]) {
        if let Ok(mut s) = self.script.lock() {
            s.extend(statuses);
        }
    }

    /// Everything received so far.
    pub fn drain(&self) -> Vec<Received> {
        let mut out = Vec::new();
        if let Ok(mut rx) = self.rx.lock() {
            while let Ok(r) = rx.try_recv() {
                out.push(r);
            }
        }
        out
    }

    /// Bodies received so far, parsed.
    pub fn drain_json(&self) -> Result<Vec<Value>, serde_json::Error> {
        self.drain().iter().map(Received::json).collect()
    }
}

/// The keys of a JSON object, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

/// A recorded payload file from `shared/providers/payloads`.
pub fn payload(name: &str) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
    let path = format!(
        "{}/../../../shared/providers/payloads/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}
