//! `GET /ticket_fields`: the default fields plus the configured custom ones.

use serde_json::{Map, Value, json};

use super::model::{PRIORITIES, SOURCES, priority_name, source_name};
use super::store::FreshdeskStore;
use crate::config::FieldKind;

fn api_type(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Number => "custom_number",
        FieldKind::Decimal => "custom_decimal",
        FieldKind::Text => "custom_text",
        FieldKind::Paragraph => "custom_paragraph",
        FieldKind::Checkbox => "custom_checkbox",
        FieldKind::Date => "custom_date",
        FieldKind::Dropdown { .. } => "custom_dropdown",
    }
}

/// All ticket fields, optionally only those of one `type` (e.g. `custom_number`).
pub(super) fn ticket_fields(store: &FreshdeskStore, only_type: Option<&str>) -> Vec<Value> {
    let statuses: Map<String, Value> = store
        .statuses
        .iter()
        .map(|s| (s.code.to_string(), json!([s.name, s.name])))
        .collect();
    let priorities: Map<String, Value> = PRIORITIES
        .iter()
        .map(|p| (priority_name(*p).to_string(), json!(p)))
        .collect();
    let sources: Map<String, Value> = SOURCES
        .iter()
        .map(|s| (source_name(*s).to_string(), json!(s)))
        .collect();
    let default = |id: u64, name: &str, label: &str, kind: &str, choices: Option<Value>| {
        let mut field = json!({
            "id": id, "name": name, "label": label, "description": label, "position": id,
            "required_for_closure": false, "required_for_agents": false, "type": kind,
            "default": true, "customers_can_edit": true, "label_for_customers": label,
            "required_for_customers": false, "displayed_to_customers": true,
        });
        if let (Some(choices), Some(obj)) = (choices, field.as_object_mut()) {
            obj.insert("choices".into(), choices);
        }
        field
    };
    let mut fields = vec![
        default(1, "requester", "Search a requester", "default_requester", None),
        default(2, "subject", "Subject", "default_subject", None),
        default(
            3,
            "ticket_type",
            "Type",
            "default_ticket_type",
            Some(json!(store.types)),
        ),
        default(4, "source", "Source", "default_source", Some(Value::Object(sources))),
        default(5, "status", "Status", "default_status", Some(Value::Object(statuses))),
        default(
            6,
            "priority",
            "Priority",
            "default_priority",
            Some(Value::Object(priorities)),
        ),
        default(7, "group", "Group", "default_group", Some(json!({ "Support": 1 }))),
        default(8, "agent", "Agent", "default_agent", None),
        default(9, "description", "Description", "default_description", None),
    ];
    for (i, spec) in store.fields.iter().enumerate() {
        let id = 100 + i as u64;
        let mut field = json!({
            "id": id, "name": spec.name, "label": spec.label, "description": spec.label,
            "position": 10 + i, "required_for_closure": false,
            "required_for_agents": spec.required, "type": api_type(&spec.kind),
            "default": false, "customers_can_edit": false, "label_for_customers": spec.label,
            "required_for_customers": false, "displayed_to_customers": false,
        });
        if let (FieldKind::Dropdown { choices }, Some(obj)) = (&spec.kind, field.as_object_mut()) {
            obj.insert("choices".into(), json!(choices));
        }
        fields.push(field);
    }
    fields
        .into_iter()
        .filter(|f| only_type.is_none_or(|t| f["type"] == t))
        .collect()
}
