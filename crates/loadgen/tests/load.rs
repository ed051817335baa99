//! A real, short load against an in-process Switchboard (its own SQLite file, or
//! `TEST_DATABASE_URL`): every accepted event has exactly one effect and the numbers add up.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantSlug;
use domain::money::Currency;
use figment::Figment;
use figment::providers::Serialized;
use loadgen::driver::{DriveOptions, Rate};
use loadgen::host::Target;
use loadgen::run::{RunOptions, run};
use loadgen::scenario::Mix;
use loadgen::{EventKind, Phase};
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::config::Config;
use switchboard::jobs::queue::ClaimScope;
use switchboard::startup::{Application, ServeOptions, spawn_worker};
use switchboard::tenants::NewTenant;
use tokio_util::sync::CancellationToken;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn config(dir: &std::path::Path) -> Result<Config, Box<dyn std::error::Error>> {
    let database_url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => format!("sqlite:{}", dir.join("switchboard.db").display()),
    };
    let figment = Figment::new()
        .merge(Serialized::default("database_url", database_url))
        .merge(Serialized::default("database_max_connections", "5"))
        .merge(Serialized::default("switchboard_addr", "127.0.0.1:0"))
        .merge(Serialized::default("switchboard_data_dir", dir.display().to_string()))
        .merge(Serialized::default(
            "switchboard_master_key",
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        ))
        .merge(Serialized::default("switchboard_poll_interval_ms", "200"))
        .merge(Serialized::default("switchboard_sandbox", "off"));
    Ok(Config::from_figment(&figment)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_load_is_exactly_once_and_adds_up() -> TestResult {
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let app = Application::build(
        config(&dir)?,
        ServeOptions {
            migrate: true,
            worker: false,
        },
    )
    .await?;
    let base = format!("http://{}/", app.local_addr());
    let state = app.state().clone();
    let registry = app.registry();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));

    // A tenant of its own, and a worker for its jobs only (the PostgreSQL database is shared).
    let slug = format!("lg-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let tenant = state
        .tenants
        .create(
            NewTenant {
                slug: TenantSlug::parse(slug)?,
                name: "Load test".into(),
                currency: Currency::INR,
                timezone: chrono_tz::Asia::Kolkata,
                settings: None,
            },
            chrono::Utc::now(),
        )
        .await?;
    let (key, _) = api_keys::create(&state.db, tenant.id, KeyKind::Secret, "loadgen", chrono::Utc::now()).await?;
    let worker = spawn_worker(
        &state,
        Arc::clone(&registry),
        ClaimScope {
            tenant: Some(tenant.id),
        },
        &shutdown,
    );

    let outcome = run(RunOptions {
        target: Target::new(base.parse()?, key),
        drive: DriveOptions {
            rate: Rate::PerSecond(50.0),
            warmup: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            max_in_flight: 1_000,
            seed: 7,
        },
        mix: Mix {
            think: Duration::from_millis(200),
            ..Mix::default()
        },
        hmac: false,
        sandbox: loadgen::host::sandbox_config(),
        sandbox_port: 0,
        drain: Duration::from_secs(30),
        prebuild_events: None,
        pid: Some(std::process::id()),
        db_label: Some("test".into()),
    })
    .await?;

    let (record, report, verify) = (&outcome.record, &outcome.report, &outcome.verify);
    assert!(verify.is_clean(), "{:#?}", verify.violations);
    assert!(report.is_correct());

    // Counts add up.
    let measured = record.events.iter().filter(|e| e.phase == Phase::Measured).count() as u64;
    let s = report.statuses;
    assert_eq!(s.sent, measured);
    assert_eq!(
        s.ok_2xx + s.overloaded_503 + s.other_errors + s.transport_errors,
        s.sent
    );
    assert_eq!(s.ok_2xx, s.sent, "50 events/s is far below capacity: {s:?}");
    assert_eq!(report.warmup.sent + s.sent, record.events.len() as u64);
    assert_eq!(record.events.len() as u64 + record.skipped_slots, 150);
    assert!((90..=110).contains(&s.sent), "2 s at 50/s: {}", s.sent);
    assert!((report.rate_achieved - 50.0).abs() < 5.0, "{}", report.rate_achieved);
    assert_eq!(report.accept_latency_us.count, s.ok_2xx);

    // Every kind happened, and every measured accepted event's effect was timed.
    for kind in EventKind::ALL {
        let accepted = record.measured().filter(|e| e.kind == kind && e.accepted()).count() as u64;
        assert!(accepted > 0, "no {kind:?} in {:?}", report.statuses);
        let effects = &report.effect_latency_us[kind.as_str()];
        assert_eq!(effects.count, accepted, "{kind:?}");
        assert!(effects.p50 > 0 && effects.max >= effects.p99, "{kind:?}: {effects:?}");
        assert_eq!(report.accept_latency_by_kind_us[kind.as_str()].count, accepted);
    }
    let rss = report.rss.ok_or("no memory samples")?;
    assert!(rss.idle_kib > 0 && rss.max_kib >= rss.idle_kib);
    let cpu = report.cpu.ok_or("no CPU readings")?;
    assert!(cpu.capacity_pct > 0.0 && cpu.loadgen_pct >= 0.0);
    assert!(report.table().contains("effect: agent_reply"));

    outcome.host.stop().await;
    shutdown.cancel();
    let _ = worker.await;
    let _ = server.await;
    Ok(())
}
