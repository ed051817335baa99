//! Freshdesk state: tickets, their conversations, contacts, agents and the lagging search
//! index. Mutations that automation rules react to push a [`DeskEvent`] onto the outbox.

use std::collections::BTreeMap;

use chrono::{Duration as ChronoDuration, Utc};
use serde_json::Value;

use super::DeskError;
use super::index::SearchIndex;
use super::model::{Contact, DeskAgent, SOURCE_NOTE, SOURCE_REPLY, Ticket, TicketConversation};
use super::search::Expr;
use super::validation::{Mode, NoteInput, ReplyInput, Requester, Schema, TicketPatch, ticket_patch};
use crate::config::{AutomationRule, CustomFieldSpec, SandboxConfig, StatusSpec};
use crate::{SandboxError, html};

/// What `{{triggered_event}}` renders for "Reply is sent" (UNCONFIRMED upstream).
pub(crate) const REPLY_SENT_TOKEN: &str = "{reply_sent:sent}";

/// Something automation rules react to.
#[derive(Clone, Debug)]
pub(crate) enum DeskEvent {
    /// Reply sent, or public note added, by an agent. `token` renders `{{triggered_event}}`.
    AgentReply {
        ticket_id: u64,
        token: String,
    },
    StatusChanged {
        ticket_id: u64,
        from: u16,
        to: u16,
    },
}

pub(crate) struct FreshdeskStore {
    pub statuses: Vec<StatusSpec>,
    pub types: Vec<String>,
    pub fields: Vec<CustomFieldSpec>,
    pub required: Vec<String>,
    pub automations: Vec<AutomationRule>,
    pub helpdesk_name: String,
    pub domain: String,
    tickets: BTreeMap<u64, Ticket>,
    conversations: BTreeMap<u64, Vec<TicketConversation>>,
    contacts: Vec<Contact>,
    agents: Vec<DeskAgent>,
    next_ticket: u64,
    next_conversation: u64,
    next_contact: u64,
    next_agent: u64,
    index: SearchIndex,
    pub outbox: Vec<DeskEvent>,
}

impl FreshdeskStore {
    pub(crate) fn new(config: &SandboxConfig) -> Self {
        Self {
            statuses: config.ticket_statuses.clone(),
            types: config.ticket_types.clone(),
            fields: config.ticket_fields.clone(),
            required: config.required_ticket_fields.clone(),
            automations: config.automations.clone(),
            helpdesk_name: config.helpdesk_name.clone(),
            domain: config.freshdesk_domain.clone(),
            tickets: BTreeMap::new(),
            conversations: BTreeMap::new(),
            contacts: Vec::new(),
            agents: config
                .agents
                .iter()
                .map(|a| DeskAgent {
                    id: a.freshdesk_id,
                    name: format!("{} {}", a.first_name, a.last_name),
                    email: a.email.clone(),
                })
                .collect(),
            next_ticket: config.first_ticket_id.max(1),
            // Ids above 2^32 catch clients that squeeze Freshdesk ids into 32 bits.
            next_conversation: 43_010_000_001,
            next_contact: 43_020_000_001,
            next_agent: 43_000_000_901,
            index: SearchIndex::new(config.search_index_lag),
            outbox: Vec::new(),
        }
    }

    fn schema(&self) -> Schema<'_> {
        Schema {
            statuses: &self.statuses,
            types: &self.types,
            fields: &self.fields,
            required: &self.required,
        }
    }

    pub(crate) fn status_name(&self, code: u16) -> &str {
        self.statuses
            .iter()
            .find(|s| s.code == code)
            .map_or("", |s| s.name.as_str())
    }

    // ---- reads -------------------------------------------------------------------------

    pub(crate) fn tickets(&self) -> impl DoubleEndedIterator<Item = &Ticket> {
        self.tickets.values()
    }

    pub(crate) fn ticket(&self, id: u64) -> Option<&Ticket> {
        self.tickets.get(&id)
    }

    pub(crate) fn conversations(&self, ticket_id: u64) -> &[TicketConversation] {
        self.conversations
            .get(&ticket_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub(crate) fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    pub(crate) fn contact(&self, id: u64) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    pub(crate) fn agents(&self) -> &[DeskAgent] {
        &self.agents
    }

    pub(crate) fn agent(&self, id: u64) -> Option<&DeskAgent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// HTML body of the newest public reply or note (`{{ticket.latest_public_comment}}`).
    pub(crate) fn latest_public_comment(&self, ticket_id: u64) -> Option<&str> {
        self.conversations(ticket_id)
            .iter()
            .rev()
            .find(|c| !c.private)
            .map(|c| c.body.as_str())
    }

    // ---- tickets -----------------------------------------------------------------------

    pub(crate) fn create_ticket(&mut self, body: &Value) -> Result<Ticket, DeskError> {
        let patch = ticket_patch(body, Mode::Create, &self.schema())?;
        let requester_id = self.requester(&patch.requester)?;
        self.check_responder(&patch)?;
        let now = Utc::now();
        let id = self.next_ticket;
        let description = patch.description.clone().unwrap_or_default();
        let mut ticket = Ticket {
            cc_emails: Vec::new(),
            fwd_emails: Vec::new(),
            reply_cc_emails: Vec::new(),
            ticket_cc_emails: Vec::new(),
            fr_escalated: false,
            spam: false,
            email_config_id: None,
            group_id: None,
            priority: 1,
            requester_id,
            responder_id: None,
            source: 2,
            company_id: None,
            status: 2,
            subject: None,
            association_type: None,
            support_email: None,
            to_emails: None,
            product_id: None,
            id,
            ticket_type: None,
            due_by: now + ChronoDuration::days(3),
            fr_due_by: now + ChronoDuration::days(1),
            is_escalated: false,
            description_text: html::to_text(&description),
            description,
            custom_fields: self.fields.iter().map(|f| (f.name.clone(), Value::Null)).collect(),
            created_at: now,
            updated_at: now,
            tags: Vec::new(),
            attachments: Vec::new(),
        };
        apply(&mut ticket, patch);
        self.next_ticket += 1;
        self.tickets.insert(id, ticket.clone());
        self.index(&ticket);
        Ok(ticket)
    }

    pub(crate) fn update_ticket(&mut self, id: u64, body: &Value) -> Result<Ticket, DeskError> {
        if !self.tickets.contains_key(&id) {
            return Err(DeskError::NotFound);
        }
        let patch = ticket_patch(body, Mode::Update, &self.schema())?;
        let requester_id = if patch.requester.is_given() {
            Some(self.requester(&patch.requester)?)
        } else {
            None
        };
        self.check_responder(&patch)?;
        let ticket = self.tickets.get_mut(&id).ok_or(DeskError::NotFound)?;
        let from = ticket.status;
        if let Some(requester_id) = requester_id {
            ticket.requester_id = requester_id;
        }
        apply(ticket, patch);
        ticket.updated_at = Utc::now();
        let ticket = ticket.clone();
        if ticket.status != from {
            self.outbox.push(DeskEvent::StatusChanged {
                ticket_id: id,
                from,
                to: ticket.status,
            });
        }
        self.index(&ticket);
        Ok(ticket)
    }

    fn check_responder(&self, patch: &TicketPatch) -> Result<(), DeskError> {
        match patch.responder_id {
            Some(Some(agent)) if self.agent(agent).is_none() => Err(DeskError::one(
                "responder_id",
                "invalid_value",
                "There is no agent matching the given responder_id",
            )),
            _ => Ok(()),
        }
    }

    /// Finds the requester contact, creating it when the identity is new (facebook_id and
    /// requester_id must already exist). Phone numbers match exactly, as strings.
    fn requester(&mut self, who: &Requester) -> Result<u64, DeskError> {
        if let Some(id) = who.requester_id {
            return self.contact(id).map(|c| c.id).ok_or_else(|| {
                DeskError::one(
                    "requester_id",
                    "invalid_value",
                    "There is no contact matching the given requester_id",
                )
            });
        }
        let found = self.contacts.iter().find(|c| {
            who.email
                .as_ref()
                .is_some_and(|e| c.email.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(e)))
                || (who.email.is_none() && who.phone.is_some() && c.phone == who.phone)
                || (who.unique_external_id.is_some() && c.unique_external_id == who.unique_external_id)
                || (who.twitter_id.is_some() && c.twitter_id == who.twitter_id)
                || (who.facebook_id.is_some() && c.facebook_id == who.facebook_id)
        });
        if let Some(contact) = found {
            return Ok(contact.id);
        }
        if who.facebook_id.is_some() {
            return Err(DeskError::one(
                "facebook_id",
                "invalid_value",
                "There is no contact matching the given facebook_id",
            ));
        }
        let name = who
            .name
            .clone()
            .or_else(|| who.email.as_ref().and_then(|e| e.split('@').next().map(String::from)))
            .or_else(|| who.unique_external_id.clone())
            .or_else(|| who.twitter_id.clone())
            .unwrap_or_default();
        let now = Utc::now();
        let id = self.next_contact;
        self.next_contact += 1;
        self.contacts.push(Contact {
            id,
            name,
            email: who.email.clone(),
            phone: who.phone.clone(),
            mobile: None,
            unique_external_id: who.unique_external_id.clone(),
            twitter_id: who.twitter_id.clone(),
            facebook_id: None,
            created_at: now,
            updated_at: now,
        });
        Ok(id)
    }

    // ---- conversations -----------------------------------------------------------------

    pub(crate) fn add_note(&mut self, ticket_id: u64, note: NoteInput) -> Result<TicketConversation, DeskError> {
        let ticket = self.tickets.get(&ticket_id).ok_or(DeskError::NotFound)?;
        // Notes made through the API are by the key's owner unless another user is named;
        // incoming notes "appear as being created from outside", i.e. by the requester.
        let user_id = note.user_id.unwrap_or(if note.incoming {
            ticket.requester_id
        } else {
            self.default_agent(ticket)
        });
        let conversation = self.push_conversation(ticket_id, |c| {
            c.body = note.body;
            c.private = note.private;
            c.incoming = note.incoming;
            c.user_id = user_id;
            c.source = SOURCE_NOTE;
            c.to_emails = note.notify_emails;
        })?;
        if conversation.is_public_agent_message() {
            self.outbox.push(DeskEvent::AgentReply {
                ticket_id,
                token: "{note_type:public}".into(),
            });
        }
        Ok(conversation)
    }

    pub(crate) fn add_reply(&mut self, ticket_id: u64, reply: ReplyInput) -> Result<TicketConversation, DeskError> {
        let ticket = self.tickets.get(&ticket_id).ok_or(DeskError::NotFound)?;
        let user_id = reply.user_id.unwrap_or_else(|| self.default_agent(ticket));
        let requester_email = self.contact(ticket.requester_id).and_then(|c| c.email.clone());
        let from_email = reply.from_email.or_else(|| Some(format!("support@{}", self.domain)));
        let conversation = self.push_conversation(ticket_id, |c| {
            c.body = reply.body;
            c.user_id = user_id;
            c.source = SOURCE_REPLY;
            c.from_email = from_email;
            c.to_emails = requester_email.into_iter().collect();
            c.cc_emails = reply.cc_emails;
            c.bcc_emails = reply.bcc_emails;
        })?;
        // The first agent to answer an unassigned ticket becomes its agent.
        if self.agent(user_id).is_some()
            && let Some(ticket) = self.tickets.get_mut(&ticket_id)
            && ticket.responder_id.is_none()
        {
            ticket.responder_id = Some(user_id);
        }
        self.outbox.push(DeskEvent::AgentReply {
            ticket_id,
            token: REPLY_SENT_TOKEN.into(),
        });
        Ok(conversation)
    }

    fn default_agent(&self, ticket: &Ticket) -> u64 {
        ticket
            .responder_id
            .or_else(|| self.agents.first().map(|a| a.id))
            .unwrap_or_default()
    }

    fn push_conversation(
        &mut self,
        ticket_id: u64,
        fill: impl FnOnce(&mut TicketConversation),
    ) -> Result<TicketConversation, DeskError> {
        let now = Utc::now();
        let mut conversation = TicketConversation {
            body: String::new(),
            body_text: String::new(),
            id: self.next_conversation,
            incoming: false,
            private: false,
            user_id: 0,
            support_email: None,
            source: SOURCE_NOTE,
            ticket_id,
            to_emails: Vec::new(),
            from_email: None,
            cc_emails: Vec::new(),
            bcc_emails: Vec::new(),
            created_at: now,
            updated_at: now,
            attachments: Vec::new(),
        };
        fill(&mut conversation);
        conversation.body_text = html::to_text(&conversation.body);
        let ticket = self.tickets.get_mut(&ticket_id).ok_or(DeskError::NotFound)?;
        ticket.updated_at = now;
        let ticket = ticket.clone();
        self.next_conversation += 1;
        self.conversations
            .entry(ticket_id)
            .or_default()
            .push(conversation.clone());
        self.index(&ticket);
        Ok(conversation)
    }

    // ---- what people do in the UI ------------------------------------------------------

    pub(crate) fn agent_reply_from_ui(
        &mut self,
        ticket_id: u64,
        body_html: &str,
        agent_email: Option<&str>,
    ) -> Result<u64, SandboxError> {
        let ticket = self.ticket(ticket_id).ok_or(SandboxError::TicketNotFound(ticket_id))?;
        let user_id = match agent_email {
            Some(email) => self.agent_by_email_or_new(email),
            None => self.default_agent(ticket),
        };
        let reply = ReplyInput {
            body: body_html.to_string(),
            user_id: Some(user_id),
            from_email: None,
            cc_emails: Vec::new(),
            bcc_emails: Vec::new(),
        };
        Ok(self.add_reply(ticket_id, reply)?.id)
    }

    pub(crate) fn set_status_from_ui(&mut self, ticket_id: u64, status: u16) -> Result<(), SandboxError> {
        if self.ticket(ticket_id).is_none() {
            return Err(SandboxError::TicketNotFound(ticket_id));
        }
        self.update_ticket(ticket_id, &serde_json::json!({ "status": status }))?;
        Ok(())
    }

    fn agent_by_email_or_new(&mut self, email: &str) -> u64 {
        if let Some(agent) = self.agents.iter().find(|a| a.email.eq_ignore_ascii_case(email)) {
            return agent.id;
        }
        let id = self.next_agent;
        self.next_agent += 1;
        let name = email.split('@').next().unwrap_or(email).to_string();
        self.agents.push(DeskAgent {
            id,
            name,
            email: email.to_string(),
        });
        id
    }

    // ---- search ------------------------------------------------------------------------

    fn index(&mut self, ticket: &Ticket) {
        self.index.write(ticket);
    }

    pub(crate) fn reindex_now(&mut self) {
        self.index.catch_up(None);
    }

    /// Matching tickets as the index saw them, newest first: total and one page of 30.
    pub(crate) fn search(&mut self, expr: &Expr, page: usize) -> (usize, Vec<Ticket>) {
        self.index.search(expr, page, &self.fields)
    }
}

fn apply(ticket: &mut Ticket, patch: TicketPatch) {
    let TicketPatch {
        requester: _,
        subject,
        description,
        status,
        priority,
        source,
        ticket_type,
        responder_id,
        group_id,
        company_id,
        tags,
        cc_emails,
        due_by,
        fr_due_by,
        custom_fields,
    } = patch;
    if let Some(subject) = subject {
        ticket.subject = Some(subject);
    }
    if let Some(description) = description {
        ticket.description_text = html::to_text(&description);
        ticket.description = description;
    }
    ticket.status = status.unwrap_or(ticket.status);
    ticket.priority = priority.unwrap_or(ticket.priority);
    ticket.source = source.unwrap_or(ticket.source);
    if let Some(t) = ticket_type {
        ticket.ticket_type = t;
    }
    if let Some(r) = responder_id {
        ticket.responder_id = r;
    }
    if let Some(g) = group_id {
        ticket.group_id = g;
    }
    if let Some(c) = company_id {
        ticket.company_id = c;
    }
    if let Some(tags) = tags {
        ticket.tags = tags;
    }
    if let Some(cc) = cc_emails {
        ticket.cc_emails = cc;
    }
    ticket.due_by = due_by.unwrap_or(ticket.due_by);
    ticket.fr_due_by = fr_due_by.unwrap_or(ticket.fr_due_by);
    ticket.custom_fields.extend(custom_fields);
}
