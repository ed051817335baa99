//! External contracts of the providers Switchboard talks to (`shared/providers/freshworks.md`):
//! webhook parsers, signature checks and API clients for Freshchat and Freshdesk.
//!
//! Everything here is a thin, typed mirror of the provider's wire format. Business decisions
//! live in the `domain` crate; retries live in the durable job queue (see [`http`]).

pub mod freshchat;
pub mod freshdesk;
pub mod http;
mod lenient;
mod secret;

pub use secret::Secret;
