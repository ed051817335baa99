//! Freshdesk automation "Trigger Webhook" bodies (freshworks.md §4, SPEC §3).
//!
//! Switchboard documents exactly two Advanced-JSON templates:
//!
//! ```text
//! {"event":"agent_reply","ticket_id":"{{ticket.id}}","conversation_id":"{{ticket.cf_freshchat_conversation_id}}","comment":"{{ticket.latest_public_comment}}","agent_email":"{{ticket.agent.email}}","triggered_event":"{{triggered_event}}"}
//! {"event":"status_changed","ticket_id":"{{ticket.id}}","conversation_id":"{{ticket.cf_freshchat_conversation_id}}","status":"{{ticket.status}}","tags":"{{ticket.tags}}","triggered_event":"{{triggered_event}}"}
//! ```
//!
//! Placeholders render as text: every value is a string, possibly empty; the status is its
//! display name; the comment is HTML. The older Zulip-style `{"freshdesk_webhook":{…}}` body is
//! understood where it maps onto the same events.

use serde::Deserialize;
use serde_json::Value;

use super::types::TicketStatus;
use crate::lenient;

/// What a Freshdesk automation rule reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationEvent {
    /// "Reply is sent" (or a public note): relay the ticket's new public replies to the chat.
    /// The comment is only a hint; the conversation list is the source of truth.
    AgentReply {
        ticket_id: u64,
        conversation_id: Option<String>,
        comment_html: Option<String>,
        agent_email: Option<String>,
        triggered_event: Option<TriggeredEvent>,
    },
    /// "Status is changed".
    StatusChanged {
        ticket_id: u64,
        conversation_id: Option<String>,
        /// `None` when the name is an account-specific status and the triggered event did not
        /// carry its code; `status_name` still says what it was.
        status: Option<TicketStatus>,
        status_name: Option<String>,
        tags: Vec<String>,
        triggered_event: Option<TriggeredEvent>,
    },
}

impl AutomationEvent {
    pub fn ticket_id(&self) -> u64 {
        match self {
            Self::AgentReply { ticket_id, .. } | Self::StatusChanged { ticket_id, .. } => *ticket_id,
        }
    }

    pub fn conversation_id(&self) -> Option<&str> {
        match self {
            Self::AgentReply { conversation_id, .. } | Self::StatusChanged { conversation_id, .. } => {
                conversation_id.as_deref()
            }
        }
    }
}

/// `{{triggered_event}}`, which renders as a non-JSON token such as `{note_type:public}` or
/// `{status:{from:4,to:6}}` (only the first matching change is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggeredEvent {
    /// `{ticket_action:created}`.
    TicketAction(String),
    /// `{note_type:public}` / `{note_type:private}`.
    Note { private: bool },
    /// `{status:{from:4,to:6}}`: status codes, which name account-specific statuses exactly.
    StatusChange { from: Option<u16>, to: Option<u16> },
    /// `{priority:{from:3,to:1}}`.
    PriorityChange { from: Option<u16>, to: Option<u16> },
    /// Anything else, verbatim.
    Other(String),
}

impl TriggeredEvent {
    /// `None` for an empty value.
    pub fn parse(text: &str) -> Option<Self> {
        let raw = text.trim();
        if raw.is_empty() {
            return None;
        }
        let inner = raw.strip_prefix('{').unwrap_or(raw);
        let inner = inner.strip_suffix('}').unwrap_or(inner);
        let other = || Self::Other(raw.to_owned());
        let Some((key, value)) = inner.split_once(':') else {
            return Some(other());
        };
        let value = value.trim();
        Some(match key.trim() {
            "ticket_action" => Self::TicketAction(value.to_owned()),
            "note_type" if value == "public" => Self::Note { private: false },
            "note_type" if value == "private" => Self::Note { private: true },
            "status" => {
                let (from, to) = from_to(value);
                Self::StatusChange { from, to }
            }
            "priority" => {
                let (from, to) = from_to(value);
                Self::PriorityChange { from, to }
            }
            _ => other(),
        })
    }
}

/// `{from:4,to:6}` → `(Some(4), Some(6))`.
fn from_to(value: &str) -> (Option<u16>, Option<u16>) {
    let inner = value.trim_start_matches('{').trim_end_matches('}');
    let mut from = None;
    let mut to = None;
    for pair in inner.split(',') {
        if let Some((key, number)) = pair.split_once(':') {
            let number = number.trim().parse::<u16>().ok();
            match key.trim() {
                "from" => from = number,
                "to" => to = number,
                _ => {}
            }
        }
    }
    (from, to)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "webhook body is not valid JSON ({0}); a quote inside an HTML placeholder such as \
         {{{{ticket.latest_public_comment}}}} breaks the rule's JSON template"
    )]
    InvalidJson(String),
    #[error("webhook body is JSON but not an object of string values: {0}")]
    InvalidShape(String),
    #[error("unknown webhook event `{0}` (expected `agent_reply` or `status_changed`)")]
    UnknownEvent(String),
    #[error("webhook body lacks required field `{0}`")]
    MissingField(&'static str),
    #[error("webhook field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("unsupported Freshdesk webhook: {0}")]
    UnsupportedShape(String),
}

impl From<lenient::BodyError> for WebhookError {
    fn from(error: lenient::BodyError) -> Self {
        match error {
            lenient::BodyError::InvalidJson(e) => Self::InvalidJson(e),
            lenient::BodyError::InvalidShape(e) => Self::InvalidShape(e),
        }
    }
}

#[derive(Deserialize)]
struct TemplateWire {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    event: Option<String>,
    #[serde(default)]
    ticket_id: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    conversation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    comment: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    agent_email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    status: Option<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    triggered_event: Option<String>,
    #[serde(default)]
    freshdesk_webhook: Option<ZulipWire>,
}

/// The Zulip integration's template (payloads/freshdesk_webhook_*.json).
#[derive(Deserialize)]
struct ZulipWire {
    #[serde(default)]
    ticket_id: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    ticket_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    triggered_event: Option<String>,
}

/// Input echoed in errors is capped: bodies come from the internet.
const MAX_ECHOED_CHARS: usize = 64;

fn echo(text: &str) -> String {
    text.chars().take(MAX_ECHOED_CHARS).collect()
}

/// Parses the raw body of a Freshdesk automation webhook (after [`super::check_webhook_auth`]).
pub fn parse_webhook(body: &[u8]) -> Result<AutomationEvent, WebhookError> {
    let wire: TemplateWire = lenient::object_body(body)?;
    if let Some(zulip) = wire.freshdesk_webhook {
        return from_zulip(zulip);
    }
    let event = wire.event.ok_or(WebhookError::MissingField("event"))?;
    let triggered_event = wire.triggered_event.as_deref().and_then(TriggeredEvent::parse);
    match event.trim() {
        "agent_reply" => Ok(AutomationEvent::AgentReply {
            ticket_id: ticket_id(wire.ticket_id)?,
            conversation_id: non_blank(wire.conversation_id),
            comment_html: non_blank(wire.comment),
            agent_email: non_blank(wire.agent_email),
            triggered_event,
        }),
        "status_changed" => {
            let status_name = non_blank(wire.status);
            Ok(AutomationEvent::StatusChanged {
                ticket_id: ticket_id(wire.ticket_id)?,
                conversation_id: non_blank(wire.conversation_id),
                status: resolve_status(status_name.as_deref(), triggered_event.as_ref()),
                status_name,
                tags: tags(wire.tags),
                triggered_event,
            })
        }
        other => Err(WebhookError::UnknownEvent(echo(other))),
    }
}

fn from_zulip(wire: ZulipWire) -> Result<AutomationEvent, WebhookError> {
    let ticket_id = ticket_id(wire.ticket_id)?;
    let triggered_event = wire.triggered_event.as_deref().and_then(TriggeredEvent::parse);
    match triggered_event {
        Some(TriggeredEvent::StatusChange { .. }) => {
            let status_name = non_blank(wire.ticket_status);
            Ok(AutomationEvent::StatusChanged {
                ticket_id,
                conversation_id: None,
                status: resolve_status(status_name.as_deref(), triggered_event.as_ref()),
                status_name,
                tags: Vec::new(),
                triggered_event,
            })
        }
        Some(TriggeredEvent::Note { private: false }) => Ok(AutomationEvent::AgentReply {
            ticket_id,
            conversation_id: None,
            comment_html: None,
            agent_email: None,
            triggered_event,
        }),
        other => Err(WebhookError::UnsupportedShape(format!(
            "a `freshdesk_webhook` body for {} maps to no Switchboard event; use the documented \
             agent_reply/status_changed templates",
            other.map_or_else(|| "no triggered_event".to_owned(), |e| format!("{e:?}"))
        ))),
    }
}

/// Built-in names first (unambiguous), then the code from `{status:{from:…,to:…}}` (exact for
/// account-specific statuses), then Freshdesk's default custom names.
fn resolve_status(name: Option<&str>, triggered: Option<&TriggeredEvent>) -> Option<TicketStatus> {
    let standard = name.and_then(TicketStatus::from_standard_name);
    let from_trigger = match triggered {
        Some(TriggeredEvent::StatusChange { to: Some(code), .. }) => Some(TicketStatus::from_code(*code)),
        _ => None,
    };
    standard
        .or(from_trigger)
        .or_else(|| name.and_then(TicketStatus::from_name))
}

fn ticket_id(value: Option<Value>) -> Result<u64, WebhookError> {
    let invalid = |shown: &str| WebhookError::InvalidField {
        field: "ticket_id",
        reason: format!("expected a numeric ticket id, got `{}`", echo(shown)),
    };
    match value {
        None | Some(Value::Null) => Err(WebhookError::MissingField("ticket_id")),
        Some(Value::String(text)) if text.trim().is_empty() => Err(WebhookError::MissingField("ticket_id")),
        Some(Value::String(text)) => text.trim().parse::<u64>().map_err(|_| invalid(&text)),
        Some(Value::Number(number)) => number.as_u64().ok_or_else(|| invalid(&number.to_string())),
        Some(other) => Err(invalid(&other.to_string())),
    }
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `{{ticket.tags}}` renders as a comma-separated string ("order_placed, vip" or
/// "order_placed,vip"); a JSON array is accepted too in case a rule leaves the value unquoted.
fn tags(value: Option<Value>) -> Vec<String> {
    let items: Vec<String> = match value {
        Some(Value::String(text)) => text.split(',').map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| lenient::scalar_text(Some(item)))
            .collect(),
        _ => Vec::new(),
    };
    items
        .into_iter()
        .map(|tag| tag.trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<AutomationEvent, WebhookError> {
        parse_webhook(value.to_string().as_bytes())
    }

    #[test]
    fn agent_reply_template() {
        let event = parse(json!({
            "event": "agent_reply", "ticket_id": "6541", "conversation_id": "c-1",
            "comment": "<div>Your order ships today</div>", "agent_email": "sam@acme.test",
            "triggered_event": "{note_type:public}"
        }))
        .expect("parses");
        assert_eq!(
            event,
            AutomationEvent::AgentReply {
                ticket_id: 6541,
                conversation_id: Some("c-1".into()),
                comment_html: Some("<div>Your order ships today</div>".into()),
                agent_email: Some("sam@acme.test".into()),
                triggered_event: Some(TriggeredEvent::Note { private: false }),
            }
        );
        assert_eq!(event.ticket_id(), 6541);
        assert_eq!(event.conversation_id(), Some("c-1"));
    }

    #[test]
    fn empty_values_are_none() {
        let event = parse(json!({
            "event": "agent_reply", "ticket_id": " 12 ", "conversation_id": "", "comment": "",
            "agent_email": "", "triggered_event": ""
        }))
        .expect("parses");
        assert_eq!(
            event,
            AutomationEvent::AgentReply {
                ticket_id: 12,
                conversation_id: None,
                comment_html: None,
                agent_email: None,
                triggered_event: None,
            }
        );
    }

    #[test]
    fn status_changed_template_with_tags_and_names() {
        let event = parse(json!({
            "event": "status_changed", "ticket_id": "77", "conversation_id": "c-2",
            "status": "Resolved", "tags": "order_placed, vip,,  chat ",
            "triggered_event": "{status:{from:2,to:4}}"
        }))
        .expect("parses");
        assert_eq!(
            event,
            AutomationEvent::StatusChanged {
                ticket_id: 77,
                conversation_id: Some("c-2".into()),
                status: Some(TicketStatus::Resolved),
                status_name: Some("Resolved".into()),
                tags: vec!["order_placed".into(), "vip".into(), "chat".into()],
                triggered_event: Some(TriggeredEvent::StatusChange {
                    from: Some(2),
                    to: Some(4)
                }),
            }
        );
    }

    #[test]
    fn custom_status_takes_the_code_from_the_triggered_event() {
        let status = |name: &str, triggered: &str| match parse(json!({
            "event": "status_changed", "ticket_id": "1", "status": name, "tags": "",
            "triggered_event": triggered
        })) {
            Ok(AutomationEvent::StatusChanged { status, tags, .. }) => {
                assert!(tags.is_empty());
                status
            }
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(
            status("Escalated", "{status:{from:2,to:9}}"),
            Some(TicketStatus::Custom(9))
        );
        assert_eq!(status("Waiting on Customer", ""), Some(TicketStatus::Custom(6)));
        assert_eq!(status("Escalated", "{note_type:public}"), None);
        assert_eq!(status("", ""), None);
        assert_eq!(status("Closed", "{status:{from:2,to:9}}"), Some(TicketStatus::Closed));
    }

    #[test]
    fn tags_as_an_array_are_accepted() {
        let Ok(AutomationEvent::StatusChanged { tags, .. }) = parse(json!({
            "event": "status_changed", "ticket_id": 5, "status": "Open", "tags": ["a", " b "]
        })) else {
            panic!("expected a status change");
        };
        assert_eq!(tags, ["a", "b"]);
    }

    #[test]
    fn triggered_event_tokens() {
        assert_eq!(
            TriggeredEvent::parse("{ticket_action:created}"),
            Some(TriggeredEvent::TicketAction("created".into()))
        );
        assert_eq!(
            TriggeredEvent::parse("{note_type:private}"),
            Some(TriggeredEvent::Note { private: true })
        );
        assert_eq!(
            TriggeredEvent::parse("{priority:{from:3,to:1}}"),
            Some(TriggeredEvent::PriorityChange {
                from: Some(3),
                to: Some(1)
            })
        );
        assert_eq!(
            TriggeredEvent::parse("{status:{from:x}}"),
            Some(TriggeredEvent::StatusChange { from: None, to: None })
        );
        assert_eq!(
            TriggeredEvent::parse("{reply_sent:true}"),
            Some(TriggeredEvent::Other("{reply_sent:true}".into()))
        );
        assert_eq!(TriggeredEvent::parse("{{"), Some(TriggeredEvent::Other("{{".into())));
        assert_eq!(TriggeredEvent::parse("  "), None);
    }

    #[test]
    fn broken_bodies_give_clear_errors() {
        // An HTML comment with an unescaped quote, as Freshdesk renders it into the template.
        let broken = br#"{"event":"agent_reply","ticket_id":"1","comment":"<a href="x">hi</a>"}"#;
        let error = parse_webhook(broken).expect_err("invalid JSON");
        assert!(matches!(error, WebhookError::InvalidJson(_)));
        assert!(error.to_string().contains("{{ticket.latest_public_comment}}"));
        assert!(matches!(parse_webhook(b""), Err(WebhookError::InvalidJson(_))));
        assert!(matches!(parse_webhook(b"[]"), Err(WebhookError::InvalidShape(_))));
        assert_eq!(
            parse(json!({"ticket_id": "1"})),
            Err(WebhookError::MissingField("event"))
        );
        assert_eq!(
            parse(json!({"event": "priority_changed", "ticket_id": "1"})),
            Err(WebhookError::UnknownEvent("priority_changed".into()))
        );
        assert_eq!(
            parse(json!({"event": "agent_reply", "ticket_id": ""})),
            Err(WebhookError::MissingField("ticket_id"))
        );
        assert_eq!(
            parse(json!({"event": "agent_reply"})),
            Err(WebhookError::MissingField("ticket_id"))
        );
        for bad in [json!("{{ticket.id}}"), json!(-4), json!(1.5), json!([1])] {
            assert!(matches!(
                parse(json!({"event": "agent_reply", "ticket_id": bad})),
                Err(WebhookError::InvalidField { field: "ticket_id", .. })
            ));
        }
    }
}
