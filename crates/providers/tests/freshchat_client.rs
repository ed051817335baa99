//! FreshchatClient against a recording server: exact request shapes and answer decoding.

mod support;

use providers::Secret;
use providers::freshchat::{ActorType, ConversationStatus, FreshchatClient, MessageType, OutgoingMessage};
use providers::http::{ErrorKind, ProviderError};
use serde_json::json;
use support::{Canned, MockServer, test_http};

fn client(server: &MockServer, base_path: &str) -> FreshchatClient {
    FreshchatClient::new(test_http(), server.url(base_path), Secret::new("fc-token"))
}

fn message_json(id: &str) -> serde_json::Value {
    json!({"id": id, "conversation_id": "c-1", "actor_type": "agent", "actor_id": "a-1",
           "message_type": "normal", "message_parts": [{"text": {"content": "Hi"}}],
           "created_time": "2025-07-10T19:47:55.442Z"})
}

#[tokio::test]
async fn get_user_sends_bearer_auth_and_decodes_properties() {
    let server = MockServer::start(vec![Canned::json(
        200,
        json!({"id": "u-1", "email": "asha@example.com", "phone": "9876543210",
               "first_name": "Asha", "last_name": null, "reference_id": "cust-42",
               "properties": [{"name": "cart_value", "value": "4500"}]}),
    )])
    .await;
    let user = client(&server, "/v2").get_user("u-1").await.expect("user");
    assert_eq!(user.email.as_deref(), Some("asha@example.com"));
    assert_eq!(user.property("cart_value"), Some("4500"));
    assert_eq!(user.reference_id.as_deref(), Some("cust-42"));

    let request = server.only_request();
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/v2/users/u-1");
    assert_eq!(request.header("authorization"), Some("Bearer fc-token"));
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
    );
}

#[tokio::test]
async fn base_url_with_prefix_and_trailing_slash_and_odd_ids() {
    let server = MockServer::start(vec![Canned::json(200, json!({"id": "a/b c"}))]).await;
    client(&server, "/sandbox/freshchat/v2/")
        .get_user("a/b c")
        .await
        .expect("user");
    assert_eq!(server.only_request().path, "/sandbox/freshchat/v2/users/a%2Fb%20c");
}

#[tokio::test]
async fn update_user_properties_puts_name_value_strings_and_ignores_the_answer() {
    let server = MockServer::start(vec![Canned::text(200, "")]).await;
    let properties = vec![
        ("cart_value".to_owned(), "4500".to_owned()),
        ("friction_score".to_owned(), "65".to_owned()),
    ];
    client(&server, "/v2")
        .update_user_properties("u-1", &properties)
        .await
        .expect("updated");
    let request = server.only_request();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/v2/users/u-1");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.json(),
        json!({"properties": [{"name": "cart_value", "value": "4500"},
                              {"name": "friction_score", "value": "65"}]})
    );
}

#[tokio::test]
async fn find_user_by_reference_queries_and_matches_exactly() {
    let server = MockServer::start(vec![
        Canned::json(
            200,
            json!({"users": [{"id": "u-0", "reference_id": "cust 7/x-other"},
                             {"id": "u-1", "reference_id": "cust 7/x", "email": "a@b.c"}],
                   "pagination": {"total_items": 2, "total_pages": 1, "current_page": 1, "items_per_page": 20}}),
        ),
        Canned::json(200, json!({"users": [], "pagination": {"total_items": 0}})),
        Canned::json(
            404,
            json!({"code": 404, "status": "USER_NOT_FOUND", "message": "no user"}),
        ),
        Canned::text(429, "").with_header("retry-after", "3"),
    ])
    .await;
    let chat = client(&server, "/v2");
    let user = chat
        .find_user_by_reference("cust 7/x")
        .await
        .expect("found")
        .expect("a user");
    assert_eq!(user.id, "u-1");
    assert_eq!(user.email.as_deref(), Some("a@b.c"));
    assert_eq!(chat.find_user_by_reference("nobody").await.expect("answer"), None);
    assert_eq!(chat.find_user_by_reference("nobody").await.expect("404 is none"), None);
    let limited = chat.find_user_by_reference("x").await.expect_err("429");
    assert_eq!(
        limited.kind(),
        ErrorKind::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(3))
        }
    );

    let requests = server.requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/v2/users");
    assert_eq!(requests[0].query.as_deref(), Some("reference_id=cust+7%2Fx"));
    assert_eq!(requests[0].header("authorization"), Some("Bearer fc-token"));
    assert!(matches!(
        chat.find_user_by_reference("").await,
        Err(ProviderError::InvalidRequest(_))
    ));
    assert_eq!(
        server.requests().len(),
        4,
        "an empty reference is refused before sending"
    );
}

#[tokio::test]
async fn send_message_posts_the_documented_body_and_returns_the_message() {
    let server = MockServer::start(vec![Canned::json(201, message_json("m-9"))]).await;
    let sent = client(&server, "/v2")
        .send_message("c-1", &OutgoingMessage::agent_text("a-1", "Your order ships today"))
        .await
        .expect("sent");
    assert_eq!(sent.id, "m-9");
    assert_eq!(sent.actor_type, ActorType::Agent);
    let request = server.only_request();
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v2/conversations/c-1/messages")
    );
    assert_eq!(
        request.json(),
        json!({"message_parts": [{"text": {"content": "Your order ships today"}}],
               "message_type": "normal", "actor_type": "agent", "actor_id": "a-1"})
    );
}

#[tokio::test]
async fn list_messages_passes_paging_and_decodes_the_page() {
    let server = MockServer::start(vec![Canned::json(
        200,
        json!({"messages": [message_json("m-2"), message_json("m-1")],
               "pagination": {"total_items": 2, "total_pages": 1, "current_page": 2, "items_per_page": 50}}),
    )])
    .await;
    let page = client(&server, "/v2").list_messages("c-1", 2, 50).await.expect("page");
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.messages[0].message_type, MessageType::Normal);
    assert_eq!(page.pagination.and_then(|p| p.total_items), Some(2));
    let request = server.only_request();
    assert_eq!(request.path, "/v2/conversations/c-1/messages");
    assert_eq!(request.query.as_deref(), Some("page=2&items_per_page=50"));
}

#[tokio::test]
async fn update_conversation_status_puts_the_status() {
    let server = MockServer::start(vec![
        Canned::json(200, json!({"conversation_id": "c-1", "status": "resolved"})),
        Canned::text(202, ""),
    ])
    .await;
    let chat = client(&server, "/v2");
    chat.update_conversation_status("c-1", &ConversationStatus::Resolved)
        .await
        .expect("resolved");
    chat.update_conversation_status("c-1", &ConversationStatus::New)
        .await
        .expect("reopened");
    let requests = server.requests();
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].path, "/v2/conversations/c-1");
    assert_eq!(requests[0].json(), json!({"status": "resolved"}));
    assert_eq!(requests[1].json(), json!({"status": "new"}));
}

#[tokio::test]
async fn get_conversation_decodes_the_recorded_object() {
    let recorded = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/providers/payloads/freshchat_api_conversation_object_1.json"
    ));
    let server = MockServer::start(vec![Canned::text(200, recorded)]).await;
    let conversation = client(&server, "/v2")
        .get_conversation("7e673110-64fc-461f-bcec-cc8e9a47a568")
        .await
        .expect("conversation");
    assert_eq!(conversation.status, Some(ConversationStatus::New));
    assert_eq!(
        conversation.conversation_internal_id.as_deref(),
        Some("1019183591791880")
    );
    assert_eq!(conversation.properties.get("priority").map(String::as_str), Some("Low"));
}

#[tokio::test]
async fn get_conversation_without_id_is_a_decode_error() {
    let server = MockServer::start(vec![Canned::json(200, json!({"status": "new"}))]).await;
    let error = client(&server, "/v2").get_conversation("c-1").await.expect_err("no id");
    assert!(matches!(error, ProviderError::Decode(_)), "{error:?}");
}

#[tokio::test]
async fn list_agents_follows_pages() {
    let agent = |id: &str| json!({"id": id, "email": format!("{id}@acme.test"), "groups": ["g1", 7]});
    let server = MockServer::start(vec![
        Canned::json(
            200,
            json!({"agents": [agent("a1"), agent("a2")],
                                 "pagination": {"total_pages": 2, "current_page": 1}}),
        ),
        Canned::json(
            200,
            json!({"agents": [agent("a3")],
                                 "pagination": {"total_pages": 2, "current_page": 2}}),
        ),
    ])
    .await;
    let agents = client(&server, "/v2").list_agents().await.expect("agents");
    let ids: Vec<_> = agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2", "a3"]);
    assert_eq!(agents[0].groups, ["g1", "7"]);
    let queries: Vec<_> = server.requests().into_iter().map(|r| r.query).collect();
    assert_eq!(
        queries,
        [
            Some("page=1&items_per_page=100".to_owned()),
            Some("page=2&items_per_page=100".to_owned())
        ]
    );
}

#[tokio::test]
async fn list_agents_without_pagination_stops_on_a_short_page() {
    let server = MockServer::start(vec![Canned::json(200, json!({"agents": [{"id": "a1"}]}))]).await;
    let agents = client(&server, "/v2").list_agents().await.expect("agents");
    assert_eq!(agents.len(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn account_configuration_checks_the_token() {
    let server = MockServer::start(vec![Canned::json(
        200,
        json!({"organisation_id": 12345, "app_id": "app-1", "account_id": "acc",
               "datacenter": "IN", "account_domain": "acme.freshchat.com"}),
    )])
    .await;
    let configuration = client(&server, "/v2")
        .account_configuration()
        .await
        .expect("configuration");
    assert_eq!(configuration.organisation_id.as_deref(), Some("12345"));
    assert_eq!(configuration.datacenter.as_deref(), Some("IN"));
    assert_eq!(server.only_request().path, "/v2/accounts/configuration");
}

#[tokio::test]
async fn freshchat_error_bodies_are_parsed() {
    let server = MockServer::start(vec![
        Canned::json(
            404,
            json!({"code": 404, "status": "USER_NOT_FOUND", "message": "user not found"}),
        ),
        Canned::json(
            400,
            json!({"code": 400, "status": "INVALID_VALUE", "message": "TextFragment cannot be cast"}),
        ),
        Canned::text(503, "<html>down</html>").with_header("retry-after", "12"),
    ])
    .await;
    let chat = client(&server, "/v2");
    let missing = chat.get_user("nobody").await.expect_err("404");
    assert_eq!(missing.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(missing.provider_code(), Some("USER_NOT_FOUND"));
    assert_eq!(missing.provider_message(), Some("user not found"));
    assert_eq!(missing.kind(), ErrorKind::Permanent);

    let invalid = chat
        .send_message("c-1", &OutgoingMessage::bot_text("x"))
        .await
        .expect_err("400");
    assert_eq!(invalid.provider_code(), Some("INVALID_VALUE"));
    assert_eq!(invalid.kind(), ErrorKind::Permanent);

    let down = chat.list_agents().await.expect_err("503");
    assert_eq!(down.kind(), ErrorKind::Retryable);
    assert_eq!(down.retry_after(), Some(std::time::Duration::from_secs(12)));
    assert!(!format!("{down:?}{down}").contains("fc-token"));
}

#[tokio::test]
async fn empty_ids_are_refused_before_sending() {
    let server = MockServer::start(vec![]).await;
    let error = client(&server, "/v2").get_user("").await.expect_err("empty id");
    assert!(matches!(error, ProviderError::InvalidRequest(_)));
    assert!(server.requests().is_empty());
}
