//! Where each accepted event's effect shows in the sandbox, and when:
//! a first message → the ticket whose description carries its marker (`created_at`);
//! a follow-up → the incoming note with its marker (the note's `created_at`);
//! an agent reply → the agent's chat message with its marker (`created_time`).
//!
//! The sandbox runs in this process and its timestamps come from the same clock as the
//! tool's; read through [`sandbox::Inspect`] they keep full precision (over HTTP they would be
//! cut to milliseconds for Freshchat and to seconds for Freshdesk). The tracker works
//! incrementally: tickets are read once each, in id order (the sandbox hands ids out in
//! sequence), and notes and chat messages only of conversations still waiting for an effect.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sandbox::freshchat::model::ActorType;
use sandbox::{Inspect, Sandbox};

use crate::record::{EventKind, Record, markers_in};

/// The ticket custom field that names the Freshchat conversation (Switchboard's default).
pub const CONVERSATION_FIELD: &str = "cf_freshchat_conversation_id";

#[derive(Clone, Debug)]
pub struct EffectTracker {
    run_id: String,
    next_ticket: u64,
    /// Conversation → its first ticket.
    ticket_of: HashMap<String, u64>,
    /// Event seq → when its effect appeared (the first time it was seen).
    found: HashMap<u64, DateTime<Utc>>,
}

impl EffectTracker {
    /// `first_ticket_id`: the sandbox's first ticket id.
    pub fn new(run_id: &str, first_ticket_id: u64) -> Self {
        Self {
            run_id: run_id.to_string(),
            next_ticket: first_ticket_id,
            ticket_of: HashMap::new(),
            found: HashMap::new(),
        }
    }

    /// Reads tickets created since the last call; returns their (conversation, ticket).
    pub fn poll_tickets(&mut self, inspect: &Inspect) -> Vec<(String, u64)> {
        let mut new = Vec::new();
        while let Some(ticket) = inspect.ticket(self.next_ticket) {
            self.next_ticket += 1;
            for seq in markers_in(&ticket.description, &self.run_id) {
                self.found.entry(seq).or_insert(ticket.created_at);
            }
            if let Some(conversation) = ticket.custom_fields.get(CONVERSATION_FIELD).and_then(|v| v.as_str())
                && !self.ticket_of.contains_key(conversation)
            {
                self.ticket_of.insert(conversation.to_string(), ticket.id);
                new.push((conversation.to_string(), ticket.id));
            }
        }
        new
    }

    /// Looks for the effects of accepted events still without one.
    pub fn poll(&mut self, inspect: &Inspect, record: &Record) {
        self.poll_tickets(inspect);
        let mut note_tickets = HashSet::new();
        let mut chats = HashSet::new();
        for e in record.accepted().filter(|e| !self.found.contains_key(&e.seq)) {
            match e.kind {
                // A first message may only be seen in a note if ordering broke: look there too.
                EventKind::FirstMessage | EventKind::FollowUp => {
                    if let Some(&ticket) = self.ticket_of.get(&e.conversation_id) {
                        note_tickets.insert(ticket);
                    }
                }
                EventKind::AgentReply => {
                    chats.insert(e.conversation_id.as_str());
                }
            }
        }
        for ticket in note_tickets {
            for note in inspect.ticket_conversations(ticket).iter().filter(|c| c.incoming) {
                for seq in markers_in(&note.body, &self.run_id) {
                    self.found.entry(seq).or_insert(note.created_at);
                }
            }
        }
        for conversation in chats {
            let messages = inspect.chat_messages(conversation);
            for m in messages.iter().filter(|m| m.actor_type == ActorType::Agent) {
                for seq in markers_in(&m.text(), &self.run_id) {
                    self.found.entry(seq).or_insert(m.created_time);
                }
            }
        }
    }

    /// Accepted events whose effect has not been seen.
    pub fn missing(&self, record: &Record) -> usize {
        record.accepted().filter(|e| !self.found.contains_key(&e.seq)).count()
    }

    /// Event seq → when its effect appeared.
    pub fn found(&self) -> &HashMap<u64, DateTime<Utc>> {
        &self.found
    }
}

/// How waiting for the effects ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drained {
    pub waited: Duration,
    /// Accepted events still without an effect.
    pub missing: usize,
}

/// Polls until every accepted event's effect is visible, or `limit` has passed.
pub async fn drain(tracker: &mut EffectTracker, sandbox: &Sandbox, record: &Record, limit: Duration) -> Drained {
    let started = Instant::now();
    let mut delay = Duration::from_millis(20);
    loop {
        tracker.poll(&sandbox.inspect(), record);
        let missing = tracker.missing(record);
        if missing == 0 || started.elapsed() >= limit {
            return Drained {
                waited: started.elapsed(),
                missing,
            };
        }
        tokio::time::sleep(delay.min(limit.saturating_sub(started.elapsed()))).await;
        delay = (delay * 2).min(Duration::from_millis(250));
    }
}
