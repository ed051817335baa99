//! Freshchat webhooks → incidence events.

use std::sync::Arc;

use domain::context::CustomerContext;
use domain::ids::{ConversationId, UserId};
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind, Identity, Source, StartContext};
use domain::money::Money;
use providers::freshchat::EventKind as Webhook;
use providers::freshchat::{ActorType, MessageType, WebhookEvent, parse_webhook};

use super::tenant;
use crate::clock;
use crate::db::Commit;
use crate::db::customers::Customer;
use crate::db::incidences::SyncUpdate;
use crate::inbox::{Disposition, EventProcessor, InboxEvent, ProcessError};
use crate::incidences;
use crate::jobs::registry::BoxFuture;
use crate::state::AppState;
use crate::sync::{gate::Provider, gated, job_error};
use crate::tenants::Tenant;

pub struct FreshchatEvents {
    pub state: AppState,
}

impl EventProcessor for FreshchatEvents {
    fn process<'a>(&'a self, event: &'a InboxEvent) -> BoxFuture<'a, Result<Disposition, ProcessError>> {
        Box::pin(self.handle(event))
    }
}

fn actor(t: &ActorType) -> Actor {
    match t {
        ActorType::User => Actor::User,
        ActorType::Agent => Actor::Agent,
        ActorType::Bot => Actor::Bot,
        _ => Actor::System,
    }
}

impl FreshchatEvents {
    async fn handle(&self, stored: &InboxEvent) -> Result<Disposition, ProcessError> {
        let tenant = tenant(&self.state, stored.tenant_id).await?;
        let webhook = parse_webhook(&stored.body).map_err(|e| ProcessError::Invalid(e.to_string()))?;
        let conversation = conversation_of(&webhook)?;
        let at = webhook.action_time;
        let key = webhook.dedupe_key();
        let mut chat_resolved = None;
        let (kind, customer_ref) = match &webhook.kind {
            Webhook::MessageCreate(m) => {
                let actor = actor(&m.actor_type);
                let kind = EventKind::Message {
                    actor,
                    text: m.plain_text(),
                    private: m.message_type == MessageType::Private,
                    agent_id: (actor == Actor::Agent).then(|| m.actor_id.clone()).flatten(),
                };
                (
                    kind,
                    if actor == Actor::User {
                        m.user_id.clone().or_else(|| m.actor_id.clone())
                    } else {
                        None
                    },
                )
            }
            Webhook::Assignment(a) => (
                EventKind::Assigned {
                    agent_id: a.to_agent_id.clone(),
                },
                None,
            ),
            Webhook::Resolution(_) => {
                chat_resolved = Some(true);
                (
                    EventKind::Resolved {
                        labels: vec![],
                        source: Source::Chat,
                        by: actor(&webhook.actor.actor_type),
                    },
                    None,
                )
            }
            Webhook::Reopen(_) => {
                chat_resolved = Some(false);
                (
                    EventKind::Reopened {
                        source: Source::Chat,
                        by: actor(&webhook.actor.actor_type),
                    },
                    None,
                )
            }
        };
        let at = match &webhook.kind {
            Webhook::MessageCreate(m) => m.created_time.unwrap_or(at),
            _ => at,
        };

        // Who the customer is and what they were doing: needed until the incidence knows both.
        let stored = self
            .state
            .shared
            .incidence_by_conversation(tenant.id, Channel::InAppChat, &conversation)
            .await?;
        let needs_facts = stored
            .as_ref()
            .is_none_or(|s| s.incidence.start.is_none() || s.incidence.identity.is_none());
        let (identity, context) = match customer_ref {
            Some(fc_user) if needs_facts => self.facts(&tenant, &fc_user).await?,
            _ => (None, None),
        };
        let event = ConversationEvent {
            at,
            key,
            kind,
            context,
            identity,
        };
        let recorded = incidences::record_read(
            &self.state,
            &tenant,
            Channel::InAppChat,
            &conversation,
            stored,
            &event,
            Commit::Relaxed,
        )
        .await?;
        if let Some(resolved) = chat_resolved {
            let u = SyncUpdate {
                chat_resolved: Some(resolved),
                ..Default::default()
            };
            let shared = &self.state.shared;
            shared
                .update_sync(tenant.id, recorded.incidence.id, u, clock::now())
                .await?;
        }
        Ok(Disposition::Processed)
    }

    /// The customer behind a Freshchat user: from the local copy, else `GET /users/{id}`; their
    /// context from the live store, else from the user's Freshchat properties.
    async fn facts(
        &self,
        tenant: &Tenant,
        fc_user: &str,
    ) -> Result<(Option<Identity>, Option<StartContext>), ProcessError> {
        let customer = match self.state.customers.by_freshchat_id(tenant.id, fc_user).await? {
            Some(c) => Some(c),
            None => self.fetch_customer(tenant, fc_user).await?,
        };
        let user_id = customer
            .as_ref()
            .and_then(|c| c.user_id.as_deref())
            .and_then(|u| UserId::parse(u).ok());
        let identity = Identity {
            user_id: user_id.clone(),
            provider_user_id: Some(fc_user.to_owned()),
        };
        let live = match &user_id {
            Some(u) => self.state.contexts.get(tenant.id, u).await.ok().flatten(),
            None => None,
        };
        let threshold = tenant.settings.friction.threshold;
        let help_shown = |score: u8| tenant.settings.friction.enabled && score >= threshold;
        let context = match (live, &customer) {
            (Some(c), _) => Some(from_live(&c, help_shown(c.friction_score))),
            (None, Some(c)) => from_properties(c, tenant).map(|mut s| {
                s.help_prompt_accepted = help_shown(s.friction_score);
                s
            }),
            (None, None) => None,
        };
        Ok((Some(identity), context))
    }

    async fn fetch_customer(&self, tenant: &Tenant, fc_user: &str) -> Result<Option<Arc<Customer>>, ProcessError> {
        let Some(fc) = self
            .state
            .integrations
            .freshchat(tenant.id)
            .await
            .map_err(|e| ProcessError::Invalid(e.to_string()))?
        else {
            return Ok(None);
        };
        let user = match gated(&self.state, tenant, Provider::Freshchat, || fc.client.get_user(fc_user)).await? {
            Ok(u) => u,
            Err(e) if e.status().is_some_and(|s| s.as_u16() == 404) => return Ok(None),
            Err(e) => return Err(job_error("fetching the Freshchat user", &e).into()),
        };
        let name = [user.first_name.as_deref(), user.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let customer = Customer {
            freshchat_user_id: fc_user.to_owned(),
            user_id: user.reference_id.clone().filter(|r| !r.is_empty()),
            email: user.email.clone(),
            phone: user.phone.clone(),
            name: (!name.trim().is_empty()).then(|| name.trim().to_owned()),
            properties: user
                .properties
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect(),
            fetched_at: clock::now(),
        };
        Ok(Some(self.state.customers.store(tenant.id, customer).await?))
    }
}

fn conversation_of(webhook: &WebhookEvent) -> Result<ConversationId, ProcessError> {
    ConversationId::parse(webhook.conversation_id()).map_err(|e| ProcessError::Invalid(format!("conversation id: {e}")))
}

fn from_live(c: &CustomerContext, help_shown: bool) -> StartContext {
    StartContext {
        app_screen: c.current_screen().unwrap_or(domain::context::UNKNOWN_SCREEN).to_owned(),
        cart_value: c.cart.cart_value,
        guest_count: c.cart.guest_count,
        event_type: c.cart.event_type.clone(),
        friction_score: c.friction_score,
        order_id: c.order_id.clone(),
        help_prompt_accepted: help_shown,
    }
}

/// The app may push its context straight into Freshchat user properties (the seed's SDK
/// integration): read them leniently, as strings.
fn from_properties(c: &Customer, tenant: &Tenant) -> Option<StartContext> {
    let prop = |name: &str| {
        c.properties
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let any = [
        "current_screen",
        "cart_value",
        "friction_score",
        "guest_count",
        "event_type",
        "order_id",
    ]
    .iter()
    .any(|n| prop(n).is_some());
    if !any {
        return None;
    }
    Some(StartContext {
        app_screen: prop("current_screen").map_or(domain::context::UNKNOWN_SCREEN.to_owned(), str::to_uppercase),
        cart_value: prop("cart_value")
            .and_then(|v| Money::parse_decimal(v, tenant.currency).ok())
            .filter(|m| !m.is_negative())
            .unwrap_or(Money::ZERO),
        guest_count: prop("guest_count").and_then(|v| v.parse().ok()),
        event_type: prop("event_type").map(str::to_uppercase),
        friction_score: prop("friction_score")
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0, |f| f.clamp(0.0, 100.0) as u8),
        order_id: prop("order_id").map(str::to_owned),
        help_prompt_accepted: false,
    })
}
