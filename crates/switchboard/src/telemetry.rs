//! Logs: JSON lines by default (one event per line, with the request id and tenant in spans),
//! or human-readable with `SWITCHBOARD_LOG_FORMAT=pretty`. `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,h2=warn,reqwest=warn,tower_http=info"))
}

pub fn init(format: LogFormat) {
    let filter = filter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second call (tests spawning several apps) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_span_events(FmtSpan::NONE)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// For tests: human-readable, through the test harness's capture, so a test's logs show only
/// when it fails (or with `--nocapture`).
pub fn init_for_tests() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_test_writer()
        .compact()
        .try_init();
}
