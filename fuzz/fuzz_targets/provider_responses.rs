//! Answers of the Freshdesk and Freshchat APIs (2xx bodies and error bodies). A provider, or
//! anything between it and us, decides these bytes; decoding must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::freshchat;
use providers::freshdesk::{self, CustomFieldValue};
use providers::http::ProviderErrorBody;

fuzz_target!(|body: &[u8]| {
    let error = ProviderErrorBody::parse(body);
    let _ = error.to_string();
    if let Some(raw) = &error.raw {
        assert!(raw.chars().count() <= 300, "error snippets are capped");
        assert!(!raw.is_empty());
    }

    if let Ok(ticket) = serde_json::from_slice::<freshdesk::Ticket>(body) {
        check_ticket(&ticket);
    }
    if let Ok(page) = serde_json::from_slice::<freshdesk::SearchPage>(body) {
        page.results.iter().for_each(check_ticket);
    }
    if let Ok(conversations) = serde_json::from_slice::<Vec<freshdesk::Conversation>>(body) {
        for c in &conversations {
            let _ = c.is_public_from_agent();
            if let Some(html) = &c.body {
                let _ = freshdesk::html_to_text(html);
            }
        }
    }
    if let Ok(fields) = serde_json::from_slice::<Vec<freshdesk::TicketField>>(body) {
        for field in &fields {
            let choices = field.status_choices();
            assert!(field.name == "status" || choices.is_empty());
        }
    }
    if let Ok(page) = serde_json::from_slice::<freshchat::MessagePage>(body) {
        for message in &page.messages {
            let _ = (message.plain_text(), message.attachments());
            assert!(!message.id.is_empty() && !message.conversation_id.is_empty());
        }
        if let Some(p) = page.pagination {
            let _ = p.has_page_after(u32::MAX);
        }
    }
    if let Ok(conversation) = serde_json::from_slice::<freshchat::Conversation>(body) {
        let _ = conversation.properties.len();
    }
    if let Ok(user) = serde_json::from_slice::<freshchat::User>(body) {
        assert!(!user.id.is_empty());
        let _ = user.property("cart_value");
    }
    let _ = serde_json::from_slice::<Vec<freshchat::Agent>>(body);
    let _ = serde_json::from_slice::<freshchat::AccountConfiguration>(body);
});

fn check_ticket(ticket: &freshdesk::Ticket) {
    let _ = (ticket.status.is_closed(), ticket.status.code(), ticket.priority.code());
    for value in ticket.custom_fields.values() {
        // Number fields are written as integers; reading one back gives the integer.
        if let CustomFieldValue::Integer(n) = value {
            assert_eq!(value.as_integer(), Some(*n));
        }
    }
    if let Some(html) = &ticket.description {
        let _ = freshdesk::html_to_text(html);
    }
}
