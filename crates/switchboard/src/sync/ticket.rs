//! The Freshdesk side of an incidence: one ticket, every customer message as one note, in
//! order, and the status and custom fields kept in line.
//!
//! Exactly once, even across crashes and timeouts: before a write whose outcome could be lost
//! the intent is committed; a later run that finds the intent asks Freshdesk what happened (a
//! search by the conversation id for the ticket — allowing for the search index's lag — and the
//! ticket's conversations for a note) and adopts what it finds instead of writing again.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::{IncidenceId, TenantId};
use domain::incidence::{Actor, Channel, TimelineEntry, TimelineKind};
use domain::ticket::{self, CustomerIdentity, LiveValues, TicketFields};
use providers::freshdesk::{
    CustomFieldValue, CustomFields, NewNote, NewTicket, Requester, SearchQuery, TicketPriority, TicketStatus,
    TicketUpdate, html_to_text,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::gate::Provider;
use super::{admit, gated, job_error, observe, same_text, still_admitted, tenant_of};
use crate::clock;
use crate::db::deliveries::{self, Delivery, Kind, State};
use crate::db::incidences::{self as repo, Stored, SyncUpdate};
use crate::db::{DbError, DbResult};
use crate::integrations::Freshdesk;
use crate::jobs::registry::{JobContext, JobResult};
use crate::jobs::{JobError, JobSpec, NewJob, Outcome, priority};
use crate::state::AppState;
use crate::tenants::{Tenant, TicketFieldNames};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketSync {
    pub incidence_id: IncidenceId,
    /// Create the ticket even without a customer message (a manual sync).
    #[serde(default)]
    pub create_if_missing: bool,
    /// Compare the ticket's custom fields with the customer's live context (which changed, or
    /// may have). Without it only a ticket created by this run has its fields checked: a new
    /// message or status does not change them, and reading the context costs a lookup.
    #[serde(default = "yes")]
    pub refresh_fields: bool,
}

fn yes() -> bool {
    true
}

impl JobSpec for TicketSync {
    const KIND: &'static str = "ticket.sync";
    const PRIORITY: i32 = priority::LIVE;
}

/// The sync job for an incidence after a new message or status; one at a time per incidence,
/// in order.
pub fn job(tenant: TenantId, incidence: IncidenceId) -> DbResult<NewJob> {
    spec_job(
        tenant,
        &TicketSync {
            incidence_id: incidence,
            create_if_missing: false,
            refresh_fields: false,
        },
    )
}

/// The sync job for an incidence whose customer's live context changed.
pub fn fields_job(tenant: TenantId, incidence: IncidenceId) -> DbResult<NewJob> {
    spec_job(
        tenant,
        &TicketSync {
            incidence_id: incidence,
            create_if_missing: false,
            refresh_fields: true,
        },
    )
}

pub fn spec_job(tenant: TenantId, spec: &TicketSync) -> DbResult<NewJob> {
    let id = spec.incidence_id;
    // A waiting job absorbs a new one only if it does at least as much.
    Ok(NewJob::new(spec)
        .map_err(DbError::corrupt)?
        .tenant(tenant)
        .ordering_key(format!("ticket:{id}"))
        .coalesce_key(format!(
            "ticket:{id}:{}:{}",
            spec.create_if_missing, spec.refresh_fields
        )))
}

/// How long an uncertain create waits for Freshdesk's search index before creating again.
const SEARCH_LAG_CHECK_EVERY: Duration = Duration::from_secs(10);

pub async fn run(state: AppState, job: TicketSync, ctx: JobContext) -> JobResult {
    let tenant = tenant_of(&state, &ctx).await?;
    let Some(fd) = state
        .integrations
        .freshdesk(tenant.id)
        .await
        .map_err(super::integration_error)?
    else {
        return Ok(Outcome::Done); // Freshdesk not connected: nothing to keep in step.
    };
    let Some(stored) = state.shared.incidence_by_id(tenant.id, job.incidence_id).await? else {
        return Err(JobError::Permanent(format!(
            "incidence {} does not exist",
            job.incidence_id
        )));
    };
    let sync = Syncer { state, tenant, fd };
    let mut refresh_fields = job.refresh_fields;
    let (ticket_id, stored) = match stored.sync.freshdesk_ticket_id {
        Some(id) => (id, stored),
        None => match sync.ensure_ticket(&stored, job.create_if_missing).await? {
            // The sync state changed with the ticket as `adopted` says. (A change another path
            // makes meanwhile enqueues another sync, which runs after this one.)
            Ensured::Ticket(id, adopted) => {
                let mut stored = stored;
                stored.sync.apply(&adopted);
                refresh_fields = true;
                (id, stored)
            }
            Ensured::NotNeeded => return Ok(Outcome::Done),
            Ensured::Wait(wait) => return Ok(Outcome::RunAgainAfter(wait)),
        },
    };
    let ticket = u64::try_from(ticket_id).map_err(|_| JobError::Permanent(format!("ticket id {ticket_id}")))?;
    sync.send_notes(&stored, ticket).await?;
    sync.sync_status(&stored, ticket).await?;
    if refresh_fields {
        sync.sync_fields(&stored, ticket).await?;
    }
    Ok(Outcome::Done)
}

enum Ensured {
    /// The ticket, and the sync columns its adoption wrote.
    Ticket(i64, SyncUpdate),
    NotNeeded,
    Wait(Duration),
}

struct Syncer {
    state: AppState,
    tenant: Arc<Tenant>,
    fd: Arc<Freshdesk>,
}

impl Syncer {
    fn fields(&self) -> &TicketFieldNames {
        &self.tenant.settings.freshdesk.fields
    }

    async fn call<T, Fut>(
        &self,
        what: &str,
        f: impl FnOnce() -> Fut,
    ) -> Result<Result<T, providers::http::ProviderError>, JobError>
    where
        Fut: std::future::Future<Output = Result<T, providers::http::ProviderError>>,
    {
        let r = gated(&self.state, &self.tenant, Provider::Freshdesk, f).await?;
        if let Err(e) = &r {
            warn!(error = %e, "{what} failed");
        }
        Ok(r)
    }

    async fn ensure_ticket(&self, stored: &Stored, create_if_missing: bool) -> Result<Ensured, JobError> {
        let inc = &stored.incidence;
        let (db, tenant) = (&self.state.db, self.tenant.id);
        let unsent = self.state.shared.unsent(tenant, inc.id, Kind::TicketNote).await?;
        let first = unsent.first();
        if first.is_none() && !create_if_missing {
            return Ok(Ensured::NotNeeded);
        }
        let now = clock::now();

        // A create was sent before: did it make the ticket?
        if let Some(started) = stored.sync.ticket_create_started_at {
            if let Some(found) = self.find_existing(inc.conversation_id.as_str()).await? {
                info!(ticket = found, "adopting the ticket an earlier, unanswered create made");
                let adopted = self.adopt(stored, found, first, None, "adopted").await?;
                return Ok(Ensured::Ticket(found, adopted));
            }
            let lag = Duration::from_secs(u64::from(self.tenant.settings.freshdesk.search_lag_seconds));
            let waited = (now - started).to_std().unwrap_or(Duration::ZERO);
            if stored.sync.ticket_create_uncertain && waited < lag {
                return Ok(Ensured::Wait(SEARCH_LAG_CHECK_EVERY.min(lag - waited)));
            }
        }

        let customer = self.customer(stored).await?;
        let message = first.map_or_else(
            || format!("Support incidence {} (no chat message yet).", inc.id),
            |d| d.body.clone(),
        );
        let t = &self.tenant;
        let draft = ticket::draft(
            inc,
            &message,
            &customer,
            t.currency,
            &t.settings.routing,
            t.settings.friction.threshold,
        );
        let new = NewTicket {
            priority: TicketPriority::from_code(draft.priority).unwrap_or(TicketPriority::Low),
            tags: draft.tags.clone(),
            custom_fields: custom_fields(self.fields(), &draft.fields),
            ..NewTicket::new(
                requester(&draft.requester),
                draft.subject.clone(),
                draft.description_html.clone(),
            )
        };

        // Admitted first, then the intent, committed before the call: if this run dies or the
        // answer is lost, the next run searches before creating again.
        admit(&self.state, &self.tenant, Provider::Freshdesk).await?;
        let intent = SyncUpdate {
            ticket_create_started_at: Some(Some(now)),
            ticket_create_uncertain: Some(true),
            ..Default::default()
        };
        self.state.shared.update_sync(tenant, inc.id, intent, now).await?;

        still_admitted(&self.state, &self.tenant, Provider::Freshdesk)?;
        let created = self.fd.client.create_ticket(&new).await;
        observe(&self.state, &self.tenant, Provider::Freshdesk, &created).await?;
        match created {
            Ok(created) => {
                let id = i64::try_from(created.value.id)
                    .map_err(|_| JobError::Permanent("ticket id out of range".into()))?;
                let adopted = self.adopt(stored, id, first, Some(&draft.fields), "created").await?;
                Ok(Ensured::Ticket(id, adopted))
            }
            Err(e) if e.outcome_unknown() => Err(job_error(
                "creating the ticket (outcome unknown; searching first next time)",
                &e,
            )),
            Err(e) => {
                // Freshdesk answered: nothing was created. The next run still searches once.
                let mut tx = db.begin().await?;
                repo::update_sync(
                    &mut tx,
                    tenant,
                    inc.id,
                    &SyncUpdate {
                        ticket_create_uncertain: Some(false),
                        ..Default::default()
                    },
                    clock::now(),
                )
                .await?;
                if matches!(e.kind(), providers::http::ErrorKind::Permanent) {
                    let entry = error_entry(&format!("Freshdesk refused the ticket: {e}"), "ticket-create-refused");
                    repo::add_timeline(&mut tx, tenant, inc.id, &entry).await?;
                }
                tx.commit().await?;
                Err(job_error("creating the ticket", &e))
            }
        }
    }

    /// A ticket already made for this conversation, by its custom field (oldest wins).
    async fn find_existing(&self, conversation: &str) -> Result<Option<i64>, JobError> {
        let Ok(query) = SearchQuery::text(&self.fields().conversation_id, conversation) else {
            warn!("the conversation id cannot be searched for; creating without checking");
            return Ok(None);
        };
        match self
            .call("searching for the ticket", || self.fd.client.search_tickets(&query, 1))
            .await?
        {
            Ok(page) => Ok(page
                .value
                .results
                .iter()
                .map(|t| t.id)
                .min()
                .and_then(|id| i64::try_from(id).ok())),
            Err(e) => Err(job_error("searching for the ticket", &e)),
        }
    }

    /// Stores the ticket id (and the custom fields it was created with); the first message
    /// became its description, so it is delivered. Returns the sync columns written.
    async fn adopt(
        &self,
        stored: &Stored,
        ticket_id: i64,
        description: Option<&Delivery>,
        fields: Option<&TicketFields>,
        how: &str,
    ) -> Result<SyncUpdate, JobError> {
        let (tenant, id, now) = (self.tenant.id, stored.incidence.id, clock::now());
        let update = SyncUpdate {
            freshdesk_ticket_id: Some(ticket_id),
            ticket_create_started_at: Some(None),
            ticket_create_uncertain: Some(false),
            ticket_status: Some(TicketStatus::Open.code().into()),
            fields_synced: fields.map(fields_json),
            ..Default::default()
        };
        let entry = TimelineEntry {
            kind: TimelineKind::TicketCreated,
            actor: Actor::System,
            content: None,
            metadata: serde_json::json!({ "ticket_id": ticket_id, "how": how }),
            provider_ref: format!("ticket:{ticket_id}"),
            at: now,
        };
        let remote = format!("ticket:{ticket_id}:description");
        let description = description.map(|d| (d.id, remote.as_str()));
        // A relay that waited for the ticket (its create's answer was lost) runs now.
        let relay = super::chat::job(tenant, id, None)?;
        let adoption = repo::Adoption {
            update: &update,
            description,
            entry: &entry,
            relay,
        };
        repo::adopt_ticket(&self.state.db, tenant, id, adoption, now).await?;
        Ok(update)
    }

    /// Every customer message not yet on the ticket, as a public incoming note, in order.
    async fn send_notes(&self, stored: &Stored, ticket: u64) -> Result<(), JobError> {
        let (shared, tenant, inc) = (&self.state.shared, self.tenant.id, stored.incidence.id);
        for d in shared.unsent(tenant, inc, Kind::TicketNote).await? {
            if d.state == State::Sending
                && let Some(note_id) = self.find_sent_note(inc, ticket, &d).await?
            {
                shared
                    .mark_sent(tenant, d.id, &note_id.to_string(), clock::now())
                    .await?;
                continue;
            }
            admit(&self.state, &self.tenant, Provider::Freshdesk).await?;
            shared.mark_sending(tenant, d.id, clock::now()).await?;
            still_admitted(&self.state, &self.tenant, Provider::Freshdesk)?;
            let note = NewNote::public_incoming(ticket::note_html(&d.body));
            let added = self.fd.client.add_note(ticket, &note).await;
            observe(&self.state, &self.tenant, Provider::Freshdesk, &added).await?;
            match added {
                Ok(created) => {
                    shared
                        .mark_sent(tenant, d.id, &created.value.id.to_string(), clock::now())
                        .await?;
                }
                Err(e) if e.outcome_unknown() => return Err(job_error("adding a note (outcome unknown)", &e)),
                Err(e) => {
                    deliveries::mark_pending(&self.state.db, tenant, d.id).await?;
                    return Err(job_error("adding a note", &e));
                }
            }
        }
        Ok(())
    }

    /// After an unanswered note create: is there a customer note with this text that no
    /// delivered message accounts for? Then it is ours.
    async fn find_sent_note(&self, inc: IncidenceId, ticket: u64, d: &Delivery) -> Result<Option<u64>, JobError> {
        let conversations = match self
            .call("listing the ticket's conversations", || {
                self.fd.client.list_conversations(ticket)
            })
            .await?
        {
            Ok(c) => c.value,
            Err(e) => return Err(job_error("listing the ticket's conversations", &e)),
        };
        let delivered = deliveries::sent_bodies(&self.state.db, self.tenant.id, inc, Kind::TicketNote).await?;
        let already = delivered.iter().filter(|b| same_text(b, &d.body)).count();
        let matching: Vec<u64> = conversations
            .iter()
            .filter(|c| c.incoming && !c.private)
            .filter(|c| same_text(&note_text(c), &d.body))
            .map(|c| c.id)
            .collect();
        Ok(matching.get(already).copied())
    }

    async fn sync_status(&self, stored: &Stored, ticket: u64) -> Result<(), JobError> {
        let known = stored
            .sync
            .ticket_status
            .and_then(|s| u16::try_from(s).ok())
            .map(TicketStatus::from_code);
        let want_closed = !stored.incidence.is_open();
        let is_closed = known.is_some_and(TicketStatus::is_closed);
        if known.is_some() && want_closed == is_closed {
            return Ok(());
        }
        let status = if want_closed {
            TicketStatus::Resolved
        } else {
            TicketStatus::Open
        };
        let update = TicketUpdate {
            status: Some(status),
            ..Default::default()
        };
        match self
            .call("updating the ticket status", || {
                self.fd.client.update_ticket(ticket, &update)
            })
            .await?
        {
            Ok(_) => {
                let u = SyncUpdate {
                    ticket_status: Some(status.code().into()),
                    ..Default::default()
                };
                let shared = &self.state.shared;
                shared
                    .update_sync(self.tenant.id, stored.incidence.id, u, clock::now())
                    .await?;
                Ok(())
            }
            Err(e) => Err(job_error("updating the ticket status", &e)),
        }
    }

    /// The customer's live context into the ticket's custom fields, when it changed.
    async fn sync_fields(&self, stored: &Stored, ticket: u64) -> Result<(), JobError> {
        let inc = &stored.incidence;
        let live = match inc.user_id() {
            Some(user) => self
                .state
                .contexts
                .get(self.tenant.id, user)
                .await
                .ok()
                .flatten()
                .map(|c| LiveValues {
                    app_screen: c.current_screen().unwrap_or(domain::context::UNKNOWN_SCREEN).to_owned(),
                    cart_value: c.cart.cart_value,
                    guest_count: c.cart.guest_count,
                    event_type: c.cart.event_type.clone(),
                    friction_score: c.friction_score,
                }),
            None => None,
        };
        let fields = ticket::fields(inc, live.as_ref(), self.tenant.currency);
        if stored.sync.fields_synced.as_ref() == Some(&fields_json(&fields)) {
            return Ok(());
        }
        let update = TicketUpdate {
            custom_fields: Some(custom_fields(self.fields(), &fields)),
            ..Default::default()
        };
        match self
            .call("updating the ticket's fields", || {
                self.fd.client.update_ticket(ticket, &update)
            })
            .await?
        {
            Ok(_) => self.record_fields(inc.id, &fields).await,
            Err(e) => Err(job_error("updating the ticket's fields", &e)),
        }
    }

    async fn record_fields(&self, id: IncidenceId, fields: &TicketFields) -> Result<(), JobError> {
        let u = SyncUpdate {
            fields_synced: Some(fields_json(fields)),
            ..Default::default()
        };
        self.state
            .shared
            .update_sync(self.tenant.id, id, u, clock::now())
            .await?;
        Ok(())
    }

    async fn customer(&self, stored: &Stored) -> Result<CustomerIdentity, JobError> {
        let inc = &stored.incidence;
        let external_id = inc
            .user_id()
            .map(|u| u.as_str().to_owned())
            .or_else(|| inc.provider_user_id().map(str::to_owned))
            .unwrap_or_else(|| inc.conversation_id.as_str().to_owned());
        let known = match (inc.channel, inc.provider_user_id()) {
            (Channel::InAppChat, Some(fc)) => self.state.customers.by_freshchat_id(self.tenant.id, fc).await?,
            _ => None,
        };
        Ok(match known {
            Some(c) => CustomerIdentity {
                email: c.email.clone(),
                phone: c.phone.clone(),
                name: c.name.clone(),
                external_id,
            },
            None => CustomerIdentity {
                external_id,
                ..Default::default()
            },
        })
    }
}

fn note_text(c: &providers::freshdesk::Conversation) -> String {
    c.body
        .as_deref()
        .map(html_to_text)
        .or_else(|| c.body_text.clone())
        .unwrap_or_default()
}

fn requester(r: &ticket::Requester) -> Requester {
    match r {
        ticket::Requester::Email { email, name } => Requester::Email {
            email: email.clone(),
            name: name.clone(),
            phone: None,
        },
        ticket::Requester::Phone { phone, name } => Requester::Phone {
            phone: phone.clone(),
            name: name.clone(),
        },
        ticket::Requester::External { id, name } => Requester::ExternalId {
            unique_external_id: id.clone(),
            name: name.clone(),
        },
    }
}

fn custom_fields(names: &TicketFieldNames, f: &TicketFields) -> CustomFields {
    let mut out = CustomFields::new();
    out.insert(
        names.friction_score.clone(),
        CustomFieldValue::Integer(f.friction_score),
    );
    out.insert(names.cart_value.clone(), CustomFieldValue::Integer(f.cart_value));
    if let Some(g) = f.guest_count {
        out.insert(names.guest_count.clone(), CustomFieldValue::Integer(g));
    }
    out.insert(names.order_stage.clone(), CustomFieldValue::Text(f.order_stage.clone()));
    out.insert(
        names.conversation_id.clone(),
        CustomFieldValue::Text(f.conversation_id.clone()),
    );
    out
}

fn fields_json(f: &TicketFields) -> serde_json::Value {
    serde_json::json!({
        "friction_score": f.friction_score,
        "cart_value": f.cart_value,
        "guest_count": f.guest_count,
        "order_stage": f.order_stage,
        "conversation_id": f.conversation_id,
    })
}

pub fn error_entry(message: &str, provider_ref: &str) -> TimelineEntry {
    TimelineEntry {
        kind: TimelineKind::Error,
        actor: Actor::System,
        content: Some(message.to_owned()),
        metadata: serde_json::json!({}),
        provider_ref: provider_ref.to_owned(),
        at: clock::now(),
    }
}
