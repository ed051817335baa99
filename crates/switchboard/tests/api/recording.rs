//! Recording events: concurrent records share statements (or transactions), and each event is
//! still recorded exactly once, with its effects; the customer lookups a record starts from.

use std::collections::HashSet;

use domain::ids::ConversationId;
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind};
use switchboard::clock;
use switchboard::db::deliveries::{self, Kind, State};
use switchboard::db::incidences as repo;
use switchboard::incidences;
use switchboard::jobs::queue::{self, Owner};
use switchboard::sync::ticket::TicketSync;

use crate::helpers::{TestApp, spawn_app_without_worker};

fn message(key: &str) -> ConversationEvent {
    message_at(key, clock::now())
}

fn message_at(key: &str, at: chrono::DateTime<chrono::Utc>) -> ConversationEvent {
    ConversationEvent {
        at,
        key: key.to_owned(),
        kind: EventKind::Message {
            actor: Actor::User,
            text: format!("text of {key}"),
            private: false,
            agent_id: None,
        },
        context: None,
        identity: None,
    }
}

fn conversation() -> ConversationId {
    ConversationId::parse(format!("conv-{}", uuid::Uuid::new_v4())).unwrap()
}

/// Records every event at once, each from its own task.
async fn record_all(app: &TestApp, events: Vec<(ConversationId, ConversationEvent)>) {
    let tasks: Vec<_> = events
        .into_iter()
        .map(|(conversation, event)| {
            let (state, tenant) = (app.state.clone(), app.tenant.clone());
            tokio::spawn(
                async move { incidences::record(&state, &tenant, Channel::InAppChat, &conversation, &event).await },
            )
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn concurrent_messages_of_one_conversation_are_each_recorded_once() {
    let app = spawn_app_without_worker().await;
    let conv = conversation();
    // Three messages, each delivered twice, all at once (as many writers as an incidence meets:
    // its events, a close, an order): records of one incidence meet in a batch, and only one of
    // them may win a version; the others decide again.
    let keys: Vec<String> = (0..3).map(|n| format!("m-{n}")).collect();
    let start = clock::now();
    let at = |n: usize| start + chrono::Duration::seconds(n as i64);
    let events = keys
        .iter()
        .enumerate()
        .chain(keys.iter().enumerate())
        .map(|(n, k)| (conv.clone(), message_at(k, at(n))))
        .collect();
    record_all(&app, events).await;

    let (db, tenant) = (&app.state.db, app.tenant.id);
    let stored = repo::by_conversation(db, tenant, Channel::InAppChat, &conv)
        .await
        .unwrap()
        .unwrap();
    let id = stored.incidence.id;
    // Every message's change reached the state, whichever order they won in.
    assert_eq!(stored.incidence.created_at, at(0));
    assert_eq!(stored.incidence.last_activity_at, at(keys.len() - 1));
    let notes = deliveries::unsent(db, tenant, id, Kind::TicketNote).await.unwrap();
    let refs: HashSet<&str> = notes.iter().map(|d| d.source_ref.as_str()).collect();
    assert_eq!(notes.len(), keys.len(), "one note per message, none lost, none doubled");
    assert_eq!(refs, keys.iter().map(String::as_str).collect());
    assert_eq!(
        deliveries::count(db, tenant, id, Kind::TicketNote, State::Pending)
            .await
            .unwrap(),
        3
    );
    let logged: Vec<_> = repo::timeline(db, tenant, id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| keys.contains(&e.provider_ref))
        .collect();
    assert_eq!(logged.len(), keys.len(), "each message on the timeline once");
}

#[tokio::test]
async fn concurrent_first_messages_each_make_their_incidence_and_sync_job() {
    let app = spawn_app_without_worker().await;
    let convs: Vec<ConversationId> = (0..20).map(|_| conversation()).collect();
    record_all(&app, convs.iter().map(|c| (c.clone(), message("first"))).collect()).await;

    let (db, tenant) = (&app.state.db, app.tenant.id);
    let mut ids = HashSet::new();
    for c in &convs {
        let stored = repo::by_conversation(db, tenant, Channel::InAppChat, c)
            .await
            .unwrap()
            .unwrap();
        let id = stored.incidence.id;
        assert_eq!(
            deliveries::count(db, tenant, id, Kind::TicketNote, State::Pending)
                .await
                .unwrap(),
            1
        );
        ids.insert(id);
    }
    assert_eq!(ids.len(), convs.len());
    let jobs = queue::list(db, Owner::Tenant(tenant), &Default::default())
        .await
        .unwrap();
    let synced: HashSet<_> = jobs
        .iter()
        .filter(|j| j.kind == <TicketSync as switchboard::jobs::JobSpec>::KIND)
        .filter_map(|j| j.unique_key.clone().or_else(|| j.ordering_key.clone()))
        .collect();
    assert_eq!(
        synced.len(),
        convs.len(),
        "every new incidence has its ticket sync queued"
    );
}

#[tokio::test]
async fn a_customer_not_found_is_not_remembered_and_one_stored_elsewhere_is_seen() {
    use switchboard::customers::CustomerDirectory;
    use switchboard::db::customers::Customer;

    let app = spawn_app_without_worker().await;
    let (here, elsewhere) = (
        CustomerDirectory::new(app.state.db.clone()),
        CustomerDirectory::new(app.state.db.clone()),
    );
    let tenant = app.tenant.id;
    assert!(here.by_freshchat_id(tenant, "fc-7").await.unwrap().is_none());
    let customer = Customer {
        freshchat_user_id: "fc-7".into(),
        user_id: Some("u-7".into()),
        email: Some("seven@example.com".into()),
        phone: None,
        name: None,
        properties: vec![],
        fetched_at: clock::now(),
    };
    elsewhere.store(tenant, customer.clone()).await.unwrap();
    // Another process (directory) stored it: this one reads it, it did not remember "none".
    let seen = here.by_freshchat_id(tenant, "fc-7").await.unwrap().unwrap();
    assert_eq!(seen.user_id.as_deref(), Some("u-7"));
    // Scoped by tenant, like every read.
    assert!(
        here.by_freshchat_id(domain::ids::TenantId(uuid::Uuid::now_v7()), "fc-7")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_lookups_and_marks_each_get_their_own_answer() {
    let app = spawn_app_without_worker().await;
    let convs: Vec<ConversationId> = (0..6).map(|_| conversation()).collect();
    record_all(&app, convs.iter().map(|c| (c.clone(), message("first"))).collect()).await;
    let (shared, tenant) = (&app.state.shared, app.tenant.id);
    let unknown = conversation();

    // Asked together (one statement on PostgreSQL), answered apart.
    let lookups = futures::future::join_all(
        convs
            .iter()
            .chain([&unknown])
            .map(|c| shared.incidence_by_conversation(tenant, Channel::InAppChat, c)),
    )
    .await;
    let stored: Vec<_> = lookups.into_iter().map(|r| r.unwrap()).collect();
    assert!(
        stored[convs.len()].is_none(),
        "an unknown conversation has no incidence"
    );
    let ids: Vec<_> = stored[..convs.len()]
        .iter()
        .zip(&convs)
        .map(|(s, c)| {
            let s = s.as_ref().unwrap();
            assert_eq!(&s.incidence.conversation_id, c);
            s.incidence.id
        })
        .collect();
    let by_id = futures::future::join_all(ids.iter().map(|id| shared.incidence_by_id(tenant, *id))).await;
    for (s, id) in by_id.into_iter().zip(&ids) {
        assert_eq!(s.unwrap().unwrap().incidence.id, *id);
    }
    let other_tenant = domain::ids::TenantId(uuid::Uuid::now_v7());
    assert!(shared.incidence_by_id(other_tenant, ids[0]).await.unwrap().is_none());

    let unsent = futures::future::join_all(ids.iter().map(|id| shared.unsent(tenant, *id, Kind::TicketNote))).await;
    let notes: Vec<_> = unsent.into_iter().map(|u| u.unwrap()).collect();
    assert!(notes.iter().all(|n| n.len() == 1 && n[0].source_ref == "first"));
    let now = clock::now();
    futures::future::join_all(notes.iter().map(|n| shared.mark_sending(tenant, n[0].id, now))).await;
    let remote: Vec<String> = (0..notes.len()).map(|i| format!("note-{i}")).collect();
    let sent = futures::future::join_all(
        notes
            .iter()
            .zip(&remote)
            .map(|(n, r)| shared.mark_sent(tenant, n[0].id, r, now)),
    )
    .await;
    assert!(sent.iter().all(Result::is_ok));
    for id in &ids {
        let db = &app.state.db;
        assert_eq!(
            deliveries::count(db, tenant, *id, Kind::TicketNote, State::Sent)
                .await
                .unwrap(),
            1
        );
        assert!(shared.unsent(tenant, *id, Kind::TicketNote).await.unwrap().is_empty());
    }
}
