//! Read-only views of the fakes' state, for tests and `/admin/state`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::faults::Provider;
use crate::freshchat::model::{Agent, Conversation, Message, User};
use crate::freshdesk::model::{Contact, Ticket, TicketConversation};
use crate::requests::{Counters, RequestRecord};
use crate::webhooks::DeliveryRecord;
use crate::{Inner, WebhookAuth, lock};

/// Snapshot accessors; every call copies what it returns.
pub struct Inspect {
    inner: Arc<Inner>,
}

impl Inspect {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }

    // ---- Freshdesk ---------------------------------------------------------------------

    /// All tickets, ascending by id.
    pub fn tickets(&self) -> Vec<Ticket> {
        lock(&self.inner.freshdesk).tickets().cloned().collect()
    }

    pub fn ticket(&self, id: u64) -> Option<Ticket> {
        lock(&self.inner.freshdesk).ticket(id).cloned()
    }

    /// Replies and notes of a ticket, oldest first.
    pub fn ticket_conversations(&self, ticket_id: u64) -> Vec<TicketConversation> {
        lock(&self.inner.freshdesk).conversations(ticket_id).to_vec()
    }

    pub fn contacts(&self) -> Vec<Contact> {
        lock(&self.inner.freshdesk).contacts().to_vec()
    }

    // ---- Freshchat ---------------------------------------------------------------------

    /// Users with their properties, in creation order.
    pub fn users(&self) -> Vec<User> {
        lock(&self.inner.freshchat).users().to_vec()
    }

    pub fn user(&self, id: &str) -> Option<User> {
        lock(&self.inner.freshchat).user(id).cloned()
    }

    pub fn user_by_reference(&self, reference_id: &str) -> Option<User> {
        lock(&self.inner.freshchat).user_by_reference(reference_id).cloned()
    }

    pub fn conversations(&self) -> Vec<Conversation> {
        lock(&self.inner.freshchat).conversations().to_vec()
    }

    pub fn conversation(&self, id: &str) -> Option<Conversation> {
        lock(&self.inner.freshchat).conversation(id).cloned()
    }

    /// Messages of a conversation, oldest first.
    pub fn chat_messages(&self, conversation_id: &str) -> Vec<Message> {
        lock(&self.inner.freshchat).messages(conversation_id).to_vec()
    }

    pub fn freshchat_agents(&self) -> Vec<Agent> {
        lock(&self.inner.freshchat).agents().to_vec()
    }

    pub fn freshchat_app_id(&self) -> String {
        lock(&self.inner.freshchat).app_id.clone()
    }

    // ---- traffic -----------------------------------------------------------------------

    /// API requests in arrival order, optionally of one provider.
    pub fn requests(&self, provider: Option<Provider>) -> Vec<RequestRecord> {
        self.inner.requests.records(provider)
    }

    /// Calls per provider and endpoint (`"POST /tickets/{id}/notes"`).
    pub fn counters(&self) -> Counters {
        self.inner.requests.counters()
    }

    /// Calls to one endpoint, e.g. `count(Provider::Freshdesk, "POST /tickets")`.
    pub fn count(&self, provider: Provider, endpoint: &str) -> u64 {
        self.counters()
            .get(&provider)
            .and_then(|m| m.get(endpoint))
            .copied()
            .unwrap_or(0)
    }

    /// Webhooks sent (or held, or dropped for want of a URL), oldest first.
    pub fn webhook_deliveries(&self) -> Vec<DeliveryRecord> {
        self.inner.webhooks.deliveries()
    }

    /// Everything, as JSON (what `/admin/state` answers).
    pub fn state(&self) -> Value {
        let chat = lock(&self.inner.freshchat);
        let conversations: Vec<Value> = chat
            .conversations()
            .iter()
            .map(|c| {
                let mut v = json!(c);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("messages".into(), json!(chat.messages(&c.conversation_id)));
                }
                v
            })
            .collect();
        let freshchat = json!({
            "app_id": chat.app_id,
            "channel_id": chat.channel_id,
            "webhook_url": lock(&self.inner.freshchat_target).as_ref().map(|u| u.to_string()),
            "public_key_pem": self.inner.signer.public_key_pem(),
            "agents": chat.agents(),
            "users": chat.users(),
            "conversations": conversations,
        });
        drop(chat);
        let desk = lock(&self.inner.freshdesk);
        let tickets: Vec<Value> = desk
            .tickets()
            .map(|t| {
                let mut v = json!(t);
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("conversations".into(), json!(desk.conversations(t.id)));
                }
                v
            })
            .collect();
        let target = lock(&self.inner.freshdesk_target).clone().map(|t| {
            let auth = match t.auth {
                WebhookAuth::None => "none",
                WebhookAuth::Basic { .. } => "basic",
                WebhookAuth::Token(_) => "token",
            };
            json!({ "url": t.url.as_str().split('?').next(), "auth": auth })
        });
        let freshdesk = json!({
            "webhook": target,
            "escape_template_values": self.inner.escape_template_values.load(std::sync::atomic::Ordering::SeqCst),
            "tickets": tickets,
            "contacts": desk.contacts(),
            "agents": desk.agents(),
            "automations": desk.automations,
        });
        drop(desk);
        json!({
            "freshchat": freshchat,
            "freshdesk": freshdesk,
            "faults": self.inner.faults.list(),
            "counters": self.counters(),
            "requests": self.requests(None),
            "webhooks": self.webhook_deliveries(),
        })
    }
}
