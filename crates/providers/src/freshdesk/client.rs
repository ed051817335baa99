//! Freshdesk API v2 client (freshworks.md §3). Basic auth `apikey:X`, JSON, any 2xx is
//! success, and every answer's `X-RateLimit-*` budget is handed back to the caller.

use http::Method;
use http::header::ACCEPT;
use url::Url;

use super::conversation::{Conversation, NewNote, NewReply};
use super::search::SearchQuery;
use super::ticket::{NewTicket, SearchPage, Ticket, TicketField, TicketUpdate};
use crate::Secret;
use crate::http::{ProviderError, Response, endpoint, send};

/// `per_page` maximum for conversation lists.
const CONVERSATIONS_PER_PAGE: usize = 100;
/// A guard against a server that always returns a full page (10,000 conversations).
const MAX_CONVERSATION_PAGES: u32 = 100;
/// Search pages are 1..=10 (30 results each).
const MAX_SEARCH_PAGE: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a Freshdesk domain (expected e.g. `acme` or `acme.freshdesk.com`)")]
pub struct InvalidDomain(String);

/// `https://{domain}.freshdesk.com/api/v2`. Accepts `acme` or `acme.freshdesk.com`; anything
/// that could point the API key at another host is refused.
pub fn base_url_for_domain(domain: &str) -> Result<Url, InvalidDomain> {
    let invalid = || InvalidDomain(domain.chars().take(64).collect());
    let lowered = domain.trim().to_ascii_lowercase();
    let name = lowered.strip_suffix(".freshdesk.com").unwrap_or(&lowered);
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(invalid());
    }
    Url::parse(&format!("https://{name}.freshdesk.com/api/v2")).map_err(|_| invalid())
}

/// A Freshdesk account. Cheap to clone; share one `reqwest::Client` between all clients.
#[derive(Debug, Clone)]
pub struct FreshdeskClient {
    http: reqwest::Client,
    base_url: Url,
    api_key: Secret,
}

impl FreshdeskClient {
    /// `base_url` ends in `/api/v2` (see [`base_url_for_domain`]); a trailing `/` does not matter.
    pub fn new(http: reqwest::Client, base_url: Url, api_key: Secret) -> Self {
        Self {
            http,
            base_url,
            api_key,
        }
    }

    fn request(&self, method: Method, segments: &[&str]) -> Result<reqwest::RequestBuilder, ProviderError> {
        let url = endpoint(&self.base_url, segments)?;
        Ok(self
            .http
            .request(method, url)
            .basic_auth(self.api_key.expose(), Some("X"))
            .header(ACCEPT, "application/json"))
    }

    /// `POST /tickets` (201 + the ticket).
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Response<Ticket>, ProviderError> {
        send(self.request(Method::POST, &["tickets"])?.json(ticket))
            .await?
            .into_response()
    }

    /// `PUT /tickets/{id}`.
    pub async fn update_ticket(
        &self,
        ticket_id: u64,
        update: &TicketUpdate,
    ) -> Result<Response<Ticket>, ProviderError> {
        let id = ticket_id.to_string();
        send(self.request(Method::PUT, &["tickets", &id])?.json(update))
            .await?
            .into_response()
    }

    /// `GET /tickets/{id}`.
    pub async fn get_ticket(&self, ticket_id: u64) -> Result<Response<Ticket>, ProviderError> {
        let id = ticket_id.to_string();
        send(self.request(Method::GET, &["tickets", &id])?)
            .await?
            .into_response()
    }

    /// `POST /tickets/{id}/notes`.
    pub async fn add_note(&self, ticket_id: u64, note: &NewNote) -> Result<Response<Conversation>, ProviderError> {
        let id = ticket_id.to_string();
        send(self.request(Method::POST, &["tickets", &id, "notes"])?.json(note))
            .await?
            .into_response()
    }

    /// `POST /tickets/{id}/reply` (e-mails the requester).
    pub async fn reply(&self, ticket_id: u64, reply: &NewReply) -> Result<Response<Conversation>, ProviderError> {
        let id = ticket_id.to_string();
        send(self.request(Method::POST, &["tickets", &id, "reply"])?.json(reply))
            .await?
            .into_response()
    }

    /// Every conversation of a ticket, oldest first, reading `per_page=100` pages until a short
    /// one. The rate limit is the last page's.
    pub async fn list_conversations(&self, ticket_id: u64) -> Result<Response<Vec<Conversation>>, ProviderError> {
        let id = ticket_id.to_string();
        let mut all: Vec<Conversation> = Vec::new();
        let mut rate_limit = None;
        for page in 1..=MAX_CONVERSATION_PAGES {
            let request = self
                .request(Method::GET, &["tickets", &id, "conversations"])?
                .query(&[("page", page as usize), ("per_page", CONVERSATIONS_PER_PAGE)]);
            let answer = send(request).await?;
            rate_limit = answer.rate_limit().or(rate_limit);
            let batch: Vec<Conversation> = answer.json()?;
            let full = batch.len() >= CONVERSATIONS_PER_PAGE;
            all.extend(batch);
            if !full {
                break;
            }
            if page == MAX_CONVERSATION_PAGES {
                tracing::warn!(ticket_id, pages = page, "conversation list truncated");
            }
        }
        // Freshdesk lists ascending already; sorting makes "in order" independent of that.
        all.sort_by_key(|c| (c.created_at, c.id));
        Ok(Response { value: all, rate_limit })
    }

    /// `GET /search/tickets?query="…"&page=N` (page 1..=10; results may lag writes by minutes,
    /// so never use this as the only idempotency check).
    pub async fn search_tickets(&self, query: &SearchQuery, page: u32) -> Result<Response<SearchPage>, ProviderError> {
        if !(1..=MAX_SEARCH_PAGE).contains(&page) {
            return Err(ProviderError::InvalidRequest(format!(
                "search page {page} is outside 1..={MAX_SEARCH_PAGE}"
            )));
        }
        let encoded = query
            .encoded()
            .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let mut url = endpoint(&self.base_url, &["search", "tickets"])?;
        // Set by hand: the form encoder would turn spaces into `+`, the docs use `%20`.
        url.set_query(Some(&format!("query={encoded}&page={page}")));
        let request = self
            .http
            .get(url)
            .basic_auth(self.api_key.expose(), Some("X"))
            .header(ACCEPT, "application/json");
        send(request).await?.into_response()
    }

    /// `GET /ticket_fields`: names of custom fields and the account's status codes.
    pub async fn list_ticket_fields(&self) -> Result<Response<Vec<TicketField>>, ProviderError> {
        send(self.request(Method::GET, &["ticket_fields"])?)
            .await?
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_becomes_the_api_base() {
        for domain in ["acme", "ACME", " acme.freshdesk.com ", "acme-2"] {
            let url = base_url_for_domain(domain).expect("valid domain");
            let expected = if domain.contains('2') {
                "https://acme-2.freshdesk.com/api/v2"
            } else {
                "https://acme.freshdesk.com/api/v2"
            };
            assert_eq!(url.as_str(), expected, "{domain}");
        }
    }

    #[test]
    fn domains_that_could_redirect_the_key_are_refused() {
        for domain in [
            "",
            "evil.com/x",
            "a.b",
            "acme@evil.com",
            "-acme",
            "acme-",
            "é",
            ".freshdesk.com",
        ] {
            assert!(base_url_for_domain(domain).is_err(), "{domain:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_api_key() {
        let client = FreshdeskClient::new(
            reqwest::Client::new(),
            base_url_for_domain("acme").expect("valid"),
            Secret::new("super-secret-key"),
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("super-secret-key"));
        assert!(debug.contains("***"));
    }
}
