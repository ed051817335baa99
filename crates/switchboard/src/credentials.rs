//! Provider credentials per tenant: typed, sealed with the master key, never logged or returned.

use chrono::{DateTime, Utc};
use domain::ids::TenantId;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::crypto::MasterKey;
use crate::db::Db;

/// A kind of credentials, stored under its own name.
pub trait CredentialKind: Serialize + for<'de> Deserialize<'de> {
    const KIND: &'static str;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FreshchatCredentials {
    /// The API base including `/v2` (`https://api.in.freshchat.com/v2`, or the account URL).
    pub api_url: Url,
    #[serde(default)]
    pub app_id: Option<String>,
    /// The API token (`FRESHCHAT_APP_KEY`).
    #[serde(with = "secret")]
    pub api_token: SecretString,
    /// The RSA public key from the webhook settings page, as shown there.
    #[serde(default)]
    pub webhook_public_key: Option<String>,
    /// An HMAC shared secret, for relays that sign that way instead.
    #[serde(default, with = "optional_secret")]
    pub webhook_secret: Option<SecretString>,
}

impl CredentialKind for FreshchatCredentials {
    const KIND: &'static str = "freshchat";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FreshdeskCredentials {
    /// `https://{domain}.freshdesk.com/api/v2`.
    pub base_url: Url,
    #[serde(with = "secret")]
    pub api_key: SecretString,
    /// What the automation rule sends as its Basic-auth password or `?token=`.
    #[serde(default, with = "optional_secret")]
    pub webhook_token: Option<SecretString>,
}

impl CredentialKind for FreshdeskCredentials {
    const KIND: &'static str = "freshdesk";
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("stored {kind} credentials are not readable: {source}")]
    Format {
        kind: &'static str,
        source: serde_json::Error,
    },
}

pub async fn store<C: CredentialKind>(
    db: &Db,
    key: &MasterKey,
    tenant: TenantId,
    creds: &C,
    now: DateTime<Utc>,
) -> Result<(), CredentialsError> {
    let json = serde_json::to_vec(creds).map_err(|source| CredentialsError::Format { kind: C::KIND, source })?;
    let sealed = key.seal(tenant, C::KIND, &json)?;
    crate::db::tenants::put_credential(db, tenant, C::KIND, &sealed, now).await?;
    Ok(())
}

pub async fn load<C: CredentialKind>(
    db: &Db,
    key: &MasterKey,
    tenant: TenantId,
) -> Result<Option<C>, CredentialsError> {
    let Some(sealed) = crate::db::tenants::get_credential(db, tenant, C::KIND).await? else {
        return Ok(None);
    };
    let json = key.open(tenant, C::KIND, &sealed)?;
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|source| CredentialsError::Format { kind: C::KIND, source })
}

/// Secrets are written only into the sealed blob, so serializing their value is intended here.
mod secret {
    use super::*;
    pub fn serialize<S: Serializer>(s: &SecretString, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s.expose_secret())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
        String::deserialize(de).map(SecretString::from)
    }
}

mod optional_secret {
    use super::*;
    pub fn serialize<S: Serializer>(s: &Option<SecretString>, ser: S) -> Result<S::Ok, S::Error> {
        match s {
            Some(s) => ser.serialize_some(s.expose_secret()),
            None => ser.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SecretString>, D::Error> {
        Option::<String>::deserialize(de).map(|s| s.map(SecretString::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = FreshdeskCredentials {
            base_url: Url::parse("https://acme.freshdesk.com/api/v2").expect("url"),
            api_key: SecretString::from("abcdef123456".to_owned()),
            webhook_token: Some(SecretString::from("tok-987".to_owned())),
        };
        let debug = format!("{c:?}");
        assert!(!debug.contains("abcdef123456") && !debug.contains("tok-987"), "{debug}");
        let json = serde_json::to_string(&c).expect("json");
        let back: FreshdeskCredentials = serde_json::from_str(&json).expect("back");
        assert_eq!(back.api_key.expose_secret(), "abcdef123456");
    }
}
