//! Customer messages made before the timed phase: each is recorded in the sandbox (as the
//! customer writing it), its `message_create` body built and signed. RSA signing costs about a
//! millisecond a message, so it is done here, on every core, and the timed phase measures the
//! server rather than the signer.

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use bytes::Bytes;
use sandbox::Sandbox;

use crate::error::LoadError;
use crate::record::marker;

/// How Freshchat webhooks are signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signing {
    /// RSA PKCS#1 v1.5 SHA-256 with the sandbox's key, base64: what Freshchat does.
    Rsa,
    /// Hex HMAC-SHA256 with a shared secret: what relays do; cheap.
    Hmac(String),
}

/// One prepared customer message.
#[derive(Clone, Debug)]
pub struct PreparedMessage {
    pub seq: u64,
    pub marker: String,
    pub body: Bytes,
    pub signature: String,
}

#[derive(Clone, Debug)]
pub struct PreparedConversation {
    pub user_ref: String,
    pub conversation_id: String,
    pub messages: Vec<PreparedMessage>,
}

/// Every prepared conversation; sequence numbers `0..messages()` are taken.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    pub conversations: Vec<PreparedConversation>,
    pub took: Duration,
}

impl Prepared {
    pub fn messages(&self) -> u64 {
        self.conversations.iter().map(|c| c.messages.len() as u64).sum()
    }
}

/// The text of message `index` of a conversation: realistic, with the marker.
pub fn message_text(index: u32, marker: &str) -> String {
    match index {
        0 => format!("Hi! Do you cater weddings for 120 guests on the 14th? Veg and non-veg please. [{marker}]"),
        n => format!("Also (note {n}): can the platter include paneer tikka and a dessert counter? [{marker}]"),
    }
}

/// Records `conversations` conversations of `per_conversation` messages in the sandbox and
/// builds their signed webhooks.
pub async fn prepare(
    sandbox: &Sandbox,
    run_id: &str,
    conversations: usize,
    per_conversation: u32,
    signing: &Signing,
) -> Result<Prepared, LoadError> {
    let started = Instant::now();
    let mut seq = 0u64;
    let mut out = Vec::with_capacity(conversations);
    let mut unsigned = Vec::new();
    for c in 0..conversations {
        let user_ref = format!("lg-{run_id}-u{c}");
        let mut conversation_id = String::new();
        for index in 0..per_conversation {
            let marker = marker(run_id, seq);
            let chat = sandbox.customer_says(&user_ref, &message_text(index, &marker)).await?;
            let body = sandbox.message_create_body(&chat)?;
            conversation_id = chat.conversation_id;
            unsigned.push((c, seq, marker, body));
            seq += 1;
        }
        out.push(PreparedConversation {
            user_ref,
            conversation_id,
            messages: Vec::with_capacity(per_conversation as usize),
        });
    }
    let signatures = sign_all(sandbox, signing, unsigned.iter().map(|(_, _, _, body)| body.as_slice()))?;
    for ((c, seq, marker, body), signature) in unsigned.into_iter().zip(signatures) {
        if let Some(conversation) = out.get_mut(c) {
            conversation.messages.push(PreparedMessage {
                seq,
                marker,
                body: Bytes::from(body),
                signature,
            });
        }
    }
    Ok(Prepared {
        conversations: out,
        took: started.elapsed(),
    })
}

/// Signatures of every body, in order, computed on every core.
pub fn sign_all<'a>(
    sandbox: &Sandbox,
    signing: &Signing,
    bodies: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<String>, LoadError> {
    let bodies: Vec<&[u8]> = bodies.collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = bodies.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<String>, LoadError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|b| sign(sandbox, signing, b)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(LoadError::Config("a signing thread panicked".into())))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(bodies.len());
    for part in parts {
        all.extend(part?);
    }
    Ok(all)
}

/// `X-Freshchat-Signature` for one body.
pub fn sign(sandbox: &Sandbox, signing: &Signing, body: &[u8]) -> Result<String, LoadError> {
    match signing {
        Signing::Rsa => Ok(sandbox.sign_freshchat(body)?),
        Signing::Hmac(secret) => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            Ok(hex::encode(hmac::sign(&key, body).as_ref()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::markers_in;

    #[tokio::test]
    async fn prepares_signed_conversations_with_markers_in_order() -> Result<(), Box<dyn std::error::Error>> {
        let sandbox = Sandbox::new(sandbox::SandboxConfig::default())?;
        let p = prepare(&sandbox, "t1", 3, 2, &Signing::Hmac("s3cr3t".into())).await?;
        assert_eq!(p.messages(), 6);
        let seqs: Vec<u64> = p
            .conversations
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| m.seq))
            .collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
        let first = &p.conversations[1].messages[0];
        let body: serde_json::Value = serde_json::from_slice(&first.body)?;
        assert_eq!(
            body["data"]["message"]["conversation_id"],
            p.conversations[1].conversation_id.as_str()
        );
        let text = body["data"]["message"]["message_parts"][0]["text"]["content"]
            .as_str()
            .ok_or("no text")?;
        assert_eq!(markers_in(text, "t1"), vec![2]);
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"s3cr3t");
        assert_eq!(first.signature, hex::encode(hmac::sign(&key, &first.body).as_ref()));
        assert_eq!(sandbox.inspect().conversations().len(), 3);
        Ok(())
    }

    #[tokio::test]
    async fn rsa_signatures_come_out_in_body_order() -> Result<(), Box<dyn std::error::Error>> {
        let sandbox = Sandbox::new(sandbox::SandboxConfig::default())?;
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect();
        let parallel = sign_all(&sandbox, &Signing::Rsa, bodies.iter().map(Vec::as_slice))?;
        for (body, signature) in bodies.iter().zip(&parallel) {
            // PKCS#1 v1.5 is deterministic: the same body signs the same.
            assert_eq!(signature, &sign(&sandbox, &Signing::Rsa, body)?);
        }
        Ok(())
    }
}
