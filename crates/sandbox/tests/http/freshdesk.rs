use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestResult, fast_config, spawn};

#[tokio::test]
async fn basic_auth_is_required() -> TestResult {
    let app = spawn(fast_config()).await?;
    for request in [
        app.client.get(app.url("/freshdesk/api/v2/tickets")),
        app.client
            .get(app.url("/freshdesk/api/v2/tickets"))
            .basic_auth("wrong-key", Some("X")),
        app.client
            .get(app.url("/freshdesk/api/v2/tickets"))
            .bearer_auth("sandbox-freshdesk-key"),
    ] {
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await?;
        assert_eq!(
            body,
            json!({ "code": "invalid_credentials", "message": "You have to be logged in to perform this action." })
        );
    }
    assert_eq!(app.desk(Method::GET, "/tickets").send().await?.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn json_content_type_is_required_for_writes() -> TestResult {
    let app = spawn(fast_config()).await?;
    let response = app
        .desk(Method::POST, "/tickets")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("subject=x")
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: Value = response.json().await?;
    assert_eq!(body["code"], "invalid_content_type");
    let broken = app
        .desk(Method::POST, "/tickets")
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await?;
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let body: Value = broken.json().await?;
    assert_eq!(body["code"], "invalid_json");
    Ok(())
}

#[tokio::test]
async fn create_answers_201_with_the_ticket() -> TestResult {
    let app = spawn(fast_config()).await?;
    let response = app
        .desk(Method::POST, "/tickets")
        .json(&json!({ "email": "Tom@Outerspace.com", "subject": "Support needed",
                       "description": "<div>Details <b>here</b></div>", "status": 2, "priority": 3,
                       "source": 7, "tags": ["chat", "high_value"], "type": "Question",
                       "custom_fields": { "cf_cart_value": 25000, "cf_friction_score": 70,
                                          "cf_order_stage": "PRE_ORDER",
                                          "cf_freshchat_conversation_id": "abc" } }))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(String::from);
    let ticket: Value = response.json().await?;
    assert_eq!(ticket["id"], 1);
    assert_eq!(location.as_deref(), Some("/sandbox/freshdesk/api/v2/tickets/1"));
    assert_eq!(ticket["description_text"], "Details here");
    assert_eq!(ticket["custom_fields"]["cf_cart_value"], 25000);
    assert_eq!(
        ticket["custom_fields"]["cf_guest_count"],
        Value::Null,
        "unset fields are null"
    );
    assert_eq!(ticket["tags"], json!(["chat", "high_value"]));
    assert!(
        ticket["created_at"]
            .as_str()
            .is_some_and(|t| t.len() == 20 && t.ends_with('Z'))
    );
    let requester = ticket["requester_id"].as_u64().ok_or("no requester")?;
    assert!(requester > u64::from(u32::MAX), "ids beyond 32 bits");

    // The same e-mail (any case) finds the same contact.
    let again: Value = app.ticket(json!({ "email": "tom@outerspace.com" })).await?;
    assert_eq!(again["requester_id"], requester);
    let fetched: Value = app
        .desk(Method::GET, "/tickets/1?include=requester")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(fetched["requester"]["email"], "Tom@Outerspace.com");
    Ok(())
}

async fn errors_of(
    app: &crate::helpers::TestApp,
    body: Value,
) -> Result<Vec<Value>, Box<dyn std::error::Error + Send + Sync>> {
    let response = app.desk(Method::POST, "/tickets").json(&body).send().await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    let json: Value = response.json().await?;
    assert_eq!(json["description"], "Validation failed");
    Ok(json["errors"].as_array().cloned().unwrap_or_default())
}

fn valid() -> Value {
    json!({ "email": "a@b.co", "subject": "s", "description": "d", "status": 2, "priority": 1 })
}

fn with(extra: Value) -> Value {
    let mut body = valid();
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

#[tokio::test]
async fn validation_matches_freshdesk() -> TestResult {
    let app = spawn(fast_config()).await?;
    let float = errors_of(&app, with(json!({ "custom_fields": { "cf_cart_value": 1250.5 } }))).await?;
    assert_eq!(
        float,
        [
            json!({ "field": "custom_fields.cf_cart_value", "code": "datatype_mismatch",
        "message": "The value provided is of type Float.It should be of type Integer" })
        ]
    );
    let text = errors_of(&app, with(json!({ "custom_fields": { "cf_guest_count": "40" } }))).await?;
    assert_eq!(text[0]["code"], "datatype_mismatch");
    assert_eq!(text[0]["field"], "custom_fields.cf_guest_count");
    let unknown = errors_of(&app, with(json!({ "custom_fields": { "cf_nope": 1 } }))).await?;
    assert_eq!(unknown[0]["code"], "invalid_field");
    assert_eq!(unknown[0]["field"], "custom_fields.cf_nope");
    let number_in_text = errors_of(&app, with(json!({ "custom_fields": { "cf_order_stage": 3 } }))).await?;
    assert_eq!(number_in_text[0]["code"], "datatype_mismatch");

    let phone_only =
        json!({ "phone": "+919876543210", "subject": "s", "description": "d", "status": 2, "priority": 1 });
    let errors = errors_of(&app, phone_only).await?;
    assert_eq!(
        errors,
        [json!({ "field": "name", "code": "missing_field", "message": "It should be a/an String" })]
    );

    let status = errors_of(&app, with(json!({ "status": 9 }))).await?;
    assert_eq!(
        status,
        [json!({ "field": "status", "code": "invalid_value",
        "message": "It should be one of these values: 2,3,4,5" })]
    );
    let priority = errors_of(&app, with(json!({ "priority": 5 }))).await?;
    assert_eq!(priority[0]["message"], "It should be one of these values: 1,2,3,4");
    let source = errors_of(&app, with(json!({ "source": 4 }))).await?;
    assert_eq!(source[0]["field"], "source");
    let ticket_type = errors_of(&app, with(json!({ "type": "Nonsense" }))).await?;
    assert_eq!(ticket_type[0]["code"], "invalid_value");
    let stray = errors_of(&app, with(json!({ "cf_cart_value": 1 }))).await?;
    assert_eq!(stray[0]["code"], "invalid_field");

    // Several problems are reported together.
    let many = errors_of(&app, json!({ "description": "d", "priority": "high" })).await?;
    let fields: Vec<&str> = many.iter().filter_map(|e| e["field"].as_str()).collect();
    for field in ["requester_id", "subject", "status", "priority"] {
        assert!(fields.contains(&field), "{field} in {fields:?}");
    }
    // Phone with a name is fine and creates a contact.
    let ok = app
        .ticket(json!({ "email": null, "phone": "+919876543210", "name": "Ravi" }))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(app.sandbox.inspect().tickets().len(), 1);
    Ok(())
}

#[tokio::test]
async fn unknown_tickets_are_404_with_an_empty_body() -> TestResult {
    let app = spawn(fast_config()).await?;
    for (method, path) in [
        (Method::GET, "/tickets/999"),
        (Method::PUT, "/tickets/999"),
        (Method::POST, "/tickets/999/notes"),
        (Method::POST, "/tickets/999/reply"),
        (Method::GET, "/tickets/999/conversations"),
        (Method::GET, "/tickets/abc"),
    ] {
        let response = app.desk(method, path).json(&json!({ "body": "x" })).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response.bytes().await?.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn notes_and_replies_list_in_order() -> TestResult {
    let app = spawn(fast_config()).await?;
    let ticket = app.ticket(json!({})).await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    let note = app
        .desk(Method::POST, &format!("/tickets/{id}/notes"))
        .json(&json!({ "body": "<div>private by default</div>" }))
        .send()
        .await?;
    assert_eq!(note.status(), StatusCode::CREATED);
    let note: Value = note.json().await?;
    assert_eq!(
        (note["private"].clone(), note["incoming"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(note["source"], 2);
    let customer: Value = app
        .desk(Method::POST, &format!("/tickets/{id}/notes"))
        .json(&json!({ "body": "<div>from chat</div>", "private": false, "incoming": true }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(customer["user_id"], ticket["requester_id"]);
    let reply = app
        .desk(Method::POST, &format!("/tickets/{id}/reply"))
        .json(&json!({ "body": "<p>We can help</p>" }))
        .send()
        .await?;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let reply: Value = reply.json().await?;
    assert_eq!(
        (reply["source"].clone(), reply["private"].clone()),
        (json!(0), json!(false))
    );
    assert_eq!(reply["body_text"], "We can help");

    let all: Vec<Value> = app
        .desk(Method::GET, &format!("/tickets/{id}/conversations"))
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<u64> = all.iter().filter_map(|c| c["id"].as_u64()).collect();
    assert_eq!(
        ids,
        [
            note["id"].as_u64().unwrap_or(0),
            customer["id"].as_u64().unwrap_or(0),
            reply["id"].as_u64().unwrap_or(0)
        ]
    );
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let page2: Vec<Value> = app
        .desk(Method::GET, &format!("/tickets/{id}/conversations?per_page=2&page=2"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0]["id"], reply["id"]);
    let too_big = app
        .desk(Method::GET, &format!("/tickets/{id}/conversations?per_page=101"))
        .send()
        .await?;
    assert_eq!(too_big.status(), StatusCode::BAD_REQUEST);
    let blank = app
        .desk(Method::POST, &format!("/tickets/{id}/notes"))
        .json(&json!({ "private": false }))
        .send()
        .await?;
    assert_eq!(blank.status(), StatusCode::BAD_REQUEST);
    let with_conversations: Value = app
        .desk(Method::GET, &format!("/tickets/{id}?include=conversations"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(with_conversations["conversations"].as_array().map(Vec::len), Some(3));
    Ok(())
}

#[tokio::test]
async fn updates_validate_and_apply() -> TestResult {
    let app = spawn(fast_config()).await?;
    let ticket = app.ticket(json!({})).await?;
    let id = ticket["id"].as_u64().ok_or("no id")?;
    let updated: Value = app
        .desk(Method::PUT, &format!("/tickets/{id}"))
        .json(&json!({ "status": 4, "custom_fields": { "cf_friction_score": 80 }, "tags": ["x"] }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(updated["status"], 4);
    assert_eq!(updated["custom_fields"]["cf_friction_score"], 80);
    assert_eq!(updated["subject"], "Help", "untouched fields stay");
    let bad = app
        .desk(Method::PUT, &format!("/tickets/{id}"))
        .json(&json!({ "custom_fields": { "cf_friction_score": 80.5 } }))
        .send()
        .await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.sandbox
            .inspect()
            .ticket(id)
            .map(|t| t.custom_fields["cf_friction_score"].clone()),
        Some(json!(80))
    );
    Ok(())
}

#[tokio::test]
async fn ticket_fields_include_the_custom_schema() -> TestResult {
    let app = spawn(fast_config()).await?;
    let fields: Vec<Value> = app.desk(Method::GET, "/ticket_fields").send().await?.json().await?;
    let find = |name: &str| fields.iter().find(|f| f["name"] == name).cloned();
    assert_eq!(
        find("cf_cart_value").map(|f| f["type"].clone()),
        Some(json!("custom_number"))
    );
    assert_eq!(
        find("cf_order_stage").map(|f| f["type"].clone()),
        Some(json!("custom_text"))
    );
    assert!(find("status").is_some_and(|f| f["choices"]["4"][0] == "Resolved"));
    let numbers: Vec<Value> = app
        .desk(Method::GET, "/ticket_fields?type=custom_number")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(numbers.len(), 3);
    Ok(())
}
