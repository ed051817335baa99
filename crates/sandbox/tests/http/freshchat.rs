use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestResult, fast_config, keys, payload, spawn};

#[tokio::test]
async fn wrong_or_missing_token_is_401() -> TestResult {
    let app = spawn(fast_config()).await?;
    let no_auth = app.client.get(app.url("/freshchat/v2/agents")).send().await?;
    assert_eq!(no_auth.status(), StatusCode::UNAUTHORIZED);
    let body: Value = no_auth.json().await?;
    assert_eq!(body["code"], 401);
    assert_eq!(body["status"], "UNAUTHORIZED");
    assert!(body["message"].is_string());
    let wrong = app
        .client
        .get(app.url("/freshchat/v2/agents"))
        .bearer_auth("nope")
        .send()
        .await?;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = app.chat(Method::GET, "/agents").send().await?;
    assert_eq!(ok.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn users_are_created_found_and_properties_merge_by_name() -> TestResult {
    let app = spawn(fast_config()).await?;
    let created = app
        .chat(Method::POST, "/users")
        .json(&json!({ "reference_id": "u-1", "email": "a@b.c", "first_name": "Asha",
                       "properties": [{ "name": "plan", "value": "Gold" }] }))
        .send()
        .await?;
    assert!(created.status().is_success());
    let user: Value = created.json().await?;
    let id = user["id"].as_str().ok_or("no id")?.to_string();
    assert!(
        user["created_time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24)
    );

    let found: Value = app
        .chat(Method::GET, "/users?reference_id=u-1")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(found["users"][0]["id"], id.as_str());
    assert_eq!(found["pagination"]["total_items"], 1);
    let none: Value = app
        .chat(Method::GET, "/users?reference_id=zz")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(none["users"], json!([]));

    let put = app
        .chat(Method::PUT, &format!("/users/{id}"))
        .json(&json!({ "properties": [{ "name": "plan", "value": "Platinum" },
                                      { "name": "cf_cart", "value": "1200" }] }))
        .send()
        .await?;
    assert_eq!(put.status(), StatusCode::OK);
    let user = app.sandbox.inspect().user(&id).ok_or("user gone")?;
    assert_eq!(user.property("plan"), Some("Platinum"));
    assert_eq!(user.property("cf_cart"), Some("1200"));
    assert_eq!(user.properties.len(), 2);
    assert_eq!(user.email.as_deref(), Some("a@b.c"));

    let not_string = app
        .chat(Method::PUT, &format!("/users/{id}"))
        .json(&json!({ "properties": [{ "name": "plan", "value": 3 }] }))
        .send()
        .await?;
    assert_eq!(not_string.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_string.json().await?;
    assert_eq!(body["status"], "INVALID_VALUE");

    let missing = app.chat(Method::GET, "/users/nobody").send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await?;
    assert_eq!(body["status"], "USER_NOT_FOUND");
    Ok(())
}

#[tokio::test]
async fn messages_have_the_recorded_shape_and_list_newest_first() -> TestResult {
    let app = spawn(fast_config()).await?;
    let chat = app.sandbox.customer_says("u-2", "first").await?;
    let agent = app.sandbox.inspect().freshchat_agents()[0].id.clone();
    let sent = app
        .chat(
            Method::POST,
            &format!("/conversations/{}/messages", chat.conversation_id),
        )
        .json(&json!({ "message_parts": [{ "text": { "content": "second" } }],
                       "message_type": "normal", "actor_type": "agent", "actor_id": agent }))
        .send()
        .await?;
    assert!(sent.status().is_success());
    let message: Value = sent.json().await?;
    let recorded = payload("freshchat_api_message_object_1.json")?;
    assert_eq!(keys(&message), keys(&recorded));
    assert_eq!(message["actor_type"], "agent");
    assert_eq!(message["user_id"], chat.user_id.as_str());
    assert_eq!(message["message_parts"], json!([{ "text": { "content": "second" } }]));

    let path = format!("/conversations/{}/messages", chat.conversation_id);
    let all: Value = app.chat(Method::GET, &path).send().await?.json().await?;
    let texts: Vec<&str> = all["messages"]
        .as_array()
        .ok_or("no messages")?
        .iter()
        .filter_map(|m| m["message_parts"][0]["text"]["content"].as_str())
        .collect();
    assert_eq!(texts, ["second", "first"]);
    let page2: Value = app
        .chat(Method::GET, &format!("{path}?items_per_page=1&page=2"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(page2["messages"][0]["message_parts"][0]["text"]["content"], "first");
    assert_eq!(page2["pagination"]["total_pages"], 2);
    assert!(page2["links"].get("next_page").is_none());
    assert!(
        page2["links"]["previous_page"]["href"]
            .as_str()
            .is_some_and(|h| h.contains("page=1"))
    );
    Ok(())
}

#[tokio::test]
async fn invalid_messages_are_rejected() -> TestResult {
    let app = spawn(fast_config()).await?;
    let chat = app.sandbox.customer_says("u-3", "hi").await?;
    let path = format!("/conversations/{}/messages", chat.conversation_id);
    for bad in [
        json!({ "message_parts": [{ "txt": { "content": "x" } }], "actor_type": "agent" }),
        json!({ "message_parts": [], "actor_type": "user" }),
        json!({ "message_parts": [{ "text": { "content": "x" } }], "actor_type": "agent", "actor_id": "not-an-agent" }),
        json!({ "message_parts": [{ "text": { "content": "x" } }], "actor_type": "user", "actor_id": "someone-else" }),
    ] {
        let response = app.chat(Method::POST, &path).json(&bad).send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await?;
        assert_eq!(body["code"], 400);
    }
    let unknown = app
        .chat(Method::POST, "/conversations/nope/messages")
        .json(&json!({ "message_parts": [{ "text": { "content": "x" } }], "actor_type": "bot" }))
        .send()
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn conversations_have_the_recorded_shape_and_accept_all_statuses() -> TestResult {
    let app = spawn(fast_config()).await?;
    let chat = app.sandbox.customer_says("u-4", "hi").await?;
    let path = format!("/conversations/{}", chat.conversation_id);
    let conversation: Value = app.chat(Method::GET, &path).send().await?.json().await?;
    let recorded = payload("freshchat_api_conversation_object_1.json")?;
    assert_eq!(keys(&conversation), keys(&recorded));
    assert!(conversation["conversation_internal_id"].is_u64());
    assert_eq!(conversation["status"], "new");
    for status in ["assigned", "resolved", "reopened", "new"] {
        let updated: Value = app
            .chat(Method::PUT, &path)
            .json(&json!({ "status": status }))
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(updated["status"], status);
    }
    // Naming an agent assigns a new conversation; a single space unassigns (Pipedream's quirk).
    let agent = app.sandbox.inspect().freshchat_agents()[0].id.clone();
    let assigned: Value = app
        .chat(Method::PUT, &path)
        .json(&json!({ "assigned_agent_id": agent }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["assigned_agent_id"], agent.as_str());
    let unassigned: Value = app
        .chat(Method::PUT, &path)
        .json(&json!({ "assigned_agent_id": " " }))
        .send()
        .await?
        .json()
        .await?;
    assert!(unassigned.get("assigned_agent_id").is_none());
    let unknown = app
        .chat(Method::PUT, &path)
        .json(&json!({ "assigned_agent_id": "ghost" }))
        .send()
        .await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let bad = app
        .chat(Method::PUT, &path)
        .json(&json!({ "status": "closed" }))
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let props: Value = app
        .chat(Method::PUT, &path)
        .json(&json!({ "properties": { "priority": "High", "cf_x": "y" } }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(props["properties"]["priority"], "High");
    let listed: Value = app
        .chat(Method::GET, &format!("/users/{}/conversations", chat.user_id))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["conversations"][0]["id"], chat.conversation_id.as_str());
    Ok(())
}

#[tokio::test]
async fn agents_and_account_configuration() -> TestResult {
    let app = spawn(fast_config()).await?;
    let agents: Value = app
        .chat(Method::GET, "/agents?items_per_page=1")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(agents["agents"].as_array().map(Vec::len), Some(1));
    assert!(agents["agents"][0]["email"].as_str().is_some_and(|e| e.contains('@')));
    assert_eq!(agents["pagination"]["total_items"], 2);
    let id = agents["agents"][0]["id"].as_str().ok_or("no id")?;
    let one = app.chat(Method::GET, &format!("/agents/{id}")).send().await?;
    assert_eq!(one.status(), StatusCode::OK);
    let config: Value = app
        .chat(Method::GET, "/accounts/configuration")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(config["app_id"], app.sandbox.inspect().freshchat_app_id().as_str());
    Ok(())
}

#[tokio::test]
async fn create_conversation_through_the_api() -> TestResult {
    let app = spawn(fast_config()).await?;
    let user: Value = app
        .chat(Method::POST, "/users")
        .json(&json!({ "reference_id": "u-5" }))
        .send()
        .await?
        .json()
        .await?;
    let created = app
        .chat(Method::POST, "/conversations")
        .json(&json!({ "users": [{ "id": user["id"] }],
                       "messages": [{ "message_parts": [{ "text": { "content": "from api" } }],
                                      "actor_type": "user", "actor_id": user["id"] }] }))
        .send()
        .await?;
    assert!(created.status().is_success());
    let conversation: Value = created.json().await?;
    let id = conversation["conversation_id"].as_str().ok_or("no id")?;
    assert_eq!(app.sandbox.inspect().chat_messages(id)[0].text(), "from api");
    Ok(())
}

#[tokio::test]
async fn a_changed_reference_id_finds_the_user_by_its_new_reference_only() -> TestResult {
    let app = spawn(fast_config()).await?;
    let first = app.sandbox.customer_says("old-ref", "hi").await?;
    let put = app
        .chat(Method::PUT, &format!("/users/{}", first.user_id))
        .json(&json!({ "reference_id": "new-ref" }))
        .send()
        .await?;
    assert_eq!(put.status(), StatusCode::OK);
    let inspect = app.sandbox.inspect();
    assert!(inspect.user_by_reference("old-ref").is_none());
    assert_eq!(
        inspect.user_by_reference("new-ref").map(|u| u.id),
        Some(first.user_id.clone())
    );
    // The same user, so the same conversation; the old reference is a new customer.
    let again = app.sandbox.customer_says("new-ref", "still me").await?;
    assert_eq!(again.conversation_id, first.conversation_id);
    let other = app.sandbox.customer_says("old-ref", "someone else").await?;
    assert_ne!(other.user_id, first.user_id);
    assert_ne!(other.conversation_id, first.conversation_id);
    Ok(())
}
