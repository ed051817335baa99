//! Freshchat users as Switchboard knows them, behind a short cache: a chat looks its customer up
//! on every message until its incidence knows who and where they are, and the local copy only
//! changes when the user is fetched from Freshchat again.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantId;

use crate::db::customers::{self, Customer};
use crate::db::{Db, DbResult};
use crate::ttl_cache::TtlCache;

#[derive(Debug, Clone)]
pub struct CustomerDirectory {
    db: Db,
    /// Only customers found: one not stored yet is fetched and stored by whoever meets it next,
    /// here or in another process.
    found: TtlCache<(TenantId, String), Arc<Customer>>,
}

impl CustomerDirectory {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(db: Db) -> Self {
        Self {
            db,
            found: TtlCache::new(Self::TTL, 50_000),
        }
    }

    pub async fn by_freshchat_id(&self, tenant: TenantId, freshchat_user_id: &str) -> DbResult<Option<Arc<Customer>>> {
        let key = (tenant, freshchat_user_id.to_owned());
        if let Some(c) = self.found.get(&key) {
            return Ok(Some(c));
        }
        let Some(c) = customers::by_freshchat_id(&self.db, tenant, freshchat_user_id).await? else {
            return Ok(None);
        };
        let c = Arc::new(c);
        self.found.insert(key, c.clone());
        Ok(Some(c))
    }

    /// Stores a freshly fetched user (and remembers it).
    pub async fn store(&self, tenant: TenantId, customer: Customer) -> DbResult<Arc<Customer>> {
        customers::upsert(&self.db, tenant, &customer).await?;
        let c = Arc::new(customer);
        self.found.insert((tenant, c.freshchat_user_id.clone()), c.clone());
        Ok(c)
    }
}
