//! FreshdeskClient against a recording server: exact request shapes, rate-limit headers and
//! error bodies.

mod support;

use std::time::Duration;

use base64::Engine as _;
use providers::Secret;
use providers::freshdesk::{
    CustomFieldValue, FreshdeskClient, NewNote, NewReply, NewTicket, Requester, SearchQuery, TicketPriority,
    TicketStatus, TicketUpdate,
};
use providers::http::{ErrorKind, ProviderError, RateLimitInfo};
use serde_json::json;
use support::{Canned, MockServer, test_http};

fn client(server: &MockServer) -> FreshdeskClient {
    FreshdeskClient::new(test_http(), server.url("/api/v2"), Secret::new("fd-key"))
}

fn expected_auth() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("fd-key:X"))
}

fn ticket_json(id: u64, status: u16) -> serde_json::Value {
    json!({"id": id, "subject": "Chat: PRE_ORDER ₹4,500", "status": status, "priority": 3,
           "source": 7, "requester_id": 5, "tags": ["chat"],
           "custom_fields": {"cf_cart_value": 4500, "cf_freshchat_conversation_id": "c-1"},
           "created_at": "2025-07-10T19:47:55Z"})
}

fn conversation_json(id: u64, created_at: &str) -> serde_json::Value {
    json!({"id": id, "body": format!("<p>{id}</p>"), "body_text": id.to_string(),
           "incoming": false, "private": false, "source": 0, "user_id": 9, "ticket_id": 42,
           "created_at": created_at})
}

#[tokio::test]
async fn create_ticket_posts_integers_and_reports_the_rate_limit() {
    let server = MockServer::start(vec![
        Canned::json(201, ticket_json(42, 2))
            .with_header("x-ratelimit-total", "400")
            .with_header("x-ratelimit-remaining", "397")
            .with_header("x-ratelimit-used-currentrequest", "1"),
    ])
    .await;
    let mut ticket = NewTicket::new(
        Requester::Email {
            email: "asha@example.com".into(),
            name: Some("Asha".into()),
            phone: None,
        },
        "Chat: PRE_ORDER ₹4,500",
        "<p>Can I get 40 plates?</p>",
    );
    ticket.priority = TicketPriority::High;
    ticket.tags = vec!["chat".into(), "high_value".into()];
    for (name, value) in [
        ("cf_friction_score", CustomFieldValue::Integer(65)),
        ("cf_cart_value", CustomFieldValue::Integer(4500)),
        ("cf_guest_count", CustomFieldValue::Integer(40)),
        ("cf_order_stage", "PRE_ORDER".into()),
        ("cf_freshchat_conversation_id", "c-1".into()),
    ] {
        ticket.custom_fields.insert(name.into(), value);
    }
    let created = client(&server).create_ticket(&ticket).await.expect("created");
    assert_eq!(created.value.id, 42);
    assert_eq!(created.value.status, TicketStatus::Open);
    assert_eq!(
        created.rate_limit,
        Some(RateLimitInfo {
            total: Some(400),
            remaining: Some(397),
            used: Some(1)
        })
    );

    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/api/v2/tickets")
    );
    assert_eq!(request.header("authorization"), Some(expected_auth().as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"email": "asha@example.com", "name": "Asha", "subject": "Chat: PRE_ORDER ₹4,500",
               "description": "<p>Can I get 40 plates?</p>", "status": 2, "priority": 3,
               "source": 7, "tags": ["chat", "high_value"],
               "custom_fields": {"cf_cart_value": 4500, "cf_freshchat_conversation_id": "c-1",
                                 "cf_friction_score": 65, "cf_guest_count": 40,
                                 "cf_order_stage": "PRE_ORDER"}})
    );
    // Integers on the wire, never `4500.0`.
    assert!(request.text().contains(r#""cf_cart_value":4500,"#));
}

#[tokio::test]
async fn update_get_note_and_reply_use_the_documented_paths() {
    let server = MockServer::start(vec![
        Canned::json(200, ticket_json(42, 2)),
        Canned::json(200, ticket_json(42, 4)),
        Canned::json(
            201,
            json!({"id": 501, "body": "<p>hi</p>", "incoming": true, "private": false, "ticket_id": 42}),
        ),
        Canned::json(201, json!({"id": 502, "body": "<p>ok</p>", "ticket_id": 42})),
    ])
    .await;
    let desk = client(&server);
    let update = TicketUpdate {
        status: Some(TicketStatus::Open),
        custom_fields: Some([("cf_cart_value".to_owned(), CustomFieldValue::Integer(9000))].into()),
        ..TicketUpdate::default()
    };
    desk.update_ticket(42, &update).await.expect("updated");
    let fetched = desk.get_ticket(42).await.expect("fetched");
    assert!(fetched.value.status.is_closed());
    let note = desk
        .add_note(42, &NewNote::public_incoming("<p>hi</p>"))
        .await
        .expect("note");
    assert_eq!(note.value.id, 501);
    assert!(note.value.incoming);
    let reply = desk.reply(42, &NewReply::new("<p>ok</p>")).await.expect("reply");
    assert_eq!(reply.value.id, 502);

    let requests = server.requests();
    let shapes: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("PUT".to_owned(), "/api/v2/tickets/42".to_owned()),
            ("GET".to_owned(), "/api/v2/tickets/42".to_owned()),
            ("POST".to_owned(), "/api/v2/tickets/42/notes".to_owned()),
            ("POST".to_owned(), "/api/v2/tickets/42/reply".to_owned()),
        ]
    );
    assert_eq!(
        requests[0].json(),
        json!({"status": 2, "custom_fields": {"cf_cart_value": 9000}})
    );
    assert_eq!(requests[1].body.len(), 0);
    assert_eq!(
        requests[2].json(),
        json!({"body": "<p>hi</p>", "private": false, "incoming": true})
    );
    assert_eq!(requests[3].json(), json!({"body": "<p>ok</p>"}));
    assert!(
        requests
            .iter()
            .all(|r| r.header("authorization") == Some(expected_auth().as_str()))
    );
}

#[tokio::test]
async fn list_conversations_reads_every_page_in_ascending_order() {
    // Page 1 is full (100), page 2 is short (3) and slightly out of order.
    let first: Vec<_> = (1..=100)
        .map(|id| conversation_json(id, &format!("2025-07-10T10:{:02}:{:02}Z", id / 60, id % 60)))
        .collect();
    let second = vec![
        conversation_json(103, "2025-07-10T12:00:02Z"),
        conversation_json(101, "2025-07-10T12:00:00Z"),
        conversation_json(102, "2025-07-10T12:00:01Z"),
    ];
    let server = MockServer::start(vec![
        Canned::json(200, json!(first)).with_header("x-ratelimit-remaining", "10"),
        Canned::json(200, json!(second)).with_header("x-ratelimit-remaining", "9"),
    ])
    .await;
    let listed = client(&server).list_conversations(42).await.expect("listed");
    let ids: Vec<u64> = listed.value.iter().map(|c| c.id).collect();
    assert_eq!(ids, (1..=103).collect::<Vec<_>>());
    assert_eq!(listed.rate_limit.and_then(|r| r.remaining), Some(9));
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api/v2/tickets/42/conversations");
    assert_eq!(requests[0].query.as_deref(), Some("page=1&per_page=100"));
    assert_eq!(requests[1].query.as_deref(), Some("page=2&per_page=100"));
}

#[tokio::test]
async fn search_sends_the_quoted_percent_encoded_query() {
    let server = MockServer::start(vec![Canned::json(
        200,
        json!({"total": 1, "results": [ticket_json(42, 2)]}),
    )])
    .await;
    let query = SearchQuery::text("cf_freshchat_conversation_id", "abc-1")
        .expect("valid")
        .and(SearchQuery::integer("status", 2).expect("valid"));
    let page = client(&server).search_tickets(&query, 1).await.expect("found");
    assert_eq!(page.value.total, 1);
    assert_eq!(page.value.results[0].id, 42);
    let request = server.only_request();
    assert_eq!(request.path, "/api/v2/search/tickets");
    assert_eq!(
        request.query.as_deref(),
        Some("query=%22cf_freshchat_conversation_id%3A%27abc-1%27%20AND%20status%3A2%22&page=1")
    );
}

#[tokio::test]
async fn search_refuses_pages_outside_one_to_ten_without_sending() {
    let server = MockServer::start(vec![]).await;
    let query = SearchQuery::null("tag").expect("valid");
    for page in [0, 11] {
        let error = client(&server)
            .search_tickets(&query, page)
            .await
            .expect_err("bad page");
        assert!(matches!(error, ProviderError::InvalidRequest(_)));
        assert_eq!(error.kind(), ErrorKind::Permanent);
    }
    let too_long = SearchQuery::text("cf_x", &"a".repeat(600)).expect("valid");
    assert!(matches!(
        client(&server).search_tickets(&too_long, 1).await,
        Err(ProviderError::InvalidRequest(_))
    ));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn ticket_fields_expose_status_codes() {
    let server = MockServer::start(vec![Canned::json(
        200,
        json!([{"id": 1, "name": "status", "label": "Status", "type": "default_status",
                "choices": {"2": ["Open", "Being Processed"], "6": ["Waiting on Customer", "Awaiting your Reply"]}},
               {"id": 2, "name": "cf_cart_value", "label": "Cart value", "type": "custom_number"}]),
    )])
    .await;
    let fields = client(&server).list_ticket_fields().await.expect("fields");
    assert_eq!(fields.value.len(), 2);
    assert!(
        fields.value[0]
            .status_choices()
            .contains(&(TicketStatus::Custom(6), "Waiting on Customer".to_owned()))
    );
    assert_eq!(server.only_request().path, "/api/v2/ticket_fields");
}

#[tokio::test]
async fn validation_errors_carry_each_field() {
    let server = MockServer::start(vec![Canned::json(
        400,
        json!({"description": "Validation failed", "errors": [
            {"field": "cf_cart_value", "message": "The value provided is of type String.It should be of type Integer", "code": "datatype_mismatch"},
            {"field": "email", "message": "It should be a valid email address", "code": "invalid_value"}]}),
    )])
    .await;
    let ticket = NewTicket::new(Requester::Id(1), "s", "d");
    let error = client(&server).create_ticket(&ticket).await.expect_err("400");
    let ProviderError::Validation { errors, .. } = &error else {
        panic!("expected validation, got {error:?}");
    };
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].field, "cf_cart_value");
    assert_eq!(errors[0].code.as_deref(), Some("datatype_mismatch"));
    assert_eq!(error.kind(), ErrorKind::Permanent);
    assert!(!error.outcome_unknown());
}

#[tokio::test]
async fn alternate_error_shape_and_empty_404() {
    let server = MockServer::start(vec![
        Canned::json(
            401,
            json!({"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}),
        ),
        Canned::text(404, ""),
    ])
    .await;
    let desk = client(&server);
    let unauthorised = desk.get_ticket(1).await.expect_err("401");
    assert_eq!(unauthorised.provider_code(), Some("invalid_credentials"));
    assert_eq!(unauthorised.kind(), ErrorKind::Permanent);
    let missing = desk.get_ticket(2).await.expect_err("404");
    assert_eq!(missing.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(missing.provider_message(), None);
    assert!(!format!("{unauthorised:?} {unauthorised} {missing:?}").contains("fd-key"));
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after() {
    let server = MockServer::start(vec![
        Canned::text(429, "Too Many Requests").with_header("retry-after", "30"),
        Canned::text(429, "").with_header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
        Canned::text(429, ""),
    ])
    .await;
    let desk = client(&server);
    let first = desk.get_ticket(1).await.expect_err("429");
    assert_eq!(
        first.kind(),
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(30))
        }
    );
    // A date in the past means "retry now".
    let second = desk.get_ticket(1).await.expect_err("429");
    assert_eq!(
        second.kind(),
        ErrorKind::RateLimited {
            retry_after: Some(Duration::ZERO)
        }
    );
    let third = desk.get_ticket(1).await.expect_err("429");
    assert_eq!(third.kind(), ErrorKind::RateLimited { retry_after: None });
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let server = MockServer::start(vec![Canned::text(500, "oops"), Canned::text(408, "")]).await;
    let desk = client(&server);
    let error = desk.get_ticket(1).await.expect_err("500");
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert_eq!(error.provider_message(), Some("oops"));
    assert_eq!(desk.get_ticket(1).await.expect_err("408").kind(), ErrorKind::Retryable);
}

#[tokio::test]
async fn undecodable_success_bodies_are_decode_errors() {
    let server = MockServer::start(vec![Canned::text(200, "<html>maintenance</html>")]).await;
    let error = client(&server).get_ticket(1).await.expect_err("not JSON");
    assert!(matches!(error, ProviderError::Decode(_)));
    assert_eq!(error.kind(), ErrorKind::Permanent);
}
