//! Freshchat users as last fetched, mapping them to the tenant's own user ids.

use chrono::{DateTime, Utc};
use domain::ids::{TenantId, UserId};
use sqlx::types::Json;

use super::grouped::answer_each;
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

impl From<Row> for Customer {
    fn from(r: Row) -> Customer {
        Customer {
            freshchat_user_id: r.freshchat_user_id,
            user_id: r.user_id,
            email: r.email,
            phone: r.phone,
            name: r.name,
            properties: r.properties.0,
            fetched_at: r.fetched_at,
        }
    }
}

pub async fn by_freshchat_id(db: &Db, tenant: TenantId, freshchat_user_id: &str) -> DbResult<Option<Customer>> {
    const SQL: &str = "SELECT freshchat_user_id, user_id, email, phone, name, properties, fetched_at FROM customers \
                       WHERE tenant_id = $1 AND freshchat_user_id = $2";
    let row: Option<Row> = on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(freshchat_user_id).fetch_optional(pool).await)?;
    Ok(row.map(Customer::from))
}

/// [`by_freshchat_id`] for many users in one statement.
pub async fn by_freshchat_ids_pg(pool: sqlx::PgPool, keys: Vec<(TenantId, String)>) -> DbResult<Vec<Option<Customer>>> {
    // One primary-key probe per key, whatever the statistics say (the LIMIT keeps the subquery
    // from being flattened into a join): fed by a new conversation's customer — usually not
    // stored yet, so the table grows under the statistics and a planner left to itself
    // chose to scan it whole for every group.
    const SQL: &str = "SELECT c.tenant_id, c.freshchat_user_id, c.user_id, c.email, c.phone, c.name, c.properties, c.fetched_at \
                       FROM UNNEST($1::uuid[], $2::text[]) AS k(tenant_id, freshchat_user_id) \
                       CROSS JOIN LATERAL (SELECT * FROM customers c WHERE c.tenant_id = k.tenant_id \
                         AND c.freshchat_user_id = k.freshchat_user_id LIMIT 1) c";
    #[derive(sqlx::FromRow)]
    struct Keyed {
        tenant_id: uuid::Uuid,
        #[sqlx(flatten)]
        row: Row,
    }
    let rows: Vec<Keyed> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, u)| u.as_str()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let found: Vec<(TenantId, Customer)> = rows
        .into_iter()
        .map(|k| (TenantId(k.tenant_id), k.row.into()))
        .collect();
    let answers = answer_each(&keys, &found, |(t, u), (ft, c)| ft == t && c.freshchat_user_id == *u);
    Ok(answers.into_iter().map(|a| a.map(|(_, c)| c)).collect())
}

/// The Freshchat user id of the tenant's customer, if Switchboard has seen them in a chat.
pub async fn freshchat_user_for(db: &Db, tenant: TenantId, user: &UserId) -> DbResult<Option<String>> {
    const SQL: &str = "SELECT freshchat_user_id FROM customers WHERE tenant_id = $1 AND user_id = $2 ORDER BY fetched_at DESC LIMIT 1";
    Ok(
        on_db!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(user.as_str()).fetch_optional(pool).await)?,
    )
}

/// [`upsert`] for many copies, one statement per round (a user fetched twice at once goes in
/// the next round: one statement cannot upsert a row twice).
pub async fn upsert_many_pg(pool: sqlx::PgPool, copies: Vec<(TenantId, Customer)>) -> DbResult<Vec<()>> {
    const SQL: &str = "INSERT INTO customers (tenant_id, freshchat_user_id, user_id, email, phone, name, properties, fetched_at) \
                       SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                            $7::jsonb[], $8::timestamptz[]) \
                       ON CONFLICT (tenant_id, freshchat_user_id) DO UPDATE SET \
                       user_id = excluded.user_id, email = excluded.email, phone = excluded.phone, name = excluded.name, \
                       properties = excluded.properties, fetched_at = excluded.fetched_at";
    let n = copies.len();
    for round in super::grouped::rounds(&copies, |(t, c)| (*t, c.freshchat_user_id.clone())) {
        sqlx::query(SQL)
            .bind(round.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
            .bind(
                round
                    .iter()
                    .map(|(_, c)| c.freshchat_user_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(round.iter().map(|(_, c)| c.user_id.as_deref()).collect::<Vec<_>>())
            .bind(round.iter().map(|(_, c)| c.email.as_deref()).collect::<Vec<_>>())
            .bind(round.iter().map(|(_, c)| c.phone.as_deref()).collect::<Vec<_>>())
            .bind(round.iter().map(|(_, c)| c.name.as_deref()).collect::<Vec<_>>())
            .bind(round.iter().map(|(_, c)| Json(&c.properties)).collect::<Vec<_>>())
            .bind(round.iter().map(|(_, c)| c.fetched_at).collect::<Vec<_>>())
            .execute(&pool)
            .await?;
    }
    Ok(vec![(); n])
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
