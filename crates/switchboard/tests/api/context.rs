//! Customer context over HTTP (SPEC §5): screens, cart, profile, friction signals, the whole
//! context; keys, validation, tenancy, restart, and the debounced push to Freshchat.

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ids::UserId;
use reqwest::Method;
use sandbox::{CustomerProfile, Provider, Sandbox, SandboxConfig};
use secrecy::SecretString;
use serde_json::{Value, json};
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;
use switchboard::context_store::push::PushContext;
use switchboard::credentials::FreshchatCredentials;
use switchboard::jobs::queue::{self, ListFilter, Owner};
use switchboard::jobs::{JobSpec, JobState};

use crate::helpers::{TestApp, eventually, new_tenant, spawn, spawn_app, spawn_app_without_worker};

/// Calls the API; answers the status and the JSON body (`Null` when there is none).
pub async fn call(app: &TestApp, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts a 422 whose problem names `field`.
pub fn assert_invalid(answer: &(u16, Value), field: &str) {
    assert_eq!(answer.0, 422, "{answer:?}");
    let errors = answer.1["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["field"] == field),
        "expected a problem naming '{field}': {answer:?}"
    );
}

pub async fn put_screen(app: &TestApp, user: &str, screen: &str) -> (u16, Value) {
    let path = format!("api/v1/context/{user}/screen");
    call(
        app,
        Method::PUT,
        &path,
        Some(&app.publishable_key),
        Some(json!({"screen_name": screen})),
    )
    .await
}

pub async fn put_cart(app: &TestApp, user: &str, cart: Value) -> (u16, Value) {
    let path = format!("api/v1/context/{user}/cart");
    call(app, Method::PUT, &path, Some(&app.publishable_key), Some(cart)).await
}

pub async fn signal(app: &TestApp, user: &str, body: Value) -> (u16, Value) {
    let path = format!("api/v1/context/{user}/friction-signal");
    call(app, Method::POST, &path, Some(&app.publishable_key), Some(body)).await
}

pub async fn get_context(app: &TestApp, user: &str, key: &str) -> (u16, Value) {
    call(app, Method::GET, &format!("api/v1/context/{user}"), Some(key), None).await
}

#[tokio::test]
async fn context_endpoints_need_a_key_and_take_either_kind() {
    let app = spawn_app_without_worker().await;
    let (status, body) = call(
        &app,
        Method::PUT,
        "api/v1/context/u-1/screen",
        None,
        Some(json!({"screen_name": "MENU"})),
    )
    .await;
    assert_eq!((status, body["status"].clone()), (401, json!(401)));
    let (status, _) = call(&app, Method::GET, "api/v1/context/u-1", Some("pk_nope"), None).await;
    assert_eq!(status, 401);
    for key in [&app.publishable_key, &app.secret_key] {
        let path = "api/v1/context/u-1/screen";
        let (status, _) = call(&app, Method::PUT, path, Some(key), Some(json!({"screen_name": "menu"}))).await;
        assert_eq!(status, 200);
        let (status, ctx) = get_context(&app, "u-1", key).await;
        assert_eq!((status, ctx["current_screen"].as_str()), (200, Some("MENU")));
    }
}

#[tokio::test]
async fn screens_by_body_or_by_the_seeds_query_and_back_navigation() {
    let app = spawn_app_without_worker().await;
    let (status, answer) = put_screen(&app, "u-2", "MENU_BROWSE").await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "updated");
    assert_eq!(answer["friction_score"], 0);
    assert_eq!(answer["should_show_help"], false);

    // The seed's form: ?screen_name= and no body.
    let (status, _) = call(
        &app,
        Method::PUT,
        "api/v1/context/u-2/screen?screen_name=GUEST_COUNT",
        Some(&app.publishable_key),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let path = "api/v1/context/u-2/screen";
    let back = json!({"screen_name": "MENU_BROWSE", "metadata": {"is_back_navigation": true}});
    assert_eq!(
        call(&app, Method::PUT, path, Some(&app.publishable_key), Some(back))
            .await
            .0,
        200
    );

    let (_, ctx) = get_context(&app, "u-2", &app.secret_key).await;
    assert_eq!(ctx["current_screen"], "MENU_BROWSE");
    assert_eq!(ctx["previous_screen"], "GUEST_COUNT");
    assert_eq!(ctx["back_navigation_count"], 1);
    assert!(ctx["session_id"].is_string() && ctx["session_start"].is_string());

    // Neither body nor query, a blank name, a bad metadata flag: 422 naming the field.
    assert_invalid(
        &call(&app, Method::PUT, path, Some(&app.publishable_key), None).await,
        "screen_name",
    );
    let blank = json!({"screen_name": "  "});
    assert_invalid(
        &call(&app, Method::PUT, path, Some(&app.publishable_key), Some(blank)).await,
        "screen_name",
    );
    let bad = json!({"screen_name": "X", "metadata": {"is_back_navigation": "maybe"}});
    assert_invalid(
        &call(&app, Method::PUT, path, Some(&app.publishable_key), Some(bad)).await,
        "metadata.is_back_navigation",
    );
    let not_json = app
        .http
        .put(app.url(path))
        .bearer_auth(&app.publishable_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let long_user = "x".repeat(256);
    assert_invalid(&put_screen(&app, &long_user, "MENU").await, "user_id");
}

#[tokio::test]
async fn cart_values_are_exact_and_validated() {
    let app = spawn_app_without_worker().await;
    let cart =
        json!({"cart_value": 24999.99, "items": [{"sku": "p-1", "name": "Platter", "qty": 2, "price": 12499.995e0}]});
    assert_invalid(&put_cart(&app, "u-3", cart).await, "items[0].price");
    let cart = json!({
        "cart_value": 25000.10, "guest_count": 120, "event_type": "wedding", "event_date": "2026-12-01",
        "selected_platter": "Royal", "items": [{"sku": "p-1", "name": "Platter", "qty": 2, "price": 12500.05}]
    });
    let (status, answer) = put_cart(&app, "u-3", cart).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["routing"]["allowed_channels"], json!(["CHAT", "CALL"]));
    assert_eq!(answer["routing"]["priority"], "HIGH");
    let (_, ctx) = get_context(&app, "u-3", &app.secret_key).await;
    assert_eq!(ctx["cart_value"].to_string(), "25000.1");
    assert_eq!(ctx["cart_items"][0]["price"].to_string(), "12500.05");
    assert_eq!(ctx["event_type"], "WEDDING");
    assert_eq!(ctx["guest_count"], 120);
    assert_eq!(ctx["currency"], "INR");

    let cases = [
        (json!({"cart_value": -1}), "cart_value"),
        (json!({"cart_value": "abc"}), "cart_value"),
        (json!({"cart_value": 10.001}), "cart_value"),
        (json!({"items": []}), "cart_value"),
        (
            json!({"cart_value": 10, "items": [{"sku": "a", "qty": 0, "price": 1}]}),
            "items[0].qty",
        ),
        (
            json!({"cart_value": 10, "items": [{"sku": "a", "qty": "two", "price": 1}]}),
            "items[0].qty",
        ),
        (
            json!({"cart_value": 10, "items": [{"qty": 1, "price": 1}]}),
            "items[0].sku",
        ),
        (json!({"cart_value": 10, "guest_count": -3}), "guest_count"),
        (json!({"cart_value": 10, "event_date": "next week"}), "event_date"),
    ];
    for (body, field) in cases {
        assert_invalid(&put_cart(&app, "u-3", body).await, field);
    }
    // Nothing refused changed anything.
    let (_, ctx) = get_context(&app, "u-3", &app.secret_key).await;
    assert_eq!(ctx["cart_value"].to_string(), "25000.1");
}

#[tokio::test]
async fn signals_are_logged_counted_and_scored() {
    let app = spawn_app_without_worker().await;
    let user = "u-4";
    let path = format!("api/v1/context/{user}/profile");
    let profile = json!({"past_order_count": 0, "language": "en", "name": "Asha", "email": "asha@example.com"});
    let (status, answer) = call(&app, Method::PUT, &path, Some(&app.publishable_key), Some(profile)).await;
    assert_eq!(
        (status, answer["friction_score"].clone()),
        (200, json!(10)),
        "first-time user"
    );
    put_screen(&app, user, "CHECKOUT").await;

    let (status, answer) = signal(&app, user, json!({"type": "PAYMENT_FAILURE", "session_id": "app-s-1"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["friction_score"], 50);
    assert_eq!(answer["should_show_help"], false);
    assert_eq!(answer["help_message"], Value::Null);
    for _ in 0..4 {
        signal(&app, user, json!({"type": "back_nav", "value": 1})).await;
    }
    let (_, answer) = signal(
        &app,
        user,
        json!({"type": "PRICE_CHECK", "value": "4999.5", "screen": "menu"}),
    )
    .await;
    assert_eq!(answer["friction_score"], 75);
    assert_eq!(answer["should_show_help"], true);
    assert_eq!(answer["help_message"], "Need help completing your order?");
    assert_eq!(
        answer["friction_reasons"],
        json!(["back_navigation", "first_time_user", "payment_failure"])
    );
    // Any other type is stored and scores nothing.
    let (_, answer) = signal(&app, user, json!({"type": "RAGE_TAP"})).await;
    assert_eq!(answer["friction_score"], 75);

    let user_id = UserId::parse(user).unwrap();
    let stored = switchboard::friction_signals::recent_for_user(&app.state.db, app.tenant.id, &user_id, 50)
        .await
        .unwrap();
    assert_eq!(stored.len(), 7);
    assert!(
        stored.iter().all(|s| s.session_id == "app-s-1"),
        "the client's session id is kept"
    );
    assert_eq!(stored[0].signal_type, "RAGE_TAP");
    assert_eq!(stored[1].signal_type, "PRICE_CHECK");
    assert_eq!(stored[1].screen.as_deref(), Some("MENU"));
    assert_eq!(
        stored[1].value.as_ref().map(|v| v.0.to_string()).as_deref(),
        Some("4999.5")
    );
    assert_eq!(
        stored[0].screen.as_deref(),
        Some("CHECKOUT"),
        "the current screen when none is sent"
    );

    // Unknown shapes and non-numeric values are refused, naming the field.
    let cases = [
        (json!({"kind": "INACTIVITY"}), "type"),
        (json!({"type": 5}), "type"),
        (json!({"type": ""}), "type"),
        (json!({"type": "INACTIVITY", "value": "abc"}), "value"),
        (json!({"type": "INACTIVITY", "value": {"seconds": 3}}), "value"),
        (json!({"type": "INACTIVITY", "session_id": 42}), "session_id"),
        (json!(["INACTIVITY"]), "body"),
    ];
    for (body, field) in cases {
        assert_invalid(&signal(&app, user, body).await, field);
    }
    let (_, ctx) = get_context(&app, user, &app.secret_key).await;
    assert_eq!(ctx["payment_retry_count"], 1);
    assert_eq!(ctx["back_navigation_count"], 4);
    assert_eq!(ctx["price_check_count"], 1);
    assert_eq!(ctx["should_show_help"], true);
}

#[tokio::test]
async fn friction_detection_can_be_switched_off() {
    let app = spawn_app_without_worker().await;
    let mut settings = app.tenant.settings.clone();
    settings.friction.enabled = false;
    app.state
        .tenants
        .update_settings(app.tenant.id, &settings, clock::now())
        .await
        .unwrap();
    put_screen(&app, "u-5", "PAYMENT").await;
    for _ in 0..3 {
        let (status, answer) = signal(&app, "u-5", json!({"type": "PAYMENT_FAILURE"})).await;
        assert_eq!(status, 200);
        assert_eq!(answer["friction_score"], 0);
        assert_eq!(answer["should_show_help"], false);
    }
    let (_, ctx) = get_context(&app, "u-5", &app.secret_key).await;
    assert_eq!(
        (ctx["friction_score"].clone(), ctx["payment_retry_count"].clone()),
        (json!(0), json!(3))
    );
}

#[tokio::test]
async fn profiles_are_validated_and_hidden_from_publishable_keys() {
    let app = spawn_app_without_worker().await;
    let path = "api/v1/context/u-6/profile";
    let bad = [
        (json!({"email": "not an e-mail"}), "email"),
        (json!({"phone": "call me maybe"}), "phone"),
        (json!({"past_order_count": -1}), "past_order_count"),
        (json!({"past_order_count": "many"}), "past_order_count"),
        (json!({"lifetime_value": -5}), "lifetime_value"),
    ];
    for (body, field) in bad {
        assert_invalid(
            &call(&app, Method::PUT, path, Some(&app.publishable_key), Some(body)).await,
            field,
        );
    }
    let profile = json!({"name": "Ravi", "email": "ravi@example.com", "phone": "+91 98765 43210", "tier": "gold",
                         "past_order_count": 3, "lifetime_value": 125000.5});
    assert_eq!(
        call(&app, Method::PUT, path, Some(&app.secret_key), Some(profile))
            .await
            .0,
        200
    );
    let (_, full) = get_context(&app, "u-6", &app.secret_key).await;
    assert_eq!(full["name"], "Ravi");
    assert_eq!(full["tier"], "GOLD");
    assert_eq!(full["lifetime_value"].to_string(), "125000.5");
    let (_, public) = get_context(&app, "u-6", &app.publishable_key).await;
    assert_eq!(
        (public["name"].clone(), public["email"].clone(), public["phone"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(public["tier"], "GOLD");
}

#[tokio::test]
async fn contexts_are_per_tenant_and_unknown_ones_are_404() {
    let app = spawn_app_without_worker().await;
    put_screen(&app, "shared-id", "CHECKOUT").await;
    let other = new_tenant(&app.state).await;
    let (other_key, _) = api_keys::create(&app.state.db, other.id, KeyKind::Secret, "b", clock::now())
        .await
        .unwrap();
    let (status, body) = get_context(&app, "shared-id", &other_key).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(get_context(&app, "never-seen", &app.secret_key).await.0, 404);
}

#[tokio::test]
async fn the_context_survives_a_restart() {
    let first = spawn_app_without_worker().await;
    put_screen(&first, "u-7", "GUEST_COUNT").await;
    put_cart(&first, "u-7", json!({"cart_value": 18000, "guest_count": 40})).await;
    signal(&first, "u-7", json!({"type": "PRICE_CHECK"})).await;
    let (_, before) = get_context(&first, "u-7", &first.secret_key).await;
    let url = first.state.config.database_url.clone();
    let (key, tenant) = (first.secret_key.clone(), first.tenant.id);
    first.shutdown.cancel();
    drop(first);

    // A new process on the same database: nothing of the first one's memory.
    let second = spawn(false, &[("database_url", url.as_str())]).await;
    let (status, after) = get_context(&second, "u-7", &key).await;
    assert_eq!(status, 200, "{after}");
    for field in [
        "current_screen",
        "cart_value",
        "guest_count",
        "price_check_count",
        "session_id",
        "session_start",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let user = UserId::parse("u-7").unwrap();
    assert!(second.state.contexts.get(tenant, &user).await.unwrap().is_some());
}

#[tokio::test]
async fn without_freshchat_the_push_has_nothing_to_do() {
    let app = spawn_app().await;
    put_screen(&app, "u-8", "MENU").await;
    let job = eventually(Duration::from_secs(20), async || {
        let filter = ListFilter {
            state: None,
            kind: Some(PushContext::KIND.to_owned()),
            before: None,
            limit: 10,
        };
        let jobs = queue::list(&app.state.db, Owner::Tenant(app.tenant.id), &filter)
            .await
            .unwrap();
        jobs.into_iter()
            .find(|j| j.state != JobState::Queued && j.state != JobState::Running)
    })
    .await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
}

/// A sandbox on its own port, with the test tenant's Freshchat pointing at it.
async fn connect_sandbox(app: &TestApp) -> Sandbox {
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().nest("/sandbox", sandbox.router());
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
    });
    let creds = FreshchatCredentials {
        api_url: format!("http://{addr}/sandbox/freshchat/v2").parse().unwrap(),
        app_id: None,
        api_token: SecretString::from(sandbox.config().freshchat_token.clone()),
        webhook_public_key: None,
        webhook_secret: None,
    };
    app.state.integrations.store(app.tenant.id, &creds).await.unwrap();
    sandbox
}

#[tokio::test]
async fn fifty_screens_cost_a_handful_of_freshchat_calls_ending_with_the_latest() {
    let app = spawn_app().await;
    let sandbox = connect_sandbox(&app).await;
    let user = format!("cust-{}", uuid::Uuid::new_v4().simple());
    let freshchat_user = sandbox
        .upsert_customer(&user, CustomerProfile::default())
        .await
        .unwrap();

    let started = Instant::now();
    for i in 0..50 {
        let (status, _) = put_screen(&app, &user, &format!("SCREEN_{i}")).await;
        assert_eq!(status, 200);
    }
    put_cart(&app, &user, json!({"cart_value": 7500.5})).await;
    let elapsed = started.elapsed();

    let pushed = eventually(Duration::from_secs(30), async || {
        let u = sandbox.inspect().user(&freshchat_user)?;
        (u.property("current_screen") == Some("SCREEN_49") && u.property("cart_value") == Some("7500.5")).then_some(u)
    })
    .await;
    assert_eq!(pushed.property("friction_score"), Some("0"));
    let calls = sandbox.inspect().count(Provider::Freshchat, "PUT /users/{id}");
    eprintln!("{calls} Freshchat pushes for 51 updates in {elapsed:?}");
    // At most one push per second of updates (plus the second each burst spills into).
    let bound = elapsed.as_secs() + 2;
    assert!(
        calls >= 1 && calls <= bound,
        "{calls} calls for 51 updates in {elapsed:?}"
    );
    // The customer was looked up once, not per push.
    assert_eq!(sandbox.inspect().count(Provider::Freshchat, "GET /users"), 1);
}

#[tokio::test]
async fn the_redis_store_serves_the_api() {
    let Some(redis) = std::env::var("TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("TEST_REDIS_URL is not set: skipping the API-on-Redis test");
        return;
    };
    let app = spawn(false, &[("redis_url", &redis)]).await;
    let user = format!("r-{}", uuid::Uuid::new_v4().simple());
    put_screen(&app, &user, "CHECKOUT").await;
    put_cart(&app, &user, json!({"cart_value": 30000})).await;
    let (status, ctx) = get_context(&app, &user, &app.secret_key).await;
    assert_eq!(status, 200, "{ctx}");
    assert_eq!(
        (ctx["current_screen"].clone(), ctx["cart_value"].clone()),
        (json!("CHECKOUT"), json!(30000))
    );
    // Nothing went to the table the in-process store uses.
    let user_id = UserId::parse(user).unwrap();
    let memory = switchboard::context_store::memory::MemoryStore::new(app.state.db.clone(), Duration::from_secs(60));
    let store: Arc<dyn switchboard::context_store::ContextStore> = Arc::new(memory);
    assert!(store.get(app.tenant.id, &user_id).await.unwrap().is_none());
    app.state.contexts.delete(app.tenant.id, &user_id).await.unwrap();
}
