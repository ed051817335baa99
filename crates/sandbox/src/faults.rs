//! Fault injection: rules that make a provider's API misbehave (status codes, 429s, latency,
//! timeouts after the write) or its webhooks arrive twice, out of order or in odd shapes.
//! The same rules are reachable programmatically ([`Faults`]) and through `/admin/faults`.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::lock;

/// The faked providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Freshchat,
    Freshdesk,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Freshchat => "freshchat",
            Provider::Freshdesk => "freshdesk",
        }
    }

    /// The API root under the sandbox mount, stripped from rule prefixes.
    pub(crate) fn api_root(self) -> &'static str {
        match self {
            Provider::Freshchat => "/freshchat/v2",
            Provider::Freshdesk => "/freshdesk/api/v2",
        }
    }
}

/// One fault rule. API rules match on method and path prefix (relative to the provider's API
/// root, e.g. `/tickets` or `/conversations`); webhook rules match on the event name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub provider: Provider,
    /// HTTP method (any case); `None` matches all.
    #[serde(default)]
    pub method: Option<String>,
    /// Prefix of the API-relative path; `None` matches all.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Webhook event (`message_create`, `conversation_resolution`, `agent_reply`, …); `None`
    /// matches all.
    #[serde(default)]
    pub event: Option<String>,
    pub action: FaultAction,
    /// How many times the rule fires; `None` = unlimited.
    #[serde(default)]
    pub times: Option<u32>,
    /// Probability in `[0, 1]` that a matching request is affected; `None` = always.
    #[serde(default)]
    pub rate: Option<f64>,
}

impl FaultRule {
    pub fn new(provider: Provider, action: FaultAction) -> Self {
        Self {
            provider,
            method: None,
            path_prefix: None,
            event: None,
            action,
            times: None,
            rate: None,
        }
    }

    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_string());
        self
    }

    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.path_prefix = Some(prefix.to_string());
        self
    }

    pub fn event(mut self, event: &str) -> Self {
        self.event = Some(event.to_string());
        self
    }

    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate);
        self
    }
}

/// What a matching rule does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FaultAction {
    /// Answer this status with the provider's error body, without touching any state.
    Status { status: u16 },
    /// 429, with `Retry-After: <secs>` when given (Freshchat's header is UNCONFIRMED).
    TooManyRequests {
        #[serde(default)]
        retry_after_secs: Option<u64>,
    },
    /// Wait this long, then handle the request normally.
    Latency { millis: u64 },
    /// Perform the request (the write commits), then hold the response this long so the
    /// client times out not knowing it succeeded.
    TimeoutAfterCommit { hold_millis: u64 },
    /// Webhooks: deliver each matching webhook twice.
    DuplicateWebhook,
    /// Webhooks: hold the next `batch` deliveries, then release them in `order`.
    ReorderWebhooks { batch: u32, order: ReleaseOrder },
    /// Freshchat webhooks: the legacy 2018 `msg_parts` message shape.
    LegacyMessageParts,
    /// Freshchat webhooks: no `message_type` key (as in the 2022-11 sample).
    OmitMessageType,
}

impl FaultAction {
    fn is_webhook_fault(&self) -> bool {
        matches!(
            self,
            FaultAction::DuplicateWebhook
                | FaultAction::ReorderWebhooks { .. }
                | FaultAction::LegacyMessageParts
                | FaultAction::OmitMessageType
        )
    }
}

/// Order in which a held webhook batch is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseOrder {
    Reverse,
    Shuffle,
}

/// Identifier of an installed rule.
pub type FaultId = u64;

/// A rule as listed: the rule, its id and how often it fired.
#[derive(Clone, Debug, Serialize)]
pub struct FaultView {
    pub id: FaultId,
    #[serde(flatten)]
    pub rule: FaultRule,
    pub hits: u32,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("rate must be within [0, 1], got {0}")]
    Rate(f64),
    #[error("status must be within 100..=599, got {0}")]
    Status(u16),
    #[error("a reorder batch needs at least 2 deliveries")]
    Batch,
}

/// The installed rules plus the seeded randomness they draw from.
pub struct Faults {
    state: Mutex<FaultState>,
}

struct FaultState {
    next_id: FaultId,
    rules: Vec<FaultView>,
    rng: fastrand::Rng,
}

impl Faults {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: Mutex::new(FaultState {
                next_id: 1,
                rules: Vec::new(),
                rng: fastrand::Rng::with_seed(seed),
            }),
        }
    }

    /// Installs a rule; rules are tried in installation order and the first match wins.
    pub fn add(&self, mut rule: FaultRule) -> Result<FaultId, FaultError> {
        if let Some(rate) = rule.rate
            && !(0.0..=1.0).contains(&rate)
        {
            return Err(FaultError::Rate(rate));
        }
        match rule.action {
            FaultAction::Status { status } if !(100..=599).contains(&status) => {
                return Err(FaultError::Status(status));
            }
            FaultAction::ReorderWebhooks { batch, .. } if batch < 2 => {
                return Err(FaultError::Batch);
            }
            _ => {}
        }
        rule.path_prefix = rule.path_prefix.map(|p| relative_prefix(rule.provider, &p));
        let mut state = lock(&self.state);
        let id = state.next_id;
        state.next_id += 1;
        state.rules.push(FaultView { id, rule, hits: 0 });
        Ok(id)
    }

    /// Removes one rule; `false` when there was none with that id.
    pub fn remove(&self, id: FaultId) -> bool {
        let mut state = lock(&self.state);
        let before = state.rules.len();
        state.rules.retain(|r| r.id != id);
        state.rules.len() != before
    }

    pub fn clear(&self) {
        lock(&self.state).rules.clear();
    }

    pub fn list(&self) -> Vec<FaultView> {
        lock(&self.state).rules.clone()
    }

    /// Reseeds the randomness (reproducible probabilistic runs).
    pub fn reseed(&self, seed: u64) {
        lock(&self.state).rng.seed(seed);
    }

    /// The API fault to apply to this request, if any (consumes one use of the rule).
    pub(crate) fn for_request(&self, provider: Provider, method: &str, path: &str) -> Option<FaultAction> {
        self.take(|rule| {
            !rule.action.is_webhook_fault()
                && rule.provider == provider
                && rule.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
                && rule.path_prefix.as_deref().is_none_or(|p| path.starts_with(p))
        })
    }

    /// The webhook fault of the kind `wanted` selects that applies to this event, if any.
    pub(crate) fn for_webhook(
        &self,
        provider: Provider,
        event: &str,
        wanted: impl Fn(&FaultAction) -> bool,
    ) -> Option<FaultAction> {
        self.take(|rule| {
            rule.action.is_webhook_fault()
                && wanted(&rule.action)
                && rule.provider == provider
                && rule.event.as_deref().is_none_or(|e| e == event)
        })
    }

    pub(crate) fn shuffle<T>(&self, items: &mut [T]) {
        lock(&self.state).rng.shuffle(items);
    }

    fn take(&self, matches: impl Fn(&FaultRule) -> bool) -> Option<FaultAction> {
        let mut guard = lock(&self.state);
        let FaultState { rules, rng, .. } = &mut *guard;
        for view in rules.iter_mut() {
            let exhausted = view.rule.times.is_some_and(|t| view.hits >= t);
            if exhausted || !matches(&view.rule) {
                continue;
            }
            if let Some(rate) = view.rule.rate
                && rng.f64() >= rate
            {
                continue;
            }
            view.hits += 1;
            return Some(view.rule.action.clone());
        }
        None
    }
}

/// Accepts prefixes written relative to the API root or as full sandbox paths.
fn relative_prefix(provider: Provider, prefix: &str) -> String {
    let p = prefix.strip_prefix("/sandbox").unwrap_or(prefix);
    let p = p.strip_prefix(provider.api_root()).unwrap_or(p);
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_limit_and_first_match_wins() -> Result<(), FaultError> {
        let faults = Faults::new(1);
        faults.add(
            FaultRule::new(Provider::Freshdesk, FaultAction::Status { status: 503 })
                .method("post")
                .path_prefix("/sandbox/freshdesk/api/v2/tickets")
                .times(1),
        )?;
        faults.add(FaultRule::new(Provider::Freshdesk, FaultAction::Latency { millis: 5 }))?;
        let first = faults.for_request(Provider::Freshdesk, "POST", "/tickets/1/notes");
        assert_eq!(first, Some(FaultAction::Status { status: 503 }));
        let second = faults.for_request(Provider::Freshdesk, "POST", "/tickets");
        assert_eq!(second, Some(FaultAction::Latency { millis: 5 }));
        assert_eq!(faults.for_request(Provider::Freshchat, "POST", "/tickets"), None);
        assert_eq!(faults.list()[0].hits, 1);
        Ok(())
    }

    #[test]
    fn rate_is_seeded_and_validated() -> Result<(), FaultError> {
        let run = |seed| -> Result<Vec<bool>, FaultError> {
            let faults = Faults::new(seed);
            faults.add(FaultRule::new(Provider::Freshchat, FaultAction::Status { status: 500 }).rate(0.5))?;
            Ok((0..64)
                .map(|_| faults.for_request(Provider::Freshchat, "GET", "/users").is_some())
                .collect())
        };
        let a = run(7)?;
        assert_eq!(a, run(7)?);
        let hits = a.iter().filter(|h| **h).count();
        assert!((10..54).contains(&hits), "{hits}");
        let faults = Faults::new(0);
        let bad = FaultRule::new(Provider::Freshchat, FaultAction::DuplicateWebhook).rate(1.5);
        assert_eq!(faults.add(bad), Err(FaultError::Rate(1.5)));
        Ok(())
    }

    #[test]
    fn webhook_rules_do_not_touch_requests() -> Result<(), FaultError> {
        let faults = Faults::new(0);
        faults.add(FaultRule::new(Provider::Freshchat, FaultAction::DuplicateWebhook).event("message_create"))?;
        assert_eq!(faults.for_request(Provider::Freshchat, "POST", "/x"), None);
        let dup = |a: &FaultAction| matches!(a, FaultAction::DuplicateWebhook);
        assert!(
            faults
                .for_webhook(Provider::Freshchat, "conversation_reopen", dup)
                .is_none()
        );
        assert!(faults.for_webhook(Provider::Freshchat, "message_create", dup).is_some());
        Ok(())
    }
}
