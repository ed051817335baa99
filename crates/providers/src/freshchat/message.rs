//! Freshchat messages and their parts (freshworks.md §1.5 MessagePart, §1.6, §2.3, §2.5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::{ActorType, MessageType, MissingField};
use crate::lenient;

/// One element of `message_parts`: an object with exactly one key naming the part type.
/// Anything else (a new part type, a known type with an unexpected body) is kept as `Unknown`
/// so a message is never rejected for its decoration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePart {
    Text {
        content: String,
    },
    Image {
        url: String,
    },
    Video {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    File {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_size_in_bytes: Option<u64>,
        #[serde(default, rename = "contentType", skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    UrlButton {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    #[serde(rename = "quick_reply_button")]
    QuickReply {
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        custom_reply_text: Option<String>,
    },
    Callback {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
    Collection {
        sub_parts: Vec<MessagePart>,
    },
    Email {
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    #[serde(untagged)]
    Unknown(Value),
}

impl MessagePart {
    pub fn text(content: impl Into<String>) -> Self {
        Self::Text {
            content: content.into(),
        }
    }

    /// Maps a legacy (2018) `msg_parts` element, `{"part_type":"text","properties":{"text":…}}`.
    fn from_legacy(value: Value) -> Self {
        let property = |key: &str| {
            value
                .get("properties")
                .and_then(|p| p.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let part = match value.get("part_type").and_then(Value::as_str) {
            Some("text") => property("text").map(|content| Self::Text { content }),
            Some("image") => property("url").map(|url| Self::Image { url }),
            _ => None,
        };
        part.unwrap_or(Self::Unknown(value))
    }

    fn visit<'a>(&'a self, out: &mut Vec<&'a MessagePart>) {
        match self {
            Self::Collection { sub_parts } => sub_parts.iter().for_each(|p| p.visit(out)),
            part => out.push(part),
        }
    }
}

/// What kind of media an [`Attachment`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    Image,
    Video,
    File,
}

impl AttachmentKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::File => "file",
        }
    }
}

/// A media part of a message, for callers that render it as a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment<'a> {
    pub kind: AttachmentKind,
    pub url: &'a str,
    pub name: Option<&'a str>,
}

/// A chat message, from a `message_create` webhook or the REST API (same shape in both).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "MessageWire")]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    /// Numeric-looking string in samples; opaque.
    pub org_actor_id: Option<String>,
    pub message_type: MessageType,
    /// Modern `message_parts`, or legacy `msg_parts` mapped to the same parts.
    pub parts: Vec<MessagePart>,
    pub reply_parts: Vec<MessagePart>,
    pub app_id: Option<String>,
    pub channel_id: Option<String>,
    /// The conversation's end user, even when an agent wrote the message.
    pub user_id: Option<String>,
    pub interaction_id: Option<String>,
    pub created_time: Option<DateTime<Utc>>,
    pub message_source: Option<String>,
}

impl Message {
    fn flat_parts(&self) -> Vec<&MessagePart> {
        let mut out = Vec::new();
        self.parts.iter().for_each(|p| p.visit(&mut out));
        out
    }

    /// All text parts joined with newlines (a message's text may be split across parts).
    pub fn text(&self) -> String {
        self.flat_parts()
            .into_iter()
            .filter_map(|part| match part {
                MessagePart::Text { content } => Some(content.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Images, videos and files, in order.
    pub fn attachments(&self) -> Vec<Attachment<'_>> {
        self.flat_parts()
            .into_iter()
            .filter_map(|part| match part {
                MessagePart::Image { url } => Some(Attachment {
                    kind: AttachmentKind::Image,
                    url,
                    name: None,
                }),
                MessagePart::Video { url, .. } => Some(Attachment {
                    kind: AttachmentKind::Video,
                    url,
                    name: None,
                }),
                MessagePart::File { url, name, .. } => Some(Attachment {
                    kind: AttachmentKind::File,
                    url,
                    name: name.as_deref(),
                }),
                _ => None,
            })
            .collect()
    }

    /// Text followed by one `[image] url` line per attachment: what a plain-text channel (a
    /// ticket note, the timeline) shows for this message.
    pub fn plain_text(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let text = self.text();
        if !text.is_empty() {
            lines.push(text);
        }
        for attachment in self.attachments() {
            let label = attachment.kind.label();
            lines.push(match attachment.name {
                Some(name) => format!("[{label}] {name} {}", attachment.url),
                None => format!("[{label}] {}", attachment.url),
            });
        }
        lines.join("\n")
    }
}

/// The wire form of a message, every field optional; [`Message::try_from`] enforces the rest.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessageWire {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    conversation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub(crate) actor_type: Option<ActorType>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub(crate) actor_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    org_actor_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    message_type: Option<MessageType>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    message_parts: Vec<MessagePart>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    msg_parts: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    reply_parts: Vec<MessagePart>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    channel_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    interaction_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    created_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    message_source: Option<String>,
}

impl TryFrom<MessageWire> for Message {
    type Error = MissingField;

    fn try_from(wire: MessageWire) -> Result<Self, MissingField> {
        let mut parts = wire.message_parts;
        parts.extend(wire.msg_parts.into_iter().map(MessagePart::from_legacy));
        Ok(Self {
            id: wire.id.ok_or(MissingField("message.id"))?,
            conversation_id: wire.conversation_id.ok_or(MissingField("message.conversation_id"))?,
            actor_type: wire.actor_type.ok_or(MissingField("message.actor_type"))?,
            actor_id: wire.actor_id,
            org_actor_id: wire.org_actor_id,
            message_type: wire.message_type.unwrap_or_default(),
            parts,
            reply_parts: wire.reply_parts,
            app_id: wire.app_id,
            channel_id: wire.channel_id,
            user_id: wire.user_id,
            interaction_id: wire.interaction_id,
            created_time: wire.created_time,
            message_source: wire.message_source,
        })
    }
}

/// A message to post with `POST /conversations/{id}/messages` (§1.6).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutgoingMessage {
    pub message_parts: Vec<MessagePart>,
    pub message_type: MessageType,
    /// `agent`, `bot` or `user`.
    pub actor_type: ActorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<String>,
    /// Sent when posting as the user, as Botpress/Pipedream do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl OutgoingMessage {
    /// A visible reply from an agent.
    pub fn agent_text(agent_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(ActorType::Agent, Some(agent_id.into()), MessageType::Normal, text)
    }

    /// An agent-only note, invisible to the customer.
    pub fn private_note(agent_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(ActorType::Agent, Some(agent_id.into()), MessageType::Private, text)
    }

    /// A visible message from the bot (no actor id needed).
    pub fn bot_text(text: impl Into<String>) -> Self {
        Self::new(ActorType::Bot, None, MessageType::Normal, text)
    }

    /// A message on behalf of the end user.
    pub fn user_text(user_id: impl Into<String>, text: impl Into<String>) -> Self {
        let user_id = user_id.into();
        let mut message = Self::new(ActorType::User, Some(user_id.clone()), MessageType::Normal, text);
        message.user_id = Some(user_id);
        message
    }

    fn new(
        actor_type: ActorType,
        actor_id: Option<String>,
        message_type: MessageType,
        text: impl Into<String>,
    ) -> Self {
        Self {
            message_parts: vec![MessagePart::text(text)],
            message_type,
            actor_type,
            actor_id,
            user_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(value: Value) -> Message {
        serde_json::from_value(value).expect("message decodes")
    }

    fn base(parts: Value) -> Value {
        json!({"id": "m1", "conversation_id": "c1", "actor_type": "user", "message_parts": parts})
    }

    #[test]
    fn every_documented_part_type_decodes() {
        let m = message(base(json!([
            {"text": {"content": "hello"}},
            {"image": {"url": "https://x/i.png"}},
            {"video": {"url": "https://x/v.mp4", "content_type": "video/mp4"}},
            {"file": {"url": "https://x/a.pdf", "name": "a.pdf", "file_size_in_bytes": 123, "contentType": "application/pdf"}},
            {"url_button": {"url": "https://x", "label": "Open", "target": "_blank"}},
            {"quick_reply_button": {"label": "Yes", "custom_reply_text": "Yes please"}},
            {"callback": {"label": "l", "payload": "p"}},
            {"collection": {"sub_parts": [{"text": {"content": "inner"}}, {"image": {"url": "https://x/j.png"}}]}},
            {"email": {"content": "mail body", "subject": "Hi"}},
            {"carousel": {"cards": []}},
            {"text": {"no_content": true}}
        ])));
        assert!(matches!(m.parts[0], MessagePart::Text { .. }));
        assert!(matches!(m.parts[1], MessagePart::Image { .. }));
        assert!(matches!(m.parts[2], MessagePart::Video { .. }));
        assert!(matches!(
            &m.parts[3],
            MessagePart::File { name: Some(n), file_size_in_bytes: Some(123), .. } if n == "a.pdf"
        ));
        assert!(matches!(m.parts[4], MessagePart::UrlButton { .. }));
        assert!(matches!(m.parts[5], MessagePart::QuickReply { .. }));
        assert!(matches!(m.parts[6], MessagePart::Callback { .. }));
        assert!(matches!(&m.parts[7], MessagePart::Collection { sub_parts } if sub_parts.len() == 2));
        assert!(matches!(m.parts[8], MessagePart::Email { .. }));
        assert_eq!(m.parts[9], MessagePart::Unknown(json!({"carousel": {"cards": []}})));
        assert_eq!(m.parts[10], MessagePart::Unknown(json!({"text": {"no_content": true}})));
        assert_eq!(m.text(), "hello\ninner");
        let urls: Vec<_> = m.attachments().iter().map(|a| a.url).collect();
        assert_eq!(
            urls,
            [
                "https://x/i.png",
                "https://x/v.mp4",
                "https://x/a.pdf",
                "https://x/j.png"
            ]
        );
        assert_eq!(
            m.plain_text(),
            "hello\ninner\n[image] https://x/i.png\n[video] https://x/v.mp4\n\
             [file] a.pdf https://x/a.pdf\n[image] https://x/j.png"
        );
    }

    #[test]
    fn legacy_msg_parts_map_to_the_same_parts() {
        let m = message(json!({
            "id": "m1", "conversation_id": "c1", "actor_type": "user",
            "msg_parts": [
                {"part_type": "text", "properties": {"text": "first"}},
                {"part_type": "image", "properties": {"url": "https://x/i.png"}},
                {"part_type": "sticker", "properties": {}}
            ]
        }));
        assert_eq!(m.parts[0], MessagePart::text("first"));
        assert_eq!(
            m.parts[1],
            MessagePart::Image {
                url: "https://x/i.png".into()
            }
        );
        assert!(matches!(m.parts[2], MessagePart::Unknown(_)));
        assert_eq!(m.text(), "first");
    }

    #[test]
    fn missing_message_type_defaults_to_normal_and_ids_are_required() {
        let m = message(base(json!(null)));
        assert_eq!(m.message_type, MessageType::Normal);
        assert!(m.parts.is_empty());
        assert_eq!(m.text(), "");
        let no_id = serde_json::from_value::<Message>(json!({"conversation_id": "c"}));
        assert!(no_id.expect_err("id required").to_string().contains("message.id"));
    }

    #[test]
    fn outgoing_messages_have_the_documented_shape() {
        let agent = serde_json::to_value(OutgoingMessage::agent_text("a1", "Hi")).expect("json");
        assert_eq!(
            agent,
            json!({"message_parts": [{"text": {"content": "Hi"}}], "message_type": "normal",
                   "actor_type": "agent", "actor_id": "a1"})
        );
        let note = serde_json::to_value(OutgoingMessage::private_note("a1", "psst")).expect("json");
        assert_eq!(note["message_type"], "private");
        let bot = serde_json::to_value(OutgoingMessage::bot_text("beep")).expect("json");
        assert_eq!(bot["actor_type"], "bot");
        assert!(bot.get("actor_id").is_none());
        let user = serde_json::to_value(OutgoingMessage::user_text("u1", "yo")).expect("json");
        assert_eq!((&user["actor_id"], &user["user_id"]), (&json!("u1"), &json!("u1")));
    }
}
