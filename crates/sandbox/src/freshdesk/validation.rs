//! Request validation with Freshdesk's error codes (freshworks.md §3.4, §3.7): every problem in
//! a body is reported at once, `missing_field` / `invalid_value` / `datatype_mismatch` /
//! `invalid_field`, custom fields named `custom_fields.<name>`.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::model::{PRIORITIES, SOURCES};
use super::reader::{Reader, mismatch, one_of};
use super::{DeskError, FieldError};
use crate::config::{CustomFieldSpec, FieldKind, StatusSpec};

/// The account's ticket settings validation needs.
pub(crate) struct Schema<'a> {
    pub statuses: &'a [StatusSpec],
    pub types: &'a [String],
    pub fields: &'a [CustomFieldSpec],
    pub required: &'a [String],
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Update,
}

/// Who the ticket is for: any of these identifies or creates the requester contact.
#[derive(Default)]
pub(crate) struct Requester {
    pub requester_id: Option<u64>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub unique_external_id: Option<String>,
    pub twitter_id: Option<String>,
    pub facebook_id: Option<String>,
}

impl Requester {
    pub(crate) fn is_given(&self) -> bool {
        self.requester_id.is_some()
            || self.email.is_some()
            || self.phone.is_some()
            || self.unique_external_id.is_some()
            || self.twitter_id.is_some()
            || self.facebook_id.is_some()
    }
}

/// A validated create or update body. `Some(None)` clears a nullable field.
#[derive(Default)]
pub(crate) struct TicketPatch {
    pub requester: Requester,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub status: Option<u16>,
    pub priority: Option<u16>,
    pub source: Option<u16>,
    pub ticket_type: Option<Option<String>>,
    pub responder_id: Option<Option<u64>>,
    pub group_id: Option<Option<u64>>,
    pub company_id: Option<Option<u64>>,
    pub tags: Option<Vec<String>>,
    pub cc_emails: Option<Vec<String>>,
    pub due_by: Option<DateTime<Utc>>,
    pub fr_due_by: Option<DateTime<Utc>>,
    pub custom_fields: Vec<(String, Value)>,
}

const TICKET_FIELDS: &[&str] = &[
    "name",
    "requester_id",
    "email",
    "facebook_id",
    "phone",
    "twitter_id",
    "unique_external_id",
    "subject",
    "type",
    "status",
    "priority",
    "description",
    "responder_id",
    "attachments",
    "cc_emails",
    "custom_fields",
    "due_by",
    "email_config_id",
    "fr_due_by",
    "group_id",
    "parent_id",
    "product_id",
    "source",
    "tags",
    "company_id",
    "internal_agent_id",
    "internal_group_id",
    "lookup_parameter",
];

pub(crate) fn ticket_patch(body: &Value, mode: Mode, schema: &Schema<'_>) -> Result<TicketPatch, DeskError> {
    let mut r = Reader::new(body)?;
    r.known(TICKET_FIELDS);
    let statuses: Vec<u16> = schema.statuses.iter().map(|s| s.code).collect();
    let nullable = |r: &mut Reader<'_>, key: &str| -> Option<Option<u64>> { r.has(key).then(|| r.integer(key)) };
    let mut patch = TicketPatch {
        requester: Requester {
            requester_id: r.integer("requester_id"),
            email: r.email("email"),
            phone: r.string("phone"),
            name: r.string("name"),
            unique_external_id: r.string("unique_external_id"),
            twitter_id: r.string("twitter_id"),
            facebook_id: r.string("facebook_id"),
        },
        subject: r.string("subject"),
        description: r.string("description"),
        status: r.code("status", &statuses),
        priority: r.code("priority", &PRIORITIES),
        source: r.code("source", &SOURCES),
        ticket_type: None,
        responder_id: nullable(&mut r, "responder_id"),
        group_id: nullable(&mut r, "group_id"),
        company_id: nullable(&mut r, "company_id"),
        tags: r.strings("tags"),
        cc_emails: r.strings("cc_emails"),
        due_by: r.date_time("due_by"),
        fr_due_by: r.date_time("fr_due_by"),
        custom_fields: Vec::new(),
    };
    if r.has("type") {
        let ticket_type = r.string("type");
        if let Some(t) = &ticket_type
            && !schema.types.contains(t)
        {
            let values = format!("'{}'", schema.types.join(","));
            r.errors
                .push(FieldError::new("type", "invalid_value", one_of([values])));
        }
        patch.ticket_type = Some(ticket_type);
    }
    if let Some(value) = r.value("custom_fields") {
        patch.custom_fields = custom_fields(&mut r, value, schema.fields);
    }
    if mode == Mode::Create {
        check_required(&mut r, &patch, schema);
    }
    r.finish()?;
    Ok(patch)
}

fn check_required(r: &mut Reader<'_>, patch: &TicketPatch, schema: &Schema<'_>) {
    // Judged on what was sent, so a malformed e-mail is not also reported as missing.
    const IDENTITIES: [&str; 6] = [
        "requester_id",
        "email",
        "phone",
        "unique_external_id",
        "twitter_id",
        "facebook_id",
    ];
    if !IDENTITIES.iter().any(|k| r.value(k).is_some()) {
        r.errors.push(FieldError::new(
            "requester_id",
            "missing_field",
            "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, unique_external_id fields",
        ));
    }
    let phone_only = r.value("phone").is_some() && r.value("email").is_none() && r.value("requester_id").is_none();
    if phone_only && r.value("name").is_none() {
        r.errors
            .push(FieldError::new("name", "missing_field", "It should be a/an String"));
    }
    for field in schema.required {
        if r.value(field).is_some() {
            continue;
        }
        let message = match field.as_str() {
            "status" => one_of(schema.statuses.iter().map(|s| s.code.to_string())),
            "priority" => one_of(PRIORITIES.iter().map(u16::to_string)),
            "source" => one_of(SOURCES.iter().map(u16::to_string)),
            "type" => one_of([format!("'{}'", schema.types.join(","))]),
            _ => "It should be a/an String".into(),
        };
        r.errors.push(FieldError::new(field, "missing_field", message));
    }
    for spec in schema.fields.iter().filter(|f| f.required) {
        if !patch
            .custom_fields
            .iter()
            .any(|(name, v)| *name == spec.name && !v.is_null())
        {
            r.errors.push(FieldError::new(
                &format!("custom_fields.{}", spec.name),
                "missing_field",
                format!("It should be a/an {}", expected_type(&spec.kind)),
            ));
        }
    }
}

fn expected_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Number => "Integer",
        FieldKind::Decimal => "Number",
        FieldKind::Checkbox => "Boolean",
        FieldKind::Text | FieldKind::Paragraph | FieldKind::Date | FieldKind::Dropdown { .. } => "String",
    }
}

fn custom_fields(r: &mut Reader<'_>, value: &Value, specs: &[CustomFieldSpec]) -> Vec<(String, Value)> {
    let Some(map) = value.as_object() else {
        r.errors.push(mismatch("custom_fields", value, "key/value pair"));
        return Vec::new();
    };
    let mut accepted = Vec::new();
    for (name, v) in map {
        let field = format!("custom_fields.{name}");
        let Some(spec) = specs.iter().find(|s| s.name == *name) else {
            r.errors.push(FieldError::new(
                &field,
                "invalid_field",
                "Unexpected/invalid field in request",
            ));
            continue;
        };
        match check_custom(&field, v, &spec.kind) {
            Ok(()) => accepted.push((name.clone(), v.clone())),
            Err(e) => r.errors.push(e),
        }
    }
    accepted
}

/// Type rules per custom field kind; `null` clears any field.
fn check_custom(field: &str, v: &Value, kind: &FieldKind) -> Result<(), FieldError> {
    if v.is_null() {
        return Ok(());
    }
    let fits = match kind {
        // Integers only: 12.5, 12.0 and "12" are all rejected.
        FieldKind::Number => v.is_i64() || v.is_u64(),
        FieldKind::Decimal => v.is_number(),
        FieldKind::Checkbox => v.is_boolean(),
        FieldKind::Text | FieldKind::Paragraph | FieldKind::Date | FieldKind::Dropdown { .. } => v.is_string(),
    };
    if !fits {
        return Err(mismatch(field, v, expected_type(kind)));
    }
    let text = v.as_str().unwrap_or_default();
    match kind {
        FieldKind::Date if NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() => Err(FieldError::new(
            field,
            "invalid_value",
            "It should be in the 'YYYY-MM-DD' format",
        )),
        FieldKind::Dropdown { choices } if !choices.iter().any(|c| c == text) => Err(FieldError::new(
            field,
            "invalid_value",
            one_of([format!("'{}'", choices.join(","))]),
        )),
        _ => Ok(()),
    }
}

/// `POST /tickets/{id}/notes` body.
pub(crate) struct NoteInput {
    pub body: String,
    pub private: bool,
    pub incoming: bool,
    pub user_id: Option<u64>,
    pub notify_emails: Vec<String>,
}

pub(crate) fn note_input(body: &Value) -> Result<NoteInput, DeskError> {
    let mut r = Reader::new(body)?;
    r.known(&["body", "private", "incoming", "user_id", "notify_emails", "attachments"]);
    let text = required_body(&mut r);
    let note = NoteInput {
        body: text,
        private: r.boolean("private").unwrap_or(true),
        incoming: r.boolean("incoming").unwrap_or(false),
        user_id: r.integer("user_id"),
        notify_emails: r.strings("notify_emails").unwrap_or_default(),
    };
    r.finish()?;
    Ok(note)
}

/// `POST /tickets/{id}/reply` body.
pub(crate) struct ReplyInput {
    pub body: String,
    pub user_id: Option<u64>,
    pub from_email: Option<String>,
    pub cc_emails: Vec<String>,
    pub bcc_emails: Vec<String>,
}

pub(crate) fn reply_input(body: &Value) -> Result<ReplyInput, DeskError> {
    let mut r = Reader::new(body)?;
    r.known(&[
        "body",
        "user_id",
        "from_email",
        "cc_emails",
        "bcc_emails",
        "attachments",
    ]);
    let text = required_body(&mut r);
    let reply = ReplyInput {
        body: text,
        user_id: r.integer("user_id"),
        from_email: r.email("from_email"),
        cc_emails: r.strings("cc_emails").unwrap_or_default(),
        bcc_emails: r.strings("bcc_emails").unwrap_or_default(),
    };
    r.finish()?;
    Ok(reply)
}

fn required_body(r: &mut Reader<'_>) -> String {
    match r.string("body") {
        Some(text) if !text.trim().is_empty() => text,
        Some(_) => {
            r.errors
                .push(FieldError::new("body", "missing_field", "It should not be blank"));
            String::new()
        }
        None => {
            if r.value("body").is_none() {
                r.errors
                    .push(FieldError::new("body", "missing_field", "It should be a/an String"));
            }
            String::new()
        }
    }
}
