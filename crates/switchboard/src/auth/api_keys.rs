//! Tenant API keys: `sk_…` secret keys (everything) and `pk_…` publishable keys (the calls a
//! customer app makes: context, friction, routing, callback requests).
//!
//! A key is 32 random bytes, shown once and stored only as its SHA-256. Keys are high-entropy,
//! so a fast hash is enough (a password hash would only slow every request); lookups go by hash,
//! which also avoids comparing secrets byte by byte.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use serde::Serialize;
use uuid::Uuid;

use crate::db::{Db, DbResult};
use crate::ttl_cache::TtlCache;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    Secret,
    Publishable,
}

impl KeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk_",
            KeyKind::Publishable => "pk_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Secret => "secret",
            KeyKind::Publishable => "publishable",
        }
    }

    pub fn parse(s: &str) -> Option<KeyKind> {
        match s {
            "secret" | "sk" => Some(KeyKind::Secret),
            "publishable" | "pk" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// A stored key (never its plaintext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub kind: KeyKind,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub type KeyHash = [u8; 32];

pub fn hash(plaintext: &str) -> KeyHash {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, plaintext.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Creates a key: returns the plaintext (to show once) and the record to store.
pub fn generate(
    tenant_id: TenantId,
    kind: KeyKind,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(String, KeyHash, ApiKey), crate::crypto::CryptoError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| crate::crypto::CryptoError::Random)?;
    let plaintext = format!(
        "{}{}",
        kind.prefix(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let record = ApiKey {
        id: Uuid::now_v7(),
        tenant_id,
        kind,
        name: name.to_owned(),
        prefix: plaintext.chars().take(10).collect(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    let key_hash = hash(&plaintext);
    Ok((plaintext, key_hash, record))
}

/// Stores a new key and returns its plaintext, which is not kept anywhere.
pub async fn create(
    db: &Db,
    tenant_id: TenantId,
    kind: KeyKind,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, ApiKey)> {
    let (plaintext, hash, record) = generate(tenant_id, kind, name, now)?;
    crate::db::api_keys::insert(db, &record, &hash).await?;
    Ok((plaintext, record))
}

/// The name of the keys `serve` mints for the demo at each start.
pub const DEMO_KEY_NAME: &str = "demo (printed by serve)";

/// Revokes the previous demo keys and creates a fresh secret and publishable pair.
pub async fn revoke_demo_and_create(
    db: &Db,
    tenant_id: TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, String)> {
    crate::db::api_keys::revoke_named(db, tenant_id, DEMO_KEY_NAME, now).await?;
    let (secret, _) = create(db, tenant_id, KeyKind::Secret, DEMO_KEY_NAME, now).await?;
    let (publishable, _) = create(db, tenant_id, KeyKind::Publishable, DEMO_KEY_NAME, now).await?;
    Ok((secret, publishable))
}

/// Resolves bearer keys to their tenant, with a short cache so a busy app does not cost a query
/// per request. A revoked key stops working within [`KeyCache::TTL`].
#[derive(Debug, Clone)]
pub struct KeyCache {
    db: Db,
    cache: TtlCache<KeyHash, Option<ApiKey>>,
}

impl KeyCache {
    pub const TTL: Duration = Duration::from_secs(10);

    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: TtlCache::new(Self::TTL, 10_000),
        }
    }

    /// The live key for `plaintext`, if any.
    pub async fn resolve(&self, plaintext: &str, now: DateTime<Utc>) -> DbResult<Option<ApiKey>> {
        let h = hash(plaintext);
        if let Some(key) = self.cache.get(&h) {
            return Ok(key);
        }
        let key = crate::db::api_keys::find_live(&self.db, &h).await?;
        if let Some(k) = &key {
            // Refreshed at most once per TTL per key: a usage hint, not an audit log.
            crate::db::api_keys::touch(&self.db, k.id, now).await?;
        }
        self.cache.insert(h, key.clone());
        Ok(key)
    }

    pub fn clear(&self) {
        self.cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_hashed() {
        let t = TenantId(Uuid::from_u128(1));
        let (a, ha, ra) = generate(t, KeyKind::Secret, "ci", Utc::now()).expect("key");
        let (b, hb, _) = generate(t, KeyKind::Publishable, "app", Utc::now()).expect("key");
        assert!(a.starts_with("sk_") && b.starts_with("pk_"));
        assert_eq!(a.len(), 3 + 43);
        assert_ne!(ha, hb);
        assert_eq!(hash(&a), ha);
        assert!(a.starts_with(&ra.prefix));
        assert!(!format!("{ra:?}").contains(&a), "the record does not hold the key");
    }
}
