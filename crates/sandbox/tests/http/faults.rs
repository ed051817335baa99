use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sandbox::{FaultAction, FaultRule, Provider};
use serde_json::{Value, json};

use crate::helpers::{TestResult, fast_config, spawn};

fn ticket_body() -> Value {
    json!({ "email": "a@b.co", "subject": "s", "description": "d", "status": 2, "priority": 1 })
}

#[tokio::test]
async fn status_fault_with_method_path_and_times() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.sandbox.faults().add(
        FaultRule::new(Provider::Freshdesk, FaultAction::Status { status: 503 })
            .method("POST")
            .path_prefix("/tickets")
            .times(1),
    )?;
    assert_eq!(
        app.desk(Method::GET, "/tickets").send().await?.status(),
        StatusCode::OK,
        "GET untouched"
    );
    let first = app.desk(Method::POST, "/tickets").json(&ticket_body()).send().await?;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(app.sandbox.inspect().tickets().is_empty(), "nothing written");
    let second = app.desk(Method::POST, "/tickets").json(&ticket_body()).send().await?;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(app.sandbox.inspect().count(Provider::Freshdesk, "POST /tickets"), 2);
    let log = app.sandbox.inspect().requests(Some(Provider::Freshdesk));
    assert_eq!(log[1].fault.as_deref(), Some("status 503"));
    assert_eq!(log[1].status, 503);

    // Freshchat faults answer in Freshchat's error shape.
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::Status { status: 500 }).times(1))?;
    let failed = app.chat(Method::GET, "/agents").send().await?;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = failed.json().await?;
    assert_eq!(
        (body["code"].clone(), body["status"].clone()),
        (json!(500), json!("INTERNAL_SERVER_ERROR"))
    );
    Ok(())
}

#[tokio::test]
async fn too_many_requests_with_and_without_retry_after() -> TestResult {
    let app = spawn(fast_config()).await?;
    let faults = app.sandbox.faults();
    faults.add(
        FaultRule::new(
            Provider::Freshchat,
            FaultAction::TooManyRequests {
                retry_after_secs: Some(7),
            },
        )
        .times(1),
    )?;
    faults.add(
        FaultRule::new(
            Provider::Freshchat,
            FaultAction::TooManyRequests { retry_after_secs: None },
        )
        .times(1),
    )?;
    let with = app.chat(Method::GET, "/agents").send().await?;
    assert_eq!(with.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        with.headers().get("retry-after").and_then(|v| v.to_str().ok()),
        Some("7")
    );
    let without = app.chat(Method::GET, "/agents").send().await?;
    assert_eq!(without.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(without.headers().get("retry-after").is_none());
    assert_eq!(app.chat(Method::GET, "/agents").send().await?.status(), StatusCode::OK);
    let log = app.sandbox.inspect().requests(Some(Provider::Freshchat));
    assert_eq!(log[0].retry_after_secs, Some(7));
    Ok(())
}

#[tokio::test]
async fn latency_delays_the_answer() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshdesk, FaultAction::Latency { millis: 250 }).times(1))?;
    let started = Instant::now();
    assert_eq!(app.desk(Method::GET, "/tickets").send().await?.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(250));
    Ok(())
}

#[tokio::test]
async fn timeout_after_commit_keeps_the_write() -> TestResult {
    let app = spawn(fast_config()).await?;
    app.sandbox.faults().add(
        FaultRule::new(
            Provider::Freshdesk,
            FaultAction::TimeoutAfterCommit { hold_millis: 30_000 },
        )
        .method("POST")
        .times(1),
    )?;
    let result = app
        .desk(Method::POST, "/tickets")
        .json(&ticket_body())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert_eq!(
        app.sandbox.inspect().tickets().len(),
        1,
        "the ticket was created anyway"
    );
    let log = app.sandbox.inspect().requests(Some(Provider::Freshdesk));
    assert_eq!(log[0].status, 201);
    assert!(
        log[0]
            .fault
            .as_deref()
            .is_some_and(|f| f.starts_with("timeout_after_commit"))
    );
    Ok(())
}

#[tokio::test]
async fn probabilistic_faults_through_the_admin_api() -> TestResult {
    let app = spawn(fast_config()).await?;
    let added = app
        .client
        .post(app.url("/admin/faults"))
        .json(
            &json!({ "provider": "freshchat", "path_prefix": "/sandbox/freshchat/v2/agents",
                       "action": { "type": "status", "status": 500 }, "rate": 0.5 }),
        )
        .send()
        .await?;
    assert_eq!(added.status(), StatusCode::CREATED);
    let id = added.json::<Value>().await?["id"].as_u64().ok_or("no id")?;
    let mut failures = 0;
    for _ in 0..40 {
        if app.chat(Method::GET, "/agents").send().await?.status() == StatusCode::INTERNAL_SERVER_ERROR {
            failures += 1;
        }
    }
    assert!((5..=35).contains(&failures), "{failures} of 40");
    let listed: Vec<Value> = app.client.get(app.url("/admin/faults")).send().await?.json().await?;
    assert_eq!(listed[0]["hits"], failures);
    assert_eq!(listed[0]["path_prefix"], "/agents");

    let bad = app
        .client
        .post(app.url("/admin/faults"))
        .json(&json!({ "provider": "freshchat", "action": { "type": "status", "status": 500 }, "rate": 2.0 }))
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let removed = app
        .client
        .delete(app.url(&format!("/admin/faults/{id}")))
        .send()
        .await?;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.chat(Method::GET, "/agents").send().await?.status(), StatusCode::OK);

    let log: Vec<Value> = app
        .client
        .get(app.url("/admin/requests?provider=freshchat"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(log.len(), 41);
    assert!(
        log[0]["received_at"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z'))
    );
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(log[0]["path"], "/agents");
    let counters: Value = app.client.get(app.url("/admin/counters")).send().await?.json().await?;
    assert_eq!(counters["freshchat"]["GET /agents"], 41);
    let cleared = app.client.delete(app.url("/admin/requests")).send().await?;
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert!(app.sandbox.inspect().requests(None).is_empty());
    Ok(())
}
