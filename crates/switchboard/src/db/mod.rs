//! One database layer for SQLite (the embedded default) and PostgreSQL (the scale-out).
//!
//! Repositories write one SQL text with `$1…$n` placeholders and run it on either backend through
//! [`on_db!`] / [`on_tx!`]; only the few statements that must differ (job claims, notifications)
//! have two texts. Runtime queries (`query_as::<_, T>`), not compile-time macros, so one test suite
//! runs against both.

pub mod api_keys;
pub mod customers;
pub mod deliveries;
pub mod grouped;
pub mod incidences;
pub mod records;
pub mod shared;
pub mod tenants;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use tokio::sync::watch;

/// Runs `$body` with `$pool` bound to the backend's pool. The body is written once and compiled
/// for each backend.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Pg($pool) => $body,
        }
    };
}

/// Like [`on_db!`] for a read outside any transaction: on SQLite it runs on the read pool, beside
/// the one writer instead of queued behind it. Only for reads — a write there would contend
/// with the writer inside SQLite.
#[macro_export]
macro_rules! on_read {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db.read_pool() {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Pg($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx.inner_mut() {
            $crate::db::TxInner::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::TxInner::Pg(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` bound to wherever an [`Exec`] writes: the pool (the statement is
/// its own transaction) or the open transaction's connection.
#[macro_export]
macro_rules! on_exec {
    ($exec:expr, $conn:ident => $body:expr) => {
        match $exec {
            $crate::db::Exec::Db(db) => $crate::db::on_db!(db, $conn => $body),
            $crate::db::Exec::Relaxed(db) => match db.pg_for($crate::db::Commit::Relaxed) {
                Some($conn) => $body,
                None => $crate::db::on_db!(db, $conn => $body),
            },
            $crate::db::Exec::Tx(tx) => $crate::db::on_tx!(tx, $conn => $body),
        }
    };
}

pub use crate::{on_db, on_exec, on_read, on_tx};

/// Where a write goes: into an open transaction, or straight to the pool. A write that is a
/// transaction by itself takes the pool: one round trip instead of three (`BEGIN`, it, `COMMIT`).
pub enum Exec<'a> {
    Db(&'a Db),
    /// The pool, for a job's write whose commit need not wait for the disk ([`Commit::Relaxed`]).
    Relaxed(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        Exec::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Exec::Tx(tx)
    }
}

impl Exec<'_> {
    /// Wakes job workers once the write is committed: now, or when the transaction commits.
    pub fn wake_workers_on_commit(&mut self) {
        match self {
            Exec::Db(db) | Exec::Relaxed(db) => db.jobs_enqueued(),
            Exec::Tx(tx) => tx.wake_workers_on_commit(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres:// (got '{0}')")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A statement shared with concurrent requests ([`grouped`]) failed; its error, as text.
    #[error("{0}")]
    Grouped(String),
}

impl DbError {
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }

    /// Whether the statement broke a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, DbError::Sqlx(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

pub type DbResult<T> = Result<T, DbError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a write's commit waits for the disk (PostgreSQL; SQLite's always do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Waits: the write answers a webhook or a request, or it is the intent committed before a
    /// provider write.
    Durable,
    /// Does not wait: a job's write before it finishes. The job's completion commits after it,
    /// and PostgreSQL's WAL reaches the disk in order, so a crash that loses the write loses
    /// the completion too and the job runs again (jobs are idempotent). Any later durable
    /// commit — a job's intent before a provider write — takes it to the disk first, so no
    /// provider ever sees the consequence of a write that was then lost.
    Relaxed,
}

impl Commit {
    /// How a statement shared by several writes commits: it waits if any of them must.
    pub fn of_all(commits: impl IntoIterator<Item = Commit>) -> Commit {
        if commits.into_iter().all(|c| c == Commit::Relaxed) {
            Commit::Relaxed
        } else {
            Commit::Durable
        }
    }
}

#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// A handle to the database: the pool plus the wake-up signals for job workers.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// Where [`on_read!`] reads: on SQLite a pool of its own, on PostgreSQL `pool` again.
    reader: Pool,
    /// PostgreSQL: connections for statements over arrays of keys (see [`Db::keyed_pg`]).
    keyed_pg: Option<sqlx::PgPool>,
    /// PostgreSQL: connections for webhook acceptance alone.
    accept_pg: Option<sqlx::PgPool>,
    /// PostgreSQL: connections whose commits do not wait for the disk (see [`Db::relaxed_pg`]).
    relaxed_pg: Option<sqlx::PgPool>,
    /// Wakes this process's workers.
    jobs_signal: Arc<watch::Sender<u64>>,
    /// Tells other processes (PostgreSQL NOTIFY, sent by a background task).
    notify_signal: Arc<watch::Sender<u64>>,
    /// This process's name in its notifications, so that it does not wake itself twice.
    instance: Arc<str>,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Channel used with LISTEN/NOTIFY to wake workers on PostgreSQL.
pub const JOBS_CHANNEL: &str = "switchboard_jobs";

impl Db {
    /// Connects to `url`: `sqlite:path` / `sqlite://path` (file created if missing) or `postgres://…`.
    /// `max_connections` sizes the pool; on SQLite, the read pool beside one writing connection.
    pub async fn connect(url: &str, max_connections: u32) -> DbResult<Db> {
        let (mut keyed_pg, mut accept_pg, mut relaxed_pg) = (None, None, None);
        let (pool, reader) = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit reaches the disk before a webhook is answered 2xx.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // One writing connection: SQLite has a single writer anyway, and callers queued on
            // the pool are served in order, while writers contending inside SQLite wait in its
            // busy handler's sleeps (up to 100 ms each) — webhook acceptance p99 was 107 ms at
            // 200/s with ten writing connections and 16 ms with one. Reads that need not see a
            // transaction's own writes use the read pool (WAL: readers never wait for it).
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            // (An in-memory database exists once per connection: it is read where it is written.)
            let reader = if url.contains(":memory:") || url.contains("mode=memory") {
                writer.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(max_connections.clamp(1, 16))
                    .connect_with(opts)
                    .await?
            };
            (Pool::Sqlite(writer), Pool::Sqlite(reader))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts.clone())
                .await?;
            // Grouped statements (`grouped`) look rows up by key in arrays whose length varies
            // with every call, so PostgreSQL would plan each execution anew (it did: planning
            // took more time than running them). They get connections that plan each statement
            // once, and never by scanning a table: a plan made while a table looked empty must
            // not scan it once it is full (statistics are refreshed, and plans with them, by
            // autovacuum's ANALYZE).
            const KEYED: [(&str, &str); 2] = [("plan_cache_mode", "force_generic_plan"), ("enable_seqscan", "off")];
            let keyed = PgPoolOptions::new()
                .max_connections((max_connections / 2).clamp(2, 8))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts.clone().options(KEYED))
                .await?;
            keyed_pg = Some(keyed);
            // Writes whose loss only repeats work commit without waiting for their WAL to reach
            // the disk (see `Commit::Relaxed`). A database crash can lose only the last fraction
            // of a second of them; nothing is lost otherwise, and a later durable commit (the
            // intent before any provider write) flushes the WAL written before it.
            relaxed_pg = Some(
                PgPoolOptions::new()
                    .max_connections(RELAXED_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(opts.clone().options(KEYED).options([("synchronous_commit", "off")])),
            );
            // Webhook acceptance has connections of its own: a webhook is answered after its
            // commit, and must not queue for a connection behind the jobs' statements.
            accept_pg = Some(
                PgPoolOptions::new()
                    .max_connections(ACCEPT_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts.clone())
                    .await?,
            );
            (Pool::Pg(pool.clone()), Pool::Pg(pool))
        } else {
            return Err(DbError::UnsupportedUrl(redact_url(url)));
        };
        let notify_signal = Arc::new(watch::Sender::new(0));
        let instance: Arc<str> = uuid::Uuid::new_v4().simple().to_string().into();
        if let Pool::Pg(pg) = &pool {
            spawn_notifier(pg.clone(), notify_signal.subscribe(), instance.clone());
        }
        Ok(Db {
            pool,
            reader,
            keyed_pg,
            accept_pg,
            relaxed_pg,
            jobs_signal: Arc::new(watch::Sender::new(0)),
            notify_signal,
            instance,
        })
    }

    /// Whether a notification on [`JOBS_CHANNEL`] came from another process (this one's
    /// workers were woken when it was sent).
    pub fn notified_by_other(&self, payload: &str) -> bool {
        payload != &*self.instance
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// PostgreSQL's pool for statements over arrays of keys — the grouped point statements that
    /// wait for the disk (reads, and the marks committed before a provider call): plans made once
    /// per connection, never a sequential scan.
    pub fn keyed_pg(&self) -> Option<&sqlx::PgPool> {
        self.keyed_pg.as_ref()
    }

    /// PostgreSQL's pool for writes whose loss in a database crash only makes work run again
    /// ([`Commit::Relaxed`]): commits that do not wait for the disk. The queue's bookkeeping
    /// (claims, completions, lease renewals) and what jobs write before they finish.
    pub fn relaxed_pg(&self) -> Option<&sqlx::PgPool> {
        self.relaxed_pg.as_ref()
    }

    /// PostgreSQL's pool for a write that commits as `commit` says; `None` on SQLite, where
    /// every commit waits for the disk.
    pub fn pg_for(&self, commit: Commit) -> Option<&sqlx::PgPool> {
        match (&self.pool, commit) {
            (Pool::Sqlite(_), _) => None,
            (Pool::Pg(pool), Commit::Durable) => Some(pool),
            (Pool::Pg(pool), Commit::Relaxed) => Some(self.relaxed_pg.as_ref().unwrap_or(pool)),
        }
    }

    /// PostgreSQL's pool for storing webhooks (see [`ACCEPT_CONNECTIONS`]).
    pub fn accept_pg(&self) -> Option<&sqlx::PgPool> {
        self.accept_pg.as_ref()
    }

    /// The pool for reads outside a transaction (see [`on_read!`]).
    pub fn read_pool(&self) -> &Pool {
        &self.reader
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Pg(_) => Backend::Postgres,
        }
    }

    /// A receiver that changes whenever jobs were enqueued in this process; a watch channel so
    /// that no wake-up is lost while a worker is busy (PostgreSQL also wakes other processes with
    /// LISTEN/NOTIFY).
    pub fn jobs_wakeups(&self) -> watch::Receiver<u64> {
        self.jobs_signal.subscribe()
    }

    /// Wakes this process's workers (used for notifications from other processes).
    pub fn wake_workers(&self) {
        bump(&self.jobs_signal);
    }

    /// Jobs became due outside a transaction: wake workers here and elsewhere.
    pub fn jobs_enqueued(&self) {
        bump(&self.jobs_signal);
        bump(&self.notify_signal);
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
            Pool::Pg(_) => &PG_MIGRATOR,
        }
    }

    pub async fn migrate(&self) -> DbResult<()> {
        let migrator = self.migrator();
        on_db!(self, pool => migrator.run(pool).await)?;
        Ok(())
    }

    /// Whether every migration this build knows has been applied.
    pub async fn migrations_applied(&self) -> DbResult<bool> {
        let latest = self.migrator().iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = on_db!(self, pool => {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
        })
        .or_else(|e| match e {
            // No migrations table yet: nothing applied.
            sqlx::Error::Database(_) => Ok(None),
            other => Err(other),
        })?;
        Ok(applied.unwrap_or(0) >= latest)
    }

    pub async fn ping(&self) -> DbResult<()> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN IMMEDIATE`)
    /// so two writers never deadlock upgrading a read lock.
    pub async fn begin(&self) -> DbResult<Tx> {
        let inner = match &self.pool {
            Pool::Sqlite(pool) => TxInner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Pg(pool) => TxInner::Pg(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            wake_workers: false,
            db: self.clone(),
        })
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await);
        on_read!(self, pool => pool.close().await);
    }
}

/// A write transaction on either backend. Jobs enqueued in it wake workers only once it commits.
pub struct Tx {
    inner: TxInner,
    wake_workers: bool,
    db: Db,
}

pub enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn inner_mut(&mut self) -> &mut TxInner {
        &mut self.inner
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Pg(_) => Backend::Postgres,
        }
    }

    /// Asks for job workers to be woken when this transaction commits.
    pub fn wake_workers_on_commit(&mut self) {
        self.wake_workers = true;
    }

    pub async fn commit(self) -> DbResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Pg(t) => t.commit().await?,
        }
        if self.wake_workers {
            self.db.jobs_enqueued();
        }
        Ok(())
    }

    pub async fn rollback(self) -> DbResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Pg(t) => t.rollback().await?,
        }
        Ok(())
    }
}

fn bump(signal: &watch::Sender<u64>) {
    signal.send_modify(|v| *v = v.wrapping_add(1));
}

/// Sends `NOTIFY` after commits, outside them: a NOTIFY inside a transaction takes a lock that
/// serialises every notifying commit in the database, and one notification per burst is enough
/// (workers claim everything due when they wake). Commits within [`NOTIFY_EVERY`] of the last
/// notification coalesce into the next: under load that is one statement per interval instead
/// of one per commit, for at most that much delay to other processes' workers.
fn spawn_notifier(pool: PgPool, mut commits: watch::Receiver<u64>, instance: Arc<str>) {
    tokio::spawn(async move {
        while commits.changed().await.is_ok() {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(JOBS_CHANNEL)
                .bind(&*instance)
                .execute(&pool)
                .await
            {
                // Other processes' workers still poll.
                tracing::warn!(error = %e, "could not notify other workers");
            }
            tokio::time::sleep(NOTIFY_EVERY).await;
        }
    });
}

/// Connections for webhook acceptance on PostgreSQL: one per ingest writer, each with a batch
/// in flight.
pub const ACCEPT_CONNECTIONS: u32 = 4;

/// Connections for writes that need not wait for the disk (see [`Db::relaxed_pg`]): a worker's
/// claims, its completions, the event marks and the sent marks (one batch writer each), two
/// record writers, and a relay's sent-and-logged marks.
const RELAXED_CONNECTIONS: u32 = 8;

const NOTIFY_EVERY: Duration = Duration::from_millis(2);

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("sqlite:data/x.db"), "sqlite:data/x.db");
    }

    #[test]
    fn a_shared_statement_waits_for_the_disk_if_any_of_its_writes_must() {
        use Commit::{Durable, Relaxed};
        assert_eq!(Commit::of_all([Relaxed, Relaxed]), Relaxed);
        assert_eq!(Commit::of_all([Relaxed, Durable, Relaxed]), Durable);
        assert_eq!(Commit::of_all([Durable]), Durable);
    }

    #[tokio::test]
    async fn a_process_is_not_woken_again_by_its_own_notification() {
        let (a, b) = (
            Db::connect("sqlite::memory:", 1).await.unwrap(),
            Db::connect("sqlite::memory:", 1).await.unwrap(),
        );
        assert!(!a.notified_by_other(&a.instance));
        assert!(a.notified_by_other(&b.instance));
        // Notifications from builds that sent no payload still wake.
        assert!(a.notified_by_other(""));
    }

    #[test]
    fn migrations_are_kept_in_step() {
        let names = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&SQLITE_MIGRATOR), names(&PG_MIGRATOR));
    }
}
