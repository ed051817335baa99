use reqwest::{Method, StatusCode};
use sandbox::{Provider, SandboxConfig};

use crate::helpers::{TestResult, fast_config, spawn};

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

#[tokio::test]
async fn headers_on_every_response_then_429_with_retry_after() -> TestResult {
    let app = spawn(SandboxConfig {
        freshdesk_rate_limit_per_minute: 5,
        ..fast_config()
    })
    .await?;
    let ok = app.desk(Method::GET, "/tickets").send().await?;
    assert_eq!(header(&ok, "x-ratelimit-total").as_deref(), Some("5"));
    assert_eq!(header(&ok, "x-ratelimit-remaining").as_deref(), Some("4"));
    assert_eq!(header(&ok, "x-ratelimit-used-currentrequest").as_deref(), Some("1"));
    assert!(header(&ok, "x-request-id").is_some());
    let missing = app.desk(Method::GET, "/tickets/42").send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, "x-ratelimit-remaining").as_deref(), Some("3"));
    let unauthorized = app.client.get(app.url("/freshdesk/api/v2/tickets")).send().await?;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&unauthorized, "x-ratelimit-remaining").as_deref(), Some("2"));
    let include = app.desk(Method::GET, "/tickets/1?include=conversations").send().await?;
    assert_eq!(
        header(&include, "x-ratelimit-used-currentrequest").as_deref(),
        Some("2"),
        "an include costs an extra credit"
    );
    assert_eq!(header(&include, "x-ratelimit-remaining").as_deref(), Some("0"));

    let limited = app.desk(Method::GET, "/tickets").send().await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = header(&limited, "retry-after").ok_or("no Retry-After")?.parse()?;
    assert!((1..=60).contains(&retry_after));
    assert_eq!(header(&limited, "x-ratelimit-remaining").as_deref(), Some("0"));

    let log = app.sandbox.inspect().requests(Some(Provider::Freshdesk));
    let last = log.last().ok_or("empty log")?;
    assert_eq!((last.status, last.retry_after_secs), (429, Some(retry_after)));
    assert_eq!(app.sandbox.inspect().count(Provider::Freshdesk, "GET /tickets"), 3);
    assert_eq!(app.sandbox.inspect().count(Provider::Freshdesk, "GET /tickets/{id}"), 2);

    app.sandbox.reset_freshdesk_rate_limit(None);
    assert_eq!(app.desk(Method::GET, "/tickets").send().await?.status(), StatusCode::OK);
    Ok(())
}
