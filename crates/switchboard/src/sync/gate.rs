//! Provider call admission.
//!
//! Two rules, checked before every call: a provider's `Retry-After` holds every call of the
//! tenant to that provider — in every process — until it has passed (a row in `provider_gates`,
//! and in this process's memory at once, so its other jobs stop before that write lands); and an
//! in-process token bucket paces calls to the tenant's budget per minute, so a burst waits as
//! queued jobs instead of failing against the provider's limit.
//!
//! Other processes' holds: on SQLite the row is read before each call (a local read); on
//! PostgreSQL, while [`Gates::follow`] is listening, every hold is announced with NOTIFY and
//! kept in memory, so a call costs no statement — and while it is not, the row is read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

use crate::db::{Db, DbResult, Pool, on_read};

/// Where holds are announced on PostgreSQL; the payload is `<tenant uuid>:<provider>`.
const GATES_CHANNEL: &str = "switchboard_gates";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    Freshchat,
    Freshdesk,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Freshchat => "freshchat",
            Provider::Freshdesk => "freshdesk",
        }
    }

    fn parse(s: &str) -> Option<Provider> {
        match s {
            "freshchat" => Some(Provider::Freshchat),
            "freshdesk" => Some(Provider::Freshdesk),
            _ => None,
        }
    }
}

/// A bucket refilled continuously at `per_minute / 60` tokens a second, holding at most a tenth
/// of the minute's budget so that pacing starts before the provider's own window fills.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub struct Gates {
    buckets: Mutex<HashMap<(TenantId, Provider), Bucket>>,
    /// Holds this process has seen, ahead of (and besides) the shared ones.
    held: Mutex<HashMap<(TenantId, Provider), DateTime<Utc>>>,
    /// Every shared hold is in `held` and new ones arrive by notification (PostgreSQL).
    following: AtomicBool,
}

impl Gates {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Ok` when a call may be made now, else how long to wait.
    pub async fn admit(
        &self,
        db: &Db,
        tenant: TenantId,
        provider: Provider,
        per_minute: u32,
        now: DateTime<Utc>,
    ) -> DbResult<Result<(), Duration>> {
        if let Some(wait) = self.held_here(tenant, provider, now) {
            return Ok(Err(wait));
        }
        if !self.following() {
            if let Some(until) = held_until(db, tenant, provider).await?
                && until > now
            {
                return Ok(Err((until - now).to_std().unwrap_or(Duration::ZERO)));
            }
            // A `Retry-After` seen here while the shared hold was being read.
            if let Some(wait) = self.held_here(tenant, provider, now) {
                return Ok(Err(wait));
            }
        }
        Ok(self.take_token(tenant, provider, per_minute, now))
    }

    /// What a `Retry-After` this process has seen still makes calls wait, if anything (no I/O).
    pub fn held_here(&self, tenant: TenantId, provider: Provider, now: DateTime<Utc>) -> Option<Duration> {
        let until = *self.held.lock().ok()?.get(&(tenant, provider))?;
        (until > now).then(|| (until - now).to_std().unwrap_or(Duration::ZERO))
    }

    fn take_token(
        &self,
        tenant: TenantId,
        provider: Provider,
        per_minute: u32,
        now: DateTime<Utc>,
    ) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(per_minute) / 60.0;
        let capacity = (f64::from(per_minute) / 10.0).max(1.0);
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let b = buckets.entry((tenant, provider)).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = (now - b.at).to_std().unwrap_or(Duration::ZERO).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }

    /// Holds every call of the tenant to the provider until `until` (a `Retry-After`): in this
    /// process at once, in every other through the database.
    pub async fn hold(
        &self,
        db: &Db,
        tenant: TenantId,
        provider: Provider,
        until: DateTime<Utc>,
        reason: &str,
    ) -> DbResult<()> {
        self.remember(tenant, provider, until);
        // The later of the stored and the new time wins, whichever process writes first.
        macro_rules! upsert {
            () => {
                "INSERT INTO provider_gates (tenant_id, provider, not_before, reason) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant_id, provider) DO UPDATE SET \
                   not_before = CASE WHEN excluded.not_before > provider_gates.not_before THEN excluded.not_before ELSE provider_gates.not_before END, \
                   reason = excluded.reason \
                 RETURNING not_before"
            };
        }
        // On PostgreSQL the announcement commits with the row: no process can miss it.
        const PG: &str = concat!(
            "WITH g AS (",
            upsert!(),
            ") SELECT g.not_before FROM g, pg_notify($5, $6)"
        );
        let held: DateTime<Utc> = match db.pool() {
            Pool::Pg(pool) => {
                sqlx::query_scalar(PG)
                    .bind(tenant.as_uuid())
                    .bind(provider.as_str())
                    .bind(until)
                    .bind(reason)
                    .bind(GATES_CHANNEL)
                    .bind(format!("{}:{}", tenant.as_uuid(), provider.as_str()))
                    .fetch_one(pool)
                    .await?
            }
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(upsert!())
                    .bind(tenant.as_uuid())
                    .bind(provider.as_str())
                    .bind(until)
                    .bind(reason)
                    .fetch_one(pool)
                    .await?
            }
        };
        // Another process's longer hold, now known here too.
        self.remember(tenant, provider, held);
        Ok(())
    }

    fn remember(&self, tenant: TenantId, provider: Provider, until: DateTime<Utc>) {
        if let Ok(mut held) = self.held.lock() {
            let at = held.entry((tenant, provider)).or_insert(until);
            *at = (*at).max(until);
        }
    }

    /// Whether every process's holds are known here without reading them (see [`Gates::follow`]).
    pub fn following(&self) -> bool {
        self.following.load(Ordering::Acquire)
    }

    /// On PostgreSQL: follows every process's holds (LISTEN, then the current rows) until
    /// `shutdown`, so that [`Gates::admit`] need not read them; reconnects after a failure,
    /// reading rows again meanwhile. Nothing on SQLite.
    pub fn follow(self: &std::sync::Arc<Self>, db: &Db, shutdown: CancellationToken) {
        let Pool::Pg(pool) = db.pool() else { return };
        let (pool, db, gates) = (pool.clone(), db.clone(), self.clone());
        tokio::spawn(async move {
            loop {
                let followed = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    l.listen(GATES_CHANNEL).await?;
                    // Listening first: a hold written from here on is announced.
                    for (tenant, provider, until) in all_held(&db).await? {
                        gates.remember(tenant, provider, until);
                    }
                    gates.following.store(true, Ordering::Release);
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return Ok(()),
                            n = l.recv() => {
                                let n = n?;
                                if let Some((tenant, provider)) = parse_announcement(n.payload())
                                    && let Some(until) = held_until(&db, tenant, provider).await?
                                {
                                    gates.remember(tenant, provider, until);
                                }
                            }
                        }
                    }
                };
                let result: DbResult<()> = followed.await;
                gates.following.store(false, Ordering::Release);
                match result {
                    Ok(()) => return,
                    Err(e) => warn!(error = %e, "provider holds are not followed; reading them before each call"),
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        });
    }
}

fn parse_announcement(payload: &str) -> Option<(TenantId, Provider)> {
    let (tenant, provider) = payload.split_once(':')?;
    Some((TenantId(Uuid::parse_str(tenant).ok()?), Provider::parse(provider)?))
}

async fn all_held(db: &Db) -> DbResult<Vec<(TenantId, Provider, DateTime<Utc>)>> {
    const SQL: &str = "SELECT tenant_id, provider, not_before FROM provider_gates WHERE not_before > $1";
    let rows: Vec<(Uuid, String, DateTime<Utc>)> =
        on_read!(db, pool => sqlx::query_as(SQL).bind(crate::clock::now()).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, p, until)| Some((TenantId(t), Provider::parse(&p)?, until)))
        .collect())
}

async fn held_until(db: &Db, tenant: TenantId, provider: Provider) -> DbResult<Option<DateTime<Utc>>> {
    const SQL: &str = "SELECT not_before FROM provider_gates WHERE tenant_id = $1 AND provider = $2";
    Ok(
        on_read!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(provider.as_str()).fetch_optional(pool).await)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_paced_to_the_budget() {
        let g = Gates::new();
        let t = TenantId(uuid::Uuid::from_u128(1));
        let now = Utc::now();
        // 600 a minute: a burst of 60 goes at once, the 61st waits a tenth of a second.
        for _ in 0..60 {
            assert_eq!(g.take_token(t, Provider::Freshdesk, 600, now), Ok(()));
        }
        let wait = g
            .take_token(t, Provider::Freshdesk, 600, now)
            .expect_err("budget spent");
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(
            g.take_token(t, Provider::Freshdesk, 600, now + chrono::Duration::milliseconds(100)),
            Ok(())
        );
        // Another tenant and another provider have their own budgets.
        assert_eq!(
            g.take_token(TenantId(uuid::Uuid::from_u128(2)), Provider::Freshdesk, 600, now),
            Ok(())
        );
        assert_eq!(g.take_token(t, Provider::Freshchat, 600, now), Ok(()));
    }
}
