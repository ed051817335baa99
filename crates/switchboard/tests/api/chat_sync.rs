//! Chat ↔ helpdesk sync end to end: Switchboard and the sandbox over real HTTP.

use domain::context::{CartItem, CartUpdate, ScreenView};
use domain::ids::UserId;
use domain::money::Money;
use sandbox::{CustomerProfile, FaultAction, FaultRule, Provider, ReleaseOrder, SandboxConfig};
use switchboard::clock;
use switchboard::db::incidences as repo;
use switchboard::inbox::{self, EventState, ReplayFilter};

use crate::world::{World, world, world_with};

/// A customer known to the app: live context (a wedding cart on the checkout) and a Freshchat
/// user with e-mail and name.
async fn known_customer(w: &World, user: &str) {
    let tenant = w.app.tenant.id;
    let uid = UserId::parse(user).unwrap();
    let settings = w.app.tenant.settings.context.clone();
    let cart = CartUpdate::new(
        Money::from_minor(3_249_950),
        vec![CartItem::new("P-1", "Royal platter", 130, Money::from_minor(25_000)).unwrap()],
    )
    .unwrap();
    let now = clock::now();
    let (uid2, settings2) = (uid.clone(), settings.clone());
    w.app
        .state
        .contexts
        .update(
            tenant,
            &uid,
            Box::new(move |old| {
                let c = domain::context::apply_screen(
                    old,
                    &uid2,
                    &ScreenView::new("CHECKOUT", false).unwrap(),
                    now,
                    &settings2,
                );
                let mut c = domain::context::apply_cart(Some(c), &uid2, &cart, now, &settings2);
                c.cart.guest_count = Some(130);
                c.cart.event_type = Some("WEDDING".into());
                c.friction_score = 65;
                c
            }),
        )
        .await
        .unwrap();
    let profile = CustomerProfile {
        first_name: Some("Asha".into()),
        last_name: Some("Rao".into()),
        email: Some(format!("{user}@example.com")),
        phone: None,
        properties: vec![],
    };
    w.sandbox.upsert_customer(user, profile).await.unwrap();
}

#[tokio::test]
async fn the_whole_conversation() {
    let w = world().await;
    known_customer(&w, "asha").await;

    // First message → a ticket at once, with every field.
    let chat = w
        .sandbox
        .customer_says("asha", "Hello, I need help with my wedding order")
        .await
        .unwrap();
    let conv = chat.conversation_id.clone();
    let ticket = w.until("the ticket", |w| w.ticket_for(&conv)).await;
    assert_eq!(ticket.source, 7, "source Chat");
    assert_eq!(ticket.status, 2, "open");
    assert_eq!(ticket.priority, 4, "a wedding with friction 65 ≥ 60 is urgent");
    let cf = &ticket.custom_fields;
    assert_eq!(
        cf["cf_cart_value"],
        serde_json::json!(32_499),
        "an integer, in whole rupees"
    );
    assert_eq!(cf["cf_friction_score"], serde_json::json!(65));
    assert_eq!(cf["cf_guest_count"], serde_json::json!(130));
    assert_eq!(cf["cf_order_stage"], serde_json::json!("PRE_ORDER"));
    assert_eq!(cf["cf_freshchat_conversation_id"], serde_json::json!(conv));
    assert!(
        ticket.tags.contains(&"chat".to_owned())
            && ticket.tags.contains(&"high_value".to_owned())
            && ticket.tags.contains(&"wedding".to_owned()),
        "{:?}",
        ticket.tags
    );
    let contact = w
        .sandbox
        .inspect()
        .contacts()
        .into_iter()
        .find(|c| c.id == ticket.requester_id)
        .unwrap();
    assert_eq!(contact.email.as_deref(), Some("asha@example.com"));
    assert!(ticket.description.contains("Hello, I need help with my wedding order"));

    // Agents see the customer's live context in Freshchat as soon as the chat starts.
    let properties = w
        .until("the live context on the Freshchat user", |w| {
            let user = w.sandbox.inspect().user_by_reference("asha")?;
            let props: std::collections::HashMap<String, String> = user
                .properties
                .iter()
                .map(|p| (p.name.clone(), p.value.clone()))
                .collect();
            props.contains_key("cart_value").then_some(props)
        })
        .await;
    assert_eq!(properties["cart_value"], "32499.5");
    assert_eq!(properties["current_screen"], "CHECKOUT");

    // More messages → notes, in the order written.
    w.sandbox.customer_says("asha", "It is for 130 guests").await.unwrap();
    w.sandbox
        .customer_says("asha", "Can you do it by Friday?")
        .await
        .unwrap();
    let notes = w
        .until("two notes", |w| Some(w.note_texts(ticket.id)).filter(|n| n.len() >= 2))
        .await;
    assert_eq!(notes, vec!["It is for 130 guests", "Can you do it by Friday?"]);

    // An agent replies in Freshdesk → the reply appears in the chat, once.
    w.sandbox
        .agent_replies(
            ticket.id,
            "<p>Yes, we can deliver by Friday.</p>",
            Some("priya@example.com"),
        )
        .await
        .unwrap();
    let replies = w
        .until("the reply in the chat", |w| {
            Some(w.agent_chat_texts(&conv)).filter(|r| !r.is_empty())
        })
        .await;
    assert_eq!(replies, vec!["Yes, we can deliver by Friday."]);

    // Resolved in Freshdesk with the order placed → incidence converted; the chat is resolved.
    let id = repo::by_conversation(
        &w.app.state.db,
        w.app.tenant.id,
        domain::incidence::Channel::InAppChat,
        &domain::ids::ConversationId::parse(&conv).unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .incidence
    .id;
    let res = w
        .app
        .http
        .put(format!("{}freshdesk/api/v2/tickets/{}", w.sandbox_base, ticket.id))
        .basic_auth(&w.sandbox.config().freshdesk_api_key, Some("X"))
        .json(
            &serde_json::json!({ "tags": ["chat", "high_value", "wedding", "order_placed", "menu_help"], "status": 4 }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    w.until("the incidence closed", |w| {
        let sandbox_conv = w.sandbox.inspect().conversation(&conv)?;
        (sandbox_conv.status == sandbox::freshchat::model::ConversationStatus::Resolved).then_some(())
    })
    .await;
    let body: serde_json::Value = w
        .app
        .get(&format!("api/v1/incidences/{id}"), Some(&w.app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"], "CONVERTED");
    assert_eq!(body["order_impact"], "PLACED");
    assert_eq!(body["issue_category"], "menu_help");
    let ttr = body["time_to_resolve_seconds"].as_i64().unwrap();
    assert!((0..120).contains(&ttr), "{ttr}");
    let kinds: Vec<&str> = body["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"TICKET_CREATED") && kinds.contains(&"RESOLVED"),
        "{kinds:?}"
    );
    assert_eq!(
        body["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "MESSAGE" && e["actor"] == "AGENT")
            .count(),
        1,
        "the reply and its echo are one entry"
    );

    // The customer reopens the chat → the incidence is in progress and the ticket open again.
    w.sandbox.reopen_conversation(&conv, false).await.unwrap();
    w.until("the ticket reopened", |w| {
        w.sandbox.inspect().ticket(ticket.id).filter(|t| t.status == 2)
    })
    .await;
    let body: serde_json::Value = w
        .app
        .get(&format!("api/v1/incidences/{id}"), Some(&w.app.secret_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["outcome"], "IN_PROGRESS");
    assert!(body["resolved_at"].is_null());

    // Every customer message is on the ticket exactly once, every reply in the chat exactly once.
    assert_eq!(w.note_texts(ticket.id).len(), 2);
    assert_eq!(w.agent_chat_texts(&conv).len(), 1);
}

#[tokio::test]
async fn the_open_ticket_follows_the_customers_live_context() {
    let w = world().await;
    known_customer(&w, "meera").await;
    let chat = w
        .sandbox
        .customer_says("meera", "Can I change the menu?")
        .await
        .unwrap();
    let conv = chat.conversation_id.clone();
    let ticket = w.until("the ticket", |w| w.ticket_for(&conv)).await;
    assert_eq!(ticket.custom_fields["cf_guest_count"], serde_json::json!(130));

    // The app reports a bigger party: the ticket's fields follow.
    let cart = serde_json::json!({
        "cart_value": 41000, "guest_count": 180, "event_type": "wedding",
        "items": [{"sku": "P-1", "name": "Royal platter", "qty": 180, "price": 227.78}]
    });
    let (status, answer) = crate::context::put_cart(&w.app, "meera", cart).await;
    assert_eq!(status, 200, "{answer}");
    let ticket = w
        .until("the new guest count on the ticket", |w| {
            w.ticket_for(&conv)
                .filter(|t| t.custom_fields["cf_guest_count"] == serde_json::json!(180))
        })
        .await;
    assert_eq!(ticket.custom_fields["cf_cart_value"], serde_json::json!(41_000));
}

#[tokio::test]
async fn an_unknown_customer_gets_a_ticket_by_external_id() {
    let w = world().await;
    let chat = w.sandbox.customer_says("walk-in-7", "hi").await.unwrap();
    let ticket = w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    assert_eq!(ticket.priority, 1, "no context: NONE → Low");
    assert_eq!(ticket.custom_fields["cf_cart_value"], serde_json::json!(0));
}

#[tokio::test]
async fn agent_messages_and_echoes_never_reach_the_ticket() {
    let w = world().await;
    let chat = w.sandbox.customer_says("u-echo", "first").await.unwrap();
    let ticket = w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    w.sandbox
        .agent_says(&chat.conversation_id, "typed in Freshchat", None)
        .await
        .unwrap();
    w.sandbox.customer_says("u-echo", "second").await.unwrap();
    let notes = w
        .until("the note", |w| Some(w.note_texts(ticket.id)).filter(|n| !n.is_empty()))
        .await;
    assert_eq!(notes, vec!["second"]);
}

#[tokio::test]
async fn duplicate_and_shuffled_deliveries_change_nothing() {
    let w = world().await;
    w.sandbox
        .faults()
        .add(FaultRule::new(Provider::Freshchat, FaultAction::DuplicateWebhook))
        .unwrap();
    w.sandbox
        .faults()
        .add(FaultRule::new(
            Provider::Freshchat,
            FaultAction::ReorderWebhooks {
                batch: 4,
                order: ReleaseOrder::Reverse,
            },
        ))
        .unwrap();
    let texts = ["one", "two", "three", "four"];
    let mut conv = String::new();
    for t in texts {
        conv = w.sandbox.customer_says("u-dup", t).await.unwrap().conversation_id;
    }
    let ticket = w.until("the ticket", |w| w.ticket_for(&conv)).await;
    let notes = w
        .until("three notes", |w| {
            Some(w.note_texts(ticket.id)).filter(|n| n.len() >= 3)
        })
        .await;
    // Each message exactly once: one as the description, the others as notes.
    let description = ticket.description.clone();
    let mut all: Vec<String> = notes.clone();
    all.extend(
        texts
            .iter()
            .filter(|t| description.contains(&format!("<p>{t}</p>")))
            .map(|t| t.to_string()),
    );
    all.sort();
    let mut expected: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    expected.sort();
    assert_eq!(all, expected);
    // The duplicates were acknowledged and stored once.
    let events = inbox::replayable(
        &w.app.state.db,
        &ReplayFilter {
            provider: inbox::Provider::Freshchat,
            since: clock::now() - chrono::Duration::hours(1),
            tenant: Some(w.app.tenant.id),
        },
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 4);
}

#[tokio::test]
async fn a_rate_limited_create_waits_exactly_the_retry_after() {
    let w = world().await;
    w.sandbox
        .faults()
        .add(
            FaultRule::new(
                Provider::Freshdesk,
                FaultAction::TooManyRequests {
                    retry_after_secs: Some(2),
                },
            )
            .method("POST")
            .path_prefix("/tickets")
            .times(1),
        )
        .unwrap();
    let chat = w.sandbox.customer_says("u-429", "hello").await.unwrap();
    w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    let log = w.sandbox.inspect().requests(Some(Provider::Freshdesk));
    let limited = log.iter().find(|r| r.status == 429).expect("a 429 was answered");
    let after: Vec<_> = log.iter().filter(|r| r.seq > limited.seq).collect();
    assert!(!after.is_empty());
    for r in after {
        let waited = r.received_at - limited.received_at;
        assert!(
            waited >= chrono::Duration::seconds(2),
            "{} {} came {waited:?} after the 429",
            r.method,
            r.path
        );
    }
}

#[tokio::test]
async fn a_retry_after_holds_this_process_at_once_and_every_other_through_the_database() {
    use switchboard::sync::gate::{Gates, Provider as GateProvider};
    let app = crate::helpers::spawn_app_without_worker().await;
    let (db, tenant, now) = (&app.state.db, app.tenant.id, clock::now());
    let (here, elsewhere) = (Gates::new(), Gates::new());
    let admit = async |g: &Gates, provider, at| g.admit(db, tenant, provider, 0, at).await.unwrap();
    assert_eq!(admit(&here, GateProvider::Freshdesk, now).await, Ok(()));

    here.hold(
        db,
        tenant,
        GateProvider::Freshdesk,
        now + chrono::Duration::seconds(2),
        "429",
    )
    .await
    .unwrap();
    let two = std::time::Duration::from_secs(2);
    assert_eq!(admit(&here, GateProvider::Freshdesk, now).await, Err(two));
    assert_eq!(admit(&elsewhere, GateProvider::Freshdesk, now).await, Err(two));
    // Another provider is not held; a shorter hold does not shorten the longer one.
    assert_eq!(admit(&here, GateProvider::Freshchat, now).await, Ok(()));
    elsewhere
        .hold(
            db,
            tenant,
            GateProvider::Freshdesk,
            now + chrono::Duration::seconds(1),
            "429",
        )
        .await
        .unwrap();
    assert_eq!(admit(&elsewhere, GateProvider::Freshdesk, now).await, Err(two));
    let later = now + chrono::Duration::seconds(2);
    assert_eq!(admit(&here, GateProvider::Freshdesk, later).await, Ok(()));
    assert_eq!(admit(&elsewhere, GateProvider::Freshdesk, later).await, Ok(()));
}

#[tokio::test]
async fn server_errors_are_retried_and_nothing_is_doubled() {
    let w = world().await;
    let faults = w.sandbox.faults();
    faults
        .add(
            FaultRule::new(Provider::Freshdesk, FaultAction::Status { status: 500 })
                .method("POST")
                .path_prefix("/tickets")
                .times(2),
        )
        .unwrap();
    let chat = w.sandbox.customer_says("u-500", "first").await.unwrap();
    let ticket = w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    faults
        .add(
            FaultRule::new(Provider::Freshchat, FaultAction::Status { status: 503 })
                .method("POST")
                .times(2),
        )
        .unwrap();
    w.sandbox.customer_says("u-500", "second").await.unwrap();
    w.sandbox.customer_says("u-500", "third").await.unwrap();
    let notes = w
        .until("two notes", |w| Some(w.note_texts(ticket.id)).filter(|n| n.len() >= 2))
        .await;
    assert_eq!(notes, vec!["second", "third"]);
    w.sandbox.agent_replies(ticket.id, "<p>On it</p>", None).await.unwrap();
    w.sandbox.agent_replies(ticket.id, "<p>Done</p>", None).await.unwrap();
    let replies = w
        .until("two replies", |w| {
            Some(w.agent_chat_texts(&chat.conversation_id)).filter(|r| r.len() >= 2)
        })
        .await;
    assert_eq!(replies, vec!["On it", "Done"]);
    let answered = |p, status| {
        w.sandbox
            .inspect()
            .requests(Some(p))
            .iter()
            .filter(|r| r.status == status)
            .count()
    };
    assert_eq!(answered(Provider::Freshdesk, 500), 2, "both injected 500s were met");
    assert_eq!(answered(Provider::Freshchat, 503), 2, "both injected 503s were met");
}

/// The first ticket create is made, but its answer comes after Switchboard's 1 s timeout.
fn lose_the_first_create_answer(w: &World) {
    let fault = FaultRule::new(
        Provider::Freshdesk,
        FaultAction::TimeoutAfterCommit { hold_millis: 2500 },
    );
    w.sandbox
        .faults()
        .add(fault.method("POST").path_prefix("/tickets").times(1))
        .unwrap();
}

const ONE_SECOND_TIMEOUT: &[(&str, &str)] = &[("SWITCHBOARD_PROVIDER_TIMEOUT_SECS", "1")];

#[tokio::test]
async fn a_create_that_timed_out_after_freshdesk_made_the_ticket_is_adopted() {
    let config = SandboxConfig {
        search_index_lag: std::time::Duration::from_millis(1500),
        ..SandboxConfig::default()
    };
    let w = world_with(config, ONE_SECOND_TIMEOUT).await;
    lose_the_first_create_answer(&w);
    let chat = w.sandbox.customer_says("u-timeout", "are you there?").await.unwrap();
    w.sandbox.customer_says("u-timeout", "hello?").await.unwrap();
    let ticket = w.until("the ticket", |w| w.ticket_for(&chat.conversation_id)).await;
    let notes = w
        .until("the note", |w| Some(w.note_texts(ticket.id)).filter(|n| !n.is_empty()))
        .await;
    assert_eq!(notes, vec!["hello?"]);
    assert_eq!(w.sandbox.inspect().tickets().len(), 1, "exactly one ticket");
    let log = w.sandbox.inspect().requests(Some(Provider::Freshdesk));
    assert_eq!(
        log.iter().filter(|r| r.endpoint == "POST /tickets").count(),
        1,
        "the create was never repeated"
    );
    assert!(
        log.iter().any(|r| r.endpoint == "GET /search/tickets"),
        "the unanswered create was searched for"
    );
    let stored = repo::by_ticket(&w.app.state.db, w.app.tenant.id, ticket.id as i64)
        .await
        .unwrap()
        .expect("the incidence adopted the ticket");
    assert_eq!(stored.sync.freshdesk_ticket_id, Some(ticket.id as i64));
}

#[tokio::test]
async fn an_agent_reply_before_the_lost_create_is_adopted_reaches_the_chat_once_it_is() {
    // Found by the fault test under load (tests/resilience): the relay ran while the ticket was
    // still unknown here, found nothing to read, and the reply was never relayed.
    let w = world_with(SandboxConfig::default(), ONE_SECOND_TIMEOUT).await;
    lose_the_first_create_answer(&w);
    let chat = w
        .sandbox
        .customer_says("u-early-reply", "is the menu vegan?")
        .await
        .unwrap();
    // The ticket exists in Freshdesk while Switchboard still waits for the create's answer.
    let ticket = w
        .until("the ticket in Freshdesk", |w| w.ticket_for(&chat.conversation_id))
        .await;
    w.sandbox
        .agent_replies(ticket.id, "<p>Yes, all of it.</p>", None)
        .await
        .unwrap();
    let relayed = w
        .until("the reply in the chat", |w| {
            Some(w.agent_chat_texts(&chat.conversation_id)).filter(|t| !t.is_empty())
        })
        .await;
    assert_eq!(relayed, vec!["Yes, all of it."]);

    // The reply's webhook was worked off before the ticket was adopted: the path under test.
    let db = &w.app.state.db;
    let stored = repo::by_ticket(db, w.app.tenant.id, ticket.id as i64)
        .await
        .unwrap()
        .unwrap();
    let timeline = repo::timeline(db, w.app.tenant.id, stored.incidence.id).await.unwrap();
    let adopted = timeline.iter().find(|e| e.kind == "TICKET_CREATED").unwrap().created_at;
    let filter = ReplayFilter {
        provider: inbox::Provider::Freshdesk,
        since: clock::now() - chrono::Duration::hours(1),
        tenant: Some(w.app.tenant.id),
    };
    let replies = inbox::replayable(db, &filter).await.unwrap();
    assert_eq!(replies.len(), 1, "one agent-reply webhook");
    let reply_event = inbox::get(db, w.app.tenant.id, replies[0].0).await.unwrap().unwrap();
    assert_eq!(reply_event.state, EventState::Processed);
    assert!(
        reply_event.processed_at.unwrap() < adopted,
        "the reply was processed after the adoption"
    );
    w.sandbox.settle().await;
    assert_eq!(w.agent_chat_texts(&chat.conversation_id).len(), 1, "relayed once");
}

#[tokio::test]
async fn webhooks_are_verified_before_anything_is_stored() {
    let w = world().await;
    let slug = w.app.tenant.slug.as_str().to_owned();
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/providers/payloads/freshchat_message_create_2.json"
    ))
    .unwrap();
    let url = w.app.url(&format!("webhooks/{slug}/freshchat"));
    let res = w
        .app
        .http
        .post(&url)
        .header("x-freshchat-signature", "bm90IGEgc2lnbmF0dXJl")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = w.app.http.post(&url).body(body).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let stored = inbox::replayable(
        &w.app.state.db,
        &ReplayFilter {
            provider: inbox::Provider::Freshchat,
            since: clock::now() - chrono::Duration::hours(1),
            tenant: Some(w.app.tenant.id),
        },
    )
    .await
    .unwrap();
    assert!(stored.is_empty(), "nothing stored");

    // Unknown tenant → 404; a body over the limit → 413.
    let res = w
        .app
        .http
        .post(w.app.url("webhooks/no-such-tenant/freshchat"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = w
        .app
        .http
        .post(&url)
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_recorded_signature_vector_is_accepted_and_its_forgery_refused() {
    let w = world().await;
    let payloads = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/providers/payloads/");
    let source = std::fs::read_to_string(format!("{payloads}freshchat_message_create_1.source.txt")).unwrap();
    let body = std::fs::read(format!("{payloads}freshchat_message_create_1.json")).unwrap();
    let line_after = |marker: &str| {
        source
            .lines()
            .skip_while(|l| !l.starts_with(marker))
            .nth(1)
            .unwrap()
            .trim()
            .to_owned()
    };
    let signature = line_after("Signature (X-Freshchat-Signature");
    let key = source
        .lines()
        .find(|l| l.starts_with("-----BEGIN RSA PUBLIC KEY-----"))
        .unwrap()
        .to_owned();
    let invalid = line_after("The test also has an `invalidSignature`");
    let creds = switchboard::credentials::FreshchatCredentials {
        api_url: url::Url::parse(&format!("{}freshchat/v2", w.sandbox_base)).unwrap(),
        app_id: None,
        api_token: secrecy::SecretString::from(w.sandbox.config().freshchat_token.clone()),
        webhook_public_key: Some(key),
        webhook_secret: None,
    };
    w.app.state.integrations.store(w.app.tenant.id, &creds).await.unwrap();
    let url = w.app.url(&format!("webhooks/{}/freshchat", w.app.tenant.slug));
    let res = w
        .app
        .http
        .post(&url)
        .header("X-FreshChat-Signature", invalid)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = w
        .app
        .http
        .post(&url)
        .header("X-FreshChat-Signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let receipt: serde_json::Value = res.json().await.unwrap();
    assert_eq!(receipt["status"], "accepted");
}

#[tokio::test]
async fn an_unreadable_freshdesk_body_is_stored_and_answered_400() {
    let w = world().await;
    let url = w.app.url(&format!(
        "webhooks/{}/freshdesk?token={}",
        w.app.tenant.slug, w.webhook_token
    ));
    let broken = r#"{"event":"agent_reply","ticket_id":"5","conversation_id":"c","comment":"<p>He said "hi"</p>","agent_email":"","triggered_event":"{note_type:public}"}"#;
    let res = w.app.http.post(&url).body(broken).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = res.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("JSON"), "{problem}");
    let events = inbox::replayable(
        &w.app.state.db,
        &ReplayFilter {
            provider: inbox::Provider::Freshdesk,
            since: clock::now() - chrono::Duration::hours(1),
            tenant: Some(w.app.tenant.id),
        },
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    let stored = inbox::get(&w.app.state.db, w.app.tenant.id, events[0].0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, EventState::Rejected);
    assert_eq!(stored.body, broken.as_bytes());

    // Without the token, or with a wrong one: 401.
    let res = w
        .app
        .http
        .post(
            w.app
                .url(&format!("webhooks/{}/freshdesk?token=nope", w.app.tenant.slug)),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = w.app.http.post(w.app.url(&format!("webhooks/{}/freshdesk", w.app.tenant.slug))).basic_auth("freshdesk", Some(&w.webhook_token)).body(r#"{"event":"status_changed","ticket_id":"999","conversation_id":"","status":"Open","tags":"","triggered_event":""}"#).send().await.unwrap();
    assert_eq!(res.status(), 200, "the token as the Basic-auth password works too");
}

#[tokio::test]
async fn a_burst_is_paced_to_the_tenant_budget_instead_of_failing() {
    let w = world().await;
    let mut settings = w
        .app
        .state
        .tenants
        .by_id(w.app.tenant.id)
        .await
        .unwrap()
        .unwrap()
        .settings
        .clone();
    settings.freshdesk.calls_per_minute = 60; // a burst of 6, then one a second
    w.app
        .state
        .tenants
        .update_settings(w.app.tenant.id, &settings, clock::now())
        .await
        .unwrap();
    let texts: Vec<String> = (1..=10).map(|i| format!("message {i}")).collect();
    let mut conv = String::new();
    for t in &texts {
        conv = w.sandbox.customer_says("u-burst", t).await.unwrap().conversation_id;
    }
    let ticket = w.until("the ticket", |w| w.ticket_for(&conv)).await;
    let notes = w
        .until("nine notes", |w| Some(w.note_texts(ticket.id)).filter(|n| n.len() >= 9))
        .await;
    assert_eq!(notes, texts[1..].to_vec());
    let log = w.sandbox.inspect().requests(Some(Provider::Freshdesk));
    assert!(log.iter().all(|r| r.status != 429), "paced below the provider's limit");
    let writes: Vec<_> = log.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(writes.len(), 10);
    let spread = writes[9].received_at - writes[0].received_at;
    assert!(
        spread >= chrono::Duration::seconds(3),
        "ten calls against a 6-call burst at 1/s take at least 3 s: {spread:?}"
    );
}

#[tokio::test]
async fn an_hmac_signed_event_it_cannot_understand_is_stored_with_the_reason() {
    let w = world().await;
    let secret = "relay-shared-secret";
    let creds = switchboard::credentials::FreshchatCredentials {
        api_url: url::Url::parse(&format!("{}freshchat/v2", w.sandbox_base)).unwrap(),
        app_id: None,
        api_token: secrecy::SecretString::from(w.sandbox.config().freshchat_token.clone()),
        webhook_public_key: None,
        webhook_secret: Some(secrecy::SecretString::from(secret.to_owned())),
    };
    w.app.state.integrations.store(w.app.tenant.id, &creds).await.unwrap();
    let body = br#"{"actor":{"actor_type":"user","actor_id":"u1"},"action":"user_create","action_time":"2026-11-22T10:00:00.000Z","data":{"user":{"id":"u1"}}}"#;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let signature = hex::encode(aws_lc_rs::hmac::sign(&key, body).as_ref());
    let url = w.app.url(&format!("webhooks/{}/freshchat", w.app.tenant.slug));
    let res = w
        .app
        .http
        .post(&url)
        .header("x-freshchat-signature", &signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "authentic: acknowledged, so Freshchat does not retry it forever"
    );
    let receipt: serde_json::Value = res.json().await.unwrap();
    let id: uuid::Uuid = receipt["event_id"].as_str().unwrap().parse().unwrap();
    let stored = inbox::get(&w.app.state.db, w.app.tenant.id, id).await.unwrap().unwrap();
    assert_eq!(stored.state, EventState::Failed);
    assert!(
        stored.error.as_deref().unwrap().contains("user_create"),
        "{:?}",
        stored.error
    );
    // A wrong HMAC is refused.
    let res = w
        .app
        .http
        .post(&url)
        .header("x-freshchat-signature", "00".repeat(32))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_ticket_freshdesk_refuses_is_reported_on_the_timeline_with_the_field() {
    // This helpdesk lacks the order-stage field: Freshdesk answers 400 invalid_field.
    let mut config = SandboxConfig::default();
    config.ticket_fields.retain(|f| f.name != "cf_order_stage");
    let w = world_with(config, &[]).await;
    let chat = w.sandbox.customer_says("u-refused", "hello").await.unwrap();
    let conversation = domain::ids::ConversationId::parse(&chat.conversation_id).unwrap();
    let db = w.app.state.db.clone();
    let found = crate::helpers::eventually(std::time::Duration::from_secs(30), async || {
        let stored = repo::by_conversation(
            &db,
            w.app.tenant.id,
            domain::incidence::Channel::InAppChat,
            &conversation,
        )
        .await
        .unwrap()?;
        let timeline = repo::timeline(&db, w.app.tenant.id, stored.incidence.id).await.unwrap();
        timeline.into_iter().find(|e| e.kind == "ERROR")
    })
    .await;
    let text = found.content.unwrap();
    assert!(text.contains("cf_order_stage"), "{text}");
    let dead = crate::helpers::eventually(std::time::Duration::from_secs(10), async || {
        let jobs = switchboard::jobs::queue::list(
            &w.app.state.db,
            switchboard::jobs::queue::Owner::Tenant(w.app.tenant.id),
            &switchboard::jobs::queue::ListFilter {
                state: Some(switchboard::jobs::JobState::Dead),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        jobs.into_iter().find(|j| j.kind == "ticket.sync")
    })
    .await;
    assert!(dead.last_error.unwrap().contains("cf_order_stage"));
    assert!(w.sandbox.inspect().tickets().is_empty());
}
