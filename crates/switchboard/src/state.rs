//! What every request handler and job handler shares.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::api_keys::KeyCache;
use crate::config::Config;
use crate::context_store::ContextStore;
use crate::crypto::MasterKey;
use crate::customers::CustomerDirectory;
use crate::db::Db;
use crate::db::shared::SharedStatements;
use crate::inbox::ingest::Ingest;
use crate::incidences::Recorder;
use crate::integrations::Integrations;
use crate::sync::gate::Gates;
use crate::tenants::TenantDirectory;

#[derive(Clone)]
pub struct AppState(Arc<Services>);

pub struct Services {
    pub config: Config,
    pub db: Db,
    pub tenants: TenantDirectory,
    pub keys: KeyCache,
    pub master_key: Arc<MasterKey>,
    /// Provider clients per tenant.
    pub integrations: Integrations,
    /// One HTTP client for every provider call (connection pooling, TLS sessions).
    pub http: reqwest::Client,
    /// Webhook acceptance, group-committed.
    pub ingest: Ingest,
    /// Freshchat users, cached.
    pub customers: CustomerDirectory,
    /// The hot path's point statements, shared by concurrent jobs.
    pub shared: SharedStatements,
    /// Incidence records, group-committed.
    pub recorder: Recorder,
    /// Provider pacing and Retry-After holds.
    pub gates: Arc<Gates>,
    /// Live customer context.
    pub contexts: Arc<dyn ContextStore>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}
