//! Health, readiness and the HTTP skeleton's behaviour.

use crate::helpers::{spawn_app, spawn_app_without_worker};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app.get("healthz", None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    let ready: serde_json::Value = app.get("readyz", None).await.json().await.unwrap();
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": true, "migrations": true})
    );
}

#[tokio::test]
async fn a_given_request_id_is_echoed() {
    let app = spawn_app_without_worker().await;
    let res = app
        .http
        .get(app.url("healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let app = spawn_app_without_worker().await;
    let res = app.get("nope", None).await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = app.http.delete(app.url("healthz")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn bad_query_and_path_values_are_400_problems() {
    let app = spawn_app_without_worker().await;
    let res = app.get("api/v1/jobs/not-a-number", Some(&app.secret_key)).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = app.get("api/v1/jobs?state=sleeping", Some(&app.secret_key)).await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["errors"][0]["field"], "state");
}
