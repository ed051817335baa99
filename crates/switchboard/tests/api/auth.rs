//! API keys and tenant isolation.

use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;
use switchboard::credentials::{self, FreshdeskCredentials};
use switchboard::jobs::queue;
use switchboard::jobs::{JobSpec, NewJob};

use crate::helpers::{new_tenant, spawn_app_without_worker};

#[derive(serde::Serialize, serde::Deserialize)]
struct Noop {}
impl JobSpec for Noop {
    const KIND: &'static str = "test.noop";
}

async fn assert_problem(res: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string());
    body
}

#[tokio::test]
async fn a_missing_or_invalid_key_is_401() {
    let app = spawn_app_without_worker().await;
    let res = app.get("api/v1/me", None).await;
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_problem(res, 401).await;
    assert_problem(app.get("api/v1/me", Some("sk_not-a-real-key")).await, 401).await;
    let res = app
        .http
        .get(app.url("api/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(res, 401).await;
}

#[tokio::test]
async fn keys_identify_their_tenant_and_scope() {
    let app = spawn_app_without_worker().await;
    let me: serde_json::Value = app.get("api/v1/me", Some(&app.secret_key)).await.json().await.unwrap();
    assert_eq!(me["tenant"]["slug"], app.tenant.slug.as_str());
    assert_eq!(me["key"]["kind"], "secret");
    let me: serde_json::Value = app
        .get("api/v1/me", Some(&app.publishable_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["key"]["kind"], "publishable");
    // A publishable key may not use secret-key endpoints.
    let body = assert_problem(app.get("api/v1/jobs", Some(&app.publishable_key)).await, 403).await;
    assert!(body["detail"].as_str().unwrap().contains("secret key"));
}

#[tokio::test]
async fn a_revoked_key_stops_working() {
    let app = spawn_app_without_worker().await;
    let (key, record) = api_keys::create(&app.state.db, app.tenant.id, KeyKind::Secret, "temp", clock::now())
        .await
        .unwrap();
    assert_eq!(app.get("api/v1/me", Some(&key)).await.status(), 200);
    assert!(
        switchboard::db::api_keys::revoke(&app.state.db, app.tenant.id, record.id, clock::now())
            .await
            .unwrap()
    );
    app.state.keys.clear();
    assert_problem(app.get("api/v1/me", Some(&key)).await, 401).await;
}

#[tokio::test]
async fn tenant_a_cannot_read_tenant_b_data() {
    let app = spawn_app_without_worker().await;
    let b = new_tenant(&app.state).await;
    let job = NewJob::new(&Noop {}).unwrap().tenant(b.id);
    let b_job = queue::enqueue_now(&app.state.db, job, clock::now())
        .await
        .unwrap()
        .unwrap();
    // A's key: B's job is not found (not forbidden: its existence is not revealed) …
    assert_problem(
        app.get(&format!("api/v1/jobs/{b_job}"), Some(&app.secret_key)).await,
        404,
    )
    .await;
    let res = app
        .http
        .post(app.url(&format!("api/v1/jobs/{b_job}/cancel")))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .unwrap();
    assert_problem(res, 404).await;
    let list: serde_json::Value = app
        .get("api/v1/jobs", Some(&app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert!(list["data"].as_array().unwrap().iter().all(|j| j["id"] != b_job));
    // … while B's own key reads it.
    let (b_key, _) = api_keys::create(&app.state.db, b.id, KeyKind::Secret, "b", clock::now())
        .await
        .unwrap();
    let res = app.get(&format!("api/v1/jobs/{b_job}"), Some(&b_key)).await;
    assert_eq!(res.status(), 200);
    // And B's job is still queued: A's cancel touched nothing.
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["state"], "queued");
}

#[tokio::test]
async fn credentials_round_trip_and_fail_closed_for_another_tenant() {
    let app = spawn_app_without_worker().await;
    let b = new_tenant(&app.state).await;
    let creds = FreshdeskCredentials {
        base_url: url::Url::parse("https://acme.freshdesk.com/api/v2").unwrap(),
        api_key: secrecy::SecretString::from("fd-key-123".to_owned()),
        webhook_token: None,
    };
    let (db, key) = (&app.state.db, &app.state.master_key);
    credentials::store(db, key, app.tenant.id, &creds, clock::now())
        .await
        .unwrap();
    let back: FreshdeskCredentials = credentials::load(db, key, app.tenant.id).await.unwrap().unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&back.api_key), "fd-key-123");
    assert!(
        credentials::load::<FreshdeskCredentials>(db, key, b.id)
            .await
            .unwrap()
            .is_none()
    );

    // A's sealed row copied to B does not open for B.
    let sealed = switchboard::db::tenants::get_credential(db, app.tenant.id, "freshdesk")
        .await
        .unwrap()
        .unwrap();
    switchboard::db::tenants::put_credential(db, b.id, "freshdesk", &sealed, clock::now())
        .await
        .unwrap();
    assert!(credentials::load::<FreshdeskCredentials>(db, key, b.id).await.is_err());
    // Nor under another master key.
    let other = switchboard::crypto::MasterKey::parse(&secrecy::SecretString::from("11".repeat(32))).unwrap();
    assert!(
        credentials::load::<FreshdeskCredentials>(db, &other, app.tenant.id)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn integrations_are_write_only_and_validated() {
    let app = spawn_app_without_worker().await;
    let put = |path: &'static str, body: serde_json::Value| {
        let req = app.http.put(app.url(path)).bearer_auth(&app.secret_key).json(&body);
        async move { req.send().await.unwrap() }
    };
    let res = put("api/v1/integrations/freshdesk", serde_json::json!({ "domain": "acme", "api_key": "fd-secret-key-123456", "webhook_token": "a-long-webhook-token-000" })).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["freshdesk"]["base_url"], "https://acme.freshdesk.com/api/v2");
    assert_eq!(body["freshdesk"]["api_key"], "••••3456");
    assert!(
        !body.to_string().contains("fd-secret-key-123456") && !body.to_string().contains("a-long-webhook-token-000")
    );
    assert!(
        body["webhook_urls"]["freshdesk"]
            .as_str()
            .unwrap()
            .ends_with(&format!("webhooks/{}/freshdesk", app.tenant.slug))
    );

    for (path, bad, field) in [
        (
            "api/v1/integrations/freshdesk",
            serde_json::json!({ "api_key": "k" }),
            "base_url",
        ),
        (
            "api/v1/integrations/freshdesk",
            serde_json::json!({ "domain": "acme", "api_key": "k", "webhook_token": "short" }),
            "webhook_token",
        ),
        (
            "api/v1/integrations/freshchat",
            serde_json::json!({ "api_url": "ftp://x", "api_token": "t" }),
            "api_url",
        ),
        (
            "api/v1/integrations/freshchat",
            serde_json::json!({ "api_url": "https://api.freshchat.com/v2", "api_token": "t", "webhook_public_key": "not a key" }),
            "webhook_public_key",
        ),
    ] {
        let res = put(path, bad).await;
        assert_eq!(res.status(), 422);
        let p: serde_json::Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field);
    }
    // A publishable key cannot touch integrations.
    let res = app
        .http
        .get(app.url("api/v1/integrations"))
        .bearer_auth(&app.publishable_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .http
        .delete(app.url("api/v1/integrations/freshdesk"))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let body: serde_json::Value = app
        .get("api/v1/integrations", Some(&app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert!(body["freshdesk"].is_null());
}

#[tokio::test]
async fn settings_are_patched_validated_and_shown_in_currency() {
    let app = spawn_app_without_worker().await;
    let patch = |body: serde_json::Value| {
        let req = app
            .http
            .patch(app.url("api/v1/settings"))
            .bearer_auth(&app.secret_key)
            .json(&body);
        async move { req.send().await.unwrap() }
    };
    let shown: serde_json::Value = app
        .get("api/v1/settings", Some(&app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["routing"]["low_threshold"], serde_json::json!(5000));
    let res =
        patch(serde_json::json!({ "routing": { "low_threshold": 4999.5 }, "freshdesk": { "calls_per_minute": 700 } }))
            .await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["routing"]["low_threshold"], serde_json::json!(4999.5));
    assert_eq!(
        body["routing"]["high_threshold"],
        serde_json::json!(25000),
        "untouched keys keep their values"
    );
    assert_eq!(body["freshdesk"]["calls_per_minute"], 700);
    // Typos, bad amounts and inconsistent thresholds are refused by name; nothing changes.
    for (bad, field) in [
        (
            serde_json::json!({ "routing": { "low_treshold": 1 } }),
            "routing.low_treshold",
        ),
        (serde_json::json!({ "agent_hourly_rate": -1 }), "agent_hourly_rate"),
        (serde_json::json!({ "routing": { "low_threshold": 30000 } }), "routing"),
    ] {
        let res = patch(bad).await;
        assert_eq!(res.status(), 422);
        let p: serde_json::Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field);
    }
    let shown: serde_json::Value = app
        .get("api/v1/settings", Some(&app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["routing"]["low_threshold"], serde_json::json!(4999.5));
    let res = app
        .http
        .patch(app.url("api/v1/settings"))
        .bearer_auth(&app.publishable_key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
