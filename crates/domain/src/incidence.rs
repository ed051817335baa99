//! Incidences: one support interaction each, its lifecycle as a pure `apply`.
//!
//! Providers deliver events at least once and in any order, so the state is built only from
//! joins that do not care about either: the earliest of, the latest of, the set of. Applying an
//! event twice is applying it once, and any order of a conversation's events ends in the state
//! the ordered stream ends in. What callers read (outcome, resolved_at, …) is derived from that
//! state, never accumulated.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, IncidenceId, UserId};
use crate::money::Money;
use crate::routing::{Priority, RoutingSettings, route};

macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(
    /// How the customer reached support.
    Channel { InAppChat = "IN_APP_CHAT", Call = "CALL", WhatsApp = "WHATSAPP" }
);
names!(Stage { PreOrder = "PRE_ORDER", PostOrder = "POST_ORDER" });
names!(Trigger { UserInitiated = "USER_INITIATED", SystemInitiated = "SYSTEM_INITIATED" });
names!(Outcome { InProgress = "IN_PROGRESS", Resolved = "RESOLVED", Dropped = "DROPPED", Converted = "CONVERTED" });
names!(OrderImpact { Placed = "PLACED", Modified = "MODIFIED", Lost = "LOST", None = "NONE" });
names!(Actor { User = "USER", Agent = "AGENT", System = "SYSTEM", Bot = "BOT" });
names!(
    /// Where a resolution or reopening came from.
    Source { Chat = "CHAT", Helpdesk = "HELPDESK", Switchboard = "SWITCHBOARD" }
);
names!(TimelineKind {
    Message = "MESSAGE",
    AgentAssigned = "AGENT_ASSIGNED",
    Resolved = "RESOLVED",
    Reopened = "REOPENED",
    TicketCreated = "TICKET_CREATED",
    TicketUpdated = "TICKET_UPDATED",
    ContextChanged = "CONTEXT_CHANGED",
    Call = "CALL",
    WhatsApp = "WHATSAPP",
    Note = "NOTE",
    Error = "ERROR",
});

/// Labels that decide a resolution's outcome (§2 rule 2).
pub mod label {
    pub const ORDER_PLACED: &str = "order_placed";
    pub const DROPPED: &str = "dropped";
    pub const LOST: &str = "lost";
    pub const ORDER_MODIFIED: &str = "order_modified";
}

/// A value with the time and provider key of the event that gave it; ordered by (time, key) so
/// that ties break the same way whatever order events arrive in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub at: DateTime<Utc>,
    pub key: String,
    pub value: T,
}

/// The customer's context when they reached out (§2 "context at creation").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StartContext {
    pub app_screen: String,
    pub cart_value: Money,
    pub guest_count: Option<u32>,
    pub event_type: Option<String>,
    pub friction_score: u8,
    pub order_id: Option<String>,
    /// The customer accepted a help prompt Switchboard offered (a system-initiated contact).
    pub help_prompt_accepted: bool,
}

/// Who the customer is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identity {
    /// The tenant's own user id, when known.
    pub user_id: Option<UserId>,
    /// The provider's id of the customer (Freshchat user id, phone number, …).
    pub provider_user_id: Option<String>,
}

/// An explicit close with the outcome chosen by a person (dashboard, API).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Closing {
    pub outcome: Outcome,
    pub order_impact: OrderImpact,
    pub issue_category: Option<String>,
    pub root_cause: Option<String>,
    pub resolution_type: Option<String>,
}

/// A status change, kept as a set: the latest decides whether the incidence is open.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StatusChange {
    Resolved { labels: BTreeSet<String>, source: Source },
    Reopened { source: Source },
}

/// One provider event about a conversation, with what the shell knew when it arrived.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationEvent {
    /// When it happened, by the provider's clock where it gives one.
    pub at: DateTime<Utc>,
    /// The provider's identity of the event (message id, …); the timeline dedupes on it.
    pub key: String,
    pub kind: EventKind,
    /// The customer's context at this event, when the shell has it.
    pub context: Option<StartContext>,
    pub identity: Option<Identity>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Message {
        actor: Actor,
        text: String,
        private: bool,
        agent_id: Option<String>,
    },
    Assigned {
        agent_id: Option<String>,
    },
    Resolved {
        labels: Vec<String>,
        source: Source,
        by: Actor,
    },
    Reopened {
        source: Source,
        by: Actor,
    },
    Closed(Closing),
    /// An order the customer placed after reaching out (§9).
    OrderLinked {
        order_id: String,
        impact: OrderImpact,
    },
}

/// An incidence's state: only joins, see the module comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incidence {
    pub id: IncidenceId,
    pub channel: Channel,
    pub conversation_id: ConversationId,
    /// Earliest event time.
    pub created_at: DateTime<Utc>,
    /// Latest event time.
    pub last_activity_at: DateTime<Utc>,
    /// The context of the earliest event that carried one.
    pub start: Option<Stamped<StartContext>>,
    /// The identity of the earliest event that carried one.
    pub identity: Option<Stamped<Identity>>,
    /// The latest assignment.
    pub assignment: Option<Stamped<Option<String>>>,
    pub status_log: BTreeSet<Stamped<StatusChange>>,
    /// The latest explicit close.
    pub closing: Option<Stamped<Closing>>,
    /// The latest order linked to it.
    pub order: Option<Stamped<(String, OrderImpact)>>,
}

/// What the shell should do because of an event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Effect {
    /// Copy a customer's message into the helpdesk ticket (creating the ticket for the first).
    CopyToTicket {
        message_key: String,
        text: String,
        at: DateTime<Utc>,
    },
    /// Bring the helpdesk ticket's status in line with the incidence.
    SyncTicketStatus,
    /// Bring the chat conversation's status in line with the incidence.
    SyncChatStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub kind: TimelineKind,
    pub actor: Actor,
    pub content: Option<String>,
    pub metadata: serde_json::Value,
    /// The provider's id of the thing, so a redelivered event logs nothing new.
    pub provider_ref: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub incidence: Incidence,
    pub timeline: Vec<TimelineEntry>,
    pub effects: Vec<Effect>,
}

fn stamped<T>(event: &ConversationEvent, value: T) -> Stamped<T> {
    Stamped {
        at: event.at,
        key: event.key.clone(),
        value,
    }
}

fn earliest<T: Ord>(a: Option<Stamped<T>>, b: Option<Stamped<T>>) -> Option<Stamped<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest<T: Ord>(a: Option<Stamped<T>>, b: Option<Stamped<T>>) -> Option<Stamped<T>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Incidence {
    /// An incidence with no events yet; `apply` fills it.
    pub fn empty(id: IncidenceId, channel: Channel, conversation_id: ConversationId, at: DateTime<Utc>) -> Self {
        Self {
            id,
            channel,
            conversation_id,
            created_at: at,
            last_activity_at: at,
            start: None,
            identity: None,
            assignment: None,
            status_log: BTreeSet::new(),
            closing: None,
            order: None,
        }
    }

    fn latest_status(&self) -> Option<&Stamped<StatusChange>> {
        self.status_log.iter().next_back()
    }

    /// Open unless the latest status change resolved it.
    pub fn is_open(&self) -> bool {
        !matches!(
            self.latest_status(),
            Some(Stamped {
                value: StatusChange::Resolved { .. },
                ..
            })
        )
    }

    /// The resolutions since the latest reopening (the current resolved period), oldest first.
    fn current_resolutions(&self) -> impl Iterator<Item = &Stamped<StatusChange>> {
        let last_reopen = self
            .status_log
            .iter()
            .rfind(|s| matches!(s.value, StatusChange::Reopened { .. }));
        self.status_log
            .iter()
            .filter(move |s| last_reopen.is_none_or(|r| *s > r))
    }

    /// When it was resolved: the first resolution of the current resolved period.
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        if self.is_open() {
            return None;
        }
        self.current_resolutions().next().map(|s| s.at)
    }

    /// Whole seconds from creation to resolution.
    pub fn time_to_resolve_seconds(&self) -> Option<i64> {
        self.resolved_at().map(|r| (r - self.created_at).num_seconds().max(0))
    }

    /// Every label given by the resolutions of the current resolved period.
    pub fn labels(&self) -> BTreeSet<String> {
        if self.is_open() {
            return BTreeSet::new();
        }
        self.current_resolutions()
            .flat_map(|s| match &s.value {
                StatusChange::Resolved { labels, .. } => labels.iter().cloned().collect::<Vec<_>>(),
                StatusChange::Reopened { .. } => vec![],
            })
            .collect()
    }

    /// An explicit close counts while the incidence is resolved and no reopening came after it.
    fn current_closing(&self) -> Option<&Closing> {
        let closing = self.closing.as_ref()?;
        let reopened_after = self
            .status_log
            .iter()
            .any(|s| matches!(s.value, StatusChange::Reopened { .. }) && (s.at, &s.key) > (closing.at, &closing.key));
        (!self.is_open() && !reopened_after).then_some(&closing.value)
    }

    /// §2 rule 2: a person's explicit choice, else the labels.
    pub fn outcome(&self) -> (Outcome, OrderImpact) {
        if self.is_open() {
            return (Outcome::InProgress, self.order_impact_while_open());
        }
        if let Some(c) = self.current_closing() {
            return (c.outcome, c.order_impact);
        }
        let labels = self.labels();
        let has = |l: &str| labels.contains(l);
        let (outcome, impact) = if has(label::ORDER_PLACED) {
            (Outcome::Converted, OrderImpact::Placed)
        } else if has(label::DROPPED) || has(label::LOST) {
            (Outcome::Dropped, OrderImpact::Lost)
        } else if has(label::ORDER_MODIFIED) {
            (Outcome::Resolved, OrderImpact::Modified)
        } else {
            (Outcome::Resolved, OrderImpact::None)
        };
        // An order linked to the incidence outranks a resolution that said nothing about one.
        match (&self.order, impact) {
            (Some(o), OrderImpact::None) => (
                if o.value.1 == OrderImpact::Placed {
                    Outcome::Converted
                } else {
                    outcome
                },
                o.value.1,
            ),
            _ => (outcome, impact),
        }
    }

    fn order_impact_while_open(&self) -> OrderImpact {
        self.order.as_ref().map_or(OrderImpact::None, |o| o.value.1)
    }

    /// The first label that is not an outcome label (or the explicit category).
    pub fn issue_category(&self) -> Option<String> {
        if let Some(c) = self.current_closing()
            && c.issue_category.is_some()
        {
            return c.issue_category.clone();
        }
        const OUTCOME_LABELS: [&str; 4] = [label::ORDER_PLACED, label::DROPPED, label::LOST, label::ORDER_MODIFIED];
        self.labels()
            .into_iter()
            .find(|l| !OUTCOME_LABELS.contains(&l.as_str()))
    }

    pub fn root_cause(&self) -> Option<String> {
        self.current_closing().and_then(|c| c.root_cause.clone())
    }

    pub fn resolution_type(&self) -> Option<String> {
        self.current_closing().and_then(|c| c.resolution_type.clone())
    }

    pub fn start_context(&self) -> Option<&StartContext> {
        self.start.as_ref().map(|s| &s.value)
    }

    /// POST_ORDER when the customer already had an order when they reached out.
    pub fn stage(&self) -> Stage {
        match self.start_context().and_then(|c| c.order_id.as_ref()) {
            Some(_) => Stage::PostOrder,
            None => Stage::PreOrder,
        }
    }

    pub fn trigger(&self) -> Trigger {
        match self.start_context() {
            Some(c) if c.help_prompt_accepted => Trigger::SystemInitiated,
            _ => Trigger::UserInitiated,
        }
    }

    /// The order id: the linked order, else the one the customer had at the start.
    pub fn order_id(&self) -> Option<String> {
        self.order
            .as_ref()
            .map(|o| o.value.0.clone())
            .or_else(|| self.start_context().and_then(|c| c.order_id.clone()))
    }

    pub fn agent_id(&self) -> Option<String> {
        self.assignment.as_ref().and_then(|a| a.value.clone())
    }

    pub fn user_id(&self) -> Option<&UserId> {
        self.identity.as_ref().and_then(|i| i.value.user_id.as_ref())
    }

    pub fn provider_user_id(&self) -> Option<&str> {
        self.identity.as_ref().and_then(|i| i.value.provider_user_id.as_deref())
    }

    /// §6 priority for the customer's cart and event at the start.
    pub fn priority(&self, routing: &RoutingSettings) -> Priority {
        match self.start_context() {
            Some(c) => route(c.cart_value, c.event_type.as_deref(), routing).priority,
            None => Priority::None,
        }
    }
}

/// Applies one event. `state` is `None` for a conversation not seen before; `new_id` names the
/// incidence then (ids are the caller's, this function draws no randomness).
pub fn apply(
    state: Option<Incidence>,
    event: &ConversationEvent,
    channel: Channel,
    conversation_id: &ConversationId,
    new_id: IncidenceId,
) -> Decision {
    let before = state.clone();
    let mut inc = state.unwrap_or_else(|| Incidence::empty(new_id, channel, conversation_id.clone(), event.at));

    inc.created_at = inc.created_at.min(event.at);
    inc.last_activity_at = inc.last_activity_at.max(event.at);
    if let Some(ctx) = &event.context {
        inc.start = earliest(inc.start.take(), Some(stamped(event, ctx.clone())));
    }
    if let Some(identity) = &event.identity {
        inc.identity = earliest(inc.identity.take(), Some(stamped(event, identity.clone())));
    }

    let mut timeline = Vec::new();
    let mut effects = Vec::new();
    let entry = |kind, actor, content: Option<String>, metadata| TimelineEntry {
        kind,
        actor,
        content,
        metadata,
        provider_ref: event.key.clone(),
        at: event.at,
    };
    let was_open = before.as_ref().is_none_or(Incidence::is_open);

    match &event.kind {
        EventKind::Message {
            actor,
            text,
            private,
            agent_id,
        } => {
            let kind = if *private {
                TimelineKind::Note
            } else {
                TimelineKind::Message
            };
            let meta = serde_json::json!({ "private": private, "agent_id": agent_id });
            timeline.push(entry(kind, *actor, Some(text.clone()), meta));
            // Only the customer's own words go to the ticket: agents', bots' and the echoes of
            // what Switchboard sent never do (no loops).
            if *actor == Actor::User && !*private && channel == Channel::InAppChat {
                effects.push(Effect::CopyToTicket {
                    message_key: event.key.clone(),
                    text: text.clone(),
                    at: event.at,
                });
            }
        }
        EventKind::Assigned { agent_id } => {
            inc.assignment = latest(inc.assignment.take(), Some(stamped(event, agent_id.clone())));
            timeline.push(entry(
                TimelineKind::AgentAssigned,
                Actor::System,
                None,
                serde_json::json!({ "agent_id": agent_id }),
            ));
        }
        EventKind::Resolved { labels, source, by } => {
            let labels: BTreeSet<String> = labels
                .iter()
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty())
                .collect();
            let meta = serde_json::json!({ "source": source, "labels": labels });
            inc.status_log.insert(stamped(
                event,
                StatusChange::Resolved {
                    labels,
                    source: *source,
                },
            ));
            timeline.push(entry(TimelineKind::Resolved, *by, None, meta));
        }
        EventKind::Reopened { source, by } => {
            inc.status_log
                .insert(stamped(event, StatusChange::Reopened { source: *source }));
            timeline.push(entry(
                TimelineKind::Reopened,
                *by,
                None,
                serde_json::json!({ "source": source }),
            ));
        }
        EventKind::Closed(closing) => {
            inc.closing = latest(inc.closing.take(), Some(stamped(event, closing.clone())));
            let source = Source::Switchboard;
            inc.status_log.insert(stamped(
                event,
                StatusChange::Resolved {
                    labels: BTreeSet::new(),
                    source,
                },
            ));
            let meta = serde_json::json!({ "source": source, "outcome": closing.outcome, "order_impact": closing.order_impact });
            timeline.push(entry(
                TimelineKind::Resolved,
                Actor::Agent,
                closing.root_cause.clone(),
                meta,
            ));
        }
        EventKind::OrderLinked { order_id, impact } => {
            inc.order = latest(inc.order.take(), Some(stamped(event, (order_id.clone(), *impact))));
            timeline.push(entry(
                TimelineKind::Note,
                Actor::System,
                None,
                serde_json::json!({ "order_id": order_id, "order_impact": impact }),
            ));
        }
    }

    // A change of open/resolved is mirrored to the side it did not come from (both, when it came
    // from Switchboard itself). Mirroring an already-matching side is a no-op, so loops end.
    if was_open != inc.is_open() {
        let source = match &event.kind {
            EventKind::Resolved { source, .. } | EventKind::Reopened { source, .. } => *source,
            _ => Source::Switchboard,
        };
        if source != Source::Helpdesk {
            effects.push(Effect::SyncTicketStatus);
        }
        if source != Source::Chat {
            effects.push(Effect::SyncChatStatus);
        }
    }
    Decision {
        incidence: inc,
        timeline,
        effects,
    }
}

#[cfg(test)]
mod tests;
