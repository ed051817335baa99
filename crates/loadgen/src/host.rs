//! The sandbox the tool hosts in its own process (so its timestamps share the tool's clock),
//! and connecting a Switchboard tenant to it through Switchboard's API.

use std::net::SocketAddr;

use reqwest::Client;
use sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::LoadError;
use crate::prepare::Signing;

/// The sandbox's settings for load: provider pacing and search lag are not what is measured,
/// and its own webhook deliveries stay off (no targets are ever set): the tool posts every
/// webhook itself, to time it.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        freshdesk_rate_limit_per_minute: 10_000_000,
        search_index_lag: std::time::Duration::ZERO,
        // Ticket ids past any earlier run's: Switchboard keeps one incidence per ticket id, and
        // the server (and its database) outlive this sandbox.
        first_ticket_id: first_ticket_id(chrono::Utc::now().timestamp()),
        log_capacity: 1_000,
        ..SandboxConfig::default()
    }
}

/// A million ids per second of start time: below 2^53 (JSON-safe) until the year 2255.
pub fn first_ticket_id(unix_seconds: i64) -> u64 {
    u64::try_from(unix_seconds)
        .unwrap_or(0)
        .saturating_mul(1_000_000)
        .max(1)
}

/// The sandbox served on 127.0.0.1 under `/sandbox`.
pub struct SandboxHost {
    pub sandbox: Sandbox,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHost {
    /// Serves `config`'s sandbox on `port` (0: any free port).
    pub async fn start(config: SandboxConfig, port: u16) -> Result<SandboxHost, LoadError> {
        let sandbox = Sandbox::new(config)?;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| LoadError::io(format!("binding the sandbox to 127.0.0.1:{port}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| LoadError::io("the sandbox's address", e))?;
        let app = axum::Router::new().nest("/sandbox", sandbox.router());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("loadgen: the sandbox server stopped: {e}");
            }
        });
        Ok(SandboxHost {
            sandbox,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>/sandbox`
    pub fn base(&self) -> String {
        format!("http://{}/sandbox", self.addr)
    }

    pub fn freshchat_api_url(&self) -> String {
        format!("{}/freshchat/v2", self.base())
    }

    pub fn freshdesk_api_url(&self) -> String {
        format!("{}/freshdesk/api/v2", self.base())
    }

    /// Stops serving (in-flight requests finish).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHost {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A running Switchboard and a secret key of the tenant to load.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:8000/`.
    pub base: Url,
    /// More servers of the same deployment (same database): webhooks are spread over `base`
    /// and these in turn.
    pub also: Vec<Url>,
    pub secret_key: String,
}

impl Target {
    pub fn new(base: Url, secret_key: impl Into<String>) -> Self {
        Self {
            base,
            also: Vec::new(),
            secret_key: secret_key.into(),
        }
    }

    fn servers(&self) -> impl Iterator<Item = &Url> {
        std::iter::once(&self.base).chain(&self.also)
    }
}

/// A tenant connected to the hosted sandbox: where its webhooks go and how they are signed.
#[derive(Clone, Debug)]
pub struct Connection {
    pub slug: String,
    /// One per server of the target, in the same order.
    pub servers: Vec<WebhookUrls>,
    pub signing: Signing,
}

/// A server's webhook endpoints for the tenant.
#[derive(Clone, Debug)]
pub struct WebhookUrls {
    pub freshchat: Url,
    /// With `?token=`.
    pub freshdesk: Url,
}

impl Connection {
    /// The server event `seq` goes to: round robin.
    pub fn server(&self, seq: u64) -> &WebhookUrls {
        let n = self.servers.len().max(1) as u64;
        &self.servers[usize::try_from(seq % n).unwrap_or(0)]
    }
}

/// Points the key's tenant at the sandbox: Freshchat and Freshdesk credentials, webhook
/// verification (the sandbox's RSA key, or a fresh HMAC secret), and provider pacing lifted.
pub async fn connect_tenant(
    client: &Client,
    target: &Target,
    host: &SandboxHost,
    hmac: bool,
) -> Result<Connection, LoadError> {
    let api = |path: &str| target.base.join(&format!("api/v1/{path}"));
    let me = call(client.get(api("me")?), &target.secret_key, "GET /api/v1/me").await?;
    let slug = me["tenant"]["slug"]
        .as_str()
        .ok_or_else(|| LoadError::Config("GET /api/v1/me gave no tenant slug".into()))?
        .to_string();

    let config = host.sandbox.config();
    let signing = if hmac {
        Signing::Hmac(random_token()?)
    } else {
        Signing::Rsa
    };
    let mut freshchat = json!({ "api_url": host.freshchat_api_url(), "api_token": config.freshchat_token });
    match &signing {
        Signing::Rsa => freshchat["webhook_public_key"] = host.sandbox.freshchat_public_key_pem().into(),
        Signing::Hmac(secret) => freshchat["webhook_secret"] = secret.clone().into(),
    }
    let put = client.put(api("integrations/freshchat")?).json(&freshchat);
    call(put, &target.secret_key, "PUT /api/v1/integrations/freshchat").await?;

    let token = random_token()?;
    let freshdesk = json!({
        "base_url": host.freshdesk_api_url(),
        "api_key": config.freshdesk_api_key,
        "webhook_token": token,
    });
    let put = client.put(api("integrations/freshdesk")?).json(&freshdesk);
    call(put, &target.secret_key, "PUT /api/v1/integrations/freshdesk").await?;

    let settings = json!({ "freshdesk": { "calls_per_minute": 10_000_000, "search_lag_seconds": 5 } });
    let patch = client.patch(api("settings")?).json(&settings);
    call(patch, &target.secret_key, "PATCH /api/v1/settings").await?;

    let servers = target
        .servers()
        .map(|base| {
            let freshchat = base.join(&format!("webhooks/{slug}/freshchat"))?;
            let mut freshdesk = base.join(&format!("webhooks/{slug}/freshdesk"))?;
            freshdesk.query_pairs_mut().append_pair("token", &token);
            Ok(WebhookUrls { freshchat, freshdesk })
        })
        .collect::<Result<_, url::ParseError>>()?;
    Ok(Connection { slug, servers, signing })
}

async fn call(request: reqwest::RequestBuilder, key: &str, step: &'static str) -> Result<Value, LoadError> {
    let response = request.bearer_auth(key).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(LoadError::Api {
            step,
            status: status.as_u16(),
            body: text,
        });
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// 32 hex characters from the system's secure random source (the token authenticates).
pub fn random_token() -> Result<String, LoadError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| LoadError::Config("no secure randomness".into()))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_ids_start_past_earlier_runs_and_stay_json_safe() {
        let now = 1_800_000_000;
        assert!(first_ticket_id(now + 1) >= first_ticket_id(now) + 1_000_000);
        assert!(first_ticket_id(now) < 1u64 << 53);
        assert_eq!(first_ticket_id(-5), 1);
        assert_eq!(random_token().map(|t| t.len()).ok(), Some(32));
    }
}
