//! Callback requests (SPEC §7): routing decides, staff work the queue.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;

use crate::context::{assert_invalid, call, put_cart};
use crate::helpers::{TestApp, new_tenant, spawn_app_without_worker};

async fn request(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "api/v1/call/request",
        Some(&app.publishable_key),
        Some(body),
    )
    .await
}

async fn staff(app: &TestApp, id: &Value, action: &str, body: Option<Value>) -> (u16, Value) {
    let id = id.as_str().unwrap();
    call(
        app,
        Method::POST,
        &format!("api/v1/call/{id}/{action}"),
        Some(&app.secret_key),
        body,
    )
    .await
}

#[tokio::test]
async fn calls_are_refused_unless_routing_offers_them_for_the_current_cart() {
    let app = spawn_app_without_worker().await;
    // No context at all: a cart of 0.
    let (status, problem) = request(&app, json!({"user_id": "u-1"})).await;
    assert_eq!(status, 403, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("₹25,000"), "{problem}");

    put_cart(&app, "u-1", json!({"cart_value": 24999.99})).await;
    assert_eq!(request(&app, json!({"user_id": "u-1"})).await.0, 403);

    put_cart(&app, "u-1", json!({"cart_value": 25000})).await;
    let (status, created) = request(
        &app,
        json!({"user_id": "u-1", "phone": "09876543210", "reason": "menu"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "pending");
    assert_eq!(created["phone"], "+919876543210");
    assert_eq!(created["cart_value"], 25000);
    assert_eq!(created["routing"]["allowed_channels"], json!(["CHAT", "CALL"]));

    // A high-importance event gets calls at any value.
    put_cart(&app, "u-2", json!({"cart_value": 100, "event_type": "CORPORATE"})).await;
    assert_eq!(request(&app, json!({"user_id": "u-2"})).await.0, 201);
}

#[tokio::test]
async fn a_repeated_request_returns_the_pending_one() {
    let app = spawn_app_without_worker().await;
    put_cart(&app, "u-3", json!({"cart_value": 50000})).await;
    let (status, first) = request(&app, json!({"user_id": "u-3", "phone": "+91 98765 43210"})).await;
    assert_eq!(status, 201);
    let (status, again) = request(&app, json!({"user_id": "u-3"})).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"]);

    // Once claimed, a new request is a new one.
    assert_eq!(staff(&app, &first["id"], "claim", None).await.0, 200);
    let (status, second) = request(&app, json!({"user_id": "u-3"})).await;
    assert_eq!(status, 201);
    assert_ne!(second["id"], first["id"]);
}

#[tokio::test]
async fn requests_are_validated() {
    let app = spawn_app_without_worker().await;
    put_cart(&app, "u-4", json!({"cart_value": 50000})).await;
    for (body, field) in [
        (json!({}), "user_id"),
        (json!({"user_id": ""}), "user_id"),
        (json!({"user_id": {"id": 1}}), "user_id"),
        (json!({"user_id": "u-4", "phone": "not a phone"}), "phone"),
        (json!({"user_id": "u-4", "phone": "12345"}), "phone"),
        (json!({"user_id": "u-4", "reason": "x".repeat(1001)}), "reason"),
    ] {
        assert_invalid(&request(&app, body).await, field);
    }
    // The profile's phone is used when none is given; numeric user ids are accepted.
    let path = "api/v1/context/77/profile";
    call(
        &app,
        Method::PUT,
        path,
        Some(&app.publishable_key),
        Some(json!({"phone": "98765 43210"})),
    )
    .await;
    put_cart(&app, "77", json!({"cart_value": 50000})).await;
    let (status, created) = request(&app, json!({"user_id": 77})).await;
    assert_eq!(
        (status, created["phone"].clone()),
        (201, json!("+919876543210")),
        "{created}"
    );
}

#[tokio::test]
async fn staff_list_the_queue_oldest_first_in_pages() {
    let app = spawn_app_without_worker().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let user = format!("q-{i}");
        put_cart(&app, &user, json!({"cart_value": 30000})).await;
        ids.push(request(&app, json!({"user_id": user})).await.1["id"].clone());
    }
    let (status, _) = call(
        &app,
        Method::GET,
        "api/v1/call/pending",
        Some(&app.publishable_key),
        None,
    )
    .await;
    assert_eq!(status, 403, "publishable keys cannot see the queue");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("api/v1/call/pending?limit=2&cursor={c}"),
            None => "api/v1/call/pending?limit=2".to_owned(),
        };
        let (status, page) = call(&app, Method::GET, &path, Some(&app.secret_key), None).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["data"].as_array().unwrap().iter().map(|r| r["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    staff(&app, &ids[0], "claim", None).await;
    let (_, page) = call(&app, Method::GET, "api/v1/call/pending", Some(&app.secret_key), None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 4);
    let (status, _) = call(
        &app,
        Method::GET,
        "api/v1/call/pending?cursor=nope",
        Some(&app.secret_key),
        None,
    )
    .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn claim_complete_cancel_follow_the_rules() {
    let app = spawn_app_without_worker().await;
    put_cart(&app, "u-5", json!({"cart_value": 30000})).await;
    let (_, r) = request(&app, json!({"user_id": "u-5"})).await;
    let id = r["id"].clone();

    let (status, claimed) = staff(&app, &id, "claim", Some(json!({"claimed_by": "asha@acme.test"}))).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(
        (claimed["state"].as_str(), claimed["claimed_by"].as_str()),
        (Some("claimed"), Some("asha@acme.test"))
    );
    assert!(claimed["claimed_at"].is_string());
    // The same claim again changes nothing; someone else's is refused.
    assert_eq!(
        staff(&app, &id, "claim", Some(json!({"claimed_by": "asha@acme.test"})))
            .await
            .0,
        200
    );
    let (status, problem) = staff(&app, &id, "claim", Some(json!({"claimed_by": "ravi"}))).await;
    assert_eq!(status, 409, "{problem}");

    let (status, done) = staff(&app, &id, "complete", None).await;
    assert_eq!((status, done["state"].as_str()), (200, Some("completed")));
    assert!(done["completed_at"].is_string());
    assert_eq!(staff(&app, &id, "complete", None).await.0, 200);
    assert_eq!(staff(&app, &id, "cancel", None).await.0, 409);
    assert_eq!(staff(&app, &id, "claim", None).await.0, 409);

    // Cancelled is final too.
    put_cart(&app, "u-6", json!({"cart_value": 30000})).await;
    let (_, r) = request(&app, json!({"user_id": "u-6"})).await;
    let (status, cancelled) = staff(&app, &r["id"], "cancel", None).await;
    assert_eq!((status, cancelled["state"].as_str()), (200, Some("cancelled")));
    assert_eq!(staff(&app, &r["id"], "complete", None).await.0, 409);

    // Staff actions need the secret key.
    let path = format!("api/v1/call/{}/claim", id.as_str().unwrap());
    assert_eq!(
        call(&app, Method::POST, &path, Some(&app.publishable_key), None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn another_tenants_requests_are_not_found() {
    let app = spawn_app_without_worker().await;
    put_cart(&app, "u-7", json!({"cart_value": 30000})).await;
    let (_, r) = request(&app, json!({"user_id": "u-7"})).await;
    let other = new_tenant(&app.state).await;
    let (other_key, _) = api_keys::create(&app.state.db, other.id, KeyKind::Secret, "b", clock::now())
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("api/v1/call/{id}")),
        (Method::POST, format!("api/v1/call/{id}/claim")),
        (Method::POST, format!("api/v1/call/{id}/complete")),
        (Method::POST, format!("api/v1/call/{id}/cancel")),
    ] {
        assert_eq!(call(&app, method, &path, Some(&other_key), None).await.0, 404, "{path}");
    }
    let (_, page) = call(&app, Method::GET, "api/v1/call/pending", Some(&other_key), None).await;
    assert_eq!(page["data"], json!([]));
    // Untouched.
    let (_, mine) = call(
        &app,
        Method::GET,
        &format!("api/v1/call/{id}"),
        Some(&app.secret_key),
        None,
    )
    .await;
    assert_eq!(mine["state"], "pending");
    assert_eq!(
        call(&app, Method::GET, "api/v1/call/not-a-uuid", Some(&app.secret_key), None)
            .await
            .0,
        404
    );
}
