//! Tickets: create, update, read, search results, field definitions (freshworks.md §3.3–3.4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::types::{CustomFields, TicketPriority, TicketSource, TicketStatus, custom_fields};
use crate::lenient;

/// Who the ticket is for. Freshdesk needs at least one identity, and a name when the only one
/// is a phone number; the variants make a request that breaks that rule unrepresentable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// An existing contact.
    Id(u64),
    /// Matched (or created) by e-mail.
    Email {
        email: String,
        name: Option<String>,
        phone: Option<String>,
    },
    /// Matched by exact phone string; Freshdesk requires a name here.
    Phone { phone: String, name: String },
    /// Matched by the tenant's own customer id.
    ExternalId {
        unique_external_id: String,
        name: Option<String>,
    },
}

/// `POST /tickets` body. Subject, description, status and priority are always sent.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub requester: Requester,
    pub subject: String,
    /// HTML.
    pub description: String,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    pub source: TicketSource,
    pub tags: Vec<String>,
    pub custom_fields: CustomFields,
    /// Must be one of the account's ticket types.
    pub ticket_type: Option<String>,
    pub group_id: Option<u64>,
    pub responder_id: Option<u64>,
}

impl NewTicket {
    /// An open, low-priority chat ticket; adjust the public fields as needed.
    pub fn new(requester: Requester, subject: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            requester,
            subject: subject.into(),
            description: description.into(),
            status: TicketStatus::Open,
            priority: TicketPriority::Low,
            source: TicketSource::Chat,
            tags: Vec::new(),
            custom_fields: CustomFields::new(),
            ticket_type: None,
            group_id: None,
            responder_id: None,
        }
    }
}

#[derive(Serialize)]
struct NewTicketWire<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    requester_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unique_external_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    subject: &'a str,
    description: &'a str,
    status: TicketStatus,
    priority: TicketPriority,
    source: TicketSource,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
    #[serde(skip_serializing_if = "CustomFields::is_empty")]
    custom_fields: &'a CustomFields,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    ticket_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    responder_id: Option<u64>,
}

impl Serialize for NewTicket {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = NewTicketWire {
            requester_id: None,
            email: None,
            phone: None,
            unique_external_id: None,
            name: None,
            subject: &self.subject,
            description: &self.description,
            status: self.status,
            priority: self.priority,
            source: self.source,
            tags: &self.tags,
            custom_fields: &self.custom_fields,
            ticket_type: self.ticket_type.as_deref(),
            group_id: self.group_id,
            responder_id: self.responder_id,
        };
        match &self.requester {
            Requester::Id(id) => wire.requester_id = Some(*id),
            Requester::Email { email, name, phone } => {
                wire.email = Some(email);
                wire.name = name.as_deref();
                wire.phone = phone.as_deref();
            }
            Requester::Phone { phone, name } => {
                wire.phone = Some(phone);
                wire.name = Some(name);
            }
            Requester::ExternalId {
                unique_external_id,
                name,
            } => {
                wire.unique_external_id = Some(unique_external_id);
                wire.name = name.as_deref();
            }
        }
        wire.serialize(serializer)
    }
}

/// `PUT /tickets/{id}` body: only the fields that are set are sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TicketUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<TicketPriority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces the ticket's tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Merged into the ticket's custom fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<CustomFields>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub responder_id: Option<u64>,
}

/// A ticket as Freshdesk returns it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ticket {
    pub id: u64,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub subject: Option<String>,
    /// HTML.
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub description_text: Option<String>,
    pub status: TicketStatus,
    pub priority: TicketPriority,
    #[serde(default)]
    pub source: Option<TicketSource>,
    #[serde(default)]
    pub requester_id: Option<u64>,
    #[serde(default)]
    pub responder_id: Option<u64>,
    #[serde(default)]
    pub group_id: Option<u64>,
    #[serde(default)]
    pub company_id: Option<u64>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_text")]
    pub ticket_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "custom_fields")]
    pub custom_fields: CustomFields,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub spam: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub due_by: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub fr_due_by: Option<DateTime<Utc>>,
}

/// `GET /search/tickets` answer: 30 per page, at most 10 pages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchPage {
    #[serde(default)]
    pub total: u64,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub results: Vec<Ticket>,
}

/// One element of `GET /ticket_fields`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TicketField {
    pub id: u64,
    /// What `custom_fields` and search use (`cf_…`), or a default field's name (`status`).
    pub name: String,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub label: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_text")]
    pub field_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub default: Option<bool>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub required_for_agents: Option<bool>,
    /// Shape depends on the field type (list for dropdowns, object for status/priority), so
    /// it is kept as JSON; [`TicketField::status_choices`] reads the one Switchboard needs.
    #[serde(default)]
    pub choices: Option<Value>,
}

impl TicketField {
    /// For the `status` field: every status code with its agent-facing name, so a status name
    /// from a webhook can be mapped to this account's code. Empty for other fields.
    pub fn status_choices(&self) -> Vec<(TicketStatus, String)> {
        let Some(Value::Object(choices)) = &self.choices else {
            return Vec::new();
        };
        if self.name != "status" {
            return Vec::new();
        }
        choices
            .iter()
            .filter_map(|(code, labels)| {
                let code = code.trim().parse::<u16>().ok()?;
                let label = match labels {
                    Value::Array(labels) => labels.first()?.as_str()?,
                    Value::String(label) => label,
                    _ => return None,
                };
                Some((TicketStatus::from_code(code), label.to_owned()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshdesk::CustomFieldValue;
    use serde_json::json;

    #[test]
    fn new_ticket_has_the_documented_shape_with_integer_custom_fields() {
        let mut ticket = NewTicket::new(
            Requester::Email {
                email: "tom@outerspace.com".into(),
                name: None,
                phone: None,
            },
            "Support needed",
            "<div>Details</div>",
        );
        ticket.tags = vec!["chat".into()];
        ticket
            .custom_fields
            .insert("cf_cart_value".into(), CustomFieldValue::Integer(25_000));
        ticket
            .custom_fields
            .insert("cf_chat_conversation_id".into(), "35e80ec8".into());
        let value = serde_json::to_value(&ticket).expect("json");
        assert_eq!(
            value,
            json!({"email": "tom@outerspace.com", "subject": "Support needed",
                   "description": "<div>Details</div>", "status": 2, "priority": 1, "source": 7,
                   "tags": ["chat"],
                   "custom_fields": {"cf_cart_value": 25000, "cf_chat_conversation_id": "35e80ec8"}})
        );
        assert!(value["custom_fields"]["cf_cart_value"].is_i64());
    }

    #[test]
    fn requester_variants_set_the_right_keys() {
        let body = |requester| serde_json::to_value(NewTicket::new(requester, "s", "d")).expect("json");
        let phone = body(Requester::Phone {
            phone: "+919876543210".into(),
            name: "Asha".into(),
        });
        assert_eq!(
            (&phone["phone"], &phone["name"]),
            (&json!("+919876543210"), &json!("Asha"))
        );
        assert!(phone.get("email").is_none());
        let external = body(Requester::ExternalId {
            unique_external_id: "cust-1".into(),
            name: None,
        });
        assert_eq!(external["unique_external_id"], "cust-1");
        assert!(external.get("name").is_none());
        assert_eq!(body(Requester::Id(129))["requester_id"], 129);
    }

    #[test]
    fn ticket_update_sends_only_what_is_set() {
        let update = TicketUpdate {
            status: Some(TicketStatus::Open),
            ..TicketUpdate::default()
        };
        assert_eq!(serde_json::to_value(update).expect("json"), json!({"status": 2}));
    }

    #[test]
    fn documented_ticket_response_decodes() {
        let ticket: Ticket = serde_json::from_value(json!({
            "cc_emails": ["ram@freshdesk.com"], "fwd_emails": [], "email_config_id": null,
            "group_id": null, "priority": 1, "requester_id": 129, "responder_id": null,
            "source": 2, "status": 2, "subject": "Support needed..", "company_id": 1, "id": 1,
            "type": "Question", "to_emails": null, "product_id": null, "fr_escalated": false,
            "spam": false, "urgent": false, "is_escalated": false,
            "created_at": "2015-07-09T13:08:06Z", "updated_at": "2015-07-23T04:41:12Z",
            "due_by": "2015-07-14T13:08:06Z", "fr_due_by": "2015-07-10T13:08:06Z",
            "description_text": "Some details on the issue ...",
            "description": "<div>Some details on the issue ..</div>", "tags": [], "attachments": [],
            "custom_fields": {"cf_freshchat_conversation_id": "c1", "cf_cart_value": null}
        }))
        .expect("ticket decodes");
        assert_eq!(ticket.id, 1);
        assert_eq!(ticket.status, TicketStatus::Open);
        assert_eq!(ticket.source, Some(TicketSource::Portal));
        assert_eq!(ticket.requester_id, Some(129));
        assert_eq!(ticket.responder_id, None);
        assert_eq!(ticket.ticket_type.as_deref(), Some("Question"));
        assert_eq!(ticket.custom_fields.len(), 1);
        assert!(ticket.created_at.is_some());
    }

    #[test]
    fn status_choices_map_codes_to_names() {
        let field: TicketField = serde_json::from_value(json!({
            "id": 3, "name": "status", "label": "Status", "type": "default_status",
            "choices": {"2": ["Open", "Being Processed"], "6": ["Waiting on Customer", "Awaiting your Reply"], "x": ["bad"]}
        }))
        .expect("field decodes");
        assert_eq!(
            field.status_choices(),
            vec![
                (TicketStatus::Open, "Open".to_owned()),
                (TicketStatus::Custom(6), "Waiting on Customer".to_owned())
            ]
        );
        let dropdown: TicketField = serde_json::from_value(json!({
            "id": 9, "name": "cf_stage", "type": "custom_dropdown", "choices": ["A", "B"]
        }))
        .expect("field decodes");
        assert!(dropdown.status_choices().is_empty());
    }
}
