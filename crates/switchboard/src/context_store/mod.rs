//! Live customer context: one store interface, kept in-process (the embedded default, written
//! through to the database so a restart loses nothing) or in Redis (shared by many instances).
//!
//! - [`memory`]: the in-process store over the `customer_contexts` table.
//! - [`redis`]: one hash per customer, with a TTL refreshed on every write.
//! - [`push`]: the debounced job that shows each change to agents (Freshchat user properties and
//!   the open ticket's fields).

pub mod memory;
pub mod push;
pub mod redis;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::context::CustomerContext;
use domain::ids::{TenantId, UserId};

use crate::config::Config;
use crate::db::Db;
use crate::jobs::registry::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("context store unavailable: {0}")]
    Unavailable(String),
    #[error("stored context is unreadable: {0}")]
    Corrupt(String),
    #[error("the context kept changing while it was updated; try again")]
    Contended,
}

impl From<crate::db::DbError> for StoreError {
    fn from(e: crate::db::DbError) -> Self {
        StoreError::Unavailable(format!("database: {e}"))
    }
}

/// A change to one customer's context. The store may call it more than once (an optimistic
/// store retries when another writer got there first), always with the latest stored value, so
/// it must be a pure function of its argument.
pub type Update<'a> = Box<dyn FnMut(Option<CustomerContext>) -> CustomerContext + Send + 'a>;

/// The time source of a store's expiry; tests pass a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(crate::clock::now)
}

pub trait ContextStore: Send + Sync + 'static {
    /// The customer's context; `None` when never written or expired.
    fn get<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<Option<CustomerContext>, StoreError>>;

    /// Reads, changes and writes one customer's context as one step (no lost updates when two
    /// requests for the same customer race), returning the new context. Every write restarts
    /// the context's time to live.
    fn update<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
        change: Update<'a>,
    ) -> BoxFuture<'a, Result<CustomerContext, StoreError>>;

    /// Forgets the customer's context.
    fn delete<'a>(&'a self, tenant: TenantId, user: &'a UserId) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The store the configuration asks for: Redis when `REDIS_URL` is set, else in-process. `role`
/// says whether this process writes contexts (`serve`) or reads what another writes, which
/// matters to the in-process store only.
pub async fn from_config(config: &Config, db: &Db, role: memory::Role) -> anyhow::Result<Arc<dyn ContextStore>> {
    let ttl = config.context_ttl;
    match &config.redis_url {
        Some(url) => {
            let store = redis::RedisStore::connect(url, ttl, redis::DEFAULT_PREFIX)
                .await
                .map_err(|e| anyhow::anyhow!("connecting to REDIS_URL {}: {e}", crate::db::redact_url(url)))?;
            Ok(Arc::new(store))
        }
        None => {
            if db.backend() == crate::db::Backend::Postgres {
                tracing::info!(
                    "REDIS_URL is not set: live customer context is kept in this process (persisted to the database); \
                     set REDIS_URL when several serve/worker processes share the database"
                );
            }
            Ok(Arc::new(match role {
                memory::Role::Writer => memory::MemoryStore::new(db.clone(), ttl),
                memory::Role::Reader => memory::MemoryStore::reader(db.clone(), ttl),
            }))
        }
    }
}

/// `now + ttl`, saturating.
fn expiry(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
