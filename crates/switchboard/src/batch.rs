//! Group commit: many small writes waiting together for one transaction.
//!
//! Requests queue on a bounded channel; a writer takes everything queued (up to a batch size),
//! commits it in one transaction and answers each request. Under light load a batch is a single
//! request and nothing waits; under heavy load one commit (one fsync) serves hundreds. Several
//! writers pipeline commits on databases that take concurrent writers (PostgreSQL).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The queue is full: refuse now rather than make the caller wait without bound.
    #[error("too many writes are waiting")]
    Overloaded,
    #[error("the writer has stopped")]
    Stopped,
}

type Request<I, O> = (I, oneshot::Sender<O>);

pub struct Batcher<I, O> {
    queue: mpsc::Sender<Request<I, O>>,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<I, O> std::fmt::Debug for Batcher<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("queued", &(self.queue.max_capacity() - self.queue.capacity()))
            .finish()
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `writers` writer tasks. `commit` must return one output per item, in order.
    pub fn start<F, Fut>(capacity: usize, max_batch: usize, writers: usize, commit: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send,
    {
        let (queue, rx) = mpsc::channel::<Request<I, O>>(capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let commit = Arc::new(commit);
        for _ in 0..writers.max(1) {
            let (rx, commit) = (rx.clone(), commit.clone());
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::new();
                    {
                        // One writer gathers at a time; it lets go before committing, so the
                        // next writer gathers the next batch while this one commits.
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        batch.push(first);
                        // The first request woke this task ahead of its siblings (tokio runs a
                        // task just woken first): let the tasks that are ready make theirs.
                        tokio::task::yield_now().await;
                        while batch.len() < max_batch {
                            match rx.try_recv() {
                                Ok(r) => batch.push(r),
                                Err(_) => break,
                            }
                        }
                    }
                    let (items, replies): (Vec<I>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
                    let outputs = commit(items).await;
                    for (reply, output) in replies.into_iter().zip(outputs) {
                        // The requester may have gone (a dropped HTTP request): nothing to do.
                        let _ = reply.send(output);
                    }
                }
            });
        }
        Self { queue }
    }

    /// Queues `item` unless the queue is full, and waits for its commit.
    pub async fn submit(&self, item: I) -> Result<O, SubmitError> {
        let (tx, rx) = oneshot::channel();
        self.queue.try_send((item, tx)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SubmitError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
        })?;
        rx.await.map_err(|_| SubmitError::Stopped)
    }

    /// Queues `item`, waiting for room if the queue is full (for internal writers, which slow
    /// down instead of failing), and waits for its commit.
    pub async fn submit_waiting(&self, item: I) -> Result<O, SubmitError> {
        let (tx, rx) = oneshot::channel();
        self.queue.send((item, tx)).await.map_err(|_| SubmitError::Stopped)?;
        rx.await.map_err(|_| SubmitError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_submits_share_commits_and_each_gets_its_answer() {
        let commits = Arc::new(AtomicUsize::new(0));
        let c = commits.clone();
        let b = Batcher::start(1000, 64, 1, move |items: Vec<u32>| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                items.into_iter().map(|i| i * 2).collect::<Vec<_>>()
            }
        });
        let handles: Vec<_> = (0..500u32)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { (i, b.submit_waiting(i).await) })
            })
            .collect();
        for h in handles {
            let (i, out) = h.await.unwrap();
            assert_eq!(out, Ok(i * 2));
        }
        assert!(commits.load(Ordering::SeqCst) < 500, "requests were grouped");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let g = gate.clone();
        let b = Batcher::start(1, 1, 1, move |items: Vec<u32>| {
            let (g, started_tx) = (g.clone(), started_tx.clone());
            async move {
                let _ = started_tx.send(());
                if let Ok(permit) = g.acquire().await {
                    permit.forget();
                }
                items
            }
        });
        let first = {
            let b = b.clone();
            tokio::spawn(async move { b.submit(1).await })
        };
        started.recv().await.unwrap(); // the writer holds the first item
        let second = {
            let b = b.clone();
            tokio::spawn(async move { b.submit(2).await })
        };
        while b.queue.capacity() > 0 {
            tokio::task::yield_now().await; // until the second item fills the one-slot queue
        }
        assert_eq!(b.submit(3).await, Err(SubmitError::Overloaded));
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Ok(1));
        assert_eq!(second.await.unwrap(), Ok(2));
    }
}
