//! Tenant isolation over every API route, taken from the router's own route table: a route
//! added later without a case here fails this test until someone says how tenant B's data is
//! reached through it.

use axum::http::Method;
use domain::ids::{ConversationId, UserId};
use domain::incidence::{Actor, Channel, ConversationEvent, EventKind, Identity};
use serde_json::{Value, json};
use switchboard::auth::api_keys::{self, KeyKind};
use switchboard::clock;
use switchboard::jobs::{JobSpec, NewJob, queue};

use crate::helpers::{TestApp, new_tenant, spawn_app_without_worker};

#[derive(serde::Serialize, serde::Deserialize)]
struct Idle {}
impl JobSpec for Idle {
    const KIND: &'static str = "test.idle";
}

/// Tenant B's resources and the values only B's data contains.
struct B {
    key: String,
    job: i64,
    incidence: String,
    user: &'static str,
    call: String,
    order: &'static str,
    canaries: Vec<String>,
}

/// The request is built before the future, which so borrows nothing.
fn b_call(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> impl Future<Output = reqwest::Response> + use<> {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    async move { req.send().await.unwrap() }
}

async fn tenant_b(app: &TestApp) -> B {
    let tenant = new_tenant(&app.state).await;
    let (key, _) = api_keys::create(&app.state.db, tenant.id, KeyKind::Secret, "b", clock::now())
        .await
        .unwrap();
    let user = "b-user";
    let job = queue::enqueue_now(
        &app.state.db,
        NewJob::new(&Idle {})
            .unwrap()
            .tenant(tenant.id)
            .run_at(clock::now() + chrono::Duration::days(1)),
        clock::now(),
    )
    .await
    .unwrap()
    .unwrap();
    // B's customer: on a secret screen, with a wedding cart (calls allowed), an order, a callback.
    let put = |path: String, body: Value| b_call(app, &key, Method::PUT, &path, Some(body));
    assert!(
        put(
            format!("api/v1/context/{user}/screen"),
            json!({ "screen_name": "B_SECRET_SCREEN" })
        )
        .await
        .status()
        .is_success()
    );
    assert!(
        put(
            format!("api/v1/context/{user}/cart"),
            json!({ "cart_value": 31337.77, "items": [], "event_type": "WEDDING" })
        )
        .await
        .status()
        .is_success()
    );
    let call: Value = b_call(
        app,
        &key,
        Method::POST,
        "api/v1/call/request",
        Some(json!({ "user_id": user, "phone": "+919812345678", "reason": "B secret reason" })),
    )
    .await
    .json()
    .await
    .unwrap();
    let res = b_call(
        app,
        &key,
        Method::POST,
        "api/v1/orders",
        Some(json!({ "order_id": "b-order", "user_id": user, "value": 4242.42, "status": "placed" })),
    )
    .await;
    assert!(res.status().is_success(), "{}", res.status());
    let res = b_call(
        app,
        &key,
        Method::PUT,
        "api/v1/integrations/freshdesk",
        Some(json!({ "base_url": "https://b-secret-helpdesk.freshdesk.com/api/v2", "api_key": "b-secret-api-key-1" })),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = b_call(
        app,
        &key,
        Method::PATCH,
        "api/v1/settings",
        Some(json!({ "agent_hourly_rate": 777.77 })),
    )
    .await;
    assert_eq!(res.status(), 200);
    // An incidence from a chat.
    let event = ConversationEvent {
        at: clock::now(),
        key: "b-message".into(),
        kind: EventKind::Message {
            actor: Actor::User,
            text: "B SECRET TEXT".into(),
            private: false,
            agent_id: None,
        },
        context: None,
        identity: Some(Identity {
            user_id: Some(UserId::parse(user).unwrap()),
            provider_user_id: Some("b-fc-user".into()),
        }),
    };
    let conv = ConversationId::parse("b-secret-conversation").unwrap();
    let recorded = switchboard::incidences::record(&app.state, &tenant, Channel::InAppChat, &conv, &event)
        .await
        .unwrap();
    B {
        key,
        job,
        incidence: recorded.incidence.id.to_string(),
        user,
        call: call["id"].as_str().unwrap().to_owned(),
        order: "b-order",
        canaries: [
            "B_SECRET_SCREEN",
            "31337.77",
            "B secret reason",
            "4242.42",
            "b-secret-helpdesk",
            "777.77",
            "B SECRET TEXT",
            "b-secret-conversation",
            "b-fc-user",
        ]
        .map(String::from)
        .to_vec(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// B's resource named in the request: 403 or 404.
    Denied,
    /// The route acts within A's own tenant: whatever the status, nothing of B's comes back.
    Own,
}

/// How each route reaches for B's data: the path with B's ids, a body, and what must happen.
fn case(b: &B, method: &Method, template: &str) -> Option<(String, Option<Value>, Expect)> {
    let with = |p: &str| Some(p.replace("{id}", "").replace("{user_id}", b.user));
    let (path, body, expect) = match (method.as_str(), template) {
        ("GET", "/api/v1/me") => (with(template)?, None, Expect::Own),
        ("GET", "/api/v1/jobs") => (with(template)?, None, Expect::Own),
        ("GET", "/api/v1/jobs/{id}") => (format!("/api/v1/jobs/{}", b.job), None, Expect::Denied),
        ("POST", "/api/v1/jobs/{id}/retry") => (format!("/api/v1/jobs/{}/retry", b.job), None, Expect::Denied),
        ("POST", "/api/v1/jobs/{id}/cancel") => (format!("/api/v1/jobs/{}/cancel", b.job), None, Expect::Denied),
        ("GET", "/api/v1/incidences") => (with(template)?, None, Expect::Own),
        ("GET", "/api/v1/incidences/{id}") => (format!("/api/v1/incidences/{}", b.incidence), None, Expect::Denied),
        ("POST", "/api/v1/incidences/{id}/close") => (
            format!("/api/v1/incidences/{}/close", b.incidence),
            Some(json!({ "outcome": "DROPPED" })),
            Expect::Denied,
        ),
        ("POST", "/api/v1/freshdesk/sync") => (
            with(template)?,
            Some(json!({ "incidence_id": b.incidence })),
            Expect::Denied,
        ),
        ("POST", "/api/v1/freshdesk/sync-all") => (with(template)?, Some(json!({})), Expect::Own),
        ("GET", "/api/v1/freshdesk/sidebar-link") => (
            format!("{template}?conversation_id=b-secret-conversation"),
            None,
            Expect::Own,
        ),
        ("POST", "/api/v1/messages/send") => (
            with(template)?,
            Some(json!({ "incidence_id": b.incidence, "text": "hi" })),
            Expect::Denied,
        ),
        ("GET", "/api/v1/context/{user_id}") => (with(template)?, None, Expect::Denied),
        ("PUT", "/api/v1/context/{user_id}/screen") => {
            (with(template)?, Some(json!({ "screen_name": "A_SCREEN" })), Expect::Own)
        }
        ("PUT", "/api/v1/context/{user_id}/cart") => (
            with(template)?,
            Some(json!({ "cart_value": 1, "items": [] })),
            Expect::Own,
        ),
        ("PUT", "/api/v1/context/{user_id}/profile") => {
            (with(template)?, Some(json!({ "name": "A name" })), Expect::Own)
        }
        ("POST", "/api/v1/context/{user_id}/friction-signal") => {
            (with(template)?, Some(json!({ "type": "BACK_NAV" })), Expect::Own)
        }
        ("POST", "/api/v1/channel/route") => (with(template)?, Some(json!({ "order_value": 30000 })), Expect::Own),
        ("POST", "/api/v1/call/request") => (with(template)?, Some(json!({ "user_id": b.user })), Expect::Own),
        ("GET", "/api/v1/call/pending") => (with(template)?, None, Expect::Own),
        ("GET", "/api/v1/call/{id}") => (format!("/api/v1/call/{}", b.call), None, Expect::Denied),
        ("POST", "/api/v1/call/{id}/claim") => (
            format!("/api/v1/call/{}/claim", b.call),
            Some(json!({})),
            Expect::Denied,
        ),
        ("POST", "/api/v1/call/{id}/complete") => (
            format!("/api/v1/call/{}/complete", b.call),
            Some(json!({})),
            Expect::Denied,
        ),
        ("POST", "/api/v1/call/{id}/cancel") => (
            format!("/api/v1/call/{}/cancel", b.call),
            Some(json!({})),
            Expect::Denied,
        ),
        ("POST", "/api/v1/orders") => (
            with(template)?,
            Some(json!({ "order_id": b.order, "user_id": b.user, "value": 1, "status": "cancelled" })),
            Expect::Own,
        ),
        ("GET", "/api/v1/orders/{order_id}") => (format!("/api/v1/orders/{}", b.order), None, Expect::Denied),
        ("GET", "/api/v1/integrations") => (with(template)?, None, Expect::Own),
        ("PUT", "/api/v1/integrations/freshchat") => (
            with(template)?,
            Some(json!({ "api_url": "https://a.example/v2", "api_token": "a-token-1234567" })),
            Expect::Own,
        ),
        ("PUT", "/api/v1/integrations/freshdesk") => (
            with(template)?,
            Some(json!({ "base_url": "https://a.example/api/v2", "api_key": "a-key-1234567" })),
            Expect::Own,
        ),
        ("DELETE", "/api/v1/integrations/freshchat" | "/api/v1/integrations/freshdesk") => {
            (with(template)?, None, Expect::Own)
        }
        ("GET", "/api/v1/settings") => (with(template)?, None, Expect::Own),
        ("PATCH", "/api/v1/settings") => (with(template)?, Some(json!({ "agent_hourly_rate": 1 })), Expect::Own),
        _ => return None,
    };
    Some((path.trim_start_matches('/').to_owned(), body, expect))
}

#[tokio::test]
async fn no_api_route_lets_tenant_a_reach_tenant_b() {
    let app = spawn_app_without_worker().await;
    let b = tenant_b(&app).await;
    let (_, table) = switchboard::http::routes().into_parts();
    let api: Vec<_> = table.iter().filter(|r| r.path.starts_with("/api/v1")).collect();
    assert!(api.len() >= 30, "the route table lists the API ({} routes)", api.len());
    let missing: Vec<String> = api
        .iter()
        .filter(|r| case(&b, &r.method, &r.path).is_none())
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(missing.is_empty(), "add an isolation case for: {missing:?}");

    // Reads and writes aimed at B's resources first: A's own writes (same ids, A's namespace)
    // come after, so a 404 is never hidden by A's own resource of the same name.
    let mut cases: Vec<_> = api.iter().map(|r| (r, case(&b, &r.method, &r.path).unwrap())).collect();
    cases.sort_by_key(|(_, (_, _, expect))| *expect == Expect::Own);
    for (route, (path, body, expect)) in cases {
        for key in [&app.secret_key, &app.publishable_key] {
            let res = b_call(&app, key, route.method.clone(), &path, body.clone()).await;
            let status = res.status().as_u16();
            let text = res.text().await.unwrap();
            let asked = format!("{path} {}", body.as_ref().map(Value::to_string).unwrap_or_default());
            let path = path.as_str();
            for canary in b.canaries.iter().filter(|c| !asked.contains(c.as_str())) {
                assert!(
                    !text.contains(canary.as_str()),
                    "{} {path} revealed B's '{canary}': {text}",
                    route.method
                );
            }
            if expect == Expect::Denied {
                assert!(
                    status == 403 || status == 404,
                    "{} {path} answered {status} to tenant A: {text}",
                    route.method
                );
            }
        }
    }

    // And B's data is as B left it.
    let get = |path: &str| b_call(&app, &b.key, Method::GET, path, None);
    let ctx: Value = get(&format!("api/v1/context/{}", b.user)).await.json().await.unwrap();
    assert!(
        ctx.to_string().contains("B_SECRET_SCREEN") && ctx.to_string().contains("31337.77"),
        "{ctx}"
    );
    let order: Value = get(&format!("api/v1/orders/{}", b.order)).await.json().await.unwrap();
    assert!(
        order.to_string().contains("4242.42") && order.to_string().contains("placed"),
        "{order}"
    );
    let job: Value = get(&format!("api/v1/jobs/{}", b.job)).await.json().await.unwrap();
    assert_eq!(job["state"], "queued");
    let incidence: Value = get(&format!("api/v1/incidences/{}", b.incidence))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(incidence["outcome"], "IN_PROGRESS");
    let call: Value = get(&format!("api/v1/call/{}", b.call)).await.json().await.unwrap();
    assert_eq!(call["state"], "pending");
    let integrations: Value = get("api/v1/integrations").await.json().await.unwrap();
    assert!(integrations.to_string().contains("b-secret-helpdesk"));
    let settings: Value = get("api/v1/settings").await.json().await.unwrap();
    assert_eq!(settings["agent_hourly_rate"], json!(777.77));
}
