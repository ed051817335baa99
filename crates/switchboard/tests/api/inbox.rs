//! The webhook inbox: durable storage, dedupe, processing states, replay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::clock;
use switchboard::inbox::{
    self, Accepted, Disposition, EventProcessor, EventState, InboxEvent, Initial, NewEvent, ProcessError, Processors,
    Provider, ReplayFilter,
};
use switchboard::jobs::queue::{self, Owner};
use switchboard::jobs::registry::{BoxFuture, Registry};

use crate::helpers::{TestApp, eventually, spawn_app_without_worker};

/// Processes bodies "ok", ignores "skip", refuses anything else; counts calls.
#[derive(Default)]
struct Counting {
    seen: Mutex<Vec<Vec<u8>>>,
}

impl EventProcessor for Counting {
    fn process<'a>(&'a self, event: &'a InboxEvent) -> BoxFuture<'a, Result<Disposition, ProcessError>> {
        self.seen.lock().unwrap().push(event.body.clone());
        Box::pin(async move {
            match event.body.as_slice() {
                b"ok" => Ok(Disposition::Processed),
                b"skip" => Ok(Disposition::Ignored("not an event we act on".into())),
                _ => Err(ProcessError::Invalid("the body is not an event".into())),
            }
        })
    }
}

fn event(app: &TestApp, key: &str, body: &[u8]) -> NewEvent {
    NewEvent {
        tenant_id: app.tenant.id,
        provider: Provider::Freshchat,
        dedupe_key: key.into(),
        ordering_key: Some("conversation-1".into()),
        headers: vec![("x-retry-count".into(), "0".into())],
        body: body.to_vec(),
        received_at: clock::now(),
        initial: Initial::Pending,
    }
}

fn start(app: &TestApp) -> Arc<Counting> {
    let processor = Arc::new(Counting::default());
    let processors = Processors::new(app.state.db.clone()).with(Provider::Freshchat, processor.clone());
    let mut registry = Registry::new();
    registry.register(move |job: inbox::ProcessEvent, ctx| {
        let processors = processors.clone();
        async move { processors.run(job, ctx).await }
    });
    app.start_worker(Arc::new(registry), |_| {});
    processor
}

async fn settled(app: &TestApp, id: uuid::Uuid) -> InboxEvent {
    eventually(Duration::from_secs(20), async || {
        inbox::get(&app.state.db, app.tenant.id, id)
            .await
            .unwrap()
            .filter(|e| e.state != EventState::Pending)
    })
    .await
}

#[tokio::test]
async fn a_duplicate_delivery_is_acknowledged_and_processed_once() {
    let app = spawn_app_without_worker().await;
    let first = inbox::accept(&app.state.db, event(&app, "msg-1", b"ok")).await.unwrap();
    let again = inbox::accept(&app.state.db, event(&app, "msg-1", b"ok")).await.unwrap();
    let Accepted::New(id) = first else {
        panic!("first delivery must be new")
    };
    assert_eq!(again, Accepted::Duplicate(id));
    let jobs = queue::list(&app.state.db, Owner::Tenant(app.tenant.id), &Default::default())
        .await
        .unwrap();
    assert_eq!(
        jobs.iter().filter(|j| j.kind == "inbox.process").count(),
        1,
        "one processing job"
    );

    let processor = start(&app);
    let stored = settled(&app, id).await;
    assert_eq!(stored.state, EventState::Processed);
    assert_eq!(processor.seen.lock().unwrap().len(), 1);
    // The headers were kept; the body is byte for byte what arrived.
    assert_eq!(stored.headers.get("x-retry-count").map(String::as_str), Some("0"));
    assert_eq!(stored.body, b"ok");
}

#[tokio::test]
async fn the_same_key_from_another_tenant_or_provider_is_another_event() {
    let app = spawn_app_without_worker().await;
    let other = crate::helpers::new_tenant(&app.state).await;
    let a = inbox::accept(&app.state.db, event(&app, "k", b"ok")).await.unwrap();
    let b = inbox::accept(
        &app.state.db,
        NewEvent {
            tenant_id: other.id,
            ..event(&app, "k", b"ok")
        },
    )
    .await
    .unwrap();
    let c = inbox::accept(
        &app.state.db,
        NewEvent {
            provider: Provider::Freshdesk,
            ..event(&app, "k", b"ok")
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        (a, b, c),
        (Accepted::New(_), Accepted::New(_), Accepted::New(_))
    ));
    // And one tenant cannot read the other's event.
    assert!(inbox::get(&app.state.db, other.id, a.id()).await.unwrap().is_none());
}

#[tokio::test]
async fn processing_outcomes_are_recorded() {
    let app = spawn_app_without_worker().await;
    let ok = inbox::accept(&app.state.db, event(&app, "a", b"ok"))
        .await
        .unwrap()
        .id();
    let skip = inbox::accept(&app.state.db, event(&app, "b", b"skip"))
        .await
        .unwrap()
        .id();
    let bad = inbox::accept(&app.state.db, event(&app, "c", b"{garbage"))
        .await
        .unwrap()
        .id();
    let rejected = inbox::accept(
        &app.state.db,
        NewEvent {
            initial: Initial::Rejected("the body is not JSON".into()),
            ..event(&app, "d", b"<html>")
        },
    )
    .await
    .unwrap()
    .id();
    start(&app);
    assert_eq!(settled(&app, ok).await.state, EventState::Processed);
    let skipped = settled(&app, skip).await;
    assert_eq!(
        (skipped.state, skipped.error.as_deref()),
        (EventState::Ignored, Some("not an event we act on"))
    );
    let failed = settled(&app, bad).await;
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (EventState::Failed, Some("the body is not an event"))
    );
    let stored = inbox::get(&app.state.db, app.tenant.id, rejected)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.error.as_deref()),
        (EventState::Rejected, Some("the body is not JSON"))
    );
    let jobs = queue::list(&app.state.db, Owner::Tenant(app.tenant.id), &Default::default())
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3, "no processing job for a rejected event");
}

#[tokio::test]
async fn a_batch_is_stored_whole_one_job_per_new_pending_event_in_arrival_order() {
    let app = spawn_app_without_worker().await;
    let conversation = |key: &str, body: &[u8], conv: &str| NewEvent {
        ordering_key: Some(conv.into()),
        ..event(&app, key, body)
    };
    let earlier = inbox::accept(&app.state.db, event(&app, "stored-before", b"ok"))
        .await
        .unwrap();
    let batch = vec![
        conversation("first", b"ok", "c-1"),
        conversation("first", b"ok", "c-1"), // delivered twice in one batch
        NewEvent {
            initial: Initial::Rejected("the body is not JSON".into()),
            ..event(&app, "refused", b"<html>")
        },
        conversation("second", b"skip", "c-1"),
        conversation("other", b"{garbage", "c-2"),
        event(&app, "stored-before", b"ok"), // delivered again, later
    ];
    let accepted = inbox::accept_all(&app.state.db, &batch).await.unwrap();
    let [first, again, refused, second, other, before] = accepted[..] else {
        panic!("one answer per event: {accepted:?}")
    };
    assert!(matches!(first, Accepted::New(_)), "{first:?}");
    assert_eq!(again, Accepted::Duplicate(first.id()));
    assert!(
        matches!(refused, Accepted::New(_)),
        "a refused event is kept: {refused:?}"
    );
    assert!(matches!((second, other), (Accepted::New(_), Accepted::New(_))));
    assert_eq!(before, Accepted::Duplicate(earlier.id()));

    // One processing job per new pending event (none for the refused one), in arrival order.
    let jobs = processing_jobs(&app).await;
    let for_event = |id: uuid::Uuid| {
        let found: Vec<_> = jobs.iter().filter(|j| j.1 == id).collect();
        assert!(found.len() <= 1, "one job for {id}");
        found.first().map(|j| (j.0, j.2.clone()))
    };
    let (first_job, first_key) = for_event(first.id()).expect("a job for the first event");
    let (second_job, second_key) = for_event(second.id()).expect("a job for the second event");
    assert!(for_event(refused.id()).is_none(), "no job for a refused event");
    assert!(for_event(other.id()).is_some());
    assert!(
        first_job < second_job,
        "one conversation's events are processed in arrival order"
    );
    assert_eq!(first_key, second_key);
    assert_eq!(jobs.len(), 4, "stored-before, first, second, other");

    start(&app);
    assert_eq!(settled(&app, first.id()).await.state, EventState::Processed);
    assert_eq!(settled(&app, second.id()).await.state, EventState::Ignored);
    let failed = settled(&app, other.id()).await;
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (EventState::Failed, Some("the body is not an event"))
    );
}

/// The tenant's processing jobs: (job id, event id, ordering key).
async fn processing_jobs(app: &TestApp) -> Vec<(i64, uuid::Uuid, Option<String>)> {
    const SQL: &str =
        "SELECT id, payload, ordering_key FROM jobs WHERE tenant_id = $1 AND kind = 'inbox.process' ORDER BY id";
    let rows: Vec<(i64, sqlx::types::Json<inbox::ProcessEvent>, Option<String>)> =
        switchboard::on_db!(app.state.db, pool => {
            sqlx::query_as(SQL).bind(app.tenant.id.as_uuid()).fetch_all(pool).await
        })
        .unwrap();
    rows.into_iter()
        .map(|(id, job, key)| (id, job.0.event_id, key))
        .collect()
}

#[tokio::test]
async fn reads_do_not_wait_for_an_open_write_transaction() {
    let app = spawn_app_without_worker().await;
    let db = &app.state.db;
    let id = inbox::accept(db, event(&app, "read-me", b"ok")).await.unwrap().id();
    // On SQLite this holds the one writing connection until it ends.
    let writing = db.begin().await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), inbox::get(db, app.tenant.id, id)).await;
    writing.rollback().await.unwrap();
    let stored = read.expect("the read waited for the writer").unwrap().unwrap();
    assert_eq!(stored.body, b"ok");
}

#[tokio::test]
async fn stored_events_can_be_replayed() {
    let app = spawn_app_without_worker().await;
    let since = clock::now() - chrono::Duration::seconds(1);
    let id = inbox::accept(&app.state.db, event(&app, "replay-me", b"ok"))
        .await
        .unwrap()
        .id();
    let processor = start(&app);
    settled(&app, id).await;
    let ids = inbox::replayable(
        &app.state.db,
        &ReplayFilter {
            provider: Provider::Freshchat,
            since,
            tenant: Some(app.tenant.id),
        },
    )
    .await
    .unwrap();
    assert_eq!(ids, vec![(id, app.tenant.id)]);
    inbox::requeue(&app.state.db, app.tenant.id, id, clock::now())
        .await
        .unwrap();
    eventually(Duration::from_secs(20), async || {
        (processor.seen.lock().unwrap().len() == 2).then_some(())
    })
    .await;
    assert_eq!(settled(&app, id).await.state, EventState::Processed);
    // Nothing older than `since` or from another provider is replayed.
    let none = inbox::replayable(
        &app.state.db,
        &ReplayFilter {
            provider: Provider::Freshdesk,
            since,
            tenant: Some(app.tenant.id),
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty());
}

#[test]
fn secrets_in_headers_are_not_kept() {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", "Basic Zm9vOmJhcg==".parse().unwrap());
    headers.insert("x-freshchat-signature", "abc".parse().unwrap());
    headers.insert("x-webhook-token", "t".parse().unwrap());
    headers.insert("cookie", "s=1".parse().unwrap());
    let kept = inbox::keepable_headers(&headers);
    assert_eq!(kept, vec![("x-freshchat-signature".to_owned(), "abc".to_owned())]);
}
