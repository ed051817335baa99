//! Conversation webhooks (freshworks.md §2): the envelope, the four event shapes and the
//! signed delivery headers.

use serde::Serialize;
use url::Url;

use super::model::{Actor, ActorType, Conversation, ConversationStatus, Message, MessagePart, MessageType};
use super::store::ChatEvent;
use crate::SandboxError;
use crate::faults::{FaultAction, Faults, Provider};
use crate::signing::Signer;
use crate::timestamps;
use crate::webhooks::Outgoing;

#[derive(Serialize)]
struct Envelope<'a, D: Serialize> {
    actor: &'a Actor,
    action: &'static str,
    action_time: String,
    data: D,
}

#[derive(Serialize)]
struct MessageData<'a> {
    message: WebhookMessage<'a>,
}

/// `data.message`, keys in the order of the official samples.
#[derive(Serialize)]
struct WebhookMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message_parts: Option<&'a [MessagePart]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg_parts: Option<Vec<LegacyPart>>,
    app_id: &'a str,
    actor_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    org_actor_id: &'a str,
    id: &'a str,
    channel_id: &'a str,
    conversation_id: &'a str,
    interaction_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_type: Option<MessageType>,
    actor_type: ActorType,
    created_time: String,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_source: Option<&'a str>,
    #[serde(rename = "restrictResponse")]
    restrict_response: bool,
    #[serde(rename = "botsPrivateNote")]
    bots_private_note: bool,
}

/// The 2018 `msg_parts` element.
#[derive(Serialize)]
struct LegacyPart {
    part_type: &'static str,
    properties: serde_json::Value,
}

#[derive(Serialize)]
struct ConversationSummary<'a> {
    conversation_id: &'a str,
    app_id: &'a str,
    status: ConversationStatus,
    channel_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    assigned_group_id: Option<&'a str>,
    skill_id: u64,
    sla_policy_id: u64,
    sla_breached: bool,
}

impl<'a> ConversationSummary<'a> {
    fn of(c: &'a Conversation, status: ConversationStatus) -> Self {
        Self {
            conversation_id: &c.conversation_id,
            app_id: &c.app_id,
            status,
            channel_id: &c.channel_id,
            assigned_agent_id: c.assigned_agent_id.as_deref(),
            assigned_group_id: c.assigned_group_id.as_deref(),
            skill_id: c.skill_id,
            sla_policy_id: 0,
            sla_breached: false,
        }
    }
}

#[derive(Serialize)]
struct ResolveData<'a> {
    resolve: StatusChange<'a>,
}

#[derive(Serialize)]
struct ReopenData<'a> {
    reopen: StatusChange<'a>,
}

/// Body of `resolve` (`resolver*`) and `reopen` (`reopener*`) — same shape, renamed keys.
#[derive(Serialize)]
struct StatusChange<'a> {
    #[serde(flatten)]
    by: ByKeys<'a>,
    conversation: ConversationSummary<'a>,
    interaction_id: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ByKeys<'a> {
    Resolver { resolver: ActorType, resolver_id: &'a str },
    Reopener { reopener: ActorType, reopener_id: &'a str },
}

#[derive(Serialize)]
struct AssignmentData<'a> {
    assignment: Assignment<'a>,
}

#[derive(Serialize)]
struct Assignment<'a> {
    assignor: ActorType,
    assignor_id: &'a str,
    to_agent_id: &'a str,
    to_group_id: &'a str,
    from_agent_id: &'a str,
    from_group_id: &'a str,
    conversation: ConversationSummary<'a>,
    interaction_id: String,
}

/// Where and how Freshchat webhooks are sent.
pub(crate) struct Delivery<'a> {
    pub url: Option<Url>,
    pub signer: &'a Signer,
    pub payload_version: &'a str,
    pub faults: &'a Faults,
}

/// Serializes and signs one event.
pub(crate) fn outgoing(event: &ChatEvent, d: &Delivery<'_>) -> Result<Outgoing, SandboxError> {
    let now = timestamps::millis(chrono::Utc::now());
    let (action, body) = match event {
        ChatEvent::MessageCreated(m) => {
            let wants =
                |f: fn(&FaultAction) -> bool| d.faults.for_webhook(Provider::Freshchat, "message_create", f).is_some();
            let shape = MessageShape {
                legacy_parts: wants(|a| matches!(a, FaultAction::LegacyMessageParts)),
                omit_type: wants(|a| matches!(a, FaultAction::OmitMessageType)),
            };
            ("message_create", message_create_body(m, shape, now)?)
        }
        ChatEvent::Resolved(c, by) => {
            let data = ResolveData {
                resolve: StatusChange {
                    by: ByKeys::Resolver {
                        resolver: by.actor_type,
                        resolver_id: &by.actor_id,
                    },
                    conversation: ConversationSummary::of(c, ConversationStatus::Resolved),
                    interaction_id: c.interaction_id(),
                },
            };
            let envelope = Envelope {
                actor: by,
                action: "conversation_resolution",
                action_time: now,
                data,
            };
            ("conversation_resolution", serde_json::to_vec(&envelope)?)
        }
        ChatEvent::Reopened(c, by) => {
            let data = ReopenData {
                reopen: StatusChange {
                    by: ByKeys::Reopener {
                        reopener: by.actor_type,
                        reopener_id: &by.actor_id,
                    },
                    // The samples report "reopened" whatever status the PUT asked for.
                    conversation: ConversationSummary::of(c, ConversationStatus::Reopened),
                    interaction_id: c.interaction_id(),
                },
            };
            let envelope = Envelope {
                actor: by,
                action: "conversation_reopen",
                action_time: now,
                data,
            };
            ("conversation_reopen", serde_json::to_vec(&envelope)?)
        }
        ChatEvent::Assigned {
            conversation: c,
            by,
            from_agent_id,
            from_group_id,
        } => {
            let data = AssignmentData {
                assignment: Assignment {
                    assignor: by.actor_type,
                    assignor_id: &by.actor_id,
                    to_agent_id: c.assigned_agent_id.as_deref().unwrap_or(""),
                    to_group_id: c.assigned_group_id.as_deref().unwrap_or(""),
                    from_agent_id,
                    from_group_id,
                    conversation: ConversationSummary::of(c, c.status),
                    interaction_id: c.interaction_id(),
                },
            };
            let envelope = Envelope {
                actor: by,
                action: "conversation_assignment",
                action_time: now,
                data,
            };
            ("conversation_assignment", serde_json::to_vec(&envelope)?)
        }
    };
    // Nothing is sent without a URL, so no signature (RSA costs ~1 ms a message, which would
    // dominate a caller driving thousands of messages with deliveries off).
    let mut headers = Vec::with_capacity(2);
    if d.url.is_some() {
        headers.push(("X-Freshchat-Signature", d.signer.sign(&body)?));
    }
    headers.push(("X-Freshchat-Payload-Version", d.payload_version.to_string()));
    Ok(Outgoing {
        provider: Provider::Freshchat,
        event: action.to_string(),
        url: d.url.clone(),
        headers,
        body,
        retry_count_header: true,
    })
}

/// Variations of the `message_create` shape (delivery faults).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MessageShape {
    /// The 2018 `msg_parts` instead of `message_parts`.
    pub legacy_parts: bool,
    /// No `message_type` key.
    pub omit_type: bool,
}

/// The `message_create` envelope for a stored message, as of `action_time`.
pub(crate) fn message_create_body(
    m: &Message,
    shape: MessageShape,
    action_time: String,
) -> Result<Vec<u8>, serde_json::Error> {
    let message = WebhookMessage {
        message_parts: (!shape.legacy_parts).then_some(m.message_parts.as_slice()),
        msg_parts: shape
            .legacy_parts
            .then(|| m.message_parts.iter().map(legacy_part).collect()),
        app_id: &m.app_id,
        actor_id: &m.actor_id,
        org_actor_id: &m.org_actor_id,
        id: &m.id,
        channel_id: &m.channel_id,
        conversation_id: &m.conversation_id,
        interaction_id: &m.interaction_id,
        message_type: (!shape.omit_type).then_some(m.message_type),
        actor_type: m.actor_type,
        created_time: timestamps::millis(m.created_time),
        user_id: &m.user_id,
        message_source: m.message_source.as_deref(),
        restrict_response: m.restrict_response,
        bots_private_note: m.bots_private_note,
    };
    let actor = Actor {
        actor_type: m.actor_type,
        actor_id: m.actor_id.clone(),
    };
    let envelope = Envelope {
        actor: &actor,
        action: "message_create",
        action_time,
        data: MessageData { message },
    };
    serde_json::to_vec(&envelope)
}

fn legacy_part(part: &MessagePart) -> LegacyPart {
    match part {
        MessagePart::Text { content } => LegacyPart {
            part_type: "text",
            properties: serde_json::json!({ "text": content }),
        },
        MessagePart::Image { url } => LegacyPart {
            part_type: "image",
            properties: serde_json::json!({ "url": url }),
        },
        other => LegacyPart {
            part_type: "unsupported",
            properties: serde_json::to_value(other).unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::freshchat::store::{FreshchatStore, NewMessage, UserInput};

    #[test]
    fn signed_only_when_there_is_somewhere_to_send() -> Result<(), SandboxError> {
        let mut store = FreshchatStore::new(&SandboxConfig::default().agents);
        let user = store.create_user(UserInput::default())?.id;
        let conversation = store
            .create_conversation(&user, serde_json::Map::new())?
            .conversation_id;
        let message = store.post_message(
            &conversation,
            NewMessage {
                message_parts: vec![MessagePart::Text { content: "hi".into() }],
                reply_parts: None,
                message_type: MessageType::Normal,
                actor_type: ActorType::User,
                actor_id: Some(user),
                message_source: None,
            },
        )?;
        let (signer, faults) = (Signer::new(None)?, Faults::new(1));
        let event = ChatEvent::MessageCreated(message);
        let delivery = |url: Option<Url>| Delivery {
            url,
            signer: &signer,
            payload_version: "1",
            faults: &faults,
        };
        let signed = |out: &Outgoing| out.headers.iter().any(|(name, _)| *name == "X-Freshchat-Signature");
        assert!(!signed(&outgoing(&event, &delivery(None))?));
        assert!(signed(&outgoing(
            &event,
            &delivery(Some("http://127.0.0.1:9/".parse()?))
        )?));
        Ok(())
    }
}
