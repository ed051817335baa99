use chrono::TimeDelta;

use super::*;
use crate::record::{Answer, marker};

fn event(seq: u64, kind: EventKind, phase: Phase, scheduled_us: u64, code: Option<u16>) -> SentEvent {
    SentEvent {
        seq,
        marker: marker("r", seq),
        kind,
        conversation_id: "c".into(),
        ticket_id: None,
        phase,
        scheduled_us,
        sent_us: scheduled_us + 500,
        answered_us: scheduled_us + 4_000,
        answer: match code {
            Some(code) => Answer::Status {
                code,
                retry_after: (code == 503).then(|| "1".to_string()),
            },
            None => Answer::Transport { error: "reset".into() },
        },
    }
}

#[test]
fn percentiles_are_within_the_histogram_precision() {
    let s = Summary::from_values(1..=1000);
    assert_eq!(s.count, 1000);
    assert!((499..=501).contains(&s.p50), "{s:?}");
    assert!((899..=901).contains(&s.p90), "{s:?}");
    assert!((989..=991).contains(&s.p99), "{s:?}");
    assert_eq!(s.max, 1000);
    assert!((s.mean - 500.5).abs() < 1.0);
    assert_eq!(Summary::from_values([]), Summary::default());
    // Zero is counted as 1 µs (the histogram's floor), never dropped.
    assert_eq!(Summary::from_values([0]).count, 1);
}

#[test]
fn a_load_report_adds_up() {
    let started_at = Utc::now();
    let mut events = vec![
        event(0, EventKind::FirstMessage, Phase::Warmup, 0, Some(200)),
        event(1, EventKind::FirstMessage, Phase::Measured, 1_000_000, Some(200)),
        event(2, EventKind::FollowUp, Phase::Measured, 1_100_000, Some(200)),
        event(3, EventKind::AgentReply, Phase::Measured, 1_200_000, Some(503)),
        event(4, EventKind::FollowUp, Phase::Measured, 1_300_000, Some(500)),
        event(5, EventKind::FollowUp, Phase::Measured, 1_400_000, None),
    ];
    events[2].sent_us += 1_500; // started 2 ms late
    let record = Record {
        run_id: "r".into(),
        started_at,
        measured_from_us: 1_000_000,
        measured_to_us: 3_000_000,
        events,
        skipped_slots: 1,
    };
    let effects: HashMap<u64, DateTime<Utc>> = [
        (1, started_at + TimeDelta::microseconds(1_000_500 + 20_000)),
        (2, started_at + TimeDelta::microseconds(1_102_000 + 30_000)),
    ]
    .into();
    let report = Report::of_load(LoadInputs {
        record: &record,
        effects: &effects,
        verify: &VerifyReport::default(),
        params: serde_json::json!({ "rate": 2.5 }),
        rate_asked: Some(2.5),
        db_label: Some("sqlite".into()),
        rss: None,
        cpu: None,
        prepare_s: 0.1,
        drain_s: 0.2,
    });
    let s = report.statuses;
    assert_eq!(
        (s.sent, s.ok_2xx, s.overloaded_503, s.overloaded_with_retry_after),
        (5, 2, 1, 1)
    );
    assert_eq!((s.other_errors, s.transport_errors), (1, 1));
    assert_eq!(
        s.ok_2xx + s.overloaded_503 + s.other_errors + s.transport_errors,
        s.sent
    );
    assert_eq!(report.warmup.sent, 1);
    assert!((report.duration_s - 2.0).abs() < 1e-9);
    assert!((report.rate_achieved - 2.5).abs() < 1e-9);
    assert!((report.accepted_per_s - 1.0).abs() < 1e-9);
    assert_eq!(report.accept_latency_us.count, 2);
    assert_eq!(report.late_sends, 1);
    assert!((19_990..=20_020).contains(&report.effect_latency_us["first_message"].p50));
    assert!((29_990..=30_030).contains(&report.effect_latency_us["follow_up"].p50));
    assert_eq!(report.effect_latency_us["agent_reply"].count, 0);
    assert!(report.is_correct());
    let table = report.table();
    assert!(table.contains("rate asked / achieved"), "{table}");
    assert!(table.contains("2.5"), "{table}");

    let json = serde_json::to_string(&report).expect("serializes");
    let back: Report = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, report);

    let mut baseline = report.clone();
    baseline.mode = Mode::Baseline;
    baseline.accepted_per_s = 4.0;
    let compared = report.with_baseline(&baseline);
    assert_eq!(compared.baseline.map(|b| b.ratio), Some(0.25));
}

#[test]
fn effects_worked_off_are_those_that_land_while_the_load_is_on() {
    let started_at = Utc::now();
    let at = |us: i64| started_at + TimeDelta::microseconds(us);
    let record = Record {
        run_id: "r".into(),
        started_at,
        measured_from_us: 1_000_000,
        measured_to_us: 3_000_000,
        events: vec![
            // A warm-up event whose effect lands in the window counts: it was worked off then.
            event(0, EventKind::FirstMessage, Phase::Warmup, 0, Some(200)),
            event(1, EventKind::FollowUp, Phase::Measured, 1_000_000, Some(200)),
            event(2, EventKind::AgentReply, Phase::Measured, 1_500_000, Some(200)),
            // Landed after the load stopped (the drain): not in the rate.
            event(3, EventKind::FollowUp, Phase::Measured, 2_900_000, Some(200)),
            // Landed before the window.
            event(4, EventKind::FirstMessage, Phase::Warmup, 100_000, Some(200)),
            // Refused: whatever the sandbox saw, not this run's effect.
            event(5, EventKind::FollowUp, Phase::Measured, 2_000_000, Some(503)),
        ],
        skipped_slots: 0,
    };
    let effects: HashMap<u64, DateTime<Utc>> = [
        (0, at(1_200_000)),
        (1, at(1_100_000)),
        (2, at(2_000_000)),
        (3, at(3_400_000)),
        (4, at(600_000)),
        (5, at(2_100_000)),
    ]
    .into();
    let w = WorkedOff::of(&record, &effects);
    assert_eq!(
        w,
        WorkedOff {
            all: 1.5,
            customer_messages: 1.0
        }
    );
}
