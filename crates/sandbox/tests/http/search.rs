use std::time::Duration;

use reqwest::{Method, StatusCode};
use sandbox::SandboxConfig;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResult, fast_config, spawn};

async fn search(
    app: &TestApp,
    query: &str,
    page: Option<u32>,
) -> Result<(StatusCode, Value), Box<dyn std::error::Error + Send + Sync>> {
    let mut params = vec![("query", query.to_string())];
    if let Some(page) = page {
        params.push(("page", page.to_string()));
    }
    let response = app.desk(Method::GET, "/search/tickets").query(&params).send().await?;
    Ok((response.status(), response.json().await?))
}

async fn ids(app: &TestApp, query: &str) -> Result<Vec<u64>, Box<dyn std::error::Error + Send + Sync>> {
    let (status, body) = search(app, query, None).await?;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let mut ids: Vec<u64> = body["results"]
        .as_array()
        .ok_or("no results")?
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

#[tokio::test]
async fn query_grammar() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.ticket(json!({ "priority": 1, "tags": ["chat"], "type": "Question",
                       "custom_fields": { "cf_freshchat_conversation_id": "abc", "cf_cart_value": 500 } }))
        .await?;
    app.ticket(json!({ "priority": 3, "tags": ["chat", "vip"],
                       "custom_fields": { "cf_freshchat_conversation_id": "def", "cf_cart_value": 30000 } }))
        .await?;
    app.ticket(json!({ "priority": 4, "status": 4, "custom_fields": { "cf_order_stage": "POST_ORDER" } }))
        .await?;

    assert_eq!(
        ids(&app, "\"cf_freshchat_conversation_id:'abc' AND status:2\"").await?,
        [1]
    );
    assert_eq!(
        ids(&app, "\"cf_freshchat_conversation_id:'abc' AND status:4\"").await?,
        Vec::<u64>::new()
    );
    assert_eq!(ids(&app, "\"priority:1 OR priority:4\"").await?, [1, 3]);
    assert_eq!(ids(&app, "\"(priority:1 OR priority:3) AND tag:'vip'\"").await?, [2]);
    assert_eq!(ids(&app, "\"priority:1 OR priority:3 AND tag:'vip'\"").await?, [1, 2]);
    assert_eq!(ids(&app, "\"priority:>3\"").await?, [2, 3]);
    assert_eq!(ids(&app, "\"priority:<1\"").await?, [1]);
    assert_eq!(ids(&app, "\"cf_cart_value:>1000\"").await?, [2]);
    assert_eq!(ids(&app, "\"tag:'chat'\"").await?, [1, 2]);
    assert_eq!(ids(&app, "\"tag:null\"").await?, [3]);
    assert_eq!(ids(&app, "\"type:null\"").await?, [2, 3]);
    assert_eq!(ids(&app, "\"type:'Question'\"").await?, [1]);
    assert_eq!(ids(&app, "\"cf_order_stage:'POST_ORDER'\"").await?, [3]);
    assert_eq!(ids(&app, "\"custom_string:'def'\"").await?, [2]);
    assert_eq!(ids(&app, "\"created_at:>'2020-01-01'\"").await?, [1, 2, 3]);
    assert_eq!(ids(&app, "\"created_at:<'2020-01-01'\"").await?, Vec::<u64>::new());

    for bad in [
        "status:2", // not in double quotes
        "'status:2'",
        "\"status\"",
        "\"status:'2'\"", // number field, string value
        "\"nope:1\"",
        "\"status:2 AND\"",
        "\"(status:2\"",
        "\"status:2 and priority:1\"",
    ] {
        let (status, body) = search(&app, bad, None).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["errors"][0]["field"], "query", "{bad}");
    }
    let (status, _) = search(&app, &format!("\"{}\"", "status:2 OR ".repeat(50) + "status:2"), None).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "over 512 characters");
    Ok(())
}

#[tokio::test]
async fn thirty_per_page_and_at_most_ten_pages() -> TestResult {
    let app = spawn(SandboxConfig {
        required_ticket_fields: Vec::new(),
        ..fast_config()
    })
    .await?;
    for _ in 0..35 {
        app.ticket(json!({})).await?;
    }
    let (_, first) = search(&app, "\"status:2\"", None).await?;
    assert_eq!(first["total"], 35);
    assert_eq!(first["results"].as_array().map(Vec::len), Some(30));
    assert_eq!(first["results"][0]["id"], 35, "newest first");
    let (_, second) = search(&app, "\"status:2\"", Some(2)).await?;
    assert_eq!(second["results"].as_array().map(Vec::len), Some(5));
    let (status, body) = search(&app, "\"status:2\"", Some(11)).await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "page");
    Ok(())
}

#[tokio::test]
async fn results_lag_behind_writes() -> TestResult {
    let config = SandboxConfig {
        search_index_lag: Duration::from_secs(3600),
        ..fast_config()
    };
    let app = spawn(config).await?;
    let query = "\"cf_freshchat_conversation_id:'lagging'\"";
    app.ticket(json!({ "custom_fields": { "cf_freshchat_conversation_id": "lagging" } }))
        .await?;
    assert_eq!(
        ids(&app, query).await?,
        Vec::<u64>::new(),
        "just created: not indexed yet"
    );
    app.sandbox.reindex_search();
    assert_eq!(ids(&app, query).await?, [1]);
    // An update is not searchable until indexed either; the old state still is.
    app.desk(Method::PUT, "/tickets/1")
        .json(&json!({ "status": 4 }))
        .send()
        .await?;
    assert_eq!(ids(&app, "\"status:4\"").await?, Vec::<u64>::new());
    assert_eq!(ids(&app, "\"status:2\"").await?, [1]);
    let reindex = app.client.post(app.url("/admin/freshdesk/reindex")).send().await?;
    assert_eq!(reindex.status(), StatusCode::NO_CONTENT);
    assert_eq!(ids(&app, "\"status:4\"").await?, [1]);
    Ok(())
}
