//! Table-driven boundary tests for customer context, friction scoring and channel routing.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use domain::context::{
    CartInput, CartUpdate, ContextError, ContextProblem, ContextSettings, CustomerContext, FrictionSignal, Profile,
    ProfileInput, ProfileUpdate, ScreenView, SignalInput, SignalKind, agent_properties, apply_cart, apply_order,
    apply_profile, apply_screen, apply_signal,
};
use domain::friction::{FrictionReason, FrictionScore, FrictionSettings, FrictionWeights, rescore, score};
use domain::ids::UserId;
use domain::money::{Currency, Money};
use domain::routing::{
    ChannelNotOffered, Priority, RouteDecision, RoutingSettings, RoutingSettingsError, SupportChannel, check_channel,
    route,
};
use serde_json::json;

const INR: Currency = Currency::INR;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).single().expect("valid time")
}

fn at_ms(ms: i64) -> DateTime<Utc> {
    t0() + TimeDelta::milliseconds(ms)
}

fn at(secs: i64) -> DateTime<Utc> {
    at_ms(secs * 1000)
}

fn user() -> UserId {
    UserId::parse("u-42").expect("user id")
}

/// One customer action, at a number of seconds after `t0`.
#[derive(Clone, Debug)]
enum Step {
    Screen(i64, &'static str),
    Back(i64, &'static str),
    Signal(i64, &'static str),
    Cart(i64, serde_json::Value),
    Profile(i64, serde_json::Value),
}

fn run(steps: &[Step]) -> CustomerContext {
    let settings = ContextSettings::default();
    steps
        .iter()
        .fold(None, |ctx, step| Some(apply(ctx, step, &settings)))
        .expect("at least one step")
}

fn apply(ctx: Option<CustomerContext>, step: &Step, settings: &ContextSettings) -> CustomerContext {
    match step {
        Step::Screen(s, name) => apply_screen(
            ctx,
            &user(),
            &ScreenView::new(name, false).expect("screen"),
            at(*s),
            settings,
        ),
        Step::Back(s, name) => apply_screen(
            ctx,
            &user(),
            &ScreenView::new(name, true).expect("screen"),
            at(*s),
            settings,
        ),
        Step::Signal(s, kind) => {
            let signal = FrictionSignal::new(SignalKind::parse(kind).expect("kind"));
            apply_signal(ctx, &user(), &signal, at(*s), settings)
        }
        Step::Cart(s, body) => {
            let input: CartInput = serde_json::from_value(body.clone()).expect("cart json");
            apply_cart(
                ctx,
                &user(),
                &CartUpdate::parse(input, INR).expect("cart"),
                at(*s),
                settings,
            )
        }
        Step::Profile(s, body) => {
            let input: ProfileInput = serde_json::from_value(body.clone()).expect("profile json");
            apply_profile(
                ctx,
                &user(),
                &ProfileUpdate::parse(input, INR).expect("profile"),
                at(*s),
            )
        }
    }
}

fn signals(kind: &'static str, n: usize) -> Vec<Step> {
    (0..n).map(|i| Step::Signal(i as i64, kind)).collect()
}

fn fired(ctx: &CustomerContext, now: DateTime<Utc>, settings: &FrictionSettings) -> Vec<FrictionReason> {
    score(ctx, now, settings).reasons
}

// ---------------------------------------------------------------------------------------------
// Friction: each rule at its boundary

#[test]
fn checkout_time_boundary_from_entry_timestamp() {
    let settings = FrictionSettings::default();
    use Step::*;
    // (case, steps, score at ms after t0, expected time on checkout in ms, fires)
    let cases: Vec<(&str, Vec<Step>, i64, i64, bool)> = vec![
        (
            "60 s on checkout",
            vec![Screen(0, "MENU_BROWSE"), Screen(0, "checkout")],
            60_000,
            60_000,
            false,
        ),
        ("61 s on checkout", vec![Screen(0, "checkout")], 61_000, 61_000, true),
        (
            "60.001 s on checkout",
            vec![Screen(0, "CHECKOUT")],
            60_001,
            60_001,
            true,
        ),
        (
            "entered at 10 s, 61 s later",
            vec![Screen(0, "HOME"), Screen(10, "CHECKOUT")],
            71_000,
            61_000,
            true,
        ),
        (
            "entered at 10 s, 60 s later",
            vec![Screen(0, "HOME"), Screen(10, "CHECKOUT")],
            70_000,
            60_000,
            false,
        ),
        (
            "re-reporting CHECKOUT keeps the entry time",
            vec![Screen(0, "CHECKOUT"), Screen(30, "CHECKOUT")],
            61_000,
            61_000,
            true,
        ),
        (
            "left checkout after 100 s: not on checkout",
            vec![Screen(0, "CHECKOUT"), Screen(100, "PAYMENT")],
            200_000,
            100_000,
            false,
        ),
        (
            "40 s + re-entered 20 s = 60 s",
            vec![Screen(0, "CHECKOUT"), Screen(40, "PAYMENT"), Screen(100, "CHECKOUT")],
            120_000,
            60_000,
            false,
        ),
        (
            "40 s + re-entered 21 s = 61 s",
            vec![Screen(0, "CHECKOUT"), Screen(40, "PAYMENT"), Screen(100, "CHECKOUT")],
            121_000,
            61_000,
            true,
        ),
        (
            "signals do not move the entry time",
            vec![Screen(0, "CHECKOUT"), Signal(50, "INACTIVITY")],
            61_000,
            61_000,
            true,
        ),
        ("never on checkout", vec![Screen(0, "MENU_BROWSE")], 500_000, 0, false),
    ];
    for (case, steps, now_ms, expected_ms, fires) in cases {
        let ctx = run(&steps);
        let now = at_ms(now_ms);
        assert_eq!(
            ctx.time_on_checkout(now),
            TimeDelta::milliseconds(expected_ms),
            "{case}"
        );
        let s = score(&ctx, now, &settings);
        let expected = if fires {
            vec![FrictionReason::InactivityCheckout]
        } else {
            vec![]
        };
        assert_eq!(s.reasons, expected, "{case}");
        assert_eq!(s.score, if fires { 30 } else { 0 }, "{case}");
    }
}

#[test]
fn counter_boundaries() {
    let settings = FrictionSettings::default();
    // (case, steps, expected reasons, expected score)
    let back = |n: usize| (0..n).map(|i| Step::Back(i as i64, "MENU_BROWSE")).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<Step>, Vec<FrictionReason>, u8)> = vec![
        ("3 back navigations (screen)", back(3), vec![], 0),
        (
            "4 back navigations (screen)",
            back(4),
            vec![FrictionReason::BackNavigation],
            25,
        ),
        ("3 BACK_NAV signals", signals("BACK_NAV", 3), vec![], 0),
        (
            "4 BACK_NAV signals",
            signals("back_nav", 4),
            vec![FrictionReason::BackNavigation],
            25,
        ),
        ("5 price checks", signals("PRICE_CHECK", 5), vec![], 0),
        (
            "6 price checks",
            signals("PRICE_CHECK", 6),
            vec![FrictionReason::PriceChecks],
            20,
        ),
        ("no payment failure", signals("INACTIVITY", 3), vec![], 0),
        (
            "1 payment failure",
            signals("PAYMENT_FAILURE", 1),
            vec![FrictionReason::PaymentFailure],
            40,
        ),
        ("other signals score 0", signals("RAGE_CLICK", 10), vec![], 0),
    ];
    for (case, steps, reasons, expected) in cases {
        let ctx = run(&steps);
        let s = score(&ctx, at(20), &settings);
        assert_eq!((s.reasons, s.score), (reasons, expected), "{case}");
    }
}

#[test]
fn high_value_events_and_first_time_users() {
    let settings = FrictionSettings::default();
    let cart = |event: &str| Step::Cart(0, json!({"cart_value": 100, "items": [], "event_type": event}));
    let cases: Vec<(&str, Vec<Step>, Vec<FrictionReason>)> = vec![
        ("WEDDING", vec![cart("WEDDING")], vec![FrictionReason::HighValueEvent]),
        (
            "CORPORATE",
            vec![cart("CORPORATE")],
            vec![FrictionReason::HighValueEvent],
        ),
        (
            "RELIGIOUS",
            vec![cart("RELIGIOUS")],
            vec![FrictionReason::HighValueEvent],
        ),
        (
            "lower case wedding",
            vec![cart("wedding")],
            vec![FrictionReason::HighValueEvent],
        ),
        ("BIRTHDAY is not high value", vec![cart("BIRTHDAY")], vec![]),
        ("no event", vec![Step::Cart(0, json!({"cart_value": 100}))], vec![]),
        (
            "0 past orders",
            vec![Step::Profile(0, json!({"past_order_count": 0}))],
            vec![FrictionReason::FirstTimeUser],
        ),
        (
            "1 past order",
            vec![Step::Profile(0, json!({"past_order_count": 1}))],
            vec![],
        ),
        (
            "unknown past orders (default)",
            vec![Step::Profile(0, json!({"name": "Asha"}))],
            vec![],
        ),
    ];
    for (case, steps, reasons) in cases {
        assert_eq!(fired(&run(&steps), at(1), &settings), reasons, "{case}");
    }
    let ctx = run(&[Step::Profile(0, json!({"name": "Asha"}))]);
    let unknown_is_new = FrictionSettings {
        unknown_order_count_is_first_time: true,
        ..FrictionSettings::default()
    };
    assert_eq!(fired(&ctx, at(1), &unknown_is_new), vec![FrictionReason::FirstTimeUser]);
    let custom_events = FrictionSettings {
        high_value_events: vec!["birthday".into()],
        ..FrictionSettings::default()
    };
    let birthday = run(&[Step::Cart(0, json!({"cart_value": 1, "event_type": "Birthday"}))]);
    assert_eq!(
        fired(&birthday, at(1), &custom_events),
        vec![FrictionReason::HighValueEvent]
    );
}

fn everything_firing() -> Vec<Step> {
    let mut steps = vec![
        Step::Profile(0, json!({"past_order_count": 0, "language": "en"})),
        Step::Cart(0, json!({"cart_value": 30000, "event_type": "WEDDING"})),
    ];
    steps.extend((0..4).map(|i| Step::Back(i, "MENU_BROWSE")));
    steps.extend((0..6).map(|i| Step::Signal(i, "PRICE_CHECK")));
    steps.push(Step::Signal(5, "PAYMENT_FAILURE"));
    steps.push(Step::Screen(10, "CHECKOUT"));
    steps
}

#[test]
fn score_is_capped_at_100() {
    let ctx = run(&everything_firing());
    let s = score(&ctx, at(100), &FrictionSettings::default());
    assert_eq!(s.reasons, FrictionReason::ALL.to_vec());
    assert_eq!(s.score, 100, "30+25+20+15+10+40 = 140, capped");
    assert!(s.should_show_help);
    assert_eq!(s.help_message.as_deref(), Some("Need help completing your order?"));
}

#[test]
fn threshold_59_and_60() {
    // Back navigation and payment failure fire; their weights decide the score.
    let steps: Vec<Step> = (0..4)
        .map(|i| Step::Back(i, "PAYMENT"))
        .chain([Step::Signal(5, "PAYMENT_FAILURE")])
        .collect();
    let ctx = run(&steps);
    for (back, payment, expected, help) in [(19, 40, 59, false), (20, 40, 60, true), (20, 41, 61, true)] {
        let settings = FrictionSettings {
            weights: FrictionWeights {
                back_navigation: back,
                payment_failure: payment,
                ..FrictionWeights::default()
            },
            ..FrictionSettings::default()
        };
        let s = score(&ctx, at(6), &settings);
        assert_eq!(s.score, expected);
        assert_eq!(s.should_show_help, help, "score {expected}");
        assert_eq!(
            s.help_message.as_deref(),
            help.then_some("Having trouble with payment?"),
            "score {expected}"
        );
    }
    // The threshold itself is a setting.
    let settings = FrictionSettings {
        threshold: 66,
        ..FrictionSettings::default()
    };
    let s = score(&ctx, at(6), &settings);
    assert_eq!((s.score, s.should_show_help), (65, false));
    let settings = FrictionSettings {
        threshold: 65,
        ..FrictionSettings::default()
    };
    assert!(score(&ctx, at(6), &settings).should_show_help);
}

#[test]
fn zero_weight_switches_a_rule_off() {
    let ctx = run(&signals("PAYMENT_FAILURE", 1));
    let settings = FrictionSettings {
        weights: FrictionWeights {
            payment_failure: 0,
            ..FrictionWeights::default()
        },
        ..FrictionSettings::default()
    };
    assert_eq!(score(&ctx, at(1), &settings), FrictionScore::zero());
}

#[test]
fn friction_disabled_scores_zero_and_never_helps() {
    let ctx = run(&everything_firing());
    let settings = FrictionSettings {
        enabled: false,
        threshold: 0,
        ..FrictionSettings::default()
    };
    let s = score(&ctx, at(100), &settings);
    assert_eq!(s, FrictionScore::zero());
    assert!(!s.should_show_help);
    let (ctx, s) = rescore(ctx, at(100), &settings);
    assert_eq!((ctx.friction_score, s.score), (0, 0));
}

#[test]
fn rescore_records_the_score() {
    let (ctx, s) = rescore(run(&everything_firing()), at(100), &FrictionSettings::default());
    assert_eq!((ctx.friction_score, s.score), (100, 100));
    assert_eq!(ctx.snapshot().friction_score, 100);
}

#[test]
fn help_messages_per_screen_and_language() {
    let mut settings = FrictionSettings {
        threshold: 0,
        ..FrictionSettings::default()
    };
    let hi = [("CHECKOUT", "ऑर्डर पूरा करने में मदद चाहिए?"), ("*", "मदद चाहिए?")];
    settings.help_messages.by_language.insert(
        "hi".into(),
        hi.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    );
    let en_in = [("guest_count", "How many guests, yaar?")];
    settings.help_messages.by_language.insert(
        "en-IN".into(),
        en_in.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    );
    // (screen, language, expected)
    let cases = [
        ("GUEST_COUNT", None, "Need help deciding portions?"),
        ("menu_browse", None, "Want a personalized recommendation?"),
        ("CHECKOUT", None, "Need help completing your order?"),
        ("PAYMENT", None, "Having trouble with payment?"),
        ("HOME", None, "Need help?"),
        ("CHECKOUT", Some("hi"), "ऑर्डर पूरा करने में मदद चाहिए?"),
        ("PAYMENT", Some("hi"), "मदद चाहिए?"),
        ("CHECKOUT", Some("hi-IN"), "ऑर्डर पूरा करने में मदद चाहिए?"),
        ("GUEST_COUNT", Some("en_IN"), "How many guests, yaar?"),
        ("CHECKOUT", Some("en-IN"), "Need help completing your order?"),
        ("CHECKOUT", Some("ta"), "Need help completing your order?"),
    ];
    for (screen, language, expected) in cases {
        let mut steps = vec![Step::Screen(0, screen)];
        if let Some(l) = language {
            steps.push(Step::Profile(0, json!({ "language": l })));
        }
        let s = score(&run(&steps), at(1), &settings);
        assert_eq!(s.help_message.as_deref(), Some(expected), "{screen} {language:?}");
    }
    // No screen at all: the default.
    let ctx = run(&[Step::Profile(0, json!({"name": "A"}))]);
    assert_eq!(
        score(&ctx, at(1), &settings).help_message.as_deref(),
        Some("Need help?")
    );
    // Below the threshold: no message.
    let s = score(
        &run(&[Step::Screen(0, "CHECKOUT")]),
        at(1),
        &FrictionSettings::default(),
    );
    assert_eq!(s.help_message, None);
}

#[test]
fn friction_settings_fill_from_defaults_and_validate() {
    let s: FrictionSettings =
        serde_json::from_value(json!({"threshold": 50, "weights": {"payment_failure": 60}})).expect("json");
    assert_eq!(s.threshold, 50);
    assert_eq!(s.weights.payment_failure, 60);
    assert_eq!(s.weights.back_navigation, 25);
    assert_eq!(s.checkout_inactivity_seconds, 60);
    assert_eq!(s.high_value_events, ["WEDDING", "CORPORATE", "RELIGIOUS"]);
    assert_eq!(s.help_messages.default, "Need help?");
    assert!(s.enabled);
    assert_eq!(s.validate(), Ok(()));
    use domain::friction::FrictionSettingsError as E;
    let bad = FrictionSettings {
        threshold: 101,
        ..FrictionSettings::default()
    };
    assert_eq!(bad.validate(), Err(E::ThresholdOutOfRange));
    let bad = FrictionSettings {
        weights: FrictionWeights {
            price_checks: 101,
            ..FrictionWeights::default()
        },
        ..FrictionSettings::default()
    };
    assert_eq!(
        bad.validate(),
        Err(E::WeightOutOfRange {
            rule: FrictionReason::PriceChecks
        })
    );
    let bad = FrictionSettings {
        high_value_events: vec![" ".into()],
        ..FrictionSettings::default()
    };
    assert_eq!(bad.validate(), Err(E::EmptyEventName));
    let json = serde_json::to_value(FrictionScore {
        score: 65,
        reasons: vec![FrictionReason::InactivityCheckout],
        should_show_help: true,
        help_message: None,
    })
    .expect("json");
    assert_eq!(json["reasons"], json!(["inactivity_checkout"]));
}

// ---------------------------------------------------------------------------------------------
// Routing

fn inr(text: &str) -> Money {
    Money::parse_decimal(text, INR).expect("amount")
}

#[test]
fn routing_by_value_at_every_boundary() {
    use SupportChannel::{Call, Chat};
    let settings = RoutingSettings::default();
    // (order value, channels, priority, help button, faq)
    let cases: [(&str, &[SupportChannel], Priority, bool, bool); 7] = [
        ("0", &[], Priority::None, false, true),
        ("100", &[], Priority::None, false, true),
        ("4999.99", &[], Priority::None, false, true),
        ("5000", &[Chat], Priority::Normal, true, false),
        ("24999.99", &[Chat], Priority::Normal, true, false),
        ("25000", &[Chat, Call], Priority::High, true, false),
        ("1000000", &[Chat, Call], Priority::High, true, false),
    ];
    for (value, channels, priority, button, faq) in cases {
        let d = route(inr(value), None, &settings);
        assert_eq!(d.allowed_channels, channels, "{value}");
        assert_eq!(d.priority, priority, "{value}");
        assert_eq!((d.show_help_button, d.show_faq), (button, faq), "{value}");
        assert_eq!(d.help_trigger_text.is_some(), button, "{value}");
    }
}

#[test]
fn high_importance_events_get_every_channel_at_any_value() {
    let settings = RoutingSettings::default();
    for event in [
        "WEDDING",
        "CORPORATE",
        "RELIGIOUS",
        "wedding",
        "Corporate",
        " religious ",
    ] {
        for value in ["100", "5000", "30000"] {
            let d = route(inr(value), Some(event), &settings);
            assert_eq!(
                d.allowed_channels,
                [SupportChannel::Chat, SupportChannel::Call],
                "{event} {value}"
            );
            assert_eq!(d.priority, Priority::High, "{event} {value}");
            assert!(d.show_help_button && !d.show_faq, "{event} {value}");
            assert_eq!(d.help_trigger_text.as_deref(), Some(domain::routing::HELP_TEXT_EVENT));
        }
    }
    for event in ["BIRTHDAY", "", "weddings"] {
        assert_eq!(
            route(inr("100"), Some(event), &settings).allowed_channels,
            [],
            "{event}"
        );
    }
}

#[test]
fn routing_disabled_offers_everything_at_normal_priority() {
    let settings = RoutingSettings {
        enabled: false,
        ..RoutingSettings::default()
    };
    for (value, event) in [
        ("0", None),
        ("100", None),
        ("4999.99", None),
        ("30000", None),
        ("100", Some("WEDDING")),
    ] {
        let d = route(inr(value), event, &settings);
        assert_eq!(
            d.allowed_channels,
            [SupportChannel::Chat, SupportChannel::Call],
            "{value}"
        );
        assert_eq!(d.priority, Priority::Normal, "{value}");
        assert!(d.show_help_button && !d.show_faq);
    }
}

#[test]
fn call_refusal_names_the_rule() {
    let settings = RoutingSettings::default();
    let d = route(inr("10000"), None, &settings);
    assert!(d.allows(SupportChannel::Chat) && !d.allows(SupportChannel::Call));
    assert_eq!(check_channel(&d, SupportChannel::Chat, &settings, INR), Ok(()));
    let refused = check_channel(&d, SupportChannel::Call, &settings, INR);
    assert_eq!(
        refused,
        Err(ChannelNotOffered {
            channel: SupportChannel::Call,
            reason: "calls are offered from ₹25,000 or for WEDDING, CORPORATE, RELIGIOUS events".into(),
        })
    );
    let low = route(inr("4999.99"), None, &settings);
    let refused = check_channel(&low, SupportChannel::Chat, &settings, INR).expect_err("no chat");
    assert_eq!(
        refused.to_string(),
        "chat is offered from ₹5,000 or for WEDDING, CORPORATE, RELIGIOUS events"
    );
    let high = route(inr("25000"), None, &settings);
    assert_eq!(check_channel(&high, SupportChannel::Call, &settings, INR), Ok(()));
}

#[test]
fn routing_settings_serde_and_validation() {
    let s: RoutingSettings = serde_json::from_value(json!({"high_threshold": 3_000_000})).expect("json");
    assert_eq!(s.low_threshold, inr("5000"));
    assert_eq!(s.high_threshold, inr("30000"));
    assert!(s.enabled);
    assert_eq!(s.high_importance_events, ["WEDDING", "CORPORATE", "RELIGIOUS"]);
    assert_eq!(s.validate(), Ok(()));
    let swapped = RoutingSettings {
        low_threshold: inr("25000.01"),
        ..RoutingSettings::default()
    };
    assert_eq!(swapped.validate(), Err(RoutingSettingsError::ThresholdsOutOfOrder));
    let equal = RoutingSettings {
        low_threshold: inr("25000"),
        ..RoutingSettings::default()
    };
    assert_eq!(equal.validate(), Ok(()));
    let negative = RoutingSettings {
        low_threshold: inr("-1"),
        ..RoutingSettings::default()
    };
    assert_eq!(
        negative.validate(),
        Err(RoutingSettingsError::NegativeThreshold { field: "low_threshold" })
    );
    let empty = RoutingSettings {
        high_importance_events: vec!["".into()],
        ..RoutingSettings::default()
    };
    assert_eq!(empty.validate(), Err(RoutingSettingsError::EmptyEventName));
}

#[test]
fn priorities_and_channels_as_text() {
    for (p, text, code, code_friction) in [
        (Priority::None, "NONE", 1, 1),
        (Priority::Normal, "NORMAL", 2, 2),
        (Priority::High, "HIGH", 3, 4),
        (Priority::Urgent, "URGENT", 4, 4),
    ] {
        assert_eq!(p.to_string(), text);
        assert_eq!(text.parse::<Priority>(), Ok(p));
        assert_eq!(text.to_lowercase().parse::<Priority>(), Ok(p));
        assert_eq!(serde_json::to_value(p).expect("json"), json!(text));
        assert_eq!(serde_json::from_value::<Priority>(json!(text)).expect("json"), p);
        assert_eq!((p.freshdesk_code(false), p.freshdesk_code(true)), (code, code_friction));
    }
    assert!("LOW".parse::<Priority>().is_err());
    assert!(Priority::None < Priority::Normal && Priority::High < Priority::Urgent);
    assert_eq!("call".parse::<SupportChannel>(), Ok(SupportChannel::Call));
    let d = route(inr("30000"), None, &RoutingSettings::default());
    let json = serde_json::to_value(&d).expect("json");
    assert_eq!(json["allowed_channels"], json!(["CHAT", "CALL"]));
    assert_eq!(json["priority"], json!("HIGH"));
    assert_eq!(serde_json::from_value::<RouteDecision>(json).expect("json"), d);
}

// ---------------------------------------------------------------------------------------------
// Context

#[test]
fn session_rolls_over_after_the_idle_gap() {
    let idle = 30 * 60;
    let before = vec![
        Step::Cart(0, json!({"cart_value": 6000, "event_type": "wedding"})),
        Step::Screen(0, "CHECKOUT"),
        Step::Back(1, "MENU_BROWSE"),
        Step::Signal(2, "PRICE_CHECK"),
        Step::Signal(3, "PAYMENT_FAILURE"),
        Step::Screen(10, "CHECKOUT"),
    ];
    let ctx = run(&before);
    let first = ctx.session.clone().expect("session");
    assert_eq!(first.started_at, at(0));
    assert_eq!(first.id, "s-20250301T100000.000Z");
    // (gap after the last activity, new session?)
    for (gap, rolls_over) in [(idle - 1, false), (idle, false), (idle + 1, true)] {
        let now = 10 + gap;
        let mut steps = before.clone();
        steps.push(Step::Signal(now, "INACTIVITY"));
        let ctx = run(&steps);
        let s = ctx.session.clone().expect("session");
        assert_eq!(s.started_at == at(now), rolls_over, "gap {gap}");
        assert_eq!(s.last_activity_at, at(now), "gap {gap}");
        let counters = (
            ctx.counters.back_navigation_count,
            ctx.counters.price_check_count,
            ctx.counters.payment_retry_count,
        );
        assert_eq!(counters, if rolls_over { (0, 0, 0) } else { (1, 1, 1) }, "gap {gap}");
        assert_eq!(ctx.counters.inactivity_count, 1, "gap {gap}");
        // The checkout time restarts with the session (else: 1 s before the back navigation, plus
        // the stint since re-entering at 10 s); the cart is kept.
        let expected_checkout = if rolls_over {
            TimeDelta::seconds(5)
        } else {
            TimeDelta::seconds(1 + now + 5 - 10)
        };
        assert_eq!(ctx.time_on_checkout(at(now + 5)), expected_checkout, "gap {gap}");
        assert_eq!(ctx.current_screen(), Some("CHECKOUT"));
        assert_eq!(ctx.cart.event_type.as_deref(), Some("WEDDING"));
        assert_eq!(
            ctx.session_duration(at(now)),
            if rolls_over {
                TimeDelta::zero()
            } else {
                TimeDelta::seconds(now)
            }
        );
    }
    // A custom idle timeout.
    let short = ContextSettings {
        session_idle_timeout_seconds: 60,
    };
    let ctx = apply_signal(
        Some(run(&before)),
        &user(),
        &FrictionSignal::new(SignalKind::BackNav),
        at(71),
        &short,
    );
    assert_eq!(ctx.session.as_ref().map(|s| s.started_at), Some(at(71)));
    assert_eq!(ctx.counters.back_navigation_count, 1);
    // Profile updates are not activity.
    let ctx = apply_profile(Some(run(&before)), &user(), &ProfileUpdate::default(), at(5000));
    assert_eq!(ctx.session.as_ref().map(|s| s.last_activity_at), Some(at(10)));
    assert_eq!(ctx.updated_at, at(5000));
}

#[test]
fn client_session_id_is_adopted_without_a_reset() {
    let ctx = run(&[Step::Back(0, "HOME")]);
    let input: SignalInput =
        serde_json::from_value(json!({"type": "price_check", "session_id": "app-7", "value": 3})).expect("json");
    let signal = FrictionSignal::parse(input).expect("signal");
    assert_eq!(signal.kind, SignalKind::PriceCheck);
    assert_eq!(signal.value, Some(json!(3)));
    let ctx = apply_signal(Some(ctx), &user(), &signal, at(5), &ContextSettings::default());
    assert_eq!(ctx.session.as_ref().map(|s| s.id.as_str()), Some("app-7"));
    assert_eq!(
        (ctx.counters.back_navigation_count, ctx.counters.price_check_count),
        (1, 1)
    );
}

#[test]
fn signal_screen_is_adopted_only_without_a_current_screen() {
    let input = |screen: &str| {
        FrictionSignal::parse(serde_json::from_value(json!({"type": "INACTIVITY", "screen": screen})).expect("json"))
            .expect("signal")
    };
    let settings = ContextSettings::default();
    let fresh = apply_signal(None, &user(), &input("checkout"), at(0), &settings);
    assert_eq!(fresh.current_screen(), Some("CHECKOUT"));
    assert_eq!(fresh.time_on_checkout(at(61)), TimeDelta::seconds(61));
    let known = apply_signal(
        Some(run(&[Step::Screen(0, "CHECKOUT")])),
        &user(),
        &input("PAYMENT"),
        at(30),
        &settings,
    );
    assert_eq!(known.current_screen(), Some("CHECKOUT"));
}

#[test]
fn screens_are_normalised_and_tracked() {
    let ctx = run(&[Step::Screen(0, " menu_browse "), Step::Screen(5, "Guest_Count")]);
    let s = ctx.session.as_ref().expect("session");
    assert_eq!(s.current_screen.as_deref(), Some("GUEST_COUNT"));
    assert_eq!(s.previous_screen.as_deref(), Some("MENU_BROWSE"));
    assert_eq!(s.screen_entered_at, Some(at(5)));
    let view = ScreenView::parse("checkout", Some(json!({"is_back_navigation": true}))).expect("view");
    assert_eq!((view.screen_name(), view.is_back_navigation()), ("CHECKOUT", true));
    for (meta, back) in [
        (json!({}), false),
        (json!({"is_back_navigation": "TRUE"}), true),
        (json!({"is_back_navigation": 0}), false),
    ] {
        assert_eq!(
            ScreenView::parse("x", Some(meta)).map(|v| v.is_back_navigation()),
            Ok(back)
        );
    }
    assert_eq!(ScreenView::parse("x", None).map(|v| v.is_back_navigation()), Ok(false));
    let bad = ScreenView::parse("x", Some(json!({"is_back_navigation": "yes"}))).expect_err("not a bool");
    assert_eq!(bad.field, "metadata.is_back_navigation");
    assert_eq!(
        ScreenView::parse("x", Some(json!([1]))).expect_err("array").field,
        "metadata"
    );
    assert_eq!(
        ScreenView::new("  ", false),
        Err(ContextError::new("screen_name", ContextProblem::Empty))
    );
}

#[test]
fn limits_apply_to_the_stored_upper_case_text() {
    // Found by the context_inputs fuzz target (fuzz/regressions/context_inputs): `ß` upper-cases
    // to `SS`, so 60 of them passed the 100-character check and were stored as 120 characters.
    let sharp_s = String::from_utf8(b"\xc3\x9f".repeat(60)).expect("utf-8");
    let too_long = |field: &str, max| Err((field.to_owned(), ContextProblem::TooLong { max }));
    assert_eq!(
        ScreenView::new(&sharp_s, false)
            .map(|_| ())
            .map_err(|e| (e.field, e.problem)),
        too_long("screen_name", 100)
    );
    let cart: CartInput = serde_json::from_value(json!({"cart_value": 1, "event_type": sharp_s})).expect("json");
    assert_eq!(
        CartUpdate::parse(cart, INR)
            .map(|_| ())
            .map_err(|e| (e.field, e.problem)),
        too_long("event_type", 100)
    );
    let profile: ProfileInput = serde_json::from_value(json!({"tier": sharp_s[..60]})).expect("json");
    assert_eq!(
        ProfileUpdate::parse(profile, INR)
            .map(|_| ())
            .map_err(|e| (e.field, e.problem)),
        too_long("tier", 50)
    );
    // What fits once upper-cased is accepted.
    let fits = ScreenView::new(&sharp_s[..100], false).expect("50 × ß is 100 × S");
    assert_eq!(fits.screen_name(), "S".repeat(100));
}

#[test]
fn cart_validation_names_the_field() {
    let parse = |v: serde_json::Value| {
        CartUpdate::parse(serde_json::from_value::<CartInput>(v).expect("json"), INR).map(|_| ())
    };
    let item = |qty: i64, price: f64| json!({"sku": "P1", "name": "Platter", "qty": qty, "price": price});
    let cases: Vec<(serde_json::Value, Option<(&str, ContextProblem)>)> = vec![
        (json!({"cart_value": 4999.99, "items": [item(2, 2499.99)]}), None),
        (json!({"cart_value": 0}), None),
        (
            json!({"cart_value": -1}),
            Some(("cart_value", ContextProblem::Negative)),
        ),
        (
            json!({"cart_value": -0.01}),
            Some(("cart_value", ContextProblem::Negative)),
        ),
        (
            json!({"cart_value": 10, "items": [item(0, 5.0)]}),
            Some(("items[0].qty", ContextProblem::NotPositive)),
        ),
        (
            json!({"cart_value": 10, "items": [item(1, 5.0), item(-2, 5.0)]}),
            Some(("items[1].qty", ContextProblem::NotPositive)),
        ),
        (
            json!({"cart_value": 10, "items": [item(1, -5.0)]}),
            Some(("items[0].price", ContextProblem::Negative)),
        ),
        (
            json!({"cart_value": 10, "items": [{"sku": " ", "qty": 1, "price": 1}]}),
            Some(("items[0].sku", ContextProblem::Empty)),
        ),
        (
            json!({"cart_value": 10, "guest_count": -5}),
            Some(("guest_count", ContextProblem::Negative)),
        ),
        (
            json!({"cart_value": 10, "event_date": "next week"}),
            Some(("event_date", ContextProblem::NotADate)),
        ),
    ];
    for (body, expected) in cases {
        let got = parse(body.clone()).map_err(|e| (e.field, e.problem));
        let expected = expected.map(|(f, p)| (f.to_owned(), p)).map_or(Ok(()), Err);
        assert_eq!(got, expected, "{body}");
    }
    assert!(matches!(
        parse(json!({"cart_value": 10.001})).map_err(|e| (e.field.clone(), e.problem)),
        Err((f, ContextProblem::Money(_))) if f == "cart_value"
    ));
    let item = domain::context::CartItem::new("P1", "Platter", 0, inr("10")).map_err(|e| e.field);
    assert_eq!(item, Err("item.qty".to_owned()));
    assert_eq!(
        domain::context::CartItem::new("P1", "Platter", 3, inr("10")).map(|i| i.qty),
        Ok(3)
    );
    assert_eq!(
        CartUpdate::new(Money::from_minor(-1), vec![])
            .map(|_| ())
            .map_err(|e| e.field),
        Err("cart_value".into())
    );
}

#[test]
fn cart_fields_keep_clear_or_set() {
    let full = json!({"cart_value": 30000, "items": [{"sku": "P1", "name": "Royal Thali", "qty": 120, "price": 250}],
        "guest_count": 120, "selected_platter": "Royal Thali", "event_date": "2025-04-12", "event_type": "wedding"});
    let ctx = run(&[Step::Cart(0, full)]);
    assert_eq!(ctx.cart.cart_value, inr("30000"));
    assert_eq!(ctx.cart.items[0].price, inr("250"));
    assert_eq!(ctx.cart.items[0].qty, 120);
    assert_eq!(ctx.cart.event_date, NaiveDate::from_ymd_opt(2025, 4, 12));
    assert_eq!(ctx.cart.event_type.as_deref(), Some("WEDDING"));
    // Absent keeps, null or blank clears; value and items are replaced.
    let ctx2 = apply(
        Some(ctx),
        &Step::Cart(1, json!({"cart_value": 100.5, "guest_count": null, "event_type": ""})),
        &ContextSettings::default(),
    );
    assert_eq!(ctx2.cart.cart_value, inr("100.5"));
    assert!(ctx2.cart.items.is_empty());
    assert_eq!(ctx2.cart.guest_count, None);
    assert_eq!(ctx2.cart.event_type, None);
    assert_eq!(ctx2.cart.selected_platter.as_deref(), Some("Royal Thali"));
    assert_eq!(ctx2.cart.event_date, NaiveDate::from_ymd_opt(2025, 4, 12));
}

#[test]
fn partial_profile_updates_change_only_given_fields() {
    let full = Profile {
        name: Some("Asha".into()),
        email: Some("asha@example.com".into()),
        phone: Some("+91 98765 43210".into()),
        language: Some("en-in".into()),
        tier: Some("GOLD".into()),
        past_order_count: Some(2),
        lifetime_value: Some(inr("12345.5")),
    };
    // (update, the whole profile after it)
    let cases = [
        (
            json!({"name": "Asha", "email": "asha@example.com", "phone": "+91 98765 43210",
                "language": "EN_in", "tier": "gold", "past_order_count": 2, "lifetime_value": 12345.5}),
            full.clone(),
        ),
        (json!({}), full.clone()),
        (
            json!({"tier": "Silver", "name": null, "email": ""}),
            Profile {
                tier: Some("SILVER".into()),
                ..full.clone()
            },
        ),
        (
            json!({"past_order_count": 0}),
            Profile {
                tier: Some("SILVER".into()),
                past_order_count: Some(0),
                ..full.clone()
            },
        ),
        (
            json!({"lifetime_value": 0, "phone": "+14155550100", "language": "hi"}),
            Profile {
                tier: Some("SILVER".into()),
                past_order_count: Some(0),
                lifetime_value: Some(Money::ZERO),
                phone: Some("+14155550100".into()),
                language: Some("hi".into()),
                ..full.clone()
            },
        ),
    ];
    let mut ctx = None;
    for (i, (body, expected)) in cases.into_iter().enumerate() {
        let next = apply(ctx, &Step::Profile(i as i64, body.clone()), &ContextSettings::default());
        assert_eq!(next.profile, expected, "after {body}");
        assert_eq!(next.session, None, "profile updates start no session");
        ctx = Some(next);
    }
    for (body, field) in [
        (json!({"past_order_count": -1}), "past_order_count"),
        (json!({"lifetime_value": -3}), "lifetime_value"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phone": "call me"}), "phone"),
        (json!({"language": "en/IN"}), "language"),
    ] {
        let input: ProfileInput = serde_json::from_value(body.clone()).expect("json");
        assert_eq!(
            ProfileUpdate::parse(input, INR).map(|_| ()).map_err(|e| e.field),
            Err(field.to_owned()),
            "{body}"
        );
    }
}

#[test]
fn signal_kinds_parse() {
    for (text, kind) in [
        ("INACTIVITY", SignalKind::Inactivity),
        ("back_nav", SignalKind::BackNav),
        (" Price_Check ", SignalKind::PriceCheck),
        ("PAYMENT_FAILURE", SignalKind::PaymentFailure),
        ("rage_click", SignalKind::Other("RAGE_CLICK".into())),
    ] {
        assert_eq!(SignalKind::parse(text), Ok(kind.clone()), "{text}");
        assert_eq!(
            serde_json::from_value::<SignalKind>(json!(kind.as_str())).expect("json"),
            kind
        );
    }
    assert_eq!(
        SignalKind::parse(""),
        Err(ContextError::new("type", ContextProblem::Empty))
    );
    assert!(SignalKind::parse(&"X".repeat(65)).is_err());
}

#[test]
fn snapshot_order_and_serialisation() {
    let ctx = run(&everything_firing());
    let ctx = apply_order(Some(ctx), &user(), Some("ORD-1"), at(20));
    let snap = ctx.snapshot();
    assert_eq!(snap.app_screen, "CHECKOUT");
    assert_eq!(snap.cart_value, inr("30000"));
    assert_eq!(snap.event_type.as_deref(), Some("WEDDING"));
    assert_eq!(snap.order_id.as_deref(), Some("ORD-1"));
    assert_eq!(snap.user_id, user());
    let cleared = apply_order(Some(ctx.clone()), &user(), None, at(21));
    assert_eq!(cleared.order_id, None);
    let empty = CustomerContext::new(user(), at(0));
    assert_eq!(empty.snapshot().app_screen, "UNKNOWN");
    // Round trip through JSON (the stored form), and old JSON with only the required fields.
    let text = serde_json::to_string(&ctx).expect("json");
    assert_eq!(serde_json::from_str::<CustomerContext>(&text).expect("json"), ctx);
    let minimal: CustomerContext =
        serde_json::from_value(json!({"user_id": "u-42", "updated_at": "2025-03-01T10:00:00Z"})).expect("json");
    assert_eq!(minimal, empty);
}

#[test]
fn agent_properties_are_strings() {
    let ctx = run(&[
        Step::Profile(
            0,
            json!({"tier": "gold", "past_order_count": 0, "lifetime_value": 0, "language": "hi"}),
        ),
        Step::Cart(
            0,
            json!({"cart_value": 24999.99, "items": [{"sku": "P", "name": "N", "qty": 1, "price": 24999.99}],
            "guest_count": 80, "event_type": "Corporate", "event_date": "2025-05-01", "selected_platter": "Executive"}),
        ),
        Step::Screen(1, "checkout"),
    ]);
    let s = score(&ctx, at(100), &FrictionSettings::default());
    assert_eq!(s.score, 55);
    let props = agent_properties(&ctx, &s, INR);
    let get = |name: &str| props.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(get("current_screen"), Some("CHECKOUT"));
    assert_eq!(get("cart_value"), Some("24999.99"));
    assert_eq!(get("item_count"), Some("1"));
    assert_eq!(get("guest_count"), Some("80"));
    assert_eq!(get("event_type"), Some("CORPORATE"));
    assert_eq!(get("event_date"), Some("2025-05-01"));
    assert_eq!(get("selected_platter"), Some("Executive"));
    assert_eq!(get("friction_score"), Some("55"));
    assert_eq!(
        get("friction_reasons"),
        Some("inactivity_checkout,high_value_event,first_time_user")
    );
    assert_eq!(get("needs_help"), Some("false"));
    assert_eq!(get("tier"), Some("GOLD"));
    assert_eq!(get("past_order_count"), Some("0"));
    assert_eq!(get("lifetime_value"), Some("0"));
    assert_eq!(get("order_id"), Some(""));
    let view = serde_json::to_value(ctx.view(at(100), INR)).expect("json");
    assert_eq!(view["cart_value"], json!(24999.99));
    assert_eq!(view["time_on_checkout_seconds"], json!(99));
    assert_eq!(view["session_duration_seconds"], json!(100));
    assert_eq!(view["cart_items"][0]["price"], json!(24999.99));
    assert_eq!(view["current_screen"], json!("CHECKOUT"));
}

// ---------------------------------------------------------------------------------------------
// Properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    const SCREENS: [&str; 5] = ["HOME", "MENU_BROWSE", "GUEST_COUNT", "CHECKOUT", "PAYMENT"];
    const KINDS: [&str; 5] = ["INACTIVITY", "BACK_NAV", "PRICE_CHECK", "PAYMENT_FAILURE", "RAGE_CLICK"];
    const EVENTS: [Option<&str>; 4] = [None, Some("WEDDING"), Some("birthday"), Some("corporate")];

    fn step() -> impl Strategy<Value = (u32, u8, u8, bool)> {
        // (seconds since the previous step, action, which, flag)
        (0u32..=1800, 0u8..4, 0u8..5, any::<bool>())
    }

    fn build(steps: &[(u32, u8, u8, bool)], order_count: Option<u32>) -> (CustomerContext, i64) {
        let settings = ContextSettings::default();
        let mut now = 0i64;
        let mut ctx = apply_profile(None, &user(), &profile(order_count), at(0));
        for &(gap, action, which, flag) in steps {
            now += i64::from(gap);
            let which = usize::from(which);
            let step = match action {
                0 => {
                    if flag {
                        Step::Back(now, SCREENS[which])
                    } else {
                        Step::Screen(now, SCREENS[which])
                    }
                }
                1 | 2 => Step::Signal(now, KINDS[which]),
                _ => Step::Cart(now, json!({"cart_value": 100, "event_type": EVENTS[which % 4]})),
            };
            ctx = apply(Some(ctx), &step, &settings);
        }
        (ctx, now)
    }

    fn profile(order_count: Option<u32>) -> ProfileUpdate {
        let input = ProfileInput {
            past_order_count: order_count.map(i64::from),
            ..ProfileInput::default()
        };
        ProfileUpdate::parse(input, INR).expect("profile")
    }

    fn weights() -> impl Strategy<Value = FrictionSettings> {
        (
            any::<[u8; 6]>(),
            any::<u8>(),
            0u32..120,
            0u32..6,
            0u32..8,
            any::<bool>(),
        )
            .prop_map(|(w, threshold, checkout, back, price, unknown_new)| FrictionSettings {
                threshold,
                weights: FrictionWeights {
                    inactivity_checkout: w[0],
                    back_navigation: w[1],
                    price_checks: w[2],
                    high_value_event: w[3],
                    first_time_user: w[4],
                    payment_failure: w[5],
                },
                checkout_inactivity_seconds: checkout,
                back_navigation_limit: back,
                price_check_limit: price,
                unknown_order_count_is_first_time: unknown_new,
                ..FrictionSettings::default()
            })
    }

    proptest! {
        #[test]
        fn score_is_within_bounds_and_sums_the_reasons(
            steps in prop::collection::vec(step(), 0..40),
            orders in prop::option::of(0u32..3),
            settings in weights(),
            later in 0i64..4000,
        ) {
            let (ctx, now) = build(&steps, orders);
            let s = score(&ctx, at(now + later), &settings);
            prop_assert!(s.score <= 100);
            let sum: u32 = s.reasons.iter().map(|r| u32::from(settings.weights.weight(*r))).sum();
            prop_assert_eq!(u32::from(s.score), sum.min(100));
            prop_assert_eq!(s.should_show_help, s.score >= settings.threshold);
            prop_assert_eq!(s.help_message.is_some(), s.should_show_help);
        }

        #[test]
        fn adding_a_signal_never_lowers_the_score(
            steps in prop::collection::vec(step(), 0..40),
            orders in prop::option::of(0u32..3),
            settings in weights(),
            kind in 0usize..5,
            screen in prop::option::of(0usize..5),
            gap in 0i64..=1800,
        ) {
            let (ctx, now) = build(&steps, orders);
            let before = score(&ctx, at(now), &settings);
            let mut signal = FrictionSignal::new(SignalKind::parse(KINDS[kind]).expect("kind"));
            signal.screen = screen.map(|s| SCREENS[s].to_owned());
            let after_ctx = apply_signal(Some(ctx), &user(), &signal, at(now + gap), &ContextSettings::default());
            let after = score(&after_ctx, at(now + gap), &settings);
            prop_assert!(after.score >= before.score, "{} -> {}", before.score, after.score);
            for r in &before.reasons {
                prop_assert!(after.reasons.contains(r));
            }
        }

        #[test]
        fn more_order_value_never_removes_a_channel(a in 0i64..5_000_000, b in 0i64..5_000_000) {
            let settings = RoutingSettings::default();
            let (lo, hi) = (a.min(b), a.max(b));
            let low = route(Money::from_minor(lo), None, &settings);
            let high = route(Money::from_minor(hi), None, &settings);
            for c in low.allowed_channels {
                prop_assert!(high.allows(c));
            }
            prop_assert!(high.priority >= low.priority);
        }
    }
}
