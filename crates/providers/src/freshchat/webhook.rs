//! Freshchat conversation webhooks (freshworks.md §2): one URL receives all four actions.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use super::message::{Message, MessageWire};
use super::types::{ActorType, Conversation, MissingField, User};
use crate::lenient;

/// Who triggered the event (`actor` in the envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
}

/// A parsed webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub action_time: DateTime<Utc>,
    pub actor: Actor,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    MessageCreate(Message),
    Assignment(Assignment),
    Resolution(Resolution),
    Reopen(Reopen),
}

/// `data.assignment`. Freshchat sends `""` for "no previous agent/group"; that becomes `None`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Assignment {
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub assignor: Option<ActorType>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub assignor_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub to_agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub to_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub from_agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub from_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub conversation: Conversation,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub interaction_id: Option<String>,
}

/// `data.resolve`. Newer payloads may embed the end `user` (UNCONFIRMED); a malformed one is
/// dropped rather than failing the event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Resolution {
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub resolver: Option<ActorType>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub resolver_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub conversation: Conversation,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub interaction_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub user: Option<User>,
}

/// `data.reopen`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Reopen {
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub reopener: Option<ActorType>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub reopener_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub conversation: Conversation,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub interaction_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("webhook body is JSON but not a Freshchat webhook: {0}")]
    InvalidShape(String),
    #[error("unknown webhook action `{0}`")]
    UnknownAction(String),
    #[error("webhook body lacks required field `{0}`")]
    MissingField(&'static str),
    #[error("webhook field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl From<lenient::BodyError> for WebhookError {
    fn from(error: lenient::BodyError) -> Self {
        match error {
            lenient::BodyError::InvalidJson(e) => Self::InvalidJson(e),
            lenient::BodyError::InvalidShape(e) => Self::InvalidShape(e),
        }
    }
}

impl From<MissingField> for WebhookError {
    fn from(missing: MissingField) -> Self {
        Self::MissingField(missing.0)
    }
}

pub const MESSAGE_CREATE: &str = "message_create";
pub const CONVERSATION_ASSIGNMENT: &str = "conversation_assignment";
pub const CONVERSATION_RESOLUTION: &str = "conversation_resolution";
pub const CONVERSATION_REOPEN: &str = "conversation_reopen";

impl WebhookEvent {
    /// The `action` this event arrived as.
    pub fn action(&self) -> &'static str {
        match self.kind {
            EventKind::MessageCreate(_) => MESSAGE_CREATE,
            EventKind::Assignment(_) => CONVERSATION_ASSIGNMENT,
            EventKind::Resolution(_) => CONVERSATION_RESOLUTION,
            EventKind::Reopen(_) => CONVERSATION_REOPEN,
        }
    }

    pub fn conversation_id(&self) -> &str {
        match &self.kind {
            EventKind::MessageCreate(message) => &message.conversation_id,
            EventKind::Assignment(a) => &a.conversation.conversation_id,
            EventKind::Resolution(r) => &r.conversation.conversation_id,
            EventKind::Reopen(r) => &r.conversation.conversation_id,
        }
    }

    /// Idempotency key across redeliveries (§2.1): the message id for messages,
    /// `action:conversation_id:action_time` for conversation events.
    pub fn dedupe_key(&self) -> String {
        match &self.kind {
            EventKind::MessageCreate(message) => message.id.clone(),
            _ => format!(
                "{}:{}:{}",
                self.action(),
                self.conversation_id(),
                self.action_time.to_rfc3339_opts(SecondsFormat::Millis, true)
            ),
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    action: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    action_time: Option<String>,
    #[serde(default)]
    actor: Option<ActorWire>,
    #[serde(default)]
    data: Option<DataWire>,
}

#[derive(Deserialize)]
struct ActorWire {
    #[serde(default, deserialize_with = "lenient::or_none")]
    actor_type: Option<ActorType>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    actor_id: Option<String>,
}

#[derive(Default, Deserialize)]
struct DataWire {
    #[serde(default)]
    message: Option<MessageWire>,
    #[serde(default)]
    assignment: Option<Assignment>,
    #[serde(default)]
    resolve: Option<Resolution>,
    #[serde(default)]
    reopen: Option<Reopen>,
}

/// An unknown action is echoed in the error; keep hostile input from bloating logs.
const MAX_ECHOED_CHARS: usize = 64;

/// Parses the raw body of a Freshchat webhook. Verify the signature over the same bytes first.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let envelope: Envelope = lenient::object_body(body)?;
    let action = envelope.action.ok_or(WebhookError::MissingField("action"))?;
    if ![
        MESSAGE_CREATE,
        CONVERSATION_ASSIGNMENT,
        CONVERSATION_RESOLUTION,
        CONVERSATION_REOPEN,
    ]
    .contains(&action.as_str())
    {
        return Err(WebhookError::UnknownAction(
            action.chars().take(MAX_ECHOED_CHARS).collect(),
        ));
    }
    let action_time = envelope.action_time.ok_or(WebhookError::MissingField("action_time"))?;
    let action_time = lenient::parse_datetime(&action_time).ok_or_else(|| WebhookError::InvalidField {
        field: "action_time",
        reason: "not an ISO-8601 timestamp".to_owned(),
    })?;
    let actor = envelope.actor.ok_or(WebhookError::MissingField("actor"))?;
    let actor = Actor {
        actor_type: actor.actor_type.ok_or(WebhookError::MissingField("actor.actor_type"))?,
        actor_id: actor.actor_id,
    };
    let data = envelope.data.ok_or(WebhookError::MissingField("data"))?;
    let kind = match action.as_str() {
        MESSAGE_CREATE => {
            let mut wire = data.message.ok_or(WebhookError::MissingField("data.message"))?;
            // The message repeats the actor in every sample; fall back to the envelope's.
            if wire.actor_type.is_none() {
                wire.actor_type = Some(actor.actor_type.clone());
            }
            if wire.actor_id.is_none() {
                wire.actor_id.clone_from(&actor.actor_id);
            }
            EventKind::MessageCreate(Message::try_from(wire)?)
        }
        CONVERSATION_ASSIGNMENT => {
            let mut a = data.assignment.ok_or(WebhookError::MissingField("data.assignment"))?;
            a.conversation = a
                .conversation
                .require_id("data.assignment.conversation.conversation_id")?;
            EventKind::Assignment(a)
        }
        CONVERSATION_RESOLUTION => {
            let mut r = data.resolve.ok_or(WebhookError::MissingField("data.resolve"))?;
            r.conversation = r.conversation.require_id("data.resolve.conversation.conversation_id")?;
            EventKind::Resolution(r)
        }
        _ => {
            let mut r = data.reopen.ok_or(WebhookError::MissingField("data.reopen"))?;
            r.conversation = r.conversation.require_id("data.reopen.conversation.conversation_id")?;
            EventKind::Reopen(r)
        }
    };
    Ok(WebhookEvent {
        action_time,
        actor,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(value: Value) -> Result<WebhookEvent, WebhookError> {
        parse_webhook(value.to_string().as_bytes())
    }

    fn envelope(action: &str, data: Value) -> Value {
        json!({"actor": {"actor_type": "agent", "actor_id": "a1"}, "action": action,
               "action_time": "2022-04-01T06:16:34.207Z", "data": data})
    }

    #[test]
    fn message_without_actor_or_type_falls_back_to_the_envelope() {
        let event = parse(envelope(
            "message_create",
            json!({"message": {"id": "m1", "conversation_id": "c1",
                               "message_parts": [{"text": {"content": "hi"}}]}}),
        ))
        .expect("parses");
        let EventKind::MessageCreate(message) = &event.kind else {
            panic!("expected a message");
        };
        assert_eq!(message.actor_type, ActorType::Agent);
        assert_eq!(message.actor_id.as_deref(), Some("a1"));
        assert_eq!(event.dedupe_key(), "m1");
        assert_eq!(event.conversation_id(), "c1");
    }

    #[test]
    fn conversation_events_dedupe_on_action_conversation_and_time() {
        let event = parse(envelope(
            "conversation_resolution",
            json!({"resolve": {"resolver": "agent", "resolver_id": "a1",
                               "conversation": {"conversation_id": "c9", "status": "resolved"},
                               "interaction_id": "i1",
                               "user": {"id": "u1", "properties": [{"name": "plan", "value": "Gold"}]}}}),
        ))
        .expect("parses");
        assert_eq!(
            event.dedupe_key(),
            "conversation_resolution:c9:2022-04-01T06:16:34.207Z"
        );
        let EventKind::Resolution(resolution) = &event.kind else {
            panic!("expected a resolution");
        };
        assert_eq!(resolution.interaction_id.as_deref(), Some("i1"));
        let user = resolution.user.as_ref().expect("embedded user");
        assert_eq!(user.property("plan"), Some("Gold"));
    }

    #[test]
    fn malformed_embedded_user_is_dropped() {
        let event = parse(envelope(
            "conversation_resolution",
            json!({"resolve": {"conversation": {"conversation_id": "c9"}, "user": {"no_id": 1}}}),
        ))
        .expect("parses");
        let EventKind::Resolution(resolution) = event.kind else {
            panic!("expected a resolution");
        };
        assert_eq!(resolution.user, None);
        assert_eq!(resolution.resolver, None);
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert!(matches!(
            parse_webhook(b"{\"action\": \"message_create\""),
            Err(WebhookError::InvalidJson(_))
        ));
        assert!(matches!(parse_webhook(b""), Err(WebhookError::InvalidJson(_))));
        assert!(matches!(parse_webhook(b"[1,2]"), Err(WebhookError::InvalidShape(_))));
        assert_eq!(
            parse(json!({"action": "user_create"})),
            Err(WebhookError::UnknownAction("user_create".into()))
        );
        assert_eq!(parse(json!({})), Err(WebhookError::MissingField("action")));
        let mut no_time = envelope("conversation_reopen", json!({}));
        no_time["action_time"] = json!(null);
        assert_eq!(parse(no_time), Err(WebhookError::MissingField("action_time")));
        let mut bad_time = envelope("conversation_reopen", json!({}));
        bad_time["action_time"] = json!("tuesday");
        assert!(matches!(
            parse(bad_time),
            Err(WebhookError::InvalidField {
                field: "action_time",
                ..
            })
        ));
        assert_eq!(
            parse(envelope("conversation_reopen", json!({}))),
            Err(WebhookError::MissingField("data.reopen"))
        );
        assert_eq!(
            parse(envelope("conversation_reopen", json!({"reopen": {"conversation": {}}}))),
            Err(WebhookError::MissingField("data.reopen.conversation.conversation_id"))
        );
        assert_eq!(
            parse(envelope("message_create", json!({"message": {"conversation_id": "c"}}))),
            Err(WebhookError::MissingField("message.id"))
        );
        let mut no_actor = envelope("message_create", json!({}));
        no_actor["actor"] = json!({"actor_id": "x"});
        assert_eq!(parse(no_actor), Err(WebhookError::MissingField("actor.actor_type")));
    }

    #[test]
    fn unknown_action_echo_is_truncated() {
        let long = "x".repeat(10_000);
        let Err(WebhookError::UnknownAction(echo)) = parse(json!({"action": long})) else {
            panic!("expected UnknownAction");
        };
        assert_eq!(echo.len(), MAX_ECHOED_CHARS);
    }
}
