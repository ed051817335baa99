//! Freshchat users as Switchboard knows them, behind a short cache: a chat looks its customer up
//! on every message until its incidence knows who and where they are, and the local copy only
//! changes when the user is fetched from Freshchat again.

use std::sync::Arc;
use std::time::Duration;

use domain::ids::TenantId;

use crate::db::customers::{self, Customer};
use crate::db::grouped::Grouped;
use crate::db::{Db, DbResult};
use crate::ttl_cache::TtlCache;

#[derive(Debug, Clone)]
pub struct CustomerDirectory {
    db: Db,
    /// Only customers found: one not stored yet is fetched and stored by whoever meets it next,
    /// here or in another process.
    found: TtlCache<(TenantId, String), Arc<Customer>>,
    /// Each conversation's first message reads and stores its customer: concurrent jobs share
    /// the statements (see [`Grouped`]).
    read: Grouped<(TenantId, String), Option<Customer>>,
    /// A copy lost in a database crash is fetched again: see `Commit::Relaxed`.
    stored: Grouped<(TenantId, Customer), ()>,
}

impl CustomerDirectory {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(db: Db) -> Self {
        Self {
            found: TtlCache::new(Self::TTL, 50_000),
            read: Grouped::new(&db, customers::by_freshchat_ids_pg),
            stored: Grouped::relaxed(&db, customers::upsert_many_pg),
            db,
        }
    }

    pub async fn by_freshchat_id(&self, tenant: TenantId, freshchat_user_id: &str) -> DbResult<Option<Arc<Customer>>> {
        let key = (tenant, freshchat_user_id.to_owned());
        if let Some(c) = self.found.get(&key) {
            return Ok(Some(c));
        }
        let alone = customers::by_freshchat_id(&self.db, tenant, freshchat_user_id);
        let Some(c) = self.read.run(key.clone(), alone).await? else {
            return Ok(None);
        };
        let c = Arc::new(c);
        self.found.insert(key, c.clone());
        Ok(Some(c))
    }

    /// Stores a freshly fetched user (and remembers it).
    pub async fn store(&self, tenant: TenantId, customer: Customer) -> DbResult<Arc<Customer>> {
        let alone = customers::upsert(&self.db, tenant, &customer);
        self.stored.run((tenant, customer.clone()), alone).await?;
        let c = Arc::new(customer);
        self.found.insert((tenant, c.freshchat_user_id.clone()), c.clone());
        Ok(c)
    }
}
