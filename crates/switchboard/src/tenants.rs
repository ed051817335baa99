//! Tenants: the businesses using Switchboard, their typed settings, and a short-lived cache.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::context::ContextSettings;
use domain::friction::FrictionSettings;
use domain::ids::{TenantId, TenantSlug};
use domain::money::{Currency, Money};
use domain::routing::RoutingSettings;
use serde::{Deserialize, Serialize};

use crate::db::{Db, DbResult};
use crate::ttl_cache::TtlCache;

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: TenantSlug,
    pub name: String,
    pub currency: Currency,
    pub timezone: chrono_tz::Tz,
    pub settings: TenantSettings,
    pub created_at: DateTime<Utc>,
}

/// Per-tenant settings, stored as JSON. Every field has a default, so settings written by an
/// older version still load, and a partial update fills the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TenantSettings {
    /// What an hour of agent time costs, for cost per assisted order.
    pub agent_hourly_rate: Money,
    /// An order is assisted when the customer had an incidence this many days before it.
    pub assisted_window_days: u32,
    pub freshdesk: FreshdeskSettings,
    pub freshchat: FreshchatSettings,
    /// Friction scoring (`FRICTION_DETECTION_ENABLED` switches it for the default tenant).
    pub friction: FrictionSettings,
    /// Channel routing (`CHANNEL_ROUTING_ENABLED` switches it for the default tenant).
    pub routing: RoutingSettings,
    pub context: ContextSettings,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self::defaults_for(Currency::INR)
    }
}

impl TenantSettings {
    /// Defaults with amounts in the tenant's currency.
    pub fn defaults_for(currency: Currency) -> Self {
        Self {
            agent_hourly_rate: Money::major(150, currency),
            assisted_window_days: 7,
            freshdesk: FreshdeskSettings::default(),
            freshchat: FreshchatSettings::default(),
            friction: FrictionSettings::default(),
            routing: RoutingSettings {
                low_threshold: Money::major(5_000, currency),
                high_threshold: Money::major(25_000, currency),
                ..RoutingSettings::default()
            },
            context: ContextSettings::default(),
        }
    }
}

/// Names of the Freshdesk ticket custom fields Switchboard fills (as created in the tenant's
/// Freshdesk admin; recent accounts prefix them with `cf_`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketFieldNames {
    pub friction_score: String,
    pub cart_value: String,
    pub guest_count: String,
    pub order_stage: String,
    pub conversation_id: String,
}

impl Default for TicketFieldNames {
    fn default() -> Self {
        Self {
            friction_score: "cf_friction_score".into(),
            cart_value: "cf_cart_value".into(),
            guest_count: "cf_guest_count".into(),
            order_stage: "cf_order_stage".into(),
            conversation_id: "cf_freshchat_conversation_id".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FreshdeskSettings {
    pub fields: TicketFieldNames,
    /// The account's API budget per minute (Growth 200, Pro 400, Enterprise 700); Switchboard
    /// paces its calls to stay under it.
    pub calls_per_minute: u32,
    /// How long Freshdesk's search index may lag behind a ticket create: a create whose answer
    /// was lost is searched for this long before it is tried again.
    pub search_lag_seconds: u32,
}

impl Default for FreshdeskSettings {
    fn default() -> Self {
        Self {
            fields: TicketFieldNames::default(),
            calls_per_minute: 200,
            search_lag_seconds: 300,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FreshchatSettings {
    /// The Freshchat agent that relayed Freshdesk replies are sent as when the replying agent's
    /// e-mail has no Freshchat agent.
    pub default_agent_id: Option<String>,
}

/// A new tenant, as given by an operator.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: TenantSlug,
    pub name: String,
    pub currency: Currency,
    pub timezone: chrono_tz::Tz,
    pub settings: Option<TenantSettings>,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("a tenant named '{0}' already exists")]
    Exists(TenantSlug),
    #[error("no tenant named '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// Looks tenants up with a short cache: settings changes made by another process show within
/// [`TenantDirectory::TTL`]; changes made through this one show at once.
#[derive(Debug, Clone)]
pub struct TenantDirectory {
    db: Db,
    by_id: TtlCache<TenantId, Arc<Tenant>>,
    // Slugs never change, so this maps for as long as the process lives.
    slugs: TtlCache<TenantSlug, TenantId>,
}

impl TenantDirectory {
    pub const TTL: Duration = Duration::from_secs(5);

    pub fn new(db: Db) -> Self {
        Self {
            db,
            by_id: TtlCache::new(Self::TTL, 10_000),
            slugs: TtlCache::new(Duration::MAX, 10_000),
        }
    }

    pub async fn create(&self, new: NewTenant, now: DateTime<Utc>) -> Result<Arc<Tenant>, TenantError> {
        let tenant = Tenant {
            id: TenantId::new_v7(now),
            settings: new
                .settings
                .unwrap_or_else(|| TenantSettings::defaults_for(new.currency)),
            slug: new.slug,
            name: new.name,
            currency: new.currency,
            timezone: new.timezone,
            created_at: now,
        };
        match crate::db::tenants::insert(&self.db, &tenant).await {
            Ok(true) => Ok(self.remember(tenant)),
            Ok(false) => Err(TenantError::Exists(tenant.slug)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn by_id(&self, id: TenantId) -> DbResult<Option<Arc<Tenant>>> {
        if let Some(t) = self.by_id.get(&id) {
            return Ok(Some(t));
        }
        Ok(crate::db::tenants::get(&self.db, id).await?.map(|t| self.remember(t)))
    }

    pub async fn by_slug(&self, slug: &str) -> DbResult<Option<Arc<Tenant>>> {
        let Ok(slug) = TenantSlug::parse(slug) else {
            return Ok(None);
        };
        if let Some(t) = self.slugs.get(&slug).and_then(|id| self.by_id.get(&id)) {
            return Ok(Some(t));
        }
        Ok(crate::db::tenants::get_by_slug(&self.db, &slug)
            .await?
            .map(|t| self.remember(t)))
    }

    pub async fn list(&self) -> DbResult<Vec<Tenant>> {
        crate::db::tenants::list(&self.db).await
    }

    pub async fn update_settings(
        &self,
        id: TenantId,
        settings: &TenantSettings,
        now: DateTime<Utc>,
    ) -> Result<Arc<Tenant>, TenantError> {
        crate::db::tenants::update_settings(&self.db, id, settings, now).await?;
        self.forget(id);
        self.by_id(id)
            .await?
            .ok_or_else(|| TenantError::NotFound(id.to_string()))
    }

    fn remember(&self, tenant: Tenant) -> Arc<Tenant> {
        let tenant = Arc::new(tenant);
        self.slugs.insert(tenant.slug.clone(), tenant.id);
        self.by_id.insert(tenant.id, tenant.clone());
        tenant
    }

    pub fn forget(&self, id: TenantId) {
        self.by_id.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fill_from_defaults() {
        let s: TenantSettings =
            serde_json::from_str(r#"{"assisted_window_days": 3, "freshdesk": {"calls_per_minute": 700}}"#)
                .expect("partial settings load");
        assert_eq!(s.assisted_window_days, 3);
        assert_eq!(s.freshdesk.calls_per_minute, 700);
        assert_eq!(s.freshdesk.fields.conversation_id, "cf_freshchat_conversation_id");
        assert_eq!(s.agent_hourly_rate, Money::from_minor(15_000));
        assert!(s.friction.enabled && s.routing.enabled);
        let jpy = TenantSettings::defaults_for(Currency::parse("JPY").expect("JPY"));
        assert_eq!(
            jpy.routing.low_threshold,
            Money::from_minor(5_000),
            "thresholds in the tenant's currency"
        );
        let round: TenantSettings = serde_json::from_value(serde_json::to_value(&s).expect("ser")).expect("de");
        assert_eq!(round, s);
    }
}
