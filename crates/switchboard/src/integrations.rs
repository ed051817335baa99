//! A tenant's provider connections, built from its sealed credentials: API clients and webhook
//! verifiers, cached briefly so that a webhook does not cost a decryption and a key parse.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantId;
use providers::Secret;
use providers::freshchat::{FreshchatClient, FreshchatPublicKey, WebhookVerifier};
use providers::freshdesk::FreshdeskClient;
use secrecy::ExposeSecret;

use crate::credentials::{self, CredentialKind, CredentialsError, FreshchatCredentials, FreshdeskCredentials};
use crate::crypto::MasterKey;
use crate::db::Db;
use crate::ttl_cache::TtlCache;

/// Freshchat for one tenant.
pub struct Freshchat {
    pub client: FreshchatClient,
    /// `None` when neither a public key nor a secret is configured: webhooks are refused.
    pub verifier: Option<WebhookVerifier>,
    pub credentials: FreshchatCredentials,
}

/// Freshdesk for one tenant.
pub struct Freshdesk {
    pub client: FreshdeskClient,
    /// What the automation rule must present; `None` refuses its webhooks.
    pub webhook_token: Option<Secret>,
    pub credentials: FreshdeskCredentials,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("the stored Freshchat webhook public key is not usable: {0}")]
    BadPublicKey(String),
}

#[derive(Clone)]
pub struct Integrations {
    db: Db,
    master_key: Arc<MasterKey>,
    http: reqwest::Client,
    freshchat: TtlCache<TenantId, Option<Arc<Freshchat>>>,
    freshdesk: TtlCache<TenantId, Option<Arc<Freshdesk>>>,
}

impl Integrations {
    /// Credentials changed in another process take effect within this.
    pub const TTL: Duration = Duration::from_secs(30);

    pub fn new(db: Db, master_key: Arc<MasterKey>, http: reqwest::Client) -> Self {
        Self {
            db,
            master_key,
            http,
            freshchat: TtlCache::new(Self::TTL, 10_000),
            freshdesk: TtlCache::new(Self::TTL, 10_000),
        }
    }

    pub async fn freshchat(&self, tenant: TenantId) -> Result<Option<Arc<Freshchat>>, IntegrationError> {
        if let Some(hit) = self.freshchat.get(&tenant) {
            return Ok(hit);
        }
        let built = match credentials::load::<FreshchatCredentials>(&self.db, &self.master_key, tenant).await? {
            None => None,
            Some(c) => {
                let verifier = match (&c.webhook_public_key, &c.webhook_secret) {
                    (Some(pem), _) => Some(WebhookVerifier::Rsa(
                        FreshchatPublicKey::parse(pem).map_err(|e| IntegrationError::BadPublicKey(e.to_string()))?,
                    )),
                    (None, Some(secret)) => Some(WebhookVerifier::Hmac(Secret::new(secret.expose_secret().to_owned()))),
                    (None, None) => None,
                };
                let token = Secret::new(c.api_token.expose_secret().to_owned());
                let client = FreshchatClient::new(self.http.clone(), c.api_url.clone(), token);
                Some(Arc::new(Freshchat {
                    client,
                    verifier,
                    credentials: c,
                }))
            }
        };
        self.freshchat.insert(tenant, built.clone());
        Ok(built)
    }

    pub async fn freshdesk(&self, tenant: TenantId) -> Result<Option<Arc<Freshdesk>>, IntegrationError> {
        if let Some(hit) = self.freshdesk.get(&tenant) {
            return Ok(hit);
        }
        let built = credentials::load::<FreshdeskCredentials>(&self.db, &self.master_key, tenant)
            .await?
            .map(|c| {
                let key = Secret::new(c.api_key.expose_secret().to_owned());
                let client = FreshdeskClient::new(self.http.clone(), c.base_url.clone(), key);
                let webhook_token = c
                    .webhook_token
                    .as_ref()
                    .map(|t| Secret::new(t.expose_secret().to_owned()));
                Arc::new(Freshdesk {
                    client,
                    webhook_token,
                    credentials: c,
                })
            });
        self.freshdesk.insert(tenant, built.clone());
        Ok(built)
    }

    /// Stores credentials and makes this process use them at once.
    pub async fn store<C: CredentialKind>(&self, tenant: TenantId, creds: &C) -> Result<(), CredentialsError> {
        credentials::store(&self.db, &self.master_key, tenant, creds, crate::clock::now()).await?;
        self.forget(tenant);
        Ok(())
    }

    pub fn forget(&self, tenant: TenantId) {
        self.freshchat.remove(&tenant);
        self.freshdesk.remove(&tenant);
    }
}
