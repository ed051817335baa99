//! Durable jobs: rows in the same database as the data, enqueued in the caller's transaction,
//! executed at least once by idempotent handlers.
//!
//! - [`queue`]: the SQL — enqueue, claim with a lease, complete, fail with backoff, reschedule.
//! - [`worker`]: claims and runs jobs concurrently, renews leases, shuts down gracefully.
//! - [`registry`]: maps job kinds to typed handlers.

pub mod queue;
pub mod registry;
pub mod schedule;
pub mod worker;

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub type JobId = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Dead,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }
}

/// Priorities: live work (webhook processing, reply relay) runs before bulk work.
pub mod priority {
    pub const LIVE: i32 = 100;
    pub const NORMAL: i32 = 50;
    pub const BULK: i32 = 0;
}

/// A kind of job with a typed payload.
pub trait JobSpec: Serialize + DeserializeOwned + Send + Sync + 'static {
    const KIND: &'static str;
    const PRIORITY: i32 = priority::NORMAL;
    const MAX_ATTEMPTS: i32 = 25;
}

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i32,
    pub run_at: Option<DateTime<Utc>>,
    pub max_attempts: i32,
    /// At most one job with this key is ever enqueued (until finished jobs are purged).
    pub unique_key: Option<String>,
    /// Jobs sharing this key run one at a time, in enqueue order.
    pub ordering_key: Option<String>,
    /// Not enqueued while a job with this key is still waiting (for reconcilers, whose waiting
    /// job will see the newer state anyway).
    pub coalesce_key: Option<String>,
}

impl NewJob {
    pub fn new<J: JobSpec>(job: &J) -> Result<NewJob, serde_json::Error> {
        Ok(NewJob {
            tenant_id: None,
            kind: J::KIND.to_owned(),
            payload: serde_json::to_value(job)?,
            priority: J::PRIORITY,
            run_at: None,
            max_attempts: J::MAX_ATTEMPTS,
            unique_key: None,
            ordering_key: None,
            coalesce_key: None,
        })
    }

    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant_id = Some(tenant);
        self
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    pub fn ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    pub fn coalesce_key(mut self, key: impl Into<String>) -> Self {
        self.coalesce_key = Some(key.into());
        self
    }

    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// A claimed job, as a handler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub priority: i32,
    /// This run's number, from 1.
    pub attempt: i32,
    pub max_attempts: i32,
    pub ordering_key: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A job as listed and shown by the API and CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobRecord {
    pub id: JobId,
    #[serde(skip)]
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub state: JobState,
    pub priority: i32,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub progress: Option<serde_json::Value>,
    pub unique_key: Option<String>,
    pub ordering_key: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What a successful run asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Run again after this wait without counting a failure (e.g. paced by a rate budget).
    RunAgainAfter(Duration),
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Try again after an exponential backoff with jitter; `dead` after the last attempt.
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot help: the job goes `dead` at once.
    #[error("{0}")]
    Permanent(String),
    /// The provider asked us to wait: run again after exactly `wait`, not counted as a failure.
    #[error("rate limited, waiting {wait:?}: {reason}")]
    RateLimited { wait: Duration, reason: String },
}

impl From<crate::db::DbError> for JobError {
    fn from(e: crate::db::DbError) -> Self {
        JobError::Retryable(format!("database: {e}"))
    }
}

/// Exponential backoff with jitter for the `attempt`-th failure (from 1): `base`, 2 × `base`,
/// 4 × `base` … capped at 30 min, each scaled by a factor in [0.5, 1.0] so that jobs failing
/// together spread out. `jitter` in [0, 1] is supplied by the caller, keeping this pure.
pub fn backoff(attempt: i32, jitter: f64, base: Duration) -> Duration {
    const CAP: f64 = 30.0 * 60.0;
    let exp = attempt.clamp(1, 30) - 1;
    let full = (base.as_secs_f64() * 2f64.powi(exp)).min(CAP);
    Duration::from_secs_f64(full * (0.5 + 0.5 * jitter.clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Duration = Duration::from_secs(2);

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff(1, 1.0, B), Duration::from_secs(2));
        assert_eq!(backoff(1, 0.0, B), Duration::from_secs(1));
        assert_eq!(backoff(3, 1.0, B), Duration::from_secs(8));
        assert_eq!(backoff(40, 1.0, B), Duration::from_secs(1800));
        assert_eq!(backoff(40, 0.0, B), Duration::from_secs(900));
        for a in 1..20 {
            assert!(backoff(a + 1, 0.99, B) >= backoff(a, 0.99, B));
        }
    }

    #[test]
    fn states_round_trip() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Dead,
            JobState::Cancelled,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("nope"), None);
    }
}
