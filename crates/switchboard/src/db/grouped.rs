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

/// The answer for each of `keys` from a grouped read's rows: the row `is` matches to it, if any
/// (a key asked twice gets the row twice).
pub fn answer_each<K, V: Clone>(keys: &[K], found: &[V], is: impl Fn(&K, &V) -> bool) -> Vec<Option<V>> {
    keys.iter().map(|k| found.iter().find(|v| is(k, v)).cloned()).collect()
}

/// `items` split into rounds in which no key repeats, each item in the first round without its
/// key, so the order among items of one key is kept: for statements that may touch a row only
/// once (`UPDATE … FROM`, `INSERT … ON CONFLICT DO UPDATE`), run one round after the other.
pub fn rounds<T, K: PartialEq>(items: &[T], key: impl Fn(&T) -> K) -> Vec<Vec<&T>> {
    let mut rounds: Vec<Vec<&T>> = Vec::new();
    for item in items {
        let k = key(item);
        // After the last round that has the key: an earlier one would run it before its elder.
        let last_with = rounds.iter().rposition(|r| r.iter().any(|o| key(o) == k));
        let first_free = last_with.map_or(0, |i| i + 1);
        match rounds.get_mut(first_free) {
            Some(round) => round.push(item),
            None => rounds.push(vec![item]),
        }
    }
    rounds
}

#[cfg(test)]
mod tests {
    use super::{answer_each, rounds};

    #[test]
    fn each_key_gets_the_row_that_matches_it_or_none() {
        let found = [(1, "one"), (3, "three")];
        let answers = answer_each(&[3, 2, 1, 3], &found, |k, (n, _)| k == n);
        let names: Vec<Option<&str>> = answers.into_iter().map(|a| a.map(|(_, name)| name)).collect();
        assert_eq!(names, vec![Some("three"), None, Some("one"), Some("three")]);
    }

    #[test]
    fn rounds_never_repeat_a_key_and_keep_each_key_s_order() {
        let items = [("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)];
        let r = rounds(&items, |i| i.0);
        let shown: Vec<Vec<(&str, i32)>> = r.iter().map(|round| round.iter().map(|i| **i).collect()).collect();
        assert_eq!(
            shown,
            vec![
                vec![("a", 1), ("b", 1), ("c", 1)],
                vec![("a", 2), ("b", 2)],
                vec![("a", 3)],
            ]
        );
    }
}
