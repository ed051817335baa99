//! Freshchat state: users, conversations, messages, agents. Every mutation that the real
//! product reports by webhook pushes a [`ChatEvent`] onto the outbox, which the caller drains
//! (still under the lock, so webhooks leave in the order things happened).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ChatError;
use super::model::{
    Actor, ActorType, Agent, AgentStatus, Avatar, Conversation, ConversationStatus, Message, MessagePart, MessageType,
    Property, User,
};
use crate::config::AgentSeed;

/// Something the conversation webhooks report.
#[derive(Clone, Debug)]
pub(crate) enum ChatEvent {
    MessageCreated(Message),
    Resolved(Conversation, Actor),
    Reopened(Conversation, Actor),
    Assigned {
        conversation: Conversation,
        by: Actor,
        from_agent_id: String,
        from_group_id: String,
    },
}

/// Fields a client may set on a user (`POST /users`, `PUT /users/{id}`).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct UserInput {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub reference_id: Option<String>,
    pub avatar: Option<Avatar>,
    pub properties: Option<Vec<Property>>,
}

/// A message to add (`POST /conversations/{id}/messages` body).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct NewMessage {
    pub message_parts: Vec<MessagePart>,
    #[serde(default)]
    pub reply_parts: Option<Vec<Value>>,
    #[serde(default)]
    pub message_type: MessageType,
    pub actor_type: ActorType,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub message_source: Option<String>,
}

/// `PUT /conversations/{id}` body.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct ConversationUpdate {
    pub status: Option<ConversationStatus>,
    pub assigned_agent_id: Option<String>,
    pub assigned_group_id: Option<String>,
    pub properties: Option<Map<String, Value>>,
}

pub(crate) struct FreshchatStore {
    pub app_id: String,
    pub channel_id: String,
    pub group_id: String,
    pub account_id: String,
    channel_numeric_id: String,
    users: Vec<User>,
    user_index: HashMap<String, usize>,
    /// `reference_id` → user position: lookups stay O(1) with many thousands of users (the load tool).
    reference_index: HashMap<String, usize>,
    conversations: Vec<Conversation>,
    conversation_index: HashMap<String, usize>,
    /// User id → positions of their conversations, oldest first.
    user_conversation_index: HashMap<String, Vec<usize>>,
    messages: HashMap<String, Vec<Message>>,
    agents: Vec<Agent>,
    next_number: u64,
    pub outbox: Vec<ChatEvent>,
}

impl FreshchatStore {
    pub(crate) fn new(agents: &[AgentSeed]) -> Self {
        let now = Utc::now();
        let group_id = Uuid::new_v4().to_string();
        let agents = agents
            .iter()
            .enumerate()
            .map(|(i, seed)| Agent {
                id: seed.freshchat_id.clone(),
                email: seed.email.clone(),
                first_name: seed.first_name.clone(),
                last_name: seed.last_name.clone(),
                avatar: Avatar::default(),
                groups: vec![group_id.clone()],
                role_id: "ACCOUNT_ADMIN".into(),
                role_name: "Account Admin".into(),
                locale: "en".into(),
                login_status: true,
                is_deactivated: false,
                is_deleted: false,
                availability_status: "AVAILABLE".into(),
                agent_status: AgentStatus {
                    name: "Available".into(),
                },
                routing_type: "INTELLIASSIGN".into(),
                agent_capacity: 5,
                freshchat_access: true,
                round_robin_access: true,
                social_profiles: Vec::new(),
                created_time: now,
                org_agent_id: format!("19408904526{:05}", i + 1),
            })
            .collect();
        Self {
            app_id: Uuid::new_v4().to_string(),
            channel_id: Uuid::new_v4().to_string(),
            group_id,
            account_id: "1019183040122821".into(),
            channel_numeric_id: "854617".into(),
            users: Vec::new(),
            user_index: HashMap::new(),
            reference_index: HashMap::new(),
            conversations: Vec::new(),
            conversation_index: HashMap::new(),
            user_conversation_index: HashMap::new(),
            messages: HashMap::new(),
            agents,
            next_number: 1_019_183_591_791_001,
            outbox: Vec::new(),
        }
    }

    fn next_number(&mut self) -> u64 {
        self.next_number += 1;
        self.next_number
    }

    // ---- users -------------------------------------------------------------------------

    pub(crate) fn users(&self) -> &[User] {
        &self.users
    }

    pub(crate) fn user(&self, id: &str) -> Option<&User> {
        self.user_index.get(id).and_then(|&i| self.users.get(i))
    }

    pub(crate) fn user_by_reference(&self, reference_id: &str) -> Option<&User> {
        self.reference_index.get(reference_id).and_then(|&i| self.users.get(i))
    }

    pub(crate) fn create_user(&mut self, input: UserInput) -> Result<User, ChatError> {
        if let Some(reference) = input.reference_id.as_deref()
            && self.user_by_reference(reference).is_some()
        {
            return Err(ChatError::invalid(format!(
                "user with reference_id {reference} already exists"
            )));
        }
        let now = Utc::now();
        let mut user = User {
            id: Uuid::new_v4().to_string(),
            created_time: now,
            updated_time: now,
            email: None,
            phone: None,
            first_name: None,
            last_name: None,
            avatar: Avatar::default(),
            properties: Vec::new(),
            reference_id: None,
            restore_id: Uuid::new_v4().to_string(),
            login_status: false,
            org_contact_id: self.next_number().to_string(),
            social_profiles: Vec::new(),
        };
        apply_user_input(&mut user, input);
        if let Some(reference) = &user.reference_id {
            self.reference_index.insert(reference.clone(), self.users.len());
        }
        self.user_index.insert(user.id.clone(), self.users.len());
        self.users.push(user.clone());
        Ok(user)
    }

    /// Updates given fields; `properties` merge by name (new names are added).
    pub(crate) fn update_user(&mut self, id: &str, input: UserInput) -> Result<User, ChatError> {
        if let Some(reference) = input.reference_id.as_deref()
            && self.user_by_reference(reference).is_some_and(|other| other.id != id)
        {
            return Err(ChatError::invalid(format!(
                "reference_id {reference} belongs to another user"
            )));
        }
        let index = *self.user_index.get(id).ok_or_else(|| ChatError::not_found("user"))?;
        let user = self.users.get_mut(index).ok_or_else(|| ChatError::not_found("user"))?;
        let old_reference = user.reference_id.clone();
        apply_user_input(user, input);
        user.updated_time = Utc::now();
        let user = user.clone();
        if old_reference != user.reference_id {
            if let Some(old) = old_reference {
                self.reference_index.remove(&old);
            }
            if let Some(new) = &user.reference_id {
                self.reference_index.insert(new.clone(), index);
            }
        }
        Ok(user)
    }

    // ---- conversations -----------------------------------------------------------------

    pub(crate) fn conversations(&self) -> &[Conversation] {
        &self.conversations
    }

    pub(crate) fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversation_index.get(id).and_then(|&i| self.conversations.get(i))
    }

    fn conversation_mut(&mut self, id: &str) -> Result<&mut Conversation, ChatError> {
        let index = *self
            .conversation_index
            .get(id)
            .ok_or_else(|| ChatError::not_found("conversation"))?;
        self.conversations
            .get_mut(index)
            .ok_or_else(|| ChatError::not_found("conversation"))
    }

    pub(crate) fn user_conversations(&self, user_id: &str) -> Vec<&Conversation> {
        self.user_conversation_index
            .get(user_id)
            .map(|positions| positions.iter().filter_map(|&i| self.conversations.get(i)).collect())
            .unwrap_or_default()
    }

    pub(crate) fn create_conversation(
        &mut self,
        user_id: &str,
        properties: Map<String, Value>,
    ) -> Result<Conversation, ChatError> {
        let user = self.user(user_id).ok_or_else(|| ChatError::not_found("user"))?;
        let org_contact_id = user.org_contact_id.clone();
        let now = Utc::now();
        let internal = self.next_number();
        let conversation = Conversation {
            conversation_id: Uuid::new_v4().to_string(),
            conversation_internal_id: internal,
            app_id: self.app_id.clone(),
            status: ConversationStatus::New,
            channel_id: self.channel_id.clone(),
            assigned_agent_id: None,
            assigned_org_agent_id: None,
            assigned_group_id: None,
            skill_id: 0,
            properties,
            url: format!(
                "https://sandbox.myfreshworks.com/crm/messaging/a/{}/inbox/open/0/conversation/{internal}",
                self.account_id
            ),
            org_contact_id,
            created_time: now,
            updated_time: now,
            user_id: user_id.to_string(),
            interaction_started: now,
        };
        self.conversation_index
            .insert(conversation.conversation_id.clone(), self.conversations.len());
        self.user_conversation_index
            .entry(user_id.to_string())
            .or_default()
            .push(self.conversations.len());
        self.conversations.push(conversation.clone());
        Ok(conversation)
    }

    /// Applies a `PUT /conversations/{id}` and reports status/assignment changes.
    pub(crate) fn update_conversation(
        &mut self,
        id: &str,
        update: ConversationUpdate,
        by: Actor,
    ) -> Result<Conversation, ChatError> {
        // " " (Pipedream's quirk) or "" unassigns; (agent id, org agent id) otherwise.
        let agent_change = match update.assigned_agent_id.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(agent_id) => {
                let agent = self.agent(agent_id).ok_or_else(|| ChatError::not_found("agent"))?;
                Some(Some((agent.id.clone(), agent.org_agent_id.clone())))
            }
        };
        let group_change = update
            .assigned_group_id
            .map(|g| Some(g.trim().to_string()).filter(|g| !g.is_empty()));
        let conversation = self.conversation_mut(id)?;
        let before = conversation.clone();
        if let Some(properties) = update.properties {
            conversation.properties.extend(properties);
        }
        if let Some(agent) = agent_change {
            conversation.assigned_agent_id = agent.as_ref().map(|(id, _)| id.clone());
            conversation.assigned_org_agent_id = agent.map(|(_, org)| org);
        }
        if let Some(group) = group_change {
            conversation.assigned_group_id = group;
        }
        let assignment_changed = conversation.assigned_agent_id != before.assigned_agent_id
            || conversation.assigned_group_id != before.assigned_group_id;
        // Assigning an open conversation to an agent makes it "assigned", as the inbox does.
        let auto_assign = assignment_changed
            && conversation.assigned_agent_id.is_some()
            && matches!(before.status, ConversationStatus::New | ConversationStatus::Reopened);
        let target = update.status.or(auto_assign.then_some(ConversationStatus::Assigned));
        conversation.updated_time = Utc::now();
        let id = conversation.conversation_id.clone();
        if let Some(target) = target {
            self.transition(&id, target, by.clone())?;
        }
        let after = self.conversation_mut(&id)?.clone();
        if assignment_changed && target != Some(ConversationStatus::Resolved) {
            self.outbox.push(ChatEvent::Assigned {
                conversation: after.clone(),
                by,
                from_agent_id: before.assigned_agent_id.unwrap_or_default(),
                from_group_id: before.assigned_group_id.unwrap_or_default(),
            });
        }
        Ok(after)
    }

    /// Moves a conversation to `target`, reporting resolution and reopening.
    pub(crate) fn transition(
        &mut self,
        id: &str,
        target: ConversationStatus,
        by: Actor,
    ) -> Result<Conversation, ChatError> {
        let now = Utc::now();
        let conversation = self.conversation_mut(id)?;
        let was = conversation.status;
        conversation.status = target;
        conversation.updated_time = now;
        let reopening = was == ConversationStatus::Resolved && target != ConversationStatus::Resolved;
        if reopening {
            conversation.interaction_started = now;
        }
        let snapshot = conversation.clone();
        if target == ConversationStatus::Resolved && was != ConversationStatus::Resolved {
            self.outbox.push(ChatEvent::Resolved(snapshot.clone(), by));
        } else if reopening {
            self.outbox.push(ChatEvent::Reopened(snapshot.clone(), by));
        }
        Ok(snapshot)
    }

    // ---- messages ----------------------------------------------------------------------

    pub(crate) fn messages(&self, conversation_id: &str) -> &[Message] {
        self.messages
            .get(conversation_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Stores a message and reports it (API-sent messages too: they echo back by webhook).
    pub(crate) fn post_message(&mut self, conversation_id: &str, new: NewMessage) -> Result<Message, ChatError> {
        if new.message_parts.is_empty() {
            return Err(ChatError::invalid("message_parts must not be empty"));
        }
        let conversation = self
            .conversation(conversation_id)
            .ok_or_else(|| ChatError::not_found("conversation"))?
            .clone();
        let (actor_id, org_actor_id) = self.resolve_actor(&conversation, &new)?;
        if new.actor_type == ActorType::User && conversation.status == ConversationStatus::Resolved {
            // A customer writing into a resolved conversation reopens it.
            let by = Actor {
                actor_type: ActorType::User,
                actor_id: actor_id.clone(),
            };
            self.transition(conversation_id, ConversationStatus::Reopened, by)?;
        }
        let channel_numeric_id = self.channel_numeric_id.clone();
        let conversation = self.conversation_mut(conversation_id)?;
        let now: DateTime<Utc> = Utc::now();
        conversation.updated_time = now;
        let message = Message {
            bots_input: false,
            message_parts: new.message_parts,
            reply_parts: new.reply_parts,
            app_id: conversation.app_id.clone(),
            actor_id,
            org_actor_id,
            id: Uuid::new_v4().to_string(),
            channel_id: conversation.channel_id.clone(),
            conversation_id: conversation.conversation_id.clone(),
            freshchat_conversation_id: conversation.conversation_internal_id.to_string(),
            freshchat_channel_id: channel_numeric_id,
            interaction_id: conversation.interaction_id(),
            message_type: new.message_type,
            actor_type: new.actor_type,
            created_time: now,
            user_id: conversation.user_id.clone(),
            restrict_response: false,
            bots_private_note: false,
            is_bots_input: false,
            message_source: new.message_source,
        };
        self.messages
            .entry(conversation_id.to_string())
            .or_default()
            .push(message.clone());
        self.outbox.push(ChatEvent::MessageCreated(message.clone()));
        Ok(message)
    }

    fn resolve_actor(&self, conversation: &Conversation, new: &NewMessage) -> Result<(String, String), ChatError> {
        match new.actor_type {
            ActorType::Agent => {
                let id = new
                    .actor_id
                    .as_deref()
                    .ok_or_else(|| ChatError::invalid("actor_id is required for actor_type agent"))?;
                let agent = self
                    .agent(id)
                    .ok_or_else(|| ChatError::invalid(format!("actor_id {id} is not an agent")))?;
                Ok((agent.id.clone(), agent.org_agent_id.clone()))
            }
            ActorType::User => {
                let user_id = new.actor_id.as_deref().unwrap_or(&conversation.user_id);
                if user_id != conversation.user_id {
                    return Err(ChatError::invalid(format!(
                        "user {user_id} is not part of this conversation"
                    )));
                }
                Ok((user_id.to_string(), conversation.org_contact_id.clone()))
            }
            ActorType::Bot | ActorType::System => {
                let id = new.actor_id.clone().unwrap_or_else(|| self.app_id.clone());
                Ok((id, String::new()))
            }
        }
    }

    // ---- agents ------------------------------------------------------------------------

    pub(crate) fn agents(&self) -> &[Agent] {
        &self.agents
    }

    pub(crate) fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// The agent an API call acts as: the assigned one, else the first.
    pub(crate) fn acting_agent(&self, conversation_id: &str) -> Actor {
        let assigned = self
            .conversation(conversation_id)
            .and_then(|c| c.assigned_agent_id.clone());
        let id = assigned
            .or_else(|| self.agents.first().map(|a| a.id.clone()))
            .unwrap_or_else(|| self.app_id.clone());
        Actor {
            actor_type: ActorType::Agent,
            actor_id: id,
        }
    }
}

fn apply_user_input(user: &mut User, input: UserInput) {
    let UserInput {
        email,
        phone,
        first_name,
        last_name,
        reference_id,
        avatar,
        properties,
    } = input;
    let set = |field: &mut Option<String>, value: Option<String>| {
        if value.is_some() {
            *field = value;
        }
    };
    set(&mut user.email, email);
    set(&mut user.phone, phone);
    set(&mut user.first_name, first_name);
    set(&mut user.last_name, last_name);
    set(&mut user.reference_id, reference_id);
    if let Some(avatar) = avatar {
        user.avatar = avatar;
    }
    for property in properties.unwrap_or_default() {
        match user.properties.iter_mut().find(|p| p.name == property.name) {
            Some(existing) => existing.value = property.value,
            None => user.properties.push(property),
        }
    }
}
