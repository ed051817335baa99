//! Maps job kinds to typed handlers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use domain::ids::TenantId;

use super::{Job, JobError, JobId, JobSpec, Outcome};
use crate::db::Db;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type JobResult = Result<Outcome, JobError>;

/// What a handler knows about the run it is in.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub db: Db,
    pub job_id: JobId,
    pub tenant_id: Option<TenantId>,
    pub attempt: i32,
    pub max_attempts: i32,
}

impl JobContext {
    /// Records progress that `GET /api/v1/jobs/{id}` shows while the job runs.
    pub async fn set_progress(&self, progress: &serde_json::Value) -> Result<(), JobError> {
        super::queue::set_progress(&self.db, self.job_id, progress, crate::clock::now()).await?;
        Ok(())
    }

    /// Whether this is the last attempt the job gets.
    pub fn last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Runs claimed jobs.
pub trait JobHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, job: &'a Job, ctx: JobContext) -> BoxFuture<'a, JobResult>;
}

type Erased = Box<dyn Fn(serde_json::Value, JobContext) -> BoxFuture<'static, JobResult> + Send + Sync>;

/// The production handler: one typed function per job kind.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Erased>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register<J, F, Fut>(&mut self, handler: F) -> &mut Self
    where
        J: JobSpec,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let erased: Erased = Box::new(move |payload, ctx| match serde_json::from_value::<J>(payload) {
            Ok(job) => Box::pin(handler(job, ctx)),
            Err(e) => {
                let msg = format!("the payload is not a valid '{}' job: {e}", J::KIND);
                Box::pin(async move { Err(JobError::Permanent(msg)) })
            }
        });
        self.handlers.insert(J::KIND, erased);
        self
    }

    pub fn kinds(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }
}

impl JobHandler for Registry {
    fn handle<'a>(&'a self, job: &'a Job, ctx: JobContext) -> BoxFuture<'a, JobResult> {
        match self.handlers.get(job.kind.as_str()) {
            Some(h) => h(job.payload.clone(), ctx),
            // A job written by a newer version: it waits, dead, to be retried after an upgrade.
            None => {
                let msg = format!("no handler for job kind '{}' in this version", job.kind);
                Box::pin(async move { Err(JobError::Permanent(msg)) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    struct Greet {
        name: String,
    }
    impl JobSpec for Greet {
        const KIND: &'static str = "test.greet";
    }

    fn job(kind: &str, payload: serde_json::Value) -> Job {
        Job {
            id: 1,
            tenant_id: None,
            kind: kind.into(),
            payload,
            priority: 0,
            attempt: 1,
            max_attempts: 3,
            ordering_key: None,
            created_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn dispatches_by_kind_and_refuses_what_it_cannot_decode() {
        let db = Db::connect("sqlite::memory:", 1).await.expect("db");
        let ctx = JobContext {
            db,
            job_id: 1,
            tenant_id: None,
            attempt: 1,
            max_attempts: 3,
        };
        let mut r = Registry::new();
        r.register(|g: Greet, _ctx| async move {
            if g.name == "again" {
                Ok(Outcome::RunAgainAfter(std::time::Duration::from_secs(3)))
            } else {
                Ok(Outcome::Done)
            }
        });
        let ok = r
            .handle(&job("test.greet", serde_json::json!({"name": "x"})), ctx.clone())
            .await;
        assert_eq!(ok, Ok(Outcome::Done));
        let again = r
            .handle(&job("test.greet", serde_json::json!({"name": "again"})), ctx.clone())
            .await;
        assert_eq!(again, Ok(Outcome::RunAgainAfter(std::time::Duration::from_secs(3))));
        let bad = r
            .handle(&job("test.greet", serde_json::json!({"nom": 1})), ctx.clone())
            .await;
        assert!(matches!(bad, Err(JobError::Permanent(m)) if m.contains("test.greet")));
        let unknown = r.handle(&job("test.nope", serde_json::json!({})), ctx).await;
        assert!(matches!(unknown, Err(JobError::Permanent(m)) if m.contains("test.nope")));
    }
}
