//! A Switchboard and a sandbox (Freshchat + Freshdesk fakes) on their own ports, talking over
//! real HTTP, with the test tenant connected to the sandbox.

use std::time::Duration;

use sandbox::{FreshdeskWebhookTarget, Sandbox, SandboxConfig, WebhookAuth};
use secrecy::SecretString;
use switchboard::credentials::{FreshchatCredentials, FreshdeskCredentials};
use url::Url;

use crate::helpers::{TestApp, spawn};

pub struct World {
    pub app: TestApp,
    pub sandbox: Sandbox,
    /// e.g. `http://127.0.0.1:40123/sandbox/`
    pub sandbox_base: String,
    pub webhook_token: String,
}

pub const WEBHOOK_TOKEN_LEN: usize = 24;

pub async fn world() -> World {
    world_with(SandboxConfig::default(), &[]).await
}

/// `config` for the sandbox, `extra` for Switchboard's configuration.
pub async fn world_with(mut config: SandboxConfig, extra: &[(&str, &str)]) -> World {
    // Fast retries and a short search lag, so tests wait for conditions, not for the clock.
    let mut settings: Vec<(&str, &str)> = vec![
        ("SWITCHBOARD_RETRY_BASE_MS", "100"),
        ("SWITCHBOARD_POLL_INTERVAL_MS", "100"),
    ];
    settings.extend_from_slice(extra);
    let app = spawn(true, &settings).await;
    config = config.with_webhook_retry_delays(vec![Duration::from_millis(200); 5]);
    let sandbox = Sandbox::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().nest("/sandbox", sandbox.router());
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    let sandbox_base = format!("http://{addr}/sandbox/");
    let webhook_token = uuid::Uuid::new_v4().simple().to_string()[..WEBHOOK_TOKEN_LEN].to_owned();
    connect(&app, &sandbox, &sandbox_base, &webhook_token).await;

    let mut settings = app.tenant.settings.clone();
    settings.freshdesk.search_lag_seconds = 3;
    settings.freshdesk.calls_per_minute = 100_000;
    app.state
        .tenants
        .update_settings(app.tenant.id, &settings, switchboard::clock::now())
        .await
        .unwrap();
    World {
        app,
        sandbox,
        sandbox_base,
        webhook_token,
    }
}

async fn connect(app: &TestApp, sandbox: &Sandbox, base: &str, token: &str) {
    let cfg = sandbox.config();
    let fc = FreshchatCredentials {
        api_url: Url::parse(&format!("{base}freshchat/v2")).unwrap(),
        app_id: None,
        api_token: SecretString::from(cfg.freshchat_token.clone()),
        webhook_public_key: Some(sandbox.freshchat_public_key_pem()),
        webhook_secret: None,
    };
    let fd = FreshdeskCredentials {
        base_url: Url::parse(&format!("{base}freshdesk/api/v2")).unwrap(),
        api_key: SecretString::from(cfg.freshdesk_api_key.clone()),
        webhook_token: Some(SecretString::from(token.to_owned())),
    };
    app.state.integrations.store(app.tenant.id, &fc).await.unwrap();
    app.state.integrations.store(app.tenant.id, &fd).await.unwrap();
    let slug = app.tenant.slug.as_str();
    sandbox.set_freshchat_webhook_url(Some(
        Url::parse(&app.url(&format!("webhooks/{slug}/freshchat"))).unwrap(),
    ));
    sandbox.set_freshdesk_webhook(Some(FreshdeskWebhookTarget {
        url: Url::parse(&app.url(&format!("webhooks/{slug}/freshdesk"))).unwrap(),
        auth: WebhookAuth::Token(token.to_owned()),
    }));
}

impl World {
    /// Polls until `probe` yields; webhooks queued at the sandbox are delivered first.
    pub async fn until<T>(&self, what: &str, mut probe: impl FnMut(&World) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            self.sandbox.settle().await;
            if let Some(v) = probe(self) {
                return v;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The one ticket of a conversation (fails the test if there are several).
    pub fn ticket_for(&self, conversation: &str) -> Option<sandbox::freshdesk::model::Ticket> {
        let tickets: Vec<_> = self
            .sandbox
            .inspect()
            .tickets()
            .into_iter()
            .filter(|t| {
                t.custom_fields
                    .get("cf_freshchat_conversation_id")
                    .and_then(|v| v.as_str())
                    == Some(conversation)
            })
            .collect();
        assert!(
            tickets.len() <= 1,
            "{} tickets for conversation {conversation}",
            tickets.len()
        );
        tickets.into_iter().next()
    }

    /// The customer notes on a ticket, as text, in order.
    pub fn note_texts(&self, ticket: u64) -> Vec<String> {
        self.sandbox
            .inspect()
            .ticket_conversations(ticket)
            .into_iter()
            .filter(|c| c.incoming && !c.private)
            .map(|c| c.body_text.clone())
            .collect()
    }

    /// The agent messages in a chat, as text, oldest first.
    pub fn agent_chat_texts(&self, conversation: &str) -> Vec<String> {
        let mut messages = self.sandbox.inspect().chat_messages(conversation);
        messages.sort_by_key(|m| m.created_time);
        messages
            .into_iter()
            .filter(|m| m.actor_type == sandbox::freshchat::model::ActorType::Agent)
            .map(|m| m.text())
            .collect()
    }
}
