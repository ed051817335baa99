//! Switchboard: the service. See the README for what it does and ARCHITECTURE.md for its shape.

pub mod auth;
pub mod batch;
pub mod callbacks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context_store;
pub mod credentials;
pub mod crypto;
pub mod db;
pub mod embedded_sandbox;
pub mod error;
pub mod friction_signals;
pub mod http;
pub mod inbox;
pub mod incidences;
pub mod integrations;
pub mod jobs;
pub mod orders;
pub mod process;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod tenants;
pub mod ttl_cache;
