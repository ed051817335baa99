//! The numbers of a run, built purely from the record, the effects and the verification, as a
//! human table and as JSON. Latencies are HDR histograms at microsecond resolution (3
//! significant digits).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cpu::CpuUsage;
use crate::record::{EventKind, Phase, Record, SentEvent, StatusClass};
use crate::rss::RssSummary;
use crate::verify::VerifyReport;

/// Percentiles of one latency, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

/// A histogram for microseconds from 1 µs to an hour.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid")
}

/// Records `us` (clamped into the histogram's range).
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.max(1));
}

impl Summary {
    pub fn of(h: &Histogram<u64>) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: h.mean(),
        }
    }

    pub fn from_values(values: impl IntoIterator<Item = u64>) -> Summary {
        let mut h = histogram();
        for v in values {
            record_us(&mut h, v);
        }
        Summary::of(&h)
    }
}

/// Answers by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub sent: u64,
    pub ok_2xx: u64,
    pub overloaded_503: u64,
    /// Of the 503s, those with `Retry-After` (an honest refusal).
    pub overloaded_with_retry_after: u64,
    pub other_errors: u64,
    pub transport_errors: u64,
}

impl StatusCounts {
    pub fn of<'a>(events: impl IntoIterator<Item = &'a SentEvent>) -> StatusCounts {
        let mut c = StatusCounts::default();
        for e in events {
            c.sent += 1;
            match e.answer.class() {
                StatusClass::Success => c.ok_2xx += 1,
                StatusClass::Overloaded => {
                    c.overloaded_503 += 1;
                    if matches!(
                        &e.answer,
                        crate::record::Answer::Status {
                            retry_after: Some(_),
                            ..
                        }
                    ) {
                        c.overloaded_with_retry_after += 1;
                    }
                }
                StatusClass::OtherError => c.other_errors += 1,
                StatusClass::Transport => c.transport_errors += 1,
            }
        }
        c
    }
}

/// What a report on a baseline carries over.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    pub tx_per_s: f64,
    /// Accepted webhooks/s ÷ baseline transactions/s.
    pub ratio: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Webhooks against a running server.
    Load,
    /// The ingest path's inserts straight against the database.
    Baseline,
}

/// One run's numbers; a baseline fills the same shape (`accepted_per_s` = transactions/s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub mode: Mode,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub db_label: Option<String>,
    /// The run's parameters as given.
    pub params: serde_json::Value,
    pub duration_s: f64,
    /// `None`: as fast as possible.
    pub rate_asked: Option<f64>,
    /// Events sent per second in the measured phase.
    pub rate_achieved: f64,
    pub accepted_per_s: f64,
    pub statuses: StatusCounts,
    pub warmup: StatusCounts,
    /// From the scheduled send to the whole answer.
    pub accept_latency_us: Summary,
    /// From the actual send to the whole answer.
    pub service_time_us: Summary,
    pub accept_latency_by_kind_us: BTreeMap<String, Summary>,
    /// From the webhook's send to its effect in the sandbox, per kind (measured events).
    pub effect_latency_us: BTreeMap<String, Summary>,
    /// Effects that landed while the load was on (the measured window), per second, whichever
    /// event they belong to (a backlog from the warm-up included): the rate worked off end to
    /// end. Below the sending rate, the server falls behind.
    #[serde(default)]
    pub worked_off_per_s: WorkedOff,
    /// Sends that started more than 1 ms after their scheduled instant.
    pub late_sends: u64,
    pub skipped_slots: u64,
    pub effects_missing: u64,
    pub duplicates: u64,
    pub misrouted: u64,
    pub rss: Option<RssSummary>,
    /// Average CPU use during the measured phase.
    pub cpu: Option<CpuUsage>,
    pub prepare_s: f64,
    pub drain_s: f64,
    pub baseline: Option<BaselineRef>,
}

/// Effects per second, all of them and those of customer messages (a ticket or a note).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkedOff {
    pub all: f64,
    pub customer_messages: f64,
}

impl WorkedOff {
    fn of(record: &Record, effects: &HashMap<u64, DateTime<Utc>>) -> WorkedOff {
        let window = record.measured_from_us..=record.measured_to_us;
        let seconds = record.measured_seconds().max(1e-9);
        let landed: Vec<&SentEvent> = record
            .accepted()
            .filter(|e| {
                effects
                    .get(&e.seq)
                    .and_then(|at| u64::try_from(record.offset_us(*at)).ok())
                    .is_some_and(|us| window.contains(&us))
            })
            .collect();
        let customer = landed.iter().filter(|e| e.kind.is_customer_message()).count();
        WorkedOff {
            all: landed.len() as f64 / seconds,
            customer_messages: customer as f64 / seconds,
        }
    }
}

/// What a load report is built from.
pub struct LoadInputs<'a> {
    pub record: &'a Record,
    pub effects: &'a HashMap<u64, DateTime<Utc>>,
    pub verify: &'a VerifyReport,
    pub params: serde_json::Value,
    pub rate_asked: Option<f64>,
    pub db_label: Option<String>,
    pub rss: Option<RssSummary>,
    pub cpu: Option<CpuUsage>,
    pub prepare_s: f64,
    pub drain_s: f64,
}

const LATE_US: u64 = 1_000;

impl Report {
    /// The report of a load run (pure).
    pub fn of_load(i: LoadInputs<'_>) -> Report {
        let r = i.record;
        let measured: Vec<&SentEvent> = r.measured().collect();
        let seconds = r.measured_seconds().max(1e-9);
        let statuses = StatusCounts::of(measured.iter().copied());
        let by_kind = |f: &dyn Fn(&SentEvent) -> Option<u64>| -> BTreeMap<String, Summary> {
            EventKind::ALL
                .iter()
                .map(|k| {
                    let values = measured.iter().filter(|e| e.kind == *k).filter_map(|e| f(e));
                    (k.as_str().to_string(), Summary::from_values(values))
                })
                .collect()
        };
        let accepted_latency = |e: &SentEvent| e.accepted().then(|| e.latency_us());
        let effect = |e: &SentEvent| {
            let at = i.effects.get(&e.seq).filter(|_| e.accepted())?;
            Some(u64::try_from(r.offset_us(*at) - i64::try_from(e.sent_us).ok()?).unwrap_or(0))
        };
        Report {
            mode: Mode::Load,
            run_id: r.run_id.clone(),
            started_at: r.started_at,
            db_label: i.db_label,
            params: i.params,
            duration_s: r.measured_seconds(),
            rate_asked: i.rate_asked,
            rate_achieved: statuses.sent as f64 / seconds,
            accepted_per_s: statuses.ok_2xx as f64 / seconds,
            statuses,
            warmup: StatusCounts::of(r.events.iter().filter(|e| e.phase == Phase::Warmup)),
            accept_latency_us: Summary::from_values(measured.iter().filter_map(|e| accepted_latency(e))),
            service_time_us: Summary::from_values(measured.iter().filter(|e| e.accepted()).map(|e| e.service_us())),
            accept_latency_by_kind_us: by_kind(&accepted_latency),
            effect_latency_us: by_kind(&effect),
            worked_off_per_s: WorkedOff::of(r, i.effects),
            late_sends: measured.iter().filter(|e| e.late_us() > LATE_US).count() as u64,
            skipped_slots: r.skipped_slots,
            effects_missing: i.verify.missing() as u64,
            duplicates: i.verify.duplicates() as u64,
            misrouted: i.verify.misrouted() as u64,
            rss: i.rss,
            cpu: i.cpu,
            prepare_s: i.prepare_s,
            drain_s: i.drain_s,
            baseline: None,
        }
    }

    /// Adds the comparison with a baseline's transactions per second.
    pub fn with_baseline(mut self, baseline: &Report) -> Report {
        let tx = baseline.accepted_per_s;
        self.baseline = Some(BaselineRef {
            tx_per_s: tx,
            ratio: if tx > 0.0 { self.accepted_per_s / tx } else { 0.0 },
        });
        self
    }

    /// Whether verification found nothing wrong.
    pub fn is_correct(&self) -> bool {
        self.effects_missing == 0 && self.duplicates == 0 && self.misrouted == 0
    }

    /// The human table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let row = |t: &mut String, k: &str, v: String| {
            let _ = writeln!(t, "  {k:<34} {v}");
        };
        let title = match self.mode {
            Mode::Load => "Switchboard load",
            Mode::Baseline => "Database baseline (ingest inserts, one webhook per transaction)",
        };
        let _ = writeln!(
            t,
            "{title} — run {} — {}",
            self.run_id,
            self.db_label.as_deref().unwrap_or("?")
        );
        let asked = self.rate_asked.map_or("max".to_string(), |r| format!("{r:.0}/s"));
        row(&mut t, "duration", format!("{:.1} s", self.duration_s));
        if self.mode == Mode::Load {
            row(
                &mut t,
                "rate asked / achieved",
                format!("{asked} / {:.1}/s", self.rate_achieved),
            );
            row(&mut t, "accepted", format!("{:.1}/s", self.accepted_per_s));
        } else {
            row(&mut t, "transactions", format!("{:.1}/s", self.accepted_per_s));
        }
        let s = &self.statuses;
        row(
            &mut t,
            "sent: 2xx / 503 (Retry-After) / other / transport",
            format!(
                "{}: {} / {} ({}) / {} / {}",
                s.sent, s.ok_2xx, s.overloaded_503, s.overloaded_with_retry_after, s.other_errors, s.transport_errors
            ),
        );
        let lat = |x: &Summary| {
            if x.count == 0 {
                return "-".to_string();
            }
            format!(
                "{} / {} / {} / {}  (n={})",
                ms(x.p50),
                ms(x.p90),
                ms(x.p99),
                ms(x.max),
                x.count
            )
        };
        let _ = writeln!(t, "  {:<34} p50 / p90 / p99 / max", "latency (ms)");
        let accept = if self.mode == Mode::Load {
            "accept (from schedule)"
        } else {
            "transaction"
        };
        row(&mut t, accept, lat(&self.accept_latency_us));
        if self.mode == Mode::Load {
            row(&mut t, "service time (from send)", lat(&self.service_time_us));
            for (kind, x) in &self.accept_latency_by_kind_us {
                row(&mut t, &format!("accept: {kind}"), lat(x));
            }
            for (kind, x) in &self.effect_latency_us {
                row(&mut t, &format!("effect: {kind}"), lat(x));
            }
            let w = self.worked_off_per_s;
            row(
                &mut t,
                "effects landed: all / customer msgs",
                format!("{:.1}/s / {:.1}/s", w.all, w.customer_messages),
            );
            row(
                &mut t,
                "late sends (>1 ms) / skipped slots",
                format!("{} / {}", self.late_sends, self.skipped_slots),
            );
            row(
                &mut t,
                "missing / duplicate / misrouted effects",
                format!("{} / {} / {}", self.effects_missing, self.duplicates, self.misrouted),
            );
            if let Some(rss) = &self.rss {
                let mb = |k: u64| k as f64 / 1024.0;
                row(
                    &mut t,
                    "server RSS idle / max",
                    format!("{:.1} MiB / {:.1} MiB", mb(rss.idle_kib), mb(rss.max_kib)),
                );
            }
            if let Some(c) = &self.cpu {
                row(
                    &mut t,
                    "CPU % server / loadgen / postgres / other",
                    format!(
                        "{:.0} / {:.0} / {:.0} / {:.0}  (of {:.0})",
                        c.server_pct, c.loadgen_pct, c.postgres_pct, c.other_pct, c.capacity_pct
                    ),
                );
            }
            row(
                &mut t,
                "prepare / drain",
                format!("{:.1} s / {:.1} s", self.prepare_s, self.drain_s),
            );
        }
        if let Some(b) = &self.baseline {
            row(
                &mut t,
                "baseline tx/s / ratio",
                format!("{:.1} / {:.2}", b.tx_per_s, b.ratio),
            );
        }
        t
    }
}

/// Microseconds as milliseconds with two decimals.
pub fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
