//! Correctness after a run, from the sandbox's final state and the record of what was sent:
//! every accepted customer message is exactly one ticket description or incoming note (on its
//! own conversation's ticket), every conversation with an accepted message has exactly one
//! ticket, and every accepted agent reply reached its chat exactly once. Events that were not
//! accepted may have had an effect (a lost answer), but never two.

use std::collections::{BTreeMap, HashMap, HashSet};

use sandbox::Inspect;
use sandbox::freshchat::model::ActorType;
use serde::Serialize;

use crate::effects::CONVERSATION_FIELD;
use crate::record::{EventKind, Record, markers_in};

/// Where a marker was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum Location {
    TicketDescription {
        ticket_id: u64,
        conversation_id: String,
    },
    TicketNote {
        ticket_id: u64,
        note_id: u64,
        conversation_id: String,
    },
    ChatMessage {
        message_id: String,
        conversation_id: String,
    },
}

impl Location {
    pub fn conversation_id(&self) -> &str {
        match self {
            Location::TicketDescription { conversation_id, .. }
            | Location::TicketNote { conversation_id, .. }
            | Location::ChatMessage { conversation_id, .. } => conversation_id,
        }
    }
}

/// One broken guarantee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    /// An accepted event left no trace.
    MissingEffect { marker: String, kind: EventKind },
    /// An event had its effect more than once.
    DuplicateEffect {
        marker: String,
        kind: EventKind,
        found: Vec<Location>,
    },
    /// An event's effect landed in another conversation.
    Misrouted {
        marker: String,
        kind: EventKind,
        conversation_id: String,
        found: Location,
    },
    /// A conversation with an accepted message has no ticket.
    MissingTicket { conversation_id: String },
    /// A conversation has several tickets.
    DuplicateTickets {
        conversation_id: String,
        ticket_ids: Vec<u64>,
    },
}

impl Violation {
    pub fn is_missing(&self) -> bool {
        matches!(self, Violation::MissingEffect { .. } | Violation::MissingTicket { .. })
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(
            self,
            Violation::DuplicateEffect { .. } | Violation::DuplicateTickets { .. }
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub customer_messages_checked: usize,
    pub agent_replies_checked: usize,
    pub conversations_checked: usize,
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn missing(&self) -> usize {
        self.violations.iter().filter(|v| v.is_missing()).count()
    }

    pub fn duplicates(&self) -> usize {
        self.violations.iter().filter(|v| v.is_duplicate()).count()
    }

    pub fn misrouted(&self) -> usize {
        self.violations
            .iter()
            .filter(|v| matches!(v, Violation::Misrouted { .. }))
            .count()
    }
}

/// What the sandbox holds, reduced to what verification needs.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Marker seq → where customer messages' markers are (descriptions, incoming notes).
    pub customer: HashMap<u64, Vec<Location>>,
    /// Marker seq → where agent replies' markers are (agent chat messages).
    pub replies: HashMap<u64, Vec<Location>>,
    /// Conversation → its tickets.
    pub tickets: HashMap<String, Vec<u64>>,
}

impl Observed {
    /// Reads everything of `run_id` from the sandbox.
    pub fn read(inspect: &Inspect, run_id: &str) -> Self {
        let mut o = Observed::default();
        for ticket in inspect.tickets() {
            let conversation = ticket
                .custom_fields
                .get(CONVERSATION_FIELD)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            o.tickets.entry(conversation.clone()).or_default().push(ticket.id);
            for seq in unique(markers_in(&ticket.description, run_id)) {
                o.customer.entry(seq).or_default().push(Location::TicketDescription {
                    ticket_id: ticket.id,
                    conversation_id: conversation.clone(),
                });
            }
            for note in inspect.ticket_conversations(ticket.id).iter().filter(|c| c.incoming) {
                for seq in unique(markers_in(&note.body, run_id)) {
                    o.customer.entry(seq).or_default().push(Location::TicketNote {
                        ticket_id: ticket.id,
                        note_id: note.id,
                        conversation_id: conversation.clone(),
                    });
                }
            }
        }
        for conversation in inspect.conversations() {
            let id = conversation.conversation_id;
            for m in inspect
                .chat_messages(&id)
                .iter()
                .filter(|m| m.actor_type == ActorType::Agent)
            {
                for seq in unique(markers_in(&m.text(), run_id)) {
                    o.replies.entry(seq).or_default().push(Location::ChatMessage {
                        message_id: m.id.clone(),
                        conversation_id: id.clone(),
                    });
                }
            }
        }
        o
    }
}

/// A marker repeated within one text is one effect.
fn unique(seqs: Vec<u64>) -> HashSet<u64> {
    seqs.into_iter().collect()
}

/// Reads the sandbox and checks the record against it.
pub fn verify(inspect: &Inspect, record: &Record) -> VerifyReport {
    check(&Observed::read(inspect, &record.run_id), record)
}

/// The checks, on what was observed (pure).
pub fn check(observed: &Observed, record: &Record) -> VerifyReport {
    let mut report = VerifyReport::default();
    let none = Vec::new();
    // Conversation → whether any of its customer messages was accepted.
    let mut conversations: BTreeMap<&str, bool> = BTreeMap::new();
    for e in &record.events {
        let locations = match e.kind {
            EventKind::AgentReply => {
                report.agent_replies_checked += usize::from(e.accepted());
                observed.replies.get(&e.seq).unwrap_or(&none)
            }
            _ => {
                report.customer_messages_checked += usize::from(e.accepted());
                let any = conversations.entry(&e.conversation_id).or_default();
                *any |= e.accepted();
                observed.customer.get(&e.seq).unwrap_or(&none)
            }
        };
        match locations.len() {
            0 if e.accepted() => report.violations.push(Violation::MissingEffect {
                marker: e.marker.clone(),
                kind: e.kind,
            }),
            0 | 1 => {}
            _ => report.violations.push(Violation::DuplicateEffect {
                marker: e.marker.clone(),
                kind: e.kind,
                found: locations.clone(),
            }),
        }
        for found in locations.iter().filter(|l| l.conversation_id() != e.conversation_id) {
            report.violations.push(Violation::Misrouted {
                marker: e.marker.clone(),
                kind: e.kind,
                conversation_id: e.conversation_id.clone(),
                found: found.clone(),
            });
        }
    }
    for (conversation, accepted) in conversations {
        report.conversations_checked += 1;
        let tickets: &[u64] = observed.tickets.get(conversation).map_or(&[][..], Vec::as_slice);
        match tickets.len() {
            0 if accepted => report.violations.push(Violation::MissingTicket {
                conversation_id: conversation.to_string(),
            }),
            0 | 1 => {}
            _ => report.violations.push(Violation::DuplicateTickets {
                conversation_id: conversation.to_string(),
                ticket_ids: tickets.to_vec(),
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Answer, Phase, SentEvent, marker};

    fn event(seq: u64, kind: EventKind, conversation: &str, code: u16) -> SentEvent {
        SentEvent {
            seq,
            marker: marker("r", seq),
            kind,
            conversation_id: conversation.into(),
            ticket_id: None,
            phase: Phase::Measured,
            scheduled_us: 0,
            sent_us: 0,
            answered_us: 1,
            answer: Answer::Status {
                code,
                retry_after: None,
            },
        }
    }

    fn record(events: Vec<SentEvent>) -> Record {
        Record {
            run_id: "r".into(),
            started_at: chrono::Utc::now(),
            measured_from_us: 0,
            measured_to_us: 1,
            events,
            skipped_slots: 0,
        }
    }

    fn description(ticket_id: u64, conversation: &str) -> Location {
        Location::TicketDescription {
            ticket_id,
            conversation_id: conversation.into(),
        }
    }

    fn note(note_id: u64, conversation: &str) -> Location {
        Location::TicketNote {
            ticket_id: 1,
            note_id,
            conversation_id: conversation.into(),
        }
    }

    fn chat(id: &str, conversation: &str) -> Location {
        Location::ChatMessage {
            message_id: id.into(),
            conversation_id: conversation.into(),
        }
    }

    #[test]
    fn a_clean_run_is_clean() {
        let r = record(vec![
            event(0, EventKind::FirstMessage, "c1", 200),
            event(1, EventKind::FollowUp, "c1", 200),
            event(2, EventKind::AgentReply, "c1", 200),
            event(3, EventKind::FirstMessage, "c2", 503), // refused: no effect needed
        ]);
        let mut o = Observed::default();
        o.customer.insert(0, vec![description(1, "c1")]);
        o.customer.insert(1, vec![note(10, "c1")]);
        o.replies.insert(2, vec![chat("m", "c1")]);
        o.tickets.insert("c1".into(), vec![1]);
        let report = check(&o, &r);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(
            (
                report.customer_messages_checked,
                report.agent_replies_checked,
                report.conversations_checked
            ),
            (2, 1, 2)
        );
    }

    #[test]
    fn missing_duplicate_and_misrouted_effects_are_reported() {
        let r = record(vec![
            event(0, EventKind::FirstMessage, "c1", 200),
            event(1, EventKind::FollowUp, "c1", 200),
            event(2, EventKind::AgentReply, "c1", 200),
            event(3, EventKind::FollowUp, "c1", 0), // not accepted, yet twice in the ticket
            event(4, EventKind::FirstMessage, "c2", 200),
        ]);
        let mut o = Observed::default();
        o.customer.insert(0, vec![description(1, "c1")]);
        o.customer.insert(3, vec![note(11, "c1"), note(12, "c1")]);
        o.customer.insert(4, vec![description(1, "c1")]);
        o.replies.insert(2, vec![chat("a", "c1"), chat("b", "c1")]);
        o.tickets.insert("c1".into(), vec![1, 2]);
        let report = check(&o, &r);
        assert_eq!(report.missing(), 2, "{report:?}"); // follow-up 1; no ticket for c2
        assert_eq!(report.duplicates(), 3, "{report:?}"); // note twice, reply twice, two tickets
        assert_eq!(report.misrouted(), 1, "{report:?}");
        assert!(report.violations.contains(&Violation::MissingTicket {
            conversation_id: "c2".into()
        }));
        assert!(report.violations.contains(&Violation::DuplicateTickets {
            conversation_id: "c1".into(),
            ticket_ids: vec![1, 2]
        }));
    }
}
