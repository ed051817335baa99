//! `serve` without provider credentials: the built-in sandbox, from a newcomer's side — write in
//! the chat page, see the ticket on the desk page, reply as an agent, see the reply in the chat.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantSlug;
use switchboard::jobs::queue::ClaimScope;
use switchboard::jobs::worker::Worker;

use crate::helpers::{eventually, spawn};

#[tokio::test]
async fn a_newcomer_chats_with_the_sandbox() {
    let app = spawn(
        false,
        &[("SWITCHBOARD_SANDBOX", "on"), ("SWITCHBOARD_POLL_INTERVAL_MS", "100")],
    )
    .await;
    // The sandbox is wired to the `default` tenant: run its jobs.
    let default = app.state.tenants.by_slug(TenantSlug::DEFAULT).await.unwrap().unwrap();
    let registry = Arc::new(switchboard::startup::registry(&app.state));
    let options = switchboard::startup::worker_options(
        &app.state.config,
        ClaimScope {
            tenant: Some(default.id),
        },
    );
    tokio::spawn(Worker::new(app.state.db.clone(), registry, options).run(app.shutdown.clone()));

    let user = format!("newcomer-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let page = app
        .http
        .get(app.url(&format!("sandbox/chat?user={user}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let res = app
        .http
        .post(app.url("sandbox/chat/messages"))
        .json(&serde_json::json!({ "user": user, "text": "Hi! Do you cater birthdays?" }))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    // The ticket appears on the desk page.
    let ticket_id = eventually(Duration::from_secs(30), async || {
        let state: serde_json::Value = app
            .http
            .get(app.url("sandbox/admin/state"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let tickets = state["freshdesk"]["tickets"].as_array()?.clone();
        tickets
            .iter()
            .find(|t| {
                t["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("Do you cater birthdays?"))
            })
            .and_then(|t| t["id"].as_u64())
    })
    .await;
    let desk = app
        .http
        .get(app.url("sandbox/desk"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(desk.contains("Do you cater birthdays?"), "the desk lists the ticket");

    // An agent replies on the desk page; the reply shows in the customer's chat.
    let res = app
        .http
        .post(app.url(&format!("sandbox/desk/tickets/{ticket_id}/reply")))
        .form(&[("body", "Yes! How many guests?")])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    eventually(Duration::from_secs(30), async || {
        let chat: serde_json::Value = app
            .http
            .get(app.url(&format!("sandbox/chat/messages?user={user}")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        chat["messages"]
            .as_array()?
            .iter()
            .any(|m| m["from"] == "agent" && m["text"] == "Yes! How many guests?")
            .then_some(())
    })
    .await;
}
