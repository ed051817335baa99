//! Automation rules with a "Trigger Webhook" action (freshworks.md §4): the Advanced JSON
//! template is rendered textually — every placeholder becomes text, status and priority
//! render as names, `{{triggered_event}}` as tokens like `{status:{from:2,to:4}}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::model::{priority_name, source_name};
use super::store::{DeskEvent, FreshdeskStore};
use crate::config::{AutomationTrigger, FreshdeskWebhookTarget, WebhookAuth};
use crate::faults::Provider;
use crate::timestamps;
use crate::webhooks::Outgoing;

/// One webhook per rule the event triggers.
pub(crate) fn outgoing(
    store: &FreshdeskStore,
    event: &DeskEvent,
    target: Option<&FreshdeskWebhookTarget>,
    escape: bool,
) -> Vec<Outgoing> {
    let (ticket_id, trigger, token) = match event {
        DeskEvent::AgentReply { ticket_id, token } => (*ticket_id, AutomationTrigger::AgentReply, token.clone()),
        DeskEvent::StatusChanged { ticket_id, from, to } => (
            *ticket_id,
            AutomationTrigger::StatusChanged,
            format!("{{status:{{from:{from},to:{to}}}}}"),
        ),
    };
    let url = target.map(|t| {
        let mut url = t.url.clone();
        if let WebhookAuth::Token(token) = &t.auth {
            url.query_pairs_mut().append_pair("token", token);
        }
        url
    });
    let mut headers = Vec::new();
    if let Some(FreshdeskWebhookTarget {
        auth: WebhookAuth::Basic { username, password },
        ..
    }) = target
    {
        let credentials = STANDARD.encode(format!("{username}:{password}"));
        headers.push(("Authorization", format!("Basic {credentials}")));
    }
    store
        .automations
        .iter()
        .filter(|rule| rule.trigger == trigger)
        .map(|rule| Outgoing {
            provider: Provider::Freshdesk,
            event: rule.name.clone(),
            url: url.clone(),
            headers: headers.clone(),
            body: rule_body(store, &rule.template, ticket_id, &token, escape),
            retry_count_header: false,
        })
        .collect()
}

/// A rule's template rendered for a ticket, as the webhook body.
pub(crate) fn rule_body(store: &FreshdeskStore, template: &str, ticket_id: u64, token: &str, escape: bool) -> Vec<u8> {
    render(template, |name| {
        let value = placeholder(store, ticket_id, token, name);
        if escape { json_escape(&value) } else { value }
    })
    .into_bytes()
}

/// Replaces every `{{ name }}` with `value(name)`; text outside placeholders is untouched.
pub(crate) fn render(template: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&value(rest[start + 2..start + 2 + len].trim()));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

/// The text Freshdesk puts in for a placeholder; unknown ones render empty.
fn placeholder(store: &FreshdeskStore, ticket_id: u64, token: &str, name: &str) -> String {
    let Some(ticket) = store.ticket(ticket_id) else {
        return String::new();
    };
    let requester = store.contact(ticket.requester_id);
    let agent = ticket.responder_id.and_then(|id| store.agent(id));
    let text = |s: Option<&String>| s.cloned().unwrap_or_default();
    match name {
        "triggered_event" => token.to_string(),
        "helpdesk_name" => store.helpdesk_name.clone(),
        "ticket.id" => ticket.id.to_string(),
        "ticket.subject" => text(ticket.subject.as_ref()),
        "ticket.description" => ticket.description.clone(),
        "ticket.description_text" => ticket.description_text.clone(),
        "ticket.status" => store.status_name(ticket.status).to_string(),
        "ticket.priority" => priority_name(ticket.priority).to_string(),
        "ticket.source" => source_name(ticket.source).to_string(),
        "ticket.ticket_type" | "ticket.type" => text(ticket.ticket_type.as_ref()),
        "ticket.tags" => ticket.tags.join(", "),
        "ticket.url" => format!("https://{}/helpdesk/tickets/{}", store.domain, ticket.id),
        "ticket.portal_url" => format!("https://{}/support/tickets/{}", store.domain, ticket.id),
        "ticket.due_by_time" => timestamps::seconds(ticket.due_by),
        "ticket.latest_public_comment" => store.latest_public_comment(ticket.id).unwrap_or_default().to_string(),
        "ticket.requester.name" | "ticket.contact.name" => requester.map(|c| c.name.clone()).unwrap_or_default(),
        "ticket.requester.email" | "ticket.contact.email" => text(requester.and_then(|c| c.email.as_ref())),
        "ticket.requester.phone" | "ticket.contact.phone" => text(requester.and_then(|c| c.phone.as_ref())),
        "ticket.contact.mobile" => text(requester.and_then(|c| c.mobile.as_ref())),
        "ticket.agent.name" => agent.map(|a| a.name.clone()).unwrap_or_default(),
        "ticket.agent.email" => agent.map(|a| a.email.clone()).unwrap_or_default(),
        "ticket.group.name" => ticket.group_id.map(|_| "Support".to_string()).unwrap_or_default(),
        other => other
            .strip_prefix("ticket.")
            .and_then(|field| ticket.custom_fields.get(field))
            .map(value_text)
            .unwrap_or_default(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JSON string escaping without the surrounding quotes.
fn json_escape(text: &str) -> String {
    let quoted = Value::String(text.to_string()).to_string();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(&quoted)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_textually() {
        let out = render(r#"{"a":"{{ x }}","b":"{{y}}","c":"{{unclosed"}"#, |n| format!("<{n}>"));
        assert_eq!(out, r#"{"a":"<x>","b":"<y>","c":"{{unclosed"}"#);
        assert_eq!(json_escape("say \"hi\"\n"), r#"say \"hi\"\n"#);
    }
}
