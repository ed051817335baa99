//! The load tool for Switchboard (SPEC §15): drives a RUNNING server over HTTP with signed
//! Freshchat `message_create` webhooks and Freshdesk agent-reply automation webhooks, against
//! a sandbox it hosts in its own process, and measures acceptance latency, end-to-end effect
//! latency and the server's memory — then verifies that every accepted event had exactly one
//! effect.
//!
//! # How a run goes ([`run::run`])
//! 1. [`host::SandboxHost`] serves [`sandbox::Sandbox`] on 127.0.0.1 under `/sandbox`, with no
//!    rate limit to speak of, no search lag and its own webhook deliveries off.
//! 2. [`host::connect_tenant`] points the secret key's tenant at it through Switchboard's API.
//! 3. [`prepare::prepare`] records the customer messages in the sandbox and builds and signs
//!    their webhooks before the timed phase (on every core).
//! 4. [`driver::Driver`] sends them, and agent replies on tickets that exist, open loop at a
//!    rate or flat out, following [`scenario::Scenario`]; every send is kept in a
//!    [`record::Record`].
//! 5. [`effects::drain`] waits until each accepted event's effect shows in the sandbox;
//!    [`verify::verify`] checks exactly-once; [`report::Report`] has the numbers, with the
//!    server's memory ([`rss`]) and where the CPU went during the measured phase ([`cpu`]).
//!
//! [`baseline::run`] runs the ingest path's inserts straight against the database, for the
//! ratio of what the server achieves to what its database can.
//!
//! # Command line
//! ```text
//! loadgen run --target http://127.0.0.1:8000/ [--also-target http://127.0.0.1:8001/] \
//!     --key sk_… --rate 500 --duration 30s \
//!     [--warmup 3s] [--drain 60s] [--pid <server pid>] [--db-label sqlite] [--json out.json] \
//!     [--sign rsa|hmac] [--reply-share 0.2] [--followups 3] [--think 1s] [--record events.json] \
//!     [--baseline-json baseline.json]
//! loadgen run … --rate max --concurrency 64
//! loadgen baseline --database-url postgres://… [--duration 10s] [--concurrency 32] [--json b.json]
//! ```
//! The exit code is 2 when verification found a missing, duplicated or misrouted effect.
//! `bench/run.sh` runs the whole benchmark on SQLite and PostgreSQL.

pub mod baseline;
pub mod cli;
pub mod cpu;
pub mod driver;
pub mod effects;
pub mod error;
pub mod fleet;
pub mod host;
pub mod prepare;
pub mod record;
pub mod report;
pub mod rss;
pub mod run;
pub mod sampler;
pub mod scenario;
pub mod verify;

pub use driver::{DriveOptions, Driver, Rate};
pub use error::LoadError;
pub use host::{Connection, SandboxHost, Target, WebhookUrls};
pub use record::{Answer, EventKind, Phase, Record, SentEvent};
pub use report::Report;
pub use run::{RunOptions, RunOutcome, Sent, Session};
pub use scenario::Mix;
pub use verify::{VerifyReport, Violation};
