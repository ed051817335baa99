//! Reading something every so often in the background for the length of a run (the server's
//! memory, the machine's CPU counters), keeping what each reading yields.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;

/// Samples until dropped.
pub struct Sampler<T> {
    samples: Arc<Mutex<Vec<T>>>,
    task: JoinHandle<()>,
}

impl<T: Clone + Send + 'static> Sampler<T> {
    /// Calls `read` now and every `every`; a `None` (nothing readable this time) is skipped.
    pub fn start(every: Duration, mut read: impl FnMut() -> Option<T> + Send + 'static) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&samples);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(sample) = read() {
                    shared.lock().unwrap_or_else(PoisonError::into_inner).push(sample);
                }
            }
        });
        Self { samples, task }
    }

    /// What was read so far, oldest first.
    pub fn samples(&self) -> Vec<T> {
        self.samples.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl<T> Drop for Sampler<T> {
    fn drop(&mut self) {
        self.task.abort();
    }
}
