//! Freshdesk (tickets): API v2 client, automation webhooks and their authentication.

mod auth;
mod client;
mod conversation;
mod html;
mod search;
mod ticket;
mod types;
mod webhook;

pub use auth::check_webhook_auth;
pub use client::{FreshdeskClient, InvalidDomain, base_url_for_domain};
pub use conversation::{Conversation, NewNote, NewReply};
pub use html::html_to_text;
pub use search::{MAX_QUERY_CHARS, SearchQuery, SearchQueryError};
pub use ticket::{NewTicket, Requester, SearchPage, Ticket, TicketField, TicketUpdate};
pub use types::{ConversationSource, CustomFieldValue, CustomFields, TicketPriority, TicketSource, TicketStatus};
pub use webhook::{AutomationEvent, TriggeredEvent, WebhookError, parse_webhook};
