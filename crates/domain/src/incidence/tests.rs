use chrono::{Duration, TimeZone};
use proptest::prelude::*;
use uuid::Uuid;

use super::*;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).single().expect("valid time")
}

fn conv() -> ConversationId {
    ConversationId::parse("conv-1").expect("id")
}

fn id() -> IncidenceId {
    IncidenceId(Uuid::from_u128(42))
}

fn ev(at: i64, key: &str, kind: EventKind) -> ConversationEvent {
    ConversationEvent {
        at: t(at),
        key: key.into(),
        kind,
        context: None,
        identity: None,
    }
}

fn user_says(at: i64, key: &str, text: &str) -> ConversationEvent {
    ev(
        at,
        key,
        EventKind::Message {
            actor: Actor::User,
            text: text.into(),
            private: false,
            agent_id: None,
        },
    )
}

fn resolved(at: i64, key: &str, labels: &[&str], source: Source) -> ConversationEvent {
    ev(
        at,
        key,
        EventKind::Resolved {
            labels: labels.iter().map(|l| l.to_string()).collect(),
            source,
            by: Actor::Agent,
        },
    )
}

fn reopened(at: i64, key: &str, source: Source) -> ConversationEvent {
    ev(
        at,
        key,
        EventKind::Reopened {
            source,
            by: Actor::User,
        },
    )
}

fn run(events: &[ConversationEvent]) -> (Incidence, Vec<TimelineEntry>, Vec<Effect>) {
    let mut state = None;
    let (mut timeline, mut effects) = (vec![], vec![]);
    for e in events {
        let d = apply(state, e, Channel::InAppChat, &conv(), id());
        timeline.extend(d.timeline);
        effects.extend(d.effects);
        state = Some(d.incidence);
    }
    (state.expect("at least one event"), timeline, effects)
}

fn ctx(order_id: Option<&str>) -> StartContext {
    StartContext {
        app_screen: "CHECKOUT".into(),
        cart_value: Money::from_minor(1_250_000),
        guest_count: Some(80),
        event_type: Some("WEDDING".into()),
        friction_score: 65,
        order_id: order_id.map(str::to_owned),
        help_prompt_accepted: false,
    }
}

#[test]
fn the_first_event_creates_the_incidence_with_its_context() {
    let mut first = user_says(0, "m1", "hello");
    first.context = Some(ctx(None));
    first.identity = Some(Identity {
        user_id: Some(UserId::parse("u-1").expect("id")),
        provider_user_id: Some("fc-1".into()),
    });
    let (inc, timeline, effects) = run(&[first]);
    assert_eq!(inc.id, id());
    assert_eq!(inc.stage(), Stage::PreOrder);
    assert_eq!(inc.trigger(), Trigger::UserInitiated);
    assert_eq!(inc.outcome(), (Outcome::InProgress, OrderImpact::None));
    assert_eq!(inc.user_id().map(UserId::as_str), Some("u-1"));
    assert_eq!(inc.provider_user_id(), Some("fc-1"));
    assert_eq!(
        inc.priority(&RoutingSettings::default()),
        Priority::High,
        "a wedding gets chat and call"
    );
    assert_eq!(timeline.len(), 1);
    assert_eq!(
        (timeline[0].kind, timeline[0].actor),
        (TimelineKind::Message, Actor::User)
    );
    assert_eq!(
        effects,
        vec![Effect::CopyToTicket {
            message_key: "m1".into(),
            text: "hello".into(),
            at: t(0)
        }]
    );
}

#[test]
fn post_order_when_the_customer_had_an_order_and_system_initiated_after_a_prompt() {
    let mut e = user_says(0, "m1", "where is my food");
    e.context = Some(StartContext {
        help_prompt_accepted: true,
        ..ctx(Some("ord-9"))
    });
    let (inc, ..) = run(&[e]);
    assert_eq!(inc.stage(), Stage::PostOrder);
    assert_eq!(inc.trigger(), Trigger::SystemInitiated);
    assert_eq!(inc.order_id().as_deref(), Some("ord-9"));
}

#[test]
fn only_the_customers_public_words_go_to_the_ticket() {
    let agent = ev(
        1,
        "m2",
        EventKind::Message {
            actor: Actor::Agent,
            text: "hi".into(),
            private: false,
            agent_id: Some("a1".into()),
        },
    );
    let bot = ev(
        2,
        "m3",
        EventKind::Message {
            actor: Actor::Bot,
            text: "menu".into(),
            private: false,
            agent_id: None,
        },
    );
    let system = ev(
        3,
        "m4",
        EventKind::Message {
            actor: Actor::System,
            text: "assigned".into(),
            private: false,
            agent_id: None,
        },
    );
    let note = ev(
        4,
        "m5",
        EventKind::Message {
            actor: Actor::Agent,
            text: "vip".into(),
            private: true,
            agent_id: None,
        },
    );
    let (_, timeline, effects) = run(&[user_says(0, "m1", "hello"), agent, bot, system, note]);
    assert_eq!(effects.len(), 1);
    assert_eq!(timeline.iter().filter(|e| e.kind == TimelineKind::Note).count(), 1);
}

#[test]
fn resolution_labels_decide_the_outcome() {
    let cases: &[(&[&str], Outcome, OrderImpact, Option<&str>)] = &[
        (&["order_placed"], Outcome::Converted, OrderImpact::Placed, None),
        (&["dropped"], Outcome::Dropped, OrderImpact::Lost, None),
        (
            &["lost", "pricing"],
            Outcome::Dropped,
            OrderImpact::Lost,
            Some("pricing"),
        ),
        (&["order_modified"], Outcome::Resolved, OrderImpact::Modified, None),
        (
            &["menu_question"],
            Outcome::Resolved,
            OrderImpact::None,
            Some("menu_question"),
        ),
        (&[], Outcome::Resolved, OrderImpact::None, None),
        (
            &["Order_Placed", "portions"],
            Outcome::Converted,
            OrderImpact::Placed,
            Some("portions"),
        ),
    ];
    for (labels, outcome, impact, category) in cases {
        let (inc, ..) = run(&[user_says(0, "m1", "hi"), resolved(60, "r1", labels, Source::Helpdesk)]);
        assert_eq!(inc.outcome(), (*outcome, *impact), "{labels:?}");
        assert_eq!(inc.issue_category().as_deref(), *category, "{labels:?}");
    }
}

#[test]
fn time_to_resolve_is_the_whole_duration() {
    let (inc, ..) = run(&[user_says(0, "m1", "hi"), resolved(86_400 + 5, "r1", &[], Source::Chat)]);
    assert_eq!(inc.resolved_at(), Some(t(86_405)));
    assert_eq!(inc.time_to_resolve_seconds(), Some(86_405), "not .seconds modulo a day");
}

#[test]
fn reopen_returns_to_in_progress_and_a_later_resolution_recomputes() {
    let events = [
        user_says(0, "m1", "hi"),
        resolved(100, "r1", &["dropped"], Source::Chat),
        reopened(200, "o1", Source::Chat),
    ];
    let (inc, timeline, _) = run(&events);
    assert!(inc.is_open());
    assert_eq!(inc.outcome(), (Outcome::InProgress, OrderImpact::None));
    assert_eq!((inc.resolved_at(), inc.time_to_resolve_seconds()), (None, None));
    assert_eq!(timeline.last().map(|e| e.kind), Some(TimelineKind::Reopened));

    let mut more = events.to_vec();
    more.push(resolved(500, "r2", &["order_placed"], Source::Helpdesk));
    let (inc, ..) = run(&more);
    assert_eq!(inc.resolved_at(), Some(t(500)));
    assert_eq!(inc.time_to_resolve_seconds(), Some(500));
    assert_eq!(
        inc.outcome(),
        (Outcome::Converted, OrderImpact::Placed),
        "labels of the earlier period are gone"
    );
}

#[test]
fn a_second_resolution_in_the_same_period_keeps_the_first_time_and_adds_labels() {
    let (inc, ..) = run(&[
        user_says(0, "m1", "hi"),
        resolved(100, "r1", &[], Source::Helpdesk),
        resolved(130, "r2", &["order_placed"], Source::Chat),
    ]);
    assert_eq!(inc.resolved_at(), Some(t(100)));
    assert_eq!(inc.outcome().0, Outcome::Converted);
}

#[test]
fn status_changes_are_mirrored_to_the_other_side_once() {
    let (.., effects) = run(&[user_says(0, "m1", "hi"), resolved(10, "r1", &[], Source::Chat)]);
    assert!(effects.contains(&Effect::SyncTicketStatus) && !effects.contains(&Effect::SyncChatStatus));
    let (.., effects) = run(&[user_says(0, "m1", "hi"), resolved(10, "r1", &[], Source::Helpdesk)]);
    assert!(effects.contains(&Effect::SyncChatStatus) && !effects.contains(&Effect::SyncTicketStatus));
    // The other side's echo of the same resolution changes nothing, so mirrors nothing: no loop.
    let (.., effects) = run(&[
        user_says(0, "m1", "hi"),
        resolved(10, "r1", &[], Source::Helpdesk),
        resolved(11, "r2", &[], Source::Chat),
    ]);
    assert_eq!(effects.iter().filter(|e| **e == Effect::SyncTicketStatus).count(), 0);
    let (.., effects) = run(&[user_says(0, "m1", "hi"), reopened(5, "o0", Source::Chat)]);
    assert!(
        !effects.contains(&Effect::SyncTicketStatus),
        "reopening an open incidence is no change"
    );
}

#[test]
fn an_explicit_close_sets_the_outcome_and_syncs_both_sides() {
    let closing = Closing {
        outcome: Outcome::Dropped,
        order_impact: OrderImpact::Lost,
        issue_category: Some("delivery_area".into()),
        root_cause: Some("we do not deliver there".into()),
        resolution_type: Some("explained".into()),
    };
    let (inc, _, effects) = run(&[user_says(0, "m1", "hi"), ev(50, "close-1", EventKind::Closed(closing))]);
    assert_eq!(inc.outcome(), (Outcome::Dropped, OrderImpact::Lost));
    assert_eq!(inc.issue_category().as_deref(), Some("delivery_area"));
    assert_eq!(inc.root_cause().as_deref(), Some("we do not deliver there"));
    assert!(effects.contains(&Effect::SyncTicketStatus) && effects.contains(&Effect::SyncChatStatus));
}

#[test]
fn a_linked_order_sets_the_impact() {
    let order = ev(
        30,
        "order-1",
        EventKind::OrderLinked {
            order_id: "o-1".into(),
            impact: OrderImpact::Placed,
        },
    );
    let (inc, ..) = run(&[user_says(0, "m1", "hi"), order.clone()]);
    assert_eq!(inc.outcome(), (Outcome::InProgress, OrderImpact::Placed));
    let (inc, ..) = run(&[user_says(0, "m1", "hi"), order, resolved(40, "r1", &[], Source::Chat)]);
    assert_eq!(inc.outcome(), (Outcome::Converted, OrderImpact::Placed));
    assert_eq!(inc.order_id().as_deref(), Some("o-1"));
}

#[test]
fn a_resolution_before_the_message_that_preceded_it_ends_as_in_order() {
    let ordered = [
        user_says(0, "m1", "hi"),
        resolved(10, "r1", &["order_placed"], Source::Chat),
    ];
    let reversed = [ordered[1].clone(), ordered[0].clone()];
    assert_eq!(run(&ordered).0, run(&reversed).0);
    assert_eq!(run(&reversed).0.time_to_resolve_seconds(), Some(10));
}

// ---- properties ----

fn arb_event() -> impl Strategy<Value = ConversationEvent> {
    let kind = prop_oneof![
        (
            prop::sample::select(vec![Actor::User, Actor::Agent, Actor::Bot]),
            "[a-z]{1,8}",
            any::<bool>()
        )
            .prop_map(|(actor, text, private)| EventKind::Message {
                actor,
                text,
                private,
                agent_id: None
            }),
        prop::option::of("[a-c]").prop_map(|agent_id| EventKind::Assigned { agent_id }),
        (
            prop::collection::vec(
                prop::sample::select(vec![
                    "order_placed",
                    "dropped",
                    "lost",
                    "order_modified",
                    "menu",
                    "price"
                ]),
                0..3
            ),
            prop::sample::select(Source::ALL.to_vec())
        )
            .prop_map(|(labels, source)| EventKind::Resolved {
                labels: labels.into_iter().map(String::from).collect(),
                source,
                by: Actor::Agent
            }),
        prop::sample::select(Source::ALL.to_vec()).prop_map(|source| EventKind::Reopened {
            source,
            by: Actor::User
        }),
        (
            prop::sample::select(Outcome::ALL.to_vec()),
            prop::sample::select(OrderImpact::ALL.to_vec())
        )
            .prop_map(|(outcome, order_impact)| {
                EventKind::Closed(Closing {
                    outcome,
                    order_impact,
                    issue_category: None,
                    root_cause: None,
                    resolution_type: None,
                })
            }),
        (
            "o-[0-9]",
            prop::sample::select(vec![OrderImpact::Placed, OrderImpact::Modified])
        )
            .prop_map(|(order_id, impact)| EventKind::OrderLinked { order_id, impact }),
    ];
    let context = prop::option::of(
        (0u8..=100, prop::option::of("o-[0-9]")).prop_map(|(friction_score, order_id)| StartContext {
            friction_score,
            order_id,
            ..ctx(None)
        }),
    );
    let identity = prop::option::of("u-[0-9]").prop_map(|u| {
        u.map(|u| Identity {
            user_id: UserId::parse(u).ok(),
            provider_user_id: None,
        })
    });
    // Few distinct times, so ties between events are common.
    (0i64..20, kind, context, identity).prop_map(|(at, kind, context, identity)| ConversationEvent {
        at: t(at * 30),
        key: String::new(),
        kind,
        context,
        identity,
    })
}

/// A conversation's events: distinct keys, as providers give.
fn arb_conversation() -> impl Strategy<Value = Vec<ConversationEvent>> {
    prop::collection::vec(arb_event(), 1..14).prop_map(|events| {
        events
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e.key = format!("k{i}");
                e
            })
            .collect()
    })
}

fn fold(events: &[ConversationEvent]) -> Incidence {
    run(events).0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn applying_an_event_twice_equals_applying_it_once(events in arb_conversation(), pick in any::<prop::sample::Index>()) {
        let e = &events[pick.index(events.len())];
        let state = fold(&events);
        let once = apply(Some(state), e, Channel::InAppChat, &conv(), id());
        let twice = apply(Some(once.incidence.clone()), e, Channel::InAppChat, &conv(), id());
        prop_assert_eq!(&once.incidence, &twice.incidence);
        // The second time mirrors nothing.
        prop_assert!(!twice.effects.iter().any(|e| matches!(e, Effect::SyncTicketStatus | Effect::SyncChatStatus)));
    }

    #[test]
    fn any_order_ends_in_the_state_of_the_ordered_stream(events in arb_conversation(), seed in any::<u64>()) {
        let mut ordered = events.clone();
        ordered.sort_by(|a, b| (a.at, &a.key).cmp(&(b.at, &b.key)));
        let mut shuffled = events;
        // A deterministic shuffle from the seed (the core has no randomness of its own).
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let a = fold(&ordered);
        let b = fold(&shuffled);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(a.outcome(), b.outcome());
        prop_assert_eq!(a.resolved_at(), b.resolved_at());
        prop_assert_eq!(a.created_at, ordered[0].at);
    }

    #[test]
    fn every_customer_message_is_copied_once_whatever_the_order(events in arb_conversation()) {
        let (_, _, effects) = run(&events);
        let copies: Vec<_> = effects.iter().filter_map(|e| match e { Effect::CopyToTicket { message_key, .. } => Some(message_key.clone()), _ => None }).collect();
        let expected: Vec<_> = events.iter().filter(|e| matches!(&e.kind, EventKind::Message { actor: Actor::User, private: false, .. })).map(|e| e.key.clone()).collect();
        prop_assert_eq!(copies, expected);
    }

    #[test]
    fn time_to_resolve_is_never_negative(events in arb_conversation()) {
        let inc = fold(&events);
        if let Some(ttr) = inc.time_to_resolve_seconds() {
            prop_assert!(ttr >= 0);
            prop_assert!(inc.resolved_at().is_some_and(|r| r >= inc.created_at - Duration::seconds(0)));
        }
    }
}
