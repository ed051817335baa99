//! Webhook acceptance with group commit: concurrent webhooks share one transaction (one fsync),
//! each answered only after the commit that stored it. Past capacity, webhooks are refused at
//! once (503 with `Retry-After`) instead of queueing without bound; nothing accepted is lost.

use crate::batch::{Batcher, SubmitError};
use crate::db::{Backend, Db};

use super::{Accepted, NewEvent, accept_all};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("too many webhooks are waiting to be stored")]
    Overloaded,
    /// The batch's transaction failed: nothing of it was stored.
    #[error("the webhook could not be stored: {0}")]
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Ingest {
    batcher: Batcher<NewEvent, Result<Accepted, IngestError>>,
}

/// Events per transaction at most: enough to amortise a commit, small enough to keep each
/// transaction short.
const MAX_BATCH: usize = 256;

impl Ingest {
    pub fn start(db: Db, queue: usize) -> Self {
        // SQLite has one writer; PostgreSQL overlaps the commits of a few, each on a connection
        // of its own.
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => crate::db::ACCEPT_CONNECTIONS as usize,
        };
        let batcher = Batcher::start(queue, MAX_BATCH, writers, move |events: Vec<NewEvent>| {
            let db = db.clone();
            async move { store(&db, events).await }
        });
        Self { batcher }
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Accepted, IngestError> {
        match self.batcher.submit(event).await {
            Ok(result) => result,
            Err(SubmitError::Overloaded) => Err(IngestError::Overloaded),
            Err(SubmitError::Stopped) => Err(IngestError::Failed("the writer has stopped".into())),
        }
    }
}

async fn store(db: &Db, events: Vec<NewEvent>) -> Vec<Result<Accepted, IngestError>> {
    let n = events.len();
    match accept_all(db, &events).await {
        Ok(accepted) => accepted.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::error!(error = %e, events = n, "storing a batch of webhooks failed; none of them was accepted");
            vec![Err(IngestError::Failed(e.to_string())); n]
        }
    }
}
