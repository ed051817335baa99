//! Freshdesk v2 objects in the shapes of freshworks.md §3.4–3.5.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::timestamps::serialize_seconds;

#[derive(Clone, Debug, Serialize)]
pub struct Ticket {
    pub cc_emails: Vec<String>,
    pub fwd_emails: Vec<String>,
    pub reply_cc_emails: Vec<String>,
    pub ticket_cc_emails: Vec<String>,
    pub fr_escalated: bool,
    pub spam: bool,
    pub email_config_id: Option<u64>,
    pub group_id: Option<u64>,
    pub priority: u16,
    pub requester_id: u64,
    pub responder_id: Option<u64>,
    pub source: u16,
    pub company_id: Option<u64>,
    pub status: u16,
    pub subject: Option<String>,
    pub association_type: Option<u16>,
    pub support_email: Option<String>,
    pub to_emails: Option<Vec<String>>,
    pub product_id: Option<u64>,
    pub id: u64,
    #[serde(rename = "type")]
    pub ticket_type: Option<String>,
    #[serde(serialize_with = "serialize_seconds")]
    pub due_by: DateTime<Utc>,
    #[serde(serialize_with = "serialize_seconds")]
    pub fr_due_by: DateTime<Utc>,
    pub is_escalated: bool,
    pub description: String,
    pub description_text: String,
    /// Every declared custom field, `null` when unset.
    pub custom_fields: BTreeMap<String, Value>,
    #[serde(serialize_with = "serialize_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_seconds")]
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<String>,
    pub attachments: Vec<Value>,
}

/// Conversation `source` codes.
pub const SOURCE_REPLY: u16 = 0;
pub const SOURCE_NOTE: u16 = 2;

/// A reply or note on a ticket (`GET /tickets/{id}/conversations` element).
#[derive(Clone, Debug, Serialize)]
pub struct TicketConversation {
    pub body: String,
    pub body_text: String,
    pub id: u64,
    pub incoming: bool,
    pub private: bool,
    pub user_id: u64,
    pub support_email: Option<String>,
    pub source: u16,
    pub ticket_id: u64,
    pub to_emails: Vec<String>,
    pub from_email: Option<String>,
    pub cc_emails: Vec<String>,
    pub bcc_emails: Vec<String>,
    #[serde(serialize_with = "serialize_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_seconds")]
    pub updated_at: DateTime<Utc>,
    pub attachments: Vec<Value>,
}

impl TicketConversation {
    /// A public message written by an agent: what Switchboard relays to the chat.
    pub fn is_public_agent_message(&self) -> bool {
        !self.private && !self.incoming
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub unique_external_id: Option<String>,
    pub twitter_id: Option<String>,
    pub facebook_id: Option<String>,
    #[serde(serialize_with = "serialize_seconds")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_seconds")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeskAgent {
    pub id: u64,
    pub name: String,
    pub email: String,
}

/// Display names of the fixed priority codes.
pub fn priority_name(priority: u16) -> &'static str {
    match priority {
        1 => "Low",
        2 => "Medium",
        3 => "High",
        4 => "Urgent",
        _ => "",
    }
}

/// Display names of ticket source codes.
pub fn source_name(source: u16) -> &'static str {
    match source {
        1 => "Email",
        2 => "Portal",
        3 => "Phone",
        7 => "Chat",
        8 => "Mobihelp",
        9 => "Feedback Widget",
        10 => "Outbound Email",
        _ => "",
    }
}

pub const PRIORITIES: [u16; 4] = [1, 2, 3, 4];
pub const SOURCES: [u16; 7] = [1, 2, 3, 7, 8, 9, 10];
