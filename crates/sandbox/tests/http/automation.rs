use reqwest::Method;
use sandbox::webhooks::DeliveryState;
use sandbox::{FreshdeskWebhookTarget, WebhookAuth};
use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, TestResult, fast_config, spawn};

async fn with_receiver(auth: WebhookAuth) -> Result<(TestApp, Receiver), Box<dyn std::error::Error + Send + Sync>> {
    let app = spawn(fast_config()).await?;
    let receiver = Receiver::start().await?;
    app.sandbox.set_freshdesk_webhook(Some(FreshdeskWebhookTarget {
        url: receiver.url.clone(),
        auth,
    }));
    Ok((app, receiver))
}

fn basic() -> WebhookAuth {
    WebhookAuth::Basic {
        username: "hook".into(),
        password: "s3cret".into(),
    }
}

#[tokio::test]
async fn agent_reply_renders_strings_and_tokens() -> TestResult {
    let (app, receiver) = with_receiver(basic()).await?;
    let ticket = app
        .ticket(json!({ "custom_fields": { "cf_freshchat_conversation_id": "conv-1" } }))
        .await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    let agent = app.sandbox.config().agents[1].email.clone();
    app.sandbox
        .agent_replies(id, "<div>Yes, we cater weddings</div>", Some(&agent))
        .await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].basic_user().as_deref(), Some("hook:s3cret"));
    assert!(
        got[0].header("x-retry-count").is_none(),
        "Freshdesk sends no retry header"
    );
    assert_eq!(
        got[0].json()?,
        json!({ "event": "agent_reply", "ticket_id": id.to_string(), "conversation_id": "conv-1",
                "comment": "<div>Yes, we cater weddings</div>", "agent_email": agent,
                "triggered_event": "{reply_sent:sent}" })
    );
    // The replying agent became the ticket's agent.
    let ticket = app.sandbox.inspect().ticket(id).ok_or("gone")?;
    assert_eq!(ticket.responder_id, Some(app.sandbox.config().agents[1].freshdesk_id));
    Ok(())
}

#[tokio::test]
async fn only_public_agent_notes_fire_the_reply_rule() -> TestResult {
    let (app, receiver) = with_receiver(basic()).await?;
    let ticket = app.ticket(json!({})).await?;
    let path = format!("/tickets/{}/notes", ticket["id"]);
    for note in [
        json!({ "body": "<div>private</div>" }),
        json!({ "body": "<div>customer</div>", "private": false, "incoming": true }),
        json!({ "body": "<div>public</div>", "private": false }),
    ] {
        app.desk(Method::POST, &path).json(&note).send().await?;
    }
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["triggered_event"], "{note_type:public}");
    assert_eq!(bodies[0]["comment"], "<div>public</div>");
    assert_eq!(bodies[0]["conversation_id"], "", "empty values render as empty strings");
    Ok(())
}

#[tokio::test]
async fn status_change_renders_names_tags_and_token() -> TestResult {
    let (app, receiver) = with_receiver(WebhookAuth::Token("t0k3n".into())).await?;
    let ticket = app
        .ticket(json!({ "tags": ["chat", "order_placed"],
                        "custom_fields": { "cf_freshchat_conversation_id": "conv-9" } }))
        .await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    app.desk(Method::PUT, &format!("/tickets/{id}"))
        .json(&json!({ "status": 4 }))
        .send()
        .await?;
    app.desk(Method::PUT, &format!("/tickets/{id}"))
        .json(&json!({ "status": 4, "priority": 2 }))
        .send()
        .await?;
    app.sandbox.set_ticket_status(id, 2).await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    assert_eq!(got.len(), 2, "no event without a status change");
    assert_eq!(got[0].query.as_deref(), Some("token=t0k3n"));
    assert_eq!(
        got[0].json()?,
        json!({ "event": "status_changed", "ticket_id": id.to_string(), "conversation_id": "conv-9",
                "status": "Resolved", "tags": "chat, order_placed",
                "triggered_event": "{status:{from:2,to:4}}" })
    );
    assert_eq!(got[1].json()?["status"], "Open");
    assert_eq!(got[1].json()?["triggered_event"], "{status:{from:4,to:2}}");
    assert!(app.sandbox.set_ticket_status(id, 42).await.is_err());
    Ok(())
}

#[tokio::test]
async fn textual_rendering_can_produce_invalid_json() -> TestResult {
    let (app, receiver) = with_receiver(WebhookAuth::None).await?;
    let ticket = app.ticket(json!({})).await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    let comment = "<div>He said \"hi\"\\</div>";
    app.sandbox.agent_replies(id, comment, None).await?;
    app.sandbox.set_template_escaping(false);
    app.sandbox.agent_replies(id, comment, None).await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    let escaped: Value = got[0].json()?;
    assert_eq!(escaped["comment"], comment);
    assert!(got[1].json().is_err(), "unescaped quotes break the JSON");
    let raw = String::from_utf8(got[1].body.to_vec())?;
    assert!(raw.contains(r#""comment":"<div>He said "hi"\</div>""#), "{raw}");
    Ok(())
}

#[tokio::test]
async fn failed_automation_webhooks_are_retried() -> TestResult {
    let (app, receiver) = with_receiver(WebhookAuth::None).await?;
    receiver.respond_with(&[500]);
    let ticket = app.ticket(json!({})).await?;
    app.sandbox
        .agent_replies(ticket["id"].as_u64().ok_or("no id")?, "<div>ok</div>", None)
        .await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, got[1].body);
    let delivery = app.sandbox.inspect().webhook_deliveries().pop().ok_or("none")?;
    assert_eq!(delivery.state, DeliveryState::Delivered);
    assert_eq!(delivery.event, "agent_reply");
    Ok(())
}
