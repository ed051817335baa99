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
use crate::db::{Db, DbError, DbResult, Tx, on_db, on_tx};
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
    let mut tx = db.begin().await?;
    let accepted = accept_in(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(accepted)
}

/// The inserts of [`accept`] inside the caller's transaction (several events can share one).
pub async fn accept_in(tx: &mut Tx, event: &NewEvent) -> DbResult<Accepted> {
    const INSERT: &str = "INSERT INTO inbox_events (id, tenant_id, provider, dedupe_key, headers, body, received_at, state, error) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, provider, dedupe_key) DO NOTHING";
    const EXISTING: &str = "SELECT id FROM inbox_events WHERE tenant_id = $1 AND provider = $2 AND dedupe_key = $3";
    let id = Uuid::now_v7();
    let (state, error) = match &event.initial {
        Initial::Pending => (EventState::Pending, None),
        Initial::Failed(why) => (EventState::Failed, Some(why.as_str())),
        Initial::Rejected(why) => (EventState::Rejected, Some(why.as_str())),
    };
    let headers: HashMap<&str, &str> = event.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
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
        let job = process_job(event.tenant_id, id, event.ordering_key.as_deref())?;
        queue::enqueue(tx, job, event.received_at).await?;
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
        on_db!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(id).fetch_optional(pool).await)?;
    row.map(InboxEvent::try_from).transpose()
}

/// Records how processing ended.
async fn finish_in(
    tx: &mut Tx,
    tenant: TenantId,
    id: Uuid,
    state: EventState,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str =
        "UPDATE inbox_events SET state = $3, error = $4, processed_at = $5 WHERE tenant_id = $1 AND id = $2";
    on_tx!(tx, conn => {
        sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).bind(state.as_str()).bind(error).bind(now).execute(conn).await.map(|r| r.rows_affected())
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
    let rows: Vec<(Uuid, Uuid)> = on_db!(db, pool => {
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
        let marks = Batcher::start(4096, 256, 1, move |marks: Vec<Mark>| {
            let db = db.clone();
            async move {
                let n = marks.len();
                let stored = async {
                    let mut tx = db.begin().await?;
                    let now = crate::clock::now();
                    for m in &marks {
                        finish_in(&mut tx, m.tenant, m.id, m.state, m.error.as_deref(), now).await?;
                    }
                    tx.commit().await
                };
                match stored.await {
                    Ok(()) => vec![Ok(()); n],
                    Err(e) => vec![Err(e.to_string()); n],
                }
            }
        });
        Self {
            by_provider: HashMap::new(),
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
        let Some(event) = get(&ctx.db, tenant, job.event_id).await? else {
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
