//! Every recorded Freshchat and Freshdesk payload in `shared/providers/payloads/` parses, and
//! the signed test vector verifies byte for byte.

use std::fs;
use std::path::{Path, PathBuf};

use providers::freshchat::{
    self, ActorType, ConversationStatus, EventKind, FreshchatPublicKey, Message, MessagePart, MessageType,
};
use providers::freshdesk::{self, AutomationEvent, TicketStatus, TriggeredEvent};

const PAYLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/providers/payloads");

fn payload(name: &str) -> Vec<u8> {
    fs::read(Path::new(PAYLOADS).join(name)).expect("payload file is readable")
}

fn json_files(prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(PAYLOADS)
        .expect("payload folder exists")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(prefix) && name.ends_with(".json")
        })
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).expect("utf-8 name")
}

#[test]
fn every_freshchat_payload_parses() {
    let files = json_files("freshchat_");
    assert!(
        files.len() >= 8,
        "expected the recorded Freshchat payloads, found {files:?}"
    );
    for path in files {
        let body = fs::read(&path).expect("readable");
        let name = file_name(&path);
        if name.starts_with("freshchat_api_message_object") {
            serde_json::from_slice::<Message>(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.starts_with("freshchat_api_conversation_object") {
            let conversation: freshchat::Conversation =
                serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!conversation.conversation_id.is_empty(), "{name}");
        } else {
            let event = freshchat::parse_webhook(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!event.conversation_id().is_empty(), "{name}");
            assert!(!event.dedupe_key().is_empty(), "{name}");
        }
    }
}

#[test]
fn message_create_signed_vector() {
    let event = freshchat::parse_webhook(&payload("freshchat_message_create_1.json")).expect("parses");
    assert_eq!(event.actor.actor_type, ActorType::User);
    assert_eq!(event.action_time.to_rfc3339(), "2019-06-21T17:43:20.875+00:00");
    let EventKind::MessageCreate(message) = &event.kind else {
        panic!("expected a message");
    };
    assert_eq!(message.text(), "Test 2");
    assert_eq!(message.id, "7a454fde-c720-4c97-a61d-0ffe70449eb6");
    assert_eq!(event.dedupe_key(), "7a454fde-c720-4c97-a61d-0ffe70449eb6");
    assert_eq!(event.conversation_id(), "c327498e-f713-481e-8d83-0603e03d2521");
    assert_eq!(message.user_id, None);
}

#[test]
fn message_create_agent_sample_keeps_opaque_ids() {
    let event = freshchat::parse_webhook(&payload("freshchat_message_create_2.json")).expect("parses");
    let EventKind::MessageCreate(message) = &event.kind else {
        panic!("expected a message");
    };
    assert_eq!(message.actor_type, ActorType::Agent);
    assert_eq!(message.org_actor_id.as_deref(), Some("345162432277281455"));
    assert_eq!(message.conversation_id, "ac2175df14d36caf64e9a578fad89070");
    assert_eq!(
        message.user_id.as_deref(),
        Some("Denise_aliasc26ddeed24ad9e8b19a68eb119d6e37c")
    );
    assert_eq!(message.message_source.as_deref(), Some("web"));
    assert_eq!(message.text(), "hello");
}

#[test]
fn legacy_2018_message_maps_msg_parts() {
    let event = freshchat::parse_webhook(&payload("freshchat_message_create_legacy_2018.json")).expect("parses");
    let EventKind::MessageCreate(message) = &event.kind else {
        panic!("expected a message");
    };
    assert_eq!(message.parts, [MessagePart::text("USER MESSAGE - from postman")]);
    assert_eq!(message.text(), "USER MESSAGE - from postman");
    assert!(message.conversation_id.ends_with("_feedback"));
}

#[test]
fn assignment_sample() {
    let event = freshchat::parse_webhook(&payload("freshchat_conversation_assignment_1.json")).expect("parses");
    let EventKind::Assignment(assignment) = &event.kind else {
        panic!("expected an assignment");
    };
    assert_eq!(assignment.assignor, Some(ActorType::Agent));
    assert_eq!(
        assignment.to_agent_id.as_deref(),
        Some("999abdc6-e4b1-4944-a246-86f63109df7e")
    );
    assert_eq!(assignment.from_agent_id, None, "\"\" means no previous agent");
    assert_eq!(assignment.conversation.status, Some(ConversationStatus::Assigned));
    assert_eq!(
        event.dedupe_key(),
        "conversation_assignment:40c15ddf-74e0-41e5-870e-69187d085778:2020-04-07T13:35:18.622Z"
    );
}

#[test]
fn resolution_sample() {
    let event = freshchat::parse_webhook(&payload("freshchat_conversation_resolution_1.json")).expect("parses");
    let EventKind::Resolution(resolution) = &event.kind else {
        panic!("expected a resolution");
    };
    assert_eq!(resolution.resolver, Some(ActorType::Agent));
    assert_eq!(resolution.conversation.status, Some(ConversationStatus::Resolved));
    assert_eq!(resolution.user, None);
    assert_eq!(event.conversation_id(), "aecf3cc7-138a-4b40-9723-5bf4d1abb97b");
}

#[test]
fn reopen_sample() {
    let event = freshchat::parse_webhook(&payload("freshchat_conversation_reopen_1.json")).expect("parses");
    let EventKind::Reopen(reopen) = &event.kind else {
        panic!("expected a reopen");
    };
    assert_eq!(reopen.reopener, Some(ActorType::User));
    assert_eq!(reopen.interaction_id.as_deref(), Some("487870040076744-1648793439927"));
    assert_eq!(reopen.conversation.status, Some(ConversationStatus::Reopened));
}

#[test]
fn rest_message_object() {
    let message: Message = serde_json::from_slice(&payload("freshchat_api_message_object_1.json")).expect("parses");
    assert_eq!(message.message_type, MessageType::Normal);
    assert_eq!(message.text(), "hello world");
    assert_eq!(
        message.interaction_id.as_deref(),
        Some("1019183591791880-1752164389742")
    );
}

/// The line of the `.source.txt` after the line that starts with `label`.
fn line_after(source: &str, label: &str) -> String {
    let mut lines = source.lines();
    lines
        .by_ref()
        .find(|line| line.starts_with(label))
        .expect("label present");
    lines.next().expect("value line").trim().to_owned()
}

struct Vector {
    body: Vec<u8>,
    key: String,
    signature: String,
    invalid_signature: String,
}

fn vector() -> Vector {
    let source = String::from_utf8(payload("freshchat_message_create_1.source.txt")).expect("utf-8");
    Vector {
        body: payload("freshchat_message_create_1.json"),
        // Stored on one line, exactly as the admin UI shows it.
        key: source
            .lines()
            .find(|line| line.starts_with("-----BEGIN RSA PUBLIC KEY-----"))
            .expect("key line")
            .to_owned(),
        signature: line_after(&source, "Signature (X-Freshchat-Signature"),
        invalid_signature: line_after(&source, "The test also has an `invalidSignature`"),
    }
}

#[test]
fn signature_vector_from_the_source_file() {
    let vector = vector();
    let key = FreshchatPublicKey::parse(&vector.key).expect("key parses");
    assert!(!vector.body.ends_with(b"\n"), "the vector has no trailing newline");
    assert!(key.verify(&vector.body, &vector.signature));
    assert!(!key.verify(&vector.body, &vector.invalid_signature));
    let mut with_newline = vector.body.clone();
    with_newline.push(b'\n');
    assert!(!key.verify(&with_newline, &vector.signature));

    let verifier = freshchat::WebhookVerifier::Rsa(key);
    assert!(verifier.verify(&vector.body, Some(&vector.signature)));
    assert!(!verifier.verify(&vector.body, None));
}

#[test]
fn signature_vector_survives_a_multi_line_rewrap_of_the_key() {
    let vector = vector();
    let body: String = vector
        .key
        .replace("-----BEGIN RSA PUBLIC KEY-----", "")
        .replace("-----END RSA PUBLIC KEY-----", "")
        .split_whitespace()
        .collect();
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    let rewrapped = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let key = FreshchatPublicKey::parse(&rewrapped).expect("key parses");
    assert!(key.verify(&vector.body, &vector.signature));
    assert!(!key.verify(&vector.body, &vector.invalid_signature));
}

#[test]
fn every_freshdesk_payload_is_understood_or_clearly_refused() {
    let files = json_files("freshdesk_");
    assert!(
        files.len() >= 2,
        "expected the recorded Freshdesk payloads, found {files:?}"
    );
    for path in files {
        let body = fs::read(&path).expect("readable");
        let name = file_name(&path);
        match freshdesk::parse_webhook(&body) {
            Ok(event) => assert_eq!(event.ticket_id(), 11, "{name}"),
            Err(freshdesk::WebhookError::UnsupportedShape(reason)) => {
                assert!(reason.contains("freshdesk_webhook"), "{name}: {reason}");
            }
            Err(other) => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn zulip_public_note_triggers_a_reply_relay() {
    let event = freshdesk::parse_webhook(&payload("freshdesk_webhook_public_note_1.json")).expect("parses");
    assert_eq!(
        event,
        AutomationEvent::AgentReply {
            ticket_id: 11,
            conversation_id: None,
            comment_html: None,
            agent_email: None,
            triggered_event: Some(TriggeredEvent::Note { private: false }),
        }
    );
}

#[test]
fn zulip_ticket_created_is_unsupported() {
    let error = freshdesk::parse_webhook(&payload("freshdesk_webhook_ticket_created_1.json"))
        .expect_err("no Switchboard meaning");
    assert!(matches!(error, freshdesk::WebhookError::UnsupportedShape(_)));
    assert!(error.to_string().contains("TicketAction"));
}

#[test]
fn zulip_status_change_shape_maps_to_status_changed() {
    // The status_changed fixture named in the .source.txt (not stored as a file).
    let body = br#"{"freshdesk_webhook":{"triggered_event":"{status:{from:4,to:6}}","ticket_id":"11","ticket_status":"Waiting on Customer"}}"#;
    let AutomationEvent::StatusChanged {
        status, status_name, ..
    } = freshdesk::parse_webhook(body).expect("parses")
    else {
        panic!("expected a status change");
    };
    assert_eq!(status, Some(TicketStatus::Custom(6)));
    assert_eq!(status_name.as_deref(), Some("Waiting on Customer"));
}
