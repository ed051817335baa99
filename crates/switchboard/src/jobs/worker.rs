//! Claims and runs jobs: up to `concurrency` at once, leases renewed while they run, woken by
//! enqueues (in-process signal, LISTEN/NOTIFY on PostgreSQL) with a poll as fallback.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::queue::{self, ClaimScope};
use super::registry::{JobContext, JobHandler};
use super::{Job, JobError, JobId, JobState, Outcome, backoff};
use crate::batch::Batcher;
use crate::clock;
use crate::db::{Db, JOBS_CHANNEL, Pool};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unique per running worker: leases are held in its name.
    pub id: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    /// The least time between two claims. A claim is a round trip whatever it takes, and under
    /// load every enqueue wakes the worker: claims spaced this far apart each take what became
    /// due meanwhile instead of one or two jobs apiece, for at most this much delay.
    pub claim_gap: Duration,
    pub retry_base: Duration,
    pub shutdown_grace: Duration,
    pub scope: ClaimScope,
    /// Work that comes first: while it is pressed, at most `concurrency / 4` jobs run at once.
    pub yield_to: Option<YieldTo>,
}

/// Work a worker yields the machine to (in `serve`: storing webhooks, whose answer a provider
/// waits for, while jobs can wait).
#[derive(Clone)]
pub struct YieldTo(pub Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for YieldTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("YieldTo")
    }
}

impl WorkerOptions {
    /// How many jobs may run now: all of `concurrency`, or a quarter while the work it yields
    /// to is pressed.
    pub fn limit(&self) -> usize {
        match &self.yield_to {
            Some(YieldTo(pressed)) if pressed() => (self.concurrency / 4).max(1),
            _ => self.concurrency,
        }
    }

    pub fn new_id() -> String {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        let short = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}:{}:{}", std::process::id(), &short[..8])
    }
}

pub struct Worker {
    db: Db,
    handler: Arc<dyn JobHandler>,
    opts: WorkerOptions,
    /// Completions of concurrent jobs share one statement.
    completions: Batcher<JobId, Result<bool, String>>,
}

/// A run that ended (whatever its result), reported back to the loop.
struct Finished(JobId);

impl Worker {
    pub fn new(db: Db, handler: Arc<dyn JobHandler>, opts: WorkerOptions) -> Self {
        let (d, worker) = (db.clone(), opts.id.clone());
        let completions = Batcher::start(opts.concurrency.max(16) * 4, 256, 1, move |ids: Vec<JobId>| {
            let (d, worker) = (d.clone(), worker.clone());
            async move {
                match queue::complete_many(&d, &worker, &ids, clock::now()).await {
                    Ok(done) => ids.iter().map(|id| Ok(done.contains(id))).collect(),
                    Err(e) => vec![Err(e.to_string()); ids.len()],
                }
            }
        });
        Self {
            db,
            handler,
            opts,
            completions,
        }
    }

    /// Runs until `shutdown` is cancelled, then stops claiming, lets running jobs finish within
    /// the grace period, and hands back whatever is still running.
    pub async fn run(self, shutdown: CancellationToken) {
        let opts = &self.opts;
        info!(worker = %opts.id, concurrency = opts.concurrency, "job worker started");
        let listener = self.spawn_pg_listener(shutdown.clone());
        let mut wakeups = self.db.jobs_wakeups();
        let mut running: JoinSet<Finished> = JoinSet::new();
        // The jobs whose runs have not ended: the ones whose leases are renewed.
        let mut held: BTreeSet<JobId> = BTreeSet::new();
        let mut heartbeat = tokio::time::interval(opts.lease / 3);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reap: Option<Instant> = None;
        let mut db_trouble = false;
        // The last claim filled every free slot, so more jobs are likely due: then a claim
        // waits until a batch of slots is free rather than costing a statement per finished job.
        let mut more_due = false;
        // Claims are spaced by `claim_gap`: when the last one was made.
        let mut last_claim: Option<tokio::time::Instant> = None;

        while !shutdown.is_cancelled() {
            if last_reap.is_none_or(|at| at.elapsed() >= opts.poll_interval.max(Duration::from_secs(1))) {
                match queue::reap_expired(&self.db, &opts.scope, clock::now()).await {
                    Ok(n) if n > 0 => warn!(jobs = n, "requeued jobs whose worker stopped before finishing"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "could not requeue expired jobs"),
                }
                last_reap = Some(Instant::now());
            }
            while let Some(ended) = running.try_join_next() {
                forget(&mut held, ended);
            }
            let limit = opts.limit();
            let free = limit.saturating_sub(running.len());
            let batch = (limit / 4).max(1);
            let next_claim = last_claim.map(|at| at + opts.claim_gap);
            let wanted = free > 0 && (!more_due || free >= batch);
            let claim_waits = wanted && next_claim.is_some_and(|at| at > tokio::time::Instant::now());
            if wanted && !claim_waits {
                last_claim = Some(tokio::time::Instant::now());
                match queue::claim(&self.db, &opts.id, free, opts.lease, &opts.scope, clock::now()).await {
                    Ok(jobs) => {
                        db_trouble = false;
                        more_due = jobs.len() == free;
                        for job in jobs {
                            held.insert(job.id);
                            running.spawn(self.run_one(job));
                        }
                    }
                    Err(e) => {
                        if !db_trouble {
                            error!(error = %e, "could not claim jobs; retrying");
                        }
                        db_trouble = true;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                changed = wakeups.changed() => {
                    if changed.is_err() { tokio::time::sleep(opts.poll_interval).await; }
                }
                Some(ended) = running.join_next(), if !running.is_empty() => forget(&mut held, ended),
                _ = heartbeat.tick(), if !held.is_empty() => {
                    let ids: Vec<JobId> = held.iter().copied().collect();
                    if let Err(e) = queue::extend_leases(&self.db, &opts.id, &ids, opts.lease, clock::now()).await {
                        warn!(error = %e, "could not renew job leases");
                    }
                }
                _ = tokio::time::sleep_until(next_claim.unwrap_or_else(tokio::time::Instant::now)), if claim_waits => {}
                _ = tokio::time::sleep(opts.poll_interval) => {}
            }
        }

        self.drain(running).await;
        if let Some(l) = listener {
            l.abort();
        }
        info!(worker = %opts.id, "job worker stopped");
    }

    async fn drain(&self, mut running: JoinSet<Finished>) {
        if !running.is_empty() {
            info!(jobs = running.len(), grace = ?self.opts.shutdown_grace, "waiting for running jobs to finish");
            let deadline = tokio::time::sleep(self.opts.shutdown_grace);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    next = running.join_next() => if next.is_none() { break },
                    _ = &mut deadline => {
                        warn!(jobs = running.len(), "grace period over: handing running jobs back");
                        running.abort_all();
                        while running.join_next().await.is_some() {}
                        break;
                    }
                }
            }
        }
        match queue::release(&self.db, &self.opts.id, clock::now()).await {
            Ok(n) if n > 0 => info!(jobs = n, "released unfinished jobs for another worker"),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "could not release jobs; they run again when their lease expires"),
        }
    }

    fn run_one(&self, job: Job) -> impl std::future::Future<Output = Finished> + Send + 'static {
        let db = self.db.clone();
        let handler = self.handler.clone();
        let worker = self.opts.id.clone();
        let retry_base = self.opts.retry_base;
        let completions = self.completions.clone();
        let span = info_span!("job", id = job.id, kind = %job.kind, tenant = ?job.tenant_id, attempt = job.attempt);
        async move {
            let ctx = JobContext {
                db: db.clone(),
                job_id: job.id,
                tenant_id: job.tenant_id,
                attempt: job.attempt,
                max_attempts: job.max_attempts,
            };
            let started = Instant::now();
            let result = AssertUnwindSafe(handler.handle(&job, ctx))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(JobError::Retryable("the job handler panicked".into())));
            let now = clock::now();
            let recorded: Result<bool, String> = match &result {
                Ok(Outcome::Done) => completions
                    .submit_waiting(job.id)
                    .await
                    .unwrap_or_else(|e| Err(e.to_string())),
                Ok(Outcome::RunAgainAfter(wait)) => {
                    queue::reschedule(&db, job.id, &worker, now + chrono_wait(*wait), None, now)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(JobError::RateLimited { wait, reason }) => {
                    queue::reschedule(&db, job.id, &worker, now + chrono_wait(*wait), Some(reason), now)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(JobError::Retryable(msg)) => {
                    let retry_at = now + chrono_wait(backoff(job.attempt, fastrand::f64(), retry_base));
                    queue::fail(&db, job.id, &worker, msg, retry_at, false, now)
                        .await
                        .map(|s| {
                            if s == Some(JobState::Dead) {
                                error!(error = %msg, "job failed its last attempt and is dead");
                            } else {
                                warn!(error = %msg, "job failed; will retry");
                            }
                            s.is_some()
                        })
                        .map_err(|e| e.to_string())
                }
                Err(JobError::Permanent(msg)) => {
                    error!(error = %msg, "job failed permanently and is dead");
                    queue::fail(&db, job.id, &worker, msg, now, true, now)
                        .await
                        .map(|s| s.is_some())
                        .map_err(|e| e.to_string())
                }
            };
            match recorded {
                Ok(true) => debug!(elapsed_ms = started.elapsed().as_millis() as u64, "job finished"),
                Ok(false) => warn!("job result not recorded: the lease was lost to another worker"),
                // The lease runs out and the job runs again: handlers are idempotent.
                Err(e) => error!(error = %e, "could not record the job's result"),
            }
            Finished(job.id)
        }
        .instrument(span)
    }

    fn spawn_pg_listener(&self, shutdown: CancellationToken) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Pg(pool) = self.db.pool() else { return None };
        let pool = pool.clone();
        let db = self.db.clone();
        Some(tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen(JOBS_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                match listener.await {
                    Ok(mut l) => loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            n = l.recv() => match n {
                                Ok(n) => if db.notified_by_other(n.payload()) { db.wake_workers() },
                                Err(e) => { warn!(error = %e, "job notifications interrupted"); break; }
                            }
                        }
                    },
                    Err(e) => warn!(error = %e, "could not listen for job notifications; polling"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }))
    }
}

/// A run ended: its job's lease is no longer renewed. (A run that panicked was caught in
/// `run_one`; one aborted at shutdown is handed back by `release`.)
fn forget(held: &mut BTreeSet<JobId>, ended: Result<Finished, tokio::task::JoinError>) {
    if let Ok(Finished(id)) = ended {
        held.remove(&id);
    }
}

fn chrono_wait(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(365))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(yield_to: Option<YieldTo>) -> WorkerOptions {
        WorkerOptions {
            id: "w".into(),
            concurrency: 256,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            claim_gap: Duration::from_millis(3),
            retry_base: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(1),
            scope: ClaimScope::default(),
            yield_to,
        }
    }

    #[test]
    fn a_worker_yields_three_quarters_of_its_slots_while_pressed() {
        assert_eq!(options(None).limit(), 256);
        assert_eq!(options(Some(YieldTo(Arc::new(|| false)))).limit(), 256);
        assert_eq!(options(Some(YieldTo(Arc::new(|| true)))).limit(), 64);
        let mut one = options(Some(YieldTo(Arc::new(|| true))));
        one.concurrency = 1;
        assert_eq!(one.limit(), 1, "never none");
    }
}
