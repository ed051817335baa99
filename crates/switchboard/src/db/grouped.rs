//! Point statements of concurrent jobs, grouped.
//!
//! On PostgreSQL a statement costs a round trip — a wake-up of the server process and of ours —
//! far more than the row it reads or writes. Jobs claimed together run together and make the
//! same statements at about the same moment (read the event, read the incidence, mark the note
//! sent), so requests that are queued together share one statement over all their keys
//! (`UNNEST`). Nothing waits for company: a lone request is a group of one. On SQLite, where a
//! statement is a local call, each request runs alone.

use std::future::Future;

use super::{Commit, Db, DbError, DbResult};
use crate::batch::Batcher;

pub struct Grouped<K, V> {
    batch: Option<Batcher<K, Result<V, String>>>,
}

impl<K, V> Clone for Grouped<K, V> {
    fn clone(&self) -> Self {
        Self {
            batch: self.batch.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for Grouped<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped")
            .field("grouping", &self.batch.is_some())
            .finish()
    }
}

impl<K: Send + 'static, V: Clone + Send + 'static> Grouped<K, V> {
    /// `many` answers a group of keys in one statement: one value per key, in the keys' order.
    pub fn new<F, Fut>(db: &Db, many: F) -> Self
    where
        F: Fn(sqlx::PgPool, Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DbResult<Vec<V>>> + Send + 'static,
    {
        Self::on(db.keyed_pg(), many)
    }

    /// [`Grouped::new`] for a job's write that need not wait for the disk ([`Commit::Relaxed`]).
    pub fn relaxed<F, Fut>(db: &Db, many: F) -> Self
    where
        F: Fn(sqlx::PgPool, Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DbResult<Vec<V>>> + Send + 'static,
    {
        Self::on(db.pg_for(Commit::Relaxed), many)
    }

    fn on<F, Fut>(pool: Option<&sqlx::PgPool>, many: F) -> Self
    where
        F: Fn(sqlx::PgPool, Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DbResult<Vec<V>>> + Send + 'static,
    {
        let batch = match pool {
            Some(pool) => {
                let pool = pool.clone();
                // Two groups in flight: the next gathers while one is at the database.
                Some(Batcher::start(4096, 256, 2, move |keys: Vec<K>| {
                    let n = keys.len();
                    let answer = many(pool.clone(), keys);
                    async move {
                        match answer.await {
                            Ok(values) if values.len() == n => values.into_iter().map(Ok).collect(),
                            Ok(values) => vec![Err(format!("{} answers for {n} requests", values.len())); n],
                            Err(e) => vec![Err(e.to_string()); n],
                        }
                    }
                }))
            }
            None => None,
        };
        Self { batch }
    }

    /// The answer for `key`: from a shared statement on PostgreSQL, else from `alone` (which is
    /// not run when grouping).
    pub async fn run(&self, key: K, alone: impl Future<Output = DbResult<V>>) -> DbResult<V> {
        match &self.batch {
            Some(b) => b
                .submit_waiting(key)
                .await
                .map_err(|e| DbError::Grouped(e.to_string()))?
                .map_err(DbError::Grouped),
            None => alone.await,
        }
    }
}
