//! The Redis context store, shared by every instance: one hash per customer,
//! `{prefix}:ctx:{tenant}:{user}` with the fields `v` (a version) and `ctx` (the JSON), and a TTL
//! restarted on every write.
//!
//! Updates are optimistic: read `v` and `ctx`, apply the change, and write only if `v` is still
//! what was read (a Lua compare-and-set, atomic in Redis); otherwise read again and retry. The
//! connection is multiplexed, so WATCH/MULTI — which belong to a connection — cannot be used.

use std::time::Duration;

use domain::context::CustomerContext;
use domain::ids::{TenantId, UserId};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{ContextStore, StoreError, Update};
use crate::jobs::registry::BoxFuture;

pub const DEFAULT_PREFIX: &str = "sb";

/// Retries of a contended update before giving up (each one means another writer succeeded).
const MAX_ATTEMPTS: usize = 100;

/// KEYS[1] the hash; ARGV: expected version ("" when absent), new version, JSON, TTL in ms.
const COMPARE_AND_SET: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if (current or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'ctx', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
";

#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    ttl: Duration,
    prefix: String,
}

impl RedisStore {
    /// Connects (failing now if Redis cannot be reached); keys start with `prefix`.
    pub async fn connect(url: &str, ttl: Duration, prefix: &str) -> Result<RedisStore, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        let conn = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisStore {
            conn,
            ttl,
            prefix: prefix.to_owned(),
        })
    }

    /// The hash of one customer.
    pub fn key(&self, tenant: TenantId, user: &UserId) -> String {
        format!("{}:ctx:{tenant}:{user}", self.prefix)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }

    /// The context and its version as stored.
    async fn read(&self, key: &str) -> Result<(Option<String>, Option<CustomerContext>), StoreError> {
        let mut conn = self.conn.clone();
        let (version, json): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(key)
            .arg("v")
            .arg("ctx")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let ctx = match json {
            None => None,
            Some(j) => match serde_json::from_str::<CustomerContext>(&j) {
                Ok(ctx) => Some(ctx),
                // Live context is disposable: an unreadable value starts over.
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable customer context in Redis ignored");
                    None
                }
            },
        };
        Ok((version, ctx))
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl ContextStore for RedisStore {
    fn get<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<Option<CustomerContext>, StoreError>> {
        Box::pin(async move {
            let (_, ctx) = self.read(&self.key(tenant, user)).await?;
            Ok(ctx.filter(|c| &c.user_id == user))
        })
    }

    fn update<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
        mut change: Update<'a>,
    ) -> BoxFuture<'a, Result<CustomerContext, StoreError>> {
        Box::pin(async move {
            let key = self.key(tenant, user);
            let mut conn = self.conn.clone();
            for _ in 0..MAX_ATTEMPTS {
                let (version, old) = self.read(&key).await?;
                let new = change(old.filter(|c| &c.user_id == user));
                let json = serde_json::to_string(&new).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let next = version
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
                    .wrapping_add(1);
                let written: i64 = redis::cmd("EVAL")
                    .arg(COMPARE_AND_SET)
                    .arg(1)
                    .arg(&key)
                    .arg(version.unwrap_or_default())
                    .arg(next.to_string())
                    .arg(json)
                    .arg(self.ttl_ms())
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                if written == 1 {
                    return Ok(new);
                }
                tokio::task::yield_now().await;
            }
            Err(StoreError::Contended)
        })
    }

    fn delete<'a>(&'a self, tenant: TenantId, user: &'a UserId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = redis::cmd("DEL")
                .arg(self.key(tenant, user))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            Ok(())
        })
    }
}
