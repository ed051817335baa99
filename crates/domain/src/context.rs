//! The live customer context (SPEC §5, seed 004 §3.2): what the customer is doing right now.
//!
//! Every update is a pure function `apply_*(old, user_id, input, now, …) -> new`, where `old` is
//! `None` for a customer seen for the first time. Inputs are parsed into validated types first
//! (`ScreenView::parse`, `CartUpdate::parse`, …); a refused input names its field.
//!
//! Sessions: the first screen view, cart update or friction signal starts a session. Activity more
//! than `ContextSettings::session_idle_timeout_seconds` (default 30 min) after the last activity
//! starts a new one: the per-session counters (back navigations, price checks, payment retries,
//! inactivity) and the checkout time restart at zero; the profile, cart, order and the last known
//! screen are kept (that screen counts as entered at the new session's start). Exactly the idle
//! gap is still the same session. Profile and order updates are not customer activity: they
//! never start or extend a session. A client `session_id` (sent with friction signals) becomes
//! the current session's id; it does not by itself start a new session. Without one the id is
//! derived from the session's start (`s-20250101T100000.000Z`).
//!
//! Time on checkout: entering CHECKOUT records the entry time (`screen_entered_at`), leaving it
//! adds the stint to `checkout_accumulated_ms`; `time_on_checkout(now)` is the accumulated time
//! plus the running stint when the customer is on CHECKOUT at `now`.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::friction::FrictionScore;
use crate::ids::UserId;
use crate::money::{Currency, Money, MoneyError};

/// The screen whose dwell time is scored.
pub const CHECKOUT_SCREEN: &str = "CHECKOUT";
/// `app_screen` of a snapshot when the customer never reported a screen.
pub const UNKNOWN_SCREEN: &str = "UNKNOWN";

const MAX_SCREEN: usize = 100;
const MAX_TEXT: usize = 200;
const MAX_ITEMS: usize = 500;
const MAX_COUNT: i64 = 1_000_000;

/// An input refused, naming the field (`cart_value`, `items[2].qty`, `type`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ContextError {
    pub field: String,
    pub problem: ContextProblem,
}

impl ContextError {
    pub fn new(field: impl Into<String>, problem: ContextProblem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextProblem {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not be negative")]
    Negative,
    #[error("must be at least 1")]
    NotPositive,
    #[error("must be at most {max}")]
    TooLarge { max: i64 },
    #[error("must have at most {max} entries")]
    TooMany { max: usize },
    #[error("{0}")]
    Money(MoneyError),
    #[error("must be a date (YYYY-MM-DD)")]
    NotADate,
    #[error("is not an e-mail address")]
    NotAnEmail,
    #[error("is not a phone number")]
    NotAPhone,
    #[error("is not a language tag (letters, digits and '-')")]
    NotALanguage,
    #[error("must be true or false")]
    NotABoolean,
    #[error("must be a JSON object")]
    NotAnObject,
}

fn err(field: impl Into<String>, problem: ContextProblem) -> ContextError {
    ContextError::new(field, problem)
}

/// Trimmed text, `None` when blank.
fn text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ContextError> {
    let Some(t) = value.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(err(field, ContextProblem::TooLong { max }));
    }
    if t.chars().any(char::is_control) {
        return Err(err(field, ContextProblem::ControlCharacters));
    }
    Ok(Some(t.to_owned()))
}

fn required_text(field: &str, value: &str, max: usize) -> Result<String, ContextError> {
    text(field, Some(value), max)?.ok_or_else(|| err(field, ContextProblem::Empty))
}

/// A screen name as stored: trimmed and upper-case (`checkout` → `CHECKOUT`).
pub fn normalize_screen(field: &str, name: &str) -> Result<String, ContextError> {
    // Upper-case before the length check: case mapping can lengthen text (`ß` → `SS`), and the
    // limit is on what is stored (found by the context_inputs fuzz target).
    required_text(field, &name.to_uppercase(), MAX_SCREEN)
}

fn money(field: &str, n: &serde_json::Number, currency: Currency) -> Result<Money, ContextError> {
    let m = Money::from_json_number(n, currency).map_err(|e| err(field, ContextProblem::Money(e)))?;
    if m.is_negative() {
        return Err(err(field, ContextProblem::Negative));
    }
    Ok(m)
}

fn count(field: &str, n: i64) -> Result<u32, ContextError> {
    if n < 0 {
        return Err(err(field, ContextProblem::Negative));
    }
    if n > MAX_COUNT {
        return Err(err(field, ContextProblem::TooLarge { max: MAX_COUNT }));
    }
    u32::try_from(n).map_err(|_| err(field, ContextProblem::TooLarge { max: MAX_COUNT }))
}

/// Deserialises a present field as `Some(value)`, so `Option<Option<T>>` tells absent (`None`)
/// from `null` (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A change to an optional field: keep it (field absent), clear it (`null` or blank) or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Clone> Change<T> {
    fn apply_to(&self, slot: &mut Option<T>) {
        match self {
            Change::Keep => {}
            Change::Clear => *slot = None,
            Change::Set(v) => *slot = Some(v.clone()),
        }
    }

    fn parse<R>(
        raw: Option<Option<R>>,
        f: impl FnOnce(R) -> Result<Option<T>, ContextError>,
    ) -> Result<Self, ContextError> {
        Ok(match raw {
            None => Change::Keep,
            Some(None) => Change::Clear,
            Some(Some(r)) => f(r)?.map_or(Change::Clear, Change::Set),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs

/// A screen view (`PUT /context/{user_id}/screen`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScreenView {
    screen_name: String,
    is_back_navigation: bool,
    metadata: Option<Value>,
}

impl ScreenView {
    pub fn new(screen_name: &str, is_back_navigation: bool) -> Result<Self, ContextError> {
        Ok(Self {
            screen_name: normalize_screen("screen_name", screen_name)?,
            is_back_navigation,
            metadata: None,
        })
    }

    /// From the request: `metadata` must be an object (or null); `metadata.is_back_navigation`
    /// may be a boolean, `"true"`/`"false"` or `1`/`0`.
    pub fn parse(screen_name: &str, metadata: Option<Value>) -> Result<Self, ContextError> {
        let metadata = metadata.filter(|m| !m.is_null());
        let back = match &metadata {
            None => false,
            Some(Value::Object(map)) => match map.get("is_back_navigation") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
                Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
                Some(Value::Number(n)) if n.as_u64() == Some(1) => true,
                Some(Value::Number(n)) if n.as_u64() == Some(0) => false,
                Some(_) => {
                    return Err(err("metadata.is_back_navigation", ContextProblem::NotABoolean));
                }
            },
            Some(_) => return Err(err("metadata", ContextProblem::NotAnObject)),
        };
        let mut view = Self::new(screen_name, back)?;
        view.metadata = metadata;
        Ok(view)
    }

    pub fn screen_name(&self) -> &str {
        &self.screen_name
    }
    pub fn is_back_navigation(&self) -> bool {
        self.is_back_navigation
    }
    pub fn metadata(&self) -> Option<&Value> {
        self.metadata.as_ref()
    }
}

/// One cart line as the app sends it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CartItemInput {
    pub sku: String,
    #[serde(default)]
    pub name: String,
    pub qty: i64,
    pub price: serde_json::Number,
}

/// `PUT /context/{user_id}/cart`. `cart_value` and `items` replace the cart's; each optional
/// field is kept when absent, cleared when `null` or blank, set otherwise.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CartInput {
    pub cart_value: serde_json::Number,
    #[serde(default)]
    pub items: Vec<CartItemInput>,
    #[serde(default, deserialize_with = "present")]
    pub guest_count: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub selected_platter: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub event_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub event_type: Option<Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItem {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub price: Money,
}

impl CartItem {
    pub fn new(sku: &str, name: &str, qty: i64, price: Money) -> Result<Self, ContextError> {
        Self::checked("item", sku, name, qty, price)
    }

    fn checked(at: &str, sku: &str, name: &str, qty: i64, price: Money) -> Result<Self, ContextError> {
        let sku = required_text(&format!("{at}.sku"), sku, MAX_TEXT)?;
        let name = text(&format!("{at}.name"), Some(name), MAX_TEXT)?.unwrap_or_default();
        if qty < 1 {
            return Err(err(format!("{at}.qty"), ContextProblem::NotPositive));
        }
        let qty = count(&format!("{at}.qty"), qty)?;
        if price.is_negative() {
            return Err(err(format!("{at}.price"), ContextProblem::Negative));
        }
        Ok(Self { sku, name, qty, price })
    }
}

/// A validated cart update. `cart_value` is the app's total and is not checked against the
/// items (discounts, taxes and fees make them differ).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartUpdate {
    cart_value: Money,
    items: Vec<CartItem>,
    guest_count: Change<u32>,
    selected_platter: Change<String>,
    event_date: Change<NaiveDate>,
    event_type: Change<String>,
}

impl CartUpdate {
    pub fn parse(input: CartInput, currency: Currency) -> Result<Self, ContextError> {
        let cart_value = money("cart_value", &input.cart_value, currency)?;
        if input.items.len() > MAX_ITEMS {
            return Err(err("items", ContextProblem::TooMany { max: MAX_ITEMS }));
        }
        let items = input
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let at = format!("items[{i}]");
                let price = money(&format!("{at}.price"), &it.price, currency)?;
                CartItem::checked(&at, &it.sku, &it.name, it.qty, price)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            cart_value,
            items,
            guest_count: Change::parse(input.guest_count, |n| count("guest_count", n).map(Some))?,
            selected_platter: Change::parse(input.selected_platter, |s| text("selected_platter", Some(&s), MAX_TEXT))?,
            event_date: Change::parse(input.event_date, |s| parse_event_date(&s))?,
            // Upper-cased before the length check, like screen names.
            event_type: Change::parse(input.event_type, |s| {
                text("event_type", Some(&s.to_uppercase()), MAX_SCREEN)
            })?,
        })
    }

    /// A cart with only a value and lines; the optional fields are kept.
    pub fn new(cart_value: Money, items: Vec<CartItem>) -> Result<Self, ContextError> {
        if cart_value.is_negative() {
            return Err(err("cart_value", ContextProblem::Negative));
        }
        Ok(Self {
            cart_value,
            items,
            guest_count: Change::Keep,
            selected_platter: Change::Keep,
            event_date: Change::Keep,
            event_type: Change::Keep,
        })
    }

    pub fn cart_value(&self) -> Money {
        self.cart_value
    }
}

/// `YYYY-MM-DD`, or an RFC 3339 timestamp whose date is taken. Blank → `None`.
fn parse_event_date(s: &str) -> Result<Option<NaiveDate>, ContextError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(s).ok().map(|d| d.date_naive()))
        .map(Some)
        .ok_or_else(|| err("event_date", ContextProblem::NotADate))
}

/// `PUT /context/{user_id}/profile`: every field optional; absent, `null` or blank keeps the
/// stored value.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ProfileInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
    pub past_order_count: Option<i64>,
    pub lifetime_value: Option<serde_json::Number>,
}

/// A validated partial profile update: only the given fields change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    language: Option<String>,
    tier: Option<String>,
    past_order_count: Option<u32>,
    lifetime_value: Option<Money>,
}

impl ProfileUpdate {
    /// Normalises `language` to lower case with `-` (`en_IN` → `en-in`) and `tier` to upper case.
    pub fn parse(input: ProfileInput, currency: Currency) -> Result<Self, ContextError> {
        let email = text("email", input.email.as_deref(), 254)?;
        if let Some(e) = &email {
            let ok = e
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
                && !e.chars().any(char::is_whitespace);
            if !ok {
                return Err(err("email", ContextProblem::NotAnEmail));
            }
        }
        let phone = text("phone", input.phone.as_deref(), 32)?;
        if let Some(p) = &phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let ok = p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) && (5..=15).contains(&digits);
            if !ok {
                return Err(err("phone", ContextProblem::NotAPhone));
            }
        }
        let language = text("language", input.language.as_deref(), 35)?.map(|l| l.to_lowercase().replace('_', "-"));
        if let Some(l) = &language
            && !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(err("language", ContextProblem::NotALanguage));
        }
        Ok(Self {
            name: text("name", input.name.as_deref(), MAX_TEXT)?,
            email,
            phone,
            language,
            // Upper-cased before the length check, like screen names.
            tier: text("tier", input.tier.map(|t| t.to_uppercase()).as_deref(), 50)?,
            past_order_count: input
                .past_order_count
                .map(|n| count("past_order_count", n))
                .transpose()?,
            lifetime_value: input
                .lifetime_value
                .map(|n| money("lifetime_value", &n, currency))
                .transpose()?,
        })
    }
}

/// What kind of friction the app observed. Any other string is kept as `Other` (upper-case) and
/// scored 0.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SignalKind {
    Inactivity,
    BackNav,
    PriceCheck,
    PaymentFailure,
    Other(String),
}

impl SignalKind {
    /// Case-insensitive; `INACTIVITY`, `BACK_NAV`, `PRICE_CHECK`, `PAYMENT_FAILURE`, else `Other`.
    pub fn parse(s: &str) -> Result<Self, ContextError> {
        let s = required_text("type", s, 64)?.to_uppercase();
        Ok(match s.as_str() {
            "INACTIVITY" => SignalKind::Inactivity,
            "BACK_NAV" => SignalKind::BackNav,
            "PRICE_CHECK" => SignalKind::PriceCheck,
            "PAYMENT_FAILURE" => SignalKind::PaymentFailure,
            _ => SignalKind::Other(s),
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            SignalKind::Inactivity => "INACTIVITY",
            SignalKind::BackNav => "BACK_NAV",
            SignalKind::PriceCheck => "PRICE_CHECK",
            SignalKind::PaymentFailure => "PAYMENT_FAILURE",
            SignalKind::Other(s) => s,
        }
    }
}

impl std::fmt::Display for SignalKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for SignalKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SignalKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SignalKind::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `POST /context/{user_id}/friction-signal` as sent.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SignalInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub screen: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
}

/// A validated friction signal. `value` is recorded as sent and does not affect counting: each
/// signal counts once.
#[derive(Clone, Debug, PartialEq)]
pub struct FrictionSignal {
    pub kind: SignalKind,
    pub value: Option<Value>,
    /// Normalised screen the signal happened on. It becomes the current screen only when the
    /// context has none (a signal never navigates away from a known screen).
    pub screen: Option<String>,
    pub session_id: Option<String>,
}

impl FrictionSignal {
    pub fn new(kind: SignalKind) -> Self {
        Self {
            kind,
            value: None,
            screen: None,
            session_id: None,
        }
    }

    pub fn parse(input: SignalInput) -> Result<Self, ContextError> {
        let screen = match input.screen.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(normalize_screen("screen", s)?),
            None => None,
        };
        Ok(Self {
            kind: SignalKind::parse(&input.kind)?,
            value: input.value.filter(|v| !v.is_null()),
            screen,
            session_id: text("session_id", input.session_id.as_deref(), 128)?,
        })
    }
}

/// Per-tenant context settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextSettings {
    /// Activity after more than this many seconds of silence starts a new session.
    pub session_idle_timeout_seconds: u32,
}

impl Default for ContextSettings {
    fn default() -> Self {
        Self {
            session_idle_timeout_seconds: 30 * 60,
        }
    }
}

impl ContextSettings {
    pub fn idle_timeout(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.session_idle_timeout_seconds))
    }
}

// ---------------------------------------------------------------------------------------------
// State

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Lower-case language tag (`en`, `hi`, `ta`, `en-in`).
    pub language: Option<String>,
    /// Upper-case tier (`GOLD`, `SILVER`, `BRONZE`).
    pub tier: Option<String>,
    /// `None` until the app reports it.
    pub past_order_count: Option<u32>,
    pub lifetime_value: Option<Money>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub started_at: DateTime<Utc>,
    pub last_activity_at: DateTime<Utc>,
    /// Upper-case screen name.
    #[serde(default)]
    pub current_screen: Option<String>,
    /// When the current screen was entered (in this session); set together with `current_screen`.
    #[serde(default)]
    pub screen_entered_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub previous_screen: Option<String>,
    /// Time on CHECKOUT from finished stints in this session, in milliseconds.
    #[serde(default)]
    pub checkout_accumulated_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cart {
    pub items: Vec<CartItem>,
    pub cart_value: Money,
    pub guest_count: Option<u32>,
    pub selected_platter: Option<String>,
    pub event_date: Option<NaiveDate>,
    /// Upper-case event type (`WEDDING`).
    pub event_type: Option<String>,
}

/// Per-session behaviour counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub back_navigation_count: u32,
    pub price_check_count: u32,
    pub payment_retry_count: u32,
    pub inactivity_count: u32,
}

/// The live state of one customer. Stored as JSON (money in minor units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerContext {
    pub user_id: UserId,
    #[serde(default)]
    pub profile: Profile,
    /// `None` until the first customer activity (screen, cart or signal).
    #[serde(default)]
    pub session: Option<Session>,
    #[serde(default)]
    pub cart: Cart,
    #[serde(default)]
    pub counters: Counters,
    /// The last computed friction score (see `friction::rescore`).
    #[serde(default)]
    pub friction_score: u8,
    /// Set when the customer has an order (an incidence then starts POST_ORDER).
    #[serde(default)]
    pub order_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

fn generated_session_id(start: DateTime<Utc>) -> String {
    format!("s-{}", start.format("%Y%m%dT%H%M%S%.3fZ"))
}

fn non_negative(d: TimeDelta) -> TimeDelta {
    d.max(TimeDelta::zero())
}

impl CustomerContext {
    /// An empty context: no profile, session or cart yet.
    pub fn new(user_id: UserId, now: DateTime<Utc>) -> Self {
        Self {
            user_id,
            profile: Profile::default(),
            session: None,
            cart: Cart::default(),
            counters: Counters::default(),
            friction_score: 0,
            order_id: None,
            updated_at: now,
        }
    }

    pub fn current_screen(&self) -> Option<&str> {
        self.session.as_ref()?.current_screen.as_deref()
    }

    pub fn is_on_checkout(&self) -> bool {
        self.current_screen()
            .is_some_and(|s| s.eq_ignore_ascii_case(CHECKOUT_SCREEN))
    }

    /// Time on CHECKOUT in the current session at `now` (finished stints plus the running one).
    pub fn time_on_checkout(&self, now: DateTime<Utc>) -> TimeDelta {
        let Some(s) = &self.session else {
            return TimeDelta::zero();
        };
        let done = TimeDelta::milliseconds(s.checkout_accumulated_ms.max(0));
        let running = match s.screen_entered_at {
            Some(entered) if self.is_on_checkout() => non_negative(now - entered),
            _ => TimeDelta::zero(),
        };
        done + running
    }

    /// `now` − session start (zero without a session).
    pub fn session_duration(&self, now: DateTime<Utc>) -> TimeDelta {
        self.session
            .as_ref()
            .map_or(TimeDelta::zero(), |s| non_negative(now - s.started_at))
    }

    /// The context an incidence records at creation.
    pub fn snapshot(&self) -> ContextSnapshot {
        ContextSnapshot {
            user_id: self.user_id.clone(),
            app_screen: self.current_screen().unwrap_or(UNKNOWN_SCREEN).to_owned(),
            cart_value: self.cart.cart_value,
            guest_count: self.cart.guest_count,
            event_type: self.cart.event_type.clone(),
            friction_score: self.friction_score,
            order_id: self.order_id.clone(),
        }
    }

    pub fn with_friction_score(mut self, score: u8) -> Self {
        self.friction_score = score;
        self
    }

    /// Records customer activity at `now`, rolling over to a new session after the idle gap.
    fn touch(&mut self, now: DateTime<Utc>, client_session: Option<&str>, settings: &ContextSettings) {
        match self.session.as_mut() {
            Some(s) if now - s.last_activity_at <= settings.idle_timeout() => {
                s.last_activity_at = s.last_activity_at.max(now);
                if let Some(id) = client_session {
                    s.id = id.to_owned();
                }
            }
            previous => {
                let rollover = previous.is_some();
                let current_screen = previous.and_then(|p| p.current_screen.take());
                self.session = Some(Session {
                    id: client_session.map_or_else(|| generated_session_id(now), str::to_owned),
                    started_at: now,
                    last_activity_at: now,
                    screen_entered_at: current_screen.as_ref().map(|_| now),
                    current_screen,
                    previous_screen: None,
                    checkout_accumulated_ms: 0,
                });
                if rollover {
                    self.counters = Counters::default();
                }
            }
        }
    }

    /// Moves to `screen` (already normalised). Re-reporting the current screen changes nothing.
    fn navigate(&mut self, screen: &str, now: DateTime<Utc>) {
        let on_checkout = self.is_on_checkout();
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if s.current_screen.as_deref() == Some(screen) {
            return;
        }
        if on_checkout && let Some(entered) = s.screen_entered_at {
            let stint = non_negative(now - entered).num_milliseconds();
            s.checkout_accumulated_ms = s.checkout_accumulated_ms.saturating_add(stint);
        }
        s.previous_screen = s.current_screen.take();
        s.current_screen = Some(screen.to_owned());
        s.screen_entered_at = Some(now);
    }
}

fn base(old: Option<CustomerContext>, user_id: &UserId, now: DateTime<Utc>) -> CustomerContext {
    let mut ctx = old.unwrap_or_else(|| CustomerContext::new(user_id.clone(), now));
    debug_assert_eq!(&ctx.user_id, user_id, "context of another customer");
    ctx.updated_at = now;
    ctx
}

/// A screen view: navigates (tracking checkout time) and counts a back navigation if flagged.
pub fn apply_screen(
    old: Option<CustomerContext>,
    user_id: &UserId,
    view: &ScreenView,
    now: DateTime<Utc>,
    settings: &ContextSettings,
) -> CustomerContext {
    let mut ctx = base(old, user_id, now);
    ctx.touch(now, None, settings);
    ctx.navigate(&view.screen_name, now);
    if view.is_back_navigation {
        ctx.counters.back_navigation_count = ctx.counters.back_navigation_count.saturating_add(1);
    }
    ctx
}

/// A cart update: value and lines replaced, optional fields kept/cleared/set.
pub fn apply_cart(
    old: Option<CustomerContext>,
    user_id: &UserId,
    update: &CartUpdate,
    now: DateTime<Utc>,
    settings: &ContextSettings,
) -> CustomerContext {
    let mut ctx = base(old, user_id, now);
    ctx.touch(now, None, settings);
    let cart = &mut ctx.cart;
    cart.cart_value = update.cart_value;
    cart.items.clone_from(&update.items);
    update.guest_count.apply_to(&mut cart.guest_count);
    update.selected_platter.apply_to(&mut cart.selected_platter);
    update.event_date.apply_to(&mut cart.event_date);
    update.event_type.apply_to(&mut cart.event_type);
    ctx
}

/// A partial profile update: only the given fields change. Not session activity.
pub fn apply_profile(
    old: Option<CustomerContext>,
    user_id: &UserId,
    update: &ProfileUpdate,
    now: DateTime<Utc>,
) -> CustomerContext {
    let mut ctx = base(old, user_id, now);
    let p = &mut ctx.profile;
    let set = |slot: &mut Option<String>, v: &Option<String>| {
        if v.is_some() {
            slot.clone_from(v);
        }
    };
    set(&mut p.name, &update.name);
    set(&mut p.email, &update.email);
    set(&mut p.phone, &update.phone);
    set(&mut p.language, &update.language);
    set(&mut p.tier, &update.tier);
    if update.past_order_count.is_some() {
        p.past_order_count = update.past_order_count;
    }
    if update.lifetime_value.is_some() {
        p.lifetime_value = update.lifetime_value;
    }
    ctx
}

/// A friction signal: counts it (`Other` counts nothing) and adopts its session id.
pub fn apply_signal(
    old: Option<CustomerContext>,
    user_id: &UserId,
    signal: &FrictionSignal,
    now: DateTime<Utc>,
    settings: &ContextSettings,
) -> CustomerContext {
    let mut ctx = base(old, user_id, now);
    ctx.touch(now, signal.session_id.as_deref(), settings);
    if let Some(screen) = &signal.screen
        && ctx.current_screen().is_none()
    {
        ctx.navigate(screen, now);
    }
    let c = &mut ctx.counters;
    let counter = match signal.kind {
        SignalKind::Inactivity => &mut c.inactivity_count,
        SignalKind::BackNav => &mut c.back_navigation_count,
        SignalKind::PriceCheck => &mut c.price_check_count,
        SignalKind::PaymentFailure => &mut c.payment_retry_count,
        SignalKind::Other(_) => return ctx,
    };
    *counter = counter.saturating_add(1);
    ctx
}

/// Sets (or, with `None` or a blank id, clears) the customer's order. Not session activity.
pub fn apply_order(
    old: Option<CustomerContext>,
    user_id: &UserId,
    order_id: Option<&str>,
    now: DateTime<Utc>,
) -> CustomerContext {
    let mut ctx = base(old, user_id, now);
    ctx.order_id = order_id.map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned);
    ctx
}

// ---------------------------------------------------------------------------------------------
// Views

/// The compact context an incidence takes at creation (SPEC §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextSnapshot {
    pub user_id: UserId,
    /// Current screen, or `UNKNOWN`.
    pub app_screen: String,
    pub cart_value: Money,
    pub guest_count: Option<u32>,
    pub event_type: Option<String>,
    pub friction_score: u8,
    pub order_id: Option<String>,
}

/// The name/value strings pushed to the Freshchat user's properties, in a fixed order. Every
/// property is always present (empty string when unknown) so a cleared value also clears the
/// agent's view. Money is decimal text in major units (`4999.99`).
pub fn agent_properties(ctx: &CustomerContext, score: &FrictionScore, currency: Currency) -> Vec<(String, String)> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let reasons: Vec<&str> = score.reasons.iter().map(|r| r.as_str()).collect();
    let props = [
        ("current_screen", opt(ctx.current_screen().map(str::to_owned))),
        ("cart_value", ctx.cart.cart_value.to_decimal_string(currency)),
        ("item_count", ctx.cart.items.len().to_string()),
        ("guest_count", opt(ctx.cart.guest_count.map(|g| g.to_string()))),
        ("event_type", opt(ctx.cart.event_type.clone())),
        (
            "event_date",
            opt(ctx.cart.event_date.map(|d| d.format("%Y-%m-%d").to_string())),
        ),
        ("selected_platter", opt(ctx.cart.selected_platter.clone())),
        ("friction_score", score.score.to_string()),
        ("friction_reasons", reasons.join(",")),
        ("needs_help", score.should_show_help.to_string()),
        ("tier", opt(ctx.profile.tier.clone())),
        ("language", opt(ctx.profile.language.clone())),
        (
            "past_order_count",
            opt(ctx.profile.past_order_count.map(|n| n.to_string())),
        ),
        (
            "lifetime_value",
            opt(ctx.profile.lifetime_value.map(|m| m.to_decimal_string(currency))),
        ),
        ("order_id", opt(ctx.order_id.clone())),
        ("back_navigation_count", ctx.counters.back_navigation_count.to_string()),
        ("price_check_count", ctx.counters.price_check_count.to_string()),
        ("payment_retry_count", ctx.counters.payment_retry_count.to_string()),
    ];
    props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// One cart line for the API (price as a decimal number).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CartItemView {
    pub sku: String,
    pub name: String,
    pub qty: u32,
    pub price: serde_json::Number,
}

/// The whole context for `GET /context/{user_id}`, with the seed's (§3.2) flat field names,
/// money as decimal numbers in the tenant's currency and durations computed at `now`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContextView {
    pub user_id: UserId,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub tier: Option<String>,
    pub past_order_count: Option<u32>,
    pub lifetime_value: Option<serde_json::Number>,
    pub session_id: Option<String>,
    pub current_screen: Option<String>,
    pub previous_screen: Option<String>,
    pub session_start: Option<DateTime<Utc>>,
    pub session_duration_seconds: i64,
    pub cart_items: Vec<CartItemView>,
    pub cart_value: serde_json::Number,
    pub currency: String,
    pub selected_platter: Option<String>,
    pub guest_count: Option<u32>,
    pub event_date: Option<NaiveDate>,
    pub event_type: Option<String>,
    pub friction_score: u8,
    pub back_navigation_count: u32,
    pub price_check_count: u32,
    pub time_on_checkout_seconds: i64,
    pub payment_retry_count: u32,
    pub inactivity_count: u32,
    pub order_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl CustomerContext {
    pub fn view(&self, now: DateTime<Utc>, currency: Currency) -> ContextView {
        let p = &self.profile;
        let s = self.session.as_ref();
        ContextView {
            user_id: self.user_id.clone(),
            name: p.name.clone(),
            email: p.email.clone(),
            phone: p.phone.clone(),
            language: p.language.clone(),
            tier: p.tier.clone(),
            past_order_count: p.past_order_count,
            lifetime_value: p.lifetime_value.map(|m| m.to_json_number(currency)),
            session_id: s.map(|s| s.id.clone()),
            current_screen: self.current_screen().map(str::to_owned),
            previous_screen: s.and_then(|s| s.previous_screen.clone()),
            session_start: s.map(|s| s.started_at),
            session_duration_seconds: self.session_duration(now).num_seconds(),
            cart_items: (self.cart.items.iter())
                .map(|i| CartItemView {
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    qty: i.qty,
                    price: i.price.to_json_number(currency),
                })
                .collect(),
            cart_value: self.cart.cart_value.to_json_number(currency),
            currency: currency.code().to_owned(),
            selected_platter: self.cart.selected_platter.clone(),
            guest_count: self.cart.guest_count,
            event_date: self.cart.event_date,
            event_type: self.cart.event_type.clone(),
            friction_score: self.friction_score,
            back_navigation_count: self.counters.back_navigation_count,
            price_check_count: self.counters.price_check_count,
            time_on_checkout_seconds: self.time_on_checkout(now).num_seconds(),
            payment_retry_count: self.counters.payment_retry_count,
            inactivity_count: self.counters.inactivity_count,
            order_id: self.order_id.clone(),
            updated_at: self.updated_at,
        }
    }
}
