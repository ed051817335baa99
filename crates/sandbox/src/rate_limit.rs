//! Freshdesk's per-account, per-minute API budget (freshworks.md §3.8).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::lock;

const WINDOW: Duration = Duration::from_secs(60);

pub(crate) struct RateLimiter {
    state: Mutex<Window>,
}

struct Window {
    limit: u32,
    started: Option<Instant>,
    used: u32,
}

/// The verdict for one request, with what the `X-RateLimit-*` headers report.
pub(crate) enum Admission {
    Allowed { total: u32, remaining: u32, cost: u32 },
    Limited { total: u32, retry_after_secs: u64 },
}

impl RateLimiter {
    pub(crate) fn new(limit: u32) -> Self {
        Self {
            state: Mutex::new(Window {
                limit,
                started: None,
                used: 0,
            }),
        }
    }

    /// Spends `cost` credits of the current minute, which starts with its first request.
    pub(crate) fn admit(&self, cost: u32) -> Admission {
        let now = Instant::now();
        let mut w = lock(&self.state);
        let started = match w.started {
            Some(s) if now.duration_since(s) < WINDOW => s,
            _ => {
                w.started = Some(now);
                w.used = 0;
                now
            }
        };
        if w.used.saturating_add(cost) > w.limit {
            let left = WINDOW.saturating_sub(now.duration_since(started));
            // Rounded up: a client that waits exactly this long finds a fresh window.
            let secs = left.as_millis().div_ceil(1000).max(1);
            return Admission::Limited {
                total: w.limit,
                retry_after_secs: u64::try_from(secs).unwrap_or(60),
            };
        }
        w.used += cost;
        Admission::Allowed {
            total: w.limit,
            remaining: w.limit - w.used,
            cost,
        }
    }

    /// Changes the budget and starts a fresh window.
    pub(crate) fn reset(&self, limit: Option<u32>) {
        let mut w = lock(&self.state);
        if let Some(limit) = limit {
            w.limit = limit;
        }
        w.started = None;
        w.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_then_retry_after() {
        let limiter = RateLimiter::new(3);
        for expected in [2, 1, 0] {
            match limiter.admit(1) {
                Admission::Allowed { remaining, .. } => assert_eq!(remaining, expected),
                Admission::Limited { .. } => panic!("limited too early"),
            }
        }
        match limiter.admit(1) {
            Admission::Limited {
                retry_after_secs,
                total,
            } => {
                assert_eq!(total, 3);
                assert!((59..=60).contains(&retry_after_secs));
            }
            Admission::Allowed { .. } => panic!("not limited"),
        }
        limiter.reset(Some(5));
        assert!(matches!(
            limiter.admit(2),
            Admission::Allowed {
                remaining: 3,
                cost: 2,
                ..
            }
        ));
    }
}
