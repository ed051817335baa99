//! The service's integration tests: one binary, real HTTP, SQLite by default and PostgreSQL when
//! `TEST_DATABASE_URL=postgres://…` is set. Tests share the database and isolate by tenant.
#![allow(clippy::unwrap_used)]

mod helpers;
mod world;

mod auth;
mod chat_sync;
mod health;
mod inbox;
mod jobs;
