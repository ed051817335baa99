//! Identifiers that parse, not validate: once a value of these types exists it is well formed.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7), so rows inserted together sort together.
            pub fn new_v7(now: chrono::DateTime<chrono::Utc>) -> Self {
                let ts = uuid::Timestamp::from_unix(
                    uuid::NoContext,
                    now.timestamp().max(0) as u64,
                    now.timestamp_subsec_nanos(),
                );
                Self(Uuid::new_v7(ts))
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A tenant (a business using Switchboard).
    TenantId
);
uuid_id!(
    /// An incidence (one support interaction).
    IncidenceId
);

/// Why an identifier string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters or surrounding whitespace")]
    BadCharacters,
    #[error("may contain only lowercase letters, digits and '-', starting with a letter")]
    BadSlug,
}

fn check_opaque(s: &str, max: usize) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.chars().count() > max {
        return Err(IdError::TooLong { max });
    }
    if s.trim() != s || s.chars().any(char::is_control) {
        return Err(IdError::BadCharacters);
    }
    Ok(())
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_opaque(&s, $max)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

opaque_id!(
    /// The tenant's own id for a customer (the app's user id).
    UserId,
    255
);
opaque_id!(
    /// A provider's id for a conversation, call or thread. Opaque: UUIDs, 32-hex strings,
    /// aliases and legacy composites all occur.
    ConversationId,
    255
);

/// A tenant's URL-safe name (`default`, `acme-catering`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub const DEFAULT: &'static str = "default";

    pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
        let s = s.into();
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > 63 {
            return Err(IdError::TooLong { max: 63 });
        }
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !first_ok
            || !s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(IdError::BadSlug);
        }
        Ok(Self(s))
    }

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantSlug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(TenantSlug::parse("default").is_ok());
        assert!(TenantSlug::parse("acme-catering-2").is_ok());
        assert_eq!(TenantSlug::parse(""), Err(IdError::Empty));
        assert_eq!(TenantSlug::parse("Acme"), Err(IdError::BadSlug));
        assert_eq!(TenantSlug::parse("1acme"), Err(IdError::BadSlug));
        assert_eq!(TenantSlug::parse("a/b"), Err(IdError::BadSlug));
        assert_eq!(TenantSlug::parse("a".repeat(64)), Err(IdError::TooLong { max: 63 }));
    }

    #[test]
    fn opaque_ids() {
        assert!(UserId::parse("u-42").is_ok());
        assert_eq!(UserId::parse(""), Err(IdError::Empty));
        assert_eq!(UserId::parse(" u"), Err(IdError::BadCharacters));
        assert_eq!(UserId::parse("a\nb"), Err(IdError::BadCharacters));
        assert_eq!(UserId::parse("x".repeat(256)), Err(IdError::TooLong { max: 255 }));
        let c: ConversationId = serde_json::from_str("\"Denise_aliasc26d\"").expect("valid id");
        assert_eq!(c.as_str(), "Denise_aliasc26d");
        assert!(serde_json::from_str::<ConversationId>("\"\"").is_err());
    }
}
