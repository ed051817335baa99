//! Recording a decision about an incidence: its new state, its timeline entries, the provider
//! writes it asks for and the jobs that follow — all of it or none, and only if nobody saved the
//! incidence since it was read (optimistic concurrency).
//!
//! Many records are written together: on PostgreSQL one statement for a whole batch (round
//! trips, not rows, are what a record costs there), on SQLite one transaction.

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use domain::incidence::{Incidence, TimelineEntry};
use domain::routing::RoutingSettings;
use sqlx::types::Json;
use uuid::Uuid;

use super::deliveries::{self, Kind, NewDelivery};
use super::incidences::add_timeline;
use super::{Commit, Db, DbResult, Pool, Tx, on_tx};
use crate::jobs::{NewJob, queue};

/// What the incidence was when the decision was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Not stored yet: inserted, unless another process inserted the conversation's first.
    New,
    /// Stored at this version: updated only if still at it.
    Version(i64),
    /// Stored, and the decision leaves it as it was: nothing to check.
    Unchanged,
}

/// A provider write to make once, with the job that makes it (enqueued only if the write is new:
/// a redelivered message is already recorded).
#[derive(Debug, Clone)]
pub struct Delivery {
    pub kind: Kind,
    /// What it copies (a message id): recorded once.
    pub source_ref: String,
    /// Its place in the order of sending.
    pub seq: i64,
    pub body: String,
    pub job: NewJob,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub tenant: TenantId,
    pub incidence: Incidence,
    pub base: Base,
    derived: Derived,
    pub timeline: Vec<TimelineEntry>,
    pub deliveries: Vec<Delivery>,
    pub jobs: Vec<NewJob>,
    pub now: DateTime<Utc>,
    /// Durable unless a job made it (see [`Commit::Relaxed`]).
    pub commit: Commit,
}

impl Record {
    pub fn new(
        tenant: TenantId,
        incidence: Incidence,
        base: Base,
        routing: &RoutingSettings,
        now: DateTime<Utc>,
    ) -> Record {
        Record {
            tenant,
            derived: derived(&incidence, routing),
            incidence,
            base,
            timeline: Vec::new(),
            deliveries: Vec::new(),
            jobs: Vec::new(),
            now,
            commit: Commit::Durable,
        }
    }

    fn has_jobs(&self) -> bool {
        !self.jobs.is_empty() || !self.deliveries.is_empty()
    }
}

/// Writes `records`; for each, whether it was saved (false: the incidence changed since it was
/// read, or its conversation's first incidence was inserted by someone else — read and decide
/// again). Records of one incidence must not share a call.
pub async fn save_all(db: &Db, records: &[Record]) -> DbResult<Vec<bool>> {
    let saved = match db.pool() {
        Pool::Pg(pool) => {
            let commit = Commit::of_all(records.iter().map(|r| r.commit));
            save_all_pg(db.pg_for(commit).unwrap_or(pool), records).await?
        }
        Pool::Sqlite(_) => {
            let mut tx = db.begin().await?;
            let mut saved = Vec::with_capacity(records.len());
            for r in records {
                saved.push(save_in(&mut tx, r).await?);
            }
            tx.commit().await?;
            saved
        }
    };
    if records.iter().zip(&saved).any(|(r, s)| *s && r.has_jobs()) {
        db.jobs_enqueued();
    }
    Ok(saved)
}

async fn save_in(tx: &mut Tx, r: &Record) -> DbResult<bool> {
    let saved = match r.base {
        Base::New => write_row(tx, r, None).await?,
        Base::Version(v) => write_row(tx, r, Some(v)).await?,
        Base::Unchanged => true,
    };
    if !saved {
        return Ok(false);
    }
    let (tenant, id) = (r.tenant, r.incidence.id);
    for entry in &r.timeline {
        add_timeline(tx, tenant, id, entry).await?;
    }
    for d in &r.deliveries {
        let new = NewDelivery {
            incidence: id,
            kind: d.kind,
            source_ref: &d.source_ref,
            seq: d.seq,
            body: &d.body,
        };
        if deliveries::add(&mut *tx, tenant, new, r.now).await? {
            queue::enqueue(&mut *tx, d.job.clone(), r.now).await?;
        }
    }
    for job in &r.jobs {
        queue::enqueue(&mut *tx, job.clone(), r.now).await?;
    }
    Ok(true)
}

/// The whole batch in one statement: incidences inserted or updated (version checked), then —
/// for those saved — timeline entries, deliveries, and jobs (a delivery's job only if the
/// delivery is new). Foreign keys are checked at the statement's end, when the new incidences
/// exist. Returns the ids of the saved incidences.
async fn save_all_pg(pool: &sqlx::PgPool, records: &[Record]) -> DbResult<Vec<bool>> {
    const SQL: &str = concat!(
        "WITH r AS (SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::int[], $14::text[], $15::int[], \
           $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::timestamptz[], \
           $24::timestamptz[], $25::bigint[], $26::timestamptz[], $27::jsonb[]) \
         AS r(id, tenant_id, version, channel, conversation_id, user_id, provider_user_id, order_id, stage, trigger, \
              app_screen, cart_value_minor, guest_count, event_type, friction_score, outcome, issue_category, root_cause, \
              resolution_type, order_impact, agent_id, priority, created_at, resolved_at, time_to_resolve_seconds, \
              last_activity_at, state)), \
         ins AS (INSERT INTO incidences (id, tenant_id, channel, conversation_id, user_id, provider_user_id, order_id, \
              stage, trigger, app_screen, cart_value_minor, guest_count, event_type, friction_score, outcome, \
              issue_category, root_cause, resolution_type, order_impact, agent_id, priority, created_at, resolved_at, \
              time_to_resolve_seconds, last_activity_at, state, version, updated_at) \
           SELECT id, tenant_id, channel, conversation_id, user_id, provider_user_id, order_id, stage, trigger, \
              app_screen, cart_value_minor, guest_count, event_type, friction_score, outcome, issue_category, root_cause, \
              resolution_type, order_impact, agent_id, priority, created_at, resolved_at, time_to_resolve_seconds, \
              last_activity_at, state, 1, $28 FROM r WHERE r.version = 0 \
           ON CONFLICT (tenant_id, channel, conversation_id) DO NOTHING RETURNING id), \
         upd AS (UPDATE incidences i SET user_id = r.user_id, provider_user_id = r.provider_user_id, \
              order_id = r.order_id, stage = r.stage, trigger = r.trigger, app_screen = r.app_screen, \
              cart_value_minor = r.cart_value_minor, guest_count = r.guest_count, event_type = r.event_type, \
              friction_score = r.friction_score, outcome = r.outcome, issue_category = r.issue_category, \
              root_cause = r.root_cause, resolution_type = r.resolution_type, order_impact = r.order_impact, \
              agent_id = r.agent_id, priority = r.priority, created_at = r.created_at, resolved_at = r.resolved_at, \
              time_to_resolve_seconds = r.time_to_resolve_seconds, last_activity_at = r.last_activity_at, \
              state = r.state, version = i.version + 1, updated_at = $28 \
           FROM r WHERE r.version > 0 AND i.tenant_id = r.tenant_id AND i.id = r.id AND i.version = r.version \
           RETURNING i.id), \
         saved AS (SELECT id FROM ins UNION ALL SELECT id FROM upd UNION ALL SELECT id FROM r WHERE r.version < 0), \
         tl AS (INSERT INTO timeline (id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
           SELECT t.* FROM UNNEST($29::uuid[], $30::uuid[], $31::uuid[], $32::text[], $33::text[], $34::text[], \
              $35::jsonb[], $36::text[], $37::timestamptz[]) \
             AS t(id, tenant_id, incidence_id, kind, actor, content, metadata, provider_ref, created_at) \
           WHERE t.incidence_id IN (SELECT id FROM saved) \
           ON CONFLICT (incidence_id, kind, provider_ref) DO NOTHING), \
         dl AS (INSERT INTO deliveries (id, tenant_id, incidence_id, kind, source_ref, seq, body, state, created_at) \
           SELECT d.id, d.tenant_id, d.incidence_id, d.kind, d.source_ref, d.seq, d.body, 'pending', $28 \
           FROM UNNEST($38::uuid[], $39::uuid[], $40::uuid[], $41::text[], $42::text[], $43::bigint[], $44::text[]) \
             AS d(id, tenant_id, incidence_id, kind, source_ref, seq, body) \
           WHERE d.incidence_id IN (SELECT id FROM saved) \
           ON CONFLICT (incidence_id, kind, source_ref) DO NOTHING RETURNING id), \
         jb AS (INSERT INTO jobs (tenant_id, kind, payload, priority, state, run_at, attempts, max_attempts, unique_key, \
              ordering_key, coalesce_key, created_at, updated_at) \
           SELECT j.tenant_id, j.kind, j.payload, j.priority, 'queued', ",
        queue::not_before_predecessors!("j.run_at", "j.ordering_key"),
        ", 0, j.max_attempts, j.unique_key, j.ordering_key, j.coalesce_key, $28, $28 \
           FROM UNNEST($45::uuid[], $46::uuid[], $47::text[], $48::jsonb[], $49::int[], $50::timestamptz[], $51::int[], \
              $52::text[], $53::text[], $54::text[], $55::uuid[]) WITH ORDINALITY \
             AS j(incidence_id, tenant_id, kind, payload, priority, run_at, max_attempts, unique_key, ordering_key, \
                  coalesce_key, after_delivery, n) \
           WHERE j.incidence_id IN (SELECT id FROM saved) \
             AND (j.after_delivery IS NULL OR j.after_delivery IN (SELECT id FROM dl)) \
           ORDER BY j.n ON CONFLICT DO NOTHING) \
         SELECT id FROM saved"
    );
    let now = records.first().map_or_else(crate::clock::now, |r| r.now);
    let b = Binds::of(records);
    let saved: Vec<Uuid> = sqlx::query_scalar(SQL)
        .bind(records.iter().map(|r| r.incidence.id.as_uuid()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.tenant.as_uuid()).collect::<Vec<_>>())
        .bind(records.iter().map(|r| version_code(r.base)).collect::<Vec<_>>())
        .bind(records.iter().map(|r| r.incidence.channel.as_str()).collect::<Vec<_>>())
        .bind(
            records
                .iter()
                .map(|r| r.incidence.conversation_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(column(records, |d| d.user_id.as_deref()))
        .bind(column(records, |d| d.provider_user_id.as_deref()))
        .bind(column(records, |d| d.order_id.as_deref()))
        .bind(column(records, |d| d.stage))
        .bind(column(records, |d| d.trigger))
        .bind(column(records, |d| d.app_screen.as_deref()))
        .bind(column(records, |d| d.cart_value_minor))
        .bind(column(records, |d| d.guest_count))
        .bind(column(records, |d| d.event_type.as_deref()))
        .bind(column(records, |d| d.friction_score))
        .bind(column(records, |d| d.outcome))
        .bind(column(records, |d| d.issue_category.as_deref()))
        .bind(column(records, |d| d.root_cause.as_deref()))
        .bind(column(records, |d| d.resolution_type.as_deref()))
        .bind(column(records, |d| d.order_impact))
        .bind(column(records, |d| d.agent_id.as_deref()))
        .bind(column(records, |d| d.priority))
        .bind(records.iter().map(|r| r.incidence.created_at).collect::<Vec<_>>())
        .bind(column(records, |d| d.resolved_at))
        .bind(column(records, |d| d.time_to_resolve_seconds))
        .bind(records.iter().map(|r| r.incidence.last_activity_at).collect::<Vec<_>>())
        .bind(records.iter().map(|r| Json(&r.incidence)).collect::<Vec<_>>())
        .bind(now)
        .bind(b.timeline.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .bind(b.timeline.iter().map(|(r, _)| r.tenant.as_uuid()).collect::<Vec<_>>())
        .bind(
            b.timeline
                .iter()
                .map(|(r, _)| r.incidence.id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(b.timeline.iter().map(|(_, e)| e.kind.as_str()).collect::<Vec<_>>())
        .bind(b.timeline.iter().map(|(_, e)| e.actor.as_str()).collect::<Vec<_>>())
        .bind(b.timeline.iter().map(|(_, e)| e.content.as_deref()).collect::<Vec<_>>())
        .bind(b.timeline.iter().map(|(_, e)| Json(&e.metadata)).collect::<Vec<_>>())
        .bind(
            b.timeline
                .iter()
                .map(|(_, e)| e.provider_ref.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(b.timeline.iter().map(|(_, e)| e.at).collect::<Vec<_>>())
        .bind(b.deliveries.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
        .bind(
            b.deliveries
                .iter()
                .map(|(_, r, _)| r.tenant.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            b.deliveries
                .iter()
                .map(|(_, r, _)| r.incidence.id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(b.deliveries.iter().map(|(_, _, d)| d.kind.as_str()).collect::<Vec<_>>())
        .bind(
            b.deliveries
                .iter()
                .map(|(_, _, d)| d.source_ref.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(b.deliveries.iter().map(|(_, _, d)| d.seq).collect::<Vec<_>>())
        .bind(b.deliveries.iter().map(|(_, _, d)| d.body.as_str()).collect::<Vec<_>>())
        .bind(
            b.jobs
                .iter()
                .map(|j| j.record.incidence.id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            b.jobs
                .iter()
                .map(|j| j.job.tenant_id.map(|t| t.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(b.jobs.iter().map(|j| j.job.kind.as_str()).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| Json(&j.job.payload)).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| j.job.priority).collect::<Vec<_>>())
        .bind(
            b.jobs
                .iter()
                .map(|j| j.job.run_at.unwrap_or(now).max(now))
                .collect::<Vec<_>>(),
        )
        .bind(b.jobs.iter().map(|j| j.job.max_attempts).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| j.job.unique_key.as_deref()).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| j.job.ordering_key.as_deref()).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| j.job.coalesce_key.as_deref()).collect::<Vec<_>>())
        .bind(b.jobs.iter().map(|j| j.after_delivery).collect::<Vec<_>>())
        .fetch_all(pool)
        .await?;
    Ok(records
        .iter()
        .map(|r| saved.contains(&r.incidence.id.as_uuid()))
        .collect())
}

/// `r.version` in the batch statement: 0 new, -1 unchanged, else the version read.
fn version_code(base: Base) -> i64 {
    match base {
        Base::New => 0,
        Base::Unchanged => -1,
        Base::Version(v) => v.max(1),
    }
}

fn column<'a, T>(records: &'a [Record], f: impl Fn(&'a Derived) -> T) -> Vec<T> {
    records.iter().map(|r| f(&r.derived)).collect()
}

/// The batch's timeline entries, deliveries (with the ids they get) and jobs, flattened.
struct Binds<'a> {
    timeline: Vec<(&'a Record, &'a TimelineEntry)>,
    deliveries: Vec<(Uuid, &'a Record, &'a Delivery)>,
    jobs: Vec<JobBind<'a>>,
}

struct JobBind<'a> {
    record: &'a Record,
    job: &'a NewJob,
    /// Enqueued only if this delivery is new.
    after_delivery: Option<Uuid>,
}

impl<'a> Binds<'a> {
    fn of(records: &'a [Record]) -> Binds<'a> {
        let mut b = Binds {
            timeline: Vec::new(),
            deliveries: Vec::new(),
            jobs: Vec::new(),
        };
        for r in records {
            b.timeline.extend(r.timeline.iter().map(|e| (r, e)));
            for d in &r.deliveries {
                let id = Uuid::now_v7();
                b.deliveries.push((id, r, d));
                b.jobs.push(JobBind {
                    record: r,
                    job: &d.job,
                    after_delivery: Some(id),
                });
            }
            b.jobs.extend(r.jobs.iter().map(|job| JobBind {
                record: r,
                job,
                after_delivery: None,
            }));
        }
        b
    }
}

/// The columns derived from the domain state, for filtering and listing.
fn derived(inc: &Incidence, routing: &RoutingSettings) -> Derived {
    let ctx = inc.start_context();
    let (outcome, order_impact) = inc.outcome();
    Derived {
        user_id: inc.user_id().map(|u| u.as_str().to_owned()),
        provider_user_id: inc.provider_user_id().map(str::to_owned),
        order_id: inc.order_id(),
        stage: inc.stage().as_str(),
        trigger: inc.trigger().as_str(),
        app_screen: ctx.map(|c| c.app_screen.clone()),
        cart_value_minor: ctx.map(|c| c.cart_value.minor()),
        guest_count: ctx
            .and_then(|c| c.guest_count)
            .map(|g| i32::try_from(g).unwrap_or(i32::MAX)),
        event_type: ctx.and_then(|c| c.event_type.clone()),
        friction_score: ctx.map(|c| i32::from(c.friction_score)),
        outcome: outcome.as_str(),
        issue_category: inc.issue_category(),
        root_cause: inc.root_cause(),
        resolution_type: inc.resolution_type(),
        order_impact: order_impact.as_str(),
        agent_id: inc.agent_id(),
        priority: inc.priority(routing).as_str(),
        resolved_at: inc.resolved_at(),
        time_to_resolve_seconds: inc.time_to_resolve_seconds(),
    }
}

#[derive(Debug, Clone)]
struct Derived {
    user_id: Option<String>,
    provider_user_id: Option<String>,
    order_id: Option<String>,
    stage: &'static str,
    trigger: &'static str,
    app_screen: Option<String>,
    cart_value_minor: Option<i64>,
    guest_count: Option<i32>,
    event_type: Option<String>,
    friction_score: Option<i32>,
    outcome: &'static str,
    issue_category: Option<String>,
    root_cause: Option<String>,
    resolution_type: Option<String>,
    order_impact: &'static str,
    agent_id: Option<String>,
    priority: &'static str,
    resolved_at: Option<DateTime<Utc>>,
    time_to_resolve_seconds: Option<i64>,
}

/// Writes the incidence's row: inserts it (`None`; false when another process inserted the
/// conversation's first), or updates it if nobody saved it since `version` was read.
async fn write_row(tx: &mut Tx, r: &Record, version: Option<i64>) -> DbResult<bool> {
    // One parameter order for both: $1 tenant, $2 id, $3–$24 the row, $25 now, then the
    // insert's channel and conversation ($26, $27) or the update's version ($26).
    const INSERT: &str = "INSERT INTO incidences (tenant_id, id, user_id, provider_user_id, order_id, stage, trigger, \
         app_screen, cart_value_minor, guest_count, event_type, friction_score, outcome, issue_category, root_cause, resolution_type, \
         order_impact, agent_id, priority, created_at, resolved_at, time_to_resolve_seconds, last_activity_at, state, updated_at, \
         channel, conversation_id, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
         $26, $27, 1) ON CONFLICT (tenant_id, channel, conversation_id) DO NOTHING";
    const UPDATE: &str = "UPDATE incidences SET user_id = $3, provider_user_id = $4, order_id = $5, stage = $6, trigger = $7, app_screen = $8, \
         cart_value_minor = $9, guest_count = $10, event_type = $11, friction_score = $12, outcome = $13, issue_category = $14, \
         root_cause = $15, resolution_type = $16, order_impact = $17, agent_id = $18, priority = $19, created_at = $20, resolved_at = $21, \
         time_to_resolve_seconds = $22, last_activity_at = $23, state = $24, version = version + 1, updated_at = $25 \
         WHERE tenant_id = $1 AND id = $2 AND version = $26";
    let (tenant, inc, d, now) = (r.tenant, &r.incidence, &r.derived, r.now);
    let n = on_tx!(tx, conn => {
        let q = sqlx::query(if version.is_some() { UPDATE } else { INSERT })
            .bind(tenant.as_uuid())
            .bind(inc.id.as_uuid())
            .bind(&d.user_id)
            .bind(&d.provider_user_id)
            .bind(&d.order_id)
            .bind(d.stage)
            .bind(d.trigger)
            .bind(&d.app_screen)
            .bind(d.cart_value_minor)
            .bind(d.guest_count)
            .bind(&d.event_type)
            .bind(d.friction_score)
            .bind(d.outcome)
            .bind(&d.issue_category)
            .bind(&d.root_cause)
            .bind(&d.resolution_type)
            .bind(d.order_impact)
            .bind(&d.agent_id)
            .bind(d.priority)
            .bind(inc.created_at)
            .bind(d.resolved_at)
            .bind(d.time_to_resolve_seconds)
            .bind(inc.last_activity_at)
            .bind(Json(inc))
            .bind(now);
        let q = match version {
            Some(v) => q.bind(v),
            None => q.bind(inc.channel.as_str()).bind(inc.conversation_id.as_str()),
        };
        q.execute(conn).await.map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
