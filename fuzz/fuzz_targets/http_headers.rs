//! Provider answer headers: `Retry-After` and Freshdesk's `X-RateLimit-*`.
//!
//! Input: `retry-after \0 total \0 remaining \0 used \0 now`, `now` being up to 8 bytes of
//! seconds since 1970, folded into years 1970–9999.
#![no_main]

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use providers::http::{MAX_RETRY_AFTER, RateLimitInfo, parse_retry_after};
use switchboard_fuzz::{fields, text};

/// 9999-12-31T23:59:59Z.
const MAX_NOW_SECS: i64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    let [retry_after, total, remaining, used, now] = fields::<5>(data);
    let mut seconds = [0_u8; 8];
    for (slot, byte) in seconds.iter_mut().zip(now) {
        *slot = *byte;
    }
    let now_secs = i64::from_le_bytes(seconds).rem_euclid(MAX_NOW_SECS + 1);
    let Some(now) = DateTime::<Utc>::from_timestamp(now_secs, 0) else {
        return;
    };
    check_retry_after(&text(retry_after), now);

    let mut headers = HeaderMap::new();
    let mut expected = RateLimitInfo::default();
    for (name, value, slot) in [
        ("X-RateLimit-Total", total, &mut expected.total),
        ("x-ratelimit-remaining", remaining, &mut expected.remaining),
        ("X-RATELIMIT-USED-CURRENTREQUEST", used, &mut expected.used),
    ] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            *slot = value.to_str().ok().and_then(|v| v.trim().parse().ok());
            headers.insert(name, value);
        }
    }
    let info = RateLimitInfo::from_headers(&headers);
    assert_eq!(info, (expected != RateLimitInfo::default()).then_some(expected));
});

fn check_retry_after(value: &str, now: DateTime<Utc>) {
    let Some(wait) = parse_retry_after(value, now) else {
        return;
    };
    assert!(wait <= MAX_RETRY_AFTER, "{value:?} → {wait:?}");
    // Callers schedule the retry at `now + wait` in chrono: that instant must exist.
    let delta = TimeDelta::from_std(wait).expect("a wait chrono can represent");
    assert!(now.checked_add_signed(delta).is_some(), "{value:?} at {now} overflows");

    let trimmed = value.trim();
    let later = now + TimeDelta::minutes(10);
    let wait_later = parse_retry_after(value, later).expect("parses at any time");
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        // Delta-seconds do not depend on the clock.
        assert_eq!(wait_later, wait);
    } else {
        // An HTTP-date: ten minutes later, up to ten minutes less to wait (never below zero).
        assert!(wait_later <= wait, "{value:?}");
        assert!(wait_later >= wait.saturating_sub(Duration::from_secs(600)), "{value:?}");
    }
}
