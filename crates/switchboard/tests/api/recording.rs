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

#[tokio::test]
async fn concurrent_relay_and_sync_writes_each_take_effect() {
    use domain::incidence::{TimelineEntry, TimelineKind};
    use switchboard::db::deliveries::{NewDelivery, SentLogged};
    use switchboard::db::incidences::SyncUpdate;

    let app = spawn_app_without_worker().await;
    let convs: Vec<ConversationId> = (0..3).map(|_| conversation()).collect();
    record_all(&app, convs.iter().map(|c| (c.clone(), message("first"))).collect()).await;
    let (shared, tenant, db) = (&app.state.shared, app.tenant.id, &app.state.db);
    let mut ids = Vec::new();
    for c in &convs {
        let s = shared
            .incidence_by_conversation(tenant, Channel::InAppChat, c)
            .await
            .unwrap();
        ids.push(s.unwrap().incidence.id);
    }
    let now = clock::now();

    // Sync updates at once (one statement on PostgreSQL) — two of them for the first incidence,
    // which apply one after the other, in order.
    let ticket = |i: usize| 7_000 + i64::try_from(i).unwrap();
    let mut updates: Vec<(domain::ids::IncidenceId, SyncUpdate)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let u = SyncUpdate {
                freshdesk_ticket_id: Some(ticket(i)),
                ticket_create_started_at: Some(Some(now)),
                ..Default::default()
            };
            (*id, u)
        })
        .collect();
    let second = SyncUpdate {
        ticket_create_started_at: Some(None),
        ticket_status: Some(3),
        ..Default::default()
    };
    updates.push((ids[0], second));
    let done = futures::future::join_all(
        updates
            .into_iter()
            .map(|(id, u)| shared.update_sync(tenant, id, u, now)),
    )
    .await;
    assert!(done.iter().all(Result::is_ok));
    let first = repo::by_id(db, tenant, ids[0]).await.unwrap().unwrap().sync;
    assert_eq!(first.freshdesk_ticket_id, Some(ticket(0)));
    assert_eq!(
        first.ticket_create_started_at, None,
        "the later update of one incidence wins"
    );
    assert_eq!(first.ticket_status, Some(3));
    let other = repo::by_id(db, tenant, ids[1]).await.unwrap().unwrap().sync;
    assert_eq!(other.freshdesk_ticket_id, Some(ticket(1)));
    assert!(other.ticket_create_started_at.is_some());

    // By ticket, together; unknown tickets and other tenants' find nothing.
    let other_tenant = domain::ids::TenantId(uuid::Uuid::now_v7());
    let asks = [
        (tenant, ticket(2)),
        (tenant, ticket(0)),
        (tenant, 99),
        (other_tenant, ticket(1)),
    ];
    let found = futures::future::join_all(asks.iter().map(|(t, n)| shared.incidence_by_ticket(*t, *n))).await;
    let found: Vec<_> = found.into_iter().map(|f| f.unwrap().map(|s| s.incidence.id)).collect();
    assert_eq!(found, vec![Some(ids[2]), Some(ids[0]), None, None]);

    // Replies recorded together, one of them twice: recorded once, in its own answer.
    let reply = |inc, source_ref| NewDelivery {
        incidence: inc,
        kind: Kind::ChatReply,
        source_ref,
        seq: 1,
        body: "an agent's reply",
    };
    let adds = [
        reply(ids[0], "fd:1"),
        reply(ids[0], "fd:2"),
        reply(ids[0], "fd:1"),
        reply(ids[1], "fd:1"),
    ];
    let added = futures::future::join_all(adds.iter().map(|d| shared.add_delivery(tenant, *d, now))).await;
    let added: Vec<bool> = added.into_iter().map(Result::unwrap).collect();
    assert_eq!(added.iter().filter(|a| **a).count(), 3, "{added:?}");
    assert!(added[0] ^ added[2], "one of the twins is recorded: {added:?}");
    assert!(added[1] && added[3]);

    let refs =
        futures::future::join_all([ids[0], ids[1], ids[2]].map(|id| shared.known_refs(tenant, id, Kind::ChatReply)))
            .await;
    let refs: Vec<HashSet<String>> = refs.into_iter().map(|r| r.unwrap().into_iter().collect()).collect();
    let set = |r: &[&str]| r.iter().map(|s| (*s).to_owned()).collect::<HashSet<_>>();
    assert_eq!(refs, vec![set(&["fd:1", "fd:2"]), set(&["fd:1"]), set(&[])]);
    assert!(
        shared
            .known_refs(other_tenant, ids[0], Kind::ChatReply)
            .await
            .unwrap()
            .is_empty(),
        "scoped by tenant"
    );

    // Delivered together: each marked sent with its own message id and logged once.
    let unsent = shared.unsent(tenant, ids[0], Kind::ChatReply).await.unwrap();
    assert_eq!(unsent.len(), 2);
    let marks = unsent.iter().enumerate().map(|(i, d)| SentLogged {
        tenant,
        delivery: d.id,
        remote_id: format!("msg-{i}"),
        incidence: ids[0],
        entry: TimelineEntry {
            kind: TimelineKind::Message,
            actor: Actor::Agent,
            content: Some(d.body.clone()),
            metadata: serde_json::json!({ "relayed_from": d.source_ref }),
            provider_ref: format!("msg-{i}"),
            at: now,
        },
    });
    let logged = futures::future::join_all(marks.map(|m| shared.mark_sent_logged(m))).await;
    assert!(logged.iter().all(Result::is_ok));
    assert!(shared.unsent(tenant, ids[0], Kind::ChatReply).await.unwrap().is_empty());
    let timeline = repo::timeline(db, tenant, ids[0]).await.unwrap();
    let relayed: HashSet<&str> = timeline
        .iter()
        .filter(|t| t.actor == Actor::Agent.as_str())
        .map(|t| t.provider_ref.as_str())
        .collect();
    assert_eq!(relayed, HashSet::from(["msg-0", "msg-1"]));
    assert_eq!(
        deliveries::count(db, tenant, ids[1], Kind::ChatReply, State::Pending)
            .await
            .unwrap(),
        1,
        "another incidence's reply is untouched"
    );

    // Relays enqueued together: twins coalesce into one waiting job, others each get theirs.
    let relays = [ids[0], ids[0], ids[1]]
        .map(|id| switchboard::sync::chat::job(tenant, id, None).unwrap())
        .map(|job| shared.enqueue(job, now));
    assert!(futures::future::join_all(relays).await.iter().all(Result::is_ok));
    let queued = queue::list(
        db,
        Owner::Tenant(tenant),
        &queue::ListFilter {
            kind: Some("chat.sync".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut keys: Vec<String> = queued.iter().filter_map(|j| j.ordering_key.clone()).collect();
    keys.sort();
    let mut want = vec![format!("chat:{}", ids[0]), format!("chat:{}", ids[1])];
    want.sort();
    assert_eq!(keys, want);
}

#[tokio::test]
async fn customers_stored_and_read_together_each_get_their_own() {
    use switchboard::customers::CustomerDirectory;
    use switchboard::db::customers::Customer;

    let app = spawn_app_without_worker().await;
    let tenant = app.tenant.id;
    let customer = |n: u32, email: &str| Customer {
        freshchat_user_id: format!("fc-{n}"),
        user_id: Some(format!("u-{n}")),
        email: Some(email.to_owned()),
        phone: None,
        name: None,
        properties: vec![("cart_value".into(), n.to_string())],
        fetched_at: clock::now(),
    };
    let writer = CustomerDirectory::new(app.state.db.clone());
    // Stored at once, one user twice (fetched again): the later copy stands.
    let copies = [
        customer(1, "one@example.com"),
        customer(2, "two@example.com"),
        customer(1, "one-again@example.com"),
    ];
    let stored = futures::future::join_all(copies.into_iter().map(|c| writer.store(tenant, c))).await;
    assert!(stored.iter().all(Result::is_ok));

    let reader = CustomerDirectory::new(app.state.db.clone());
    let other_tenant = domain::ids::TenantId(uuid::Uuid::now_v7());
    let asks = [
        (tenant, "fc-2"),
        (tenant, "fc-9"),
        (tenant, "fc-1"),
        (other_tenant, "fc-1"),
    ];
    let read = futures::future::join_all(asks.iter().map(|(t, id)| reader.by_freshchat_id(*t, id))).await;
    let emails: Vec<Option<String>> = read
        .into_iter()
        .map(|r| r.unwrap().and_then(|c| c.email.clone()))
        .collect();
    assert_eq!(
        emails,
        vec![
            Some("two@example.com".into()),
            None,
            Some("one-again@example.com".into()),
            None
        ]
    );
}
