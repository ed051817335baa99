//! What was sent and how it was answered: a plain record that reports, verification and crash
//! tests inspect. Times are microseconds since the run's start on one monotonic clock, with the
//! wall-clock instant of that start kept to compare against the sandbox's timestamps (same
//! process, same clock).

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// What an event is, for the effect it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A conversation's first customer message: becomes the ticket (its description).
    FirstMessage,
    /// A later customer message: becomes an incoming note on the ticket.
    FollowUp,
    /// A Freshdesk agent reply: relayed to the chat as an agent message.
    AgentReply,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [EventKind::FirstMessage, EventKind::FollowUp, EventKind::AgentReply];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FirstMessage => "first_message",
            EventKind::FollowUp => "follow_up",
            EventKind::AgentReply => "agent_reply",
        }
    }

    pub fn is_customer_message(self) -> bool {
        !matches!(self, EventKind::AgentReply)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Sent, verified, but not in the measured numbers.
    Warmup,
    Measured,
}

/// How the server answered a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Answer {
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// No HTTP answer (connection refused or reset, timeout), or the event could not be built.
    Transport {
        error: String,
    },
}

/// The classes a report counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    /// 503: refused for overload (honest when it carries `Retry-After`).
    Overloaded,
    OtherError,
    Transport,
}

impl Answer {
    pub fn class(&self) -> StatusClass {
        match self {
            Answer::Status { code, .. } if (200..300).contains(code) => StatusClass::Success,
            Answer::Status { code: 503, .. } => StatusClass::Overloaded,
            Answer::Status { .. } => StatusClass::OtherError,
            Answer::Transport { .. } => StatusClass::Transport,
        }
    }

    pub fn accepted(&self) -> bool {
        self.class() == StatusClass::Success
    }
}

/// One webhook sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEvent {
    pub seq: u64,
    /// `lg-<run>-<seq>`, carried in the event's text so its effect can be found.
    pub marker: String,
    pub kind: EventKind,
    /// The Freshchat conversation it belongs to.
    pub conversation_id: String,
    /// The Freshdesk ticket an agent reply was written on.
    pub ticket_id: Option<u64>,
    pub phase: Phase,
    /// When the timetable said to send it (open loop), or when it was sent (closed loop).
    pub scheduled_us: u64,
    /// When the request started.
    pub sent_us: u64,
    /// When the whole answer had arrived.
    pub answered_us: u64,
    pub answer: Answer,
}

impl SentEvent {
    pub fn accepted(&self) -> bool {
        self.answer.accepted()
    }

    /// From the scheduled send time: includes any delay of the sender (no coordinated omission).
    pub fn latency_us(&self) -> u64 {
        self.answered_us.saturating_sub(self.scheduled_us)
    }

    /// From the actual send: what the server took.
    pub fn service_us(&self) -> u64 {
        self.answered_us.saturating_sub(self.sent_us)
    }

    pub fn late_us(&self) -> u64 {
        self.sent_us.saturating_sub(self.scheduled_us)
    }
}

/// Everything a run sent, in completion order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub run_id: String,
    /// The wall-clock instant of the run clock's zero.
    pub started_at: DateTime<Utc>,
    /// The measured window, run-clock microseconds (warm-up before it).
    pub measured_from_us: u64,
    pub measured_to_us: u64,
    pub events: Vec<SentEvent>,
    /// Send slots that found nothing to send (every prepared message used or waiting).
    pub skipped_slots: u64,
}

impl Record {
    /// The wall-clock time of a run-clock offset.
    pub fn wall_time(&self, us: u64) -> DateTime<Utc> {
        self.started_at + TimeDelta::microseconds(i64::try_from(us).unwrap_or(i64::MAX))
    }

    /// Run-clock microseconds of a wall-clock time (negative before the start).
    pub fn offset_us(&self, at: DateTime<Utc>) -> i64 {
        (at - self.started_at).num_microseconds().unwrap_or(i64::MAX)
    }

    pub fn accepted(&self) -> impl Iterator<Item = &SentEvent> {
        self.events.iter().filter(|e| e.accepted())
    }

    pub fn measured(&self) -> impl Iterator<Item = &SentEvent> {
        self.events.iter().filter(|e| e.phase == Phase::Measured)
    }

    pub fn measured_seconds(&self) -> f64 {
        (self.measured_to_us.saturating_sub(self.measured_from_us)) as f64 / 1e6
    }
}

/// The run's clock: a monotonic zero and its wall-clock instant.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    pub start: Instant,
    pub started_at: DateTime<Utc>,
}

impl RunClock {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            started_at: Utc::now(),
        }
    }

    pub fn us(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX)
    }

    pub fn now_us(&self) -> u64 {
        self.us(Instant::now())
    }
}

/// The marker of event `seq` of run `run_id`.
pub fn marker(run_id: &str, seq: u64) -> String {
    format!("lg-{run_id}-{seq}")
}

/// The sequence numbers of every marker of `run_id` in `text` (in order, repeats kept).
pub fn markers_in(text: &str, run_id: &str) -> Vec<u64> {
    let prefix = format!("lg-{run_id}-");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        rest = &rest[at + prefix.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(seq) = rest[..digits].parse() {
            found.push(seq);
        }
        rest = &rest[digits..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_whole_and_only_for_this_run() {
        let text = format!(
            "hi {} and {}, not lg-other-3 nor lg-ab12-x",
            marker("ab12", 17),
            marker("ab12", 1)
        );
        assert_eq!(markers_in(&text, "ab12"), vec![17, 1]);
        assert_eq!(markers_in("<p>lg-ab12-9</p><td>lg-ab12-9</td>", "ab12"), vec![9, 9]);
        assert!(markers_in("nothing here", "ab12").is_empty());
    }

    #[test]
    fn answers_classify() {
        let status = |code| Answer::Status {
            code,
            retry_after: None,
        };
        assert_eq!(status(200).class(), StatusClass::Success);
        assert_eq!(status(202).class(), StatusClass::Success);
        assert_eq!(status(503).class(), StatusClass::Overloaded);
        assert_eq!(status(500).class(), StatusClass::OtherError);
        assert_eq!(status(401).class(), StatusClass::OtherError);
        let transport = Answer::Transport { error: "reset".into() };
        assert_eq!(transport.class(), StatusClass::Transport);
        assert!(!transport.accepted());
    }

    #[test]
    fn latencies_count_from_the_schedule() {
        let e = SentEvent {
            seq: 1,
            marker: marker("r", 1),
            kind: EventKind::FollowUp,
            conversation_id: "c".into(),
            ticket_id: None,
            phase: Phase::Measured,
            scheduled_us: 1_000,
            sent_us: 3_500,
            answered_us: 10_000,
            answer: Answer::Status {
                code: 200,
                retry_after: None,
            },
        };
        assert_eq!((e.latency_us(), e.service_us(), e.late_us()), (9_000, 6_500, 2_500));
    }

    #[test]
    fn wall_times_round_trip() {
        let record = Record {
            run_id: "r".into(),
            started_at: Utc::now(),
            measured_from_us: 0,
            measured_to_us: 2_500_000,
            events: Vec::new(),
            skipped_slots: 0,
        };
        assert_eq!(record.offset_us(record.wall_time(1_234_567)), 1_234_567);
        assert!((record.measured_seconds() - 2.5).abs() < 1e-9);
    }
}
