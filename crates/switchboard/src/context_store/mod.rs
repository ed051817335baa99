//! Live customer context: one store interface, kept in-process (the embedded default) or in
//! Redis (shared by many instances).

pub mod memory;

use domain::context::CustomerContext;
use domain::ids::{TenantId, UserId};

use crate::jobs::registry::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("context store unavailable: {0}")]
    Unavailable(String),
    #[error("stored context is unreadable: {0}")]
    Corrupt(String),
}

/// A change to one customer's context, applied atomically by the store.
pub type Update<'a> = Box<dyn FnOnce(Option<CustomerContext>) -> CustomerContext + Send + 'a>;

pub trait ContextStore: Send + Sync + 'static {
    fn get<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<Option<CustomerContext>, StoreError>>;

    /// Reads, changes and writes one customer's context as one step (no lost updates when two
    /// requests for the same customer race), returning the new context.
    fn update<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
        change: Update<'a>,
    ) -> BoxFuture<'a, Result<CustomerContext, StoreError>>;
}
