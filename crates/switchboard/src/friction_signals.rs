//! The `friction_signals` log: every signal the app reports, per tenant, customer and session,
//! kept as sent (analytics ranks screens by it).

use chrono::{DateTime, Utc};
use domain::ids::{TenantId, UserId};
use serde::Serialize;
use sqlx::types::Json;

use crate::db::{Db, DbResult, on_db};

/// A signal to record.
#[derive(Debug, Clone)]
pub struct NewSignal<'a> {
    pub tenant: TenantId,
    pub user: &'a UserId,
    pub session_id: &'a str,
    pub signal_type: &'a str,
    pub value: Option<&'a serde_json::Value>,
    pub screen: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// A recorded signal.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Signal {
    pub id: i64,
    pub user_id: String,
    pub session_id: String,
    pub signal_type: String,
    pub value: Option<Json<serde_json::Value>>,
    pub screen: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: &Db, s: &NewSignal<'_>) -> DbResult<i64> {
    const SQL: &str = "INSERT INTO friction_signals (tenant_id, user_id, session_id, signal_type, value, screen, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    Ok(on_db!(db, pool => {
        sqlx::query_scalar(SQL)
            .bind(s.tenant.as_uuid())
            .bind(s.user.as_str())
            .bind(s.session_id)
            .bind(s.signal_type)
            .bind(s.value.map(Json))
            .bind(s.screen)
            .bind(s.at)
            .fetch_one(pool)
            .await
    })?)
}

/// The customer's latest signals, newest first.
pub async fn recent_for_user(db: &Db, tenant: TenantId, user: &UserId, limit: u32) -> DbResult<Vec<Signal>> {
    const SQL: &str = "SELECT id, user_id, session_id, signal_type, value, screen, created_at FROM friction_signals \
                       WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3";
    Ok(on_db!(db, pool => {
        sqlx::query_as(SQL)
            .bind(tenant.as_uuid())
            .bind(user.as_str())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
    })?)
}
