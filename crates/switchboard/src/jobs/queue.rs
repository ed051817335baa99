//! The jobs table: every state change of a job is one statement here.
//!
//! A job is `running` exactly while `locked_by` names its worker (a claim sets both; every way
//! out of `running` clears it), so a worker's own job is found by id and `locked_by` alone: the
//! primary key, whatever the planner believes about the size of the state-partial indexes —
//! a queue's statistics are stale by nature (gathered when it was empty, read under a backlog).
//!
//! Every function takes `now` as an argument, so time is the caller's (the worker passes the
//! clock; tests pass any instant they like — no sleeping to test backoff or leases).

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Job, JobId, JobRecord, JobState, NewJob};
use crate::db::{Db, DbError, DbResult, Exec, Pool, on_db, on_exec};

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The run time of a job with ordering key `$key` asked to run at `$at`: not before a job
/// waiting ahead of it with that key. A job behind one that backs off waits as long, instead of
/// sitting at the head of the ready index where every claim would step over it.
macro_rules! not_before_predecessors {
    ($at:literal, $key:literal) => {
        concat!(
            "COALESCE((SELECT MAX(w.run_at) FROM jobs w WHERE w.ordering_key = ",
            $key,
            " AND w.state IN ('queued', 'running') AND w.run_at > ",
            $at,
            "), ",
            $at,
            ")"
        )
    };
}
pub(crate) use not_before_predecessors;

/// Enqueues a job inside the caller's transaction (it exists, and runs, only if that transaction
/// commits) or on its own. Returns `None` when a job with the same unique key already exists, or
/// one with the same coalesce key is still waiting.
pub async fn enqueue<'a>(exec: impl Into<Exec<'a>>, job: NewJob, now: DateTime<Utc>) -> DbResult<Option<JobId>> {
    // Both keys are unique indexes (a coalesce key is cleared when its job is claimed), so the
    // conflict clause without a target covers both. (SQLite needs the WHERE on an INSERT …
    // SELECT that has an upsert clause.)
    const SQL: &str = concat!(
        "INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, unique_key, \
                         ordering_key, coalesce_key, created_at, updated_at) \
                       SELECT $1, $2, $3, $4, 'queued', ",
        not_before_predecessors!("$5", "$8"),
        ", 0, $6, $7, $8, $10, $9, $9 WHERE TRUE ON CONFLICT DO NOTHING RETURNING id"
    );
    let run_at = job.run_at.unwrap_or(now).max(now);
    let mut exec = exec.into();
    let id: Option<JobId> = on_exec!(&mut exec, conn => {
        sqlx::query_scalar(SQL)
            .bind(job.tenant_id.map(|t| t.as_uuid()))
            .bind(&job.kind)
            .bind(Json(&job.payload))
            .bind(job.priority)
            .bind(run_at)
            .bind(job.max_attempts)
            .bind(&job.unique_key)
            .bind(&job.ordering_key)
            .bind(now)
            .bind(&job.coalesce_key)
            .fetch_optional(conn)
            .await
    })?;
    if id.is_some() {
        exec.wake_workers_on_commit();
    }
    Ok(id)
}

/// [`enqueue`] for many jobs in one statement, each on its own terms (a job that finds its
/// unique or coalesce key taken is not enqueued, as alone); the number enqueued. Jobs sharing an
/// ordering key are inserted in the given order.
pub async fn enqueue_many_pg<'e>(
    exec: impl sqlx::PgExecutor<'e>,
    jobs: &[NewJob],
    now: DateTime<Utc>,
) -> DbResult<u64> {
    const SQL: &str = concat!(
        "INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, unique_key, \
                           ordering_key, coalesce_key, created_at, updated_at) \
         SELECT j.tenant_id, j.kind, j.payload, j.priority, 'queued', ",
        not_before_predecessors!("j.run_at", "j.ordering_key"),
        ", 0, j.max_attempts, j.unique_key, j.ordering_key, j.coalesce_key, $10, $10 \
         FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::int[], $5::timestamptz[], $6::int[], $7::text[], \
                     $8::text[], $9::text[]) WITH ORDINALITY \
           AS j(tenant_id, kind, payload, priority, run_at, max_attempts, unique_key, ordering_key, coalesce_key, n) \
         ORDER BY j.n ON CONFLICT DO NOTHING"
    );
    let n = sqlx::query(SQL)
        .bind(
            jobs.iter()
                .map(|j| j.tenant_id.map(|t| t.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| Json(&j.payload)).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.priority).collect::<Vec<_>>())
        .bind(
            jobs.iter()
                .map(|j| j.run_at.unwrap_or(now).max(now))
                .collect::<Vec<_>>(),
        )
        .bind(jobs.iter().map(|j| j.max_attempts).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.unique_key.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.ordering_key.as_deref()).collect::<Vec<_>>())
        .bind(jobs.iter().map(|j| j.coalesce_key.as_deref()).collect::<Vec<_>>())
        .bind(now)
        .execute(exec)
        .await?
        .rows_affected();
    Ok(n)
}

/// Enqueues a job in a transaction of its own.
pub async fn enqueue_now(db: &Db, job: NewJob, now: DateTime<Utc>) -> DbResult<Option<JobId>> {
    enqueue(db, job, now).await
}

/// Which jobs a worker takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimScope {
    /// Only this tenant's jobs (a dedicated worker); `None` takes every tenant's.
    pub tenant: Option<TenantId>,
}

// A job is claimable when it is due and no earlier job with its ordering key is still queued or
// running: that is what makes an ordering key run strictly one at a time, in enqueue order.
macro_rules! claimable {
    ($scope:literal) => {
        concat!(
            "SELECT j.id FROM jobs j WHERE j.state = 'queued' AND j.run_at <= $1 ",
            $scope,
            " AND (j.ordering_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p WHERE p.ordering_key = j.ordering_key \
               AND p.state IN ('queued', 'running') AND p.id < j.id)) \
             ORDER BY j.priority DESC, j.run_at, j.id LIMIT $4"
        )
    };
}
macro_rules! claimed_columns {
    ($t:literal) => {
        concat!(
            " RETURNING ",
            $t,
            "id, ",
            $t,
            "tenant_id, ",
            $t,
            "kind, ",
            $t,
            "payload, ",
            $t,
            "priority, ",
            $t,
            "attempts, ",
            $t,
            "max_attempts, ",
            $t,
            "ordering_key, ",
            $t,
            "created_at"
        )
    };
}
// A claimed job no longer absorbs new ones: it may have read the state already. Its coalesce
// key goes, so a twin can wait behind it (and the key's unique index holds when it is requeued).
macro_rules! take {
    () => {
        "state = 'running', attempts = attempts + 1, locked_until = $2, locked_by = $3, coalesce_key = NULL, updated_at = $1"
    };
}
// SQLite has a single writer: one UPDATE … WHERE id IN (…) statement picks and takes atomically.
macro_rules! claim_sqlite {
    ($scope:literal) => {
        concat!(
            "UPDATE jobs SET ",
            take!(),
            " WHERE id IN (",
            claimable!($scope),
            ")",
            claimed_columns!("")
        )
    };
}
// PostgreSQL: concurrent workers skip each other's locked rows instead of waiting on them.
macro_rules! claim_pg {
    ($scope:literal) => {
        concat!(
            "WITH picked AS (",
            claimable!($scope),
            " FOR UPDATE OF j SKIP LOCKED) UPDATE jobs SET ",
            take!(),
            " FROM picked WHERE jobs.id = picked.id",
            claimed_columns!("jobs.")
        )
    };
}
const CLAIM_SQLITE: &str = claim_sqlite!("");
const CLAIM_SQLITE_TENANT: &str = claim_sqlite!("AND j.tenant_id = $5");
const CLAIM_PG: &str = claim_pg!("");
const CLAIM_PG_TENANT: &str = claim_pg!("AND j.tenant_id = $5");

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: JobId,
    tenant_id: Option<Uuid>,
    kind: String,
    payload: Json<serde_json::Value>,
    priority: i32,
    attempts: i32,
    max_attempts: i32,
    ordering_key: Option<String>,
    created_at: DateTime<Utc>,
}

/// Claims up to `limit` due jobs for `worker`, leased until `now + lease`, highest priority first
/// (on PostgreSQL a commit that does not wait for the disk: see [`Db::relaxed_pg`]).
pub async fn claim(
    db: &Db,
    worker: &str,
    limit: usize,
    lease: Duration,
    scope: &ClaimScope,
    now: DateTime<Utc>,
) -> DbResult<Vec<Job>> {
    let until = after(now, lease);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let tenant = scope.tenant.map(|t| t.as_uuid());
    let rows: Vec<ClaimedRow> = match (db.pool(), tenant) {
        (Pool::Sqlite(pool), None) => {
            claim_query(CLAIM_SQLITE, now, until, worker, limit, None)
                .fetch_all(pool)
                .await?
        }
        (Pool::Sqlite(pool), Some(t)) => {
            claim_query(CLAIM_SQLITE_TENANT, now, until, worker, limit, Some(t))
                .fetch_all(pool)
                .await?
        }
        (Pool::Pg(pool), None) => {
            claim_query(CLAIM_PG, now, until, worker, limit, None)
                .fetch_all(db.relaxed_pg().unwrap_or(pool))
                .await?
        }
        (Pool::Pg(pool), Some(t)) => {
            claim_query(CLAIM_PG_TENANT, now, until, worker, limit, Some(t))
                .fetch_all(db.relaxed_pg().unwrap_or(pool))
                .await?
        }
    };
    let mut jobs: Vec<Job> = rows
        .into_iter()
        .map(|r| Job {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            kind: r.kind,
            payload: r.payload.0,
            priority: r.priority,
            attempt: r.attempts,
            max_attempts: r.max_attempts,
            ordering_key: r.ordering_key,
            created_at: r.created_at,
        })
        .collect();
    // RETURNING has no order; hand jobs out as they were picked.
    jobs.sort_by_key(|j| (std::cmp::Reverse(j.priority), j.id));
    Ok(jobs)
}

fn claim_query<'q, DB>(
    sql: &'static str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    worker: &'q str,
    limit: i64,
    tenant: Option<Uuid>,
) -> sqlx::query::QueryAs<'q, DB, ClaimedRow, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Uuid: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    ClaimedRow: for<'r> sqlx::FromRow<'r, DB::Row>,
{
    let q = sqlx::query_as::<DB, ClaimedRow>(sql)
        .bind(now)
        .bind(until)
        .bind(worker)
        .bind(limit);
    match tenant {
        Some(t) => q.bind(t),
        None => q,
    }
}

/// Marks the job done. False when the worker no longer holds it (its lease expired and another
/// worker took it): the other run's result stands.
pub async fn complete(db: &Db, id: JobId, worker: &str, now: DateTime<Utc>) -> DbResult<bool> {
    const SQL: &str = "UPDATE jobs SET state = 'done', locked_until = NULL, locked_by = NULL, updated_at = $3, finished_at = $3 \
                       WHERE id = $1 AND locked_by = $2";
    let n = on_db!(db, pool => sqlx::query(SQL).bind(id).bind(worker).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Marks several of `worker`'s jobs done in one statement; returns those it still held. (A
/// completion lost to a database crash runs the job again: see [`Db::relaxed_pg`].) Rows are
/// locked in id order, as [`extend_leases`] locks them.
pub async fn complete_many(db: &Db, worker: &str, ids: &[JobId], now: DateTime<Utc>) -> DbResult<Vec<JobId>> {
    const PG: &str = concat!(
        "UPDATE jobs SET state = 'done', locked_until = NULL, locked_by = NULL, updated_at = $3, finished_at = $3 ",
        "WHERE id IN (SELECT id FROM jobs WHERE id = ANY($1) AND locked_by = $2 ORDER BY id FOR UPDATE) RETURNING id"
    );
    // SQLite has no arrays: the ids travel as a JSON array.
    const SQLITE: &str = concat!(
        "UPDATE jobs SET state = 'done', locked_until = NULL, locked_by = NULL, updated_at = $3, finished_at = $3 ",
        "WHERE id IN (SELECT value FROM json_each($1)) AND locked_by = $2 RETURNING id"
    );
    Ok(match db.pool() {
        Pool::Pg(pool) => {
            sqlx::query_scalar(PG)
                .bind(ids)
                .bind(worker)
                .bind(now)
                .fetch_all(db.relaxed_pg().unwrap_or(pool))
                .await?
        }
        Pool::Sqlite(pool) => {
            let json = serde_json::to_string(ids).map_err(DbError::corrupt)?;
            sqlx::query_scalar(SQLITE)
                .bind(json)
                .bind(worker)
                .bind(now)
                .fetch_all(pool)
                .await?
        }
    })
}

/// A job of `ordering_key` was put back to run at `run_at`: the jobs waiting behind it wait as
/// long (see [`not_before_predecessors`]).
async fn hold_successors(db: &Db, id: JobId, ordering_key: &str, run_at: DateTime<Utc>) -> DbResult<()> {
    // The IN repeats the `jobs_ordering` index's predicate: SQLite uses a partial index only
    // when the query states its condition.
    const SQL: &str = "UPDATE jobs SET run_at = $3 WHERE ordering_key = $2 AND state IN ('queued', 'running') \
                       AND state = 'queued' AND id > $1 AND run_at < $3";
    on_db!(db, pool => sqlx::query(SQL).bind(id).bind(ordering_key).bind(run_at).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a failed run: back to `queued` at `retry_at`, or `dead` when `permanent` or out of
/// attempts.
pub async fn fail(
    db: &Db,
    id: JobId,
    worker: &str,
    error: &str,
    retry_at: DateTime<Utc>,
    permanent: bool,
    now: DateTime<Utc>,
) -> DbResult<Option<JobState>> {
    const SQL: &str = "UPDATE jobs SET \
                         state = CASE WHEN $4 OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                         finished_at = CASE WHEN $4 OR attempts >= max_attempts THEN $6 ELSE NULL END, \
                         run_at = $5, last_error = $3, locked_until = NULL, locked_by = NULL, updated_at = $6 \
                       WHERE id = $1 AND locked_by = $2 RETURNING state, ordering_key";
    let row: Option<(String, Option<String>)> = on_db!(db, pool => {
        sqlx::query_as(SQL)
            .bind(id)
            .bind(worker)
            .bind(truncate(error))
            .bind(permanent)
            .bind(retry_at)
            .bind(now)
            .fetch_optional(pool)
            .await
    })?;
    let Some((state, ordering_key)) = row else {
        return Ok(None);
    };
    let state = JobState::parse(&state);
    // A dead job no longer holds its key: the jobs behind it run now.
    if state == Some(JobState::Queued)
        && let Some(key) = &ordering_key
    {
        hold_successors(db, id, key, retry_at).await?;
    }
    Ok(state)
}

/// Puts the job back to run at `run_at` without counting this run as an attempt.
pub async fn reschedule(
    db: &Db,
    id: JobId,
    worker: &str,
    run_at: DateTime<Utc>,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $3, last_error = COALESCE($4, last_error), \
                       locked_until = NULL, locked_by = NULL, updated_at = $5 WHERE id = $1 AND locked_by = $2 \
                       RETURNING ordering_key";
    let row: Option<Option<String>> = on_db!(db, pool => {
        sqlx::query_scalar(SQL).bind(id).bind(worker).bind(run_at).bind(note.map(truncate)).bind(now).fetch_optional(pool).await
    })?;
    let Some(ordering_key) = row else {
        return Ok(false);
    };
    if let Some(key) = &ordering_key {
        hold_successors(db, id, key, run_at).await?;
    }
    Ok(true)
}

/// Renews the leases of the jobs `worker` is still running (`ids`). Only those: a job whose run
/// ended but whose result could not be recorded must let its lease run out, so that it runs
/// again and the jobs behind it on its ordering key are not held up for as long as the worker
/// lives. Rows are locked in id order, as a completion locks them, so the two never deadlock.
pub async fn extend_leases(db: &Db, worker: &str, ids: &[JobId], lease: Duration, now: DateTime<Utc>) -> DbResult<u64> {
    const PG: &str = "UPDATE jobs SET locked_until = $3 WHERE id IN (SELECT id FROM jobs WHERE id = ANY($1) \
                      AND locked_by = $2 ORDER BY id FOR UPDATE)";
    const SQLITE: &str =
        "UPDATE jobs SET locked_until = $3 WHERE id IN (SELECT value FROM json_each($1)) AND locked_by = $2";
    if ids.is_empty() {
        return Ok(0);
    }
    let until = after(now, lease);
    Ok(match db.pool() {
        Pool::Pg(pool) => {
            let pool = db.relaxed_pg().unwrap_or(pool);
            sqlx::query(PG)
                .bind(ids)
                .bind(worker)
                .bind(until)
                .execute(pool)
                .await?
                .rows_affected()
        }
        Pool::Sqlite(pool) => {
            let json = serde_json::to_string(ids).map_err(DbError::corrupt)?;
            sqlx::query(SQLITE)
                .bind(json)
                .bind(worker)
                .bind(until)
                .execute(pool)
                .await?
                .rows_affected()
        }
    })
}

/// Hands back the jobs `worker` still holds (graceful shutdown): they run again at once,
/// elsewhere, and this run does not count as an attempt.
pub async fn release(db: &Db, worker: &str, now: DateTime<Utc>) -> DbResult<u64> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, run_at = $2, locked_until = NULL, locked_by = NULL, \
                       updated_at = $2 WHERE locked_by = $1 AND state = 'running'";
    Ok(on_db!(db, pool => sqlx::query(SQL).bind(worker).bind(now).execute(pool).await.map(|r| r.rows_affected()))?)
}

/// Jobs whose worker stopped without finishing (its lease ran out) are queued again — or
/// `dead` if that was their last attempt.
pub async fn reap_expired(db: &Db, scope: &ClaimScope, now: DateTime<Utc>) -> DbResult<u64> {
    const SQL: &str = "UPDATE jobs SET \
                         state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                         finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
                         last_error = 'the worker stopped before finishing (lease expired)', \
                         run_at = $1, locked_until = NULL, locked_by = NULL, updated_at = $1 \
                       WHERE state = 'running' AND locked_until < $1 AND ($2 = 0 OR tenant_id = $3)";
    let (any, tenant) = match scope.tenant {
        Some(t) => (1, t.as_uuid()),
        None => (0, Uuid::nil()),
    };
    Ok(
        on_db!(db, pool => sqlx::query(SQL).bind(now).bind(any).bind(tenant).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

pub async fn set_progress(db: &Db, id: JobId, progress: &serde_json::Value, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str = "UPDATE jobs SET progress = $2, updated_at = $3 WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).bind(Json(progress)).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    id: JobId,
    tenant_id: Option<Uuid>,
    kind: String,
    state: String,
    priority: i32,
    attempts: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    last_error: Option<String>,
    progress: Option<Json<serde_json::Value>>,
    unique_key: Option<String>,
    ordering_key: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<RecordRow> for JobRecord {
    type Error = DbError;
    fn try_from(r: RecordRow) -> DbResult<JobRecord> {
        Ok(JobRecord {
            id: r.id,
            tenant_id: r.tenant_id.map(TenantId),
            kind: r.kind,
            state: JobState::parse(&r.state).ok_or_else(|| DbError::corrupt(format!("job state '{}'", r.state)))?,
            priority: r.priority,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            last_error: r.last_error,
            progress: r.progress.map(|p| p.0),
            unique_key: r.unique_key,
            ordering_key: r.ordering_key,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

macro_rules! select_records {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, kind, state, priority, attempts, max_attempts, run_at, last_error, progress, unique_key, \
             ordering_key, created_at, updated_at, finished_at FROM jobs ",
            $rest
        )
    };
}

/// Whose jobs an operation may touch: one tenant's (the API), or any (the operator's CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Tenant(TenantId),
    Operator,
}

impl Owner {
    fn tenant(self) -> Option<Uuid> {
        match self {
            Owner::Tenant(t) => Some(t.as_uuid()),
            Owner::Operator => None,
        }
    }
}

pub async fn get(db: &Db, owner: Owner, id: JobId) -> DbResult<Option<JobRecord>> {
    const SQL: &str = select_records!("WHERE id = $1 AND ($2 = 0 OR tenant_id = $3)");
    let (any, tenant) = owner_params(owner);
    let row: Option<RecordRow> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(id).bind(any).bind(tenant).fetch_optional(pool).await)?;
    row.map(JobRecord::try_from).transpose()
}

/// `($2 = 0 OR tenant_id = $3)`: 0 means "any tenant" (operator), 1 means "only $3".
fn owner_params(owner: Owner) -> (i32, Uuid) {
    match owner.tenant() {
        Some(t) => (1, t),
        None => (0, Uuid::nil()),
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    /// Jobs with ids below this (cursor pagination, newest first).
    pub before: Option<JobId>,
    /// At most this many (0: 100; never more than 500).
    pub limit: u32,
}

pub async fn list(db: &Db, owner: Owner, filter: &ListFilter) -> DbResult<Vec<JobRecord>> {
    const SQL: &str = select_records!(
        "WHERE ($1 = 0 OR tenant_id = $2) AND ($3 = '' OR state = $3) AND ($4 = '' OR kind = $4) AND id < $5 ORDER BY id DESC LIMIT $6"
    );
    let (any, tenant) = owner_params(owner);
    let state = filter.state.map_or("", JobState::as_str);
    let kind = filter.kind.as_deref().unwrap_or("");
    let before = filter.before.unwrap_or(JobId::MAX);
    let limit = i64::from(if filter.limit == 0 { 100 } else { filter.limit.min(500) });
    let rows: Vec<RecordRow> = on_db!(db, pool => {
        sqlx::query_as(SQL).bind(any).bind(tenant).bind(state).bind(kind).bind(before).bind(limit).fetch_all(pool).await
    })?;
    rows.into_iter().map(JobRecord::try_from).collect()
}

/// Queues a dead or cancelled job again with a fresh set of attempts.
pub async fn retry(db: &Db, owner: Owner, id: JobId, now: DateTime<Utc>) -> DbResult<bool> {
    const SQL: &str = "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $4, finished_at = NULL, updated_at = $4 \
                       WHERE id = $1 AND ($2 = 0 OR tenant_id = $3) AND state IN ('dead', 'cancelled')";
    let (any, tenant) = owner_params(owner);
    let n = on_db!(db, pool => sqlx::query(SQL).bind(id).bind(any).bind(tenant).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    if n == 1 {
        db.jobs_enqueued();
    }
    Ok(n == 1)
}

/// Cancels a job that is not running (queued or dead).
pub async fn cancel(db: &Db, owner: Owner, id: JobId, now: DateTime<Utc>) -> DbResult<bool> {
    const SQL: &str = "UPDATE jobs SET state = 'cancelled', finished_at = $4, updated_at = $4 \
                       WHERE id = $1 AND ($2 = 0 OR tenant_id = $3) AND state IN ('queued', 'dead')";
    let (any, tenant) = owner_params(owner);
    let n = on_db!(db, pool => sqlx::query(SQL).bind(id).bind(any).bind(tenant).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Deletes done and cancelled jobs finished before `before`.
pub async fn purge_finished(db: &Db, before: DateTime<Utc>) -> DbResult<u64> {
    const SQL: &str = "DELETE FROM jobs WHERE state IN ('done', 'cancelled') AND finished_at < $1";
    Ok(on_db!(db, pool => sqlx::query(SQL).bind(before).execute(pool).await.map(|r| r.rows_affected()))?)
}

/// Jobs per state (for metrics and `jobs list`).
pub async fn counts(db: &Db) -> DbResult<Vec<(String, i64)>> {
    const SQL: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state";
    Ok(on_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await)?)
}

/// Error texts are kept short: a provider's HTML error page is not worth storing whole.
fn truncate(s: &str) -> String {
    const MAX: usize = 2000;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
