//! One suite for every context store: the in-process one (on SQLite, or PostgreSQL with
//! `TEST_DATABASE_URL`) and Redis (with `TEST_REDIS_URL`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::context::{self, ContextSettings, CustomerContext, FrictionSignal, ScreenView, SignalKind};
use domain::ids::{TenantId, UserId};
use switchboard::clock;
use switchboard::context_store::memory::MemoryStore;
use switchboard::context_store::redis::RedisStore;
use switchboard::context_store::{Clock, ContextStore, Update};

use crate::helpers::{TestApp, new_tenant, spawn_app_without_worker};

fn user(name: &str) -> UserId {
    UserId::parse(format!("{name}-{}", uuid::Uuid::new_v4().simple())).unwrap()
}

fn screen(user: &UserId, name: &'static str, now: DateTime<Utc>) -> Update<'static> {
    let user = user.clone();
    Box::new(move |old| {
        let view = ScreenView::new(name, false).unwrap();
        context::apply_screen(old, &user, &view, now, &ContextSettings::default())
    })
}

fn back_navigation(user: &UserId, now: DateTime<Utc>) -> Update<'static> {
    let user = user.clone();
    Box::new(move |old| {
        let signal = FrictionSignal::new(SignalKind::BackNav);
        context::apply_signal(old, &user, &signal, now, &ContextSettings::default())
    })
}

/// The behaviour every store has. `tenant` and `other` are two tenants.
pub async fn store_suite(store: Arc<dyn ContextStore>, tenant: TenantId, other: TenantId) {
    let now = clock::now();
    let u = user("suite");

    // Nothing yet; the first update sees nothing and creates.
    assert!(store.get(tenant, &u).await.unwrap().is_none());
    let created = store.update(tenant, &u, screen(&u, "MENU", now)).await.unwrap();
    assert_eq!(created.current_screen(), Some("MENU"));
    assert_eq!(store.get(tenant, &u).await.unwrap(), Some(created.clone()));

    // An update sees the stored value.
    let seen: Arc<Mutex<Option<CustomerContext>>> = Arc::default();
    let seen_in = seen.clone();
    let u2 = u.clone();
    let updated = store
        .update(
            tenant,
            &u,
            Box::new(move |old| {
                *seen_in.lock().unwrap() = old.clone();
                let view = ScreenView::new("CHECKOUT", false).unwrap();
                context::apply_screen(old, &u2, &view, now, &ContextSettings::default())
            }),
        )
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().as_ref(), Some(&created));
    assert_eq!(updated.current_screen(), Some("CHECKOUT"));
    assert_eq!(
        updated.session.as_ref().and_then(|s| s.previous_screen.as_deref()),
        Some("MENU")
    );

    // Tenants are apart: the same user id elsewhere is another customer.
    assert!(store.get(other, &u).await.unwrap().is_none());
    store.update(other, &u, screen(&u, "PAYMENT", now)).await.unwrap();
    assert_eq!(
        store.get(tenant, &u).await.unwrap().unwrap().current_screen(),
        Some("CHECKOUT")
    );

    // Many concurrent updates of one customer: none is lost.
    let hot = user("hot");
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (store, hot) = (store.clone(), hot.clone());
            tokio::spawn(async move { store.update(tenant, &hot, back_navigation(&hot, now)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let hot_ctx = store.get(tenant, &hot).await.unwrap().unwrap();
    assert_eq!(hot_ctx.counters.back_navigation_count, 40);

    // Different customers at once, too.
    let many: Vec<UserId> = (0..20).map(|_| user("many")).collect();
    let tasks: Vec<_> = many
        .iter()
        .map(|m| {
            let (store, m) = (store.clone(), m.clone());
            tokio::spawn(async move { store.update(tenant, &m, back_navigation(&m, now)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for m in &many {
        assert_eq!(
            store
                .get(tenant, m)
                .await
                .unwrap()
                .unwrap()
                .counters
                .back_navigation_count,
            1
        );
    }

    // Delete forgets.
    store.delete(tenant, &u).await.unwrap();
    assert!(store.get(tenant, &u).await.unwrap().is_none());
    assert!(store.get(other, &u).await.unwrap().is_some());
    for (t, id) in [(other, &u), (tenant, &hot)] {
        store.delete(t, id).await.unwrap();
    }
    for m in &many {
        store.delete(tenant, m).await.unwrap();
    }
}

async fn two_tenants() -> (TestApp, TenantId, TenantId) {
    let app = spawn_app_without_worker().await;
    let other = new_tenant(&app.state).await.id;
    let tenant = app.tenant.id;
    (app, tenant, other)
}

#[tokio::test]
async fn the_in_process_store_passes_the_suite() {
    let (app, tenant, other) = two_tenants().await;
    let store = Arc::new(MemoryStore::new(app.state.db.clone(), Duration::from_secs(3600)));
    store_suite(store, tenant, other).await;
}

/// A clock the test moves.
fn manual_clock(start: DateTime<Utc>) -> (Clock, Arc<Mutex<DateTime<Utc>>>) {
    let now = Arc::new(Mutex::new(start));
    let read = now.clone();
    (Arc::new(move || *read.lock().unwrap()), now)
}

#[tokio::test]
async fn the_in_process_store_persists_and_expires_without_sleeping() {
    let (app, tenant, _) = two_tenants().await;
    let db = app.state.db.clone();
    let t0 = clock::now();
    let ttl = Duration::from_secs(600);
    let (clock, now) = manual_clock(t0);
    let store = MemoryStore::with_clock(db.clone(), ttl, clock.clone());
    let u = user("ttl");
    store.update(tenant, &u, back_navigation(&u, t0)).await.unwrap();

    // A restart (a fresh store on the same database) reads it back.
    let restarted = MemoryStore::with_clock(db.clone(), ttl, clock.clone());
    assert_eq!(
        restarted
            .get(tenant, &u)
            .await
            .unwrap()
            .map(|c| c.counters.back_navigation_count),
        Some(1)
    );

    // Just before the TTL it is there; at the TTL it is gone, in memory and after a reload.
    *now.lock().unwrap() = t0 + TimeDelta::seconds(599);
    assert!(store.get(tenant, &u).await.unwrap().is_some());
    *now.lock().unwrap() = t0 + TimeDelta::seconds(600);
    assert!(store.get(tenant, &u).await.unwrap().is_none());
    store.forget_cached();
    assert!(store.get(tenant, &u).await.unwrap().is_none());

    // A write after expiry starts over, and restarts the TTL.
    let later = t0 + TimeDelta::seconds(600);
    let fresh = store.update(tenant, &u, back_navigation(&u, later)).await.unwrap();
    assert_eq!(fresh.counters.back_navigation_count, 1);
    *now.lock().unwrap() = later + TimeDelta::seconds(599);
    assert!(store.get(tenant, &u).await.unwrap().is_some());

    // Expired rows can be purged.
    let purged = switchboard::context_store::memory::purge_expired(&db, later + TimeDelta::seconds(601))
        .await
        .unwrap();
    assert!(purged >= 1);
    let after_purge = MemoryStore::with_clock(db.clone(), ttl, clock);
    assert!(after_purge.get(tenant, &u).await.unwrap().is_none());
}

#[tokio::test]
async fn another_process_reads_what_this_one_wrote() {
    let (app, tenant, _) = two_tenants().await;
    let serve = MemoryStore::new(app.state.db.clone(), Duration::from_secs(600));
    let worker = MemoryStore::reader(app.state.db.clone(), Duration::from_secs(600));
    let u = user("split");
    let now = clock::now();
    serve.update(tenant, &u, screen(&u, "MENU", now)).await.unwrap();
    let seen = worker.get(tenant, &u).await.unwrap().unwrap();
    assert_eq!(seen.current_screen(), Some("MENU"));
    serve.update(tenant, &u, screen(&u, "CHECKOUT", now)).await.unwrap();
    let seen = worker.get(tenant, &u).await.unwrap().unwrap();
    assert_eq!(seen.current_screen(), Some("CHECKOUT"), "not a stale copy");
}

/// The writer is the only process that changes contexts, so what it read stays true: a customer
/// without a context is read from the database once, not at every message. (Here a second
/// writer — which the store's contract rules out — stands for the database changing behind its
/// back: the first writer does not read again, a reader does.)
#[tokio::test]
async fn the_writer_reads_a_customer_once() {
    let (app, tenant, _) = two_tenants().await;
    let ttl = Duration::from_secs(600);
    let serve = MemoryStore::new(app.state.db.clone(), ttl);
    let reader = MemoryStore::reader(app.state.db.clone(), ttl);
    let u = user("once");
    assert!(serve.get(tenant, &u).await.unwrap().is_none());
    assert!(reader.get(tenant, &u).await.unwrap().is_none());

    let behind = MemoryStore::new(app.state.db.clone(), ttl);
    behind
        .update(tenant, &u, screen(&u, "MENU", clock::now()))
        .await
        .unwrap();
    assert!(serve.get(tenant, &u).await.unwrap().is_none(), "read again");
    let seen = reader.get(tenant, &u).await.unwrap().unwrap();
    assert_eq!(seen.current_screen(), Some("MENU"));
    // Its own writes it keeps as ever.
    serve
        .update(tenant, &u, screen(&u, "CART", clock::now()))
        .await
        .unwrap();
    let own = serve.get(tenant, &u).await.unwrap().unwrap();
    assert_eq!(own.current_screen(), Some("CART"));
}

async fn redis_store(ttl: Duration) -> Option<(RedisStore, String)> {
    let Some(url) = std::env::var("TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("TEST_REDIS_URL is not set: skipping the Redis context store tests");
        return None;
    };
    let prefix = format!("sb-test-{}", uuid::Uuid::new_v4().simple());
    Some((RedisStore::connect(&url, ttl, &prefix).await.unwrap(), url))
}

#[tokio::test]
async fn the_redis_store_passes_the_suite() {
    let Some((store, _)) = redis_store(Duration::from_secs(3600)).await else {
        return;
    };
    let tenant = TenantId(uuid::Uuid::now_v7());
    let other = TenantId(uuid::Uuid::now_v7());
    store_suite(Arc::new(store), tenant, other).await;
}

#[tokio::test]
async fn the_redis_store_keeps_one_hash_per_customer_with_a_ttl_refreshed_on_write() {
    let Some((store, url)) = redis_store(Duration::from_secs(300)).await else {
        return;
    };
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let tenant = TenantId(uuid::Uuid::now_v7());
    let u = user("redis-ttl");
    let key = store.key(tenant, &u);
    store
        .update(tenant, &u, back_navigation(&u, clock::now()))
        .await
        .unwrap();

    let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await.unwrap();
    assert_eq!(kind, "hash");
    let ttl_ms: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!((290_000..=300_000).contains(&ttl_ms), "{ttl_ms}");

    // Shorten it by hand; the next write restores the full TTL.
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(5_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    store
        .update(tenant, &u, back_navigation(&u, clock::now()))
        .await
        .unwrap();
    let ttl_ms: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(ttl_ms > 290_000, "{ttl_ms}");

    // An expired (here: removed by Redis) context is gone, and the next write starts over.
    let _: i64 = redis::cmd("DEL").arg(&key).query_async(&mut conn).await.unwrap();
    assert!(store.get(tenant, &u).await.unwrap().is_none());
    let fresh = store
        .update(tenant, &u, back_navigation(&u, clock::now()))
        .await
        .unwrap();
    assert_eq!(fresh.counters.back_navigation_count, 1);

    // A value it cannot read is not fatal: the customer starts over.
    let _: i64 = redis::cmd("HSET")
        .arg(&key)
        .arg("ctx")
        .arg("{not json")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store.get(tenant, &u).await.unwrap().is_none());
    let fresh = store
        .update(tenant, &u, back_navigation(&u, clock::now()))
        .await
        .unwrap();
    assert_eq!(fresh.counters.back_navigation_count, 1);
    store.delete(tenant, &u).await.unwrap();
}
