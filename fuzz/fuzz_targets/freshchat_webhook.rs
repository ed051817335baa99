//! A Freshchat webhook body, as the receiver and the processor read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::freshchat::{EventKind, parse_webhook};

fuzz_target!(|body: &[u8]| {
    let Ok(event) = parse_webhook(body) else {
        return;
    };
    // Parsing is a pure function of the bytes (redeliveries must dedupe identically).
    assert_eq!(parse_webhook(body).as_ref(), Ok(&event));
    // The receiver files every accepted event under `conv:{id}` and its dedupe key.
    assert!(
        !event.conversation_id().is_empty(),
        "accepted without a conversation id"
    );
    let key = event.dedupe_key();
    assert!(!key.is_empty());
    match &event.kind {
        EventKind::MessageCreate(message) => {
            assert_eq!(key, message.id, "messages dedupe on their id");
            assert_eq!(event.action(), "message_create");
            let text = message.text();
            let plain = message.plain_text();
            let attachments = message.attachments();
            if !text.is_empty() {
                assert!(plain.starts_with(&text), "plain text starts with the message text");
            }
            for attachment in &attachments {
                assert!(plain.contains(attachment.url), "every attachment is listed");
                assert!(!attachment.kind.label().is_empty());
            }
            if text.is_empty() && attachments.is_empty() {
                assert!(plain.is_empty());
            }
        }
        EventKind::Assignment(_) | EventKind::Resolution(_) | EventKind::Reopen(_) => {
            assert!(key.starts_with(event.action()));
            assert!(key.contains(event.conversation_id()));
        }
    }
});
