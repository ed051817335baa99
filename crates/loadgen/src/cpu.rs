//! Where the CPU goes during the measured phase: the server (`--pid`), this tool (with its
//! sandbox), PostgreSQL's processes (by name) and everything else on the machine, from
//! `/proc` tick counters sampled in the background. On 2 cores the generator shares the
//! machine with the server, so this says what saturated — and whether something unrelated was
//! running (`other`).

use std::time::Duration;

use crate::record::RunClock;
use crate::sampler::Sampler;
use serde::{Deserialize, Serialize};

const EVERY: Duration = Duration::from_millis(500);
/// Linux's `USER_HZ` (tick counters in `/proc` are in these units): 100 on every common build.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (ticks) of one process from its `/proc/<pid>/stat` text: utime + stime.
pub fn process_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces and parentheses: fields count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process's command name from its `stat` text.
fn command(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// (busy, total) ticks of the whole machine from `/proc/stat`.
pub fn machine_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// One reading of every counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticks {
    pub at_us: u64,
    pub server: u64,
    pub tool: u64,
    pub postgres: u64,
    pub busy: u64,
    pub total: u64,
}

fn read(pid: Option<u32>, at_us: u64) -> Option<Ticks> {
    let stat = |p: &str| std::fs::read_to_string(format!("/proc/{p}/stat")).ok();
    let mut postgres = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(p) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        if let Some(s) = stat(p).filter(|s| command(s) == Some("postgres")) {
            postgres += process_ticks(&s).unwrap_or(0);
        }
    }
    let (busy, total) = machine_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
    Some(Ticks {
        at_us,
        server: pid
            .and_then(|p| stat(&p.to_string()))
            .and_then(|s| process_ticks(&s))
            .unwrap_or(0),
        tool: stat("self").and_then(|s| process_ticks(&s)).unwrap_or(0),
        postgres,
        busy,
        total,
    })
}

/// Average CPU use over a window, in % of one core (200 % = both cores of a 2-core machine).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    pub server_pct: f64,
    /// This tool, including the sandbox it hosts.
    pub loadgen_pct: f64,
    pub postgres_pct: f64,
    /// Everything else that ran (another build, a fuzzer…): noise in the numbers when large.
    pub other_pct: f64,
    /// Cores × 100.
    pub capacity_pct: f64,
}

/// Usage between the first and the last reading within `[from_us, to_us]` (pure).
pub fn usage(readings: &[Ticks], from_us: u64, to_us: u64) -> Option<CpuUsage> {
    let window: Vec<&Ticks> = readings
        .iter()
        .filter(|t| (from_us..=to_us).contains(&t.at_us))
        .collect();
    let (a, b) = (window.first()?, window.last()?);
    let seconds = (b.at_us.saturating_sub(a.at_us)) as f64 / 1e6;
    if seconds <= 0.0 {
        return None;
    }
    let pct = |x: u64, y: u64| y.saturating_sub(x) as f64 / TICKS_PER_SECOND / seconds * 100.0;
    let (server, loadgen, postgres) = (
        pct(a.server, b.server),
        pct(a.tool, b.tool),
        pct(a.postgres, b.postgres),
    );
    let busy = pct(a.busy, b.busy);
    Some(CpuUsage {
        server_pct: server,
        loadgen_pct: loadgen,
        postgres_pct: postgres,
        other_pct: (busy - server - loadgen - postgres).max(0.0),
        capacity_pct: pct(a.total, b.total),
    })
}

/// Reads the counters every 500 ms until dropped.
pub fn sampler(pid: Option<u32>, clock: RunClock) -> Sampler<Ticks> {
    Sampler::start(EVERY, move || read(pid, clock.now_us()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_counters() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 1000 200";
        assert_eq!(process_ticks(stat), Some(300));
        assert_eq!(command(stat), Some("my (odd) name"));
        let machine = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(machine_ticks(machine), Some((150, 1000)));
        assert!(read(Some(std::process::id()), 0).is_some_and(|t| t.total > 0));
    }

    #[test]
    fn usage_over_the_window() {
        let t = |at_us, server, tool, postgres, busy, total| Ticks {
            at_us,
            server,
            tool,
            postgres,
            busy,
            total,
        };
        // Two seconds of a 2-core machine: server one core, tool a fifth, postgres half.
        let readings = [
            t(0, 0, 0, 0, 0, 0),
            t(1_000_000, 0, 0, 0, 0, 0),
            t(3_000_000, 200, 40, 100, 380, 400),
            t(9_000_000, 999, 999, 999, 999, 999),
        ];
        let u = usage(&readings, 1_000_000, 3_000_000).expect("a window");
        assert!((u.server_pct - 100.0).abs() < 1e-9);
        assert!((u.loadgen_pct - 20.0).abs() < 1e-9);
        assert!((u.postgres_pct - 50.0).abs() < 1e-9);
        assert!((u.other_pct - 20.0).abs() < 1e-9);
        assert!((u.capacity_pct - 200.0).abs() < 1e-9);
        assert_eq!(usage(&readings, 5, 6), None);
    }
}
