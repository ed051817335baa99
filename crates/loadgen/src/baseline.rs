//! What the database alone does: the ingest path's own inserts (`switchboard::inbox::accept`,
//! one webhook per transaction: the event row and its processing job) as fast as `concurrency`
//! tasks can, for a scratch tenant that is deleted afterwards with all its rows. A load
//! report's `accepted/s ÷ tx/s` says how close the server gets to its database.
//!
//! Run it while no Switchboard worker uses the database: a worker would pick up the scratch
//! tenant's jobs and compete with the inserts.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use domain::ids::TenantSlug;
use domain::money::Currency;
use hdrhistogram::Histogram;
use sandbox::{Sandbox, SandboxConfig};
use switchboard::db::{Db, Pool};
use switchboard::inbox::{self, Initial, NewEvent, Provider};
use switchboard::tenants::{NewTenant, TenantDirectory};
use tokio::time::Instant;

use crate::error::LoadError;
use crate::report::{Mode, Report, StatusCounts, Summary, WorkedOff, histogram, record_us};

#[derive(Clone, Debug, serde::Serialize)]
pub struct BaselineOptions {
    #[serde(skip)]
    pub database_url: String,
    pub concurrency: usize,
    #[serde(serialize_with = "secs")]
    pub warmup: Duration,
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Apply Switchboard's migrations first (a fresh database).
    pub migrate: bool,
    pub db_label: Option<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Distinct webhook bodies cycled through (each insert still gets its own dedupe key).
const BODIES: usize = 256;

pub async fn run(options: &BaselineOptions) -> Result<Report, LoadError> {
    let pool = u32::try_from(options.concurrency.max(1)).unwrap_or(u32::MAX);
    let db = Db::connect(&options.database_url, pool).await?;
    if options.migrate {
        db.migrate().await?;
    } else if !db.migrations_applied().await? {
        return Err(LoadError::Config(
            "the database has no Switchboard schema: run `switchboard migrate` (or pass --migrate)".into(),
        ));
    }
    let run_id = format!("{:08x}", fastrand::u32(..));
    let tenant = TenantDirectory::new(db.clone())
        .create(
            NewTenant {
                slug: TenantSlug::parse(format!("lg-baseline-{run_id}"))
                    .map_err(|e| LoadError::Config(format!("tenant slug: {e}")))?,
                name: "loadgen baseline (scratch)".into(),
                currency: Currency::INR,
                timezone: chrono_tz::Asia::Kolkata,
                settings: None,
            },
            Utc::now(),
        )
        .await?;
    let outcome = measure(&db, tenant.id, &run_id, options).await;
    // Always clean up: every row of the tenant goes with it (ON DELETE CASCADE).
    let cleaned = delete_tenant(&db, tenant.id).await;
    db.close().await;
    let report = outcome?;
    cleaned?;
    Ok(report)
}

async fn measure(
    db: &Db,
    tenant: domain::ids::TenantId,
    run_id: &str,
    options: &BaselineOptions,
) -> Result<Report, LoadError> {
    let templates = Arc::new(templates(tenant).await?);
    let started_at = Utc::now();
    let begin = Instant::now();
    let measured_from = begin + options.warmup;
    let end = measured_from + options.duration;
    let tasks: Vec<_> = (0..options.concurrency.max(1))
        .map(|worker| {
            let (db, templates) = (db.clone(), Arc::clone(&templates));
            tokio::spawn(async move {
                let mut h = histogram();
                let (mut ok, mut failed) = (0u64, 0u64);
                let mut n = worker;
                while Instant::now() < end {
                    let template = &templates[n % templates.len()];
                    n += 1;
                    let event = fresh(template);
                    let t0 = Instant::now();
                    let result = inbox::accept(&db, event).await;
                    if t0 < measured_from {
                        continue;
                    }
                    match result {
                        Ok(_) => {
                            ok += 1;
                            record_us(&mut h, u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                        }
                        Err(_) => failed += 1,
                    }
                }
                (h, ok, failed)
            })
        })
        .collect();
    let mut all: Histogram<u64> = histogram();
    let (mut ok, mut failed) = (0, 0);
    for task in tasks {
        let (h, o, f) = task
            .await
            .map_err(|e| LoadError::Config(format!("a baseline task failed: {e}")))?;
        // Same bounds everywhere, so adding cannot fail.
        let _ = all.add(&h);
        ok += o;
        failed += f;
    }
    let seconds = options.duration.as_secs_f64().max(1e-9);
    Ok(Report {
        mode: Mode::Baseline,
        run_id: run_id.to_string(),
        started_at,
        db_label: options.db_label.clone(),
        params: serde_json::to_value(options)?,
        duration_s: options.duration.as_secs_f64(),
        rate_asked: None,
        rate_achieved: (ok + failed) as f64 / seconds,
        accepted_per_s: ok as f64 / seconds,
        statuses: StatusCounts {
            sent: ok + failed,
            ok_2xx: ok,
            other_errors: failed,
            ..StatusCounts::default()
        },
        warmup: StatusCounts::default(),
        accept_latency_us: Summary::of(&all),
        service_time_us: Summary::of(&all),
        accept_latency_by_kind_us: Default::default(),
        effect_latency_us: Default::default(),
        worked_off_per_s: WorkedOff::default(),
        late_sends: 0,
        skipped_slots: 0,
        effects_missing: 0,
        duplicates: 0,
        misrouted: 0,
        rss: None,
        cpu: None,
        prepare_s: 0.0,
        drain_s: 0.0,
        baseline: None,
    })
}

/// A copy of `template` with its own identity, received now.
fn fresh(template: &NewEvent) -> NewEvent {
    NewEvent {
        dedupe_key: uuid::Uuid::new_v4().to_string(),
        received_at: Utc::now(),
        ..template.clone()
    }
}

/// Realistic events: Freshchat `message_create` bodies from the sandbox with the headers the
/// server keeps, and one in five a Freshdesk agent-reply trigger — the load tool's mix.
async fn templates(tenant: domain::ids::TenantId) -> Result<Vec<NewEvent>, LoadError> {
    let sandbox = Sandbox::new(SandboxConfig::default())?;
    let signature = "A".repeat(344); // an RSA-2048 signature's base64 length
    let mut out = Vec::with_capacity(BODIES);
    for i in 0..BODIES {
        let chat = sandbox
            .customer_says(
                &format!("baseline-{i}"),
                &crate::prepare::message_text(0, "lg-baseline"),
            )
            .await?;
        let (provider, body, headers) = if i % 5 == 4 {
            let body = format!(
                r#"{{"event":"agent_reply","ticket_id":"{}","conversation_id":"{}","comment":"<p>Yes, we can do that.</p>","agent_email":"asha.rao@sandbox.example","triggered_event":"{{reply_sent:sent}}"}}"#,
                1_000 + i,
                chat.conversation_id
            );
            (Provider::Freshdesk, body.into_bytes(), Vec::new())
        } else {
            let body = sandbox.message_create_body(&chat)?;
            let headers = vec![
                ("x-freshchat-signature".to_string(), signature.clone()),
                ("x-freshchat-payload-version".to_string(), "1".to_string()),
                ("x-retry-count".to_string(), "0".to_string()),
            ];
            (Provider::Freshchat, body, headers)
        };
        let mut headers = headers;
        headers.extend([
            ("content-type".to_string(), "application/json".to_string()),
            ("host".to_string(), "127.0.0.1:8000".to_string()),
            ("accept".to_string(), "*/*".to_string()),
            ("content-length".to_string(), body.len().to_string()),
            ("x-request-id".to_string(), uuid::Uuid::new_v4().to_string()),
        ]);
        out.push(NewEvent {
            tenant_id: tenant,
            provider,
            dedupe_key: String::new(),
            ordering_key: Some(format!("conv:{}", chat.conversation_id)),
            headers,
            body,
            received_at: Utc::now(),
            initial: Initial::Pending,
        });
    }
    Ok(out)
}

async fn delete_tenant(db: &Db, tenant: domain::ids::TenantId) -> Result<(), LoadError> {
    const SQL: &str = "DELETE FROM tenants WHERE id = $1";
    match db.pool() {
        Pool::Sqlite(pool) => sqlx::query(SQL).bind(tenant.as_uuid()).execute(pool).await.map(|_| ()),
        Pool::Pg(pool) => sqlx::query(SQL).bind(tenant.as_uuid()).execute(pool).await.map(|_| ()),
    }
    .map_err(|e| LoadError::Db(e.into()))?;
    Ok(())
}
