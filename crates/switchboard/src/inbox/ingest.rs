//! Webhook acceptance with group commit: concurrent webhooks share one transaction (one fsync),
//! each answered only after the commit that stored it. Past capacity, webhooks are refused at
//! once (503 with `Retry-After`) instead of queueing without bound; nothing accepted is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Webhooks received and not yet answered (queued or in a writer's batch).
    in_flight: Arc<AtomicUsize>,
}

/// Counts a webhook in flight until it is answered, however the answer ends.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> InFlight {
        count.fetch_add(1, Ordering::Relaxed);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Events per transaction at most: enough to amortise a commit, small enough to keep each
/// transaction short.
const MAX_BATCH: usize = 256;

/// Webhooks in flight beyond which acceptance is [`Ingest::pressed`]: rate × acceptance time —
/// about 10 at 1,250 /s, 25–35 at 2,000 /s, and flat out as many as there are senders.
const PRESSED_ABOVE: usize = 24;

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
        Self {
            batcher,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Whether webhooks are piling up: more in flight than a steady rate keeps. Work that can
    /// wait (the job worker in the same process) yields to them then.
    pub fn pressed(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > PRESSED_ABOVE
    }

    pub async fn accept(&self, event: NewEvent) -> Result<Accepted, IngestError> {
        let _counted = InFlight::enter(&self.in_flight);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acceptance_is_pressed_while_more_webhooks_than_a_steady_rate_keeps_are_in_flight() {
        let db = Db::connect("sqlite::memory:", 1).await.expect("db");
        let ingest = Ingest::start(db, 16);
        assert!(!ingest.pressed());
        let mut held: Vec<InFlight> = (0..PRESSED_ABOVE).map(|_| InFlight::enter(&ingest.in_flight)).collect();
        assert!(!ingest.pressed(), "at the threshold");
        held.push(InFlight::enter(&ingest.in_flight));
        assert!(ingest.pressed());
        held.truncate(1);
        assert!(!ingest.pressed(), "answered webhooks leave the count");
    }
}
