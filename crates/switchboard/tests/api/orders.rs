//! `POST /api/v1/orders` (SPEC §9): idempotent by order id, linked to the assisting incidence.

use domain::ids::{ConversationId, UserId};
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind, Identity};
use reqwest::Method;
use serde_json::{Value, json};
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;

use crate::context::{assert_invalid, call, get_context};
use crate::helpers::{TestApp, new_tenant, spawn_app_without_worker};

async fn report(app: &TestApp, body: Value) -> (u16, Value) {
    call(app, Method::POST, "api/v1/orders", Some(&app.secret_key), Some(body)).await
}

#[tokio::test]
async fn orders_are_idempotent_by_order_id() {
    let app = spawn_app_without_worker().await;
    let order = json!({"order_id": "o-1", "user_id": "u-1", "value": 30999.5, "status": "placed",
                       "placed_at": "2026-03-01T10:00:00.123456789+05:30"});
    let (status, created) = report(&app, order.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["value"].to_string(), "30999.5");
    assert_eq!(created["currency"], "INR");
    assert_eq!(created["placed_at"], "2026-03-01T04:30:00.123456Z");
    assert_eq!(created["assisted"], false);
    assert_eq!(created["incidence_id"], Value::Null);

    let (status, again) = report(&app, order.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(again, created, "the same report answers the same order");

    let mut modified = order.clone();
    modified["status"] = json!("MODIFIED");
    modified["value"] = json!(28000);
    let (status, changed) = report(&app, modified).await;
    assert_eq!(status, 200);
    assert_eq!(
        (changed["status"].as_str(), changed["value"].clone()),
        (Some("modified"), json!(28000))
    );
    assert_eq!(changed["placed_at"], created["placed_at"]);
    assert_eq!(changed["created_at"], created["created_at"]);

    let (status, shown) = call(&app, Method::GET, "api/v1/orders/o-1", Some(&app.secret_key), None).await;
    assert_eq!((status, shown), (200, changed));

    // The order id belongs to its customer.
    let mut stolen = order.clone();
    stolen["user_id"] = json!("u-2");
    assert_eq!(report(&app, stolen).await.0, 409);

    // The live context knows the order; cancelling it forgets it.
    let (_, ctx) = get_context(&app, "u-1", &app.secret_key).await;
    assert_eq!(ctx["order_id"], "o-1");
    let mut cancelled = order.clone();
    cancelled["status"] = json!("cancelled");
    assert_eq!(report(&app, cancelled).await.0, 200);
    let (_, ctx) = get_context(&app, "u-1", &app.secret_key).await;
    assert_eq!(ctx["order_id"], Value::Null);
}

#[tokio::test]
async fn orders_are_validated_and_need_the_secret_key() {
    let app = spawn_app_without_worker().await;
    let valid = json!({"order_id": 1001, "user_id": 42, "value": 100, "status": "placed"});
    let (status, _) = call(
        &app,
        Method::POST,
        "api/v1/orders",
        Some(&app.publishable_key),
        Some(valid.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, Method::POST, "api/v1/orders", None, Some(valid.clone())).await;
    assert_eq!(status, 401);
    let cases = [
        ("value", json!(-1), "value"),
        ("value", json!("100"), "value"),
        ("value", json!(10.001), "value"),
        ("status", json!("shipped"), "status"),
        ("placed_at", json!("yesterday"), "placed_at"),
        ("order_id", json!(""), "order_id"),
        ("order_id", json!(null), "order_id"),
        ("user_id", json!([1]), "user_id"),
        ("currency", json!("USD"), "currency"),
    ];
    for (key, value, field) in cases {
        let mut body = valid.clone();
        body[key] = value;
        assert_invalid(&report(&app, body).await, field);
    }
    let mut missing = valid.clone();
    missing.as_object_mut().unwrap().remove("status");
    assert_invalid(&report(&app, missing).await, "status");
    // Numeric ids are taken as text.
    let (status, created) = report(&app, valid).await;
    assert_eq!(
        (status, created["order_id"].clone(), created["user_id"].clone()),
        (201, json!("1001"), json!("42"))
    );
}

#[tokio::test]
async fn orders_are_per_tenant() {
    let app = spawn_app_without_worker().await;
    let order = json!({"order_id": "shared", "user_id": "u-1", "value": 10, "status": "placed"});
    assert_eq!(report(&app, order.clone()).await.0, 201);
    let other = new_tenant(&app.state).await;
    let (key, _) = api_keys::create(&app.state.db, other.id, KeyKind::Secret, "b", clock::now())
        .await
        .unwrap();
    assert_eq!(
        call(&app, Method::GET, "api/v1/orders/shared", Some(&key), None)
            .await
            .0,
        404
    );
    let mut theirs = order.clone();
    theirs["user_id"] = json!("someone-else");
    let (status, _) = call(&app, Method::POST, "api/v1/orders", Some(&key), Some(theirs)).await;
    assert_eq!(status, 201, "the same order id is another order in another tenant");
}

#[tokio::test]
async fn an_order_after_an_incidence_is_assisted_and_sets_its_impact() {
    let app = spawn_app_without_worker().await;
    let user = UserId::parse("u-assisted").unwrap();
    let now = clock::now();
    let event = ConversationEvent {
        at: now - chrono::Duration::hours(2),
        key: "m-1".into(),
        kind: EventKind::Message {
            actor: Actor::User,
            text: "Can you do 120 guests?".into(),
            private: false,
            agent_id: None,
        },
        context: None,
        identity: Some(Identity {
            user_id: Some(user.clone()),
            provider_user_id: Some("fc-user-1".into()),
        }),
    };
    let conversation = ConversationId::parse("conv-assisted").unwrap();
    let recorded = switchboard::incidences::record(&app.state, &app.tenant, Channel::InAppChat, &conversation, &event)
        .await
        .unwrap();
    let incidence = recorded.incidence.id;

    let order = json!({"order_id": "o-a", "user_id": "u-assisted", "value": 42000, "status": "placed"});
    let (status, created) = report(&app, order.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["incidence_id"], json!(incidence));
    assert_eq!(created["assisted"], true);
    let summary = switchboard::db::incidences::summary(&app.state.db, app.tenant.id, incidence)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.order_impact, "PLACED");
    assert_eq!(summary.order_id.as_deref(), Some("o-a"));

    // A replay links nothing twice.
    let (status, again) = report(&app, order).await;
    assert_eq!((status, again["incidence_id"].clone()), (200, json!(incidence)));

    // An order outside the assisted window (7 days) is self-serve.
    let old = json!({"order_id": "o-old", "user_id": "u-assisted", "value": 100, "status": "placed",
                     "placed_at": (now - chrono::Duration::days(30)).to_rfc3339()});
    let (_, self_serve) = report(&app, old).await;
    assert_eq!(self_serve["assisted"], false);
}
