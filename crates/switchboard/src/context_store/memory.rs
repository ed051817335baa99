//! The in-process context store.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::context::CustomerContext;
use domain::ids::{TenantId, UserId};

use super::{ContextStore, StoreError, Update};
use crate::jobs::registry::BoxFuture;

#[derive(Debug, Default)]
pub struct MemoryStore {
    contexts: Mutex<HashMap<(TenantId, UserId), CustomerContext>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl ContextStore for MemoryStore {
    fn get<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
    ) -> BoxFuture<'a, Result<Option<CustomerContext>, StoreError>> {
        let found = match self.contexts.lock() {
            Ok(m) => Ok(m.get(&(tenant, user.clone())).cloned()),
            Err(_) => Err(StoreError::Unavailable("lock poisoned".into())),
        };
        Box::pin(async move { found })
    }

    fn update<'a>(
        &'a self,
        tenant: TenantId,
        user: &'a UserId,
        change: Update<'a>,
    ) -> BoxFuture<'a, Result<CustomerContext, StoreError>> {
        let result = match self.contexts.lock() {
            Ok(mut m) => {
                let key = (tenant, user.clone());
                let new = change(m.remove(&key));
                m.insert(key, new.clone());
                Ok(new)
            }
            Err(_) => Err(StoreError::Unavailable("lock poisoned".into())),
        };
        Box::pin(async move { result })
    }
}
