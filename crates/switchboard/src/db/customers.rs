//! Freshchat users as last fetched, mapping them to the tenant's own user ids.

use chrono::{DateTime, Utc};
use domain::ids::{TenantId, UserId};
use sqlx::types::Json;

use super::{Db, DbResult, Exec, on_db, on_exec, on_read};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub freshchat_user_id: String,
    /// The tenant's own id (Freshchat `reference_id`).
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    /// Freshchat user properties (name → value strings).
    pub properties: Vec<(String, String)>,
    pub fetched_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    freshchat_user_id: String,
    user_id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    properties: Json<Vec<(String, String)>>,
    fetched_at: DateTime<Utc>,
}

pub async fn by_freshchat_id(db: &Db, tenant: TenantId, freshchat_user_id: &str) -> DbResult<Option<Customer>> {
    const SQL: &str = "SELECT freshchat_user_id, user_id, email, phone, name, properties, fetched_at FROM customers \
                       WHERE tenant_id = $1 AND freshchat_user_id = $2";
    let row: Option<Row> = on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(freshchat_user_id).fetch_optional(pool).await)?;
    Ok(row.map(|r| Customer {
        freshchat_user_id: r.freshchat_user_id,
        user_id: r.user_id,
        email: r.email,
        phone: r.phone,
        name: r.name,
        properties: r.properties.0,
        fetched_at: r.fetched_at,
    }))
}

/// The Freshchat user id of the tenant's customer, if Switchboard has seen them in a chat.
pub async fn freshchat_user_for(db: &Db, tenant: TenantId, user: &UserId) -> DbResult<Option<String>> {
    const SQL: &str = "SELECT freshchat_user_id FROM customers WHERE tenant_id = $1 AND user_id = $2 ORDER BY fetched_at DESC LIMIT 1";
    Ok(
        on_db!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(user.as_str()).fetch_optional(pool).await)?,
    )
}

/// Stores the copy: a commit that need not wait for the disk (`Commit::Relaxed`), as a copy
/// lost in a database crash is fetched again.
pub async fn upsert(db: &Db, tenant: TenantId, c: &Customer) -> DbResult<()> {
    const SQL: &str = "INSERT INTO customers (tenant_id, freshchat_user_id, user_id, email, phone, name, properties, fetched_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, freshchat_user_id) DO UPDATE SET \
                       user_id = excluded.user_id, email = excluded.email, phone = excluded.phone, name = excluded.name, \
                       properties = excluded.properties, fetched_at = excluded.fetched_at";
    on_exec!(Exec::Relaxed(db), pool => {
        sqlx::query(SQL)
            .bind(tenant.as_uuid())
            .bind(&c.freshchat_user_id)
            .bind(&c.user_id)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.name)
            .bind(Json(&c.properties))
            .bind(c.fetched_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}
