//! The server's resident memory: `VmRSS` from `/proc/<pid>/status`, sampled every 250 ms.

use std::time::Duration;

use crate::record::RunClock;
use crate::sampler::Sampler;

pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// `VmRSS` in KiB from the text of `/proc/<pid>/status`.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_whitespace();
    let value = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(value)
}

/// The resident memory of `pid` now, in KiB (`None` when the process is gone or unreadable).
pub fn read_rss_kib(pid: u32) -> Option<u64> {
    parse_vm_rss(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// Samples (run-clock µs, KiB) in the background until dropped.
pub fn sampler(pid: u32, clock: RunClock) -> Sampler<(u64, u64)> {
    Sampler::start(SAMPLE_EVERY, move || Some((clock.now_us(), read_rss_kib(pid)?)))
}

/// Idle (a sample taken just before sending began) and the largest sample from then on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RssSummary {
    pub idle_kib: u64,
    pub max_kib: u64,
    pub samples: usize,
}

/// Summarises samples: `idle_kib` measured before the load, max over samples at or after `from_us`.
pub fn summarise(idle_kib: u64, samples: &[(u64, u64)], from_us: u64) -> RssSummary {
    let during: Vec<u64> = samples.iter().filter(|(t, _)| *t >= from_us).map(|&(_, k)| k).collect();
    RssSummary {
        idle_kib,
        max_kib: during.iter().copied().max().unwrap_or(idle_kib).max(idle_kib),
        samples: during.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\tswitchboard\nVmPeak:\t  900 kB\nVmRSS:\t   41236 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(status), Some(41_236));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert_eq!(parse_vm_rss("VmRSS: lots\n"), None);
        assert!(read_rss_kib(std::process::id()).is_some_and(|k| k > 0));
    }

    #[test]
    fn max_counts_from_the_load_on() {
        let s = summarise(30_000, &[(0, 90_000), (10, 31_000), (20, 45_000)], 10);
        assert_eq!(
            s,
            RssSummary {
                idle_kib: 30_000,
                max_kib: 45_000,
                samples: 2
            }
        );
        assert_eq!(summarise(30_000, &[], 0).max_kib, 30_000);
    }
}
