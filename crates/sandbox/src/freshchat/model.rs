//! Freshchat v2 objects, serialized in the shapes of freshworks.md §1.5 and the recorded
//! payloads (`freshchat_api_message_object_1.json`, `freshchat_api_conversation_object_1.json`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::timestamps::serialize_millis;

/// A custom user property; Freshchat keeps every value as a string.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Property {
    pub name: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Avatar {
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: String,
    #[serde(serialize_with = "serialize_millis")]
    pub created_time: DateTime<Utc>,
    #[serde(serialize_with = "serialize_millis")]
    pub updated_time: DateTime<Utc>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub avatar: Avatar,
    pub properties: Vec<Property>,
    pub reference_id: Option<String>,
    pub restore_id: String,
    pub login_status: bool,
    pub org_contact_id: String,
    pub social_profiles: Vec<Value>,
}

impl User {
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }

    /// A name to show in pages.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.reference_id.clone().unwrap_or_else(|| self.id.clone())
        } else {
            name
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    New,
    Assigned,
    Resolved,
    Reopened,
}

#[derive(Clone, Debug, Serialize)]
pub struct Conversation {
    pub conversation_id: String,
    /// A JSON number in the real API (below 2^53).
    pub conversation_internal_id: u64,
    pub app_id: String,
    pub status: ConversationStatus,
    pub channel_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_org_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_group_id: Option<String>,
    pub skill_id: u64,
    pub properties: Map<String, Value>,
    pub url: String,
    pub org_contact_id: String,
    #[serde(serialize_with = "serialize_millis")]
    pub created_time: DateTime<Utc>,
    #[serde(serialize_with = "serialize_millis")]
    pub updated_time: DateTime<Utc>,
    pub user_id: String,
    /// Start of the current interaction (a reopen starts a new one), for `interaction_id`.
    #[serde(skip)]
    pub interaction_started: DateTime<Utc>,
}

impl Conversation {
    pub fn interaction_id(&self) -> String {
        format!(
            "{}-{}",
            self.conversation_internal_id,
            self.interaction_started.timestamp_millis()
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    Agent,
    Bot,
    System,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageType {
    #[default]
    Normal,
    Private,
    System,
}

/// One element of `message_parts`: exactly one key naming the part type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePart {
    Text { content: String },
    Image { url: String },
    Video(Value),
    File(Value),
    UrlButton(Value),
    QuickReplyButton(Value),
    Callback(Value),
    Collection(Value),
    Email(Value),
}

/// A message in the REST shape (`GET /conversations/{id}/messages` elements).
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    pub bots_input: bool,
    pub message_parts: Vec<MessagePart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_parts: Option<Vec<Value>>,
    pub app_id: String,
    pub actor_id: String,
    pub org_actor_id: String,
    pub id: String,
    pub channel_id: String,
    pub conversation_id: String,
    pub freshchat_conversation_id: String,
    pub freshchat_channel_id: String,
    pub interaction_id: String,
    pub message_type: MessageType,
    pub actor_type: ActorType,
    #[serde(serialize_with = "serialize_millis")]
    pub created_time: DateTime<Utc>,
    /// The conversation's end user, also when an agent wrote the message.
    pub user_id: String,
    #[serde(rename = "restrictResponse")]
    pub restrict_response: bool,
    #[serde(rename = "botsPrivateNote")]
    pub bots_private_note: bool,
    #[serde(rename = "isBotsInput")]
    pub is_bots_input: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_source: Option<String>,
}

impl Message {
    /// The text parts joined (text can be split across parts).
    pub fn text(&self) -> String {
        self.message_parts
            .iter()
            .filter_map(|p| match p {
                MessagePart::Text { content } => Some(content.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct AgentStatus {
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Agent {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub avatar: Avatar,
    pub groups: Vec<String>,
    pub role_id: String,
    pub role_name: String,
    pub locale: String,
    pub login_status: bool,
    pub is_deactivated: bool,
    pub is_deleted: bool,
    pub availability_status: String,
    pub agent_status: AgentStatus,
    pub routing_type: String,
    pub agent_capacity: u32,
    pub freshchat_access: bool,
    pub round_robin_access: bool,
    pub social_profiles: Vec<Value>,
    #[serde(serialize_with = "serialize_millis")]
    pub created_time: DateTime<Utc>,
    /// Numeric-looking org id, reported as `org_actor_id` on the agent's messages.
    #[serde(skip)]
    pub org_agent_id: String,
}

/// Who did something, as in the webhook envelope's `actor`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub actor_type: ActorType,
    pub actor_id: String,
}
