//! What to send next: a pure state machine over prepared conversations (time is an argument).
//!
//! Each conversation is a customer writing a first message, then follow-ups; a follow-up is
//! sent only after the previous message was accepted and the customer "thought" a while, so
//! Switchboard sees every conversation's messages in order, like Freshchat's ordered delivery.
//! A refused message ends its conversation (the real provider would retry it; the tool does
//! not, so what was accepted stays easy to verify). Agent replies go to conversations whose
//! ticket exists; a fixed share of send slots are replies (spread evenly).

use std::collections::VecDeque;
use std::time::Duration;

/// The shape of the traffic.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Mix {
    /// Share of events that are agent replies (0–1).
    pub reply_share: f64,
    /// Customer messages after the first, per conversation.
    pub followups: u32,
    /// Pause between a message's acceptance and the customer's next one.
    #[serde(serialize_with = "serialize_secs")]
    pub think: Duration,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            reply_share: 0.2,
            followups: 3,
            think: Duration::from_secs(1),
        }
    }
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Mix {
    pub fn messages_per_conversation(&self) -> u32 {
        self.followups.saturating_add(1)
    }

    /// Conversations to prepare for `events` events sent at `rate` per second (`None`: as fast
    /// as possible): enough for the customer share, plus those started while the first
    /// follow-ups are still "thinking" (then every customer slot starts a conversation).
    pub fn conversations_needed(&self, events: u64, rate: Option<f64>) -> usize {
        let customer_share = (1.0 - self.reply_share).clamp(0.0, 1.0);
        let messages = (events as f64 * customer_share).ceil();
        let steady = (messages / f64::from(self.messages_per_conversation())).ceil();
        let startup = rate.map_or(messages * 0.1, |r| r * customer_share * self.think.as_secs_f64());
        (steady + startup.ceil()) as usize + 16
    }
}

/// What a send slot sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Prepared message `index` of conversation `conversation`.
    Message { conversation: usize, index: u32 },
    /// An agent reply on the conversation's ticket.
    Reply { conversation: usize, ticket: u64 },
    /// Nothing ready: every prepared conversation is used or waiting.
    Nothing,
}

#[derive(Clone, Debug)]
struct Conversation {
    messages: u32,
    /// The next message index to send.
    next: u32,
    ticket: Option<u64>,
}

/// The scenario's state; call [`Scenario::pick`] per slot and report answers and tickets.
#[derive(Clone, Debug)]
pub struct Scenario {
    mix: Mix,
    conversations: Vec<Conversation>,
    next_new: usize,
    /// Conversations whose next message may go, with when (run-clock µs), in that order.
    ready: VecDeque<(usize, u64)>,
    ticketed: Vec<usize>,
    slot: u64,
    rng: fastrand::Rng,
}

impl Scenario {
    /// `messages[i]` = prepared messages of conversation `i`.
    pub fn new(mix: Mix, messages: impl IntoIterator<Item = u32>, seed: u64) -> Self {
        Self {
            mix,
            conversations: messages
                .into_iter()
                .map(|messages| Conversation {
                    messages,
                    next: 0,
                    ticket: None,
                })
                .collect(),
            next_new: 0,
            ready: VecDeque::new(),
            ticketed: Vec::new(),
            slot: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The next event to send at `now_us`.
    pub fn pick(&mut self, now_us: u64) -> Pick {
        let slot = self.slot;
        self.slot += 1;
        if is_reply_slot(slot, self.mix.reply_share)
            && let Some(reply) = self.reply()
        {
            return reply;
        }
        self.message(now_us).or_else(|| self.reply()).unwrap_or(Pick::Nothing)
    }

    fn message(&mut self, now_us: u64) -> Option<Pick> {
        let due = self.ready.front().is_some_and(|&(_, at)| at <= now_us);
        let conversation = if due || self.next_new >= self.conversations.len() {
            // Out of new conversations, a waiting follow-up goes early rather than not at all.
            self.ready.pop_front()?.0
        } else {
            self.next_new += 1;
            self.next_new - 1
        };
        let c = self.conversations.get_mut(conversation)?;
        let index = c.next;
        c.next += 1;
        Some(Pick::Message { conversation, index })
    }

    fn reply(&mut self) -> Option<Pick> {
        if self.ticketed.is_empty() {
            return None;
        }
        let conversation = self.ticketed[self.rng.usize(..self.ticketed.len())];
        let ticket = self.conversations.get(conversation)?.ticket?;
        Some(Pick::Reply { conversation, ticket })
    }

    /// Message `index` of `conversation` was answered at `now_us`.
    pub fn answered(&mut self, conversation: usize, index: u32, accepted: bool, now_us: u64) {
        let Some(c) = self.conversations.get(conversation) else {
            return;
        };
        if accepted && index + 1 < c.messages && c.next == index + 1 {
            let think = u64::try_from(self.mix.think.as_micros()).unwrap_or(u64::MAX);
            self.ready.push_back((conversation, now_us.saturating_add(think)));
        }
    }

    /// The conversation's ticket appeared: replies may go to it.
    pub fn ticket_seen(&mut self, conversation: usize, ticket: u64) {
        if let Some(c) = self.conversations.get_mut(conversation)
            && c.ticket.is_none()
        {
            c.ticket = Some(ticket);
            self.ticketed.push(conversation);
        }
    }

    /// Conversations started so far.
    pub fn started(&self) -> usize {
        self.next_new
    }
}

/// Whether slot `n` is a reply: slots are replies at an even spacing of `share`.
pub fn is_reply_slot(n: u64, share: f64) -> bool {
    let share = share.clamp(0.0, 1.0);
    ((n + 1) as f64 * share).floor() > (n as f64 * share).floor()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(reply_share: f64, followups: u32, think_ms: u64) -> Mix {
        Mix {
            reply_share,
            followups,
            think: Duration::from_millis(think_ms),
        }
    }

    #[test]
    fn reply_slots_are_spread_at_the_share() {
        let replies = (0..1000).filter(|&n| is_reply_slot(n, 0.2)).count();
        assert_eq!(replies, 200);
        assert!((0..5).filter(|&n| is_reply_slot(n, 0.2)).count() == 1);
        assert_eq!((0..100).filter(|&n| is_reply_slot(n, 0.0)).count(), 0);
        assert_eq!((0..100).filter(|&n| is_reply_slot(n, 1.0)).count(), 100);
    }

    #[test]
    fn follow_ups_wait_for_acceptance_and_thinking() {
        let mut s = Scenario::new(mix(0.0, 2, 10), [3, 3], 1);
        assert_eq!(
            s.pick(0),
            Pick::Message {
                conversation: 0,
                index: 0
            }
        );
        s.answered(0, 0, true, 1_000);
        // Not due yet: a new conversation starts instead.
        assert_eq!(
            s.pick(5_000),
            Pick::Message {
                conversation: 1,
                index: 0
            }
        );
        s.answered(1, 0, false, 6_000); // refused: conversation 1 ends
        assert_eq!(
            s.pick(11_000),
            Pick::Message {
                conversation: 0,
                index: 1
            }
        );
        s.answered(0, 1, true, 12_000);
        // Out of new conversations: the waiting follow-up goes early.
        assert_eq!(
            s.pick(12_001),
            Pick::Message {
                conversation: 0,
                index: 2
            }
        );
        s.answered(0, 2, true, 13_000); // the last one: nothing more to come
        assert_eq!(s.pick(99_000), Pick::Nothing);
        assert_eq!(s.started(), 2);
    }

    #[test]
    fn replies_go_to_ticketed_conversations_else_a_message_goes() {
        let mut s = Scenario::new(mix(1.0, 0, 0), [1, 1], 7);
        assert_eq!(
            s.pick(0),
            Pick::Message {
                conversation: 0,
                index: 0
            }
        );
        s.ticket_seen(0, 42);
        s.ticket_seen(0, 43); // the first ticket counts
        for _ in 0..5 {
            assert_eq!(
                s.pick(1),
                Pick::Reply {
                    conversation: 0,
                    ticket: 42
                }
            );
        }
    }

    #[test]
    fn the_mix_is_kept_in_steady_state() {
        let mut s = Scenario::new(mix(0.2, 3, 0), std::iter::repeat_n(4, 1000), 3);
        let (mut replies, mut firsts, mut follow) = (0, 0, 0);
        for t in 0..2000u64 {
            match s.pick(t) {
                Pick::Reply { .. } => replies += 1,
                Pick::Message { conversation, index } => {
                    if index == 0 {
                        firsts += 1;
                        s.ticket_seen(conversation, conversation as u64 + 1);
                    } else {
                        follow += 1;
                    }
                    s.answered(conversation, index, true, t);
                }
                Pick::Nothing => unreachable!("enough conversations"),
            }
        }
        assert_eq!(replies + firsts + follow, 2000);
        assert!((390..=410).contains(&replies), "{replies}");
        assert!(follow > 2 * firsts, "{firsts} first messages, {follow} follow-ups");
    }

    #[test]
    fn enough_conversations_are_prepared() {
        let m = mix(0.2, 3, 1000);
        // 10 000 events at 500/s: 8 000 messages = 2 000 conversations, plus 400 started in
        // the first second of thinking.
        assert_eq!(m.conversations_needed(10_000, Some(500.0)), 2_000 + 400 + 16);
        assert!(m.conversations_needed(10_000, None) > 2_000);
    }
}
