use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Receiver, TestResult, fast_config, spawn};

#[tokio::test]
async fn chat_page_shows_the_conversation_escaped_and_updates_live() -> TestResult {
    let app = spawn(fast_config()).await?;
    let chat = app.sandbox.customer_says("<u&1>", "<b>hi</b> & \"bye\"").await?;
    let html = app
        .client
        .get(app.url("/chat"))
        .query(&[("user", "<u&1>")])
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("&lt;b&gt;hi&lt;/b&gt; &amp; &quot;bye&quot;"));
    assert!(html.contains("&lt;u&amp;1&gt;"));
    assert!(!html.contains("<b>hi</b>"));
    assert!(html.contains("name=\"viewport\""));
    assert!(html.contains("action=\"/sandbox/chat\""));

    // An agent message appears in the JSON the page polls; private notes do not.
    let agent = app.sandbox.inspect().freshchat_agents()[0].id.clone();
    for message_type in ["normal", "private"] {
        app.chat(
            Method::POST,
            &format!("/conversations/{}/messages", chat.conversation_id),
        )
        .json(
            &json!({ "message_parts": [{ "text": { "content": format!("agent {message_type}") } }],
                           "message_type": message_type, "actor_type": "agent", "actor_id": agent }),
        )
        .send()
        .await?;
    }
    let view: Value = app
        .client
        .get(app.url("/chat/messages"))
        .query(&[("user", "<u&1>")])
        .send()
        .await?
        .json()
        .await?;
    let lines: Vec<(String, String)> = view["messages"]
        .as_array()
        .ok_or("no messages")?
        .iter()
        .map(|m| {
            (
                m["from"].as_str().unwrap_or("").into(),
                m["text"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("user".into(), "<b>hi</b> & \"bye\"".into()),
            ("agent".into(), "agent normal".into())
        ]
    );
    Ok(())
}

#[tokio::test]
async fn chat_form_posts_a_customer_message() -> TestResult {
    let app = spawn(fast_config()).await?;
    let receiver = Receiver::start().await?;
    app.sandbox.set_freshchat_webhook_url(Some(receiver.url.clone()));
    let response = app
        .post_form("/chat", &[("user", "walk-in"), ("text", "Need 40 plates")])
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers().get("location").and_then(|l| l.to_str().ok()),
        Some("/sandbox/chat?user=walk-in")
    );
    let json = app
        .client
        .post(app.url("/chat/messages"))
        .json(&json!({ "user": "walk-in", "text": "and 2 desserts" }))
        .send()
        .await?;
    assert_eq!(json.status(), StatusCode::CREATED);
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0]["data"]["message"]["message_parts"][0]["text"]["content"],
        "Need 40 plates"
    );
    Ok(())
}

#[tokio::test]
async fn desk_lists_tickets_and_acts_like_an_agent() -> TestResult {
    let app = spawn(fast_config()).await?;
    let receiver = Receiver::start().await?;
    app.sandbox.set_freshdesk_webhook(Some(sandbox::FreshdeskWebhookTarget {
        url: receiver.url.clone(),
        auth: sandbox::WebhookAuth::None,
    }));
    let ticket = app
        .ticket(json!({ "subject": "<script>alert(1)</script>",
                        "custom_fields": { "cf_cart_value": 4200, "cf_order_stage": "<i>PRE</i>" } }))
        .await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    app.desk(Method::POST, &format!("/tickets/{id}/notes"))
        .json(&json!({ "body": "<div>first note</div>", "private": false, "incoming": true }))
        .send()
        .await?;

    let list = app.client.get(app.url("/desk")).send().await?.text().await?;
    assert!(list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!list.contains("<script>alert"));
    assert!(list.contains(&format!("/sandbox/desk/tickets/{id}")));
    assert!(list.contains("Open"));

    let page = app
        .client
        .get(app.url(&format!("/desk/tickets/{id}")))
        .send()
        .await?
        .text()
        .await?;
    assert!(page.contains("cf_cart_value") && page.contains("4200"));
    assert!(page.contains("&lt;i&gt;PRE&lt;/i&gt;"));
    assert!(page.contains("first note"));

    let agent = app.sandbox.config().agents[0].email.clone();
    let replied = app
        .post_form(
            &format!("/desk/tickets/{id}/reply"),
            &[("body", "Sure, \"40\" plates <ok>"), ("agent_email", agent.as_str())],
        )
        .send()
        .await?;
    assert_eq!(replied.status(), StatusCode::SEE_OTHER);
    let status = app
        .post_form(&format!("/desk/tickets/{id}/status"), &[("status", "4")])
        .send()
        .await?;
    assert_eq!(status.status(), StatusCode::SEE_OTHER);

    let thread = app.sandbox.inspect().ticket_conversations(id);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].body, "<div>Sure, \"40\" plates &lt;ok&gt;</div>");
    let page = app
        .client
        .get(app.url(&format!("/desk/tickets/{id}")))
        .send()
        .await?
        .text()
        .await?;
    let first = page.find("first note").ok_or("no note")?;
    let second = page.find("Sure, &quot;40&quot; plates &lt;ok&gt;").ok_or("no reply")?;
    assert!(first < second, "conversations in order");

    app.sandbox.settle().await;
    let events: Vec<String> = receiver
        .drain_json()?
        .iter()
        .filter_map(|b| b["event"].as_str().map(String::from))
        .collect();
    assert_eq!(events, ["agent_reply", "status_changed"]);
    let missing = app.client.get(app.url("/desk/tickets/999")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn admin_state_shows_everything() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.sandbox.customer_says("u-1", "hi").await?;
    app.ticket(json!({})).await?;
    let state: Value = app.client.get(app.url("/admin/state")).send().await?.json().await?;
    assert_eq!(
        state["freshchat"]["conversations"][0]["messages"][0]["message_parts"][0]["text"]["content"],
        "hi"
    );
    assert_eq!(state["freshdesk"]["tickets"][0]["id"], 1);
    assert!(
        state["freshchat"]["public_key_pem"]
            .as_str()
            .is_some_and(|k| k.contains("RSA PUBLIC KEY"))
    );
    assert!(state["requests"].is_array() && state["counters"].is_object());
    let key = app
        .client
        .get(app.url("/admin/freshchat/public-key"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(key, app.sandbox.freshchat_public_key_pem());
    Ok(())
}
