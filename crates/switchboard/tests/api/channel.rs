//! `POST /api/v1/channel/route` (SPEC §6) at every boundary.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::clock;

use crate::context::{assert_invalid, call};
use crate::helpers::{TestApp, spawn_app_without_worker};

async fn route(app: &TestApp, body: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "api/v1/channel/route",
        Some(&app.publishable_key),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn routing_follows_the_thresholds_and_events() {
    let app = spawn_app_without_worker().await;
    let cases = [
        (json!({"order_value": 0}), json!([]), "NONE", false),
        (json!({"order_value": 4999.99}), json!([]), "NONE", false),
        (json!({"order_value": 5000}), json!(["CHAT"]), "NORMAL", true),
        (json!({"order_value": 24999.99}), json!(["CHAT"]), "NORMAL", true),
        (json!({"order_value": 25000}), json!(["CHAT", "CALL"]), "HIGH", true),
        (json!({"order_value": 25000.00}), json!(["CHAT", "CALL"]), "HIGH", true),
        (
            json!({"order_value": 100, "event_type": "wedding"}),
            json!(["CHAT", "CALL"]),
            "HIGH",
            true,
        ),
        (
            json!({"order_value": 100, "event_type": "BIRTHDAY"}),
            json!([]),
            "NONE",
            false,
        ),
    ];
    for (body, channels, priority, help) in cases {
        let (status, answer) = route(&app, body.clone()).await;
        assert_eq!(status, 200, "{body}: {answer}");
        assert_eq!(answer["allowed_channels"], channels, "{body}");
        assert_eq!(answer["priority"], priority, "{body}");
        assert_eq!(answer["show_help_button"], help, "{body}");
        assert_eq!(answer["show_faq"], !help, "{body}");
        assert_eq!(answer["help_trigger_text"].is_string(), help, "{body}");
    }
}

#[tokio::test]
async fn routing_validates_and_needs_a_key() {
    let app = spawn_app_without_worker().await;
    for (body, field) in [
        (json!({"order_value": -1}), "order_value"),
        (json!({"order_value": "lots"}), "order_value"),
        (json!({"order_value": 1.005}), "order_value"),
        (json!({}), "order_value"),
        (json!({"order_value": 10, "event_type": 3}), "event_type"),
        (json!([1]), "body"),
    ] {
        assert_invalid(&route(&app, body).await, field);
    }
    let (status, _) = call(
        &app,
        Method::POST,
        "api/v1/channel/route",
        None,
        Some(json!({"order_value": 1})),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &app,
        Method::POST,
        "api/v1/channel/route",
        Some(&app.secret_key),
        Some(json!({"order_value": 1})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn channel_routing_can_be_switched_off() {
    let app = spawn_app_without_worker().await;
    let mut settings = app.tenant.settings.clone();
    settings.routing.enabled = false;
    app.state
        .tenants
        .update_settings(app.tenant.id, &settings, clock::now())
        .await
        .unwrap();
    let (_, answer) = route(&app, json!({"order_value": 10})).await;
    assert_eq!(answer["allowed_channels"], json!(["CHAT", "CALL"]));
    assert_eq!(answer["priority"], "NORMAL");
}
