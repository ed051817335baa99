use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use sandbox::webhooks::DeliveryState;
use sandbox::{FaultAction, FaultRule, Provider, ReleaseOrder};
use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, TestResult, fast_config, keys, payload, spawn};

/// Parses the key as a careful client must: armour says PKCS#1, the body is SPKI.
fn public_key(pem: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    STANDARD.decode(b64)
}

async fn with_receiver() -> Result<(TestApp, Receiver), Box<dyn std::error::Error + Send + Sync>> {
    let app = spawn(fast_config()).await?;
    let receiver = Receiver::start().await?;
    app.sandbox.set_freshchat_webhook_url(Some(receiver.url.clone()));
    Ok((app, receiver))
}

#[tokio::test]
async fn message_create_is_signed_with_the_published_key() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    let pem = app.sandbox.freshchat_public_key_pem();
    assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
    let chat = app.sandbox.customer_says("u-1", "Hello there").await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    assert_eq!(got.len(), 1);
    let hook = &got[0];
    let signature = STANDARD.decode(hook.header("x-freshchat-signature").ok_or("no signature")?)?;
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key(&pem)?);
    assert!(key.verify(&hook.body, &signature).is_ok());
    let mut tampered = hook.body.to_vec();
    tampered.push(b'\n');
    assert!(key.verify(&tampered, &signature).is_err());
    assert_eq!(hook.header("x-retry-count"), Some("0"));
    assert!(hook.header("x-freshchat-payload-version").is_some());

    let body = hook.json()?;
    let recorded = payload("freshchat_message_create_1.json")?;
    assert_eq!(keys(&body), keys(&recorded));
    assert_eq!(body["action"], "message_create");
    assert_eq!(body["actor"], json!({ "actor_type": "user", "actor_id": chat.user_id }));
    let message = &body["data"]["message"];
    for key in keys(&recorded["data"]["message"]) {
        assert!(message.get(&key).is_some(), "data.message lacks {key}");
    }
    assert_eq!(message["id"], chat.message_id.as_str());
    assert_eq!(message["conversation_id"], chat.conversation_id.as_str());
    assert_eq!(message["user_id"], chat.user_id.as_str());
    assert_eq!(
        message["message_parts"],
        json!([{ "text": { "content": "Hello there" } }])
    );
    let time = body["action_time"].as_str().ok_or("no time")?;
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    Ok(())
}

#[tokio::test]
async fn api_sent_messages_echo_back() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    let chat = app.sandbox.customer_says("u-1", "hi").await?;
    let agent = app.sandbox.inspect().freshchat_agents()[0].id.clone();
    for message_type in ["normal", "private"] {
        app.chat(
            Method::POST,
            &format!("/conversations/{}/messages", chat.conversation_id),
        )
        .json(&json!({ "message_parts": [{ "text": { "content": message_type } }],
                           "message_type": message_type, "actor_type": "agent", "actor_id": agent }))
        .send()
        .await?;
    }
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[1]["actor"]["actor_type"], "agent");
    assert_eq!(bodies[1]["data"]["message"]["actor_id"], agent.as_str());
    assert_eq!(bodies[1]["data"]["message"]["user_id"], chat.user_id.as_str());
    assert_eq!(bodies[2]["data"]["message"]["message_type"], "private");
    Ok(())
}

#[tokio::test]
async fn conversation_events_have_the_documented_shapes() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    let chat = app.sandbox.customer_says("u-1", "hi").await?;
    let agent = app.sandbox.inspect().freshchat_agents()[1].id.clone();
    let path = format!("/conversations/{}", chat.conversation_id);
    for body in [
        json!({ "status": "assigned", "assigned_agent_id": agent }),
        json!({ "status": "resolved" }),
        json!({ "status": "new" }),
    ] {
        app.chat(Method::PUT, &path).json(&body).send().await?;
    }
    app.sandbox.resolve_conversation(&chat.conversation_id, false).await?;
    app.sandbox.customer_says("u-1", "again").await?;
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    let actions: Vec<&str> = bodies.iter().filter_map(|b| b["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "message_create",
            "conversation_assignment",
            "conversation_resolution",
            "conversation_reopen",
            "conversation_resolution",
            "conversation_reopen",
            "message_create"
        ]
    );
    let assignment = &bodies[1]["data"]["assignment"];
    let recorded = payload("freshchat_conversation_assignment_1.json")?;
    for key in keys(&recorded["data"]["assignment"]) {
        assert!(assignment.get(&key).is_some(), "assignment lacks {key}");
    }
    assert_eq!(assignment["from_agent_id"], "");
    assert_eq!(assignment["to_agent_id"], agent.as_str());
    assert_eq!(assignment["conversation"]["status"], "assigned");
    let resolve = &bodies[2]["data"]["resolve"];
    assert_eq!(resolve["resolver"], "agent");
    assert_eq!(
        resolve["conversation"]["conversation_id"],
        chat.conversation_id.as_str()
    );
    assert_eq!(resolve["conversation"]["status"], "resolved");
    let reopen = &bodies[3]["data"]["reopen"];
    let recorded = payload("freshchat_conversation_reopen_1.json")?;
    for key in keys(&recorded["data"]["reopen"]) {
        assert!(reopen.get(&key).is_some(), "reopen lacks {key}");
    }
    assert_eq!(reopen["conversation"]["status"], "reopened");
    assert_eq!(bodies[4]["data"]["resolve"]["resolver"], "user");
    // The customer writing again reopened the conversation, as the user.
    assert_eq!(bodies[5]["data"]["reopen"]["reopener"], "user");
    Ok(())
}

#[tokio::test]
async fn failed_deliveries_retry_with_increasing_count() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    receiver.respond_with(&[500, 503]);
    app.sandbox.customer_says("u-1", "hi").await?;
    app.sandbox.settle().await;
    let got = receiver.drain();
    let counts: Vec<&str> = got.iter().filter_map(|r| r.header("x-retry-count")).collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert!(got.windows(2).all(
        |w| w[0].body == w[1].body && w[0].header("x-freshchat-signature") == w[1].header("x-freshchat-signature")
    ));
    let deliveries = app.sandbox.inspect().webhook_deliveries();
    assert_eq!(deliveries[0].state, DeliveryState::Delivered);
    assert_eq!(deliveries[0].attempts.len(), 3);

    receiver.respond_with(&[500; 10]);
    app.sandbox.customer_says("u-1", "again").await?;
    app.sandbox.settle().await;
    assert_eq!(receiver.drain().len(), 4, "first attempt plus three retries");
    let last = app.sandbox.inspect().webhook_deliveries().pop().ok_or("none")?;
    assert_eq!(last.state, DeliveryState::Failed);
    Ok(())
}

#[tokio::test]
async fn deliveries_keep_event_order() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    for i in 0..8 {
        app.sandbox.customer_says("u-1", &format!("m{i}")).await?;
    }
    app.sandbox.settle().await;
    let texts: Vec<String> = receiver
        .drain_json()?
        .iter()
        .filter_map(|b| {
            b["data"]["message"]["message_parts"][0]["text"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(texts, (0..8).map(|i| format!("m{i}")).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn duplicate_delivery_fault_sends_each_twice() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::DuplicateWebhook).times(2))?;
    for text in ["a", "b", "c"] {
        app.sandbox.customer_says("u-1", text).await?;
    }
    app.sandbox.settle().await;
    let ids: Vec<String> = receiver
        .drain_json()?
        .iter()
        .filter_map(|b| b["data"]["message"]["id"].as_str().map(String::from))
        .collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert_ne!(ids[3], ids[4]);
    Ok(())
}

async fn texts_with_reorder(
    order: ReleaseOrder,
    seed: u64,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let (app, receiver) = with_receiver().await?;
    app.sandbox.faults().reseed(seed);
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::ReorderWebhooks { batch: 5, order }).times(1))?;
    for i in 0..6 {
        app.sandbox.customer_says("u-1", &format!("m{i}")).await?;
    }
    app.sandbox.settle().await;
    Ok(receiver
        .drain_json()?
        .iter()
        .filter_map(|b| {
            b["data"]["message"]["message_parts"][0]["text"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect())
}

#[tokio::test]
async fn reorder_fault_releases_a_batch_reversed_or_shuffled() -> TestResult {
    assert_eq!(
        texts_with_reorder(ReleaseOrder::Reverse, 1).await?,
        ["m4", "m3", "m2", "m1", "m0", "m5"]
    );
    let shuffled = texts_with_reorder(ReleaseOrder::Shuffle, 3).await?;
    assert_eq!(shuffled, texts_with_reorder(ReleaseOrder::Shuffle, 3).await?, "seeded");
    let mut sorted = shuffled.clone();
    sorted.sort();
    assert_eq!(sorted, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    Ok(())
}

#[tokio::test]
async fn settle_releases_a_partial_batch() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    app.sandbox.faults().add(FaultRule::new(
        Provider::Freshchat,
        FaultAction::ReorderWebhooks {
            batch: 10,
            order: ReleaseOrder::Reverse,
        },
    ))?;
    app.sandbox.customer_says("u-1", "a").await?;
    app.sandbox.customer_says("u-1", "b").await?;
    assert_eq!(app.sandbox.inspect().webhook_deliveries()[0].state, DeliveryState::Held);
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    assert_eq!(bodies[0]["data"]["message"]["message_parts"][0]["text"]["content"], "b");
    Ok(())
}

#[tokio::test]
async fn payload_shape_faults() -> TestResult {
    let (app, receiver) = with_receiver().await?;
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::LegacyMessageParts).times(1))?;
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::OmitMessageType).times(1))?;
    app.sandbox.customer_says("u-1", "old style").await?;
    app.sandbox.customer_says("u-1", "new style").await?;
    app.sandbox.settle().await;
    let bodies = receiver.drain_json()?;
    let legacy = &bodies[0]["data"]["message"];
    assert!(legacy.get("message_parts").is_none());
    assert_eq!(
        legacy["msg_parts"],
        json!([{ "part_type": "text", "properties": { "text": "old style" } }])
    );
    assert!(legacy.get("message_type").is_none());
    let modern = &bodies[1]["data"]["message"];
    assert!(modern.get("message_parts").is_some());
    assert_eq!(modern["message_type"], "normal");
    Ok(())
}

#[tokio::test]
async fn without_a_target_nothing_is_sent_and_settle_returns() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.sandbox.customer_says("u-1", "hi").await?;
    app.sandbox.settle().await;
    let deliveries = app.sandbox.inspect().webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, DeliveryState::NoTarget);
    let state: Value = app.client.get(app.url("/admin/state")).send().await?.json().await?;
    assert_eq!(state["webhooks"][0]["state"], "no_target");
    Ok(())
}
