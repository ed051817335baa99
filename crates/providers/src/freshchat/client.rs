//! Freshchat REST API v2 client (freshworks.md §1). Bearer token, JSON, any 2xx is success.

use http::Method;
use http::header::ACCEPT;
use serde::{Deserialize, Serialize};
use url::Url;

use super::message::{Message, OutgoingMessage};
use super::types::{AccountConfiguration, Agent, Conversation, ConversationStatus, Pagination, User};
use crate::Secret;
use crate::http::{ProviderError, endpoint, send};
use crate::lenient;

/// One page of `GET /conversations/{id}/messages` (the API appears to list newest first).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessagePage {
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub messages: Vec<Message>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub pagination: Option<Pagination>,
}

#[derive(Deserialize)]
struct AgentPage {
    #[serde(default, deserialize_with = "lenient::null_default")]
    agents: Vec<Agent>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pagination: Option<Pagination>,
}

/// `GET /users?…`: a page of users.
#[derive(Deserialize)]
struct UserPage {
    #[serde(default, deserialize_with = "lenient::null_default")]
    users: Vec<User>,
}

#[derive(Serialize)]
struct PropertiesUpdate<'a> {
    properties: Vec<Property<'a>>,
}

#[derive(Serialize)]
struct Property<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct StatusUpdate<'a> {
    status: &'a ConversationStatus,
}

const AGENTS_PER_PAGE: u32 = 100;
/// A guard against a server that always claims another page.
const MAX_AGENT_PAGES: u32 = 100;

/// A Freshchat account. Cheap to clone; share one `reqwest::Client` between all clients.
#[derive(Debug, Clone)]
pub struct FreshchatClient {
    http: reqwest::Client,
    base_url: Url,
    token: Secret,
}

impl FreshchatClient {
    /// `base_url` includes `/v2`, e.g. `https://api.in.freshchat.com/v2` or the sandbox's
    /// `http://127.0.0.1:9000/sandbox/freshchat/v2`; a trailing `/` does not matter.
    pub fn new(http: reqwest::Client, base_url: Url, token: Secret) -> Self {
        Self { http, base_url, token }
    }

    fn request(&self, method: Method, segments: &[&str]) -> Result<reqwest::RequestBuilder, ProviderError> {
        let url = endpoint(&self.base_url, segments)?;
        Ok(self
            .http
            .request(method, url)
            .bearer_auth(self.token.expose())
            .header(ACCEPT, "application/json"))
    }

    /// `GET /users/{id}`: e-mail, phone and custom properties of a chat user.
    pub async fn get_user(&self, user_id: &str) -> Result<User, ProviderError> {
        send(self.request(Method::GET, &["users", user_id])?).await?.json()
    }

    /// `GET /users?reference_id=…`: the user the tenant knows by this id (its own user id), if
    /// any. Only an exact `reference_id` match counts; a 404 means no such user.
    pub async fn find_user_by_reference(&self, reference_id: &str) -> Result<Option<User>, ProviderError> {
        if reference_id.is_empty() {
            return Err(ProviderError::InvalidRequest("empty reference_id".into()));
        }
        let request = self
            .request(Method::GET, &["users"])?
            .query(&[("reference_id", reference_id)]);
        let page: UserPage = match send(request).await {
            Ok(answer) => answer.json()?,
            Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(page
            .users
            .into_iter()
            .find(|u| u.reference_id.as_deref() == Some(reference_id)))
    }

    /// `PUT /users/{id}` with `{"properties":[{"name":…,"value":…}]}`. The answer's body is not
    /// relied on (Freshworks' own library types it as empty).
    pub async fn update_user_properties(
        &self,
        user_id: &str,
        properties: &[(String, String)],
    ) -> Result<(), ProviderError> {
        let body = PropertiesUpdate {
            properties: properties
                .iter()
                .map(|(name, value)| Property { name, value })
                .collect(),
        };
        send(self.request(Method::PUT, &["users", user_id])?.json(&body)).await?;
        Ok(())
    }

    /// `POST /conversations/{id}/messages`; returns the created message (with its `id`).
    pub async fn send_message(
        &self,
        conversation_id: &str,
        message: &OutgoingMessage,
    ) -> Result<Message, ProviderError> {
        let request = self.request(Method::POST, &["conversations", conversation_id, "messages"])?;
        send(request.json(message)).await?.json()
    }

    /// `GET /conversations/{id}/messages?page=&items_per_page=` (pages are 1-based).
    pub async fn list_messages(
        &self,
        conversation_id: &str,
        page: u32,
        items_per_page: u32,
    ) -> Result<MessagePage, ProviderError> {
        let request = self
            .request(Method::GET, &["conversations", conversation_id, "messages"])?
            .query(&[("page", page), ("items_per_page", items_per_page)]);
        send(request).await?.json()
    }

    /// `PUT /conversations/{id}` with `{"status":…}`: `resolved` to resolve, `new` to reopen.
    pub async fn update_conversation_status(
        &self,
        conversation_id: &str,
        status: &ConversationStatus,
    ) -> Result<(), ProviderError> {
        let request = self.request(Method::PUT, &["conversations", conversation_id])?;
        send(request.json(&StatusUpdate { status })).await?;
        Ok(())
    }

    /// `GET /conversations/{id}`.
    pub async fn get_conversation(&self, conversation_id: &str) -> Result<Conversation, ProviderError> {
        let conversation: Conversation = send(self.request(Method::GET, &["conversations", conversation_id])?)
            .await?
            .json()?;
        conversation
            .require_id("conversation_id")
            .map_err(|missing| ProviderError::Decode(missing.to_string()))
    }

    /// Every agent, following `page` until the answer says there are no more.
    pub async fn list_agents(&self) -> Result<Vec<Agent>, ProviderError> {
        let mut agents = Vec::new();
        for page in 1..=MAX_AGENT_PAGES {
            let request = self
                .request(Method::GET, &["agents"])?
                .query(&[("page", page), ("items_per_page", AGENTS_PER_PAGE)]);
            let answer: AgentPage = send(request).await?.json()?;
            let count = answer.agents.len();
            agents.extend(answer.agents);
            // Without pagination info, a full page may be followed by another.
            let more = answer
                .pagination
                .and_then(|p| p.has_page_after(page))
                .unwrap_or(count >= AGENTS_PER_PAGE as usize);
            if !more || count == 0 {
                break;
            }
        }
        Ok(agents)
    }

    /// `GET /accounts/configuration`: cheap call that proves the token and URL work.
    pub async fn account_configuration(&self) -> Result<AccountConfiguration, ProviderError> {
        send(self.request(Method::GET, &["accounts", "configuration"])?)
            .await?
            .json()
    }
}
