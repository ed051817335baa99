//! Freshdesk failing under load: 500s for a while, then a storm of 429s with `Retry-After`, then
//! timeouts after the write was committed — and after recovery, exactly once still holds and
//! nothing was sent before a `Retry-After` had passed.

use std::time::Duration;

use chrono::TimeDelta;
use loadgen::Session;
use sandbox::requests::RequestRecord;
use sandbox::{FaultAction, FaultRule, Provider, Sandbox};

use crate::Stage;

const RETRY_AFTER_SECS: u64 = 2;

/// Requests already admitted when a 429 was answered may still arrive just after it; anything
/// later than this inside the `Retry-After` was sent in spite of it.
const IN_FLIGHT: TimeDelta = TimeDelta::milliseconds(250);

/// The fault phases, seconds after sending starts; clear from then on.
async fn misbehave(sandbox: &Sandbox) {
    let faults = sandbox.faults();
    let phase = |action| FaultRule::new(Provider::Freshdesk, action);
    let at = |secs| tokio::time::sleep(Duration::from_secs(secs));
    at(1).await;
    let errors = faults.add(phase(FaultAction::Status { status: 500 })).unwrap();
    at(3).await;
    faults.remove(errors);
    let storm = faults
        .add(phase(FaultAction::TooManyRequests {
            retry_after_secs: Some(RETRY_AFTER_SECS),
        }))
        .unwrap();
    at(3).await;
    faults.remove(storm);
    // The provider timeout is 2 s (PROCESS_ENV): the write lands, the answer never does.
    let timeouts = faults
        .add(phase(FaultAction::TimeoutAfterCommit { hold_millis: 2_500 }).rate(0.5))
        .unwrap();
    at(3).await;
    faults.remove(timeouts);
}

/// Requests that arrived while a `Retry-After` said to wait (past the in-flight allowance).
fn early_requests(log: &[RequestRecord]) -> Vec<String> {
    let mut early = Vec::new();
    for limited in log.iter().filter(|r| r.status == 429) {
        let secs = i64::try_from(limited.retry_after_secs.unwrap_or(0)).unwrap_or(i64::MAX);
        let answered = limited.received_at + TimeDelta::milliseconds(i64::try_from(limited.duration_ms).unwrap_or(0));
        let (from, until) = (answered + IN_FLIGHT, answered + TimeDelta::seconds(secs));
        early.extend(
            log.iter()
                .filter(|r| r.received_at >= from && r.received_at < until)
                .map(|r| {
                    format!(
                        "{} {} {:?} after the 429 of #{}",
                        r.method,
                        r.path,
                        r.received_at - answered,
                        limited.seq
                    )
                }),
        );
    }
    early
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_freshdesk_delays_but_never_loses_or_doubles_and_retry_after_is_honoured() {
    let mut stage = Stage::new("faults").await;
    let serve = stage.serve(true).await;
    let session = Session::start(stage.load(stage.target(&[serve]), 60.0, 11, 11))
        .await
        .unwrap();
    let (sent, ()) = tokio::join!(session.send(), misbehave(&session.host.sandbox));
    let outcome = session.finish(sent).await;
    stage.assert_promises_kept(&outcome).await;

    let log = outcome.host.sandbox.inspect().requests(Some(Provider::Freshdesk));
    let injected = |name: &str| {
        log.iter()
            .filter(|r| r.fault.as_deref().is_some_and(|f| f.starts_with(name)))
            .count()
    };
    for fault in ["status 500", "too_many_requests", "timeout_after_commit"] {
        assert!(injected(fault) > 0, "no request met the {fault} phase");
    }
    let early = early_requests(&log);
    assert!(early.is_empty(), "sent before Retry-After had passed: {early:#?}");
    stage.fleet.stop().await.unwrap();
}

#[test]
fn a_request_inside_a_retry_after_is_early_one_in_flight_is_not() {
    let at = chrono::Utc::now();
    let request = |seq, ms: i64, status, retry_after_secs| RequestRecord {
        seq,
        provider: Provider::Freshdesk,
        method: "POST".into(),
        path: "/tickets".into(),
        query: None,
        endpoint: "POST /tickets".into(),
        status,
        received_at: at + TimeDelta::milliseconds(ms),
        duration_ms: 0,
        fault: None,
        retry_after_secs,
    };
    let limited = request(1, 0, 429, Some(2));
    let in_flight = request(2, 100, 201, None);
    let early = request(3, 1_500, 201, None);
    let on_time = request(4, 2_000, 201, None);
    assert!(early_requests(&[limited.clone(), in_flight.clone(), on_time.clone()]).is_empty());
    assert_eq!(early_requests(&[limited, in_flight, early, on_time]).len(), 1);
}
