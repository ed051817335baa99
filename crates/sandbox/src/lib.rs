//! Faithful, stateful local fakes of the Freshchat v2 and Freshdesk v2 APIs — with their
//! webhooks, two small web pages and fault injection — built from the contract in
//! `providers/freshworks.md`, independently of Switchboard's own clients, so it catches their
//! mistakes. It is both the offline demo and the test double the service talks to over HTTP.
//!
//! # Use
//! ```no_run
//! # async fn demo() -> Result<(), sandbox::SandboxError> {
//! use sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let app = axum::Router::new().nest("/sandbox", sandbox.router());
//! sandbox.set_freshchat_webhook_url(Some("http://127.0.0.1:8080/webhooks/freshchat".parse()?));
//! let chat = sandbox.customer_says("user-42", "Do you cater weddings?").await?;
//! sandbox.settle().await; // every queued webhook attempted
//! # let _ = (app, chat); Ok(()) }
//! ```
//!
//! # Rust API
//! * [`Sandbox::new`]`(`[`SandboxConfig`]`)`, [`Sandbox::router`] (mount under `/sandbox`),
//!   [`Sandbox::freshchat_public_key_pem`], [`Sandbox::set_freshchat_webhook_url`],
//!   [`Sandbox::set_freshdesk_webhook`] ([`FreshdeskWebhookTarget`] with [`WebhookAuth`]),
//!   [`Sandbox::set_template_escaping`], [`Sandbox::reset_freshdesk_rate_limit`],
//!   [`Sandbox::reindex_search`], [`Sandbox::clear_request_log`].
//! * [`Sandbox::faults`] → [`Faults`]: `add(`[`FaultRule`]`)`, `remove`, `clear`, `list`, `reseed`.
//! * [`Sandbox::inspect`] → [`Inspect`]: tickets, ticket conversations, contacts, users (with
//!   properties), conversations, chat messages, agents, request log, counters, deliveries.
//! * People in the UIs: [`Sandbox::customer_says`], [`Sandbox::upsert_customer`],
//!   [`Sandbox::agent_says`], [`Sandbox::assign_conversation`], [`Sandbox::resolve_conversation`],
//!   [`Sandbox::reopen_conversation`], [`Sandbox::agent_replies`], [`Sandbox::set_ticket_status`].
//! * [`Sandbox::settle`]: waits (event-driven) until every webhook delivery has finished.
//! * Delivering webhooks yourself (to time them): with no webhook URL and no Freshdesk target
//!   the fakes send nothing; [`Sandbox::message_create_body`] + [`Sandbox::sign_freshchat`] and
//!   [`Sandbox::agent_reply_body`] give what they would have sent.
//!
//! # Routes (relative to the mount point)
//! * `/freshchat/v2/…` — Bearer token. `GET/POST /users`, `GET/PUT /users/{id}`,
//!   `GET /users/{id}/conversations`, `POST /conversations`, `GET/PUT /conversations/{id}`,
//!   `GET/POST /conversations/{id}/messages` (newest first; `page`, `items_per_page`,
//!   `from_time`), `GET /agents`, `GET /agents/{id}`, `GET /groups`, `GET /channels`,
//!   `GET /accounts/configuration`.
//! * `/freshdesk/api/v2/…` — Basic `apikey:X`, per-minute rate limit. `GET/POST /tickets`,
//!   `GET/PUT /tickets/{id}` (`?include=conversations,requester`), `POST /tickets/{id}/reply`,
//!   `POST /tickets/{id}/notes`, `GET /tickets/{id}/conversations`, `GET /search/tickets`,
//!   `GET /ticket_fields`, `GET /agents`, `GET /contacts/{id}`.
//! * `/admin/…` — JSON: `state`, `faults`, `requests`, `counters`, `webhooks`, `settle`,
//!   webhook targets, search reindex, rate-limit reset, template escaping (see [`admin`]).
//! * `/chat?user=<ref>` (customer chat widget) and `/desk` (helpdesk agent page).
//!
//! # Webhooks
//! Every Freshchat message (API-sent ones too) becomes a signed `message_create`; status and
//! assignment changes become `conversation_resolution` / `conversation_reopen` /
//! `conversation_assignment`. Freshdesk agent replies (public reply, or public non-incoming
//! note) and status changes fire the configured automation templates. Each provider has one
//! ordered delivery lane; failures retry after the configured delays (see [`webhooks`]).

pub mod admin;
mod bodies;
pub mod config;
pub mod faults;
pub mod freshchat;
pub mod freshdesk;
mod gate;
mod html;
pub mod inspect;
mod pages;
mod rate_limit;
pub mod requests;
mod signing;
mod timestamps;
pub mod webhooks;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use url::Url;

pub use config::{
    AgentSeed, AutomationRule, AutomationTrigger, CustomFieldSpec, FieldKind, FreshdeskWebhookTarget, SandboxConfig,
    StatusSpec, WebhookAuth,
};
pub use faults::{FaultAction, FaultError, FaultId, FaultRule, Faults, Provider, ReleaseOrder};
pub use inspect::Inspect;

use freshchat::model::{Actor, ActorType, ConversationStatus, MessagePart, MessageType};
use freshchat::store::{FreshchatStore, NewMessage, UserInput};
use freshdesk::store::FreshdeskStore;

/// Errors of the sandbox's Rust API (HTTP clients get provider-shaped error bodies instead).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("webhook signing key: {0}")]
    SigningKey(String),
    #[error("HTTP client for webhooks: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid URL: {0}")]
    Url(#[from] url::ParseError),
    #[error("Freshchat rejected the action: {0}")]
    Freshchat(String),
    #[error("Freshdesk rejected the action: {0}")]
    Freshdesk(String),
    #[error("no Freshdesk ticket {0}")]
    TicketNotFound(u64),
}

/// The fakes, cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: SandboxConfig,
    pub(crate) signer: signing::Signer,
    pub(crate) freshchat: Mutex<FreshchatStore>,
    pub(crate) freshdesk: Mutex<FreshdeskStore>,
    pub(crate) faults: Faults,
    pub(crate) requests: requests::RequestLog,
    pub(crate) rate_limit: rate_limit::RateLimiter,
    pub(crate) webhooks: webhooks::Webhooks,
    pub(crate) freshchat_target: Mutex<Option<Url>>,
    pub(crate) freshdesk_target: Mutex<Option<FreshdeskWebhookTarget>>,
    pub(crate) escape_template_values: AtomicBool,
}

/// Where a customer's chat message landed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChatRef {
    pub user_id: String,
    pub conversation_id: String,
    pub message_id: String,
}

/// Optional details for [`Sandbox::upsert_customer`].
#[derive(Clone, Debug, Default)]
pub struct CustomerProfile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Custom user properties (name, value).
    pub properties: Vec<(String, String)>,
}

impl Sandbox {
    /// Builds the fakes; generates the RSA-2048 webhook key unless one is configured.
    pub fn new(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let signer = signing::Signer::new(config.signing_key_pkcs8.as_deref())?;
        let webhooks = webhooks::Webhooks::new(
            config.webhook_timeout,
            config.freshchat_webhook_retry_delays.clone(),
            config.freshdesk_webhook_retry_delays.clone(),
            config.log_capacity,
        )?;
        let inner = Inner {
            signer,
            freshchat: Mutex::new(FreshchatStore::new(&config.agents)),
            freshdesk: Mutex::new(FreshdeskStore::new(&config)),
            faults: Faults::new(config.fault_seed),
            requests: requests::RequestLog::new(config.log_capacity),
            rate_limit: rate_limit::RateLimiter::new(config.freshdesk_rate_limit_per_minute),
            webhooks,
            freshchat_target: Mutex::new(None),
            freshdesk_target: Mutex::new(None),
            escape_template_values: AtomicBool::new(config.escape_template_values),
            config,
        };
        Ok(Sandbox { inner: Arc::new(inner) })
    }

    /// All routes, relative: mount with `Router::nest("/sandbox", sandbox.router())`.
    pub fn router(&self) -> Router {
        Router::new()
            .nest("/freshchat/v2", freshchat::router(self))
            .nest("/freshdesk/api/v2", freshdesk::router(self))
            .nest("/admin", admin::router())
            .merge(pages::router())
            .with_state(self.clone())
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The webhook public key as Freshchat's admin UI shows it: an SPKI DER body (base64) in
    /// the misleading `-----BEGIN RSA PUBLIC KEY-----` armour.
    pub fn freshchat_public_key_pem(&self) -> String {
        self.inner.signer.public_key_pem().to_string()
    }

    /// Where Freshchat conversation webhooks go; `None` switches them off.
    pub fn set_freshchat_webhook_url(&self, url: Option<Url>) {
        *lock(&self.inner.freshchat_target) = url;
    }

    /// Where Freshdesk automation webhooks go and how they authenticate; `None` switches off.
    pub fn set_freshdesk_webhook(&self, target: Option<FreshdeskWebhookTarget>) {
        *lock(&self.inner.freshdesk_target) = target;
    }

    /// Switches JSON-escaping of values substituted into automation templates.
    pub fn set_template_escaping(&self, escape: bool) {
        self.inner.escape_template_values.store(escape, Ordering::SeqCst);
    }

    /// Changes the Freshdesk per-minute budget (or only restarts the window with `None`).
    pub fn reset_freshdesk_rate_limit(&self, per_minute: Option<u32>) {
        self.inner.rate_limit.reset(per_minute);
    }

    /// Makes every pending ticket write searchable now, whatever the index lag.
    pub fn reindex_search(&self) {
        lock(&self.inner.freshdesk).reindex_now();
    }

    /// Clears the request log and the call counters.
    pub fn clear_request_log(&self) {
        self.inner.requests.clear();
    }

    /// Releases webhooks held by a reorder fault before their batch is full.
    pub fn release_held_webhooks(&self) {
        self.inner.webhooks.release_held(&self.inner.faults);
    }

    /// Programmatic fault injection (the same rules as `/admin/faults`).
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Read-only views for tests.
    pub fn inspect(&self) -> Inspect {
        Inspect::new(Arc::clone(&self.inner))
    }

    /// Waits until every queued webhook delivery has been attempted and finished (delivered or
    /// given up after its retries); partially held reorder batches are released first.
    pub async fn settle(&self) {
        self.inner.webhooks.settle(&self.inner.faults).await;
    }

    // ---- acting like people in the products' UIs ---------------------------------------

    /// Creates or updates the Freshchat user with this `reference_id`; returns its id.
    pub async fn upsert_customer(&self, user_ref: &str, profile: CustomerProfile) -> Result<String, SandboxError> {
        let input = UserInput {
            email: profile.email,
            phone: profile.phone,
            first_name: profile.first_name,
            last_name: profile.last_name,
            reference_id: Some(user_ref.to_string()),
            avatar: None,
            properties: Some(
                profile
                    .properties
                    .into_iter()
                    .map(|(name, value)| freshchat::model::Property { name, value })
                    .collect(),
            ),
        };
        self.inner.chat(|store| {
            let user = match store.user_by_reference(user_ref).map(|u| u.id.clone()) {
                Some(id) => store.update_user(&id, input),
                None => store.create_user(input),
            };
            user.map(|u| u.id).map_err(SandboxError::from)
        })
    }

    /// The customer `user_ref` writes in the chat widget: creates the user and conversation
    /// if needed (a resolved one is reopened), stores the message, sends `message_create`.
    pub async fn customer_says(&self, user_ref: &str, text: &str) -> Result<ChatRef, SandboxError> {
        self.inner.chat(|store| {
            let user_id = match store.user_by_reference(user_ref) {
                Some(user) => user.id.clone(),
                None => {
                    let input = UserInput {
                        reference_id: Some(user_ref.to_string()),
                        ..UserInput::default()
                    };
                    store.create_user(input)?.id
                }
            };
            let latest = store
                .user_conversations(&user_id)
                .last()
                .map(|c| c.conversation_id.clone());
            let conversation_id = match latest {
                Some(id) => id,
                None => {
                    store
                        .create_conversation(&user_id, serde_json::Map::new())?
                        .conversation_id
                }
            };
            let message = store.post_message(
                &conversation_id,
                NewMessage {
                    message_parts: vec![MessagePart::Text {
                        content: text.to_string(),
                    }],
                    reply_parts: None,
                    message_type: MessageType::Normal,
                    actor_type: ActorType::User,
                    actor_id: Some(user_id.clone()),
                    message_source: Some("web".into()),
                },
            )?;
            Ok(ChatRef {
                user_id,
                conversation_id,
                message_id: message.id,
            })
        })
    }

    /// An agent writes in the Freshchat inbox (not through the API); `None` = the assigned or
    /// first agent.
    pub async fn agent_says(
        &self,
        conversation_id: &str,
        text: &str,
        agent_id: Option<&str>,
    ) -> Result<ChatRef, SandboxError> {
        self.inner.chat(|store| {
            let agent = match agent_id {
                Some(id) => id.to_string(),
                None => store.acting_agent(conversation_id).actor_id,
            };
            let message = store.post_message(
                conversation_id,
                NewMessage {
                    message_parts: vec![MessagePart::Text {
                        content: text.to_string(),
                    }],
                    reply_parts: None,
                    message_type: MessageType::Normal,
                    actor_type: ActorType::Agent,
                    actor_id: Some(agent),
                    message_source: Some("web".into()),
                },
            )?;
            Ok(ChatRef {
                user_id: message.user_id,
                conversation_id: conversation_id.to_string(),
                message_id: message.id,
            })
        })
    }

    /// Resolves a conversation as its agent (`by_agent`) or its customer.
    pub async fn resolve_conversation(&self, conversation_id: &str, by_agent: bool) -> Result<(), SandboxError> {
        self.set_conversation_status(conversation_id, ConversationStatus::Resolved, by_agent)
    }

    /// Reopens a conversation as its agent (`by_agent`) or its customer.
    pub async fn reopen_conversation(&self, conversation_id: &str, by_agent: bool) -> Result<(), SandboxError> {
        self.set_conversation_status(conversation_id, ConversationStatus::Reopened, by_agent)
    }

    /// Assigns a conversation to an agent in the inbox (sends `conversation_assignment`).
    pub async fn assign_conversation(&self, conversation_id: &str, agent_id: &str) -> Result<(), SandboxError> {
        self.inner.chat(|store| {
            let update = freshchat::store::ConversationUpdate {
                status: Some(ConversationStatus::Assigned),
                assigned_agent_id: Some(agent_id.to_string()),
                ..Default::default()
            };
            let by = store.acting_agent(conversation_id);
            store.update_conversation(conversation_id, update, by)?;
            Ok(())
        })
    }

    fn set_conversation_status(
        &self,
        conversation_id: &str,
        status: ConversationStatus,
        by_agent: bool,
    ) -> Result<(), SandboxError> {
        self.inner.chat(|store| {
            let by = if by_agent {
                store.acting_agent(conversation_id)
            } else {
                let user_id = store
                    .conversation(conversation_id)
                    .map(|c| c.user_id.clone())
                    .ok_or_else(|| SandboxError::Freshchat("conversation not found".into()))?;
                Actor {
                    actor_type: ActorType::User,
                    actor_id: user_id,
                }
            };
            store.transition(conversation_id, status, by)?;
            Ok(())
        })
    }

    /// An agent sends a public reply from the Freshdesk UI (fires the agent-reply automation);
    /// `None` = the ticket's agent or the first one. Returns the conversation id.
    pub async fn agent_replies(
        &self,
        ticket_id: u64,
        body_html: &str,
        agent_email: Option<&str>,
    ) -> Result<u64, SandboxError> {
        self.inner
            .desk(|store| store.agent_reply_from_ui(ticket_id, body_html, agent_email))
    }

    /// An agent changes a ticket's status in the Freshdesk UI (fires the status automation).
    pub async fn set_ticket_status(&self, ticket_id: u64, status: u16) -> Result<(), SandboxError> {
        self.inner.desk(|store| store.set_status_from_ui(ticket_id, status))
    }
}

impl Inner {
    /// Runs `f` on the Freshchat store and queues the webhooks it caused, in order, before
    /// the lock is released.
    pub(crate) fn chat<R>(&self, f: impl FnOnce(&mut FreshchatStore) -> R) -> R {
        let mut store = lock(&self.freshchat);
        let result = f(&mut store);
        let events = std::mem::take(&mut store.outbox);
        if !events.is_empty() {
            let delivery = freshchat::webhooks::Delivery {
                url: lock(&self.freshchat_target).clone(),
                signer: &self.signer,
                payload_version: &self.config.freshchat_payload_version,
                faults: &self.faults,
            };
            for event in &events {
                match freshchat::webhooks::outgoing(event, &delivery) {
                    Ok(out) => self.webhooks.enqueue(&self.faults, out),
                    Err(e) => tracing::error!(error = %e, "cannot build a Freshchat webhook"),
                }
            }
        }
        drop(store);
        result
    }

    /// Runs `f` on the Freshdesk store and queues the automation webhooks it caused.
    pub(crate) fn desk<R>(&self, f: impl FnOnce(&mut FreshdeskStore) -> R) -> R {
        let mut store = lock(&self.freshdesk);
        let result = f(&mut store);
        let events = std::mem::take(&mut store.outbox);
        if !events.is_empty() {
            let target = lock(&self.freshdesk_target).clone();
            let escape = self.escape_template_values.load(Ordering::SeqCst);
            for event in &events {
                for out in freshdesk::automation::outgoing(&store, event, target.as_ref(), escape) {
                    self.webhooks.enqueue(&self.faults, out);
                }
            }
        }
        drop(store);
        result
    }
}

/// Locks a mutex; a poisoned one is still used (state stays consistent per operation, and a
/// fake must keep answering).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
