//! The incidences API, manual sync, messages to the chat and the Freshdesk sidebar.

use std::time::Duration;

use sandbox::{FaultAction, FaultRule, Provider, SandboxConfig};
use serde_json::{Value, json};

use crate::world::{World, world, world_with};

async fn get(w: &World, path: &str) -> Value {
    let res = w.app.get(path, Some(&w.app.secret_key)).await;
    assert_eq!(res.status(), 200, "GET {path}");
    res.json().await.unwrap()
}

async fn post(w: &World, path: &str, body: Value) -> reqwest::Response {
    w.app
        .http
        .post(w.app.url(path))
        .bearer_auth(&w.app.secret_key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A conversation with its ticket; returns (conversation id, ticket id, incidence id).
async fn conversation(w: &World, user: &str, text: &str) -> (String, u64, String) {
    let chat = w.sandbox.customer_says(user, text).await.unwrap();
    let ticket = w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    let list = get(w, &format!("api/v1/incidences?user_id={user}")).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    (chat.conversation_id, ticket.id, id)
}

#[tokio::test]
async fn incidences_are_listed_filtered_and_paged() {
    let w = world().await;
    for i in 0..5 {
        conversation(&w, &format!("list-{i}"), "hello").await;
    }
    let page1 = get(&w, "api/v1/incidences?limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = get(&w, &format!("api/v1/incidences?limit=2&cursor={cursor}")).await;
    let page3 = get(
        &w,
        &format!(
            "api/v1/incidences?limit=2&cursor={}",
            page2["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    let ids: Vec<&str> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()))
        .collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(
        ids.iter().collect::<std::collections::BTreeSet<_>>().len(),
        5,
        "no row twice across pages"
    );
    assert!(page3["next_cursor"].is_null());

    assert_eq!(
        get(
            &w,
            "api/v1/incidences?outcome=IN_PROGRESS&channel=IN_APP_CHAT&stage=PRE_ORDER"
        )
        .await["data"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(
        get(&w, "api/v1/incidences?outcome=CONVERTED").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        get(&w, "api/v1/incidences?user_id=list-3").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        get(&w, "api/v1/incidences?from=2999-01-01T00:00:00Z").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        get(&w, "api/v1/incidences?to=2999-01-01T00:00:00Z").await["data"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    for bad in ["outcome=WON", "stage=LATER", "from=yesterday", "cursor=zzz", "limit=0"] {
        let res = w
            .app
            .get(&format!("api/v1/incidences?{bad}"), Some(&w.app.secret_key))
            .await;
        assert_eq!(res.status(), 422, "{bad}");
    }
    // A publishable key cannot read incidences.
    assert_eq!(
        w.app
            .get("api/v1/incidences", Some(&w.app.publishable_key))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn closing_sets_the_outcome_and_resolves_both_sides() {
    let w = world().await;
    let (conv, ticket, id) = conversation(&w, "closer", "I changed my mind").await;
    let res = post(
        &w,
        &format!("api/v1/incidences/{id}/close"),
        json!({ "outcome": "DROPPED", "issue_category": "price", "root_cause": "too expensive" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["outcome"].as_str(), body["order_impact"].as_str()),
        (Some("DROPPED"), Some("LOST"))
    );
    assert_eq!(body["issue_category"], "price");
    w.until("the ticket resolved", |w| {
        w.sandbox.inspect().ticket(ticket).filter(|t| t.status == 4)
    })
    .await;
    w.until("the chat resolved", |w| {
        w.sandbox
            .inspect()
            .conversation(&conv)
            .filter(|c| c.status == sandbox::freshchat::model::ConversationStatus::Resolved)
    })
    .await;
    // Bad input is named.
    let res = post(
        &w,
        &format!("api/v1/incidences/{id}/close"),
        json!({ "outcome": "IN_PROGRESS" }),
    )
    .await;
    assert_eq!(res.status(), 422);
    let res = post(
        &w,
        "api/v1/incidences/00000000-0000-0000-0000-000000000000/close",
        json!({ "outcome": "RESOLVED" }),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn resolving_the_chat_resolves_the_ticket() {
    let w = world().await;
    let (conv, ticket, id) = conversation(&w, "resolver", "thanks, all good").await;
    w.sandbox.resolve_conversation(&conv, true).await.unwrap();
    w.until("the ticket resolved", |w| {
        w.sandbox.inspect().ticket(ticket).filter(|t| t.status == 4)
    })
    .await;
    let body = get(&w, &format!("api/v1/incidences/{id}")).await;
    assert_eq!(body["outcome"], "RESOLVED");
    assert!(body["time_to_resolve_seconds"].as_i64().is_some());
    // No loop: one resolution each way, the echoes changed nothing.
    let puts = w
        .sandbox
        .inspect()
        .requests(Some(Provider::Freshdesk))
        .iter()
        .filter(|r| r.endpoint == "PUT /tickets/{id}")
        .count();
    assert_eq!(puts, 1);
}

#[tokio::test]
async fn messages_are_sent_to_the_chat_once_even_when_the_answer_is_lost() {
    let config = SandboxConfig::default();
    let w = world_with(config, &[("SWITCHBOARD_PROVIDER_TIMEOUT_SECS", "1")]).await;
    let (conv, _, id) = conversation(&w, "messaged", "hello?").await;
    w.sandbox
        .faults()
        .add(
            FaultRule::new(
                Provider::Freshchat,
                FaultAction::TimeoutAfterCommit { hold_millis: 2000 },
            )
            .method("POST")
            .path_prefix("/conversations")
            .times(1),
        )
        .unwrap();
    let res = post(
        &w,
        "api/v1/messages/send",
        json!({ "incidence_id": id, "text": "We are looking into it" }),
    )
    .await;
    assert_eq!(res.status(), 202);
    let sent = w
        .until("the message in the chat", |w| {
            Some(w.agent_chat_texts(&conv)).filter(|m| !m.is_empty())
        })
        .await;
    assert_eq!(sent, vec!["We are looking into it"]);
    // Give a wrongly repeated send every chance to show up: wait for the sync job to be done.
    crate::helpers::eventually(Duration::from_secs(20), async || {
        let jobs = get(&w, "api/v1/jobs?kind=chat.sync&state=done").await;
        (!jobs["data"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    w.sandbox.settle().await;
    assert_eq!(
        w.agent_chat_texts(&conv),
        vec!["We are looking into it"],
        "sent exactly once"
    );

    for (body, field) in [
        (json!({ "incidence_id": id, "text": "  " }), "text"),
        (json!({ "text": "hi" }), "incidence_id"),
        (
            json!({ "incidence_id": id, "conversation_id": conv, "text": "hi" }),
            "incidence_id",
        ),
    ] {
        let res = post(&w, "api/v1/messages/send", body).await;
        assert_eq!(res.status(), 422);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field);
    }
}

#[tokio::test]
async fn notes_are_added_once_even_when_the_answer_is_lost() {
    let w = world_with(SandboxConfig::default(), &[("SWITCHBOARD_PROVIDER_TIMEOUT_SECS", "1")]).await;
    let (_, ticket, _) = conversation(&w, "noted", "first").await;
    w.sandbox
        .faults()
        .add(
            FaultRule::new(
                Provider::Freshdesk,
                FaultAction::TimeoutAfterCommit { hold_millis: 2000 },
            )
            .method("POST")
            .path_prefix("/tickets/")
            .times(1),
        )
        .unwrap();
    w.sandbox.customer_says("noted", "second").await.unwrap();
    w.sandbox.customer_says("noted", "second").await.unwrap();
    let notes = w
        .until("both notes", |w| Some(w.note_texts(ticket)).filter(|n| n.len() >= 2))
        .await;
    assert_eq!(
        notes,
        vec!["second", "second"],
        "two identical messages are two notes, and the lost answer adds no third"
    );
    let lists = w
        .sandbox
        .inspect()
        .requests(Some(Provider::Freshdesk))
        .iter()
        .filter(|r| r.endpoint == "GET /tickets/{id}/conversations")
        .count();
    assert!(lists >= 1, "the unanswered note was looked for before sending again");
}

#[tokio::test]
async fn manual_sync_pushes_the_live_context_and_sync_all_reports_progress() {
    let w = world().await;
    let (_, ticket, id) = conversation(&w, "synced", "hello").await;
    let res = post(&w, "api/v1/freshdesk/sync", json!({ "incidence_id": id })).await;
    assert_eq!(res.status(), 202);
    let res = post(
        &w,
        "api/v1/freshdesk/sync",
        json!({ "incidence_id": "00000000-0000-0000-0000-000000000000" }),
    )
    .await;
    assert_eq!(res.status(), 404);

    conversation(&w, "synced-2", "hi").await;
    let res = post(&w, "api/v1/freshdesk/sync-all", json!({})).await;
    assert_eq!(res.status(), 202);
    let job_id = res.json::<Value>().await.unwrap()["job_id"].as_i64().unwrap();
    let job = crate::helpers::eventually(Duration::from_secs(30), async || {
        let job = get(&w, &format!("api/v1/jobs/{job_id}")).await;
        (job["state"] == "done").then_some(job)
    })
    .await;
    assert_eq!(job["progress"]["total"], 2);
    assert_eq!(job["progress"]["done"], 2);
    assert_eq!(job["progress"]["pending"], 0);
    assert!(w.sandbox.inspect().ticket(ticket).is_some());
}

#[tokio::test]
async fn the_sidebar_opens_with_a_signed_link_or_the_tenant_token_only() {
    let w = world().await;
    let (_, ticket, _) = conversation(&w, "sidebar-user", "Where is my order?").await;
    let link = get(&w, &format!("api/v1/freshdesk/sidebar-link?ticket_id={ticket}")).await;
    let url = link["url"].as_str().unwrap().to_owned();
    let res = w.app.http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Where is my order?") && html.contains("PRE_ORDER"),
        "{html}"
    );

    // A tampered link, another ticket, an expired link: refused.
    let tampered = url.replace(&format!("ticket_id={ticket}"), &format!("ticket_id={}", ticket + 1));
    assert_eq!(w.app.http.get(&tampered).send().await.unwrap().status(), 401);
    let no_auth = w.app.url(&format!(
        "freshdesk/sidebar?tenant={}&ticket_id={ticket}",
        w.app.tenant.slug
    ));
    assert_eq!(w.app.http.get(&no_auth).send().await.unwrap().status(), 401);

    // The tenant token works for any of its tickets, and not for another tenant.
    let template = link["app_url_template"]
        .as_str()
        .unwrap()
        .replace("{{ticket.id}}", &ticket.to_string());
    assert_eq!(w.app.http.get(&template).send().await.unwrap().status(), 200);
    let other = crate::helpers::new_tenant(&w.app.state).await;
    let stolen = template.replace(
        &format!("tenant={}", w.app.tenant.slug),
        &format!("tenant={}", other.slug),
    );
    assert_eq!(w.app.http.get(&stolen).send().await.unwrap().status(), 401);
}
