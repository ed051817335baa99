//! The point statements every chat message and reply makes in its jobs, shared by concurrent
//! jobs (see [`Grouped`]): the incidence read, the notes to send, and the marks around each call.

use chrono::{DateTime, Utc};
use domain::ids::{ConversationId, IncidenceId, TenantId};
use domain::incidence::Channel;
use uuid::Uuid;

use super::deliveries::{self, Delivery, Kind};
use super::grouped::Grouped;
use super::incidences::{self, Stored};
use super::{Db, DbResult};

#[derive(Debug, Clone)]
pub struct SharedStatements {
    db: Db,
    by_conversation: Grouped<(TenantId, Channel, ConversationId), Option<Stored>>,
    by_id: Grouped<(TenantId, IncidenceId), Option<Stored>>,
    unsent: Grouped<(TenantId, IncidenceId, Kind), Vec<Delivery>>,
    sending: Grouped<(TenantId, Uuid, DateTime<Utc>), ()>,
    sent: Grouped<(TenantId, Uuid, String, DateTime<Utc>), ()>,
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
}
