//! Freshchat (chat): REST API v2 client, conversation webhooks and their signatures.

mod client;
mod message;
mod signature;
mod types;
mod webhook;

pub use client::{FreshchatClient, MessagePage};
pub use message::{Attachment, AttachmentKind, Message, MessagePart, OutgoingMessage};
pub use signature::{FreshchatPublicKey, KeyError, WebhookVerifier, verify_hmac};
pub use types::{
    AccountConfiguration, ActorType, Agent, Avatar, Conversation, ConversationStatus, MessageType, MissingField,
    Pagination, User, UserProperty,
};
pub use webhook::{Actor, Assignment, EventKind, Reopen, Resolution, WebhookError, WebhookEvent, parse_webhook};
