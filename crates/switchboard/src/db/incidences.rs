//! Incidences, their timeline, and the sync bookkeeping stored beside them.

use chrono::{DateTime, Utc};
use domain::ids::{ConversationId, IncidenceId, TenantId};
use domain::incidence::{Channel, Incidence, TimelineEntry};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

use super::grouped::answer_each;
use super::{Db, DbResult, Exec, Pool, Tx, on_db, on_exec, on_read, on_tx};
use crate::jobs::NewJob;

/// Helpdesk and chat sync state: the shell's, not the domain's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    pub freshdesk_ticket_id: Option<i64>,
    /// A ticket create was sent at this time and its outcome was not seen.
    pub ticket_create_started_at: Option<DateTime<Utc>>,
    /// That create timed out or broke after sending: the ticket may exist.
    pub ticket_create_uncertain: bool,
    /// The ticket status Freshdesk last reported or accepted.
    pub ticket_status: Option<i32>,
    /// Whether Freshchat last reported the conversation resolved.
    pub chat_resolved: Option<bool>,
    /// Custom field values last written to the ticket.
    pub fields_synced: Option<serde_json::Value>,
}

impl SyncState {
    /// What [`update_sync`] makes of these columns, without reading them back.
    pub fn apply(&mut self, u: &SyncUpdate) {
        if let Some(id) = u.freshdesk_ticket_id {
            self.freshdesk_ticket_id = Some(id);
        }
        if let Some(started) = u.ticket_create_started_at {
            self.ticket_create_started_at = started;
        }
        if let Some(uncertain) = u.ticket_create_uncertain {
            self.ticket_create_uncertain = uncertain;
        }
        if let Some(status) = u.ticket_status {
            self.ticket_status = Some(status);
        }
        if let Some(resolved) = u.chat_resolved {
            self.chat_resolved = Some(resolved);
        }
        if let Some(fields) = &u.fields_synced {
            self.fields_synced = Some(fields.clone());
        }
    }
}

/// An incidence as stored: the domain state, its version, the sync state.
#[derive(Debug, Clone)]
pub struct Stored {
    pub tenant_id: TenantId,
    pub incidence: Incidence,
    pub version: i64,
    pub sync: SyncState,
}

#[derive(sqlx::FromRow)]
struct Row {
    tenant_id: Uuid,
    state: Json<Incidence>,
    version: i64,
    freshdesk_ticket_id: Option<i64>,
    ticket_create_started_at: Option<DateTime<Utc>>,
    ticket_create_uncertain: bool,
    ticket_status: Option<i32>,
    chat_resolved: Option<bool>,
    fields_synced: Option<Json<serde_json::Value>>,
}

impl From<Row> for Stored {
    fn from(r: Row) -> Stored {
        Stored {
            tenant_id: TenantId(r.tenant_id),
            incidence: r.state.0,
            version: r.version,
            sync: SyncState {
                freshdesk_ticket_id: r.freshdesk_ticket_id,
                ticket_create_started_at: r.ticket_create_started_at,
                ticket_create_uncertain: r.ticket_create_uncertain,
                ticket_status: r.ticket_status,
                chat_resolved: r.chat_resolved,
                fields_synced: r.fields_synced.map(|j| j.0),
            },
        }
    }
}

macro_rules! select_stored {
    ($rest:literal) => {
        concat!(
            "SELECT tenant_id, state, version, freshdesk_ticket_id, ticket_create_started_at, ticket_create_uncertain, \
             ticket_status, chat_resolved, fields_synced FROM incidences ",
            $rest
        )
    };
}

pub async fn by_conversation(
    db: &Db,
    tenant: TenantId,
    channel: Channel,
    conversation: &ConversationId,
) -> DbResult<Option<Stored>> {
    const SQL: &str = select_stored!("WHERE tenant_id = $1 AND channel = $2 AND conversation_id = $3");
    let row: Option<Row> = on_read!(db, pool => {
        sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(channel.as_str()).bind(conversation.as_str()).fetch_optional(pool).await
    })?;
    Ok(row.map(Stored::from))
}

pub async fn by_id(db: &Db, tenant: TenantId, id: IncidenceId) -> DbResult<Option<Stored>> {
    const SQL: &str = select_stored!("WHERE tenant_id = $1 AND id = $2");
    let row: Option<Row> =
        on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(id.as_uuid()).fetch_optional(pool).await)?;
    Ok(row.map(Stored::from))
}

/// [`by_conversation`] for many conversations in one statement.
pub async fn by_conversations_pg(
    pool: sqlx::PgPool,
    keys: Vec<(TenantId, Channel, ConversationId)>,
) -> DbResult<Vec<Option<Stored>>> {
    const SQL: &str = select_stored!(
        "WHERE (tenant_id, channel, conversation_id) IN (SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[]))"
    );
    let rows: Vec<Row> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, ch, _)| ch.as_str()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, _, c)| c.as_str()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let found: Vec<Stored> = rows.into_iter().map(Stored::from).collect();
    Ok(answer_each(&keys, &found, |(t, ch, c), s| {
        s.tenant_id == *t && s.incidence.channel == *ch && s.incidence.conversation_id == *c
    }))
}

/// [`by_id`] for many incidences in one statement.
pub async fn by_ids_pg(pool: sqlx::PgPool, keys: Vec<(TenantId, IncidenceId)>) -> DbResult<Vec<Option<Stored>>> {
    const SQL: &str = select_stored!("WHERE (tenant_id, id) IN (SELECT * FROM UNNEST($1::uuid[], $2::uuid[]))");
    let rows: Vec<Row> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, id)| id.as_uuid()).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let found: Vec<Stored> = rows.into_iter().map(Stored::from).collect();
    Ok(answer_each(&keys, &found, |(t, id), s| {
        s.tenant_id == *t && s.incidence.id == *id
    }))
}

pub async fn by_ticket(db: &Db, tenant: TenantId, ticket_id: i64) -> DbResult<Option<Stored>> {
    const SQL: &str = select_stored!("WHERE tenant_id = $1 AND freshdesk_ticket_id = $2");
    let row: Option<Row> =
        on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(ticket_id).fetch_optional(pool).await)?;
    Ok(row.map(Stored::from))
}

/// [`by_ticket`] for many tickets in one statement.
pub async fn by_tickets_pg(pool: sqlx::PgPool, keys: Vec<(TenantId, i64)>) -> DbResult<Vec<Option<Stored>>> {
    const SQL: &str =
        select_stored!("WHERE (tenant_id, freshdesk_ticket_id) IN (SELECT * FROM UNNEST($1::uuid[], $2::bigint[]))");
    let rows: Vec<Row> = sqlx::query_as(SQL)
        .bind(keys.iter().map(|(t, _)| t.as_uuid()).collect::<Vec<_>>())
        .bind(keys.iter().map(|(_, ticket)| *ticket).collect::<Vec<_>>())
        .fetch_all(&pool)
        .await?;
    let found: Vec<Stored> = rows.into_iter().map(Stored::from).collect();
    Ok(answer_each(&keys, &found, |(t, ticket), s| {
        s.tenant_id == *t && s.sync.freshdesk_ticket_id == Some(*ticket)
    }))
}

/// Adds a timeline entry unless the same provider thing is already logged; true when added.
pub async fn add_timeline(tx: &mut Tx, tenant: TenantId, incidence: IncidenceId, e: &TimelineEntry) -> DbResult<bool> {
    const SQL: &str = "INSERT INTO timeline (id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (incidence_id, kind, provider_ref) DO NOTHING";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(Uuid::now_v7())
            .bind(tenant.as_uuid())
            .bind(incidence.as_uuid())
            .bind(e.kind.as_str())
            .bind(e.actor.as_str())
            .bind(&e.content)
            .bind(Json(&e.metadata))
            .bind(&e.provider_ref)
            .bind(e.at)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// A timeline entry as listed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct TimelineRow {
    pub kind: String,
    pub actor: String,
    pub content: Option<String>,
    #[serde(skip)]
    pub metadata_json: Json<serde_json::Value>,
    pub provider_ref: String,
    pub created_at: DateTime<Utc>,
}

pub async fn timeline(db: &Db, tenant: TenantId, incidence: IncidenceId) -> DbResult<Vec<TimelineRow>> {
    const SQL: &str = "SELECT kind, actor, content, metadata AS metadata_json, provider_ref, created_at FROM timeline \
                       WHERE tenant_id = $1 AND incidence_id = $2 ORDER BY created_at, id";
    Ok(
        on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(incidence.as_uuid()).fetch_all(pool).await)?,
    )
}

/// Sets the sync columns given as `Some`.
#[derive(Debug, Clone, Default)]
pub struct SyncUpdate {
    pub freshdesk_ticket_id: Option<i64>,
    pub ticket_create_started_at: Option<Option<DateTime<Utc>>>,
    pub ticket_create_uncertain: Option<bool>,
    pub ticket_status: Option<i32>,
    pub chat_resolved: Option<bool>,
    pub fields_synced: Option<serde_json::Value>,
}

/// The SET list of a [`SyncUpdate`] ($3–$10, bound by [`bind_sync!`]): COALESCE keeps a column
/// when its parameter is NULL; the started-at column can also be cleared, so it has its own
/// "set" flag.
macro_rules! set_sync {
    () => {
        "freshdesk_ticket_id = COALESCE($3, freshdesk_ticket_id), \
         ticket_create_started_at = CASE WHEN $4 THEN $5 ELSE ticket_create_started_at END, \
         ticket_create_uncertain = COALESCE($6, ticket_create_uncertain), ticket_status = COALESCE($7, ticket_status), \
         chat_resolved = COALESCE($8, chat_resolved), fields_synced = COALESCE($9, fields_synced), updated_at = $10"
    };
}

/// Binds $3–$10 of [`set_sync!`].
macro_rules! bind_sync {
    ($q:expr, $u:expr, $now:expr) => {
        $q.bind($u.freshdesk_ticket_id)
            .bind($u.ticket_create_started_at.is_some())
            .bind($u.ticket_create_started_at.flatten())
            .bind($u.ticket_create_uncertain)
            .bind($u.ticket_status)
            .bind($u.chat_resolved)
            .bind($u.fields_synced.as_ref().map(Json))
            .bind($now)
    };
}

pub async fn update_sync<'a>(
    exec: impl Into<Exec<'a>>,
    tenant: TenantId,
    id: IncidenceId,
    u: &SyncUpdate,
    now: DateTime<Utc>,
) -> DbResult<()> {
    const SQL: &str = concat!(
        "UPDATE incidences SET ",
        set_sync!(),
        " WHERE tenant_id = $1 AND id = $2"
    );
    on_exec!(exec.into(), conn => {
        bind_sync!(sqlx::query(SQL).bind(tenant.as_uuid()).bind(id.as_uuid()), u, now)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// One incidence's [`SyncUpdate`], to apply with others in one statement.
#[derive(Debug)]
pub struct SyncMark {
    pub tenant: TenantId,
    pub id: IncidenceId,
    pub update: SyncUpdate,
    pub now: DateTime<Utc>,
}

/// [`update_sync`] for many incidences, one statement per round. An `UPDATE … FROM` applies
/// only one of several rows that match the same incidence, so a second update of an incidence
/// goes in the next round, after the first.
pub async fn update_sync_many_pg(pool: sqlx::PgPool, marks: Vec<SyncMark>) -> DbResult<Vec<()>> {
    const SQL: &str = "UPDATE incidences i SET \
           freshdesk_ticket_id = COALESCE(m.ticket_id, i.freshdesk_ticket_id), \
           ticket_create_started_at = CASE WHEN m.set_started THEN m.started ELSE i.ticket_create_started_at END, \
           ticket_create_uncertain = COALESCE(m.uncertain, i.ticket_create_uncertain), \
           ticket_status = COALESCE(m.status, i.ticket_status), chat_resolved = COALESCE(m.resolved, i.chat_resolved), \
           fields_synced = COALESCE(m.fields, i.fields_synced), updated_at = m.now \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::bool[], $5::timestamptz[], $6::bool[], $7::int[], \
                     $8::bool[], $9::jsonb[], $10::timestamptz[]) \
           AS m(tenant_id, id, ticket_id, set_started, started, uncertain, status, resolved, fields, now) \
         WHERE i.tenant_id = m.tenant_id AND i.id = m.id";
    let n = marks.len();
    for round in super::grouped::rounds(&marks, |m| (m.tenant, m.id)) {
        sqlx::query(SQL)
            .bind(round.iter().map(|m| m.tenant.as_uuid()).collect::<Vec<_>>())
            .bind(round.iter().map(|m| m.id.as_uuid()).collect::<Vec<_>>())
            .bind(round.iter().map(|m| m.update.freshdesk_ticket_id).collect::<Vec<_>>())
            .bind(
                round
                    .iter()
                    .map(|m| m.update.ticket_create_started_at.is_some())
                    .collect::<Vec<_>>(),
            )
            .bind(
                round
                    .iter()
                    .map(|m| m.update.ticket_create_started_at.flatten())
                    .collect::<Vec<_>>(),
            )
            .bind(
                round
                    .iter()
                    .map(|m| m.update.ticket_create_uncertain)
                    .collect::<Vec<_>>(),
            )
            .bind(round.iter().map(|m| m.update.ticket_status).collect::<Vec<_>>())
            .bind(round.iter().map(|m| m.update.chat_resolved).collect::<Vec<_>>())
            .bind(
                round
                    .iter()
                    .map(|m| m.update.fields_synced.as_ref().map(Json))
                    .collect::<Vec<_>>(),
            )
            .bind(round.iter().map(|m| m.now).collect::<Vec<_>>())
            .execute(&pool)
            .await?;
    }
    Ok(vec![(); n])
}

/// A relay found no ticket to read replies from: remembers that one is wanted, unless the
/// ticket became known meanwhile (`false`: read the incidence again). One statement, so it
/// cannot slip between an adoption's write and its [`take_replies_waiting`].
pub async fn wait_for_ticket(db: &Db, tenant: TenantId, id: IncidenceId) -> DbResult<bool> {
    const SQL: &str = "UPDATE incidences SET replies_waiting = TRUE \
                       WHERE tenant_id = $1 AND id = $2 AND freshdesk_ticket_id IS NULL";
    let n = on_db!(db, pool => {
        sqlx::query(SQL)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// With the ticket being adopted in `tx`: whether a relay was waiting for it (and no longer).
pub async fn take_replies_waiting(tx: &mut Tx, tenant: TenantId, id: IncidenceId) -> DbResult<bool> {
    const SQL: &str = "UPDATE incidences SET replies_waiting = FALSE \
                       WHERE tenant_id = $1 AND id = $2 AND replies_waiting";
    let n = on_tx!(tx, conn => {
        sqlx::query(SQL)
            .bind(tenant.as_uuid())
            .bind(id.as_uuid())
            .execute(conn)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// The tenant's open incidences with a ticket for this customer (for live field sync).
pub async fn open_with_ticket_for_user(db: &Db, tenant: TenantId, user_id: &str) -> DbResult<Vec<IncidenceId>> {
    const SQL: &str = "SELECT id FROM incidences WHERE tenant_id = $1 AND user_id = $2 AND outcome = 'IN_PROGRESS' \
                       AND freshdesk_ticket_id IS NOT NULL ORDER BY created_at";
    let ids: Vec<Uuid> =
        on_read!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(user_id).fetch_all(pool).await)?;
    Ok(ids.into_iter().map(IncidenceId).collect())
}

/// The customer's latest incidence created in `[from, to]` (for linking orders).
pub async fn latest_for_user_between(
    db: &Db,
    tenant: TenantId,
    user_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DbResult<Option<Stored>> {
    const SQL: &str = select_stored!(
        "WHERE tenant_id = $1 AND user_id = $2 AND created_at >= $3 AND created_at <= $4 ORDER BY created_at DESC LIMIT 1"
    );
    let row: Option<Row> = on_read!(db, pool => {
        sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(user_id).bind(from).bind(to).fetch_optional(pool).await
    })?;
    Ok(row.map(Stored::from))
}

/// Ids of the tenant's open incidences, oldest first, after `after` (for sync-all).
pub async fn open_ids(db: &Db, tenant: TenantId, after: Option<IncidenceId>, limit: i64) -> DbResult<Vec<IncidenceId>> {
    const SQL: &str =
        "SELECT id FROM incidences WHERE tenant_id = $1 AND outcome = 'IN_PROGRESS' AND id > $2 ORDER BY id LIMIT $3";
    let after = after.map_or(Uuid::nil(), |a| a.as_uuid());
    let ids: Vec<Uuid> = on_read!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).bind(after).bind(limit).fetch_all(pool).await)?;
    Ok(ids.into_iter().map(IncidenceId).collect())
}

pub async fn count_open(db: &Db, tenant: TenantId) -> DbResult<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM incidences WHERE tenant_id = $1 AND outcome = 'IN_PROGRESS'";
    Ok(on_read!(db, pool => sqlx::query_scalar(SQL).bind(tenant.as_uuid()).fetch_one(pool).await)?)
}

impl Stored {
    pub fn id(&self) -> IncidenceId {
        self.incidence.id
    }
}

/// An incidence as listed: the derived columns.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Summary {
    pub id: Uuid,
    pub channel: String,
    pub conversation_id: String,
    pub user_id: Option<String>,
    pub order_id: Option<String>,
    pub stage: String,
    pub trigger: String,
    pub app_screen: Option<String>,
    pub cart_value_minor: Option<i64>,
    pub guest_count: Option<i32>,
    pub event_type: Option<String>,
    pub friction_score: Option<i32>,
    pub outcome: String,
    pub issue_category: Option<String>,
    pub root_cause: Option<String>,
    pub resolution_type: Option<String>,
    pub order_impact: String,
    pub agent_id: Option<String>,
    pub priority: String,
    pub freshdesk_ticket_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub time_to_resolve_seconds: Option<i64>,
    pub last_activity_at: DateTime<Utc>,
}

/// Filters for listing; empty strings and `None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub outcome: Option<String>,
    pub channel: Option<String>,
    pub stage: Option<String>,
    pub user_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Continue after this (created_at, id): newest first.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

macro_rules! select_summary {
    ($rest:literal) => {
        concat!(
            "SELECT id, channel, conversation_id, user_id, order_id, stage, trigger, app_screen, cart_value_minor, guest_count, \
             event_type, friction_score, outcome, issue_category, root_cause, resolution_type, order_impact, agent_id, priority, \
             freshdesk_ticket_id, created_at, resolved_at, time_to_resolve_seconds, last_activity_at FROM incidences ",
            $rest
        )
    };
}

pub async fn list(db: &Db, tenant: TenantId, f: &ListFilter) -> DbResult<Vec<Summary>> {
    const SQL: &str = select_summary!(
        "WHERE tenant_id = $1 AND ($2 = '' OR outcome = $2) AND ($3 = '' OR channel = $3) AND ($4 = '' OR stage = $4) \
         AND ($5 = '' OR user_id = $5) AND created_at >= $6 AND created_at < $7 \
         AND (created_at < $8 OR (created_at = $8 AND id < $9)) \
         ORDER BY created_at DESC, id DESC LIMIT $10"
    );
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    // Plain four-digit years: SQLite compares these timestamps as text.
    let far_past = DateTime::<Utc>::UNIX_EPOCH;
    let far_future = DateTime::parse_from_rfc3339("9999-12-31T00:00:00Z").map_or(far_past, |t| t.with_timezone(&Utc));
    let (after_at, after_id) = f.after.unwrap_or((far_future, Uuid::max()));
    Ok(on_read!(db, pool => {
        sqlx::query_as(SQL)
            .bind(tenant.as_uuid())
            .bind(text(&f.outcome))
            .bind(text(&f.channel))
            .bind(text(&f.stage))
            .bind(text(&f.user_id))
            .bind(f.from.unwrap_or(far_past))
            .bind(f.to.unwrap_or(far_future))
            .bind(after_at)
            .bind(after_id)
            .bind(f.limit)
            .fetch_all(pool)
            .await
    })?)
}

pub async fn summary(db: &Db, tenant: TenantId, id: IncidenceId) -> DbResult<Option<Summary>> {
    const SQL: &str = select_summary!("WHERE tenant_id = $1 AND id = $2");
    Ok(on_read!(db, pool => sqlx::query_as(SQL).bind(tenant.as_uuid()).bind(id.as_uuid()).fetch_optional(pool).await)?)
}

/// A ticket found or made for an incidence, to record.
pub struct Adoption<'a> {
    /// The sync columns it sets.
    pub update: &'a SyncUpdate,
    /// The message that became the ticket's description (delivery id, remote id): sent.
    pub description: Option<(Uuid, &'a str)>,
    pub entry: &'a TimelineEntry,
    /// Enqueued if a reply relay was waiting for the ticket ([`wait_for_ticket`]).
    pub relay: NewJob,
}

/// Records an [`Adoption`]: all or nothing; on PostgreSQL one statement.
pub async fn adopt_ticket(
    db: &Db,
    tenant: TenantId,
    id: IncidenceId,
    a: Adoption<'_>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let Adoption {
        update,
        description,
        entry,
        relay,
    } = a;
    const PG: &str = concat!(
        "WITH old AS (SELECT replies_waiting FROM incidences WHERE tenant_id = $1 AND id = $2 FOR UPDATE), \
         upd AS (UPDATE incidences SET replies_waiting = FALSE, ",
        set_sync!(),
        " WHERE tenant_id = $1 AND id = $2), \
         sent AS (UPDATE deliveries SET state = 'sent', remote_id = $11, sent_at = $10 WHERE tenant_id = $1 AND id = $12), \
         tl AS (INSERT INTO timeline (id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
              VALUES ($13, $1, $2, $14, $15, $16, $17, $18, $19) ON CONFLICT (incidence_id, kind, provider_ref) DO NOTHING) \
         INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, unique_key, \
              ordering_key, coalesce_key, created_at, updated_at) \
         SELECT $1, $20, $21, $22, 'queued', ",
        crate::jobs::queue::not_before_predecessors!("$10", "$24"),
        ", 0, $23, $26, $24, $25, $10, $10 FROM old WHERE old.replies_waiting ON CONFLICT DO NOTHING RETURNING id"
    );
    let Pool::Pg(pool) = db.pool() else {
        let mut tx = db.begin().await?;
        update_sync(&mut tx, tenant, id, update, now).await?;
        // An agent replied on the ticket before it was known here (its create's answer was
        // lost): relay now.
        if take_replies_waiting(&mut tx, tenant, id).await? {
            crate::jobs::queue::enqueue(&mut tx, relay, now).await?;
        }
        if let Some((delivery, remote_id)) = description {
            super::deliveries::mark_sent(&mut tx, tenant, delivery, remote_id, now).await?;
        }
        add_timeline(&mut tx, tenant, id, entry).await?;
        return tx.commit().await;
    };
    let relayed: Option<i64> = bind_sync!(
        sqlx::query_scalar(PG).bind(tenant.as_uuid()).bind(id.as_uuid()),
        update,
        now
    )
    .bind(description.map(|(_, remote)| remote))
    .bind(description.map(|(d, _)| d))
    .bind(Uuid::now_v7())
    .bind(entry.kind.as_str())
    .bind(entry.actor.as_str())
    .bind(&entry.content)
    .bind(Json(&entry.metadata))
    .bind(&entry.provider_ref)
    .bind(entry.at)
    .bind(&relay.kind)
    .bind(Json(&relay.payload))
    .bind(relay.priority)
    .bind(relay.max_attempts)
    .bind(&relay.ordering_key)
    .bind(&relay.coalesce_key)
    .bind(&relay.unique_key)
    .fetch_optional(pool)
    .await?;
    if relayed.is_some() {
        db.jobs_enqueued();
    }
    Ok(())
}
