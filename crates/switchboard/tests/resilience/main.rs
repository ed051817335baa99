//! Switchboard as real processes under load (SPEC §11, §12, §15): `serve` and `worker` started
//! from the built binary, driven by the load tool with signed webhooks against a sandbox in this
//! process — killed with SIGKILL at random moments, served by a failing Freshdesk, or run as
//! several instances on one database. Afterwards the promises hold: every webhook answered 2xx is
//! in the database, every conversation has exactly one ticket, every customer message is exactly
//! one note, every agent reply reached the chat exactly once, and nothing is left dead.
//!
//! SQLite by default; PostgreSQL when `TEST_DATABASE_URL=postgres://…` is set (CI sets it).
//! Bounded: each test sends for about ten seconds and waits at most two minutes for the effects.
#![allow(clippy::unwrap_used)]

mod crash;
mod faults;
mod instances;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use loadgen::fleet::{Fleet, FleetConfig, Role, free_port};
use loadgen::record::markers_in;
use loadgen::{DriveOptions, Mix, Rate, RunOptions, RunOutcome, Target};
use switchboard::db::{Db, on_db};
use uuid::Uuid;

/// A database, a tenant of its own with a secret key, and a fleet of processes to start.
pub struct Stage {
    pub fleet: Fleet,
    pub db: Db,
    pub tenant: Uuid,
    pub key: String,
    pub postgres: bool,
}

/// Process settings that make a crash recover within the test's time: a killed worker's jobs
/// run again after 3 s, a provider call that hangs fails after 2 s.
const PROCESS_ENV: [(&str, &str); 4] = [
    ("SWITCHBOARD_JOB_LEASE_SECS", "3"),
    ("SWITCHBOARD_POLL_INTERVAL_MS", "100"),
    ("SWITCHBOARD_PROVIDER_TIMEOUT_SECS", "2"),
    ("DATABASE_MAX_CONNECTIONS", "8"),
];

/// How long the effects may take to show once sending stopped (crash recovery included).
const DRAIN: Duration = Duration::from_secs(120);

impl Stage {
    pub async fn new(name: &str) -> Stage {
        let id = Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("sb-{name}-{id}"));
        let database_url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => format!("sqlite:{}", dir.join("switchboard.db").display()),
        };
        let fleet = Fleet::new(FleetConfig {
            binary: PathBuf::from(env!("CARGO_BIN_EXE_switchboard")),
            database_url: database_url.clone(),
            dir,
            env: PROCESS_ENV
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .unwrap();
        fleet.run(&["migrate"]).await.unwrap();
        let slug = format!("{name}-{}", &id[..10]);
        let key = fleet.tenant_with_key(&slug).await.unwrap();
        let db = Db::connect(&database_url, 2).await.unwrap();
        const TENANT: &str = "SELECT id FROM tenants WHERE slug = $1";
        let tenant: Uuid = on_db!(&db, pool => sqlx::query_scalar(TENANT).bind(&slug).fetch_one(pool).await).unwrap();
        Stage {
            fleet,
            db,
            tenant,
            key,
            postgres: database_url.starts_with("postgres"),
        }
    }

    /// Starts a `serve` on a free port (with its own job worker or not); its fleet index.
    pub async fn serve(&mut self, worker: bool) -> usize {
        let role = Role::Serve {
            port: free_port().unwrap(),
            worker,
        };
        self.fleet.add(role).await.unwrap()
    }

    /// The tenant's key against the `serve` processes at these fleet indexes.
    pub fn target(&self, servers: &[usize]) -> Target {
        let mut urls = servers.iter().map(|&i| self.fleet.base_url(i).unwrap());
        let mut target = Target::new(urls.next().expect("a server"), self.key.clone());
        target.also = urls.collect();
        target
    }

    /// A load at `rate` events/s for `seconds`, with a request log long enough to keep every
    /// provider call.
    pub fn load(&self, target: Target, rate: f64, seconds: u64, seed: u64) -> RunOptions {
        let mut sandbox = loadgen::host::sandbox_config();
        sandbox.log_capacity = 1_000_000;
        RunOptions {
            target,
            drive: DriveOptions {
                rate: Rate::PerSecond(rate),
                warmup: Duration::ZERO,
                duration: Duration::from_secs(seconds),
                max_in_flight: 10_000,
                seed,
            },
            mix: Mix {
                think: Duration::from_millis(300),
                ..Mix::default()
            },
            hmac: false,
            sandbox,
            sandbox_port: 0,
            drain: DRAIN,
            prebuild_events: None,
            pid: None,
            db_label: None,
        }
    }

    /// `sql` counts with the tenant as `$1` and, when given, a time as `$2`.
    async fn count(&self, sql: &'static str, at: Option<chrono::DateTime<chrono::Utc>>) -> i64 {
        on_db!(&self.db, pool => {
            let query = sqlx::query_scalar(sql).bind(self.tenant);
            let query = match at {
                Some(at) => query.bind(at),
                None => query,
            };
            query.fetch_one(pool).await
        })
        .unwrap()
    }

    /// Waits until none of the tenant's jobs is due or running: everything accepted has been
    /// worked off (jobs scheduled for later, such as a retry's backoff, count as due when due).
    pub async fn until_idle(&self) {
        const BUSY: &str = "SELECT COUNT(*) FROM jobs WHERE tenant_id = $1 \
                            AND (state = 'running' OR (state = 'queued' AND run_at <= $2))";
        let started = Instant::now();
        let mut busy = self.count(BUSY, Some(switchboard::clock::now())).await;
        while busy > 0 {
            assert!(
                started.elapsed() < DRAIN,
                "{busy} jobs still due or running after {DRAIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            busy = self.count(BUSY, Some(switchboard::clock::now())).await;
        }
    }

    /// What every test checks at the end, once the queue is idle: exactly-once effects (read
    /// again now, so a late duplicate is caught), every 2xx webhook stored, no job dead.
    pub async fn assert_promises_kept(&self, outcome: &RunOutcome) {
        let record = &outcome.record;
        assert!(outcome.verify.is_clean(), "{:#?}", outcome.verify.violations);
        self.until_idle().await;
        let again = loadgen::verify::verify(&outcome.host.sandbox.inspect(), record);
        assert!(again.is_clean(), "after the queue emptied: {:#?}", again.violations);
        assert!(
            again.customer_messages_checked > 0 && again.agent_replies_checked > 0,
            "{again:?}"
        );

        const BODIES: &str = "SELECT body FROM inbox_events WHERE tenant_id = $1";
        let bodies: Vec<Vec<u8>> =
            on_db!(&self.db, pool => sqlx::query_scalar(BODIES).bind(self.tenant).fetch_all(pool).await).unwrap();
        let stored: HashSet<u64> = bodies
            .iter()
            .flat_map(|b| markers_in(&String::from_utf8_lossy(b), &record.run_id))
            .collect();
        let lost: Vec<&str> = record
            .accepted()
            .filter(|e| !stored.contains(&e.seq))
            .map(|e| e.marker.as_str())
            .collect();
        assert!(lost.is_empty(), "answered 2xx but not in the inbox: {lost:?}");

        const DEAD: &str = "SELECT COUNT(*) FROM jobs WHERE tenant_id = $1 AND state = 'dead'";
        assert_eq!(self.count(DEAD, None).await, 0, "dead jobs");
    }
}
