//! Webhook delivery: one ordered lane per provider, retries on non-2xx or timeout after the
//! configured delays, plus the delivery faults (duplicates, held and reordered batches).
//!
//! First attempts leave a lane in the order the events happened. A failed delivery waits for
//! its retry off the lane, so later events are not blocked behind it — as with the real
//! providers, a retried event can therefore arrive after newer ones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use url::Url;

use crate::faults::{FaultAction, Faults, Provider, ReleaseOrder};
use crate::{SandboxError, lock};

/// A webhook ready to go: body bytes are final (Freshchat signs them).
pub(crate) struct Outgoing {
    pub provider: Provider,
    pub event: String,
    pub url: Option<Url>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Freshchat numbers its attempts in `X-Retry-Count`; Freshdesk sends no such header.
    pub retry_count_header: bool,
}

/// One webhook and what happened to it.
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryRecord {
    pub id: u64,
    pub provider: Provider,
    pub event: String,
    pub url: Option<String>,
    pub body: String,
    /// Second copy sent by the duplicate-delivery fault.
    pub duplicate: bool,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Held back by a reorder fault until its batch is complete.
    Held,
    /// Waiting for its (next) attempt.
    Queued,
    Delivered,
    /// Every attempt failed.
    Failed,
    /// No webhook URL was configured: dropped, like a provider with webhooks switched off.
    NoTarget,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeliveryAttempt {
    pub retry_count: u32,
    #[serde(serialize_with = "crate::timestamps::serialize_millis")]
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub error: Option<String>,
}

pub(crate) struct Webhooks {
    shared: Arc<Shared>,
    lanes: [Lane; 2],
}

struct Shared {
    client: reqwest::Client,
    log: Mutex<DeliveryLog>,
    /// Deliveries not yet finished (held, queued, in flight or waiting for a retry).
    outstanding: watch::Sender<usize>,
}

struct DeliveryLog {
    capacity: usize,
    next_id: u64,
    records: VecDeque<DeliveryRecord>,
}

struct Lane {
    delays: Vec<Duration>,
    tx: OnceLock<mpsc::UnboundedSender<Job>>,
    held: Mutex<Option<HeldBatch>>,
}

struct HeldBatch {
    size: usize,
    order: ReleaseOrder,
    jobs: Vec<Job>,
}

struct Job {
    id: u64,
    url: Url,
    headers: Arc<Vec<(&'static str, String)>>,
    body: Bytes,
    retry: u32,
    retry_count_header: bool,
}

impl Webhooks {
    pub(crate) fn new(
        timeout: Duration,
        freshchat_delays: Vec<Duration>,
        freshdesk_delays: Vec<Duration>,
        capacity: usize,
    ) -> Result<Self, SandboxError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(SandboxError::HttpClient)?;
        let lane = |delays| Lane {
            delays,
            tx: OnceLock::new(),
            held: Mutex::new(None),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                log: Mutex::new(DeliveryLog {
                    capacity: capacity.max(1),
                    next_id: 1,
                    records: VecDeque::new(),
                }),
                outstanding: watch::channel(0).0,
            }),
            lanes: [lane(freshchat_delays), lane(freshdesk_delays)],
        })
    }

    fn lane(&self, provider: Provider) -> &Lane {
        match provider {
            Provider::Freshchat => &self.lanes[0],
            Provider::Freshdesk => &self.lanes[1],
        }
    }

    /// Queues a webhook behind the lane's earlier ones (called under the store lock so the
    /// lane order is the order of events).
    pub(crate) fn enqueue(&self, faults: &Faults, out: Outgoing) {
        let body_text = String::from_utf8_lossy(&out.body).into_owned();
        let Some(url) = out.url else {
            self.shared.new_record(
                out.provider,
                &out.event,
                None,
                body_text,
                false,
                DeliveryState::NoTarget,
            );
            return;
        };
        let duplicate = faults
            .for_webhook(out.provider, &out.event, |a| matches!(a, FaultAction::DuplicateWebhook))
            .is_some();
        let headers = Arc::new(out.headers);
        let body = Bytes::from(out.body);
        for copy in 0..if duplicate { 2 } else { 1 } {
            let id = self.shared.new_record(
                out.provider,
                &out.event,
                Some(url.to_string()),
                body_text.clone(),
                copy == 1,
                DeliveryState::Queued,
            );
            self.shared.outstanding.send_modify(|n| *n += 1);
            let job = Job {
                id,
                url: url.clone(),
                headers: Arc::clone(&headers),
                body: body.clone(),
                retry: 0,
                retry_count_header: out.retry_count_header,
            };
            self.hold_or_send(faults, out.provider, &out.event, job);
        }
    }

    fn hold_or_send(&self, faults: &Faults, provider: Provider, event: &str, job: Job) {
        let lane = self.lane(provider);
        let mut held = lock(&lane.held);
        if held.is_none()
            && let Some(FaultAction::ReorderWebhooks { batch, order }) =
                faults.for_webhook(provider, event, |a| matches!(a, FaultAction::ReorderWebhooks { .. }))
        {
            *held = Some(HeldBatch {
                size: usize::try_from(batch).unwrap_or(usize::MAX),
                order,
                jobs: Vec::new(),
            });
        }
        match held.as_mut() {
            Some(batch) => {
                self.shared.set_state(job.id, DeliveryState::Held);
                batch.jobs.push(job);
                if batch.jobs.len() >= batch.size
                    && let Some(full) = held.take()
                {
                    self.release(faults, lane, full);
                }
            }
            None => self.send(lane, job),
        }
    }

    fn release(&self, faults: &Faults, lane: &Lane, mut batch: HeldBatch) {
        match batch.order {
            ReleaseOrder::Reverse => batch.jobs.reverse(),
            ReleaseOrder::Shuffle => faults.shuffle(&mut batch.jobs),
        }
        for job in batch.jobs {
            self.shared.set_state(job.id, DeliveryState::Queued);
            self.send(lane, job);
        }
    }

    /// Releases partially filled held batches (in their fault's order).
    pub(crate) fn release_held(&self, faults: &Faults) {
        for lane in &self.lanes {
            let batch = lock(&lane.held).take();
            if let Some(batch) = batch {
                self.release(faults, lane, batch);
            }
        }
    }

    fn send(&self, lane: &Lane, job: Job) {
        match self.sender(lane) {
            Some(tx) => {
                if let Err(mpsc::error::SendError(job)) = tx.send(job) {
                    self.shared.finish(job.id, DeliveryState::Failed);
                }
            }
            None => self.shared.finish(job.id, DeliveryState::Failed),
        }
    }

    /// The lane's worker, started on first use: `Sandbox::new` need not run inside a runtime,
    /// but deliveries do.
    fn sender<'a>(&self, lane: &'a Lane) -> Option<&'a mpsc::UnboundedSender<Job>> {
        if let Some(tx) = lane.tx.get() {
            return Some(tx);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(lane.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            runtime.spawn(run_lane(
                Arc::clone(&self.shared),
                lane.delays.clone(),
                tx.downgrade(),
                rx,
            ));
            tx
        }))
    }

    /// Waits until nothing is held, queued, in flight or waiting for a retry.
    pub(crate) async fn settle(&self, faults: &Faults) {
        self.release_held(faults);
        let mut rx = self.shared.outstanding.subscribe();
        // The sender lives as long as `self`, so this only ends when the count is zero.
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    pub(crate) fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.shared.log).records.iter().cloned().collect()
    }
}

async fn run_lane(
    shared: Arc<Shared>,
    delays: Vec<Duration>,
    tx: mpsc::WeakUnboundedSender<Job>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(mut job) = rx.recv().await {
        let attempt = shared.attempt(&job).await;
        let delivered = attempt.status.is_some_and(|s| (200..300).contains(&s));
        shared.add_attempt(job.id, attempt);
        if delivered {
            shared.finish(job.id, DeliveryState::Delivered);
            continue;
        }
        let Some(delay) = delays.get(usize::try_from(job.retry).unwrap_or(usize::MAX)) else {
            shared.finish(job.id, DeliveryState::Failed);
            continue;
        };
        job.retry += 1;
        let (delay, tx, shared) = (*delay, tx.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let id = job.id;
            let sent = tx.upgrade().is_some_and(|tx| tx.send(job).is_ok());
            if !sent {
                shared.finish(id, DeliveryState::Failed);
            }
        });
    }
}

impl Shared {
    async fn attempt(&self, job: &Job) -> DeliveryAttempt {
        let mut request = self
            .client
            .post(job.url.clone())
            .header("Content-Type", "application/json")
            .body(job.body.clone());
        for (name, value) in job.headers.iter() {
            request = request.header(*name, value);
        }
        if job.retry_count_header {
            request = request.header("X-Retry-Count", job.retry.to_string());
        }
        let at = Utc::now();
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        DeliveryAttempt {
            retry_count: job.retry,
            at,
            status,
            error,
        }
    }

    fn new_record(
        &self,
        provider: Provider,
        event: &str,
        url: Option<String>,
        body: String,
        duplicate: bool,
        state: DeliveryState,
    ) -> u64 {
        let mut log = lock(&self.log);
        let id = log.next_id;
        log.next_id += 1;
        if log.records.len() >= log.capacity {
            log.records.pop_front();
        }
        log.records.push_back(DeliveryRecord {
            id,
            provider,
            event: event.to_string(),
            url,
            body,
            duplicate,
            state,
            attempts: Vec::new(),
        });
        id
    }

    fn with_record(&self, id: u64, f: impl FnOnce(&mut DeliveryRecord)) {
        let mut log = lock(&self.log);
        let first = log.records.front().map_or(id, |r| r.id);
        let index = id.checked_sub(first).and_then(|i| usize::try_from(i).ok());
        if let Some(record) = index.and_then(|i| log.records.get_mut(i)) {
            f(record);
        }
    }

    fn set_state(&self, id: u64, state: DeliveryState) {
        self.with_record(id, |r| r.state = state);
    }

    fn add_attempt(&self, id: u64, attempt: DeliveryAttempt) {
        self.with_record(id, |r| r.attempts.push(attempt));
    }

    fn finish(&self, id: u64, state: DeliveryState) {
        self.set_state(id, state);
        self.outstanding.send_modify(|n| *n = n.saturating_sub(1));
    }
}
