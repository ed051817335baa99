//! Recording what happens to incidences: load the state, apply the event (pure), and store the
//! decision — state, timeline and effect jobs — in one transaction.

use chrono::{DateTime, Utc};
use domain::ids::{ConversationId, IncidenceId, TenantId, UserId};
use domain::incidence::{self, Channel, Closing, ConversationEvent, Effect, EventKind, Incidence, OrderImpact};
use tracing::debug;

use crate::clock;
use crate::db::deliveries::{self, Kind, NewDelivery};
use crate::db::incidences::{self as repo, Stored};
use crate::db::{DbError, DbResult, Tx};
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
    let stored = repo::by_conversation(&state.db, tenant.id, channel, conversation).await?;
    record_read(state, tenant, channel, conversation, stored, event).await
}

/// [`record`] with the conversation's incidence as the caller just read it (`None`: none yet).
pub async fn record_read(
    state: &AppState,
    tenant: &Tenant,
    channel: Channel,
    conversation: &ConversationId,
    mut stored: Option<Stored>,
    event: &ConversationEvent,
) -> Result<Recorded, RecordError> {
    for _ in 0..ATTEMPTS {
        if let Some(done) = try_record(state, tenant, stored, channel, conversation, event).await? {
            return Ok(done);
        }
        stored = repo::by_conversation(&state.db, tenant.id, channel, conversation).await?;
    }
    Err(RecordError::Contended)
}

/// Records `event` for a stored incidence (found by id).
pub async fn record_for(
    state: &AppState,
    tenant: &Tenant,
    id: IncidenceId,
    event: &ConversationEvent,
) -> Result<Option<Recorded>, RecordError> {
    for _ in 0..ATTEMPTS {
        let Some(stored) = repo::by_id(&state.db, tenant.id, id).await? else {
            return Ok(None);
        };
        let (channel, conversation) = (stored.incidence.channel, stored.incidence.conversation_id.clone());
        if let Some(done) = try_record(state, tenant, Some(stored), channel, &conversation, event).await? {
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
) -> Result<Option<Recorded>, RecordError> {
    let now = clock::now();
    let routing = &tenant.settings.routing;
    let before = stored.as_ref().map(|s| s.incidence.clone());
    let decision = incidence::apply(before.clone(), event, channel, conversation, IncidenceId::new_v7(now));
    let inc = decision.incidence;
    let mut tx = state.db.begin().await?;
    let saved = match &stored {
        None => repo::insert(&mut tx, tenant.id, &inc, routing, now).await?,
        Some(s) if s.incidence == inc => true,
        Some(s) => repo::update(&mut tx, tenant.id, &inc, s.version, routing, now).await?,
    };
    if !saved {
        tx.rollback().await?;
        debug!(incidence = %inc.id, "incidence changed meanwhile; applying again");
        return Ok(None);
    }
    for entry in &decision.timeline {
        repo::add_timeline(&mut tx, tenant.id, inc.id, entry).await?;
    }
    for effect in &decision.effects {
        enqueue_effect(&mut tx, tenant.id, &inc, effect, now).await?;
    }
    // The customer just reached out: agents see their live context in Freshchat at once.
    if stored.is_none()
        && let Some(user) = inc.user_id()
    {
        queue::enqueue(&mut tx, crate::context_store::push::job(tenant.id, user, now)?, now).await?;
    }
    tx.commit().await?;
    Ok(Some(Recorded {
        incidence: inc,
        created: stored.is_none(),
    }))
}

async fn enqueue_effect(
    tx: &mut Tx,
    tenant: TenantId,
    inc: &Incidence,
    effect: &Effect,
    now: DateTime<Utc>,
) -> DbResult<()> {
    match effect {
        Effect::CopyToTicket { message_key, text, at } => {
            // Ordered by when the customer wrote it; a redelivered message is already recorded.
            let seq = at.timestamp_micros();
            let note = NewDelivery {
                incidence: inc.id,
                kind: Kind::TicketNote,
                source_ref: message_key,
                seq,
                body: text,
            };
            if deliveries::add(tx, tenant, note, now).await? {
                queue::enqueue(tx, sync::ticket::job(tenant, inc.id)?, now).await?;
            }
        }
        Effect::SyncTicketStatus => {
            queue::enqueue(tx, sync::ticket::job(tenant, inc.id)?, now).await?;
        }
        Effect::SyncChatStatus => {
            queue::enqueue(tx, sync::chat::job(tenant, inc.id, None)?, now).await?;
        }
    }
    Ok(())
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
    record_for(state, tenant, id, &event).await
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
    Ok(record_for(state, tenant, stored.id(), &event)
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
