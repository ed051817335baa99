//! Orders reported by a tenant's backend (SPEC §9): one row per tenant and order id, updated in
//! place when its status or value changes, and linked to the incidence that assisted it.

use chrono::{DateTime, Utc};
use domain::ids::{IncidenceId, TenantId};
use domain::money::{Currency, Money};
use domain::order::OrderStatus;
use uuid::Uuid;

use crate::db::{Db, DbError, DbResult, on_db};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub tenant_id: TenantId,
    pub order_id: String,
    pub user_id: String,
    pub value: Money,
    pub currency: Currency,
    pub status: OrderStatus,
    pub placed_at: DateTime<Utc>,
    /// The incidence that assisted the order, if any.
    pub incidence_id: Option<IncidenceId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    order_id: String,
    user_id: String,
    value: i64,
    currency: String,
    status: String,
    placed_at: DateTime<Utc>,
    incidence_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Order {
    type Error = DbError;
    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(Order {
            tenant_id: TenantId(r.tenant_id),
            order_id: r.order_id,
            user_id: r.user_id,
            value: Money::from_minor(r.value),
            currency: Currency::parse(&r.currency).map_err(DbError::corrupt)?,
            status: OrderStatus::parse(&r.status)
                .ok_or_else(|| DbError::corrupt(format!("order status '{}'", r.status)))?,
            placed_at: r.placed_at,
            incidence_id: r.incidence_id.map(IncidenceId),
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub async fn get(db: &Db, tenant: TenantId, order_id: &str) -> DbResult<Option<Order>> {
    const SQL: &str = "SELECT tenant_id, order_id, user_id, value, currency, status, placed_at, incidence_id, created_at, \
                       updated_at FROM orders WHERE tenant_id = $1 AND order_id = $2";
    let row: Option<Row> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(order_id).fetch_optional(pool).await)?;
    row.map(Order::try_from).transpose()
}

/// Stores a new order; false when the order id is already taken.
pub async fn insert(db: &Db, o: &Order) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO orders (tenant_id, order_id, user_id, value, currency, status, placed_at, incidence_id, \
                       created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                       ON CONFLICT (tenant_id, order_id) DO NOTHING";
    let n = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(o.tenant_id.as_uuid())
            .bind(&o.order_id)
            .bind(&o.user_id)
            .bind(o.value.minor())
            .bind(o.currency.code())
            .bind(o.status.as_str())
            .bind(o.placed_at)
            .bind(o.incidence_id.map(|i| i.as_uuid()))
            .bind(o.created_at)
            .bind(o.updated_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Writes `new` over `old` (status, value, placed_at, incidence); false when the stored order is
/// no longer `old` (a concurrent report changed it).
pub async fn replace(db: &Db, old: &Order, new: &Order) -> DbResult<bool> {
    const SQL: &str = "UPDATE orders SET value = $3, status = $4, placed_at = $5, incidence_id = $6, updated_at = $7 \
                       WHERE tenant_id = $1 AND order_id = $2 AND status = $8 AND value = $9 AND placed_at = $10 \
                       AND (incidence_id = $11 OR (incidence_id IS NULL AND $12))";
    let n = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(old.tenant_id.as_uuid())
            .bind(&old.order_id)
            .bind(new.value.minor())
            .bind(new.status.as_str())
            .bind(new.placed_at)
            .bind(new.incidence_id.map(|i| i.as_uuid()))
            .bind(new.updated_at)
            .bind(old.status.as_str())
            .bind(old.value.minor())
            .bind(old.placed_at)
            .bind(old.incidence_id.map(|i| i.as_uuid()))
            .bind(old.incidence_id.is_none())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
