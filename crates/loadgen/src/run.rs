//! A whole load run: host the sandbox, connect the tenant, prepare, send, wait for the effects,
//! verify, report — as one call ([`run`]) or in steps ([`Session`]) for tests that act while
//! the load runs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandbox::SandboxConfig;
use serde_json::json;
use url::Url;

use crate::cpu::{self, CpuUsage, usage};
use crate::driver::{DriveOptions, Driver, Rate, http_client, lock};
use crate::effects::{self, EffectTracker};
use crate::error::LoadError;
use crate::host::{SandboxHost, Target, connect_tenant};
use crate::prepare::{Prepared, prepare};
use crate::record::{Record, RunClock};
use crate::report::{LoadInputs, Report};
use crate::rss::{self, read_rss_kib, summarise};
use crate::sampler::Sampler;
use crate::scenario::{Mix, Scenario};
use crate::verify::{VerifyReport, verify};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub target: Target,
    pub drive: DriveOptions,
    pub mix: Mix,
    /// Sign Freshchat webhooks with HMAC instead of RSA.
    pub hmac: bool,
    /// The hosted sandbox ([`crate::host::sandbox_config`] unless a test needs, say, a longer request log).
    pub sandbox: SandboxConfig,
    pub sandbox_port: u16,
    /// How long to wait after sending for every effect.
    pub drain: Duration,
    /// Events to prepare for; by default what the rate and duration need (max: 4 000/s).
    pub prebuild_events: Option<u64>,
    /// The server's pid, to sample its memory.
    pub pid: Option<u32>,
    pub db_label: Option<String>,
}

/// Everything a run produced.
pub struct RunOutcome {
    pub record: Record,
    pub verify: VerifyReport,
    pub report: Report,
    /// Still serving: the caller may look further, then drop or stop it.
    pub host: SandboxHost,
}

/// The events to prepare when not told: rate × time, or 4 000/s flat out.
pub fn default_prebuild(rate: Rate, warmup: Duration, duration: Duration) -> u64 {
    let seconds = (warmup + duration).as_secs_f64();
    let per_second = match rate {
        Rate::PerSecond(r) => r,
        Rate::Max { .. } => 4_000.0,
    };
    (seconds * per_second).ceil() as u64
}

/// A run under way: the sandbox hosted, the tenant connected to it, the messages prepared and
/// the sender ready. [`run`] is `start` → [`Session::send`] → [`Session::finish`]; crash and
/// fault tests step in between (kill servers while sending, restart them before finishing).
pub struct Session {
    pub host: SandboxHost,
    pub driver: Driver,
    pub run_id: String,
    options: RunOptions,
    prepared: Arc<Prepared>,
    clock: RunClock,
    concurrency: usize,
    conversations: usize,
    tracker: Arc<Mutex<EffectTracker>>,
}

/// What sending produced, with the server's memory and CPU while it went on.
pub struct Sent {
    pub record: Record,
    cpu: Option<CpuUsage>,
    idle_rss: Option<u64>,
    rss: Option<Sampler<(u64, u64)>>,
}

impl Session {
    pub async fn start(options: RunOptions) -> Result<Session, LoadError> {
        let run_id = format!("{:06x}", fastrand::u32(..0x100_0000));
        let first_ticket = options.sandbox.first_ticket_id;
        let host = SandboxHost::start(options.sandbox.clone(), options.sandbox_port).await?;
        let concurrency = match options.drive.rate {
            Rate::Max { concurrency } => concurrency,
            Rate::PerSecond(r) => (r as usize / 10).clamp(16, 1024),
        };
        let client = http_client(concurrency)?;
        let connection = connect_tenant(&client, &options.target, &host, options.hmac).await?;
        eprintln!(
            "loadgen: run {run_id}: tenant '{}' connected to the sandbox at {}",
            connection.slug,
            host.base()
        );

        let events = options
            .prebuild_events
            .unwrap_or_else(|| default_prebuild(options.drive.rate, options.drive.warmup, options.drive.duration));
        let conversations = options.mix.conversations_needed(events, options.rate());
        eprintln!(
            "loadgen: preparing {conversations} conversations ({} messages, {} signing)…",
            conversations as u64 * u64::from(options.mix.messages_per_conversation()),
            if options.hmac { "HMAC" } else { "RSA" }
        );
        let prepared = Arc::new(
            prepare(
                &host.sandbox,
                &run_id,
                conversations,
                options.mix.messages_per_conversation(),
                &connection.signing,
            )
            .await?,
        );
        eprintln!("loadgen: prepared in {:.1} s", prepared.took.as_secs_f64());

        let clock = RunClock::start();
        let scenario = Scenario::new(
            options.mix.clone(),
            prepared.conversations.iter().map(|c| c.messages.len() as u32),
            options.drive.seed,
        );
        let driver = Driver::new(
            client,
            connection,
            host.sandbox.clone(),
            &run_id,
            Arc::clone(&prepared),
            scenario,
            clock,
        );
        Ok(Session {
            tracker: Arc::new(Mutex::new(EffectTracker::new(&run_id, first_ticket))),
            host,
            driver,
            run_id,
            options,
            prepared,
            clock,
            concurrency,
            conversations,
        })
    }

    /// Sends the warm-up and the measured phase; returns when every answer is in.
    pub async fn send(&self) -> Sent {
        let idle_rss = self.options.pid.and_then(read_rss_kib);
        let rss = self.options.pid.map(|pid| rss::sampler(pid, self.clock));
        let cpu = cpu::sampler(self.options.pid, self.clock);
        eprintln!(
            "loadgen: sending ({:.0} s warm-up, {:.0} s measured)…",
            self.options.drive.warmup.as_secs_f64(),
            self.options.drive.duration.as_secs_f64()
        );
        let record = self.driver.drive(&self.options.drive, Arc::clone(&self.tracker)).await;
        let cpu = usage(&cpu.samples(), record.measured_from_us, record.measured_to_us);
        eprintln!(
            "loadgen: sent {} events; waiting for their effects…",
            record.events.len()
        );
        Sent {
            record,
            cpu,
            idle_rss,
            rss,
        }
    }

    /// Waits (up to the drain time) for every accepted event's effect, verifies, reports.
    pub async fn finish(self, sent: Sent) -> RunOutcome {
        let Sent {
            record,
            cpu,
            idle_rss,
            rss,
        } = sent;
        let options = &self.options;
        let mut tracker = lock(&self.tracker).clone();
        let drained = effects::drain(&mut tracker, &self.host.sandbox, &record, options.drain).await;
        let rss = match (idle_rss, &rss) {
            (Some(idle), Some(s)) => Some(summarise(idle, &s.samples(), 0)),
            _ => None,
        };
        let verify = verify(&self.host.sandbox.inspect(), &record);
        let params = json!({
            "target": options.target.base.as_str(),
            "also": options.target.also.iter().map(Url::as_str).collect::<Vec<_>>(),
            "rate": options.rate(),
            "concurrency": self.concurrency,
            "warmup_s": options.drive.warmup.as_secs_f64(),
            "duration_s": options.drive.duration.as_secs_f64(),
            "drain_s": options.drain.as_secs_f64(),
            "max_in_flight": options.drive.max_in_flight,
            "mix": options.mix,
            "signing": if options.hmac { "hmac" } else { "rsa" },
            "prepared_conversations": self.conversations,
            "seed": options.drive.seed,
        });
        let report = Report::of_load(LoadInputs {
            record: &record,
            effects: tracker.found(),
            verify: &verify,
            params,
            rate_asked: options.rate(),
            db_label: options.db_label.clone(),
            rss,
            cpu,
            prepare_s: self.prepared.took.as_secs_f64(),
            drain_s: drained.waited.as_secs_f64(),
        });
        RunOutcome {
            record,
            verify,
            report,
            host: self.host,
        }
    }
}

impl RunOptions {
    /// The open-loop rate; `None` flat out.
    fn rate(&self) -> Option<f64> {
        match self.drive.rate {
            Rate::PerSecond(r) => Some(r),
            Rate::Max { .. } => None,
        }
    }
}

pub async fn run(options: RunOptions) -> Result<RunOutcome, LoadError> {
    let session = Session::start(options).await?;
    let sent = session.send().await;
    Ok(session.finish(sent).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prebuild_follows_the_rate() {
        let (w, d) = (Duration::from_secs(3), Duration::from_secs(20));
        assert_eq!(default_prebuild(Rate::PerSecond(500.0), w, d), 11_500);
        assert_eq!(default_prebuild(Rate::Max { concurrency: 8 }, w, d), 92_000);
    }
}
