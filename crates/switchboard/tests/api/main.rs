//! The service's integration tests: one binary, real HTTP, SQLite by default and PostgreSQL when
//! `TEST_DATABASE_URL=postgres://…` is set. Tests share the database and isolate by tenant.
#![allow(clippy::unwrap_used)]

mod helpers;
mod world;

mod auth;
mod calls;
mod channel;
mod chat_sync;
mod context;
mod context_store;
mod embedded_sandbox;
mod health;
mod inbox;
mod incidences_api;
mod isolation;
mod jobs;
mod orders;
mod recording;
mod sync_bookkeeping;
