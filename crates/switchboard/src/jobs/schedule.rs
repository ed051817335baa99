//! Periodic jobs: every worker process offers each periodic job once per period; the unique key
//! (name + period number) makes exactly one of the offers stick, however many processes run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::registry::{JobContext, JobResult};
use super::{JobSpec, NewJob, Outcome, priority, queue};
use crate::clock;
use crate::db::{Db, DbResult};

/// A job to enqueue every `every`.
#[derive(Debug, Clone)]
pub struct Periodic {
    pub name: &'static str,
    pub every: Duration,
    pub job: NewJob,
}

impl Periodic {
    /// The job for the period `now` falls in, keyed so that it is enqueued once.
    pub fn due(&self, now: DateTime<Utc>) -> NewJob {
        let period = self.every.as_secs().max(1) as i64;
        let bucket = now.timestamp().div_euclid(period);
        self.job.clone().unique_key(format!("periodic:{}:{bucket}", self.name))
    }
}

/// Offers every periodic job for the current period.
pub async fn offer(db: &Db, periodic: &[Periodic], now: DateTime<Utc>) -> DbResult<()> {
    for p in periodic {
        queue::enqueue_now(db, p.due(now), now).await?;
    }
    Ok(())
}

/// Offers the periodic jobs once a minute until shutdown.
pub async fn run(db: Db, periodic: Vec<Periodic>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = offer(&db, &periodic, clock::now()).await {
            warn!(error = %e, "could not schedule periodic jobs");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

/// Deletes finished jobs after a retention period (dead ones stay until handled).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PurgeFinishedJobs {
    pub keep_days: u32,
}

impl JobSpec for PurgeFinishedJobs {
    const KIND: &'static str = "maintenance.purge_jobs";
    const PRIORITY: i32 = priority::BULK;
    const MAX_ATTEMPTS: i32 = 3;
}

pub async fn purge_finished_jobs(job: PurgeFinishedJobs, ctx: JobContext) -> JobResult {
    let before = clock::now() - chrono::Duration::days(i64::from(job.keep_days));
    let n = queue::purge_finished(&ctx.db, before).await?;
    tracing::info!(deleted = n, "purged finished jobs");
    Ok(Outcome::Done)
}

/// The periodic jobs of this build.
pub fn defaults() -> Vec<Periodic> {
    let mut periodic = Vec::new();
    if let Ok(job) = NewJob::new(&PurgeFinishedJobs { keep_days: 7 }) {
        periodic.push(Periodic {
            name: "purge_jobs",
            every: Duration::from_secs(3600),
            job,
        });
    }
    periodic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_per_period() {
        let p = Periodic {
            name: "x",
            every: Duration::from_secs(3600),
            job: NewJob::new(&PurgeFinishedJobs { keep_days: 1 }).unwrap(),
        };
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let a = p.due(t("2026-11-22T10:00:00Z")).unique_key;
        let b = p.due(t("2026-11-22T10:59:59Z")).unique_key;
        let c = p.due(t("2026-11-22T11:00:00Z")).unique_key;
        assert_eq!(a, b);
        assert_ne!(b, c);
    }
}
