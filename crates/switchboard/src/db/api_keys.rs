//! API keys, stored by hash.

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use uuid::Uuid;

use super::{Db, DbError, DbResult, on_db};
use crate::auth::api_keys::{ApiKey, KeyHash, KeyKind};

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    tenant_id: Uuid,
    kind: String,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = DbError;
    fn try_from(r: KeyRow) -> Result<Self, DbError> {
        Ok(ApiKey {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            kind: KeyKind::parse(&r.kind).ok_or_else(|| DbError::corrupt(format!("key kind '{}'", r.kind)))?,
            name: r.name,
            prefix: r.prefix,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
    }
}

macro_rules! select_keys {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, kind, name, prefix, created_at, last_used_at, revoked_at FROM api_keys ",
            $rest
        )
    };
}

pub async fn insert(db: &Db, k: &ApiKey, key_hash: &KeyHash) -> DbResult<()> {
    const SQL: &str = "INSERT INTO api_keys (id, tenant_id, kind, name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(k.id)
            .bind(k.tenant_id.as_uuid())
            .bind(k.kind.as_str())
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(&key_hash[..])
            .bind(k.created_at)
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The key with this hash, unless revoked.
pub async fn find_live(db: &Db, key_hash: &KeyHash) -> DbResult<Option<ApiKey>> {
    const SQL: &str = select_keys!("WHERE key_hash = $1 AND revoked_at IS NULL");
    let row: Option<KeyRow> = on_db!(db, pool => sqlx::query_as(SQL).bind(&key_hash[..]).fetch_optional(pool).await)?;
    row.map(ApiKey::try_from).transpose()
}

pub async fn list(db: &Db, tenant: TenantId) -> DbResult<Vec<ApiKey>> {
    const SQL: &str = select_keys!("WHERE tenant_id = $1 ORDER BY created_at, id");
    let rows: Vec<KeyRow> = on_db!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).fetch_all(pool).await)?;
    rows.into_iter().map(ApiKey::try_from).collect()
}

/// Revokes the tenant's key; false when the tenant has no such live key.
pub async fn revoke(db: &Db, tenant: TenantId, id: Uuid, now: DateTime<Utc>) -> DbResult<bool> {
    const SQL: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL";
    let n = on_db!(db, pool => sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Revokes the tenant's live keys with this name (used to rotate the demo key at each start).
pub async fn revoke_named(db: &Db, tenant: TenantId, name: &str, now: DateTime<Utc>) -> DbResult<u64> {
    const SQL: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND name = $2 AND revoked_at IS NULL";
    Ok(
        on_db!(db, pool => sqlx::query(SQL).bind(tenant.as_uuid()).bind(name).bind(now).execute(pool).await.map(|r| r.rows_affected()))?,
    )
}

pub async fn touch(db: &Db, id: Uuid, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}
