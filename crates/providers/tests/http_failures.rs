//! Transport failures: timeouts, refused connections and connections that drop after the
//! request was sent. Writes whose outcome is unknown must say so.

mod support;

use std::time::Duration;

use providers::Secret;
use providers::freshdesk::{FreshdeskClient, NewNote};
use providers::http::{ErrorKind, ProviderError};
use serde_json::json;
use support::{Canned, MockServer, test_http};
use tokio::io::AsyncReadExt;
use url::Url;

fn client(base: Url) -> FreshdeskClient {
    FreshdeskClient::new(test_http(), base, Secret::new("fd-key"))
}

/// Longer than the test client's 500 ms timeout; the client gives up first.
const SLOW: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_write_that_times_out_has_an_unknown_outcome() {
    let server = MockServer::start(vec![Canned::json(201, json!({"id": 1})).delayed(SLOW)]).await;
    let error = client(server.url("/api/v2"))
        .add_note(42, &NewNote::public_incoming("hi"))
        .await
        .expect_err("times out");
    assert_eq!(error, ProviderError::Timeout { outcome_unknown: true });
    assert!(error.outcome_unknown());
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert_eq!(server.requests().len(), 1, "sent once, never retried internally");
}

#[tokio::test]
async fn a_read_that_times_out_is_simply_retryable() {
    let server = MockServer::start(vec![Canned::json(200, json!({})).delayed(SLOW)]).await;
    let error = client(server.url("/api/v2"))
        .get_ticket(42)
        .await
        .expect_err("times out");
    assert_eq!(error, ProviderError::Timeout { outcome_unknown: false });
    assert_eq!(error.kind(), ErrorKind::Retryable);
}

#[tokio::test]
async fn a_refused_connection_sent_nothing() {
    // Bind then drop a listener: its port is (almost certainly) closed now.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let base = Url::parse(&format!("http://{address}/api/v2")).expect("url");
    let error = client(base)
        .add_note(42, &NewNote::public_incoming("hi"))
        .await
        .expect_err("refused");
    assert!(matches!(error, ProviderError::Connect(_)), "{error:?}");
    assert!(!error.outcome_unknown());
    assert_eq!(error.kind(), ErrorKind::Retryable);
}

#[tokio::test]
async fn a_connection_dropped_after_a_write_has_an_unknown_outcome() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        // Read the request, then hang up without answering.
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0_u8; 4096];
            let _ = socket.read(&mut buffer).await;
            drop(socket);
        }
    });
    let base = Url::parse(&format!("http://{address}/api/v2")).expect("url");
    let error = client(base)
        .add_note(42, &NewNote::public_incoming("hi"))
        .await
        .expect_err("dropped");
    assert!(
        matches!(
            error,
            ProviderError::Transport {
                outcome_unknown: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.outcome_unknown());
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert!(
        !error.to_string().contains(&address.to_string()),
        "no URL in errors: {error}"
    );
}
