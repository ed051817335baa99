//! Freshdesk automation webhooks → incidence events.
//!
//! A Freshdesk webhook is a trigger, not a record: it carries no time and can arrive twice or
//! late. So an agent reply makes the chat relay read the ticket's conversations, and a status
//! change reads the ticket itself — the API is the source of truth, and any number of triggers
//! in any order end in the same place.

use std::collections::BTreeSet;

use domain::ids::ConversationId;
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind, Source};
use domain::ticket::{TAG_CHAT, TAG_HIGH_VALUE};
use providers::freshdesk::{AutomationEvent, parse_webhook};

use super::tenant;
use crate::clock;
use crate::db::Commit;
use crate::db::incidences::{self as repo, Stored, SyncUpdate};
use crate::inbox::{Disposition, EventProcessor, InboxEvent, ProcessError};
use crate::incidences;
use crate::jobs::registry::BoxFuture;
use crate::state::AppState;
use crate::sync::{self, gate::Provider, gated, job_error};
use crate::tenants::Tenant;

pub struct FreshdeskEvents {
    pub state: AppState,
}

impl EventProcessor for FreshdeskEvents {
    fn process<'a>(&'a self, event: &'a InboxEvent) -> BoxFuture<'a, Result<Disposition, ProcessError>> {
        Box::pin(self.handle(event))
    }
}

impl FreshdeskEvents {
    async fn handle(&self, stored: &InboxEvent) -> Result<Disposition, ProcessError> {
        let tenant = tenant(&self.state, stored.tenant_id).await?;
        let event = parse_webhook(&stored.body).map_err(|e| ProcessError::Invalid(e.to_string()))?;
        let ticket_id =
            i64::try_from(event.ticket_id()).map_err(|_| ProcessError::Invalid("ticket id out of range".into()))?;
        let Some(incidence) = self.find(&tenant, ticket_id, event.conversation_id()).await? else {
            return Ok(Disposition::Ignored(format!(
                "no incidence has Freshdesk ticket {ticket_id}"
            )));
        };
        match event {
            AutomationEvent::AgentReply { agent_email, .. } => {
                let job = sync::chat::job(tenant.id, incidence.id(), agent_email)?;
                self.state.shared.enqueue(job, clock::now()).await?;
            }
            AutomationEvent::StatusChanged { .. } => self.status_changed(&tenant, &incidence, ticket_id).await?,
        }
        Ok(Disposition::Processed)
    }

    /// By ticket id; else by the conversation id the ticket carries (a ticket whose id was never
    /// stored, e.g. created while its create call timed out).
    async fn find(
        &self,
        tenant: &Tenant,
        ticket_id: i64,
        conversation: Option<&str>,
    ) -> Result<Option<Stored>, ProcessError> {
        if let Some(found) = self.state.shared.incidence_by_ticket(tenant.id, ticket_id).await? {
            return Ok(Some(found));
        }
        let Some(conversation) = conversation.and_then(|c| ConversationId::parse(c).ok()) else {
            return Ok(None);
        };
        Ok(repo::by_conversation(&self.state.db, tenant.id, Channel::InAppChat, &conversation).await?)
    }

    async fn status_changed(&self, tenant: &Tenant, incidence: &Stored, ticket_id: i64) -> Result<(), ProcessError> {
        let Some(fd) = self
            .state
            .integrations
            .freshdesk(tenant.id)
            .await
            .map_err(|e| ProcessError::Invalid(e.to_string()))?
        else {
            return Ok(());
        };
        let ticket_no = u64::try_from(ticket_id).map_err(|_| ProcessError::Invalid("ticket id out of range".into()))?;
        let ticket = gated(&self.state, tenant, Provider::Freshdesk, || {
            fd.client.get_ticket(ticket_no)
        })
        .await?
        .map_err(|e| ProcessError::Job(job_error("reading the ticket", &e)))?
        .value;
        let at = ticket.updated_at.unwrap_or_else(clock::now);
        let closed = ticket.status.is_closed();
        let key = format!(
            "fd:{ticket_id}:status:{}:{}",
            ticket.status.code(),
            at.timestamp_micros()
        );
        let own = own_tags(incidence);
        let labels: Vec<String> = ticket
            .tags
            .iter()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !own.contains(t))
            .collect();
        let kind = if closed {
            EventKind::Resolved {
                labels,
                source: Source::Helpdesk,
                by: Actor::Agent,
            }
        } else {
            EventKind::Reopened {
                source: Source::Helpdesk,
                by: Actor::Agent,
            }
        };
        let event = ConversationEvent {
            at,
            key,
            kind,
            context: None,
            identity: None,
        };
        incidences::record_for(&self.state, tenant, incidence.id(), &event, Commit::Relaxed).await?;
        let u = SyncUpdate {
            ticket_status: Some(ticket.status.code().into()),
            ..Default::default()
        };
        let shared = &self.state.shared;
        shared.update_sync(tenant.id, incidence.id(), u, clock::now()).await?;
        Ok(())
    }
}

/// The tags Switchboard put on the ticket itself: not resolution labels.
fn own_tags(incidence: &Stored) -> BTreeSet<String> {
    let mut own: BTreeSet<String> = [TAG_CHAT, TAG_HIGH_VALUE].into_iter().map(str::to_owned).collect();
    if let Some(e) = incidence.incidence.start_context().and_then(|c| c.event_type.as_ref()) {
        own.insert(e.to_lowercase());
    }
    own
}
