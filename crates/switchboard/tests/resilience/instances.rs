//! Two `serve` and two `worker` processes on one PostgreSQL database (SPEC §11: several workers
//! on several machines share one database safely).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use loadgen::Session;
use loadgen::fleet::Role;
use sandbox::requests::RequestRecord;
use sandbox::{FaultAction, FaultRule, Provider};

use crate::Stage;

/// The conversation a write belongs to: its ordering key runs one job at a time, so two of its
/// writes overlapping in time means two jobs of one conversation ran at once.
fn write_target(r: &RequestRecord) -> Option<String> {
    let segments: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    match (r.provider, r.method.as_str(), segments.as_slice()) {
        (Provider::Freshdesk, "POST" | "PUT", ["tickets", id, ..]) => Some(format!("ticket {id}")),
        (Provider::Freshchat, "POST" | "PUT", ["conversations", id, ..]) => Some(format!("chat {id}")),
        _ => None,
    }
}

/// Writes to one ticket or chat whose time in the provider overlapped.
fn overlapping_writes(log: &[RequestRecord]) -> Vec<String> {
    let mut by_target: HashMap<String, Vec<&RequestRecord>> = HashMap::new();
    for r in log {
        if let Some(target) = write_target(r) {
            by_target.entry(target).or_default().push(r);
        }
    }
    let end = |r: &RequestRecord| -> DateTime<Utc> {
        // Whole milliseconds, rounded down: an overlap found is a real one.
        r.received_at + TimeDelta::milliseconds(i64::try_from(r.duration_ms).unwrap_or(0))
    };
    let mut found = Vec::new();
    for (target, mut writes) in by_target {
        writes.sort_by_key(|r| r.received_at);
        for pair in writes.windows(2) {
            if let [a, b] = pair
                && b.received_at < end(a)
            {
                found.push(format!(
                    "{target}: {} {} (#{}) and {} {} (#{})",
                    a.method, a.path, a.seq, b.method, b.path, b.seq
                ));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_two_workers_on_one_database_run_each_job_once() {
    let mut stage = Stage::new("instances").await;
    if !stage.postgres {
        eprintln!("several instances share a PostgreSQL database: set TEST_DATABASE_URL (CI does)");
        return;
    }
    let servers = [stage.serve(false).await, stage.serve(false).await];
    for _ in 0..2 {
        stage.fleet.add(Role::Worker).await.unwrap();
    }
    let session = Session::start(stage.load(stage.target(&servers), 120.0, 10, 22))
        .await
        .unwrap();
    // Every provider call takes a while, so that jobs of one conversation run at once would
    // overlap in the sandbox's log.
    for provider in [Provider::Freshdesk, Provider::Freshchat] {
        let slow = FaultRule::new(provider, FaultAction::Latency { millis: 15 });
        session.host.sandbox.faults().add(slow).unwrap();
    }
    let sent = session.send().await;
    let outcome = session.finish(sent).await;
    stage.assert_promises_kept(&outcome).await;

    // Both servers took webhooks (they alternate by event).
    let record = &outcome.record;
    for parity in 0..2 {
        assert!(
            record.accepted().any(|e| e.seq % 2 == parity),
            "server {parity} took nothing"
        );
    }
    let log = outcome.host.sandbox.inspect().requests(None);
    assert!(
        log.iter().filter_map(write_target).count() > 100,
        "few writes in the log"
    );
    let overlaps = overlapping_writes(&log);
    assert!(
        overlaps.is_empty(),
        "jobs of one conversation ran at once: {overlaps:#?}"
    );
    stage.fleet.stop().await.unwrap();
}

#[test]
fn overlapping_writes_to_one_conversation_are_found() {
    let at = Utc::now();
    let write = |seq, path: &str, ms: i64, duration_ms| RequestRecord {
        seq,
        provider: Provider::Freshdesk,
        method: "POST".into(),
        path: path.into(),
        query: None,
        endpoint: "POST /tickets/{id}/notes".into(),
        status: 201,
        received_at: at + TimeDelta::milliseconds(ms),
        duration_ms,
        fault: None,
        retry_after_secs: None,
    };
    let apart = [
        write(1, "/tickets/7/notes", 0, 15),
        write(2, "/tickets/7/notes", 15, 15),
    ];
    assert!(overlapping_writes(&apart).is_empty());
    let other_ticket = [write(1, "/tickets/7/notes", 0, 15), write(2, "/tickets/8/notes", 5, 15)];
    assert!(overlapping_writes(&other_ticket).is_empty());
    let at_once = [
        write(1, "/tickets/7/notes", 0, 15),
        write(2, "/tickets/7/notes", 14, 15),
    ];
    assert_eq!(overlapping_writes(&at_once).len(), 1);
}
