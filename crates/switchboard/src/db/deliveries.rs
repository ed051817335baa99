//! Provider writes that must happen exactly once. See the `deliveries` table's comment.

use chrono::{DateTime, Utc};
use domain::ids::{IncidenceId, TenantId};
use uuid::Uuid;

use domain::incidence::TimelineEntry;
use sqlx::types::Json;

use super::{Commit, Db, DbError, DbResult, Exec, on_db, on_exec, on_read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A customer's chat message, as a note on the ticket (or as the ticket's description).
    TicketNote,
    /// An agent's helpdesk reply, as a message in the customer's chat.
    ChatReply,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TicketNote => "ticket_note",
            Kind::ChatReply => "chat_reply",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    /// The call was (maybe) made: check the provider before making it again.
    Sending,
    Sent,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sending => "sending",
            State::Sent => "sent",
        }
    }

    fn parse(s: &str) -> Option<State> {
        match s {
            "pending" => Some(State::Pending),
            "sending" => Some(State::Sending),
            "sent" => Some(State::Sent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: Uuid,
    pub source_ref: String,
    pub seq: i64,
    pub body: String,
    pub state: State,
    pub remote_id: Option<String>,
    pub attempted_at: Option<DateTime<Utc>>,
}

/// A write to record.
#[derive(Debug, Clone, Copy)]
pub struct NewDelivery<'a> {
    pub incidence: IncidenceId,
    pub kind: Kind,
    /// What it copies (a message id, a helpdesk conversation id): recorded once.
    pub source_ref: &'a str,
    /// Its place in the order of sending.
    pub seq: i64,
    pub body: &'a str,
}

/// Records a write to make; false when it is already recorded.
pub async fn add<'a>(
    exec: impl Into<Exec<'a>>,
    tenant: TenantId,
    d: NewDelivery<'_>,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO deliveries (id, tenant_id, incidence_id, kind, source_ref, seq, body, state, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (incidence_id, kind, source_ref) DO NOTHING";
    let n = on_exec!(exec.into(), conn => {
        sqlx::query(SQL)
            .bind(Uuid::now_v7())
            .bind(tenant.as_uuid())
            .bind(d.incidence.as_uuid())
            .bind(d.kind.as_str())
            .bind(d.source_ref)
            .bind(d.seq)
            .bind(d.body)
            .bind(now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    source_ref: String,
    seq: i64,
    body: String,
    state: String,
    remote_id: Option<String>,
    attempted_at: Option<DateTime<Utc>>,
}

/// The writes not yet confirmed, in order.
pub async fn unsent(db: &Db, tenant: TenantId, incidence: IncidenceId, kind: Kind) -> DbResult<Vec<Delivery>> {
    const SQL: &str = "SELECT id, source_ref, seq, body, state, remote_id, attempted_at FROM deliveries \
                       WHERE tenant_id = $1 AND incidence_id = $2 AND kind = $3 AND state <> 'sent' ORDER BY seq, created_at, id";
    let rows: Vec<Row> = on_read!(db, pool => {
        sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(incidence.as_uuid()).bind(kind.as_str()).fetch_all(pool).await
    })?;
    rows.into_iter().map(Delivery::try_from).collect()
}

impl TryFrom<Row> for Delivery {
    type Error = DbError;
    fn try_from(r: Row) -> DbResult<Delivery> {
        Ok(Delivery {
            id: r.id,
            state: State::parse(&r.state).ok_or_else(|| DbError::corrupt(format!("delivery state '{}'", r.state)))?,
            source_ref: r.source_ref,
            seq: r.seq,
            body: r.body,
            remote_id: r.remote_id,
            attempted_at: r.attempted_at,
        })
    }
}

/// [`unsent`] for many incidences in one statement.
pub async fn unsent_many_pg(
    pool: sqlx::PgPool,
    keys: Vec<(TenantId, IncidenceId, Kind)>,
) -> DbResult<Vec<Vec<Delivery>>> {
    const SQL: &str = "SELECT tenant_id, incidence_id, kind, id, source_ref, seq, body, state, remote_id, attempted_at \
                       FROM deliveries WHERE (tenant_id, incidence_id, kind) IN \
                       (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[])) AND state <> 'sent' ORDER BY seq, created_at, id";
    #[derive(sqlx::FromRow)]
    struct Keyed {
        tenant_id: Uuid,
        incidence_id: Uuid,
        kind: String,
        #[sqlx(flatten)]
        row: Row,
    }
    let rows: Vec<Keyed> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, i, _)| i.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, _, k)| k.as_str()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let mut out = vec![Vec::new(); keys.len()];
    for r in rows {
        let at = keys.iter().enumerate().filter(|(_, (t, i, k))| {
            t.as_uuid() == r.tenant_id && i.as_uuid() == r.incidence_id && k.as_str() == r.kind
        });
        let delivery = Delivery::try_from(r.row)?;
        for (n, _) in at {
            out[n].push(delivery.clone());
        }
    }
    Ok(out)
}

/// The bodies of the writes confirmed so far (to match against what the provider shows).
pub async fn sent_bodies(db: &Db, tenant: TenantId, incidence: IncidenceId, kind: Kind) -> DbResult<Vec<String>> {
    const SQL: &str = "SELECT body FROM deliveries WHERE tenant_id = $1 AND incidence_id = $2 AND kind = $3 AND state = 'sent' \
                       AND remote_id IS NOT NULL";
    Ok(on_read!(db, pool => {
        sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(incidence.as_uuid()).bind(kind.as_str()).fetch_all(pool).await
    })?)
}

/// Whether this source has been recorded (whatever its state).
pub async fn known_refs(db: &Db, tenant: TenantId, incidence: IncidenceId, kind: Kind) -> DbResult<Vec<String>> {
    const SQL: &str = "SELECT source_ref FROM deliveries WHERE tenant_id = $1 AND incidence_id = $2 AND kind = $3";
    Ok(on_read!(db, pool => {
        sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(incidence.as_uuid()).bind(kind.as_str()).fetch_all(pool).await
    })?)
}

/// [`known_refs`] for many incidences in one statement.
pub async fn known_refs_many_pg(
    pool: sqlx::PgPool,
    keys: Vec<(TenantId, IncidenceId, Kind)>,
) -> DbResult<Vec<Vec<String>>> {
    const SQL: &str = "SELECT tenant_id, incidence_id, kind, source_ref FROM deliveries WHERE (tenant_id, incidence_id, kind) IN \
                       (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]))";
    let rows: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, i, _)| i.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, _, k)| k.as_str()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    Ok(keys
        .iter()
        .map(|(t, i, k)| {
            rows.iter()
                .filter(|(rt, ri, rk, _)| *rt == t.as_uuid() && *ri == i.as_uuid() && rk == k.as_str())
                .map(|(_, _, _, source_ref)| source_ref.clone())
                .collect()
        })
        .collect())
}

/// A write to record with others ([`add_many_pg`]).
#[derive(Debug, Clone)]
pub struct NewDeliveryOf {
    pub tenant: TenantId,
    pub incidence: IncidenceId,
    pub kind: Kind,
    pub source_ref: String,
    pub seq: i64,
    pub body: String,
    pub now: DateTime<Utc>,
}

impl NewDeliveryOf {
    pub fn new(tenant: TenantId, d: NewDelivery<'_>, now: DateTime<Utc>) -> Self {
        Self {
            tenant,
            incidence: d.incidence,
            kind: d.kind,
            source_ref: d.source_ref.to_owned(),
            seq: d.seq,
            body: d.body.to_owned(),
            now,
        }
    }
}

/// [`add`] for many writes in one statement; true for those not recorded before.
pub async fn add_many_pg(pool: sqlx::PgPool, writes: Vec<NewDeliveryOf>) -> DbResult<Vec<bool>> {
    const SQL: &str = "INSERT INTO deliveries (id, tenant_id, incidence_id, kind, source_ref, seq, body, state, created_at) \
                       SELECT id, tenant_id, incidence_id, kind, source_ref, seq, body, 'pending', created_at \
                       FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
                                   $8::timestamptz[]) \
                         AS d(id, tenant_id, incidence_id, kind, source_ref, seq, body, created_at) \
                       ON CONFLICT (incidence_id, kind, source_ref) DO NOTHING RETURNING id";
    let ids: Vec<Uuid> = writes.iter().map(|_| Uuid::now_v7()).collect();
    let inserted: Vec<Uuid> = sqlx::query_scalar(SQL)
        .bind(&ids)
        .bind(writes.iter().map(|w| w.tenant.as_uuid()).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.incidence.as_uuid()).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.kind.as_str()).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.source_ref.as_str()).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.seq).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.body.as_str()).collect::<Vec<_>>())
        .bind(writes.iter().map(|w| w.now).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    Ok(ids.iter().map(|id| inserted.contains(id)).collect())
}

/// Records the intent to make the call, committed before the call is made.
pub async fn mark_sending(db: &Db, tenant: TenantId, id: Uuid, now: DateTime<Utc>) -> DbResult<()> {
    const SQL: &str = "UPDATE deliveries SET state = 'sending', attempted_at = $3 WHERE tenant_id = $1 AND id = $2 AND state <> 'sent'";
    on_db!(db, pool => sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// [`mark_sending`] for many deliveries in one statement.
pub async fn mark_sending_many_pg(
    pool: sqlx::PgPool,
    marks: Vec<(TenantId, Uuid, DateTime<Utc>)>,
) -> DbResult<Vec<()>> {
    const SQL: &str = "UPDATE deliveries d SET state = 'sending', attempted_at = m.at \
                       FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[]) AS m(tenant_id, id, at) \
                       WHERE d.tenant_id = m.tenant_id AND d.id = m.id AND d.state <> 'sent'";
    sqlx::query(SQL)
        .bind(marks.iter().map(|(t, _, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(marks.iter().map(|(_, id, _)| *id).collect::<Vec<_>>())
        .bind(marks.iter().map(|(_, _, at)| *at).collect::<Vec<_>>())
        .execute(&pool)
        .await?;
    Ok(vec![(); marks.len()])
}

/// [`mark_sent`] for many deliveries in one statement.
pub async fn mark_sent_many_pg(
    pool: sqlx::PgPool,
    marks: Vec<(TenantId, Uuid, String, DateTime<Utc>)>,
) -> DbResult<Vec<()>> {
    const SQL: &str = "UPDATE deliveries d SET state = 'sent', remote_id = m.remote_id, sent_at = m.at \
                       FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) AS m(tenant_id, id, remote_id, at) \
                       WHERE d.tenant_id = m.tenant_id AND d.id = m.id";
    sqlx::query(SQL)
        .bind(marks.iter().map(|(t, _, _, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(marks.iter().map(|(_, id, _, _)| *id).collect::<Vec<_>>())
        .bind(marks.iter().map(|(_, _, r, _)| r.as_str()).collect::<Vec<_>>())
        .bind(marks.iter().map(|(_, _, _, at)| *at).collect::<Vec<_>>())
        .execute(&pool)
        .await?;
    Ok(vec![(); marks.len()])
}

/// Back to pending: the provider confirmed the call did not happen.
pub async fn mark_pending(db: &Db, tenant: TenantId, id: Uuid) -> DbResult<()> {
    const SQL: &str = "UPDATE deliveries SET state = 'pending' WHERE tenant_id = $1 AND id = $2 AND state = 'sending'";
    on_db!(db, pool => sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).execute(pool).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn mark_sent<'a>(
    exec: impl Into<Exec<'a>>,
    tenant: TenantId,
    id: Uuid,
    remote_id: &str,
    now: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str =
        "UPDATE deliveries SET state = 'sent', remote_id = $3, sent_at = $4 WHERE tenant_id = $1 AND id = $2";
    on_exec!(exec.into(), conn => {
        sqlx::query(SQL).bind(tenant.as_uuid()).bind(id).bind(remote_id).bind(now).execute(conn).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks a write made and logs it on the incidence's timeline, together: on PostgreSQL one
/// statement, a job's write that need not wait for the disk ([`Commit::Relaxed`]: lost in a
/// crash, the delivery is still `sending` and the job, run again, finds the write made).
pub async fn mark_sent_logged(
    db: &Db,
    tenant: TenantId,
    id: Uuid,
    remote_id: &str,
    incidence: IncidenceId,
    entry: &TimelineEntry,
) -> DbResult<()> {
    const PG: &str = "WITH sent AS (UPDATE deliveries SET state = 'sent', remote_id = $3, sent_at = $4 \
                      WHERE tenant_id = $1 AND id = $2) \
                      INSERT INTO timeline (id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
                      VALUES ($5, $1, $6, $7, $8, $9, $10, $11, $4) ON CONFLICT (incidence_id, kind, provider_ref) DO NOTHING";
    let Some(pool) = db.pg_for(Commit::Relaxed) else {
        let mut tx = db.begin().await?;
        mark_sent(&mut tx, tenant, id, remote_id, entry.at).await?;
        super::incidences::add_timeline(&mut tx, tenant, incidence, entry).await?;
        return tx.commit().await;
    };
    sqlx::query(PG)
        .bind(tenant.as_uuid())
        .bind(id)
        .bind(remote_id)
        .bind(entry.at)
        .bind(Uuid::now_v7())
        .bind(incidence.as_uuid())
        .bind(entry.kind.as_str())
        .bind(entry.actor.as_str())
        .bind(&entry.content)
        .bind(Json(&entry.metadata))
        .bind(&entry.provider_ref)
        .execute(pool)
        .await?;
    Ok(())
}

/// A write made, to mark and log with others ([`mark_sent_logged_many_pg`]).
#[derive(Debug, Clone)]
pub struct SentLogged {
    pub tenant: TenantId,
    pub delivery: Uuid,
    pub remote_id: String,
    pub incidence: IncidenceId,
    pub entry: TimelineEntry,
}

/// [`mark_sent_logged`] for many writes in one statement (on the pool for
/// [`Commit::Relaxed`]: see there).
pub async fn mark_sent_logged_many_pg(pool: sqlx::PgPool, marks: Vec<SentLogged>) -> DbResult<Vec<()>> {
    const SQL: &str = "WITH m AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], \
                         $6::uuid[], $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[]) \
                         AS m(tenant_id, delivery_id, remote_id, at, entry_id, incidence_id, kind, actor, content, metadata, \
                              provider_ref)), \
                      sent AS (UPDATE deliveries d SET state = 'sent', remote_id = m.remote_id, sent_at = m.at FROM m \
                         WHERE d.tenant_id = m.tenant_id AND d.id = m.delivery_id) \
                      INSERT INTO timeline (id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
                      SELECT entry_id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, at FROM m \
                      ON CONFLICT (incidence_id, kind, provider_ref) DO NOTHING";
    let n = marks.len();
    sqlx::query(SQL)
        .bind(marks.iter().map(|m| m.tenant.as_uuid()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.delivery).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.remote_id.as_str()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.entry.at).collect::<Vec<_>>())
        .bind(marks.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.incidence.as_uuid()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.entry.kind.as_str()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.entry.actor.as_str()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.entry.content.as_deref()).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| Json(&m.entry.metadata)).collect::<Vec<_>>())
        .bind(marks.iter().map(|m| m.entry.provider_ref.as_str()).collect::<Vec<_>>())
        .execute(&pool)
        .await?;
    Ok(vec![(); n])
}

/// Counts by state, for tests and diagnostics.
pub async fn count(db: &Db, tenant: TenantId, incidence: IncidenceId, kind: Kind, state: State) -> DbResult<i64> {
    const SQL: &str =
        "SELECT COUNT(*) FROM deliveries WHERE tenant_id = $1 AND incidence_id = $2 AND kind = $3 AND state = $4";
    Ok(on_read!(db, pool => {
        sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(incidence.as_uuid()).bind(kind.as_str()).bind(state.as_str()).fetch_one(pool).await
    })?)
}
