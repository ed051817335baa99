//! The webhook bodies the fakes would send, for callers that deliver webhooks themselves: a
//! load tool switches the sandbox's own deliveries off (no webhook URL, no Freshdesk target),
//! acts through [`Sandbox::customer_says`] / [`Sandbox::agent_replies`], then builds, signs and
//! posts each webhook so it can time it.

use std::sync::atomic::Ordering;

use crate::config::{AGENT_REPLY_TEMPLATE, AutomationTrigger};
use crate::freshchat::webhooks::{MessageShape, message_create_body};
use crate::freshdesk::automation::rule_body;
use crate::freshdesk::store::{FreshdeskStore, REPLY_SENT_TOKEN};
use crate::{ChatRef, Sandbox, SandboxError, lock, timestamps};

impl Sandbox {
    /// The `message_create` body Freshchat sends for the stored message `chat` (the standard
    /// shape: delivery faults are not applied), with `action_time` now.
    pub fn message_create_body(&self, chat: &ChatRef) -> Result<Vec<u8>, SandboxError> {
        let store = lock(&self.inner.freshchat);
        let message = store
            .messages(&chat.conversation_id)
            .iter()
            .find(|m| m.id == chat.message_id)
            .ok_or_else(|| {
                SandboxError::Freshchat(format!(
                    "no message {} in conversation {}",
                    chat.message_id, chat.conversation_id
                ))
            })?;
        let now = timestamps::millis(chrono::Utc::now());
        Ok(message_create_body(message, MessageShape::default(), now)?)
    }

    /// `X-Freshchat-Signature` for `body`: RSASSA-PKCS1-v1_5 SHA-256 with the sandbox's key,
    /// base64 — verifiable with [`Sandbox::freshchat_public_key_pem`].
    pub fn sign_freshchat(&self, body: &[u8]) -> Result<String, SandboxError> {
        self.inner.signer.sign(body)
    }

    /// The body the "Reply is sent" automation sends for `ticket_id` now: the first configured
    /// agent-reply rule's template (else Switchboard's documented one) rendered like Freshdesk,
    /// with the ticket's latest public comment.
    pub fn agent_reply_body(&self, ticket_id: u64) -> Result<Vec<u8>, SandboxError> {
        let escape = self.inner.escape_template_values.load(Ordering::SeqCst);
        agent_reply_body(&lock(&self.inner.freshdesk), ticket_id, escape)
    }

    /// An agent replies in the Freshdesk UI ([`Sandbox::agent_replies`]), and the body the
    /// automation sends for that reply — rendered while the reply is still the ticket's latest
    /// public comment: a reply made meanwhile on the same ticket cannot take its place, as it
    /// could between [`Sandbox::agent_replies`] and [`Sandbox::agent_reply_body`].
    pub fn agent_replies_with_body(
        &self,
        ticket_id: u64,
        body_html: &str,
        agent_email: Option<&str>,
    ) -> Result<(u64, Vec<u8>), SandboxError> {
        let escape = self.inner.escape_template_values.load(Ordering::SeqCst);
        self.inner.desk(|store| {
            let reply = store.agent_reply_from_ui(ticket_id, body_html, agent_email)?;
            Ok((reply, agent_reply_body(store, ticket_id, escape)?))
        })
    }
}

fn agent_reply_body(store: &FreshdeskStore, ticket_id: u64, escape: bool) -> Result<Vec<u8>, SandboxError> {
    if store.ticket(ticket_id).is_none() {
        return Err(SandboxError::TicketNotFound(ticket_id));
    }
    let template = store
        .automations
        .iter()
        .find(|r| r.trigger == AutomationTrigger::AgentReply)
        .map_or(AGENT_REPLY_TEMPLATE, |r| r.template.as_str());
    Ok(rule_body(store, template, ticket_id, REPLY_SENT_TOKEN, escape))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};

    use crate::webhooks::DeliveryState;
    use crate::{Sandbox, SandboxConfig};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[tokio::test]
    async fn message_create_body_is_the_signed_webhook_for_the_stored_message() -> TestResult {
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let chat = sandbox.customer_says("u-1", "Do you cater weddings?").await?;
        let body = sandbox.message_create_body(&chat)?;
        let v: Value = serde_json::from_slice(&body)?;
        assert_eq!(v["action"], "message_create");
        assert_eq!(v["actor"], json!({ "actor_type": "user", "actor_id": chat.user_id }));
        let m = &v["data"]["message"];
        assert_eq!(m["id"], chat.message_id.as_str());
        assert_eq!(m["conversation_id"], chat.conversation_id.as_str());
        assert_eq!(
            m["message_parts"],
            json!([{ "text": { "content": "Do you cater weddings?" } }])
        );
        assert_eq!(m["message_type"], "normal");

        let signature = STANDARD.decode(sandbox.sign_freshchat(&body)?)?;
        let pem = sandbox.freshchat_public_key_pem();
        let spki = STANDARD.decode(pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>())?;
        let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, spki);
        assert!(key.verify(&body, &signature).is_ok());

        // With no webhook URL nothing was delivered.
        let deliveries = sandbox.inspect().webhook_deliveries();
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].state, DeliveryState::NoTarget);
        Ok(())
    }

    #[tokio::test]
    async fn an_unknown_message_is_an_error() -> TestResult {
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let mut chat = sandbox.customer_says("u-1", "hi").await?;
        chat.message_id = "nope".into();
        assert!(sandbox.message_create_body(&chat).is_err());
        Ok(())
    }

    #[tokio::test]
    async fn agent_reply_body_renders_the_documented_template() -> TestResult {
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let ticket = sandbox.inner.desk(|s| {
            s.create_ticket(&json!({
                "email": "c@example.com", "subject": "s", "description": "d", "status": 2, "priority": 1,
                "custom_fields": { "cf_freshchat_conversation_id": "conv-1" },
            }))
        });
        let ticket = ticket.map_err(|e| format!("{e:?}"))?.id;
        let email = sandbox.config().agents[0].email.clone();
        sandbox
            .agent_replies(ticket, "<p>Yes, \"we do\"</p>", Some(&email))
            .await?;
        let v: Value = serde_json::from_slice(&sandbox.agent_reply_body(ticket)?)?;
        assert_eq!(
            v,
            json!({
                "event": "agent_reply", "ticket_id": ticket.to_string(), "conversation_id": "conv-1",
                "comment": "<p>Yes, \"we do\"</p>", "agent_email": email, "triggered_event": "{reply_sent:sent}",
            })
        );
        assert!(matches!(
            sandbox.agent_reply_body(ticket + 1),
            Err(crate::SandboxError::TicketNotFound(_))
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_reply_s_own_body_carries_it_whatever_is_written_after() -> TestResult {
        let sandbox = Sandbox::new(SandboxConfig::default())?;
        let ticket = sandbox.inner.desk(|s| {
            s.create_ticket(&json!({
                "email": "c@example.com", "subject": "s", "description": "d", "status": 2, "priority": 1,
            }))
        });
        let ticket = ticket.map_err(|e| format!("{e:?}"))?.id;
        let (first, body) = sandbox.agent_replies_with_body(ticket, "<p>first</p>", None)?;
        let (second, _) = sandbox.agent_replies_with_body(ticket, "<p>second</p>", None)?;
        assert_ne!(first, second);
        let comment = |b: &[u8]| -> Result<Value, serde_json::Error> {
            Ok(serde_json::from_slice::<Value>(b)?["comment"].clone())
        };
        assert_eq!(comment(&body)?, json!("<p>first</p>"));
        assert_eq!(comment(&sandbox.agent_reply_body(ticket)?)?, json!("<p>second</p>"));
        assert!(matches!(
            sandbox.agent_replies_with_body(ticket + 1, "<p>x</p>", None),
            Err(crate::SandboxError::TicketNotFound(_))
        ));
        Ok(())
    }
}
