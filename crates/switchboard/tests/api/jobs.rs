//! The durable job queue: transactions, leases, ordering, uniqueness, backoff, dead jobs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard::clock;
use switchboard::jobs::queue::{self, ClaimScope, Owner};
use switchboard::jobs::registry::{BoxFuture, JobContext, JobHandler, JobResult};
use switchboard::jobs::{Job, JobError, JobSpec, JobState, NewJob, Outcome, priority};
use tokio::sync::mpsc;

use crate::helpers::{eventually, spawn_app_without_worker as spawn_app};

#[derive(Serialize, Deserialize)]
struct Probe {
    n: u32,
}
impl JobSpec for Probe {
    const KIND: &'static str = "test.probe";
}

fn probe(app: &crate::helpers::TestApp, n: u32) -> NewJob {
    NewJob::new(&Probe { n }).unwrap().tenant(app.tenant.id)
}

fn scope(app: &crate::helpers::TestApp) -> ClaimScope {
    ClaimScope {
        tenant: Some(app.tenant.id),
    }
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let mut tx = db.begin().await.unwrap();
    let id = queue::enqueue(
        &mut tx,
        probe(&app, 1).unique_key(format!("{}:rolled", app.tenant.id)),
        now,
    )
    .await
    .unwrap();
    assert!(id.is_some());
    tx.rollback().await.unwrap();
    assert!(
        queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(3600))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(queue::get(db, Owner::Operator, id.unwrap()).await.unwrap().is_none());

    // The same job committed does run, and its unique key was never taken by the rolled-back one.
    let mut tx = db.begin().await.unwrap();
    let id = queue::enqueue(
        &mut tx,
        probe(&app, 2).unique_key(format!("{}:rolled", app.tenant.id)),
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let claimed = queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id.unwrap()]);
}

/// Records every run; reports each to the test.
struct Recorder {
    runs: Mutex<HashMap<i64, u32>>,
    in_flight: Mutex<HashMap<String, u32>>,
    max_parallel_per_key: Mutex<u32>,
    order: Mutex<Vec<u32>>,
    done: mpsc::UnboundedSender<i64>,
}

impl JobHandler for Recorder {
    fn handle<'a>(&'a self, job: &'a Job, _ctx: JobContext) -> BoxFuture<'a, JobResult> {
        Box::pin(async move {
            let key = job.ordering_key.clone().unwrap_or_default();
            {
                let mut f = self.in_flight.lock().unwrap();
                let n = f.entry(key.clone()).or_default();
                *n += 1;
                let mut max = self.max_parallel_per_key.lock().unwrap();
                *max = (*max).max(*n);
            }
            *self.runs.lock().unwrap().entry(job.id).or_default() += 1;
            if let Ok(p) = serde_json::from_value::<Probe>(job.payload.clone()) {
                self.order.lock().unwrap().push(p.n);
            }
            // Give other workers a chance to overlap, were ordering broken.
            tokio::task::yield_now().await;
            *self.in_flight.lock().unwrap().get_mut(&key).unwrap() -= 1;
            let _ = self.done.send(job.id);
            Ok(Outcome::Done)
        })
    }
}

fn recorder() -> (Arc<Recorder>, mpsc::UnboundedReceiver<i64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let r = Recorder {
        runs: Default::default(),
        in_flight: Default::default(),
        max_parallel_per_key: Mutex::new(0),
        order: Default::default(),
        done: tx,
    };
    (Arc::new(r), rx)
}

async fn wait_for(rx: &mut mpsc::UnboundedReceiver<i64>, n: usize) {
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("jobs did not all run")
            .unwrap();
    }
}

#[tokio::test]
async fn n_jobs_over_m_concurrent_workers_each_run_exactly_once() {
    const N: u32 = 300;
    let app = spawn_app().await;
    let (rec, mut rx) = recorder();
    let mut ids = Vec::new();
    let mut tx = app.state.db.begin().await.unwrap();
    for n in 0..N {
        ids.push(
            queue::enqueue(&mut tx, probe(&app, n), clock::now())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    for _ in 0..4 {
        app.start_worker(rec.clone(), |o| o.concurrency = 8);
    }
    wait_for(&mut rx, N as usize).await;
    let runs = rec.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), N as usize);
    assert!(runs.values().all(|&n| n == 1), "some job ran twice: {runs:?}");
    let done = eventually(Duration::from_secs(10), async || {
        let jobs = queue::list(
            &app.state.db,
            Owner::Tenant(app.tenant.id),
            &queue::ListFilter {
                state: Some(JobState::Done),
                limit: 500,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        (jobs.len() == N as usize).then_some(jobs)
    })
    .await;
    assert!(done.iter().all(|j| j.attempts == 1));
}

#[tokio::test]
async fn a_job_whose_worker_stopped_is_retried_after_its_lease() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let t0 = clock::now();
    let id = queue::enqueue_now(db, probe(&app, 1), t0).await.unwrap().unwrap();
    let first = queue::claim(db, "dies", 1, LEASE, &scope(&app), t0).await.unwrap();
    assert_eq!(first[0].attempt, 1);
    // The worker dies here, holding the lease. Before the lease ends nobody else gets the job.
    assert_eq!(queue::reap_expired(db, &scope(&app), t0 + secs(29)).await.unwrap(), 0);
    assert!(
        queue::claim(db, "other", 1, LEASE, &scope(&app), t0 + secs(29))
            .await
            .unwrap()
            .is_empty()
    );
    // After it, the job is queued again and runs elsewhere as attempt 2.
    assert_eq!(queue::reap_expired(db, &scope(&app), t0 + secs(31)).await.unwrap(), 1);
    let again = queue::claim(db, "other", 1, LEASE, &scope(&app), t0 + secs(31))
        .await
        .unwrap();
    assert_eq!((again[0].id, again[0].attempt), (id, 2));
    // The dead worker's late result is not recorded over the new run.
    assert!(!queue::complete(db, id, "dies", t0 + secs(32)).await.unwrap());
    assert!(queue::complete(db, id, "other", t0 + secs(32)).await.unwrap());
}

/// Never finishes: stands for a worker that hangs or is killed mid-run.
struct Hangs(mpsc::UnboundedSender<i64>);
impl JobHandler for Hangs {
    fn handle<'a>(&'a self, job: &'a Job, _ctx: JobContext) -> BoxFuture<'a, JobResult> {
        let _ = self.0.send(job.id);
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_running_worker_that_stops_hands_over_after_the_lease() {
    let app = spawn_app().await;
    let id = queue::enqueue_now(&app.state.db, probe(&app, 7), clock::now())
        .await
        .unwrap()
        .unwrap();
    let (hang_tx, mut hang_rx) = mpsc::unbounded_channel();
    // A worker that claims the job and then stops responding; its heartbeat also stops because
    // its task is aborted.
    let mut options = switchboard::startup::worker_options(&app.state.config, scope(&app));
    options.lease = Duration::from_millis(900);
    options.poll_interval = Duration::from_millis(100);
    let dying = tokio::spawn(
        switchboard::jobs::worker::Worker::new(app.state.db.clone(), Arc::new(Hangs(hang_tx)), options)
            .run(tokio_util::sync::CancellationToken::new()),
    );
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(30), hang_rx.recv())
            .await
            .unwrap(),
        Some(id)
    );
    dying.abort();
    let (rec, mut rx) = recorder();
    app.start_worker(rec.clone(), |o| o.poll_interval = Duration::from_millis(100));
    wait_for(&mut rx, 1).await;
    let job = eventually(Duration::from_secs(10), async || {
        queue::get(&app.state.db, Owner::Operator, id)
            .await
            .unwrap()
            .filter(|j| j.state == JobState::Done)
    })
    .await;
    assert_eq!(job.attempts, 2);
}

#[tokio::test]
async fn an_ordering_key_runs_strictly_one_at_a_time_in_enqueue_order() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let key = format!("{}:conversation-1", app.tenant.id);
    let a1 = queue::enqueue_now(db, probe(&app, 1).ordering_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    let a2 = queue::enqueue_now(db, probe(&app, 2).ordering_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    let a3 = queue::enqueue_now(db, probe(&app, 3).ordering_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    let b1 = queue::enqueue_now(db, probe(&app, 4).ordering_key(format!("{}:other", app.tenant.id)), now)
        .await
        .unwrap()
        .unwrap();

    let first: Vec<_> = queue::claim(db, "w", 10, LEASE, &scope(&app), now)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(first, vec![a1, b1], "only the head of each key");
    assert!(
        queue::claim(db, "w", 10, LEASE, &scope(&app), now)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(queue::complete(db, a1, "w", now).await.unwrap());
    let next = queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a2]);

    // A failing head holds back the rest of its key until it is retried and succeeds — the
    // jobs behind it wait as long, and so does one enqueued behind it meanwhile, so that claims
    // do not step over them at the head of the queue.
    queue::fail(db, a2, "w", "boom", now + secs(60), false, now)
        .await
        .unwrap();
    let run_at = async |id| {
        queue::get(db, Owner::Tenant(app.tenant.id), id)
            .await
            .unwrap()
            .unwrap()
            .run_at
    };
    assert!(run_at(a3).await >= now + secs(60), "a3 waits with a2");
    let a4 = queue::enqueue_now(db, probe(&app, 5).ordering_key(&key), now + secs(1))
        .await
        .unwrap()
        .unwrap();
    assert!(run_at(a4).await >= now + secs(60), "a4 waits with a2");
    assert!(run_at(b1).await < now + secs(60), "another key does not wait");
    assert!(
        queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(30))
            .await
            .unwrap()
            .is_empty(),
        "a3 must wait for a2"
    );
    let retried = queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(60))
        .await
        .unwrap();
    assert_eq!(retried.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a2]);
    assert!(queue::complete(db, a2, "w", now + secs(61)).await.unwrap());
    let last = queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(61))
        .await
        .unwrap();
    assert_eq!(last.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a3]);
    assert!(queue::complete(db, a3, "w", now + secs(62)).await.unwrap());
    let after = queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(62))
        .await
        .unwrap();
    assert_eq!(after.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a4]);
}

#[tokio::test]
async fn a_job_put_back_to_run_later_keeps_the_jobs_behind_it_waiting_as_long() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let key = format!("{}:paced", app.tenant.id);
    let head = queue::enqueue_now(db, probe(&app, 1).ordering_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    let behind = queue::enqueue_now(db, probe(&app, 2).ordering_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    let claimed = queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![head]);
    assert!(
        queue::reschedule(db, head, "w", now + secs(30), Some("paced"), now)
            .await
            .unwrap()
    );
    let behind_at = queue::get(db, Owner::Tenant(app.tenant.id), behind)
        .await
        .unwrap()
        .unwrap()
        .run_at;
    assert!(
        behind_at >= now + secs(30),
        "{behind_at} must not be before the head's {}",
        now + secs(30)
    );
    let retried = queue::claim(db, "w", 10, LEASE, &scope(&app), now + secs(30))
        .await
        .unwrap();
    assert_eq!(retried.iter().map(|j| j.id).collect::<Vec<_>>(), vec![head]);
}

#[tokio::test]
async fn concurrent_workers_keep_an_ordering_key_serial_and_in_order() {
    const N: u32 = 60;
    let app = spawn_app().await;
    let key = format!("{}:busy-conversation", app.tenant.id);
    let (rec, mut rx) = recorder();
    for n in 0..N {
        queue::enqueue_now(&app.state.db, probe(&app, n).ordering_key(&key), clock::now())
            .await
            .unwrap();
    }
    for _ in 0..3 {
        app.start_worker(rec.clone(), |o| o.concurrency = 4);
    }
    wait_for(&mut rx, N as usize).await;
    assert_eq!(*rec.max_parallel_per_key.lock().unwrap(), 1);
    assert_eq!(*rec.order.lock().unwrap(), (0..N).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_unique_key_is_enqueued_once() {
    let app = spawn_app().await;
    let key = format!("{}:ticket-for-conversation-9", app.tenant.id);
    let first = queue::enqueue_now(&app.state.db, probe(&app, 1).unique_key(&key), clock::now())
        .await
        .unwrap();
    let second = queue::enqueue_now(&app.state.db, probe(&app, 2).unique_key(&key), clock::now())
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(second, None);
    let all = queue::list(&app.state.db, Owner::Tenant(app.tenant.id), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .filter(|j| j.unique_key.as_deref() == Some(key.as_str()))
            .count(),
        1
    );
}

/// Fails or asks to wait, as told by the payload.
struct Scripted(mpsc::UnboundedSender<(i64, DateTime<Utc>)>);
#[derive(Serialize, Deserialize)]
struct Script {
    outcome: String,
}
impl JobSpec for Script {
    const KIND: &'static str = "test.script";
}
impl JobHandler for Scripted {
    fn handle<'a>(&'a self, job: &'a Job, _ctx: JobContext) -> BoxFuture<'a, JobResult> {
        let script: Script = serde_json::from_value(job.payload.clone()).unwrap();
        let _ = self.0.send((job.id, clock::now()));
        Box::pin(async move {
            match script.outcome.as_str() {
                "retryable" => Err(JobError::Retryable("the provider answered 503".into())),
                "permanent" => Err(JobError::Permanent("the provider refused the payload".into())),
                "again" => Ok(Outcome::RunAgainAfter(Duration::from_secs(5))),
                "rate_limited" => Err(JobError::RateLimited {
                    wait: Duration::from_secs(7),
                    reason: "429, Retry-After: 7".into(),
                }),
                _ => Ok(Outcome::Done),
            }
        })
    }
}

async fn run_script(
    app: &crate::helpers::TestApp,
    outcome: &str,
    max_attempts: i32,
) -> (switchboard::jobs::JobRecord, DateTime<Utc>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let job = NewJob::new(&Script {
        outcome: outcome.into(),
    })
    .unwrap()
    .tenant(app.tenant.id)
    .max_attempts(max_attempts);
    let id = queue::enqueue_now(&app.state.db, job, clock::now())
        .await
        .unwrap()
        .unwrap();
    app.start_worker(Arc::new(Scripted(tx)), |_| {});
    let (ran, at) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ran, id);
    let record = eventually(Duration::from_secs(10), async || {
        queue::get(&app.state.db, Owner::Tenant(app.tenant.id), id)
            .await
            .unwrap()
            .filter(|j| j.state != JobState::Running)
    })
    .await;
    (record, at)
}

#[tokio::test]
async fn a_retryable_failure_backs_off() {
    let app = spawn_app().await;
    let (job, ran_at) = run_script(&app, "retryable", 5).await;
    assert_eq!((job.state, job.attempts), (JobState::Queued, 1));
    assert_eq!(job.last_error.as_deref(), Some("the provider answered 503"));
    // First backoff: between 1 and 2 seconds after the failure.
    let wait = job.run_at - ran_at;
    assert!(
        wait >= chrono::Duration::milliseconds(900) && wait <= chrono::Duration::milliseconds(2500),
        "{wait:?}"
    );
    // Not claimable before it is due.
    assert!(
        queue::claim(&app.state.db, "probe", 1, LEASE, &scope(&app), job.run_at - secs(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn run_again_after_and_rate_limits_wait_exactly_and_cost_no_attempt() {
    let app = spawn_app().await;
    let (again, ran_at) = run_script(&app, "again", 5).await;
    assert_eq!((again.state, again.attempts), (JobState::Queued, 0));
    let wait = again.run_at - ran_at;
    assert!(wait >= secs(5) && wait < secs(6), "{wait:?}");

    let app = spawn_app().await;
    let (limited, ran_at) = run_script(&app, "rate_limited", 5).await;
    assert_eq!((limited.state, limited.attempts), (JobState::Queued, 0));
    assert_eq!(limited.last_error.as_deref(), Some("429, Retry-After: 7"));
    let wait = limited.run_at - ran_at;
    assert!(wait >= secs(7) && wait < secs(8), "{wait:?}");
}

#[tokio::test]
async fn a_job_is_dead_after_its_last_attempt_and_can_be_retried() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let id = queue::enqueue_now(db, probe(&app, 1).max_attempts(2), now)
        .await
        .unwrap()
        .unwrap();
    queue::claim(db, "w", 1, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(
        queue::fail(db, id, "w", "first", now + secs(1), false, now)
            .await
            .unwrap(),
        Some(JobState::Queued)
    );
    queue::claim(db, "w", 1, LEASE, &scope(&app), now + secs(1))
        .await
        .unwrap();
    assert_eq!(
        queue::fail(db, id, "w", "second", now + secs(9), false, now + secs(1))
            .await
            .unwrap(),
        Some(JobState::Dead)
    );
    assert!(
        queue::claim(db, "w", 1, LEASE, &scope(&app), now + secs(3600))
            .await
            .unwrap()
            .is_empty()
    );

    // Retried from dead (here through the API), it runs again with fresh attempts.
    let res = app
        .http
        .post(app.url(&format!("api/v1/jobs/{id}/retry")))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (body["state"].as_str(), body["attempts"].as_i64()),
        (Some("queued"), Some(0))
    );
    let again = queue::claim(db, "w", 1, LEASE, &scope(&app), clock::now())
        .await
        .unwrap();
    assert_eq!(again[0].id, id);
}

#[tokio::test]
async fn a_permanent_failure_is_dead_at_once() {
    let app = spawn_app().await;
    let (job, _) = run_script(&app, "permanent", 10).await;
    assert_eq!((job.state, job.attempts), (JobState::Dead, 1));
    assert_eq!(job.last_error.as_deref(), Some("the provider refused the payload"));
    assert!(job.finished_at.is_some());
}

#[tokio::test]
async fn live_work_runs_before_bulk_work() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let bulk = queue::enqueue_now(db, probe(&app, 1).priority(priority::BULK), now)
        .await
        .unwrap()
        .unwrap();
    let live = queue::enqueue_now(db, probe(&app, 2).priority(priority::LIVE), now)
        .await
        .unwrap()
        .unwrap();
    let claimed = queue::claim(db, "w", 1, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(claimed[0].id, live);
    let claimed = queue::claim(db, "w", 1, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(claimed[0].id, bulk);
}

#[tokio::test]
async fn cancelled_jobs_do_not_run() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now() + secs(3600);
    let id = queue::enqueue_now(db, probe(&app, 1).run_at(now), clock::now())
        .await
        .unwrap()
        .unwrap();
    let res = app
        .http
        .post(app.url(&format!("api/v1/jobs/{id}/cancel")))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        queue::claim(db, "w", 1, LEASE, &scope(&app), now)
            .await
            .unwrap()
            .is_empty()
    );
    // Cancelling again is a conflict, not a silent success.
    let res = app
        .http
        .post(app.url(&format!("api/v1/jobs/{id}/cancel")))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}

/// Waits for a go-ahead before finishing; reports when it starts.
struct Gated {
    started: mpsc::UnboundedSender<i64>,
    go: Arc<tokio::sync::Notify>,
}
impl JobHandler for Gated {
    fn handle<'a>(&'a self, job: &'a Job, _ctx: JobContext) -> BoxFuture<'a, JobResult> {
        let _ = self.started.send(job.id);
        Box::pin(async move {
            self.go.notified().await;
            Ok(Outcome::Done)
        })
    }
}

async fn run_and_stop(grace: Duration, let_finish: bool) -> switchboard::jobs::JobRecord {
    let app = spawn_app().await;
    let id = queue::enqueue_now(&app.state.db, probe(&app, 1), clock::now())
        .await
        .unwrap()
        .unwrap();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let go = Arc::new(tokio::sync::Notify::new());
    let stop = tokio_util::sync::CancellationToken::new();
    let mut options = switchboard::startup::worker_options(&app.state.config, scope(&app));
    options.shutdown_grace = grace;
    let worker = switchboard::jobs::worker::Worker::new(
        app.state.db.clone(),
        Arc::new(Gated {
            started: started_tx,
            go: go.clone(),
        }),
        options,
    );
    let running = tokio::spawn(worker.run(stop.clone()));
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(30), started.recv())
            .await
            .unwrap(),
        Some(id)
    );
    stop.cancel();
    if let_finish {
        go.notify_one();
    }
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .unwrap()
        .unwrap();
    queue::get(&app.state.db, Owner::Operator, id).await.unwrap().unwrap()
}

#[tokio::test]
async fn shutdown_lets_running_jobs_finish_within_the_grace_period() {
    let job = run_and_stop(Duration::from_secs(30), true).await;
    assert_eq!((job.state, job.attempts), (JobState::Done, 1));
}

#[tokio::test]
async fn shutdown_hands_back_jobs_that_do_not_finish_in_time() {
    let job = run_and_stop(Duration::ZERO, false).await;
    // Queued again at once, for another worker, and this run did not count as an attempt.
    assert_eq!((job.state, job.attempts), (JobState::Queued, 0));
    assert!(job.run_at <= clock::now());
}

#[tokio::test]
async fn a_coalesce_key_skips_a_job_while_its_twin_waits() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let key = format!("{}:reconcile-7", app.tenant.id);
    let first = queue::enqueue_now(db, probe(&app, 1).coalesce_key(&key), now)
        .await
        .unwrap();
    assert!(first.is_some());
    assert_eq!(
        queue::enqueue_now(db, probe(&app, 2).coalesce_key(&key), now)
            .await
            .unwrap(),
        None,
        "the waiting twin will do it"
    );
    // Once the first runs, a change after its start needs a job of its own.
    let claimed = queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![first.unwrap()]);
    assert!(
        queue::enqueue_now(db, probe(&app, 3).coalesce_key(&key), now)
            .await
            .unwrap()
            .is_some()
    );
    // Keys do not coalesce across each other or with jobs without one.
    assert!(
        queue::enqueue_now(db, probe(&app, 4).coalesce_key(format!("{key}-other")), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(queue::enqueue_now(db, probe(&app, 5), now).await.unwrap().is_some());
    assert!(queue::enqueue_now(db, probe(&app, 6), now).await.unwrap().is_some());
}

#[tokio::test]
async fn twins_enqueued_at_the_same_moment_leave_one_waiting() {
    let app = spawn_app().await;
    let key = format!("{}:reconcile-race", app.tenant.id);
    let now = clock::now();
    let enqueues = (0..16u32).map(|n| {
        let (db, job) = (app.state.db.clone(), probe(&app, n).coalesce_key(&key));
        tokio::spawn(async move { queue::enqueue_now(&db, job, now).await })
    });
    let mut enqueued = 0;
    for e in enqueues {
        enqueued += usize::from(e.await.unwrap().unwrap().is_some());
    }
    assert_eq!(enqueued, 1, "one waiting job absorbs its twins, however they race");
    let claimed = queue::claim(&app.state.db, "w", 100, LEASE, &scope(&app), now)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
}

#[tokio::test]
async fn a_claimed_job_put_back_waits_beside_the_twin_enqueued_while_it_ran() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let now = clock::now();
    let key = format!("{}:reconcile-8", app.tenant.id);
    let first = queue::enqueue_now(db, probe(&app, 1).coalesce_key(&key), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap().len(),
        1
    );
    let twin = queue::enqueue_now(db, probe(&app, 2).coalesce_key(&key), now)
        .await
        .unwrap();
    assert!(twin.is_some(), "a running job no longer absorbs new ones");
    // The first run fails and is queued again: both wait, and the twin still absorbs.
    assert_eq!(
        queue::fail(db, first, "w", "boom", now, false, now).await.unwrap(),
        Some(JobState::Queued)
    );
    assert_eq!(
        queue::enqueue_now(db, probe(&app, 3).coalesce_key(&key), now)
            .await
            .unwrap(),
        None
    );
    let claimed = queue::claim(db, "w", 10, LEASE, &scope(&app), now).await.unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![first, twin.unwrap()]
    );
}

/// On PostgreSQL only writes whose loss in a database crash only repeats work — the queue's own
/// bookkeeping (claims, completions, lease renewals) and jobs' writes before they finish — commit
/// without waiting for the disk; the pools that answer webhooks and requests wait. SQLite has no
/// such pool (synchronous=FULL).
#[tokio::test]
async fn only_writes_whose_loss_repeats_work_commit_without_waiting_for_the_disk() {
    use switchboard::db::{Commit, Pool};

    async fn synchronous_commit(pool: &sqlx::PgPool) -> String {
        sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    let app = spawn_app().await;
    let db = &app.state.db;
    let Pool::Pg(main) = db.pool() else {
        assert!(db.relaxed_pg().is_none());
        assert!(db.pg_for(Commit::Relaxed).is_none());
        return;
    };
    assert_eq!(synchronous_commit(main).await, "on");
    assert_eq!(synchronous_commit(db.accept_pg().unwrap()).await, "on");
    assert_eq!(synchronous_commit(db.keyed_pg().unwrap()).await, "on");
    assert_eq!(synchronous_commit(db.relaxed_pg().unwrap()).await, "off");
    assert_eq!(synchronous_commit(db.pg_for(Commit::Relaxed).unwrap()).await, "off");
    assert_eq!(synchronous_commit(db.pg_for(Commit::Durable).unwrap()).await, "on");

    // And the queue works through it: a claimed job's completion is seen by every connection.
    let worker = format!("relaxed-{}", uuid::Uuid::new_v4());
    let id = queue::enqueue_now(db, probe(&app, 1), clock::now())
        .await
        .unwrap()
        .unwrap();
    let claimed = queue::claim(db, &worker, 10, LEASE, &scope(&app), clock::now())
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    assert_eq!(
        queue::extend_leases(db, &worker, &[id], LEASE, clock::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        queue::complete_many(db, &worker, &[id], clock::now()).await.unwrap(),
        vec![id]
    );
    let job = queue::get(db, Owner::Tenant(app.tenant.id), id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
}

/// A worker renews the leases of the jobs it is still running, not of every job in its name: a
/// job whose run ended without its result recorded (the completion failed) lets its lease run
/// out and runs again, instead of holding its ordering key for as long as the worker lives.
#[tokio::test]
async fn lease_renewals_keep_only_the_jobs_still_running() {
    let app = spawn_app().await;
    let db = &app.state.db;
    let worker = format!("renew-{}", uuid::Uuid::new_v4());
    let t0 = clock::now();
    let a = queue::enqueue_now(db, probe(&app, 1), t0).await.unwrap().unwrap();
    let b = queue::enqueue_now(db, probe(&app, 2), t0).await.unwrap().unwrap();
    let claimed = queue::claim(db, &worker, 10, LEASE, &scope(&app), t0).await.unwrap();
    assert_eq!(claimed.len(), 2);

    // b's run ended but its completion was lost; a still runs: only a is renewed.
    assert_eq!(
        queue::extend_leases(db, &worker, &[a], LEASE, t0 + secs(20))
            .await
            .unwrap(),
        1
    );
    assert_eq!(queue::reap_expired(db, &scope(&app), t0 + secs(40)).await.unwrap(), 1);
    let state = async |id| {
        queue::get(db, Owner::Tenant(app.tenant.id), id)
            .await
            .unwrap()
            .unwrap()
            .state
    };
    assert_eq!(state(a).await, JobState::Running);
    assert_eq!(state(b).await, JobState::Queued);
    // Nothing to renew is no statement at all.
    assert_eq!(queue::extend_leases(db, &worker, &[], LEASE, t0).await.unwrap(), 0);
}

/// Records when each job started.
struct Starts(mpsc::UnboundedSender<(i64, std::time::Instant)>);
impl JobHandler for Starts {
    fn handle<'a>(&'a self, job: &'a Job, _ctx: JobContext) -> BoxFuture<'a, JobResult> {
        let _ = self.0.send((job.id, std::time::Instant::now()));
        Box::pin(async { Ok(Outcome::Done) })
    }
}

#[tokio::test]
async fn claims_are_spaced_by_the_claim_gap() {
    let app = spawn_app().await;
    let gap = Duration::from_millis(400);
    let (tx, mut started) = mpsc::unbounded_channel();
    app.start_worker(Arc::new(Starts(tx)), |o| o.claim_gap = gap);
    let next = async |rx: &mut mpsc::UnboundedReceiver<(i64, std::time::Instant)>| {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the job did not run")
            .unwrap()
    };

    // The claim that takes the first job comes after its enqueue; each enqueue wakes the worker.
    let enqueued = std::time::Instant::now();
    queue::enqueue_now(&app.state.db, probe(&app, 1), clock::now())
        .await
        .unwrap();
    next(&mut started).await;
    let mut ids = Vec::new();
    for n in 2..=4 {
        ids.push(
            queue::enqueue_now(&app.state.db, probe(&app, n), clock::now())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    for _ in 0..3 {
        let (id, at) = next(&mut started).await;
        assert!(ids.contains(&id));
        assert!(
            at.duration_since(enqueued) >= gap,
            "job {id} was claimed {:?} after the first enqueue, within the gap",
            at.duration_since(enqueued)
        );
    }
}

#[tokio::test]
async fn a_worker_runs_a_quarter_of_its_jobs_while_what_it_yields_to_is_pressed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use switchboard::jobs::worker::YieldTo;

    let app = spawn_app().await;
    let db = &app.state.db;
    for n in 0..9 {
        queue::enqueue_now(db, probe(&app, n), clock::now()).await.unwrap();
    }
    let pressed = Arc::new(AtomicBool::new(true));
    let (hang_tx, mut started) = mpsc::unbounded_channel();
    let p = pressed.clone();
    app.start_worker(Arc::new(Hangs(hang_tx)), move |o| {
        o.concurrency = 8;
        o.yield_to = Some(YieldTo(Arc::new(move || p.load(Ordering::SeqCst))));
    });
    let running = async || {
        let filter = queue::ListFilter {
            state: Some(JobState::Running),
            ..Default::default()
        };
        queue::list(db, Owner::Tenant(app.tenant.id), &filter)
            .await
            .unwrap()
            .len()
    };
    // Pressed: its first claim takes two (8 / 4), though nine are due; none ends, so it claims
    // no more.
    for _ in 0..2 {
        started.recv().await.unwrap();
    }
    assert_eq!(running().await, 2);
    // No longer pressed: the next wake-up fills all eight slots.
    pressed.store(false, Ordering::SeqCst);
    queue::enqueue_now(db, probe(&app, 9), clock::now()).await.unwrap();
    for _ in 0..6 {
        started.recv().await.unwrap();
    }
    assert_eq!(running().await, 8);
}
