//! Callback requests (SPEC §7): stored per tenant, at most one pending per customer, moved
//! through `domain::callback` transitions by compare-and-set updates.

use chrono::{DateTime, Utc};
use domain::callback::CallbackState;
use domain::ids::{TenantId, UserId};
use domain::money::{Currency, Money};
use domain::routing::RouteDecision;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::{Db, DbError, DbResult, on_db};

#[derive(Debug, Clone, PartialEq)]
pub struct CallbackRequest {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub user_id: String,
    /// E.164.
    pub phone: Option<String>,
    pub reason: Option<String>,
    pub state: CallbackState,
    pub claimed_by: Option<String>,
    /// The cart when the customer asked, and what routing decided for it.
    pub cart_value: Money,
    pub currency: Currency,
    pub routing: RouteDecision,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    user_id: String,
    phone: Option<String>,
    reason: Option<String>,
    state: String,
    claimed_by: Option<String>,
    cart_value: i64,
    currency: String,
    routing: Json<RouteDecision>,
    created_at: DateTime<Utc>,
    claimed_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for CallbackRequest {
    type Error = DbError;
    fn try_from(r: Row) -> Result<Self, DbError> {
        Ok(CallbackRequest {
            id: r.id,
            tenant_id: TenantId(r.tenant_id),
            user_id: r.user_id,
            phone: r.phone,
            reason: r.reason,
            state: CallbackState::parse(&r.state)
                .ok_or_else(|| DbError::corrupt(format!("callback state '{}'", r.state)))?,
            claimed_by: r.claimed_by,
            cart_value: Money::from_minor(r.cart_value),
            currency: Currency::parse(&r.currency).map_err(DbError::corrupt)?,
            routing: r.routing.0,
            created_at: r.created_at,
            claimed_at: r.claimed_at,
            completed_at: r.completed_at,
            cancelled_at: r.cancelled_at,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, user_id, phone, reason, state, claimed_by, cart_value, currency, routing, \
             created_at, claimed_at, completed_at, cancelled_at, updated_at FROM callback_requests ",
            $rest
        )
    };
}

/// Stores a new pending request; false when the customer already has one pending.
pub async fn insert_pending(db: &Db, r: &CallbackRequest) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO callback_requests (id, tenant_id, user_id, phone, reason, state, claimed_by, cart_value, \
                       currency, routing, created_at, claimed_at, completed_at, cancelled_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, $7, $8, $9, NULL, NULL, NULL, $9) \
                       ON CONFLICT DO NOTHING";
    let n = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(r.id)
            .bind(r.tenant_id.as_uuid())
            .bind(&r.user_id)
            .bind(&r.phone)
            .bind(&r.reason)
            .bind(r.cart_value.minor())
            .bind(r.currency.code())
            .bind(Json(&r.routing))
            .bind(r.created_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

pub async fn get(db: &Db, tenant: TenantId, id: Uuid) -> DbResult<Option<CallbackRequest>> {
    const SQL: &str = select!("WHERE tenant_id = $1 AND id = $2");
    let row: Option<Row> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(id).fetch_optional(pool).await)?;
    row.map(CallbackRequest::try_from).transpose()
}

pub async fn pending_for_user(db: &Db, tenant: TenantId, user: &UserId) -> DbResult<Option<CallbackRequest>> {
    const SQL: &str = select!("WHERE tenant_id = $1 AND user_id = $2 AND state = 'pending'");
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(user.as_str()).fetch_optional(pool).await
    })?;
    row.map(CallbackRequest::try_from).transpose()
}

/// Pending requests, oldest first, after the request `after` (a page's last id).
pub async fn list_pending(
    db: &Db,
    tenant: TenantId,
    after: Option<&CallbackRequest>,
    limit: u32,
) -> DbResult<Vec<CallbackRequest>> {
    const FIRST: &str = select!("WHERE tenant_id = $1 AND state = 'pending' ORDER BY created_at, id LIMIT $2");
    const NEXT: &str = select!(
        "WHERE tenant_id = $1 AND state = 'pending' AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $2"
    );
    let limit = i64::from(limit);
    let rows: Vec<Row> = match after {
        None => on_db!(db, pool => sqlx::query_as(FIRST).bind(tenant.as_uuid()).bind(limit).fetch_all(pool).await)?,
        Some(a) => on_db!(db, pool => {
            sqlx::query_as(NEXT)
                .bind(tenant.as_uuid())
                .bind(limit)
                .bind(a.created_at)
                .bind(a.id)
                .fetch_all(pool)
                .await
        })?,
    };
    rows.into_iter().map(CallbackRequest::try_from).collect()
}

/// Moves a request from its state as read to `to`; false when its state changed meanwhile.
pub async fn transition(
    db: &Db,
    current: &CallbackRequest,
    to: CallbackState,
    claimed_by: Option<&str>,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "UPDATE callback_requests SET state = $3, claimed_by = COALESCE($4, claimed_by), \
                       claimed_at = COALESCE($5, claimed_at), completed_at = COALESCE($6, completed_at), \
                       cancelled_at = COALESCE($7, cancelled_at), updated_at = $8 \
                       WHERE tenant_id = $1 AND id = $2 AND state = $9";
    let stamp = |s: CallbackState| (to == s).then_some(now);
    let n = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(current.tenant_id.as_uuid())
            .bind(current.id)
            .bind(to.as_str())
            .bind(claimed_by)
            .bind(stamp(CallbackState::Claimed))
            .bind(stamp(CallbackState::Completed))
            .bind(stamp(CallbackState::Cancelled))
            .bind(now)
            .bind(current.state.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
