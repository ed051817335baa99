//! The point statements every chat message and reply makes in its jobs, shared by concurrent
//! jobs (see [`Grouped`]): the incidence reads, the notes and replies to send and the marks
//! around each call, the sync bookkeeping, and the relay an agent reply enqueues.

use chrono::{DateTime, Utc};
use domain::ids::{ConversationId, IncidenceId, TenantId};
use domain::incidence::Channel;
use uuid::Uuid;

use super::deliveries::{self, Delivery, Kind, NewDelivery, NewDeliveryOf, SentLogged};
use super::grouped::Grouped;
use super::incidences::{self, Stored, SyncMark, SyncUpdate};
use super::{Db, DbResult, Exec};
use crate::jobs::{NewJob, queue};

#[derive(Debug, Clone)]
pub struct SharedStatements {
    db: Db,
    by_conversation: Grouped<(TenantId, Channel, ConversationId), Option<Stored>>,
    by_id: Grouped<(TenantId, IncidenceId), Option<Stored>>,
    unsent: Grouped<(TenantId, IncidenceId, Kind), Vec<Delivery>>,
    sending: Grouped<(TenantId, Uuid, DateTime<Utc>), ()>,
    sent: Grouped<(TenantId, Uuid, String, DateTime<Utc>), ()>,
    by_ticket: Grouped<(TenantId, i64), Option<Stored>>,
    known_refs: Grouped<(TenantId, IncidenceId, Kind), Vec<String>>,
    added: Grouped<NewDeliveryOf, bool>,
    sent_logged: Grouped<SentLogged, ()>,
    sync: Grouped<SyncMark, ()>,
    enqueued: Grouped<(NewJob, DateTime<Utc>), ()>,
}

impl SharedStatements {
    pub fn new(db: &Db) -> Self {
        Self {
            by_conversation: Grouped::new(db, incidences::by_conversations_pg),
            by_id: Grouped::new(db, incidences::by_ids_pg),
            unsent: Grouped::new(db, deliveries::unsent_many_pg),
            sending: Grouped::new(db, deliveries::mark_sending_many_pg),
            // After the provider's answer: a job's write (see `Commit::Relaxed`).
            sent: Grouped::relaxed(db, deliveries::mark_sent_many_pg),
            by_ticket: Grouped::new(db, incidences::by_tickets_pg),
            known_refs: Grouped::new(db, deliveries::known_refs_many_pg),
            // A relay's discovered replies, and its delivered marks: job writes (see
            // `Commit::Relaxed`; the intent before each send waits for the disk).
            added: Grouped::relaxed(db, deliveries::add_many_pg),
            sent_logged: Grouped::relaxed(db, deliveries::mark_sent_logged_many_pg),
            // The intent before a ticket create among them: these wait for the disk.
            sync: Grouped::new(db, incidences::update_sync_many_pg),
            // What an event's processing enqueues: its completion commits after it.
            enqueued: {
                let waker = db.clone();
                Grouped::relaxed(db, move |pool, jobs: Vec<(NewJob, DateTime<Utc>)>| {
                    let waker = waker.clone();
                    async move {
                        let n = jobs.len();
                        // One instant for the group, the latest asked: no job runs before the
                        // moment its enqueue was made.
                        let now = jobs.iter().map(|(_, at)| *at).max().unwrap_or_else(crate::clock::now);
                        let jobs: Vec<NewJob> = jobs.into_iter().map(|(j, _)| j).collect();
                        if queue::enqueue_many_pg(&pool, &jobs, now).await? > 0 {
                            waker.jobs_enqueued();
                        }
                        Ok(vec![(); n])
                    }
                })
            },
            db: db.clone(),
        }
    }

    pub async fn incidence_by_conversation(
        &self,
        tenant: TenantId,
        channel: Channel,
        conversation: &ConversationId,
    ) -> DbResult<Option<Stored>> {
        let alone = incidences::by_conversation(&self.db, tenant, channel, conversation);
        self.by_conversation
            .run((tenant, channel, conversation.clone()), alone)
            .await
    }

    pub async fn incidence_by_id(&self, tenant: TenantId, id: IncidenceId) -> DbResult<Option<Stored>> {
        self.by_id
            .run((tenant, id), incidences::by_id(&self.db, tenant, id))
            .await
    }

    pub async fn unsent(&self, tenant: TenantId, incidence: IncidenceId, kind: Kind) -> DbResult<Vec<Delivery>> {
        let alone = deliveries::unsent(&self.db, tenant, incidence, kind);
        self.unsent.run((tenant, incidence, kind), alone).await
    }

    pub async fn mark_sending(&self, tenant: TenantId, id: Uuid, now: DateTime<Utc>) -> DbResult<()> {
        let alone = deliveries::mark_sending(&self.db, tenant, id, now);
        self.sending.run((tenant, id, now), alone).await
    }

    pub async fn mark_sent(&self, tenant: TenantId, id: Uuid, remote_id: &str, now: DateTime<Utc>) -> DbResult<()> {
        let alone = deliveries::mark_sent(&self.db, tenant, id, remote_id, now);
        self.sent.run((tenant, id, remote_id.to_owned(), now), alone).await
    }

    pub async fn incidence_by_ticket(&self, tenant: TenantId, ticket: i64) -> DbResult<Option<Stored>> {
        self.by_ticket
            .run((tenant, ticket), incidences::by_ticket(&self.db, tenant, ticket))
            .await
    }

    pub async fn known_refs(&self, tenant: TenantId, incidence: IncidenceId, kind: Kind) -> DbResult<Vec<String>> {
        let alone = deliveries::known_refs(&self.db, tenant, incidence, kind);
        self.known_refs.run((tenant, incidence, kind), alone).await
    }

    /// Records a write to make (a job's write: see `Commit::Relaxed`); false when it is already
    /// recorded.
    pub async fn add_delivery(&self, tenant: TenantId, d: NewDelivery<'_>, now: DateTime<Utc>) -> DbResult<bool> {
        let alone = deliveries::add(Exec::Relaxed(&self.db), tenant, d, now);
        self.added.run(NewDeliveryOf::new(tenant, d, now), alone).await
    }

    /// [`deliveries::mark_sent_logged`].
    pub async fn mark_sent_logged(&self, mark: SentLogged) -> DbResult<()> {
        let alone = deliveries::mark_sent_logged(
            &self.db,
            mark.tenant,
            mark.delivery,
            &mark.remote_id,
            mark.incidence,
            &mark.entry,
        );
        self.sent_logged.run(mark.clone(), alone).await
    }

    /// [`incidences::update_sync`], committed before it returns (an intent among them must be).
    pub async fn update_sync(
        &self,
        tenant: TenantId,
        id: IncidenceId,
        update: SyncUpdate,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let alone = incidences::update_sync(&self.db, tenant, id, &update, now);
        let mark = SyncMark {
            tenant,
            id,
            update: update.clone(),
            now,
        };
        self.sync.run(mark, alone).await
    }

    /// Enqueues a job that an event's processing makes: a job's write (see `Commit::Relaxed`).
    pub async fn enqueue(&self, job: NewJob, now: DateTime<Utc>) -> DbResult<()> {
        let alone = async {
            queue::enqueue(Exec::Relaxed(&self.db), job.clone(), now).await?;
            Ok(())
        };
        self.enqueued.run((job.clone(), now), alone).await
    }
}
