//! The bookkeeping beside provider calls: the sync columns a reconciler keeps in memory after a
//! write, and `Retry-After` holds shared between processes.

use std::time::Duration;

use domain::ids::ConversationId;
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind};
use switchboard::clock;
use switchboard::db::incidences::{self as repo, SyncUpdate};
use switchboard::incidences;
use switchboard::sync::gate::{Gates, Provider};
use tokio_util::sync::CancellationToken;

use crate::helpers::{eventually, spawn_app_without_worker};

#[tokio::test]
async fn the_sync_state_applied_in_memory_is_what_the_database_stores() {
    let app = spawn_app_without_worker().await;
    let conversation = ConversationId::parse(format!("conv-{}", uuid::Uuid::new_v4())).unwrap();
    let event = ConversationEvent {
        at: clock::now(),
        key: "m-1".into(),
        kind: EventKind::Message {
            actor: Actor::User,
            text: "hello".into(),
            private: false,
            agent_id: None,
        },
        context: None,
        identity: None,
    };
    let recorded = incidences::record(&app.state, &app.tenant, Channel::InAppChat, &conversation, &event)
        .await
        .unwrap();
    let id = recorded.incidence.id;
    let (db, tenant) = (&app.state.db, app.tenant.id);
    let mut known = repo::by_id(db, tenant, id).await.unwrap().unwrap().sync;
    let now = clock::now();
    let updates = [
        SyncUpdate {
            ticket_create_started_at: Some(Some(now)),
            ticket_create_uncertain: Some(true),
            ..Default::default()
        },
        SyncUpdate {
            freshdesk_ticket_id: Some(42),
            ticket_create_started_at: Some(None),
            ticket_create_uncertain: Some(false),
            ticket_status: Some(2),
            fields_synced: Some(serde_json::json!({ "cart_value": 1200 })),
            ..Default::default()
        },
        SyncUpdate {
            chat_resolved: Some(true),
            ..Default::default()
        },
        // Nothing given: nothing changes.
        SyncUpdate::default(),
    ];
    for (n, u) in updates.iter().enumerate() {
        if n % 2 == 0 {
            repo::update_sync(db, tenant, id, u, clock::now()).await.unwrap();
        } else {
            let mut tx = db.begin().await.unwrap();
            repo::update_sync(&mut tx, tenant, id, u, clock::now()).await.unwrap();
            tx.commit().await.unwrap();
        }
        known.apply(u);
        let stored = repo::by_id(db, tenant, id).await.unwrap().unwrap().sync;
        // Timestamps round-trip at the database's precision (microseconds).
        let micros = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_micros());
        assert_eq!(
            micros(known.ticket_create_started_at),
            micros(stored.ticket_create_started_at),
            "after update {n}"
        );
        let mut expected = known.clone();
        expected.ticket_create_started_at = stored.ticket_create_started_at;
        assert_eq!(expected, stored, "after update {n}");
    }
    assert_eq!(known.freshdesk_ticket_id, Some(42));
    assert_eq!(known.chat_resolved, Some(true));
}

#[tokio::test]
async fn a_retry_after_seen_by_one_process_holds_another_processs_calls() {
    let app = spawn_app_without_worker().await;
    let db = &app.state.db;
    let tenant = app.tenant.id;
    // Two processes' gates on one database; the second follows holds as a worker does.
    let (here, there) = (Gates::new(), std::sync::Arc::new(Gates::new()));
    let shutdown = CancellationToken::new();
    let _stop = shutdown.clone().drop_guard();
    there.follow(db, shutdown.clone());
    let now = clock::now();
    assert_eq!(
        there.admit(db, tenant, Provider::Freshdesk, 0, now).await.unwrap(),
        Ok(())
    );

    let postgres = db.backend() == switchboard::db::Backend::Postgres;
    if postgres {
        eventually(Duration::from_secs(10), async || there.following().then_some(())).await;
    }
    let until = now + chrono::Duration::seconds(30);
    here.hold(db, tenant, Provider::Freshdesk, until, "429 Too Many Requests")
        .await
        .unwrap();
    if postgres {
        // Told (NOTIFY), not asked: the hold is in its memory without it reading a row.
        eventually(Duration::from_secs(10), async || {
            there.held_here(tenant, Provider::Freshdesk, clock::now())
        })
        .await;
    }
    // The other process stops: on PostgreSQL it is told (NOTIFY), on SQLite it reads the row.
    let wait = eventually(Duration::from_secs(10), async || {
        there
            .admit(db, tenant, Provider::Freshdesk, 0, clock::now())
            .await
            .unwrap()
            .err()
    })
    .await;
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    // Another provider and another tenant are not held.
    assert_eq!(
        there
            .admit(db, tenant, Provider::Freshchat, 0, clock::now())
            .await
            .unwrap(),
        Ok(())
    );
    let other = crate::helpers::new_tenant(&app.state).await;
    assert_eq!(
        there
            .admit(db, other.id, Provider::Freshdesk, 0, clock::now())
            .await
            .unwrap(),
        Ok(())
    );
}
