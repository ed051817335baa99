//! Tenants and their sealed credentials.

use chrono::{DateTime, Utc};
use domain::ids::{TenantId, TenantSlug};
use domain::money::Currency;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Db, DbError, DbResult, on_db};
use crate::crypto::Sealed;
use crate::tenants::{Tenant, TenantSettings};

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    slug: String,
    name: String,
    currency: String,
    timezone: String,
    settings: Json<TenantSettings>,
    created_at: DateTime<Utc>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = DbError;
    fn try_from(r: TenantRow) -> Result<Self, DbError> {
        Ok(Tenant {
            id: TenantId(r.id),
            slug: TenantSlug::parse(r.slug).map_err(DbError::corrupt)?,
            name: r.name,
            currency: Currency::parse(&r.currency).map_err(DbError::corrupt)?,
            timezone: r
                .timezone
                .parse()
                .map_err(|_| DbError::corrupt(format!("time zone '{}'", r.timezone)))?,
            settings: r.settings.0,
            created_at: r.created_at,
        })
    }
}

macro_rules! select_tenants {
    ($rest:literal) => {
        concat!(
            "SELECT id, slug, name, currency, timezone, settings, created_at FROM tenants ",
            $rest
        )
    };
}

/// Inserts the tenant; false when its slug is taken.
pub async fn insert(db: &Db, t: &Tenant) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO tenants (id, slug, name, currency, timezone, settings, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (slug) DO NOTHING";
    let done = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(t.id.as_uuid())
            .bind(t.slug.as_str())
            .bind(&t.name)
            .bind(t.currency.code())
            .bind(t.timezone.name())
            .bind(Json(&t.settings))
            .bind(t.created_at)
            .execute(pool).await.map(|r| r.rows_affected())?
    });
    Ok(done == 1)
}

pub async fn get(db: &Db, id: TenantId) -> DbResult<Option<Tenant>> {
    const SQL: &str = select_tenants!("WHERE id = $1");
    let row: Option<TenantRow> = on_db!(db, pool => sqlx::query_as(SQL).bind(id.as_uuid()).fetch_optional(pool).await)?;
    row.map(Tenant::try_from).transpose()
}

pub async fn get_by_slug(db: &Db, slug: &TenantSlug) -> DbResult<Option<Tenant>> {
    const SQL: &str = select_tenants!("WHERE slug = $1");
    let row: Option<TenantRow> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(slug.as_str()).fetch_optional(pool).await)?;
    row.map(Tenant::try_from).transpose()
}

pub async fn list(db: &Db) -> DbResult<Vec<Tenant>> {
    const SQL: &str = select_tenants!("ORDER BY slug");
    let rows: Vec<TenantRow> = on_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
    rows.into_iter().map(Tenant::try_from).collect()
}

pub async fn update_settings(db: &Db, id: TenantId, settings: &TenantSettings, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str = "UPDATE tenants SET settings = $2, updated_at = $3 WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id.as_uuid()).bind(Json(settings)).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn put_credential(
    db: &Db,
    tenant: TenantId,
    kind: &str,
    sealed: &Sealed,
    now: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str = "INSERT INTO tenant_credentials (tenant_id, kind, nonce, ciphertext, updated_at) VALUES ($1, $2, $3, $4, $5) \
                       ON CONFLICT (tenant_id, kind) DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at";
    on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(tenant.as_uuid())
            .bind(kind)
            .bind(&sealed.nonce)
            .bind(&sealed.ciphertext)
            .bind(now)
            .execute(pool).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn get_credential(db: &Db, tenant: TenantId, kind: &str) -> DbResult<Option<Sealed>> {
    const SQL: &str = "SELECT nonce, ciphertext FROM tenant_credentials WHERE tenant_id = $1 AND kind = $2";
    let row: Option<(Vec<u8>, Vec<u8>)> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(kind).fetch_optional(pool).await)?;
    Ok(row.map(|(nonce, ciphertext)| Sealed { nonce, ciphertext }))
}

pub async fn delete_credential(db: &Db, tenant: TenantId, kind: &str) -> DbResult<()> {
    const SQL: &str = "DELETE FROM tenant_credentials WHERE tenant_id = $1 AND kind = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(tenant.as_uuid()).bind(kind).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}
