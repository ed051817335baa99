//! A Freshdesk automation webhook body, and the `{{triggered_event}}` token inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::freshdesk::{AutomationEvent, SearchQuery, TriggeredEvent, html_to_text, parse_webhook};
use switchboard_fuzz::text;

fuzz_target!(|body: &[u8]| {
    // The token parser on its own: any text, never a panic; blank is the only `None`.
    let raw = text(body);
    let token = TriggeredEvent::parse(&raw);
    assert_eq!(token.is_none(), raw.trim().is_empty());

    let Ok(event) = parse_webhook(body) else {
        return;
    };
    assert_eq!(parse_webhook(body).as_ref(), Ok(&event));
    // The receiver orders events by `conv:{id}` when there is one: it is never blank.
    if let Some(conversation) = event.conversation_id() {
        assert!(!conversation.trim().is_empty());
        // The ticket sync looks the ticket up by this id; a value that cannot be quoted is
        // refused, one that can never changes the query's structure.
        if let Ok(query) = SearchQuery::text("cf_freshchat_conversation_id", conversation) {
            assert_eq!(query.as_str(), format!("cf_freshchat_conversation_id:'{conversation}'"));
            assert!(!conversation.contains(['\'', '"', '\\']));
        }
    }
    match &event {
        AutomationEvent::AgentReply {
            comment_html,
            agent_email,
            ..
        } => {
            for value in [comment_html, agent_email].into_iter().flatten() {
                assert!(!value.trim().is_empty());
            }
            if let Some(html) = comment_html {
                let _ = html_to_text(html);
            }
        }
        AutomationEvent::StatusChanged { status_name, tags, .. } => {
            if let Some(name) = status_name {
                assert!(!name.trim().is_empty());
            }
            for tag in tags {
                assert!(!tag.is_empty() && tag.trim() == tag, "tag {tag:?}");
            }
        }
    }
});
