//! The inbox: every webhook's raw body, stored before the webhook is answered 2xx, and processed
//! by a job enqueued in the same transaction. Nothing accepted is lost; a duplicate delivery is
//! acknowledged and not processed twice; stored events can be replayed after a fix.

pub mod ingest;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::batch::Batcher;
use crate::db::grouped::Grouped;
use crate::db::{Commit, Db, DbError, DbResult, Exec, Pool, Tx, on_exec, on_read, on_tx};
use crate::jobs::registry::{BoxFuture, JobContext, JobResult};
use crate::jobs::{JobError, JobSpec, NewJob, Outcome, priority, queue};

/// Who sent a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Freshchat,
    Freshdesk,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Freshchat => "freshchat",
            Provider::Freshdesk => "freshdesk",
        }
    }

    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "freshchat" => Some(Provider::Freshchat),
            "freshdesk" => Some(Provider::Freshdesk),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// Stored, its processing job queued.
    Pending,
    Processed,
    /// Understood, and deliberately not acted on (e.g. an event type Switchboard does not use).
    Ignored,
    /// Processing failed for good; `error` says why. Replayable.
    Failed,
    /// Refused at the door (e.g. not JSON) and answered 4xx; kept for diagnosis.
    Rejected,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Processed => "processed",
            EventState::Ignored => "ignored",
            EventState::Failed => "failed",
            EventState::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<EventState> {
        Some(match s {
            "pending" => EventState::Pending,
            "processed" => EventState::Processed,
            "ignored" => EventState::Ignored,
            "failed" => EventState::Failed,
            "rejected" => EventState::Rejected,
            _ => return None,
        })
    }
}

/// A webhook to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub tenant_id: TenantId,
    pub provider: Provider,
    /// The provider's identity of the event (a message id, …): the same key is stored once.
    pub dedupe_key: String,
    /// Events with the same ordering key (a conversation) are processed one at a time, in order.
    pub ordering_key: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub initial: Initial,
}

/// How a stored event starts out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initial {
    /// To be processed by a job.
    Pending,
    /// Authentic but unreadable: kept with the reason, answered 2xx, replayable after a fix.
    Failed(String),
    /// Refused at the door (answered 4xx); kept for diagnosis.
    Rejected(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New(Uuid),
    Duplicate(Uuid),
}

impl Accepted {
    pub fn id(self) -> Uuid {
        match self {
            Accepted::New(id) | Accepted::Duplicate(id) => id,
        }
    }
}

/// Headers worth keeping for diagnosis, minus anything that authenticates.
pub fn keepable_headers(headers: &http::HeaderMap) -> Vec<(String, String)> {
    const SECRET: &[&str] = &[
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
    ];
    headers
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            !SECRET.contains(&n) && !n.contains("token") && !n.contains("secret") && !n.contains("password")
        })
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// Processes one stored event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessEvent {
    pub event_id: Uuid,
}

impl JobSpec for ProcessEvent {
    const KIND: &'static str = "inbox.process";
    const PRIORITY: i32 = priority::LIVE;
}

/// Stores the event and, unless rejected, its processing job — in one transaction.
pub async fn accept(db: &Db, event: NewEvent) -> DbResult<Accepted> {
    accept_all(db, std::slice::from_ref(&event))
        .await?
        .pop()
        .ok_or_else(|| DbError::corrupt("an accepted event went missing"))
}

/// Stores events and, unless rejected, their processing jobs: all of them or none. On
/// PostgreSQL that is one statement (one round trip) whatever their number; on SQLite, where
/// statements are local and commits are what costs, one transaction.
pub async fn accept_all(db: &Db, events: &[NewEvent]) -> DbResult<Vec<Accepted>> {
    match db.pool() {
        Pool::Pg(pool) => {
            let accepted = accept_all_pg(db.accept_pg().unwrap_or(pool), events).await?;
            if accepted.iter().any(|a| matches!(a, Accepted::New(_))) {
                db.jobs_enqueued();
            }
            Ok(accepted)
        }
        Pool::Sqlite(_) => {
            // Each enqueue wakes the workers when the transaction commits.
            let mut tx = db.begin().await?;
            let mut accepted = Vec::with_capacity(events.len());
            for e in events {
                accepted.push(accept_in(&mut tx, e).await?);
            }
            tx.commit().await?;
            Ok(accepted)
        }
    }
}

async fn accept_all_pg(pool: &sqlx::PgPool, events: &[NewEvent]) -> DbResult<Vec<Accepted>> {
    // The jobs are inserted in the events' order: jobs with one ordering key run in id order.
    const SQL: &str = concat!(
        "WITH input AS ( \
          SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::bytea[], \
                               $7::timestamptz[], $8::text[], $9::text[], $10::jsonb[], $11::text[]) \
            WITH ORDINALITY AS i(id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error, \
                                 job_payload, ordering_key, n)), \
        stored AS ( \
          INSERT INTO inbox_events (id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error) \
          SELECT id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error FROM input ORDER BY n \
          ON CONFLICT (tenant_id, provider, dedupe_key) DO NOTHING RETURNING id), \
        queued AS ( \
          INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, ordering_key, \
                            created_at, updated_at) \
          SELECT i.tenant_id, $12, i.job_payload, $13, 'queued', ",
        queue::not_before_predecessors!("i.received_at", "i.ordering_key"),
        ", 0, $14, i.ordering_key, i.received_at, i.received_at \
          FROM input i JOIN stored s ON s.id = i.id WHERE i.state = 'pending' ORDER BY i.n) \
        SELECT id FROM stored"
    );
    const EXISTING: &str = "SELECT id FROM inbox_events WHERE tenant_id = $1 AND provider = $2 AND dedupe_key = $3";
    let rows: Vec<Row> = events.iter().map(Row::of).collect::<DbResult<_>>()?;
    let stored: Vec<Uuid> = sqlx::query_scalar(SQL)
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.tenant_id.as_uuid()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.provider.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.dedupe_key.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| Json(&r.headers)).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.body.as_slice()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.received_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.error).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| Json(&r.job.payload)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.job.ordering_key.as_deref()).collect::<Vec<_>>())
        .bind(ProcessEvent::KIND)
        .bind(ProcessEvent::PRIORITY)
        .bind(ProcessEvent::MAX_ATTEMPTS)
        .fetch_all(pool)
        .await?;
    let mut accepted = Vec::with_capacity(events.len());
    for (e, r) in events.iter().zip(&rows) {
        if stored.contains(&r.id) {
            accepted.push(Accepted::New(r.id));
        } else {
            let existing: Uuid = sqlx::query_scalar(EXISTING)
                .bind(e.tenant_id.as_uuid())
                .bind(e.provider.as_str())
                .bind(&e.dedupe_key)
                .fetch_one(pool)
                .await?;
            accepted.push(Accepted::Duplicate(existing));
        }
    }
    Ok(accepted)
}

/// An event's row as stored, with its processing job.
struct Row<'a> {
    id: Uuid,
    headers: HashMap<&'a str, &'a str>,
    state: EventState,
    error: Option<&'a str>,
    job: NewJob,
}

impl<'a> Row<'a> {
    fn of(event: &'a NewEvent) -> DbResult<Row<'a>> {
        let id = Uuid::now_v7();
        let (state, error) = match &event.initial {
            Initial::Pending => (EventState::Pending, None),
            Initial::Failed(why) => (EventState::Failed, Some(why.as_str())),
            Initial::Rejected(why) => (EventState::Rejected, Some(why.as_str())),
        };
        Ok(Row {
            id,
            headers: event.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
            state,
            error,
            job: process_job(event.tenant_id, id, event.ordering_key.as_deref())?,
        })
    }
}

/// The inserts of [`accept`] inside the caller's transaction.
async fn accept_in(tx: &mut Tx, event: &NewEvent) -> DbResult<Accepted> {
    const INSERT: &str = "INSERT INTO inbox_events (id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, provider, dedupe_key) DO NOTHING";
    const EXISTING: &str = "SELECT id FROM inbox_events WHERE tenant_id = $1 AND provider = $2 AND dedupe_key = $3";
    let Row {
        id,
        headers,
        state,
        error,
        job,
    } = Row::of(event)?;
    let inserted = on_tx!(tx, conn => {
        sqlx::query(INSERT)
            .bind(id)
            .bind(event.tenant_id.as_uuid())
            .bind(event.provider.as_str())
            .bind(&event.dedupe_key)
            .bind(Json(&headers))
            .bind(&event.body)
            .bind(event.received_at)
            .bind(state.as_str())
            .bind(error)
            .execute(conn).await.map(|r| r.rows_affected())
    })? == 1;
    if !inserted {
        let existing: Uuid = on_tx!(tx, conn => {
            sqlx::query_scalar(EXISTING)
                .bind(event.tenant_id.as_uuid())
                .bind(event.provider.as_str())
                .bind(&event.dedupe_key)
                .fetch_one(conn)
                .await
        })?;
        return Ok(Accepted::Duplicate(existing));
    }
    if state == EventState::Pending {
        queue::enqueue(&mut *tx, job, event.received_at).await?;
    }
    Ok(Accepted::New(id))
}

fn process_job(tenant: TenantId, event_id: Uuid, ordering_key: Option<&str>) -> DbResult<NewJob> {
    let job = NewJob::new(&ProcessEvent { event_id })
        .map_err(DbError::corrupt)?
        .tenant(tenant);
    Ok(match ordering_key {
        Some(k) => job.ordering_key(format!("{tenant}:{k}")),
        None => job,
    })
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboxEvent {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub provider: Provider,
    pub dedupe_key: String,
    pub headers: HashMap<String, String>,
    #[serde(skip)]
    pub body: Vec<u8>,
    pub received_at: DateTime<Utc>,
    pub state: EventState,
    pub error: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    tenant_id: Uuid,
    provider: String,
    dedupe_key: String,
    headers: Json<HashMap<String, String>>,
    body: Vec<u8>,
    received_at: DateTime<Utc>,
    state: String,
    error: Option<String>,
    processed_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for InboxEvent {
    type Error = DbError;
    fn try_from(r: EventRow) -> DbResult<InboxEvent> {
        Ok(InboxEvent {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            provider: Provider::parse(&r.provider)
                .ok_or_else(|| DbError::corrupt(format!("provider '{}'", r.provider)))?,
            dedupe_key: r.dedupe_key,
            headers: r.headers.0,
            body: r.body,
            received_at: r.received_at,
            state: EventState::parse(&r.state).ok_or_else(|| DbError::corrupt(format!("event state '{}'", r.state)))?,
            error: r.error,
            processed_at: r.processed_at,
        })
    }
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error, processed_at FROM inbox_events ",
            $rest
        )
    };
}

pub async fn get(db: &Db, tenant: TenantId, id: Uuid) -> DbResult<Option<InboxEvent>> {
    const SQL: &str = select_events!("WHERE tenant_id = $1 AND id = $2");
    let row: Option<EventRow> =
        on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(id).fetch_optional(pool).await)?;
    row.map(InboxEvent::try_from).transpose()
}

/// [`get`] for many events in one statement (see [`Grouped`]); `None` for those not stored.
async fn get_many_pg(pool: sqlx::PgPool, keys: Vec<(TenantId, Uuid)>) -> DbResult<Vec<Option<InboxEvent>>> {
    const SQL: &str = select_events!("WHERE (tenant_id, id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))");
    let rows: Vec<EventRow> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, id)| *id).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let found: HashMap<(TenantId, Uuid), InboxEvent> = rows
        .into_iter()
        .map(|r| InboxEvent::try_from(r).map(|e| ((e.tenant_id, e.id), e)))
        .collect::<DbResult<_>>()?;
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// Records how processing ended for each of `marks`: one statement on PostgreSQL, a job's write
/// that need not wait for the disk ([`Commit::Relaxed`]: the processing jobs' completions
/// commit after it); on SQLite (where statements are cheap and commits are not) one transaction.
async fn finish_all(db: &Db, marks: &[Mark], now: DateTime<Utc>) -> DbResult<()> {
    const PG_MANY: &str = "UPDATE inbox_events e SET state = m.state, error = m.error, processed_at = $5 \
                           FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS m(tenant_id, id, state, error) \
                           WHERE e.tenant_id = m.tenant_id AND e.id = m.id";
    match (db.pg_for(Commit::Relaxed), marks) {
        (_, []) => {}
        (Some(pool), _) => {
            let tenants: Vec<Uuid> = marks.iter().map(|m| m.tenant.as_uuid()).collect();
            let ids: Vec<Uuid> = marks.iter().map(|m| m.id).collect();
            let states: Vec<&str> = marks.iter().map(|m| m.state.as_str()).collect();
            let errors: Vec<Option<&str>> = marks.iter().map(|m| m.error.as_deref()).collect();
            sqlx::query(PG_MANY)
                .bind(tenants)
                .bind(ids)
                .bind(states)
                .bind(errors)
                .bind(now)
                .execute(pool)
                .await?;
        }
        (_, [m]) => finish_one(db, m, now).await?,
        _ => {
            let mut tx = db.begin().await?;
            for m in marks {
                finish_one(&mut tx, m, now).await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

async fn finish_one<'a>(exec: impl Into<Exec<'a>>, m: &Mark, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str =
        "UPDATE inbox_events SET state = $3, error = $4, processed_at = $5 WHERE tenant_id = $1 AND id = $2";
    on_exec!(exec.into(), conn => {
        sqlx::query(SQL).bind(m.tenant.as_uuid()).bind(m.id).bind(m.state.as_str()).bind(&m.error).bind(now)
            .execute(conn).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Which stored events to replay.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    pub provider: Provider,
    pub since: DateTime<Utc>,
    pub tenant: Option<TenantId>,
}

/// The ids of the events a replay would process, oldest first (rejected ones included: a fix
/// may make them readable).
pub async fn replayable(db: &Db, filter: &ReplayFilter) -> DbResult<Vec<(Uuid, TenantId)>> {
    const SQL: &str = "SELECT id, tenant_id FROM inbox_events WHERE provider = $1 AND received_at >= $2 \
                       AND ($3 = 0 OR tenant_id = $4) ORDER BY received_at, id";
    let (any, tenant) = match filter.tenant {
        Some(t) => (1, t.as_uuid()),
        None => (0, Uuid::nil()),
    };
    let rows: Vec<(Uuid, Uuid)> = on_read!(db, pool => {
        sqlx::query_as(SQL).bind(filter.provider.as_str()).bind(filter.since).bind(any).bind(tenant).fetch_all(pool).await
    })?;
    Ok(rows.into_iter().map(|(id, t)| (id, TenantId(t))).collect())
}

/// Marks one stored event pending again and enqueues its processing.
pub async fn requeue(db: &Db, tenant: TenantId, id: Uuid, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str =
        "UPDATE inbox_events SET state = 'pending', error = NULL, processed_at = NULL WHERE tenant_id = $1 AND id = $2";
    let mut tx = db.begin().await?;
    on_tx!(tx, conn => sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
    // Replays are bulk work: they must not delay live webhooks.
    queue::enqueue(&mut tx, process_job(tenant, id, None)?.priority(priority::BULK), now).await?;
    tx.commit().await?;
    Ok(())
}

/// How a processor ended with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Processed,
    Ignored(String),
}

/// Why a processor could not process an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The event cannot be processed, ever (it does not parse, it names nothing we know): it is
    /// marked failed with this reason and can be replayed after a fix.
    #[error("{0}")]
    Invalid(String),
    /// Something outside failed (a provider, the database): the job retries.
    #[error(transparent)]
    Job(#[from] JobError),
}

impl From<DbError> for ProcessError {
    fn from(e: DbError) -> Self {
        ProcessError::Job(e.into())
    }
}

/// Turns a stored event of one provider into domain changes.
pub trait EventProcessor: Send + Sync + 'static {
    fn process<'a>(&'a self, event: &'a InboxEvent) -> BoxFuture<'a, Result<Disposition, ProcessError>>;
}

/// Processors by provider.
#[derive(Clone)]
pub struct Processors {
    by_provider: HashMap<Provider, Arc<dyn EventProcessor>>,
    /// The "processed" marks of concurrent jobs share one transaction.
    marks: Batcher<Mark, Result<(), String>>,
    /// So do their event reads.
    events: Grouped<(TenantId, Uuid), Option<InboxEvent>>,
}

/// How an event's processing ended, to record.
#[derive(Debug)]
struct Mark {
    tenant: TenantId,
    id: Uuid,
    state: EventState,
    error: Option<String>,
}

impl Processors {
    pub fn new(db: Db) -> Self {
        let writer = db.clone();
        let marks = Batcher::start(4096, 256, 1, move |marks: Vec<Mark>| {
            let db = writer.clone();
            async move {
                let n = marks.len();
                match finish_all(&db, &marks, crate::clock::now()).await {
                    Ok(()) => vec![Ok(()); n],
                    Err(e) => vec![Err(e.to_string()); n],
                }
            }
        });
        Self {
            by_provider: HashMap::new(),
            events: Grouped::new(&db, get_many_pg),
            marks,
        }
    }

    async fn finish(&self, tenant: TenantId, id: Uuid, state: EventState, error: Option<&str>) -> Result<(), JobError> {
        let mark = Mark {
            tenant,
            id,
            state,
            error: error.map(str::to_owned),
        };
        match self.marks.submit_waiting(mark).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JobError::Retryable(format!("recording the event's state: {e}"))),
            Err(e) => Err(JobError::Retryable(format!("recording the event's state: {e}"))),
        }
    }

    pub fn with(mut self, provider: Provider, processor: Arc<dyn EventProcessor>) -> Self {
        self.by_provider.insert(provider, processor);
        self
    }

    /// The `inbox.process` job.
    pub async fn run(&self, job: ProcessEvent, ctx: JobContext) -> JobResult {
        let tenant = ctx
            .tenant_id
            .ok_or_else(|| JobError::Permanent("inbox job without a tenant".into()))?;
        let read = get(&ctx.db, tenant, job.event_id);
        let Some(event) = self.events.run((tenant, job.event_id), read).await? else {
            return Err(JobError::Permanent(format!("event {} is not stored", job.event_id)));
        };
        let Some(processor) = self.by_provider.get(&event.provider) else {
            let msg = format!("no processor for {} events", event.provider.as_str());
            self.finish(tenant, event.id, EventState::Failed, Some(&msg)).await?;
            return Ok(Outcome::Done);
        };
        match processor.process(&event).await {
            Ok(Disposition::Processed) => self.finish(tenant, event.id, EventState::Processed, None).await?,
            Ok(Disposition::Ignored(why)) => self.finish(tenant, event.id, EventState::Ignored, Some(&why)).await?,
            Err(ProcessError::Invalid(why)) => {
                tracing::warn!(event = %event.id, reason = %why, "stored event cannot be processed");
                self.finish(tenant, event.id, EventState::Failed, Some(&why)).await?;
            }
            Err(ProcessError::Job(e)) => {
                if ctx.last_attempt() {
                    self.finish(tenant, event.id, EventState::Failed, Some(&e.to_string()))
                        .await?;
                }
                return Err(e);
            }
        }
        Ok(Outcome::Done)
    }
}
