//! The in-process context store: contexts live in memory and every update is written through to
//! the `customer_contexts` table before it counts, so a restart (or an evicted entry) reloads
//! exactly what was acknowledged.
//!
//! Each customer has a slot with its own async lock, held across the read-change-write so two
//! updates of one customer never lose each other; customers never wait on each other's I/O (the
//! map's own lock is held only to find a slot). One process writes customers' contexts (`serve`:
//! several `serve` processes sharing a database use the Redis store instead), so the writer keeps
//! in memory whatever it wrote or read — a customer without a context costs one read, not one
//! per message. A reader (a separate `worker` process) reads the database each time, so it sees
//! what `serve` wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::context::CustomerContext;
use domain::ids::{TenantId, UserId};
use sqlx::types::Json;
use tokio::sync::Mutex as AsyncMutex;

use super::{Clock, ContextStore, StoreError, Update, expiry, system_clock};
use crate::db::grouped::Grouped;
use crate::db::{Db, DbResult, on_db};
use crate::jobs::registry::{BoxFuture, JobContext, JobResult};
use crate::jobs::schedule::Periodic;
use crate::jobs::{JobSpec, NewJob, Outcome, priority};

/// Slots kept in memory before idle ones are dropped (they reload from the database).
const DEFAULT_CAPACITY: usize = 100_000;

type Key = (TenantId, UserId);

#[derive(Clone)]
struct Entry {
    ctx: CustomerContext,
    expires_at: DateTime<Utc>,
}

/// `None` until loaded from the database; then the stored entry, if any.
type Slot = Arc<AsyncMutex<Option<Option<Entry>>>>;

pub struct MemoryStore {
    db: Db,
    /// Reads of contexts this process did not write, shared by concurrent readers.
    loads: Grouped<Key, Option<Entry>>,
    ttl: Duration,
    clock: Clock,
    capacity: usize,
    slots: Mutex<HashMap<Key, Slot>>,
    /// Whether this process writes the contexts (it keeps what it reads) or only reads them.
    role: Role,
}

/// What a process does with the contexts in its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `serve`: the one process that changes them.
    Writer,
    /// `worker` and the CLI: they read what the writer wrote.
    Reader,
}

impl MemoryStore {
    /// The writer's store.
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self::with_clock(db, ttl, system_clock())
    }

    /// A store that reads what another process writes.
    pub fn reader(db: Db, ttl: Duration) -> Self {
        Self {
            role: Role::Reader,
            ..Self::new(db, ttl)
        }
    }

    /// A store whose expiry follows `clock` (tests move time without sleeping).
    pub fn with_clock(db: Db, ttl: Duration, clock: Clock) -> Self {
        Self {
            loads: Grouped::new(&db, load_many_pg),
            db,
            ttl,
            clock,
            capacity: DEFAULT_CAPACITY,
            slots: Mutex::new(HashMap::new()),
            role: Role::Writer,
        }
    }

    /// Drops every in-memory slot, as a restart would: the next access reloads from the database.
    pub fn forget_cached(&self) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.clear();
        }
    }

    fn slot(&self, tenant: TenantId, user: &UserId) -> Result<Slot, StoreError> {
        let mut slots = self
            .slots
            .lock()
            .map_err(|_| StoreError::Unavailable("context map lock poisoned".into()))?;
        let key = (tenant, user.clone());
        if let Some(slot) = slots.get(&key) {
            return Ok(slot.clone());
        }
        if slots.len() >= self.capacity {
            // Only slots nobody holds are dropped: their values are safe in the database.
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot: Slot = Arc::new(AsyncMutex::new(None));
        slots.insert(key, slot.clone());
        Ok(slot)
    }

    /// The live entry in a locked slot, loading it if needed; `None` when absent or expired.
    async fn current(
        &self,
        loaded: &mut Option<Option<Entry>>,
        tenant: TenantId,
        user: &UserId,
    ) -> Result<Option<CustomerContext>, StoreError> {
        let entry = match loaded {
            Some(entry) => entry.clone(),
            None => {
                let entry = load(&self.db, tenant, user).await?;
                *loaded = Some(entry.clone());
                entry
            }
        };
        let now = (self.clock)();
        Ok(entry.filter(|e| e.expires_at > now).map(|e| e.ctx))
    }
}

impl ContextStore for MemoryStore {
    fn get<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<Option<CustomerContext>, StoreError>> {
        Box::pin(async move {
            let slot = self.slot(tenant, user)?;
            let mut loaded = slot.lock().await;
            if loaded.is_none() {
                let now = (self.clock)();
                let read = load(&self.db, tenant, user);
                let entry = self.loads.run((tenant, user.clone()), read).await?;
                // Nobody but the writer changes it; a reader reads again, as the writer may.
                if self.role == Role::Writer {
                    *loaded = Some(entry.clone());
                }
                return Ok(entry.filter(|e| e.expires_at > now).map(|e| e.ctx));
            }
            self.current(&mut loaded, tenant, user).await
        })
    }

    fn update<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
        mut change: Update<'a>,
    ) -> BoxFuture<'a, Result<CustomerContext, StoreError>> {
        Box::pin(async move {
            let slot = self.slot(tenant, user)?;
            let mut loaded = slot.lock().await;
            let old = self.current(&mut loaded, tenant, user).await?;
            let new = change(old);
            let now = (self.clock)();
            let expires_at = expiry(now, self.ttl);
            // The database first: memory never holds a value that was not persisted.
            save(&self.db, tenant, user, &new, now, expires_at).await?;
            *loaded = Some(Some(Entry {
                ctx: new.clone(),
                expires_at,
            }));
            Ok(new)
        })
    }

    fn delete<'a>(&'a self, tenant: TenantId, user: &'a UserId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let slot = self.slot(tenant, user)?;
            let mut loaded = slot.lock().await;
            remove(&self.db, tenant, user).await?;
            *loaded = Some(None);
            Ok(())
        })
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    context: Json<serde_json::Value>,
    expires_at: DateTime<Utc>,
}

async fn load(db: &Db, tenant: TenantId, user: &UserId) -> DbResult<Option<Entry>> {
    const SQL: &str = "SELECT context, expires_at FROM customer_contexts WHERE tenant_id = $1 AND user_id = $2";
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(user.as_str()).fetch_optional(pool).await
    })?;
    Ok(row.and_then(|r| entry(tenant, user, r)))
}

/// [`load`] for many customers in one statement (see [`Grouped`]).
async fn load_many_pg(pool: sqlx::PgPool, keys: Vec<Key>) -> DbResult<Vec<Option<Entry>>> {
    const SQL: &str = "SELECT tenant_id, user_id, context, expires_at FROM customer_contexts \
                       WHERE (tenant_id, user_id) IN (SELECT * FROM UNNEST($1::uuid[], $2::text[]))";
    #[derive(sqlx::FromRow)]
    struct Keyed {
        tenant_id: uuid::Uuid,
        user_id: String,
        #[sqlx(flatten)]
        row: Row,
    }
    let rows: Vec<Keyed> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let mut found: HashMap<(uuid::Uuid, String), Row> =
        rows.into_iter().map(|k| ((k.tenant_id, k.user_id), k.row)).collect();
    Ok(keys
        .iter()
        .map(|(t, u)| {
            let row = found.remove(&(t.as_uuid(), u.as_str().to_owned()))?;
            entry(*t, u, row)
        })
        .collect())
}

fn entry(tenant: TenantId, user: &UserId, r: Row) -> Option<Entry> {
    match serde_json::from_value::<CustomerContext>(r.context.0) {
        Ok(ctx) if &ctx.user_id == user => Some(Entry {
            ctx,
            expires_at: r.expires_at,
        }),
        // Live context is disposable: an unreadable row starts over instead of failing forever.
        Ok(_) | Err(_) => {
            tracing::warn!(tenant = %tenant, "unreadable stored customer context ignored");
            None
        }
    }
}

async fn save(
    db: &Db,
    tenant: TenantId,
    user: &UserId,
    ctx: &CustomerContext,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str = "INSERT INTO customer_contexts (tenant_id, user_id, context, updated_at, expires_at) \
                       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, user_id) DO UPDATE SET \
                       context = excluded.context, updated_at = excluded.updated_at, expires_at = excluded.expires_at";
    on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(tenant.as_uuid())
            .bind(user.as_str())
            .bind(Json(ctx))
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

async fn remove(db: &Db, tenant: TenantId, user: &UserId) -> DbResult<()> {
    const SQL: &str = "DELETE FROM customer_contexts WHERE tenant_id = $1 AND user_id = $2";
    on_db!(db, pool => {
        sqlx::query(SQL).bind(tenant.as_uuid()).bind(user.as_str()).execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Deletes contexts that expired before `now`; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>) -> DbResult<u64> {
    const SQL: &str = "DELETE FROM customer_contexts WHERE expires_at <= $1";
    Ok(on_db!(db, pool => sqlx::query(SQL).bind(now).execute(pool).await.map(|r| r.rows_affected()))?)
}

/// Deletes expired contexts from the table (the in-process store ignores them anyway).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct PurgeExpiredContexts {}

impl JobSpec for PurgeExpiredContexts {
    const KIND: &'static str = "context.purge_expired";
    const PRIORITY: i32 = priority::BULK;
    const MAX_ATTEMPTS: i32 = 3;
}

pub async fn purge_expired_contexts(_job: PurgeExpiredContexts, ctx: JobContext) -> JobResult {
    let n = purge_expired(&ctx.db, crate::clock::now()).await?;
    tracing::info!(deleted = n, "purged expired customer contexts");
    Ok(Outcome::Done)
}

/// The purge, hourly.
pub fn periodic() -> Option<Periodic> {
    NewJob::new(&PurgeExpiredContexts {}).ok().map(|job| Periodic {
        name: "purge_contexts",
        every: Duration::from_secs(3600),
        job,
    })
}
