//! Friction score (SPEC §5, seed 004 §5.2): how much trouble a customer seems to have, 0–100.
//!
//! | rule | fires when | default weight |
//! |---|---|---|
//! | inactivity_checkout | current screen CHECKOUT and time on checkout > 60 s | 30 |
//! | back_navigation | back navigations > 3 | 25 |
//! | price_checks | price checks > 5 | 20 |
//! | high_value_event | event type in WEDDING, CORPORATE, RELIGIOUS | 15 |
//! | first_time_user | past_order_count = 0 | 10 |
//! | payment_failure | payment retries > 0 | 40 |
//!
//! Score = sum of the weights of the rules that fire, capped at 100. Help is offered when the score
//! is at least the threshold (60). Decisions where the spec is silent:
//! - Time on checkout is compared exactly (60.001 s fires, 60 s does not).
//! - An unknown `past_order_count` (never reported) is not first-time, unless
//!   `unknown_order_count_is_first_time` is set: the score reflects what the app reported.
//! - A rule with weight 0 is switched off and is not listed in `reasons`.
//! - `help_message` is given only when help is offered.
//! - Disabled → score 0, no reasons, never help.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::context::CustomerContext;
use crate::routing::{DEFAULT_HIGH_IMPORTANCE_EVENTS, is_listed};

/// A friction rule; serialised as its weight's name (`inactivity_checkout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrictionReason {
    InactivityCheckout,
    BackNavigation,
    PriceChecks,
    HighValueEvent,
    FirstTimeUser,
    PaymentFailure,
}

impl FrictionReason {
    pub const ALL: [FrictionReason; 6] = [
        FrictionReason::InactivityCheckout,
        FrictionReason::BackNavigation,
        FrictionReason::PriceChecks,
        FrictionReason::HighValueEvent,
        FrictionReason::FirstTimeUser,
        FrictionReason::PaymentFailure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FrictionReason::InactivityCheckout => "inactivity_checkout",
            FrictionReason::BackNavigation => "back_navigation",
            FrictionReason::PriceChecks => "price_checks",
            FrictionReason::HighValueEvent => "high_value_event",
            FrictionReason::FirstTimeUser => "first_time_user",
            FrictionReason::PaymentFailure => "payment_failure",
        }
    }
}

impl std::fmt::Display for FrictionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-rule weights (each 0–100).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FrictionWeights {
    pub inactivity_checkout: u8,
    pub back_navigation: u8,
    pub price_checks: u8,
    pub high_value_event: u8,
    pub first_time_user: u8,
    pub payment_failure: u8,
}

impl Default for FrictionWeights {
    fn default() -> Self {
        Self {
            inactivity_checkout: 30,
            back_navigation: 25,
            price_checks: 20,
            high_value_event: 15,
            first_time_user: 10,
            payment_failure: 40,
        }
    }
}

impl FrictionWeights {
    pub fn weight(&self, reason: FrictionReason) -> u8 {
        match reason {
            FrictionReason::InactivityCheckout => self.inactivity_checkout,
            FrictionReason::BackNavigation => self.back_navigation,
            FrictionReason::PriceChecks => self.price_checks,
            FrictionReason::HighValueEvent => self.high_value_event,
            FrictionReason::FirstTimeUser => self.first_time_user,
            FrictionReason::PaymentFailure => self.payment_failure,
        }
    }
}

/// Key of a language's message for every screen without its own (`{"hi": {"*": "…"}}`).
pub const ANY_SCREEN: &str = "*";

/// Help prompts. Lookup for screen S and language L (`en-in`): `by_language[L][S]`,
/// `by_language[primary(L)][S]` (`en`), `by_language[L]["*"]`, `by_language[primary(L)]["*"]`,
/// `by_screen[S]`, `default`. Screens and languages match case-insensitively. A given `by_screen`
/// replaces the whole default map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HelpMessages {
    pub by_screen: BTreeMap<String, String>,
    pub default: String,
    /// language → screen (or `*`) → message.
    pub by_language: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for HelpMessages {
    fn default() -> Self {
        let by_screen = [
            ("GUEST_COUNT", "Need help deciding portions?"),
            ("MENU_BROWSE", "Want a personalized recommendation?"),
            ("CHECKOUT", "Need help completing your order?"),
            ("PAYMENT", "Having trouble with payment?"),
        ];
        Self {
            by_screen: by_screen
                .into_iter()
                .map(|(s, m)| (s.to_owned(), m.to_owned()))
                .collect(),
            default: "Need help?".to_owned(),
            by_language: BTreeMap::new(),
        }
    }
}

fn lookup<'a>(map: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

fn normalize_language(l: &str) -> String {
    l.trim().to_lowercase().replace('_', "-")
}

impl HelpMessages {
    pub fn message_for(&self, screen: Option<&str>, language: Option<&str>) -> &str {
        let mut languages: Vec<String> = Vec::new();
        if let Some(l) = language.map(normalize_language).filter(|l| !l.is_empty()) {
            let primary = l.split('-').next().unwrap_or_default().to_owned();
            languages.push(l);
            if !languages.contains(&primary) {
                languages.push(primary);
            }
        }
        let maps: Vec<&BTreeMap<String, String>> = languages
            .iter()
            .filter_map(|l| {
                self.by_language
                    .iter()
                    .find(|(k, _)| normalize_language(k) == *l)
                    .map(|(_, m)| m)
            })
            .collect();
        let screen = screen.map(str::trim).filter(|s| !s.is_empty());
        screen
            .and_then(|s| maps.iter().find_map(|m| lookup(m, s)))
            .or_else(|| maps.iter().find_map(|m| lookup(m, ANY_SCREEN)))
            .or_else(|| screen.and_then(|s| lookup(&self.by_screen, s)))
            .unwrap_or(&self.default)
    }
}

/// Per-tenant friction settings; partial JSON fills the rest from the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FrictionSettings {
    /// `FRICTION_DETECTION_ENABLED`.
    pub enabled: bool,
    /// Help is offered when the score is at least this (0–100).
    pub threshold: u8,
    pub weights: FrictionWeights,
    /// inactivity_checkout fires when time on checkout is more than this.
    pub checkout_inactivity_seconds: u32,
    /// back_navigation fires when back navigations are more than this.
    pub back_navigation_limit: u32,
    /// price_checks fires when price checks are more than this.
    pub price_check_limit: u32,
    pub high_value_events: Vec<String>,
    /// Whether a customer whose past order count was never reported counts as first-time.
    pub unknown_order_count_is_first_time: bool,
    pub help_messages: HelpMessages,
}

impl Default for FrictionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 60,
            weights: FrictionWeights::default(),
            checkout_inactivity_seconds: 60,
            back_navigation_limit: 3,
            price_check_limit: 5,
            high_value_events: DEFAULT_HIGH_IMPORTANCE_EVENTS.map(str::to_owned).to_vec(),
            unknown_order_count_is_first_time: false,
            help_messages: HelpMessages::default(),
        }
    }
}

/// Why friction settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrictionSettingsError {
    #[error("threshold must be between 0 and 100")]
    ThresholdOutOfRange,
    #[error("weight {rule} must be between 0 and 100")]
    WeightOutOfRange { rule: FrictionReason },
    #[error("high_value_events must not contain an empty name")]
    EmptyEventName,
    #[error("help_messages.default must not be empty")]
    EmptyDefaultMessage,
}

impl FrictionSettings {
    pub fn validate(&self) -> Result<(), FrictionSettingsError> {
        if self.threshold > 100 {
            return Err(FrictionSettingsError::ThresholdOutOfRange);
        }
        if let Some(rule) = FrictionReason::ALL.into_iter().find(|r| self.weights.weight(*r) > 100) {
            return Err(FrictionSettingsError::WeightOutOfRange { rule });
        }
        if self.high_value_events.iter().any(|e| e.trim().is_empty()) {
            return Err(FrictionSettingsError::EmptyEventName);
        }
        if self.help_messages.default.trim().is_empty() {
            return Err(FrictionSettingsError::EmptyDefaultMessage);
        }
        Ok(())
    }
}

/// The result of scoring a context at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrictionScore {
    /// 0–100.
    pub score: u8,
    /// The rules that fired (with a non-zero weight), in table order.
    pub reasons: Vec<FrictionReason>,
    /// `score >= threshold` (and scoring enabled).
    pub should_show_help: bool,
    /// The prompt for the current screen and the customer's language, when help is offered.
    pub help_message: Option<String>,
}

impl FrictionScore {
    pub fn zero() -> Self {
        Self {
            score: 0,
            reasons: Vec::new(),
            should_show_help: false,
            help_message: None,
        }
    }
}

/// Scores `ctx` at `now`.
pub fn score(ctx: &CustomerContext, now: DateTime<Utc>, settings: &FrictionSettings) -> FrictionScore {
    if !settings.enabled {
        return FrictionScore::zero();
    }
    let c = &ctx.counters;
    let checkout_limit = TimeDelta::seconds(i64::from(settings.checkout_inactivity_seconds));
    let first_time = match ctx.profile.past_order_count {
        Some(n) => n == 0,
        None => settings.unknown_order_count_is_first_time,
    };
    let fired = |reason: FrictionReason| match reason {
        FrictionReason::InactivityCheckout => ctx.is_on_checkout() && ctx.time_on_checkout(now) > checkout_limit,
        FrictionReason::BackNavigation => c.back_navigation_count > settings.back_navigation_limit,
        FrictionReason::PriceChecks => c.price_check_count > settings.price_check_limit,
        FrictionReason::HighValueEvent => ctx
            .cart
            .event_type
            .as_deref()
            .is_some_and(|e| is_listed(&settings.high_value_events, e)),
        FrictionReason::FirstTimeUser => first_time,
        FrictionReason::PaymentFailure => c.payment_retry_count > 0,
    };
    let reasons: Vec<FrictionReason> = FrictionReason::ALL
        .into_iter()
        .filter(|r| settings.weights.weight(*r) > 0 && fired(*r))
        .collect();
    let total: u32 = reasons.iter().map(|r| u32::from(settings.weights.weight(*r))).sum();
    let score = u8::try_from(total.min(100)).unwrap_or(100);
    let should_show_help = score >= settings.threshold;
    let help_message = should_show_help.then(|| {
        (settings.help_messages)
            .message_for(ctx.current_screen(), ctx.profile.language.as_deref())
            .to_owned()
    });
    FrictionScore {
        score,
        reasons,
        should_show_help,
        help_message,
    }
}

/// Scores `ctx` at `now` and records the score in it.
pub fn rescore(
    ctx: CustomerContext,
    now: DateTime<Utc>,
    settings: &FrictionSettings,
) -> (CustomerContext, FrictionScore) {
    let s = score(&ctx, now, settings);
    (ctx.with_friction_score(s.score), s)
}
