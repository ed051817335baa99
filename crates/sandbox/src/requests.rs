//! The log of every provider API request and per-endpoint call counters, so tests can count
//! calls and check that nothing arrived before a `Retry-After` had passed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::faults::Provider;
use crate::lock;

/// One request as the fake saw it.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    /// Increasing from 1 in arrival order.
    pub seq: u64,
    pub provider: Provider,
    pub method: String,
    /// Path relative to the provider's API root, e.g. `/tickets/7/notes`.
    pub path: String,
    pub query: Option<String>,
    /// Method and route template, e.g. `POST /tickets/{id}/notes` (the counter key).
    pub endpoint: String,
    /// Status the fake answered (also when a timeout fault kept the client from seeing it).
    pub status: u16,
    #[serde(serialize_with = "crate::timestamps::serialize_millis")]
    pub received_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// The injected fault, if any (`status`, `too_many_requests`, `latency`, …).
    pub fault: Option<String>,
    /// `Retry-After` the fake sent, if any.
    pub retry_after_secs: Option<u64>,
}

/// Call counts per provider and endpoint.
pub type Counters = BTreeMap<Provider, BTreeMap<String, u64>>;

pub(crate) struct RequestLog {
    state: Mutex<LogState>,
}

struct LogState {
    next_seq: u64,
    capacity: usize,
    records: VecDeque<RequestRecord>,
    counters: Counters,
}

/// What the gate knows about a request once it has been answered.
pub(crate) struct Finished {
    pub provider: Provider,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub endpoint: String,
    pub status: u16,
    pub received_at: DateTime<Utc>,
    pub fault: Option<String>,
    pub retry_after_secs: Option<u64>,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(LogState {
                next_seq: 1,
                capacity: capacity.max(1),
                records: VecDeque::new(),
                counters: Counters::new(),
            }),
        }
    }

    pub(crate) fn record(&self, done: Finished) {
        let duration_ms = (Utc::now() - done.received_at).num_milliseconds().max(0).unsigned_abs();
        let mut state = lock(&self.state);
        *state
            .counters
            .entry(done.provider)
            .or_default()
            .entry(done.endpoint.clone())
            .or_default() += 1;
        let seq = state.next_seq;
        state.next_seq += 1;
        if state.records.len() >= state.capacity {
            state.records.pop_front();
        }
        state.records.push_back(RequestRecord {
            seq,
            provider: done.provider,
            method: done.method,
            path: done.path,
            query: done.query,
            endpoint: done.endpoint,
            status: done.status,
            received_at: done.received_at,
            duration_ms,
            fault: done.fault,
            retry_after_secs: done.retry_after_secs,
        });
    }

    /// Records in arrival order, optionally of one provider.
    pub(crate) fn records(&self, provider: Option<Provider>) -> Vec<RequestRecord> {
        lock(&self.state)
            .records
            .iter()
            .filter(|r| provider.is_none_or(|p| r.provider == p))
            .cloned()
            .collect()
    }

    pub(crate) fn counters(&self) -> Counters {
        lock(&self.state).counters.clone()
    }

    pub(crate) fn clear(&self) {
        let mut state = lock(&self.state);
        state.records.clear();
        state.counters.clear();
    }
}
