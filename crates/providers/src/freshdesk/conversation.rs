//! Ticket conversations: replies and notes (freshworks.md §3.5).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::ConversationSource;
use crate::lenient;

/// A reply or note on a ticket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Conversation {
    pub id: u64,
    /// HTML.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub body_text: Option<String>,
    /// Created from outside (the customer, or a note marked incoming).
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub incoming: bool,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub private: bool,
    /// Absent in create answers; 0 reply, 2 note in lists.
    #[serde(default)]
    pub source: Option<ConversationSource>,
    #[serde(default)]
    pub user_id: Option<u64>,
    #[serde(default)]
    pub ticket_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub from_email: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub to_emails: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub support_email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Conversation {
    /// A public reply or note written on the helpdesk side: what the customer should see.
    pub fn is_public_from_agent(&self) -> bool {
        !self.incoming && !self.private
    }
}

/// `POST /tickets/{id}/notes` body. `private` and `incoming` are always sent because
/// Freshdesk's default for `private` is `true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewNote {
    /// HTML.
    pub body: String,
    pub private: bool,
    pub incoming: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify_emails: Vec<String>,
}

impl NewNote {
    /// A public note that appears as coming from the customer (a mirrored chat message).
    pub fn public_incoming(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            private: false,
            incoming: true,
            user_id: None,
            notify_emails: Vec::new(),
        }
    }

    /// An agent-only note.
    pub fn private(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            private: true,
            incoming: false,
            user_id: None,
            notify_emails: Vec::new(),
        }
    }
}

/// `POST /tickets/{id}/reply` body (e-mails the requester).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewReply {
    /// HTML.
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc_emails: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bcc_emails: Vec<String>,
}

impl NewReply {
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            from_email: None,
            user_id: None,
            cc_emails: Vec::new(),
            bcc_emails: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documented_conversation_decodes() {
        let note: Conversation = serde_json::from_value(json!({
            "body": "<div>This is a private note</div>", "body_text": "This is a private note",
            "id": 1, "incoming": false, "private": true, "user_id": 1, "support_email": null,
            "source": 2, "ticket_id": 1, "to_emails": [], "from_email": null, "cc_emails": null,
            "bcc_emails": null, "created_at": "2016-05-19T05:36:12Z",
            "updated_at": "2016-05-19T05:36:12Z", "attachments": []
        }))
        .expect("decodes");
        assert_eq!(note.source, Some(ConversationSource::Note));
        assert!(!note.is_public_from_agent());
        let reply: Conversation = serde_json::from_value(json!({
            "id": 2, "body": "<p>Hi</p>", "incoming": false, "private": false, "source": 0,
            "to_emails": null
        }))
        .expect("decodes");
        assert!(reply.is_public_from_agent());
        assert!(reply.to_emails.is_empty());
    }

    #[test]
    fn note_bodies_always_carry_private_and_incoming() {
        assert_eq!(
            serde_json::to_value(NewNote::public_incoming("<p>hi</p>")).expect("json"),
            json!({"body": "<p>hi</p>", "private": false, "incoming": true})
        );
        assert_eq!(
            serde_json::to_value(NewNote::private("x")).expect("json"),
            json!({"body": "x", "private": true, "incoming": false})
        );
        assert_eq!(
            serde_json::to_value(NewReply::new("<p>ok</p>")).expect("json"),
            json!({"body": "<p>ok</p>"})
        );
    }
}
