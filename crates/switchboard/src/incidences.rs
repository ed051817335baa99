//! Recording what happens to incidences: load the state, apply the event (pure), and store the
//! decision — state, timeline, deliveries and effect jobs — all or nothing, group-committed with
//! the records of concurrent jobs ([`Recorder`]).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use domain::ids::{ConversationId, IncidenceId, TenantId, UserId};
use domain::incidence::{
    self, Channel, Closing, ConversationEvent, Decision, Effect, EventKind, Incidence, OrderImpact,
};
use tracing::debug;

use crate::batch::Batcher;
use crate::clock;
use crate::db::deliveries::Kind;
use crate::db::incidences::{self as repo, Stored};
use crate::db::records::{self, Base, Delivery, Record};
use crate::db::{Backend, Commit, Db, DbError, DbResult};
use crate::jobs::queue;
use crate::state::AppState;
use crate::sync;
use crate::tenants::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the incidence kept changing while this event was recorded; try again")]
    Contended,
    #[error("recording the incidence: {0}")]
    Write(String),
}

/// The result of recording one event.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub incidence: Incidence,
    pub created: bool,
}

/// Optimistic concurrency: events of one conversation are processed in order, so a conflict
/// only comes from another path (a close from the dashboard, an order) and a retry settles it.
const ATTEMPTS: usize = 8;

/// Records `event` for the conversation, creating the incidence on its first event.
pub async fn record(
    state: &AppState,
    tenant: &Tenant,
    channel: Channel,
    conversation: &ConversationId,
    event: &ConversationEvent,
) -> Result<Recorded, RecordError> {
    let stored = state
        .shared
        .incidence_by_conversation(tenant.id, channel, conversation)
        .await?;
    record_read(state, tenant, channel, conversation, stored, event, Commit::Durable).await
}

/// [`record`] with the conversation's incidence as the caller just read it (`None`: none yet),
/// committed as `commit` says (a job's record need not wait for the disk: see [`Commit`]).
pub async fn record_read(
    state: &AppState,
    tenant: &Tenant,
    channel: Channel,
    conversation: &ConversationId,
    mut stored: Option<Stored>,
    event: &ConversationEvent,
    commit: Commit,
) -> Result<Recorded, RecordError> {
    for _ in 0..ATTEMPTS {
        if let Some(done) = try_record(state, tenant, stored, channel, conversation, event, commit).await? {
            return Ok(done);
        }
        stored = state
            .shared
            .incidence_by_conversation(tenant.id, channel, conversation)
            .await?;
    }
    Err(RecordError::Contended)
}

/// Records `event` for a stored incidence (found by id), committed as `commit` says.
pub async fn record_for(
    state: &AppState,
    tenant: &Tenant,
    id: IncidenceId,
    event: &ConversationEvent,
    commit: Commit,
) -> Result<Option<Recorded>, RecordError> {
    for _ in 0..ATTEMPTS {
        let Some(stored) = state.shared.incidence_by_id(tenant.id, id).await? else {
            return Ok(None);
        };
        let (channel, conversation) = (stored.incidence.channel, stored.incidence.conversation_id.clone());
        if let Some(done) = try_record(state, tenant, Some(stored), channel, &conversation, event, commit).await? {
            return Ok(Some(done));
        }
    }
    Err(RecordError::Contended)
}

async fn try_record(
    state: &AppState,
    tenant: &Tenant,
    stored: Option<Stored>,
    channel: Channel,
    conversation: &ConversationId,
    event: &ConversationEvent,
    commit: Commit,
) -> Result<Option<Recorded>, RecordError> {
    let now = clock::now();
    let created = stored.is_none();
    let before = stored.as_ref().map(|s| s.incidence.clone());
    let decision = incidence::apply(before, event, channel, conversation, IncidenceId::new_v7(now));
    let base = match &stored {
        None => Base::New,
        Some(s) if s.incidence == decision.incidence => Base::Unchanged,
        Some(s) => Base::Version(s.version),
    };
    let inc = decision.incidence.clone();
    let mut record = to_record(tenant, decision, base, created, now)?;
    record.commit = commit;
    if !state.recorder.save(record).await? {
        debug!(incidence = %inc.id, "incidence changed meanwhile; applying again");
        return Ok(None);
    }
    Ok(Some(Recorded {
        incidence: inc,
        created,
    }))
}

/// The decision as a write: the incidence, its timeline, and its effects as deliveries and jobs.
fn to_record(tenant: &Tenant, decision: Decision, base: Base, created: bool, now: DateTime<Utc>) -> DbResult<Record> {
    let t = tenant.id;
    let id = decision.incidence.id;
    let mut record = Record::new(t, decision.incidence, base, &tenant.settings.routing, now);
    record.timeline = decision.timeline;
    for effect in decision.effects {
        match effect {
            Effect::CopyToTicket { message_key, text, at } => {
                // Ordered by when the customer wrote it; a redelivered message is already recorded.
                record.deliveries.push(Delivery {
                    kind: Kind::TicketNote,
                    source_ref: message_key,
                    seq: at.timestamp_micros(),
                    body: text,
                    job: sync::ticket::job(t, id)?,
                });
            }
            Effect::SyncTicketStatus => record.jobs.push(sync::ticket::job(t, id)?),
            Effect::SyncChatStatus => record.jobs.push(sync::chat::job(t, id, None)?),
        }
    }
    // The customer just reached out: agents see their live context in Freshchat at once.
    if created && let Some(user) = record.incidence.user_id() {
        record.jobs.push(crate::context_store::push::job(t, user, now)?);
    }
    Ok(record)
}

/// Records of concurrent jobs are written together: one statement per batch on PostgreSQL,
/// one transaction on SQLite.
#[derive(Clone)]
pub struct Recorder {
    batch: Batcher<Record, Result<bool, String>>,
}

impl Recorder {
    pub fn start(db: Db) -> Self {
        // PostgreSQL takes concurrent writers: a second one sends a batch while the first commits.
        let writers = match db.backend() {
            Backend::Postgres => 2,
            Backend::Sqlite => 1,
        };
        let batch = Batcher::start(4096, 64, writers, move |records: Vec<Record>| {
            let db = db.clone();
            async move { save_batch(&db, records).await }
        });
        Self { batch }
    }

    /// Whether the record was saved (false: decide again on a fresh read).
    async fn save(&self, record: Record) -> Result<bool, RecordError> {
        match self.batch.submit_waiting(record).await {
            Ok(Ok(saved)) => Ok(saved),
            Ok(Err(e)) => Err(RecordError::Write(e)),
            Err(e) => Err(RecordError::Write(e.to_string())),
        }
    }
}

async fn save_batch(db: &Db, records: Vec<Record>) -> Vec<Result<bool, String>> {
    // One record per incidence in a statement; a second one for the same incidence read the
    // same version, so it would lose anyway: it decides again.
    let mut seen = HashSet::new();
    let (first, again): (Vec<_>, Vec<_>) = records
        .into_iter()
        .enumerate()
        .partition(|(_, r)| seen.insert(r.incidence.id));
    let mut out: Vec<Result<bool, String>> = vec![Ok(false); first.len() + again.len()];
    let (at, batch): (Vec<usize>, Vec<Record>) = first.into_iter().unzip();
    match records::save_all(db, &batch).await {
        Ok(saved) => at.iter().zip(saved).for_each(|(&i, s)| out[i] = Ok(s)),
        // One bad record must not fail the others: alone, each gets its own answer.
        Err(_) if batch.len() > 1 => {
            for (&i, r) in at.iter().zip(&batch) {
                out[i] = match records::save_all(db, std::slice::from_ref(r)).await {
                    Ok(saved) => Ok(saved.first().copied().unwrap_or(false)),
                    Err(e) => Err(e.to_string()),
                };
            }
        }
        Err(e) => at.iter().for_each(|&i| out[i] = Err(e.to_string())),
    }
    out
}

/// Closes an incidence with an outcome chosen by a person.
pub async fn close(
    state: &AppState,
    tenant: &Tenant,
    id: IncidenceId,
    closing: Closing,
) -> Result<Option<Recorded>, RecordError> {
    let now = clock::now();
    let event = ConversationEvent {
        at: now,
        key: format!("close:{}", uuid::Uuid::now_v7()),
        kind: EventKind::Closed(closing),
        context: None,
        identity: None,
    };
    // Answers a request: on disk before the answer.
    record_for(state, tenant, id, &event, Commit::Durable).await
}

/// Links an order to the customer's incidence of the `assisted_window_days` before it (§9).
pub async fn link_order(
    state: &AppState,
    tenant: &Tenant,
    user: &UserId,
    order_id: &str,
    impact: OrderImpact,
    placed_at: DateTime<Utc>,
) -> Result<Option<IncidenceId>, RecordError> {
    let window = chrono::Duration::days(i64::from(tenant.settings.assisted_window_days));
    let Some(stored) =
        repo::latest_for_user_between(&state.db, tenant.id, user.as_str(), placed_at - window, placed_at).await?
    else {
        return Ok(None);
    };
    let event = ConversationEvent {
        at: placed_at,
        key: format!("order:{order_id}:{}", impact.as_str()),
        kind: EventKind::OrderLinked {
            order_id: order_id.to_owned(),
            impact,
        },
        context: None,
        identity: None,
    };
    Ok(record_for(state, tenant, stored.id(), &event, Commit::Durable)
        .await?
        .map(|r| r.incidence.id))
}

/// The customer's live context changed: their open tickets get the new values.
pub async fn context_changed(state: &AppState, tenant: TenantId, user: &UserId) -> DbResult<()> {
    let now = clock::now();
    for id in repo::open_with_ticket_for_user(&state.db, tenant, user.as_str()).await? {
        queue::enqueue_now(&state.db, sync::ticket::fields_job(tenant, id)?, now).await?;
    }
    Ok(())
}
