//! Channel routing (SPEC §6): which support channels a customer is offered for an order.
//!
//! Rules, in order:
//! 1. routing disabled → CHAT + CALL, priority NORMAL;
//! 2. event type in the high-importance list (case-insensitive) → CHAT + CALL, HIGH;
//! 3. order value < low threshold → no channel, FAQ only, NONE;
//! 4. order value < high threshold → CHAT, NORMAL;
//! 5. otherwise → CHAT + CALL, HIGH.
//!
//! So exactly the low threshold (₹5,000) already gets CHAT and exactly the high threshold
//! (₹25,000) already gets CALL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

/// How urgently a support interaction should be handled. Shared with the incidence model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    None,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::None, Priority::Normal, Priority::High, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::None => "NONE",
            Priority::Normal => "NORMAL",
            Priority::High => "HIGH",
            Priority::Urgent => "URGENT",
        }
    }

    /// The Freshdesk ticket priority code (SPEC §3): NONE → 1 (Low), NORMAL → 2 (Medium),
    /// HIGH → 3 (High), HIGH with the customer's friction at or above the threshold → 4 (Urgent),
    /// URGENT → 4.
    pub fn freshdesk_code(self, friction_at_threshold: bool) -> u8 {
        match self {
            Priority::None => 1,
            Priority::Normal => 2,
            Priority::High if friction_at_threshold => 4,
            Priority::High => 3,
            Priority::Urgent => 4,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no priority (or no channel).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{value}'")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

impl FromStr for Priority {
    type Err = UnknownName;
    /// Case-insensitive, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownName {
                kind: "priority",
                value: s.to_owned(),
            })
    }
}

/// A human support channel offered in the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SupportChannel {
    Chat,
    Call,
}

impl SupportChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportChannel::Chat => "CHAT",
            SupportChannel::Call => "CALL",
        }
    }
}

impl fmt::Display for SupportChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SupportChannel {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "CHAT" => Ok(SupportChannel::Chat),
            "CALL" => Ok(SupportChannel::Call),
            _ => Err(UnknownName {
                kind: "channel",
                value: s.to_owned(),
            }),
        }
    }
}

/// The default high-importance (and high-value, for friction) event types.
pub const DEFAULT_HIGH_IMPORTANCE_EVENTS: [&str; 3] = ["WEDDING", "CORPORATE", "RELIGIOUS"];

/// Per-tenant routing settings. Thresholds are `Money` in the tenant's currency (stored as minor
/// units); the defaults are ₹5,000 and ₹25,000, so a tenant in another currency sets its own.
/// Partial JSON fills the missing fields from the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingSettings {
    pub enabled: bool,
    pub low_threshold: Money,
    pub high_threshold: Money,
    pub high_importance_events: Vec<String>,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            low_threshold: Money::major(5_000, Currency::INR),
            high_threshold: Money::major(25_000, Currency::INR),
            high_importance_events: DEFAULT_HIGH_IMPORTANCE_EVENTS.map(str::to_owned).to_vec(),
        }
    }
}

/// Why routing settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingSettingsError {
    #[error("{field} must not be negative")]
    NegativeThreshold { field: &'static str },
    #[error("low_threshold must not be greater than high_threshold")]
    ThresholdsOutOfOrder,
    #[error("high_importance_events must not contain an empty name")]
    EmptyEventName,
}

impl RoutingSettings {
    pub fn validate(&self) -> Result<(), RoutingSettingsError> {
        if self.low_threshold.is_negative() {
            return Err(RoutingSettingsError::NegativeThreshold { field: "low_threshold" });
        }
        if self.high_threshold.is_negative() {
            return Err(RoutingSettingsError::NegativeThreshold {
                field: "high_threshold",
            });
        }
        if self.low_threshold > self.high_threshold {
            return Err(RoutingSettingsError::ThresholdsOutOfOrder);
        }
        if self.high_importance_events.iter().any(|e| e.trim().is_empty()) {
            return Err(RoutingSettingsError::EmptyEventName);
        }
        Ok(())
    }

    /// Whether `event_type` is in the high-importance list, ignoring case and surrounding spaces.
    pub fn is_high_importance(&self, event_type: &str) -> bool {
        is_listed(&self.high_importance_events, event_type)
    }
}

/// Case-insensitive membership of an event type in a configured list.
pub(crate) fn is_listed(list: &[String], event_type: &str) -> bool {
    let wanted = event_type.trim().to_uppercase();
    !wanted.is_empty() && list.iter().any(|e| e.trim().to_uppercase() == wanted)
}

/// `help_trigger_text` when routing is disabled (every channel is offered).
pub const HELP_TEXT_ALL_CHANNELS: &str = "Need help? Chat or call us.";
/// `help_trigger_text` for a high-importance event, whatever the value.
pub const HELP_TEXT_EVENT: &str = "Planning a special event? Chat or call our team.";
/// `help_trigger_text` between the thresholds (chat only).
pub const HELP_TEXT_CHAT: &str = "Need help? Chat with us.";
/// `help_trigger_text` from the high threshold (chat and call).
pub const HELP_TEXT_CHAT_AND_CALL: &str = "Need help with your order? Chat or call us.";
// Below the low threshold there is no help button and `help_trigger_text` is `None`.

/// What the app offers the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub allowed_channels: Vec<SupportChannel>,
    pub show_help_button: bool,
    pub show_faq: bool,
    pub priority: Priority,
    pub help_trigger_text: Option<String>,
}

impl RouteDecision {
    fn new(channels: &[SupportChannel], priority: Priority, text: Option<&str>) -> Self {
        Self {
            allowed_channels: channels.to_vec(),
            show_help_button: !channels.is_empty(),
            show_faq: channels.is_empty(),
            priority,
            help_trigger_text: text.map(str::to_owned),
        }
    }

    pub fn allows(&self, channel: SupportChannel) -> bool {
        self.allowed_channels.contains(&channel)
    }
}

/// Routes an order of `order_value` (in the tenant's currency) for an optional event type.
pub fn route(order_value: Money, event_type: Option<&str>, settings: &RoutingSettings) -> RouteDecision {
    use SupportChannel::{Call, Chat};
    if !settings.enabled {
        return RouteDecision::new(&[Chat, Call], Priority::Normal, Some(HELP_TEXT_ALL_CHANNELS));
    }
    if event_type.is_some_and(|e| settings.is_high_importance(e)) {
        return RouteDecision::new(&[Chat, Call], Priority::High, Some(HELP_TEXT_EVENT));
    }
    if order_value < settings.low_threshold {
        RouteDecision::new(&[], Priority::None, None)
    } else if order_value < settings.high_threshold {
        RouteDecision::new(&[Chat], Priority::Normal, Some(HELP_TEXT_CHAT))
    } else {
        RouteDecision::new(&[Chat, Call], Priority::High, Some(HELP_TEXT_CHAT_AND_CALL))
    }
}

/// A channel the routing decision does not offer (callback request → 403 with `reason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ChannelNotOffered {
    pub channel: SupportChannel,
    /// For the customer, e.g. "calls are offered from ₹25,000 or for WEDDING, CORPORATE,
    /// RELIGIOUS events".
    pub reason: String,
}

/// `Ok` when `decision` offers `channel`, else the reason, phrased from the tenant's settings.
pub fn check_channel(
    decision: &RouteDecision,
    channel: SupportChannel,
    settings: &RoutingSettings,
    currency: Currency,
) -> Result<(), ChannelNotOffered> {
    if decision.allows(channel) {
        return Ok(());
    }
    let (what, from) = match channel {
        SupportChannel::Chat => ("chat is", settings.low_threshold),
        SupportChannel::Call => ("calls are", settings.high_threshold),
    };
    let events: Vec<String> = settings
        .high_importance_events
        .iter()
        .map(|e| e.trim().to_uppercase())
        .filter(|e| !e.is_empty())
        .collect();
    let mut reason = format!("{what} offered from {}", display_amount(from, currency));
    if !events.is_empty() {
        reason.push_str(&format!(" or for {} events", events.join(", ")));
    }
    Err(ChannelNotOffered { channel, reason })
}

/// An amount for people: currency symbol (or code), thousands separators, decimals only when
/// not whole (`₹25,000`, `₹4,999.99`, `USD 25,000` for a currency without a known symbol).
pub(crate) fn display_amount(amount: Money, currency: Currency) -> String {
    let text = amount.to_decimal_string(currency);
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, frac) = digits.split_once('.').map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if let Some(frac) = frac {
        // Show cents as two digits (₹4,999.90, not ₹4,999.9).
        let width = usize::from(currency.exponent());
        grouped.push('.');
        grouped.push_str(&format!("{frac:0<width$}"));
    }
    let symbol = match currency.code() {
        "INR" => "₹".to_owned(),
        "USD" => "$".to_owned(),
        "EUR" => "€".to_owned(),
        "GBP" => "£".to_owned(),
        "JPY" => "¥".to_owned(),
        code => format!("{code} "),
    };
    format!("{sign}{symbol}{grouped}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_for_people() {
        let inr = Currency::INR;
        assert_eq!(display_amount(Money::major(25_000, inr), inr), "₹25,000");
        assert_eq!(display_amount(Money::major(5_000, inr), inr), "₹5,000");
        assert_eq!(display_amount(Money::from_minor(499_999), inr), "₹4,999.99");
        assert_eq!(display_amount(Money::from_minor(499_990), inr), "₹4,999.90");
        assert_eq!(display_amount(Money::major(999, inr), inr), "₹999");
        assert_eq!(display_amount(Money::major(1_234_567, inr), inr), "₹1,234,567");
        assert_eq!(display_amount(Money::major(-100_000, inr), inr), "-₹100,000");
        let chf = Currency::parse("CHF").expect("CHF");
        assert_eq!(display_amount(Money::major(300, chf), chf), "CHF 300");
    }
}
