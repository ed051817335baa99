//! Sending: open loop on a fixed timetable (`Rate::PerSecond`) or flat out with a fixed number
//! of senders (`Rate::Max`), for a warm-up then the measured duration.
//!
//! Open loop: every send has its scheduled instant and starts then whatever earlier requests
//! are doing (one task per request; a semaphore caps what is in flight only as a safety net).
//! Latency counts from the scheduled instant, so a sender that falls behind shows up in the
//! numbers instead of hiding them (no coordinated omission); late starts are counted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::Client;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sandbox::Sandbox;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::effects::EffectTracker;
use crate::host::Connection;
use crate::prepare::Prepared;
use crate::record::{Answer, EventKind, Phase, Record, RunClock, SentEvent, marker};
use crate::scenario::{Pick, Scenario};

/// How fast to send.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Open loop: this many events per second on a fixed timetable.
    PerSecond(f64),
    /// Closed loop: `concurrency` senders, each sending again as soon as answered.
    Max { concurrency: usize },
}

#[derive(Clone, Debug)]
pub struct DriveOptions {
    pub rate: Rate,
    pub warmup: Duration,
    pub duration: Duration,
    /// Open loop only: requests in flight at most (large: it must not shape the schedule).
    pub max_in_flight: usize,
    pub seed: u64,
}

/// How often the sandbox is read for new tickets (replies need one).
const TICKET_POLL: Duration = Duration::from_millis(50);

/// One shared HTTP client, its pool sized for `concurrency` connections.
pub fn http_client(concurrency: usize) -> Result<Client, reqwest::Error> {
    Client::builder()
        .pool_max_idle_per_host(concurrency.max(16))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
}

/// Sends the scenario's events; cheap to clone.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    connection: Connection,
    sandbox: Sandbox,
    run_id: String,
    prepared: Arc<Prepared>,
    conversation_index: HashMap<String, usize>,
    agents: Vec<String>,
    clock: RunClock,
    scenario: Mutex<Scenario>,
    events: Mutex<Vec<SentEvent>>,
    next_seq: AtomicU64,
    skipped: AtomicU64,
    measured_from_us: AtomicU64,
}

impl Driver {
    pub fn new(
        client: Client,
        connection: Connection,
        sandbox: Sandbox,
        run_id: &str,
        prepared: Arc<Prepared>,
        scenario: Scenario,
        clock: RunClock,
    ) -> Self {
        let conversation_index = prepared
            .conversations
            .iter()
            .enumerate()
            .map(|(i, c)| (c.conversation_id.clone(), i))
            .collect();
        let agents = sandbox.config().agents.iter().map(|a| a.email.clone()).collect();
        let next_seq = AtomicU64::new(prepared.messages());
        Self {
            inner: Arc::new(Inner {
                client,
                connection,
                sandbox,
                run_id: run_id.to_string(),
                prepared,
                conversation_index,
                agents,
                clock,
                scenario: Mutex::new(scenario),
                events: Mutex::new(Vec::new()),
                next_seq,
                skipped: AtomicU64::new(0),
                measured_from_us: AtomicU64::new(u64::MAX),
            }),
        }
    }

    /// Runs the warm-up and the measured phase, then waits for every answer. `tracker` is
    /// polled for new tickets meanwhile (and keeps what it found for the effects).
    pub async fn drive(&self, options: &DriveOptions, tracker: Arc<Mutex<EffectTracker>>) -> Record {
        let watcher = tokio::spawn(watch_tickets(self.clone(), tracker));
        let begin = Instant::now() + Duration::from_millis(5);
        let measured_from = begin + options.warmup;
        let end = measured_from + options.duration;
        let clock = self.inner.clock;
        self.inner
            .measured_from_us
            .store(clock.us(measured_from.into_std()), Ordering::SeqCst);
        match options.rate {
            Rate::PerSecond(rate) => self.open_loop(rate, begin, end, options.max_in_flight).await,
            Rate::Max { concurrency } => self.closed_loop(concurrency, end).await,
        }
        watcher.abort();
        let mut events = std::mem::take(&mut *lock(&self.inner.events));
        events.sort_by_key(|e| (e.scheduled_us, e.seq));
        Record {
            run_id: self.inner.run_id.clone(),
            started_at: clock.started_at,
            measured_from_us: clock.us(measured_from.into_std()),
            measured_to_us: clock.us(end.into_std()),
            events,
            skipped_slots: self.inner.skipped.load(Ordering::SeqCst),
        }
    }

    async fn open_loop(&self, rate: f64, begin: Instant, end: Instant, max_in_flight: usize) {
        let rate = rate.max(0.001);
        let total = ((end - begin).as_secs_f64() * rate).round() as u64;
        let permits = u32::try_from(max_in_flight.max(1)).unwrap_or(u32::MAX);
        let in_flight = Arc::new(Semaphore::new(permits as usize));
        let (me, semaphore, runtime) = (self.clone(), Arc::clone(&in_flight), tokio::runtime::Handle::current());
        let (begin, end) = (begin.into_std(), end.into_std());
        // The timetable runs on a thread of its own: the OS sleeps to within tens of
        // microseconds, where tokio's timer rounds up to the next millisecond.
        let timetable = tokio::task::spawn_blocking(move || {
            for n in 0..total {
                let at = begin + Duration::from_secs_f64(n as f64 / rate);
                if at >= end {
                    break;
                }
                std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
                let Ok(permit) = runtime.block_on(Arc::clone(&semaphore).acquire_owned()) else {
                    break;
                };
                let pick = lock(&me.inner.scenario).pick(me.inner.clock.now_us());
                if pick == Pick::Nothing {
                    me.inner.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let (sender, scheduled_us) = (me.clone(), me.inner.clock.us(at));
                runtime.spawn(async move {
                    sender.execute(pick, scheduled_us).await;
                    drop(permit);
                });
            }
        });
        let _ = timetable.await;
        // Every answer in.
        let _ = in_flight.acquire_many(permits).await;
    }

    async fn closed_loop(&self, concurrency: usize, end: Instant) {
        let senders: Vec<_> = (0..concurrency.max(1))
            .map(|_| {
                let me = self.clone();
                tokio::spawn(async move {
                    while Instant::now() < end {
                        let now_us = me.inner.clock.now_us();
                        let pick = lock(&me.inner.scenario).pick(now_us);
                        if pick == Pick::Nothing {
                            me.inner.skipped.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        me.execute(pick, now_us).await;
                    }
                })
            })
            .collect();
        for sender in senders {
            let _ = sender.await;
        }
    }

    async fn execute(&self, pick: Pick, scheduled_us: u64) {
        let inner = &self.inner;
        let event = match pick {
            Pick::Message { conversation, index } => {
                let Some(c) = inner.prepared.conversations.get(conversation) else {
                    return;
                };
                let Some(m) = c.messages.get(index as usize) else {
                    return;
                };
                let request = inner
                    .client
                    .post(inner.connection.server(m.seq).freshchat.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .header("X-Freshchat-Signature", m.signature.as_str())
                    .header("X-Freshchat-Payload-Version", "1")
                    .header("X-Retry-Count", "0")
                    .body(m.body.clone());
                let (sent_us, answered_us, answer) = self.send(request).await;
                lock(&inner.scenario).answered(conversation, index, answer.accepted(), answered_us);
                SentEvent {
                    seq: m.seq,
                    marker: m.marker.clone(),
                    kind: if index == 0 {
                        EventKind::FirstMessage
                    } else {
                        EventKind::FollowUp
                    },
                    conversation_id: c.conversation_id.clone(),
                    ticket_id: None,
                    phase: self.phase(scheduled_us),
                    scheduled_us,
                    sent_us,
                    answered_us,
                    answer,
                }
            }
            Pick::Reply { conversation, ticket } => {
                let Some(c) = inner.prepared.conversations.get(conversation) else {
                    return;
                };
                let seq = inner.next_seq.fetch_add(1, Ordering::Relaxed);
                let marker = marker(&inner.run_id, seq);
                let (sent_us, answered_us, answer) = match self.agent_reply(ticket, seq, &marker).await {
                    Ok(body) => {
                        let request = inner
                            .client
                            .post(inner.connection.server(seq).freshdesk.clone())
                            .header(CONTENT_TYPE, "application/json")
                            .body(body);
                        self.send(request).await
                    }
                    Err(e) => {
                        let now = inner.clock.now_us();
                        let error = format!("the sandbox refused the agent reply: {e}");
                        (now, now, Answer::Transport { error })
                    }
                };
                SentEvent {
                    seq,
                    marker,
                    kind: EventKind::AgentReply,
                    conversation_id: c.conversation_id.clone(),
                    ticket_id: Some(ticket),
                    phase: self.phase(scheduled_us),
                    scheduled_us,
                    sent_us,
                    answered_us,
                    answer,
                }
            }
            Pick::Nothing => return,
        };
        lock(&inner.events).push(event);
    }

    /// The agent writes the reply in Freshdesk (recorded, no webhook: the sandbox's deliveries
    /// are off); returns the automation body Freshdesk would send for it (carrying this reply,
    /// even when another is written on the ticket at the same moment).
    async fn agent_reply(&self, ticket: u64, seq: u64, marker: &str) -> Result<Vec<u8>, sandbox::SandboxError> {
        let inner = &self.inner;
        let agent = inner
            .agents
            .get(usize::try_from(seq).unwrap_or(0) % inner.agents.len().max(1))
            .map(String::as_str);
        let html = format!("<p>Yes, we can do that, and the menu is attached. [{marker}]</p>");
        Ok(inner.sandbox.agent_replies_with_body(ticket, &html, agent)?.1)
    }

    /// Sends; returns (sent, answered) run-clock µs and the answer.
    async fn send(&self, request: reqwest::RequestBuilder) -> (u64, u64, Answer) {
        let clock = &self.inner.clock;
        let sent_us = clock.now_us();
        let answer = match request.send().await {
            Ok(response) => {
                let code = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match response.bytes().await {
                    Ok(_) => Answer::Status { code, retry_after },
                    Err(e) => Answer::Transport {
                        error: e.without_url().to_string(),
                    },
                }
            }
            // Without the URL: the Freshdesk one carries the webhook token.
            Err(e) => Answer::Transport {
                error: e.without_url().to_string(),
            },
        };
        (sent_us, clock.now_us(), answer)
    }

    fn phase(&self, scheduled_us: u64) -> Phase {
        if scheduled_us < self.inner.measured_from_us.load(Ordering::Relaxed) {
            Phase::Warmup
        } else {
            Phase::Measured
        }
    }
}

/// Tells the scenario about tickets as they appear, until aborted.
async fn watch_tickets(driver: Driver, tracker: Arc<Mutex<EffectTracker>>) {
    let inner = &driver.inner;
    loop {
        let new = lock(&tracker).poll_tickets(&inner.sandbox.inspect());
        if !new.is_empty() {
            let mut scenario = lock(&inner.scenario);
            for (conversation, ticket) in new {
                if let Some(&i) = inner.conversation_index.get(&conversation) {
                    scenario.ticket_seen(i, ticket);
                }
            }
        }
        tokio::time::sleep(TICKET_POLL).await;
    }
}

/// A mutex's guard; a panicked holder left nothing half-written worth refusing (plain records).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
