//! The Freshchat side of an incidence: every public agent reply from Freshdesk relayed to the
//! customer's chat exactly once, in order, and the conversation's status kept in line.
//!
//! Freshdesk's webhook only says "something happened"; the ticket's conversation list is the
//! truth. Each public agent reply not seen before is recorded as a delivery (so a duplicate or
//! retried webhook finds nothing new and a lost one is caught up by the next), then sent.

use std::sync::Arc;

use domain::ids::{IncidenceId, TenantId};
use domain::incidence::{Actor, TimelineEntry, TimelineKind};
use providers::freshchat::{ActorType, ConversationStatus, OutgoingMessage};
use providers::freshdesk::html_to_text;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::gate::Provider;
use super::{admit, gated, job_error, observe, same_text, still_admitted, tenant_of};
use crate::clock;
use crate::db::deliveries::{self, Delivery, Kind, NewDelivery, SentLogged, State};
use crate::db::incidences::{self as repo, Stored, SyncUpdate};
use crate::db::{DbError, DbResult};
use crate::integrations::Freshchat;
use crate::jobs::registry::{JobContext, JobResult};
use crate::jobs::{JobError, JobSpec, NewJob, Outcome, priority};
use crate::state::AppState;
use crate::tenants::Tenant;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatSync {
    pub incidence_id: IncidenceId,
    /// The replying agent's e-mail, from the helpdesk webhook, to send as their Freshchat agent.
    #[serde(default)]
    pub agent_email: Option<String>,
}

impl JobSpec for ChatSync {
    const KIND: &'static str = "chat.sync";
    const PRIORITY: i32 = priority::LIVE;
}

pub fn job(tenant: TenantId, incidence: IncidenceId, agent_email: Option<String>) -> DbResult<NewJob> {
    let spec = ChatSync {
        incidence_id: incidence,
        agent_email,
    };
    Ok(NewJob::new(&spec)
        .map_err(DbError::corrupt)?
        .tenant(tenant)
        .ordering_key(format!("chat:{incidence}"))
        .coalesce_key(format!("chat:{incidence}")))
}

/// Freshchat's list is newest first; this many recent messages are enough to find a reply
/// whose send was not answered.
const RECENT_MESSAGES: u32 = 50;

pub async fn run(state: AppState, job: ChatSync, ctx: JobContext) -> JobResult {
    let tenant = tenant_of(&state, &ctx).await?;
    let Some(fc) = state
        .integrations
        .freshchat(tenant.id)
        .await
        .map_err(super::integration_error)?
    else {
        return Ok(Outcome::Done);
    };
    let Some(stored) = state.shared.incidence_by_id(tenant.id, job.incidence_id).await? else {
        return Err(JobError::Permanent(format!(
            "incidence {} does not exist",
            job.incidence_id
        )));
    };
    let relay = Relay { state, tenant, fc };
    relay.discover_replies(&stored).await?;
    relay.send_replies(&stored, job.agent_email.as_deref()).await?;
    // Relaying changes neither the incidence nor the chat's status; a status change that comes
    // later enqueues another sync, which runs after this one.
    relay.sync_status(&stored).await?;
    Ok(Outcome::Done)
}

struct Relay {
    state: AppState,
    tenant: Arc<Tenant>,
    fc: Arc<Freshchat>,
}

impl Relay {
    /// Records the ticket's public agent replies that were never seen, oldest first.
    async fn discover_replies(&self, stored: &Stored) -> Result<(), JobError> {
        let Some(fd) = self
            .state
            .integrations
            .freshdesk(self.tenant.id)
            .await
            .map_err(super::integration_error)?
        else {
            return Ok(());
        };
        let Some(ticket) = self.ticket(stored).await? else {
            return Ok(());
        };
        let listed = gated(&self.state, &self.tenant, Provider::Freshdesk, || {
            fd.client.list_conversations(ticket)
        })
        .await?;
        let conversations = listed
            .map_err(|e| job_error("listing the ticket's conversations", &e))?
            .value;
        let (tenant, inc) = (self.tenant.id, stored.incidence.id);
        let known = self.state.shared.known_refs(tenant, inc, Kind::ChatReply).await?;
        let now = clock::now();
        let mut replies: Vec<_> = conversations.iter().filter(|c| c.is_public_from_agent()).collect();
        replies.sort_by_key(|c| c.id);
        let new: Vec<(String, String, i64)> = replies
            .into_iter()
            .map(|c| (format!("fd:{}", c.id), c))
            .filter(|(source_ref, _)| !known.contains(source_ref))
            .map(|(source_ref, c)| {
                let text = c
                    .body
                    .as_deref()
                    .map(html_to_text)
                    .or_else(|| c.body_text.clone())
                    .unwrap_or_default();
                // Ordered by when the agent wrote it; replies of one second keep Freshdesk's
                // order through the rows' time-ordered ids.
                (source_ref, text, c.created_at.unwrap_or(now).timestamp_micros())
            })
            .filter(|(_, text, _)| !text.trim().is_empty())
            .collect();
        fn reply(inc: IncidenceId, (source_ref, text, seq): &(String, String, i64)) -> NewDelivery<'_> {
            NewDelivery {
                incidence: inc,
                kind: Kind::ChatReply,
                source_ref: source_ref.as_str(),
                seq: *seq,
                body: text.as_str(),
            }
        }
        // Each record stands alone (a reply recorded twice is recorded once; they are sent in
        // `seq` order), so they need not share a transaction — they share a statement with
        // other relays' instead.
        let shared = &self.state.shared;
        futures::future::try_join_all(new.iter().map(|r| shared.add_delivery(tenant, reply(inc, r), now))).await?;
        Ok(())
    }

    /// The incidence's ticket; when it is not known yet (a create whose answer was lost), the
    /// adoption of the ticket is asked to run the relay again, and there is nothing to read now.
    async fn ticket(&self, stored: &Stored) -> Result<Option<u64>, JobError> {
        let known = |s: &Stored| s.sync.freshdesk_ticket_id.and_then(|t| u64::try_from(t).ok());
        if let Some(ticket) = known(stored) {
            return Ok(Some(ticket));
        }
        let (tenant, id) = (self.tenant.id, stored.incidence.id);
        if repo::wait_for_ticket(&self.state.db, tenant, id).await? {
            info!(incidence = %id, "reply before the ticket was known; relaying once it is");
            return Ok(None);
        }
        Ok(self
            .state
            .shared
            .incidence_by_id(tenant, id)
            .await?
            .as_ref()
            .and_then(known))
    }

    async fn send_replies(&self, stored: &Stored, agent_email: Option<&str>) -> Result<(), JobError> {
        let (db, tenant, inc) = (&self.state.db, self.tenant.id, &stored.incidence);
        let unsent = self.state.shared.unsent(tenant, inc.id, Kind::ChatReply).await?;
        if unsent.is_empty() {
            return Ok(());
        }
        let agent = self.agent_id(agent_email).await?;
        let conversation = inc.conversation_id.as_str();
        for d in unsent {
            if d.state == State::Sending
                && let Some(message_id) = self.find_sent(stored, &d).await?
            {
                self.delivered(inc.id, &d, &message_id).await?;
                continue;
            }
            admit(&self.state, &self.tenant, Provider::Freshchat).await?;
            self.state.shared.mark_sending(tenant, d.id, clock::now()).await?;
            still_admitted(&self.state, &self.tenant, Provider::Freshchat)?;
            let message = OutgoingMessage::agent_text(agent.clone(), d.body.clone());
            let sent = self.fc.client.send_message(conversation, &message).await;
            observe(&self.state, &self.tenant, Provider::Freshchat, &sent).await?;
            match sent {
                Ok(m) => self.delivered(inc.id, &d, &m.id).await?,
                Err(e) if e.outcome_unknown() => {
                    return Err(job_error("sending the reply to the chat (outcome unknown)", &e));
                }
                Err(e) => {
                    deliveries::mark_pending(db, tenant, d.id).await?;
                    return Err(job_error("sending the reply to the chat", &e));
                }
            }
        }
        Ok(())
    }

    /// Marks the reply delivered and logs it; its Freshchat echo will log nothing new.
    async fn delivered(&self, inc: IncidenceId, d: &Delivery, message_id: &str) -> Result<(), JobError> {
        let now = clock::now();
        let entry = TimelineEntry {
            kind: TimelineKind::Message,
            actor: Actor::Agent,
            content: Some(d.body.clone()),
            metadata: serde_json::json!({ "relayed_from": d.source_ref, "private": false }),
            provider_ref: message_id.to_owned(),
            at: now,
        };
        let mark = SentLogged {
            tenant: self.tenant.id,
            delivery: d.id,
            remote_id: message_id.to_owned(),
            incidence: inc,
            entry,
        };
        self.state.shared.mark_sent_logged(mark).await?;
        info!(message = %message_id, "relayed a helpdesk reply to the chat");
        Ok(())
    }

    /// After an unanswered send: an agent message with this text that no delivered reply
    /// accounts for is ours.
    async fn find_sent(&self, stored: &Stored, d: &Delivery) -> Result<Option<String>, JobError> {
        let conversation = stored.incidence.conversation_id.as_str();
        let page = gated(&self.state, &self.tenant, Provider::Freshchat, || {
            self.fc.client.list_messages(conversation, 1, RECENT_MESSAGES)
        })
        .await?
        .map_err(|e| job_error("listing the chat's messages", &e))?;
        let delivered =
            deliveries::sent_bodies(&self.state.db, self.tenant.id, stored.incidence.id, Kind::ChatReply).await?;
        let already = delivered.iter().filter(|b| same_text(b, &d.body)).count();
        let mut matching: Vec<_> = page
            .messages
            .iter()
            .filter(|m| m.actor_type == ActorType::Agent && same_text(&m.text(), &d.body))
            .collect();
        // Oldest first, to line up with the replies delivered before.
        matching.sort_by_key(|m| m.created_time);
        Ok(matching.get(already).map(|m| m.id.clone()))
    }

    /// The Freshchat agent to send as: the replying agent's, else the configured default, else
    /// the account's first agent.
    async fn agent_id(&self, email: Option<&str>) -> Result<String, JobError> {
        let default = self.tenant.settings.freshchat.default_agent_id.clone();
        if email.is_none()
            && let Some(id) = default.clone()
        {
            return Ok(id);
        }
        let agents = gated(&self.state, &self.tenant, Provider::Freshchat, || {
            self.fc.client.list_agents()
        })
        .await?
        .map_err(|e| job_error("listing Freshchat agents", &e))?;
        let by_email = email.and_then(|e| {
            agents
                .iter()
                .find(|a| a.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e)))
        });
        by_email
            .map(|a| a.id.clone())
            .or(default)
            .or_else(|| agents.first().map(|a| a.id.clone()))
            .ok_or_else(|| JobError::Permanent("Freshchat has no agent to send the reply as".into()))
    }

    async fn sync_status(&self, stored: &Stored) -> Result<(), JobError> {
        let want_resolved = !stored.incidence.is_open();
        let known_resolved = stored.sync.chat_resolved.unwrap_or(false);
        if want_resolved == known_resolved {
            return Ok(());
        }
        let status = if want_resolved {
            ConversationStatus::Resolved
        } else {
            ConversationStatus::New
        };
        let conversation = stored.incidence.conversation_id.as_str();
        gated(&self.state, &self.tenant, Provider::Freshchat, || {
            self.fc.client.update_conversation_status(conversation, &status)
        })
        .await?
        .map_err(|e| job_error("updating the chat's status", &e))?;
        let u = SyncUpdate {
            chat_resolved: Some(want_resolved),
            ..Default::default()
        };
        let shared = &self.state.shared;
        shared
            .update_sync(self.tenant.id, stored.incidence.id, u, clock::now())
            .await?;
        Ok(())
    }
}

/// Queues a message to the customer's chat from Switchboard itself (`POST /api/v1/messages/send`).
pub async fn queue_message(
    state: &AppState,
    tenant: TenantId,
    incidence: IncidenceId,
    text: &str,
) -> DbResult<uuid::Uuid> {
    let now = clock::now();
    let source = uuid::Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    let source_ref = format!("api:{source}");
    let message = NewDelivery {
        incidence,
        kind: Kind::ChatReply,
        source_ref: &source_ref,
        seq: now.timestamp_micros(),
        body: text,
    };
    deliveries::add(&mut tx, tenant, message, now).await?;
    crate::jobs::queue::enqueue(&mut tx, job(tenant, incidence, None)?, now).await?;
    tx.commit().await?;
    Ok(source)
}
